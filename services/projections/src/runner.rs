//! Runs one projection: catches up from its checkpoint in batches, then waits for new events.

use std::sync::Arc;
use std::time::Duration;

use outreach_telemetry::metrics::{attribute, metrics};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::stored_event::{open_personal, EVENT_COLUMNS};
use crate::{Projection, ProjectionError, StoredEvent};

/// The channel the event store's trigger notifies on every append.
const EVENTS_CHANNEL: &str = "peer_outreach_events";

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Events applied per transaction.
    pub batch_size: i64,
    /// How long to wait for a notification before looking anyway. Also bounds the delay when
    /// a notified event is still hidden behind an older transaction that has not finished.
    pub poll_interval: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(200),
        }
    }
}

pub struct ProjectionRunner {
    pool: PgPool,
    projection: Arc<dyn Projection>,
    settings: RunnerSettings,
}

impl ProjectionRunner {
    pub fn new(pool: PgPool, projection: Arc<dyn Projection>, settings: RunnerSettings) -> Self {
        Self {
            pool,
            projection,
            settings,
        }
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Follows the event store until `shutdown` is cancelled. Database failures are logged and
    /// retried with backoff: the checkpoint has not moved, so nothing is skipped.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.name();
        let mut listener = self.listen().await;
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            match self.catch_up_batch().await {
                Ok(applied) if applied as i64 == self.settings.batch_size => continue,
                Ok(_) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::error!(projection = name, %error, "projection batch failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
            tokio::select! {
                _ = wait_for_notification(&mut listener) => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!(projection = name, "projection runner stopped");
    }

    async fn listen(&self) -> Option<PgListener> {
        crate::listen(&self.pool, EVENTS_CHANNEL).await
    }

    /// Applies the next batch of events in one transaction with the checkpoint.
    /// Returns how many events it applied.
    pub async fn catch_up_batch(&self) -> Result<usize, ProjectionError> {
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        // Locking the checkpoint row serialises runners of the same projection: a second one
        // waits, then sees the checkpoint the first one committed.
        let (checkpoint_tx, checkpoint_pos) = lock_checkpoint(&mut tx, name).await?;
        // Ordered by the column, qualified: a bare `transaction_id` names the output column
        // `transaction_id::text`, whose text order puts 100000 before 99999, so a batch that
        // spans a change in the number of digits moved the checkpoint back and skipped events.
        let mut events: Vec<StoredEvent> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS}
               FROM events
              WHERE (transaction_id, global_position) > ($1::xid8, $2)
                AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY events.transaction_id, global_position
              LIMIT $3"
        ))
        .bind(&checkpoint_tx)
        .bind(checkpoint_pos)
        .bind(self.settings.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        open_personal(&mut tx, &mut events).await?;
        let Some(last) = events.last() else {
            tx.rollback().await?;
            return Ok(0);
        };
        let (last_tx, last_pos) = (last.transaction_id.clone(), last.global_position);
        for event in &events {
            // Each event continues the trace of the command that stored it.
            let span = tracing::info_span!(
                "projection.apply",
                projection = name,
                event_type = %event.event_type,
                aggregate_type = %event.aggregate_type,
                aggregate_id = %event.aggregate_id,
                sequence = event.sequence,
            );
            outreach_telemetry::continue_trace(&span, event.trace_context());
            self.projection
                .apply(&mut tx, event)
                .instrument(span)
                .await?;
        }
        sqlx::query(
            "UPDATE projection_checkpoints
                SET transaction_id = $2::xid8, global_position = $3, updated_at = now()
              WHERE projection = $1",
        )
        .bind(name)
        .bind(&last_tx)
        .bind(last_pos)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        metrics()
            .projection_events
            .add(events.len() as u64, &[attribute("projection", name)]);
        tracing::debug!(
            projection = name,
            applied = events.len(),
            "projection batch committed"
        );
        Ok(events.len())
    }

    /// Empties the read model and moves the checkpoint back to the start, in one transaction.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        lock_checkpoint(&mut tx, name).await?;
        self.projection.reset(&mut tx).await?;
        sqlx::query(
            "UPDATE projection_checkpoints
                SET transaction_id = '0', global_position = 0, updated_at = now()
              WHERE projection = $1",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many events lie beyond the checkpoint.
    pub async fn lag(&self) -> Result<i64, ProjectionError> {
        Ok(self.lag_with_age().await?.0)
    }

    /// How many events lie beyond the checkpoint, and the age in seconds of the oldest of them.
    pub async fn lag_with_age(&self) -> Result<(i64, f64), ProjectionError> {
        let lag = sqlx::query_as(
            "SELECT count(*),
                    coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0)::float8
               FROM events e
               LEFT JOIN projection_checkpoints c ON c.projection = $1
              WHERE (e.transaction_id, e.global_position)
                  > (coalesce(c.transaction_id, '0'::xid8), coalesce(c.global_position, 0))",
        )
        .bind(self.projection.name())
        .fetch_one(&self.pool)
        .await?;
        Ok(lag)
    }

    /// Rebuilds the read model from the first event, reporting `(applied, total)` as it goes.
    /// Catches up to the end of the store as it stands when the rebuild started, and beyond.
    pub async fn rebuild(
        &self,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<u64, ProjectionError> {
        self.reset().await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        progress(0, total as u64);
        self.catch_up_with(|applied| progress(applied, (total as u64).max(applied)))
            .await
    }

    /// Applies batches until no event lies beyond the checkpoint; returns how many it applied.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        self.catch_up_with(|_| {}).await
    }

    /// As [`catch_up`](Self::catch_up), reporting the events applied so far after each batch.
    async fn catch_up_with(&self, mut progress: impl FnMut(u64)) -> Result<u64, ProjectionError> {
        let mut applied = 0u64;
        loop {
            let batch = self.catch_up_batch().await? as u64;
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

async fn lock_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<(String, i64), ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    let checkpoint = sqlx::query_as(
        "SELECT transaction_id::text, global_position
           FROM projection_checkpoints WHERE projection = $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_one(&mut **tx)
    .await?;
    Ok(checkpoint)
}

async fn wait_for_notification(listener: &mut Option<PgListener>) {
    match listener {
        // On a lost connection recv reconnects; an error just falls back to polling.
        Some(listener) => {
            if listener.recv().await.is_err() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending::<()>().await,
    }
}
