//! For tests only: a database of its own per test, with every migration in `migrations/`
//! applied, dropped again when the test is done (also when it panicked).
//!
//! The server is `DATABASE_URL_BASE` (default `postgres://postgres@127.0.0.1:5432`); its
//! `postgres` database is where test databases are created and dropped from.

mod receiver;
mod smtp;
pub mod tansu;
pub mod tls;

pub use receiver::{HttpReceiver, Received};
pub use smtp::{free_port, SmtpServer};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// The server the tests' databases live on, without a database name:
/// `DATABASE_URL_BASE`, or `postgres://postgres@127.0.0.1:5432`.
pub fn database_url_base() -> String {
    std::env::var("DATABASE_URL_BASE")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of its own for one test, every migration applied; dropped when this is dropped.
pub struct TestDatabase {
    /// Connected to this database.
    pub pool: PgPool,
    /// `<prefix>_<uuid>`.
    pub name: String,
    /// `<base>/<name>`, to connect to it otherwise.
    pub url: String,
}

impl TestDatabase {
    /// A fresh database named `<prefix>_<uuid>`, migrated, with a pool of at most four
    /// connections.
    pub async fn create(prefix: &str) -> Self {
        Self::create_with(prefix, PgPoolOptions::new().max_connections(4)).await
    }

    /// As [`TestDatabase::create`], its pool connected with `options` (size, timeouts).
    pub async fn create_with(prefix: &str, options: PgPoolOptions) -> Self {
        let base = database_url_base();
        let name = format!("{prefix}_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("connect to the postgres database");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();

        let url = format!("{base}/{name}");
        // Owned from here on: dropped again also if migrating fails. The pool connects on
        // first use, which is the migration.
        let database = TestDatabase {
            pool: options
                .connect_lazy(&url)
                .expect("a lazy pool only parses its URL"),
            name,
            url,
        };
        sqlx::migrate!("../../migrations")
            .run(&database.pool)
            .await
            .expect("connect to the test database and run migrations");
        database
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
    let url = format!("{}/postgres", database_url_base());
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
