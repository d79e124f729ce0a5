//! The database, with two roles: the owner creates it and applies the migrations
//! (`database.migration_url`), and grants the runtime role exactly what the migrations say it
//! needs (`runtime_privileges`); the service connects as the runtime role (`database.url`).

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::settings::DatabaseSettings;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// What `run` does first: migrates as the owner (unless `database.migrate_on_start` is off,
/// when it only checks that nothing is pending), then connects as the runtime role.
pub async fn prepare(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    if settings.migrate_on_start {
        migrate(settings).await?;
    }
    let pool = connect(settings).await?;
    if !settings.migrate_on_start {
        refuse_pending_migrations(&pool).await?;
    }
    check_runtime_role(&pool, settings).await?;
    Ok(pool)
}

/// `peer-outreach migrate`: creates the database if asked, applies the migrations as the owner,
/// and grants the runtime role its privileges (revoking whatever else it held).
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    if settings.create_database {
        create_if_missing(settings.migration_url()).await?;
    }
    let owner = owner_pool(settings).await?;
    MIGRATOR
        .run(&owner)
        .await
        .context("applying migrations as the owner (database.migration_url)")?;
    wrap_unwrapped_keys(&owner).await?;
    grant_runtime_role(&owner, settings).await?;
    owner.close().await;
    Ok(())
}

/// Wraps the data keys stored before keys were wrapped, under the process's key-encryption
/// key, in batches of one transaction each (a kill leaves whole batches done; the next
/// `migrate` goes on). Without a KEK it refuses, naming how many keys wait: a plain key never
/// stays silently.
async fn wrap_unwrapped_keys(owner: &PgPool) -> anyhow::Result<()> {
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys_unwrapped")
        .fetch_one(owner)
        .await?;
    if waiting == 0 {
        return Ok(());
    }
    let kek = outreach_privacy::KeyEncryptionKey::installed()
        .with_context(|| format!("{waiting} data keys are stored unwrapped and must be wrapped"))?;
    let mut wrapped = 0;
    loop {
        let mut tx = owner.begin().await?;
        let moved = outreach_privacy::wrap_unwrapped_batch(&mut tx, &kek, 500).await?;
        tx.commit().await?;
        if moved == 0 {
            break;
        }
        wrapped += moved;
    }
    tracing::info!(
        wrapped,
        kek_id = kek.id(),
        "data keys stored before wrapping are now wrapped under the key-encryption key"
    );
    Ok(())
}

/// A small pool connected as the owner (`database.migration_url`, or `database.url` when that
/// is unset): for migrations, and for one-off commands that change what the runtime role may
/// not (rewriting stored events, say).
pub async fn owner_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(settings.migration_url())
        .await
        .context("connecting to PostgreSQL as the owner (database.migration_url)")
}

/// The service's pool, as the runtime role (`database.url`).
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a connection on every acquire by default: a round trip before every
        // statement batch (6.7% of the service's CPU at 200 reports/s, and as much again in
        // PostgreSQL). A connection a database restart broke fails its next query instead and
        // is dropped: background work retries, a request gets a problem document.
        .test_before_acquire(false)
        .connect(&settings.url)
        .await
        .context("connecting to PostgreSQL (database.url)")
}

/// The runtime role: the user `database.url` names.
fn runtime_role(settings: &DatabaseSettings) -> anyhow::Result<String> {
    Ok(PgConnectOptions::from_str(&settings.url)
        .context("parsing database.url")?
        .get_username()
        .to_owned())
}

/// Grants the runtime role what `runtime_privileges` lists, unless it is the owner itself (a
/// local run with one URL).
async fn grant_runtime_role(owner: &PgPool, settings: &DatabaseSettings) -> anyhow::Result<()> {
    let runtime = runtime_role(settings)?;
    let owner_role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(owner)
        .await?;
    if runtime == owner_role {
        tracing::info!(
            role = %runtime,
            "database.url and database.migration_url name the same role: the service runs as \
             the owner of its tables, so least privilege is not in force (fine for a local run)"
        );
        return Ok(());
    }
    sqlx::query("SELECT grant_runtime_privileges($1)")
        .bind(&runtime)
        .execute(owner)
        .await
        .with_context(|| format!("granting the runtime role {runtime} its privileges"))?;
    tracing::info!(role = %runtime, "the runtime role holds exactly its privileges");
    Ok(())
}

/// Refuses to serve on a schema older than this build: without the owner's credentials, `run`
/// cannot apply what is pending.
async fn refuse_pending_migrations(pool: &PgPool) -> anyhow::Result<()> {
    let migrated: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    let applied: HashSet<i64> = if migrated {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .context("reading which migrations are applied")?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    let pending = MIGRATOR
        .iter()
        .filter(|migration| !applied.contains(&migration.version))
        .count();
    if pending > 0 {
        bail!(
            "the database's schema is behind this build ({pending} migrations are pending) and \
             database.migrate_on_start is off: run `peer-outreach migrate` with the owner's \
             connection (database.migration_url) first"
        );
    }
    Ok(())
}

/// Says so when the runtime connection could undo least privilege: a superuser, or the
/// owner of the tables. Only a warning where the operator gave two roles and got this anyway.
async fn check_runtime_role(pool: &PgPool, settings: &DatabaseSettings) -> anyhow::Result<()> {
    let (superuser, owns_tables): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper,
                EXISTS (SELECT FROM pg_tables
                         WHERE schemaname = 'public' AND tableowner = current_user)
           FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .context("reading the runtime role's attributes")?;
    if (superuser || owns_tables) && settings.migration_url.is_some() {
        tracing::warn!(
            superuser,
            owns_tables,
            "the runtime role (database.url) is a superuser or owns the service's tables: it \
             can alter the event store and disable the access audit's protections; give the \
             service a role that owns nothing (see the README's deployment section)"
        );
    }
    Ok(())
}

async fn create_if_missing(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("parsing the database URL")?;
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let mut admin = options
        .database("postgres")
        .connect()
        .await
        .context("connecting to PostgreSQL")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Identifiers cannot be bound as parameters; quote it as PostgreSQL would.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        if let Err(error) = sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut admin)
            .await
        {
            // Another instance may have created it in the meantime.
            let raced = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|c| c == "42P04");
            if !raced {
                return Err(error).context("creating the database");
            }
        }
    }
    admin.close().await?;
    Ok(())
}
