//! The rebuild: the read model emptied and brought back from the first event, in large
//! batches, the next one read ahead while the one before is written.

use std::time::Duration;

use sqlx::PgPool;

use super::batch::{read_batch, Batch};
use super::position::{self, Position};
use super::ProjectionRunner;
use crate::{ProjectionError, Reads};

impl ProjectionRunner {
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
        self.catch_up_reading_ahead(self.settings.rebuild_batch_size, |applied| {
            progress(applied, (total as u64).max(applied))
        })
        .await
    }

    /// As [`catch_up`](Self::catch_up) with large batches, the next batch read (and its
    /// personal parts opened) on a connection of its own while the projection writes the one
    /// before: the database writes on one core while this process decodes on the other.
    async fn catch_up_reading_ahead(
        &self,
        batch_size: i64,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ProjectionError> {
        let name = self.projection.name();
        let mut applied = 0u64;
        'from_the_checkpoint: loop {
            let from = self.checkpoint().await?;
            let (sender, mut batches) = tokio::sync::mpsc::channel(1);
            let _reader = AbortOnDrop(tokio::spawn(read_ahead(
                self.pool.clone(),
                self.projection.reads(),
                from,
                batch_size,
                self.settings.poll_interval,
                sender,
            )));
            while let Some(batch) = batches.recv().await {
                let batch = batch?;
                let mut tx = self.pool.begin().await?;
                if position::lock_checkpoint(&mut tx, name).await? != batch.from {
                    // Another runner of this projection (a service running beside the
                    // rebuild) applied batches meanwhile: read again from where it left off.
                    tx.rollback().await?;
                    continue 'from_the_checkpoint;
                }
                applied += self.write_batch(tx, batch).await? as u64;
                progress(applied);
            }
            return Ok(applied);
        }
    }
}

/// Reads batch after batch from `from` into `batches` until no event lies beyond the last one
/// (waiting out events hidden behind a transaction still running), or the receiver is gone.
async fn read_ahead(
    pool: PgPool,
    reads: Reads,
    mut from: Position,
    limit: i64,
    poll_interval: Duration,
    batches: tokio::sync::mpsc::Sender<Result<Batch, ProjectionError>>,
) {
    loop {
        // A place in the channel first, then the read: one batch is written while the next is
        // read, and no third waits in memory.
        let Ok(place) = batches.reserve().await else {
            return;
        };
        match next_batch(&pool, reads, &from, limit, poll_interval).await {
            Ok(Some(batch)) => {
                from = batch.to.clone();
                place.send(Ok(batch));
            }
            Ok(None) => return,
            Err(error) => {
                place.send(Err(error));
                return;
            }
        }
    }
}

/// The next batch after `from`, waiting out events still hidden behind a transaction still
/// running (in any database of the cluster: xmin is cluster-wide); `None` once no event of a
/// type read lies beyond `from`.
async fn next_batch(
    pool: &PgPool,
    reads: Reads,
    from: &Position,
    limit: i64,
    poll_interval: Duration,
) -> Result<Option<Batch>, ProjectionError> {
    loop {
        if let Some(batch) = read_batch(&mut *pool.acquire().await?, reads, from, limit).await? {
            return Ok(Some(batch));
        }
        if position::first_beyond(pool, from, reads.event_types)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        tokio::time::sleep(poll_interval).await;
    }
}

/// Stops the task when the one that started it is done with it, also on an early return.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
