//! The database: created if asked, connected, migrated.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::settings::DatabaseSettings;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

pub async fn prepare(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    if settings.create_database {
        create_if_missing(&settings.url).await?;
    }
    let pool = connect(settings).await?;
    MIGRATOR.run(&pool).await.context("applying migrations")?;
    Ok(pool)
}

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
        .context("connecting to PostgreSQL")
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
