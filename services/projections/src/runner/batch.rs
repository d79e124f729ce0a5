//! A batch: the visible events after a checkpoint, applied in one transaction with the
//! checkpoint's move.

use sqlx::{PgConnection, Postgres, Transaction};

use super::position::{self, Position};
use super::ProjectionRunner;
use crate::stored_event::{open_personal_of, EVENT_COLUMNS};
use crate::{ProjectionError, Reads, StoredEvent};
use outreach_telemetry::metrics::{attribute, metrics};

/// Events from which a batch counts as large (a rebuild's or a catch-up's, not the steady
/// state's).
const LARGE_BATCH: usize = 1000;

/// The events between two places in commit order: those of the types a projection reads, with
/// the personal parts it reads opened; `moved_over` counts every event between them.
pub(super) struct Batch {
    pub from: Position,
    pub to: Position,
    pub moved_over: i64,
    pub events: Vec<StoredEvent>,
}

/// The next batch after `from`: up to `limit` events in commit order, below the line no
/// transaction can commit under any more. `None` if no event beyond `from` is visible.
pub(super) async fn read_batch(
    db: &mut PgConnection,
    reads: Reads,
    from: &Position,
    limit: i64,
) -> Result<Option<Batch>, ProjectionError> {
    let Some((to, moved_over)) = position::visible_end(&mut *db, from, limit).await? else {
        return Ok(None);
    };
    // The events of the batch this projection reads; the rest never leave the database.
    // Every transaction up to the batch's end had finished when it was found, so this sees
    // exactly the events that were there. The BETWEEN is implied by the row comparisons;
    // it is what lets a prepared statement's generic plan see a narrow range and walk the
    // index (without it, PostgreSQL guessed a third of the table and scanned all of it).
    let mut events: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE transaction_id BETWEEN $1::xid8 AND $3::xid8
            AND (transaction_id, global_position) > ($1::xid8, $2)
            AND (transaction_id, global_position) <= ($3::xid8, $4)
            AND event_type = ANY($5)
          ORDER BY events.transaction_id, global_position"
    ))
    .bind(&from.transaction_id)
    .bind(from.global_position)
    .bind(&to.transaction_id)
    .bind(to.global_position)
    .bind(reads.event_types)
    .fetch_all(&mut *db)
    .await?;
    open_personal_of(db, &mut events, reads.personal_data_of).await?;
    crate::purge::name_purged_members(db, &mut events).await?;
    Ok(Some(Batch {
        from: from.clone(),
        to,
        moved_over,
        events,
    }))
}

impl ProjectionRunner {
    /// Applies the next batch of up to `limit` events; returns how many events the checkpoint
    /// moved over, and where it is now.
    pub(super) async fn apply_batch(
        &self,
        limit: i64,
    ) -> Result<(usize, Position), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        // Taking the checkpoint's lock serialises runners of the same projection: a second one
        // waits, then sees the checkpoint the first one committed.
        let from = position::lock_checkpoint(&mut tx, self.projection.name()).await?;
        let Some(batch) = read_batch(&mut tx, self.projection.reads(), &from, limit).await? else {
            tx.rollback().await?;
            return Ok((0, from));
        };
        let to = batch.to.clone();
        Ok((self.write_batch(tx, batch).await?, to))
    }

    /// Applies `batch` and moves the checkpoint to its end, in `tx` (which holds the
    /// checkpoint's lock, with the checkpoint at the batch's start), and commits.
    pub(super) async fn write_batch(
        &self,
        mut tx: Transaction<'_, Postgres>,
        batch: Batch,
    ) -> Result<usize, ProjectionError> {
        let name = self.projection.name();
        // The checkpoint moves first: in the same transaction, so nothing of the batch stays
        // if applying it fails.
        position::move_checkpoint(&mut tx, name, &batch.to).await?;
        if !batch.events.is_empty() {
            self.projection.apply(&mut tx, &batch.events).await?;
        }
        tx.commit().await?;
        let applied = batch.events.len();
        // A large batch is freed on another thread: dropping a rebuild's decoded payloads
        // (allocated by the reader) held up the next batch (see services/bench/HISTORY.md).
        // A small one (the steady state) is freed here, at no cost worth a thread.
        if applied >= LARGE_BATCH {
            let events = batch.events;
            tokio::task::spawn_blocking(move || drop(events));
        }
        metrics()
            .projection_events
            .add(batch.moved_over as u64, &[attribute("projection", name)]);
        tracing::debug!(
            projection = name,
            events = batch.moved_over,
            applied,
            "projection batch committed"
        );
        Ok(batch.moved_over as usize)
    }
}
