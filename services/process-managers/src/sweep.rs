//! The loop every process manager runs: a sweep every `interval`, under a PostgreSQL session
//! advisory lock so that normally one instance sweeps at a time.
//!
//! # Why the advisory lock is only an optimisation
//!
//! The lock keeps instances from issuing the same commands and fighting over the same
//! aggregates. It is not what makes the outcome correct, and nothing relies on it for that: it
//! is released when its connection drops, a sweep can outlive a connection that died, and the
//! read models a sweep reads lag the event store, so the same work can be picked again by the
//! next sweep here or by another instance's. Each sweep's commands are therefore ones the
//! aggregates make harmless to repeat; each module says why.

use std::convert::Infallible;
use std::time::Duration;

use async_trait::async_trait;
use outreach_rounds::{After, Rounds};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// One kind of sweep.
#[async_trait]
pub trait Sweep: Send + Sync {
    /// For logs.
    const NAME: &'static str;
    /// The advisory lock its sweeps hold; unique among the locks on peer-outreach's database.
    const LOCK_KEY: i64;

    /// Does the work due now; returns how much it did. Stops early when `shutdown` is cancelled.
    async fn sweep(
        &self,
        db: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error>;
}

/// Sweeps every `interval` until `shutdown` is cancelled, on the loop the publishers share
/// (`outreach-rounds`), woken by the clock alone. Failures are logged and the next tick tries
/// again; a sweep in hand at shutdown stops between its pieces of work, as it checks.
pub async fn run<S: Sweep>(
    sweeper: &S,
    pool: &PgPool,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let ticks = Ticks {
        sweeper,
        pool,
        lock_connection: Mutex::new(None),
        shutdown: shutdown.clone(),
    };
    outreach_rounds::every(&ticks, interval, shutdown).await;
}

/// A sweep's ticks, as rounds.
struct Ticks<'s, S> {
    sweeper: &'s S,
    pool: &'s PgPool,
    /// The lock's own connection, kept between ticks. Detached from the pool: should the sweep
    /// stop or fail while holding the lock, dropping the connection closes the session and
    /// PostgreSQL releases the lock, where a pooled connection would go on holding it.
    lock_connection: Mutex<Option<PgConnection>>,
    shutdown: CancellationToken,
}

impl<S: Sweep> Rounds for Ticks<'_, S> {
    const NAME: &'static str = S::NAME;
    const STOPS_ITSELF: bool = true;
    type Error = Infallible;

    /// One tick. A failure waits the interval like any tick (never a shorter back-off): the
    /// sweeps' work is due by the clock, and a minute early or late changes nothing.
    async fn round(&self) -> Result<After, Infallible> {
        let mut lock_connection = self.lock_connection.lock().await;
        match tick(
            self.sweeper,
            self.pool,
            &mut lock_connection,
            &self.shutdown,
        )
        .await
        {
            Ok(Some(_)) => {}
            Ok(None) => tracing::debug!(sweep = S::NAME, "another instance is sweeping; skipping"),
            Err(error) => {
                tracing::warn!(sweep = S::NAME, %error, "could not sweep; will retry");
                // Its session state is unknown: a fresh connection next time.
                *lock_connection = None;
            }
        }
        Ok(After::Wait)
    }
}

/// One tick: the lock, a sweep, the unlock. `None` when another instance holds the lock.
pub async fn tick<S: Sweep>(
    sweeper: &S,
    pool: &PgPool,
    slot: &mut Option<PgConnection>,
    shutdown: &CancellationToken,
) -> Result<Option<u64>, sqlx::Error> {
    let db = match slot {
        Some(db) => db,
        None => slot.insert(pool.acquire().await?.detach()),
    };
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(S::LOCK_KEY)
        .fetch_one(&mut *db)
        .await?;
    if !locked {
        return Ok(None);
    }
    let swept = sweeper.sweep(db, shutdown).await;
    // An error here leaves the lock held by this session: the caller drops the connection.
    let unlocked: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
        .bind(S::LOCK_KEY)
        .fetch_one(&mut *db)
        .await?;
    if !unlocked {
        tracing::warn!(
            sweep = S::NAME,
            "the advisory lock was not held at the end of a sweep"
        );
    }
    swept.map(Some)
}
