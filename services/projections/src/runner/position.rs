//! Places in the event store, and what a runner can see of it.
//!
//! # What "visible" means
//!
//! Events are read in commit order: by the id of the transaction that appended them
//! (`transaction_id`, an `xid8`), then by `global_position` within it. A transaction's id is
//! taken before it commits, so an event may commit after events of a younger transaction that a
//! runner has already moved over: reading in id order, the runner would skip it for ever. An
//! event is therefore *visible* only once it lies below `pg_snapshot_xmin` of the current
//! snapshot: every transaction with a lower id has ended (committed or not), so nothing can
//! commit below it any more and a checkpoint may move past it. Events above that line are
//! *hidden*: there, but not to be read yet.
//!
//! Every statement that asks that question is in this file: the end of the next batch
//! ([`visible_end`]), the first event beyond a place ([`first_beyond`]), whether a transaction's
//! events have become visible ([`is_visible`]), and how far a checkpoint lags ([`lag_with_age`]);
//! so is the checkpoint itself, the position a projection has applied up to.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::ProjectionError;

/// A place in the event store's commit order: the event at `global_position` of the transaction
/// `transaction_id`, and everything before it. A checkpoint is one: everything up to it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// The appending transaction's id, as text: an `xid8` is a 64-bit number, bound as text and
    /// cast back (`$1::xid8`), as sqlx has no type of its own for it.
    pub transaction_id: String,
    pub global_position: i64,
}

impl Position {
    /// Before the first event: where a projection that never applied a batch stands.
    pub fn start() -> Self {
        Self::new("0", 0)
    }

    pub fn new(transaction_id: impl Into<String>, global_position: i64) -> Self {
        Self {
            transaction_id: transaction_id.into(),
            global_position,
        }
    }
}

impl From<(String, i64)> for Position {
    fn from((transaction_id, global_position): (String, i64)) -> Self {
        Self {
            transaction_id,
            global_position,
        }
    }
}

/// Takes the projection's checkpoint for this transaction: runners of the same projection wait
/// for each other here, then see the checkpoint the one before them committed.
///
/// The lock is an advisory one, not a row lock (`FOR UPDATE`): a row lock gives the transaction
/// an id from its first statement, and every runner's transaction with an id older than a
/// command's commit hides that commit's events from all runners (`pg_snapshot_xmin`) until it
/// ends. With seven runners waking on every commit, one of them was nearly always in the way.
/// Now a runner's transaction has an id only while it writes.
pub(crate) async fn lock_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<Position, ProjectionError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("projection-checkpoint/{name}"))
        .execute(&mut **tx)
        .await?;
    let checkpoint: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, global_position
           FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(checkpoint) = checkpoint {
        return Ok(checkpoint.into());
    }
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(Position::start())
}

/// Where the projection `name` stands, as committed; the start if it has never applied a batch.
pub(crate) async fn checkpoint(pool: &PgPool, name: &str) -> Result<Position, ProjectionError> {
    let checkpoint: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, global_position
           FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(checkpoint.map_or_else(Position::start, Position::from))
}

/// Moves the checkpoint of `name` to `to`, in `tx` (which holds the checkpoint's lock).
///
/// In the same round trip, every later statement of the transaction is planned for its own
/// arguments: a projection's loads and writes take a batch's keys as arrays, and a generic plan
/// made while the read model was small (after a reset, or on a new installation) scans the whole
/// table for them ever after (seen in a rebuild after a reset: see services/bench/HISTORY.md).
pub(crate) async fn move_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    to: &Position,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projection_checkpoints
            SET transaction_id = $2::xid8, global_position = $3, updated_at = now()
          WHERE projection = $1
      RETURNING set_config('plan_cache_mode', 'force_custom_plan', true)",
    )
    .bind(name)
    .bind(&to.transaction_id)
    .bind(to.global_position)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves the checkpoint of `name` back to the start, in `tx` (which holds the checkpoint's lock).
pub(crate) async fn rewind_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projection_checkpoints
            SET transaction_id = '0', global_position = 0, updated_at = now()
          WHERE projection = $1",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The end of the next batch after `from`: the last of up to `limit` visible events in commit
/// order, and how many events lie between `from` and it. `None` if no event beyond `from` is
/// visible.
pub(crate) async fn visible_end(
    db: &mut PgConnection,
    from: &Position,
    limit: i64,
) -> Result<Option<(Position, i64)>, ProjectionError> {
    // Ordered by the column, qualified: a bare `transaction_id` names the output column
    // `transaction_id::text`, whose text order puts 100000 before 99999 (a batch that spanned
    // that moved the checkpoint back).
    let end: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT batch.transaction_id::text, batch.global_position, count(*) OVER ()
           FROM (SELECT transaction_id, global_position
                   FROM events
                  WHERE (transaction_id, global_position) > ($1::xid8, $2)
                    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                  ORDER BY events.transaction_id, global_position
                  LIMIT $3) batch
          ORDER BY batch.transaction_id DESC, batch.global_position DESC
          LIMIT 1",
    )
    .bind(&from.transaction_id)
    .bind(from.global_position)
    .bind(limit)
    .fetch_optional(db)
    .await?;
    Ok(end.map(|(transaction_id, global_position, moved_over)| {
        (Position::new(transaction_id, global_position), moved_over)
    }))
}

/// The first event beyond a place of a type a projection reads.
#[derive(Debug)]
pub(crate) struct FirstBeyond {
    pub transaction_id: String,
    /// Whether a batch would see it: every transaction that could commit below it has ended.
    pub visible: bool,
}

/// The first event beyond `from` of one of `types`, visible or not. Only the types a projection
/// reads: a runner waits for those, and moves over the others at its next poll (so that it
/// sleeps through appends it does not read).
///
/// Walks the commit-order index from `from` (the implied `>=` lets a generic plan start there)
/// and stops at the first match. Ordered by the columns, qualified: a bare `transaction_id`
/// named the output column `transaction_id::text`, so PostgreSQL fetched and sorted every event
/// beyond `from` by its text (see services/bench/HISTORY.md) and could name the wrong
/// transaction across a change in digits.
pub(crate) async fn first_beyond(
    pool: &PgPool,
    from: &Position,
    types: &[&str],
) -> Result<Option<FirstBeyond>, ProjectionError> {
    let first: Option<(String, bool)> = sqlx::query_as(
        "SELECT transaction_id::text, transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           FROM events
          WHERE transaction_id >= $1::xid8
            AND (transaction_id, global_position) > ($1::xid8, $2)
            AND event_type = ANY($3)
          ORDER BY events.transaction_id, events.global_position
          LIMIT 1",
    )
    .bind(&from.transaction_id)
    .bind(from.global_position)
    .bind(types)
    .fetch_optional(pool)
    .await?;
    Ok(first.map(|(transaction_id, visible)| FirstBeyond {
        transaction_id,
        visible,
    }))
}

/// Whether events of `transaction_id` are visible now: every transaction that could commit
/// below it has ended. A question about the snapshot alone: no table is read.
pub(crate) async fn is_visible(pool: &PgPool, transaction_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT $1::xid8 < pg_snapshot_xmin(pg_current_snapshot())")
        .bind(transaction_id)
        .fetch_one(pool)
        .await
}

/// How many events lie beyond `from`, and the age in seconds of the oldest of them, hidden or
/// not. `from` is passed in, with the implied `>=`, so the count walks the commit-order index
/// from there: joined to the checkpoint in one statement, it counted the whole table (see
/// services/bench/HISTORY.md).
pub(crate) async fn lag_with_age(
    pool: &PgPool,
    from: &Position,
) -> Result<(i64, f64), ProjectionError> {
    let lag = sqlx::query_as(
        "SELECT count(*),
                coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8
           FROM events
          WHERE transaction_id >= $1::xid8
            AND (transaction_id, global_position) > ($1::xid8, $2)",
    )
    .bind(&from.transaction_id)
    .bind(from.global_position)
    .fetch_one(pool)
    .await?;
    Ok(lag)
}
