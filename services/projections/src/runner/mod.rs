//! Runs one projection: catches up from its checkpoint in batches, then waits for new events.
//!
//! - [`position`]: places in the event store, the checkpoint, and what "visible" means.
//! - [`batch`]: the visible events after the checkpoint, applied with its move in one
//!   transaction.
//! - [`follow`]: the loop that follows the event store once caught up.
//! - [`rebuild`]: the read model brought back from the first event, reading ahead.

mod batch;
mod follow;
mod position;
mod rebuild;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::leadership::Lead;
use crate::{Projection, ProjectionError};
use position::Position;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Events per transaction when following the event store: small enough that a batch
    /// commits within milliseconds of its events.
    pub batch_size: i64,
    /// Events per transaction when rebuilding from the first event: large, as a batch costs a
    /// few statements whatever its size.
    pub rebuild_batch_size: i64,
    /// How long to wait for a notification before looking anyway. Also bounds the delay when
    /// a notified event is still hidden behind an older transaction that has not finished.
    pub poll_interval: Duration,
    /// How long the runner of a projection not [watched live](Projection::watched_live) waits,
    /// once notified and after each batch that was not full, for more appends before it looks:
    /// with every runner beginning a transaction for nearly each of intake's commits, the
    /// runners took most of a core on a 2-core machine and slowed the read model people do
    /// watch (see services/bench/HISTORY.md).
    pub gather: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            rebuild_batch_size: 10_000,
            poll_interval: Duration::from_millis(200),
            gather: Duration::from_millis(50),
        }
    }
}

pub struct ProjectionRunner {
    pool: PgPool,
    projection: Arc<dyn Projection>,
    settings: RunnerSettings,
    /// Whether this instance drives the projection now; [`Lead::alone`] unless told otherwise.
    lead: Lead,
}

impl ProjectionRunner {
    pub fn new(pool: PgPool, projection: Arc<dyn Projection>, settings: RunnerSettings) -> Self {
        Self {
            pool,
            projection,
            settings,
            lead: Lead::alone(),
        }
    }

    /// Runs only while `lead` says this instance drives the projection.
    pub fn following(mut self, lead: Lead) -> Self {
        self.lead = lead;
        self
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Follows the event store until `shutdown` is cancelled (see [`follow`]). Database
    /// failures are logged and retried with backoff: the checkpoint has not moved, so nothing
    /// is skipped.
    pub async fn run(self, shutdown: CancellationToken) {
        follow::Follower::new(&self, shutdown).await.run().await;
        tracing::info!(projection = self.name(), "projection runner stopped");
    }

    /// Applies the next batch of events in one transaction with the checkpoint.
    /// Returns how many events the checkpoint moved over.
    pub async fn catch_up_batch(&self) -> Result<usize, ProjectionError> {
        Ok(self.apply_batch(self.settings.batch_size).await?.0)
    }

    /// Empties the read model and moves the checkpoint back to the start, in one transaction.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        position::lock_checkpoint(&mut tx, name).await?;
        self.projection.reset(&mut tx).await?;
        position::rewind_checkpoint(&mut tx, name).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where the projection stands, as committed; the start if it has never applied a batch.
    async fn checkpoint(&self) -> Result<Position, ProjectionError> {
        position::checkpoint(&self.pool, self.projection.name()).await
    }

    /// How many events lie beyond the checkpoint.
    pub async fn lag(&self) -> Result<i64, ProjectionError> {
        Ok(self.lag_with_age().await?.0)
    }

    /// How many events lie beyond the checkpoint, and the age in seconds of the oldest of them.
    /// The checkpoint is read first and passed in (see [`position::lag_with_age`]).
    pub async fn lag_with_age(&self) -> Result<(i64, f64), ProjectionError> {
        position::lag_with_age(&self.pool, &self.checkpoint().await?).await
    }

    /// Applies batches until no event lies beyond the checkpoint; returns how many it applied.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        self.catch_up_with(self.settings.batch_size, |_| {}).await
    }

    /// As [`catch_up`](Self::catch_up), reporting the events applied so far after each batch.
    async fn catch_up_with(
        &self,
        batch_size: i64,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ProjectionError> {
        let mut applied = 0u64;
        loop {
            let batch = self.apply_batch(batch_size).await?.0 as u64;
            applied += batch;
            progress(applied);
            if batch == 0 {
                // Either the end, or events still hidden behind a transaction still running
                // (in any database of the cluster: xmin is cluster-wide).
                if self.lag().await? == 0 {
                    return Ok(applied);
                }
                tokio::time::sleep(self.settings.poll_interval).await;
            }
        }
    }
}
