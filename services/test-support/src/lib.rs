//! For tests only: a database of its own per test, with every migration in `migrations/`
//! applied, dropped again when the test is done (also when it panicked).
//!
//! The server is `DATABASE_URL_BASE` (default `postgres://postgres@127.0.0.1:5432`); its
//! `postgres` database is where test databases are created and dropped from. Its role creates
//! and migrates each database, as the owner would in production; the tests and the service
//! under test then run as [`RUNTIME_ROLE`], which holds only what the migrations grant the
//! service's runtime role (least privilege, as deployed).

mod receiver;
mod smtp;
pub mod tansu;
pub mod tls;

pub use receiver::{HttpReceiver, Received};
pub use smtp::{free_port, SmtpServer};

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The tests' key-encryption key (32 bytes of 0x27, base64): fixed, so a test can name it in
/// settings and a database one test wrote another can read. No secret: test data only.
pub const TEST_KEY_ENCRYPTION_KEY: &str = "JycnJycnJycnJycnJycnJycnJycnJycnJycnJycnJyc=";

/// [`TEST_KEY_ENCRYPTION_KEY`], parsed.
pub fn test_key_encryption_key() -> outreach_privacy::KeyEncryptionKey {
    outreach_privacy::KeyEncryptionKey::parse(TEST_KEY_ENCRYPTION_KEY).expect("a valid test KEK")
}

/// The login role the tests and the service under test connect as: it owns nothing, and holds
/// in each test database what `grant_runtime_privileges` grants (see the migration
/// `runtime_privileges`). One for the whole server, made once by whichever test comes first.
pub const RUNTIME_ROLE: &str = "peer_outreach_test_runtime";
/// Its password: the server may ask for one (it is no secret; the role can do nothing outside
/// the test databases that grant it something).
const RUNTIME_PASSWORD: &str = "peer_outreach_test_runtime";

/// The server the tests' databases live on, without a database name:
/// `DATABASE_URL_BASE`, or `postgres://postgres@127.0.0.1:5432`.
pub fn database_url_base() -> String {
    std::env::var("DATABASE_URL_BASE")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// `name` on the test server, as [`RUNTIME_ROLE`].
pub fn runtime_url(name: &str) -> String {
    runtime_url_on(&database_url_base(), name)
}

/// `name` on the server at `base` (a URL without a database), as [`RUNTIME_ROLE`].
pub fn runtime_url_on(base: &str, name: &str) -> String {
    let base = PgConnectOptions::from_str(base).expect("a PostgreSQL URL");
    format!(
        "postgres://{RUNTIME_ROLE}:{RUNTIME_PASSWORD}@{}:{}/{name}",
        base.get_host(),
        base.get_port()
    )
}

/// `name` on the test server, as the server's own role: the owner of every test database.
pub fn owner_url(name: &str) -> String {
    format!("{}/{name}", database_url_base())
}

/// Makes [`RUNTIME_ROLE`] on the test server if it is not there yet: once per process, and
/// under an advisory lock, since test processes run side by side and `CREATE ROLE` is not
/// idempotent.
pub async fn ensure_runtime_role() {
    static MADE: OnceCell<()> = OnceCell::const_new();
    MADE.get_or_init(|| async { ensure_runtime_role_on(&owner_url("postgres")).await })
        .await;
}

/// Makes [`RUNTIME_ROLE`] on the server whose `postgres` database `admin_url` names, if it is
/// not there yet (a test with a server of its own).
pub async fn ensure_runtime_role_on(admin_url: &str) {
    ensure_login_role(admin_url, RUNTIME_ROLE, RUNTIME_PASSWORD).await;
}

/// A login role that is no superuser and may create nothing outside what it owns: the owner
/// of the least-privilege tests' databases, as a hospital's owner role would be.
pub const OWNER_ROLE: &str = "peer_outreach_test_owner";
const OWNER_PASSWORD: &str = "peer_outreach_test_owner";

/// Makes [`OWNER_ROLE`] on the test server if it is not there yet.
pub async fn ensure_owner_role() {
    ensure_login_role(&owner_url("postgres"), OWNER_ROLE, OWNER_PASSWORD).await;
}

/// `name` on the test server, as [`OWNER_ROLE`].
pub fn owner_role_url(name: &str) -> String {
    let base = PgConnectOptions::from_str(&database_url_base()).expect("a PostgreSQL URL");
    format!(
        "postgres://{OWNER_ROLE}:{OWNER_PASSWORD}@{}:{}/{name}",
        base.get_host(),
        base.get_port()
    )
}

/// Makes login role `role` if it is not there: under an advisory lock, since test processes
/// run side by side and `CREATE ROLE` is not idempotent.
async fn ensure_login_role(admin_url: &str, role: &str, password: &str) {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .expect("connect to the postgres database");
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('peer-outreach test roles', 0))")
        .execute(&mut admin)
        .await
        .expect("take the roles' lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut admin)
            .await
            .expect("look the role up");
    if !exists {
        sqlx::query(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}' \
             NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        ))
        .execute(&mut admin)
        .await
        .expect("create the role");
    }
    // Ending the session releases the lock.
    admin.close().await.ok();
}

/// Grants [`RUNTIME_ROLE`] what the service's runtime role holds in the database `pool` (the
/// owner's) is connected to, as `peer-outreach migrate` does.
pub async fn grant_runtime_role(owner: &PgPool) {
    ensure_runtime_role().await;
    sqlx::query("SELECT grant_runtime_privileges($1)")
        .bind(RUNTIME_ROLE)
        .execute(owner)
        .await
        .expect("grant the runtime role its privileges");
}

/// A database of its own for one test, every migration applied; dropped when this is dropped.
pub struct TestDatabase {
    /// Connected to this database as [`RUNTIME_ROLE`], as the service connects.
    pub pool: PgPool,
    /// `<prefix>_<uuid>`.
    pub name: String,
    /// To connect to it otherwise, as [`RUNTIME_ROLE`].
    pub url: String,
    /// To connect to it as its owner: for what only an owner may do (a test that tampers with
    /// the event store or the access audit, or changes the schema).
    pub owner_url: String,
}

impl TestDatabase {
    /// A fresh database named `<prefix>_<uuid>`, migrated and granted to [`RUNTIME_ROLE`],
    /// with a pool of at most four connections as that role.
    pub async fn create(prefix: &str) -> Self {
        Self::create_with(prefix, PgPoolOptions::new().max_connections(4)).await
    }

    /// As [`TestDatabase::create`], its pool connected with `options` (size, timeouts).
    pub async fn create_with(prefix: &str, options: PgPoolOptions) -> Self {
        // The key store wraps every key under the process's KEK: a test process has the test
        // one unless it installed another.
        outreach_privacy::KeyEncryptionKey::install_if_none(test_key_encryption_key());
        ensure_runtime_role().await;
        let name = format!("{prefix}_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&owner_url("postgres"))
            .await
            .expect("connect to the postgres database");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();

        let url = runtime_url(&name);
        // Owned from here on: dropped again also if migrating fails. The pool connects on
        // first use, after the grants.
        let database = TestDatabase {
            pool: options
                .connect_lazy(&url)
                .expect("a lazy pool only parses its URL"),
            owner_url: owner_url(&name),
            name,
            url,
        };
        let owner = database.owner_pool().await;
        sqlx::migrate!("../../migrations")
            .run(&owner)
            .await
            .expect("connect to the test database and run migrations");
        grant_runtime_role(&owner).await;
        owner.close().await;
        database
    }

    /// A pool of one connection to this database as its owner.
    pub async fn owner_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.owner_url)
            .await
            .expect("connect to the test database as its owner")
    }
}

impl Drop for TestDatabase {
    /// Best effort, also when the test panicked; see [`drop_database`].
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}

/// Drops database `name` if it exists, `WITH (FORCE)` since pools may still hold connections
/// to it. Best effort: errors are ignored.
///
/// For `Drop` impls, which cannot await, and which run inside the test's runtime, which
/// cannot be re-entered: so this runs on a thread with a runtime of its own, and waits for it.
pub fn drop_database(name: &str) {
    let url = owner_url("postgres");
    let statement = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if let Ok(mut admin) = PgConnection::connect(&url).await {
                let _ = sqlx::query(&statement).execute(&mut admin).await;
                admin.close().await.ok();
            }
        });
    })
    .join();
}
