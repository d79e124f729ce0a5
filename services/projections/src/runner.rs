//! Runs one projection: catches up from its checkpoint in batches, then waits for new events.

use std::sync::Arc;
use std::time::Duration;

use crate::leadership::Lead;
use crate::stored_event::{open_personal_of, EVENT_COLUMNS};
use crate::{Projection, ProjectionError, Reads, StoredEvent};
use outreach_telemetry::metrics::{attribute, metrics};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

/// How soon a runner first asks again whether events it cannot see yet have become visible;
/// the wait doubles up to `HIDDEN_STEP_MAX`. The question is about the snapshot alone (no
/// table is read), but eight runners asking every few milliseconds still took a core from a
/// catch-up on this 2-core machine (3 ms steps: 3,400 events/s against 8,800).
const HIDDEN_STEP_FIRST: Duration = Duration::from_millis(1);
const HIDDEN_STEP_MAX: Duration = Duration::from_millis(16);

/// The channel the event store's trigger notifies on every append.
const EVENTS_CHANNEL: &str = "peer_outreach_events";

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
    /// at 200 reports/s each of eight runners began a transaction for nearly every one of
    /// intake's ~90 commits a second, which took most of a core on a 2-core machine and slowed
    /// the read model people do watch.
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

    /// Follows the event store until `shutdown` is cancelled. Database failures are logged and
    /// retried with backoff: the checkpoint has not moved, so nothing is skipped.
    ///
    /// Between batches the runner asks one question outside any transaction: is the next event
    /// it reads beyond where it left the checkpoint visible, hidden, or not there? A batch's
    /// transaction (lock, checkpoint, read, write) is begun only for visible events: most
    /// notifications come after the events they announce were applied already, or while they
    /// are still hidden, and at 200 reports/s the empty transactions they began were a sixth of
    /// the database's statements on a machine short of CPU. A poll still begins a batch
    /// unconditionally, which moves the checkpoint over events of types the projection does not
    /// read and corrects a checkpoint moved by another runner (a rebuild, another instance).
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.name();
        let mut listener = self.listen().await;
        let mut backoff = Duration::from_millis(100);
        // Since when the runner has waited for hidden events without a batch moving.
        let mut hidden_since: Option<tokio::time::Instant> = None;
        // Where this runner last left (or found) the checkpoint: only a place to look from.
        // Each batch starts from the checkpoint it locks, so a stale one costs a batch, no more.
        let mut left_at: Option<(String, i64)> = None;
        let mut next = Next::Batch;
        let mut lead = self.lead.clone();
        while !shutdown.is_cancelled() {
            if !lead.is_leading() {
                tracing::info!(
                    projection = name,
                    "another instance drives this projection; standing by"
                );
                tokio::select! {
                    _ = lead.changed() => {}
                    _ = shutdown.cancelled() => break,
                }
                (left_at, next) = (None, Next::Batch);
                continue;
            }
            if next == Next::Batch {
                match self.apply_batch(self.settings.batch_size).await {
                    Ok((moved, to)) => {
                        left_at = Some(to);
                        if moved > 0 {
                            backoff = Duration::from_millis(100);
                            hidden_since = None;
                        }
                        if moved as i64 == self.settings.batch_size {
                            continue;
                        }
                        // Following the stream, a read model nobody watches by the millisecond
                        // takes a batch per gather at most: intake's next commit is usually
                        // visible already when a batch ends, so without this pause such a
                        // runner went on at intake's pace, whatever the gather after a
                        // notification.
                        if moved > 0 && !self.gather(&shutdown).await {
                            break;
                        }
                    }
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
            }
            match self
                .look_beyond(&mut left_at, &mut hidden_since, &shutdown)
                .await
            {
                Next::Batch => {
                    next = Next::Batch;
                    continue;
                }
                Next::Stop => break,
                Next::Look => {}
            }
            tokio::select! {
                _ = wait_for_events_of(&mut listener, self.projection.reads().event_types) => next = Next::Look,
                _ = tokio::time::sleep(self.settings.poll_interval) => next = Next::Batch,
                _ = shutdown.cancelled() => break,
            }
            if next == Next::Look && !self.gather(&shutdown).await {
                break;
            }
            // The look (or batch) that follows sees every append notified so far: each was
            // committed before its notification was sent.
            if let Some(listener) = &mut listener {
                while listener.next_buffered().is_some() {}
            }
        }
        tracing::info!(projection = name, "projection runner stopped");
    }

    /// For a projection not [watched live](Projection::watched_live), waits the gather for
    /// more appends; false if shut down meanwhile. A watched one goes on at once.
    async fn gather(&self, shutdown: &CancellationToken) -> bool {
        if self.projection.watched_live() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(self.settings.gather) => true,
            _ = shutdown.cancelled() => false,
        }
    }

    /// Whether a batch would find an event to apply beyond `left_at` (the checkpoint if
    /// unknown): `Batch` if one is visible, or once a hidden one becomes visible (or has been
    /// waited for one poll interval since `hidden_since`); `Look` (wait for an append or the
    /// poll) if none is there; `Stop` on shutdown.
    ///
    /// Events may be hidden behind a transaction that began before they committed (intake's
    /// batch, another runner's), also right after a batch that applied the visible ones before
    /// them (their notification is spent): the runner watches for them to become visible rather
    /// than wait for the next append or poll, for one poll interval at most; then appends and
    /// polls take over until a batch moves.
    async fn look_beyond(
        &self,
        left_at: &mut Option<(String, i64)>,
        hidden_since: &mut Option<tokio::time::Instant>,
        shutdown: &CancellationToken,
    ) -> Next {
        let from = match left_at {
            Some(from) => from.clone(),
            None => match self.checkpoint().await {
                Ok(from) => left_at.insert(from).clone(),
                Err(_) => return Next::Batch, // the batch reports the error and backs off
            },
        };
        match first_beyond(&self.pool, &from, self.projection.reads().event_types).await {
            Ok(None) => {
                *hidden_since = None;
                Next::Look
            }
            Ok(Some(first)) if first.visible => Next::Batch,
            Ok(Some(first)) => {
                let since = *hidden_since.get_or_insert_with(tokio::time::Instant::now);
                let until = since + self.settings.poll_interval;
                if tokio::time::Instant::now() >= until {
                    return Next::Look;
                }
                if self
                    .wait_visible(&first.transaction_id, until, shutdown)
                    .await
                {
                    Next::Batch
                } else {
                    Next::Stop
                }
            }
            Err(error) => {
                tracing::debug!(projection = self.name(), %error, "could not look beyond the checkpoint");
                Next::Batch
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        crate::listen(&self.pool, EVENTS_CHANNEL).await
    }

    /// Applies the next batch of events in one transaction with the checkpoint.
    /// Returns how many events the checkpoint moved over.
    pub async fn catch_up_batch(&self) -> Result<usize, ProjectionError> {
        Ok(self.apply_batch(self.settings.batch_size).await?.0)
    }

    /// Applies the next batch of up to `limit` events; returns how many events the checkpoint
    /// moved over, and where it is now.
    async fn apply_batch(&self, limit: i64) -> Result<(usize, (String, i64)), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        // Taking the checkpoint's lock serialises runners of the same projection: a second one
        // waits, then sees the checkpoint the first one committed.
        let from = lock_checkpoint(&mut tx, self.projection.name()).await?;
        let Some(batch) = read_batch(&mut tx, self.projection.reads(), &from, limit).await? else {
            tx.rollback().await?;
            return Ok((0, from));
        };
        let to = batch.to.clone();
        Ok((self.write_batch(tx, batch).await?, to))
    }

    /// Applies `batch` and moves the checkpoint to its end, in `tx` (which holds the
    /// checkpoint's lock, with the checkpoint at the batch's start), and commits.
    async fn write_batch(
        &self,
        mut tx: Transaction<'_, Postgres>,
        batch: Batch,
    ) -> Result<usize, ProjectionError> {
        let name = self.projection.name();
        // The checkpoint moves first: in the same transaction, so nothing of the batch stays
        // if applying it fails. In the same round trip, every later statement of the
        // transaction is planned for its own arguments: a projection's loads and writes take
        // a batch's keys as arrays, and a generic plan made while the read model was small
        // (after a reset, or on a new installation) scans the whole table for them ever after.
        // Seen in a rebuild after a reset: the outreach load by `case_id = ANY($1)` grew from
        // 1 ms to 3.8 s a batch as the table filled.
        sqlx::query(
            "UPDATE projection_checkpoints
                SET transaction_id = $2::xid8, global_position = $3, updated_at = now()
              WHERE projection = $1
          RETURNING set_config('plan_cache_mode', 'force_custom_plan', true)",
        )
        .bind(name)
        .bind(&batch.to.0)
        .bind(batch.to.1)
        .execute(&mut *tx)
        .await?;
        if !batch.events.is_empty() {
            self.projection.apply(&mut tx, &batch.events).await?;
        }
        tx.commit().await?;
        let applied = batch.events.len();
        // A large batch is freed on another thread: dropping a rebuild's decoded payloads
        // (allocated by the reader) took a third of this task's time, time the next batch
        // waited. A small one (the steady state) is freed here, at no cost worth a thread.
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

    /// Waits until events of `transaction_id` are visible to a batch (every transaction that
    /// could commit below it has ended), or `until`. False if shutdown came first.
    async fn wait_visible(
        &self,
        transaction_id: &str,
        until: tokio::time::Instant,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut step = HIDDEN_STEP_FIRST;
        loop {
            let visible: Result<bool, sqlx::Error> =
                sqlx::query_scalar("SELECT $1::xid8 < pg_snapshot_xmin(pg_current_snapshot())")
                    .bind(transaction_id)
                    .fetch_one(&self.pool)
                    .await;
            if !matches!(visible, Ok(false)) || tokio::time::Instant::now() >= until {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = shutdown.cancelled() => return false,
            }
            step = (step * 2).min(HIDDEN_STEP_MAX);
        }
    }

    /// Where the projection stands, as committed: (transaction id, position); the start if
    /// it has never applied a batch.
    async fn checkpoint(&self) -> Result<(String, i64), ProjectionError> {
        let checkpoint: Option<(String, i64)> = sqlx::query_as(
            "SELECT transaction_id::text, global_position
               FROM projection_checkpoints WHERE projection = $1",
        )
        .bind(self.projection.name())
        .fetch_optional(&self.pool)
        .await?;
        Ok(checkpoint.unwrap_or_else(|| ("0".into(), 0)))
    }

    /// How many events lie beyond the checkpoint.
    pub async fn lag(&self) -> Result<i64, ProjectionError> {
        Ok(self.lag_with_age().await?.0)
    }

    /// How many events lie beyond the checkpoint, and the age in seconds of the oldest of them.
    /// The checkpoint is read first and passed in, with the implied `>=`, so the count walks
    /// the commit-order index from the checkpoint: joined to the checkpoint in one statement,
    /// it counted the whole table (223 ms at 300,000 events, for each of eight projections
    /// every gauge interval, which held up the pipeline each time).
    pub async fn lag_with_age(&self) -> Result<(i64, f64), ProjectionError> {
        let (transaction_id, position) = self.checkpoint().await?;
        let lag = sqlx::query_as(
            "SELECT count(*),
                    coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8
               FROM events
              WHERE transaction_id >= $1::xid8
                AND (transaction_id, global_position) > ($1::xid8, $2)",
        )
        .bind(transaction_id)
        .bind(position)
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
                if lock_checkpoint(&mut tx, name).await? != batch.from {
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

/// Events from which a batch counts as large (a rebuild's or a catch-up's, not the steady
/// state's).
const LARGE_BATCH: usize = 1000;

/// Takes the projection's checkpoint for this transaction: runners of the same projection wait
/// for each other here, then see the checkpoint the one before them committed.
///
/// The lock is an advisory one, not a row lock (`FOR UPDATE`): a row lock gives the transaction
/// an id from its first statement, and every runner's transaction with an id older than a
/// command's commit hides that commit's events from all runners (`pg_snapshot_xmin`) until it
/// ends. With seven runners waking on every commit, one of them was nearly always in the way.
/// Now a runner's transaction has an id only while it writes.
async fn lock_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<(String, i64), ProjectionError> {
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
        return Ok(checkpoint);
    }
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(("0".into(), 0))
}

/// Waits for a notification of appended events of `types`: the trigger names the types of each
/// append, so events this projection does not read wake nothing (the poll moves the checkpoint
/// over them). A notification naming no types counts as naming all.
/// The events between two places in commit order: those of the types a projection reads, with
/// the personal parts it reads opened; `moved_over` counts every event between them.
struct Batch {
    from: (String, i64),
    to: (String, i64),
    moved_over: i64,
    events: Vec<StoredEvent>,
}

/// The next batch after `from`: up to `limit` events in commit order, below the line no
/// transaction can commit under any more. `None` if no event beyond `from` is visible.
async fn read_batch(
    db: &mut sqlx::PgConnection,
    reads: Reads,
    from: &(String, i64),
    limit: i64,
) -> Result<Option<Batch>, ProjectionError> {
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
    .bind(&from.0)
    .bind(from.1)
    .bind(limit)
    .fetch_optional(&mut *db)
    .await?;
    let Some((last_tx, last_pos, moved_over)) = end else {
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
    .bind(&from.0)
    .bind(from.1)
    .bind(&last_tx)
    .bind(last_pos)
    .bind(reads.event_types)
    .fetch_all(&mut *db)
    .await?;
    open_personal_of(db, &mut events, reads.personal_data_of).await?;
    crate::purge::name_purged_members(db, &mut events).await?;
    Ok(Some(Batch {
        from: from.clone(),
        to: (last_tx, last_pos),
        moved_over,
        events,
    }))
}

/// What a runner does next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    /// Begin a batch.
    Batch,
    /// Look again after the next append of a type the projection reads, or the next poll.
    Look,
    Stop,
}

/// The first event beyond a place of a type a projection reads.
#[derive(Debug)]
struct FirstBeyond {
    transaction_id: String,
    /// Whether a batch would see it: every transaction that could commit below it has ended.
    visible: bool,
}

/// The first event beyond `from` of one of `types`, visible or not. Only the types a projection
/// reads: a runner waits for those, and moves over the others at its next poll (so that it
/// sleeps through appends it does not read).
///
/// Walks the commit-order index from `from` (the implied `>=` lets a generic plan start there)
/// and stops at the first match. Ordered by the columns, qualified: a bare `transaction_id`
/// named the output column `transaction_id::text`, so PostgreSQL fetched and sorted every event
/// beyond `from` by its text (22 ms a call, 124 s of database time in a 30 s latency run, after
/// a 20,000-report backlog) and could name the wrong transaction across a change in digits.
async fn first_beyond(
    pool: &PgPool,
    from: &(String, i64),
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
    .bind(&from.0)
    .bind(from.1)
    .bind(types)
    .fetch_optional(pool)
    .await?;
    Ok(first.map(|(transaction_id, visible)| FirstBeyond {
        transaction_id,
        visible,
    }))
}

/// Reads batch after batch from `from` into `batches` until no event lies beyond the last one
/// (waiting out events hidden behind a transaction still running), or the receiver is gone.
async fn read_ahead(
    pool: PgPool,
    reads: Reads,
    mut from: (String, i64),
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
    from: &(String, i64),
    limit: i64,
    poll_interval: Duration,
) -> Result<Option<Batch>, ProjectionError> {
    loop {
        if let Some(batch) = read_batch(&mut *pool.acquire().await?, reads, from, limit).await? {
            return Ok(Some(batch));
        }
        if first_beyond(pool, from, reads.event_types).await?.is_none() {
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

async fn wait_for_events_of(listener: &mut Option<PgListener>, types: &[&str]) {
    let Some(listener) = listener else {
        return std::future::pending::<()>().await;
    };
    loop {
        match listener.recv().await {
            Ok(notification) if names_any(notification.payload(), types) => return,
            Ok(_) => {}
            // On a lost connection recv reconnects; an error just falls back to polling.
            Err(_) => std::future::pending::<()>().await,
        }
    }
}

fn names_any(payload: &str, types: &[&str]) -> bool {
    payload.is_empty() || payload.split(',').any(|appended| types.contains(&appended))
}

#[cfg(test)]
mod tests {
    use outreach_events::MemberContact;
    use serde_json::json;
    use sqlx::Connection;
    use uuid::Uuid;

    use super::*;
    use crate::testing::{a_bit_of_everything, ada, case_opened, every_read_model, TestDb};
    use crate::{CaseTimeline, DirectorNotices, OutreachProjection, Setup};

    fn runners(db: &TestDb, batch_size: i64) -> Vec<ProjectionRunner> {
        crate::all(&Setup::default())
            .into_iter()
            .map(|projection| {
                let settings = RunnerSettings {
                    batch_size,
                    rebuild_batch_size: batch_size,
                    poll_interval: Duration::from_millis(10),
                    ..Default::default()
                };
                ProjectionRunner::new(db.db.pool.clone(), projection, settings)
            })
            .collect()
    }

    /// Folding many events in memory and writing them at once gives the rows that applying
    /// them one at a time gives: several events of one case, a case opened and closed, a purge
    /// between a member's cases, events no projection reads, all in one batch.
    #[tokio::test]
    async fn a_batch_of_many_events_gives_the_rows_that_one_event_batches_give() {
        let db = TestDb::new().await;
        a_bit_of_everything(&db).await;
        for runner in runners(&db, 1) {
            runner.catch_up().await.unwrap();
        }
        let one_by_one = every_read_model(&db).await;
        // The batch had things to do: the worked case, the purged one, the one after the purge.
        let cases = one_by_one["outreach_cases"].as_array().unwrap();
        let case = |n: u128| {
            let id = json!(Uuid::from_u128(n));
            cases.iter().find(|c| c["case_id"] == id).unwrap().clone()
        };
        let names: Vec<_> = (1..=3).map(|n| case(n)["given_name"].clone()).collect();
        assert_eq!(names, [json!("Ada"), json!(null), json!("Bea")]);
        assert_eq!(case(1)["status"], "closed");
        assert_eq!(case(1)["contact_attempts"], 2);
        let kinds: Vec<_> = one_by_one["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row["kind"].clone(), row["topic_key"].clone()))
            .collect();
        let worked = json!(Uuid::from_u128(1));
        for kind in [
            "assignment",
            "assignment-email",
            "escalation",
            "feedback-invitation",
        ] {
            assert!(
                kinds.contains(&(json!(kind), worked.clone())),
                "{kind}: {kinds:?}"
            );
        }
        assert_eq!(
            kinds.len(),
            4,
            "the purged case's notices are gone: {kinds:?}"
        );
        assert_eq!(
            one_by_one["matching_report_staff"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(one_by_one["matching_preferences"], json!([]));
        assert_eq!(one_by_one["roster_caseload"], json!([]));
        assert_eq!(
            one_by_one["statistics_first_contact"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            one_by_one["group_debrief_proposals"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // The reactions' reset keeps what may have been sent; start them from nothing too
        // (as the owner: the service never deletes outbox rows it has not published).
        sqlx::query("DELETE FROM outbox")
            .execute(&db.db.owner_pool().await)
            .await
            .unwrap();
        for runner in runners(&db, 1000) {
            runner.rebuild(|_, _| {}).await.unwrap();
        }

        assert_eq!(every_read_model(&db).await, one_by_one);
    }

    /// Nothing is half-applied: the batch's good events are rolled back with the bad one, and
    /// the checkpoint stays where it was.
    #[tokio::test]
    async fn an_unreadable_event_fails_its_whole_batch() {
        let db = TestDb::new().await;
        let case = Uuid::from_u128(1);
        let opened = serde_json::to_value(case_opened(case, ada())).unwrap();
        db.append("OutreachCase", case, 1, "CaseOpened", opened)
            .await;
        let closed = json!({"CaseClosed": {"reason": "vanished"}});
        db.append("OutreachCase", case, 2, "CaseClosed", closed)
            .await;
        let runner = ProjectionRunner::new(
            db.db.pool.clone(),
            Arc::new(OutreachProjection),
            RunnerSettings::default(),
        );

        // Other transactions of the cluster may keep the events hidden for a moment.
        let error = loop {
            match runner.catch_up_batch().await {
                Ok(0) => tokio::time::sleep(Duration::from_millis(10)).await,
                Ok(applied) => panic!("applied {applied} events"),
                Err(error) => break error,
            }
        };

        assert!(
            matches!(error, ProjectionError::UnreadableEvent { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains("vanished"), "{error}");
        let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        assert_eq!(cases, 0);
        assert_eq!(runner.lag().await.unwrap(), 2);
    }

    /// Events a projection does not read are never handed to it, and the checkpoint moves over
    /// them all the same.
    #[tokio::test]
    async fn the_checkpoint_moves_over_events_the_projection_does_not_read() {
        let db = TestDb::new().await;
        a_bit_of_everything(&db).await;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        let runner = ProjectionRunner::new(
            db.db.pool.clone(),
            Arc::new(DirectorNotices),
            RunnerSettings::default(),
        );

        assert_eq!(runner.catch_up().await.unwrap() as i64, total);

        assert_eq!(runner.lag().await.unwrap(), 0);
        assert_eq!(db.outbox().await.len(), 1, "the one escalation");
    }

    /// Transaction ids are numbers: 10 follows 9, though "10" sorts before "9" as text. (A
    /// batch sorted as text once moved the checkpoint back past 99,999 -> 100,000.)
    #[tokio::test]
    async fn events_are_applied_in_commit_order_across_a_change_in_the_number_of_digits() {
        let db = TestDb::new().await;
        let contact = MemberContact {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            email: None,
            phone: None,
            mobile: None,
            preferred_channel: None,
        };
        for (transaction_id, case) in [("9", 1u128), ("10", 2)] {
            let case_id = Uuid::from_u128(case);
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata, transaction_id)
                 VALUES ('OutreachCase', $1, 1, 'CaseOpened', '1', $2, '{}', $3::text::xid8)",
            )
            .bind(case_id.to_string())
            .bind(serde_json::to_value(case_opened(case_id, contact.clone())).unwrap())
            .bind(transaction_id)
            .execute(&db.db.pool)
            .await
            .unwrap();
        }
        // One event per batch: each batch must take the next in commit order.
        let runner = ProjectionRunner::new(
            db.db.pool.clone(),
            Arc::new(OutreachProjection),
            RunnerSettings {
                batch_size: 1,
                ..Default::default()
            },
        );

        let applied = [
            runner.catch_up_batch().await.unwrap(),
            runner.catch_up_batch().await.unwrap(),
            runner.catch_up_batch().await.unwrap(),
        ];

        assert_eq!(applied, [1, 1, 0]);
        let opened: Vec<Uuid> =
            sqlx::query_scalar("SELECT case_id FROM outreach_cases ORDER BY case_id")
                .fetch_all(&db.db.pool)
                .await
                .unwrap();
        assert_eq!(opened, [Uuid::from_u128(1), Uuid::from_u128(2)]);
    }

    /// What a runner waits for after a batch short of full: the next event of a type it
    /// reads, in commit order, whatever the number of digits of its transaction id.
    #[tokio::test]
    async fn the_next_event_a_runner_reads_is_found_in_commit_order_across_a_change_in_digits() {
        let db = TestDb::new().await;
        for (case, transaction_id, event_type) in [
            (1u128, "99990", "NotReadByOutreach"),
            (2, "99999", "CaseOpened"),
            (3, "100000", "CaseOpened"),
        ] {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata, transaction_id)
                 VALUES ('OutreachCase', $1, 1, $2, '1', '{}', '{}', $3::text::xid8)",
            )
            .bind(Uuid::from_u128(case).to_string())
            .bind(event_type)
            .bind(transaction_id)
            .execute(&db.db.pool)
            .await
            .unwrap();
        }
        let start = ("99989".to_string(), 0);

        let read = first_beyond(&db.db.pool, &start, OutreachProjection.reads().event_types);
        let not_read = first_beyond(&db.db.pool, &start, &["NotReadByOutreach"]);

        let named = |first: Option<FirstBeyond>| first.map(|first| first.transaction_id);
        assert_eq!(named(read.await.unwrap()).as_deref(), Some("99999"));
        assert_eq!(named(not_read.await.unwrap()).as_deref(), Some("99990"));
    }

    async fn open_cases(db: &TestDb, cases: u128) {
        for n in 1..=cases {
            let id = Uuid::from_u128(n);
            let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
            db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
        }
    }

    async fn cases_in_read_model(db: &TestDb) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
            .fetch_one(&db.db.pool)
            .await
            .unwrap()
    }

    /// Two runners of one projection at once (two instances in the moment before one stands
    /// down) share its events between them: each is applied once. A batch applied twice would
    /// insert a case twice and fail.
    #[tokio::test]
    async fn two_runners_of_one_projection_apply_each_event_once() {
        let db = TestDb::new().await;
        open_cases(&db, 40).await;
        let runner = || {
            let settings = RunnerSettings {
                batch_size: 3,
                ..Default::default()
            };
            ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings)
        };
        let (one, other) = (runner(), runner());

        let (a, b) = tokio::join!(one.catch_up(), other.catch_up());

        assert_eq!(a.unwrap() + b.unwrap(), 40);
        assert_eq!(cases_in_read_model(&db).await, 40);
    }

    /// A rebuild reads its next batch ahead while it writes one; a runner of the same
    /// projection running beside it (a service left running) takes batches meanwhile. Each
    /// event is still applied once: the rebuild reads again from wherever the other left the
    /// checkpoint.
    #[tokio::test]
    async fn a_rebuild_beside_a_running_runner_of_the_projection_applies_each_event_once() {
        let db = TestDb::new().await;
        open_cases(&db, 60).await;
        let runner = || {
            let settings = RunnerSettings {
                batch_size: 3,
                rebuild_batch_size: 3,
                ..Default::default()
            };
            ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings)
        };
        let (rebuilding, following) = (runner(), runner());
        following.catch_up().await.unwrap();
        let reset = tokio::sync::Notify::new();

        // The other runner starts once the rebuild has reset the read model.
        let (rebuilt, followed) = tokio::join!(
            rebuilding.rebuild(|applied, _| {
                if applied == 0 {
                    reset.notify_one();
                }
            }),
            async {
                reset.notified().await;
                following.catch_up().await
            }
        );

        assert_eq!(rebuilt.unwrap() + followed.unwrap(), 60);
        assert_eq!(cases_in_read_model(&db).await, 60);
        assert_eq!(rebuilding.lag().await.unwrap(), 0);
    }

    /// Two running runners of one projection (two instances in the moment before one stands
    /// down), each woken by every append: each one's idea of where the checkpoint stands goes
    /// stale as the other moves it, and still every case reaches the read model by the
    /// notifications alone (the poll is a minute), once.
    #[tokio::test]
    async fn two_running_runners_of_one_projection_follow_appends_between_them() {
        let db = TestDb::new().await;
        let (shutdown, one) = run_outreach_polling_each_minute(&db);
        let (other_shutdown, other) = run_outreach_polling_each_minute(&db);
        tokio::time::sleep(Duration::from_millis(200)).await;

        for n in 1..=20u128 {
            let id = Uuid::from_u128(n);
            let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
            db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        assert_eq!(cases_within_seconds(&db, 20).await, 20);
        let last: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        assert_eq!(checkpoint_of(&db, "outreach").await, last);
        shutdown.cancel();
        other_shutdown.cancel();
        one.await.unwrap();
        other.await.unwrap();
    }

    /// A read model nobody watches by the millisecond (here the case timeline), following a
    /// stream whose next append is always there already when a batch ends, still takes one
    /// batch per gather, not one per append: at 200 reports/s such runners had kept pace with
    /// intake's every commit, on a machine short of CPU. Batches are counted by a trigger on
    /// the checkpoint, which each batch moves once.
    #[tokio::test]
    async fn a_runner_of_an_unwatched_read_model_takes_a_batch_per_gather_under_a_steady_stream() {
        let db = TestDb::new().await;
        sqlx::raw_sql(
            "CREATE TABLE timeline_batches (n bigint NOT NULL);
             INSERT INTO timeline_batches VALUES (0);
             CREATE FUNCTION count_timeline_batch() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                 IF NEW.projection = 'case-timeline' THEN UPDATE timeline_batches SET n = n + 1; END IF;
                 RETURN NEW;
               END $$;
             CREATE TRIGGER count_timeline_batch AFTER UPDATE ON projection_checkpoints
               FOR EACH ROW EXECUTE FUNCTION count_timeline_batch();
             GRANT SELECT, UPDATE ON timeline_batches TO peer_outreach_test_runtime;",
        )
        // The test's own table and trigger: the owner's to make, the runner's role's to use.
        .execute(&db.db.owner_pool().await)
        .await
        .unwrap();
        let gather = Duration::from_millis(250);
        let settings = RunnerSettings {
            batch_size: 100_000,
            poll_interval: Duration::from_secs(60),
            gather,
            ..Default::default()
        };
        let runner = ProjectionRunner::new(db.db.pool.clone(), Arc::new(CaseTimeline), settings);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(runner.run(shutdown.child_token()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let batches_before: i64 = sqlx::query_scalar("SELECT n FROM timeline_batches")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();

        // Appends back to back for a second: whenever a batch ends, the next one is there.
        let streaming = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let mut appended = 0;
        while started.elapsed() < streaming {
            appended += 1;
            let id = Uuid::from_u128(appended);
            let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
            db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
        }
        let last: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while checkpoint_of(&db, "case-timeline").await < last {
            assert!(
                std::time::Instant::now() < deadline,
                "the timeline caught up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let batches: i64 = sqlx::query_scalar("SELECT n FROM timeline_batches")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        let batches = batches - batches_before;

        // A second of appends, one batch per 250 ms gather and one for what came last. The
        // bound holds however slow the machine: a slower one only makes fewer batches.
        let at_most = (streaming.as_millis() / gather.as_millis()) as i64 + 2;
        assert!(
            (1..=at_most).contains(&batches),
            "{batches} batches for {appended} appends over {streaming:?}, at most {at_most}"
        );
        shutdown.cancel();
        running.await.unwrap();
    }

    /// A command's events hidden behind a transaction that began before they committed reach
    /// the read model soon after that transaction ends: the runner looks again within
    /// milliseconds instead of waiting for the next append or poll (a minute here).
    #[tokio::test]
    async fn events_hidden_behind_an_older_transaction_are_applied_soon_after_it_ends() {
        let db = TestDb::new().await;
        let (shutdown, running) = run_outreach_polling_each_minute(&db);
        let mut older = open_transaction_with_an_id(&db).await;

        open_cases(&db, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            cases_in_read_model(&db).await,
            0,
            "hidden while the older transaction runs"
        );
        sqlx::query("COMMIT").execute(&mut older).await.unwrap();

        assert_eq!(
            cases_within_seconds(&db, 1).await,
            1,
            "applied long before the poll"
        );
        shutdown.cancel();
        running.await.unwrap();
    }

    /// The outreach projection's runner, running, with a poll of a minute: whatever it applies
    /// within a test's seconds, a notification or its hidden-event watch brought.
    fn run_outreach_polling_each_minute(
        db: &TestDb,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let settings = RunnerSettings {
            poll_interval: Duration::from_secs(60),
            ..Default::default()
        };
        let runner =
            ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(runner.run(shutdown.child_token()));
        (shutdown, running)
    }

    /// A transaction that has taken its id and stays open (until COMMIT on the connection):
    /// events committed after it are hidden from every runner while it runs.
    async fn open_transaction_with_an_id(db: &TestDb) -> sqlx::PgConnection {
        let mut older = sqlx::PgConnection::connect(&db.db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut older).await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut older)
            .await
            .unwrap();
        older
    }

    /// The cases in the read model once it holds `cases`, or after 10 s.
    async fn cases_within_seconds(db: &TestDb, cases: i64) -> i64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while cases_in_read_model(db).await < cases && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cases_in_read_model(db).await
    }

    /// A batch's statements are planned for the batch's own keys, in a catch-up and in a
    /// rebuild: a plan kept from when the read model was empty would scan it whole. The mode
    /// each write ran under is recorded by a trigger on the outreach read model.
    #[tokio::test]
    async fn every_batch_is_planned_for_its_own_keys_in_a_catch_up_and_in_a_rebuild() {
        let db = TestDb::new().await;
        sqlx::raw_sql(
            "CREATE TABLE planned_under (mode text NOT NULL);
             CREATE FUNCTION record_plan_mode() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                 INSERT INTO planned_under VALUES (current_setting('plan_cache_mode'));
                 RETURN NULL;
               END $$;
             CREATE TRIGGER record_plan_mode AFTER INSERT ON outreach_cases
               FOR EACH STATEMENT EXECUTE FUNCTION record_plan_mode();
             GRANT SELECT, INSERT ON planned_under TO peer_outreach_test_runtime;",
        )
        // The test's own table and trigger: the owner's to make, the runner's role's to use.
        .execute(&db.db.owner_pool().await)
        .await
        .unwrap();
        for n in 1..=3 {
            let id = Uuid::from_u128(n);
            let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
            db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
        }
        let runner = || {
            let settings = RunnerSettings {
                batch_size: 1,
                rebuild_batch_size: 2,
                ..Default::default()
            };
            ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings)
        };
        runner().catch_up().await.unwrap();
        runner().rebuild(|_, _| {}).await.unwrap();

        let modes: Vec<String> = sqlx::query_scalar("SELECT mode FROM planned_under")
            .fetch_all(&db.db.pool)
            .await
            .unwrap();
        assert_eq!(
            modes.len(),
            5,
            "three batches of one, then two of up to two"
        );
        assert!(
            modes.iter().all(|mode| mode == "force_custom_plan"),
            "{modes:?}"
        );
        let outside: String = sqlx::query_scalar("SELECT current_setting('plan_cache_mode')")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        assert_eq!(outside, "auto", "the mode is the batch transaction's only");
    }

    async fn checkpoint_of(db: &TestDb, projection: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT global_position FROM projection_checkpoints WHERE projection = $1",
        )
        .bind(projection)
        .fetch_optional(&db.db.pool)
        .await
        .unwrap()
        .unwrap_or(0)
    }

    /// Each append's notification names the types it appended, once each.
    #[tokio::test]
    async fn the_notification_of_an_append_names_the_types_appended() {
        let db = TestDb::new().await;
        let mut listener = PgListener::connect(&db.db.url).await.unwrap();
        listener.listen(EVENTS_CHANNEL).await.unwrap();

        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             VALUES ('OutreachCase', 'a', 1, 'CaseOpened', '1', '{}', '{}'),
                    ('OutreachCase', 'b', 1, 'CaseOpened', '1', '{}', '{}'),
                    ('OutreachCase', 'a', 2, 'SupporterAssigned', '1', '{}', '{}')",
        )
        .execute(&db.db.pool)
        .await
        .unwrap();

        let notification = listener.recv().await.unwrap();
        let mut named: Vec<&str> = notification.payload().split(',').collect();
        named.sort();
        assert_eq!(named, ["CaseOpened", "SupporterAssigned"]);
    }

    #[test]
    fn a_notification_wakes_a_runner_whose_projection_reads_one_of_its_types() {
        let reads = ["CaseOpened", "CaseClosed"];
        assert!(names_any("ReportRecorded,CaseClosed", &reads));
        assert!(!names_any("ReportRecorded,MemberRegistered", &reads));
        assert!(!names_any("CaseOpenedLater", &reads), "whole names only");
        assert!(names_any("", &reads), "the old trigger named none: all");
    }

    /// Events of types the projection does not read wake nothing: its checkpoint stays until
    /// an event it reads (or its poll, a minute here) comes, and then moves over both.
    #[tokio::test]
    async fn a_runner_sleeps_through_appends_its_projection_does_not_read() {
        let db = TestDb::new().await;
        let (shutdown, running) = run_outreach_polling_each_minute(&db);
        open_cases(&db, 1).await;
        assert_eq!(
            cases_within_seconds(&db, 1).await,
            1,
            "woken by a case opened"
        );
        let after_first = checkpoint_of(&db, "outreach").await;

        let other = db
            .append(
                "Roster",
                Uuid::from_u128(99),
                1,
                "NotReadByOutreach",
                json!({}),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            checkpoint_of(&db, "outreach").await,
            after_first,
            "not woken by a type it does not read"
        );

        let id = Uuid::from_u128(2);
        let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
        let second = db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
        assert_eq!(
            cases_within_seconds(&db, 2).await,
            2,
            "woken by the next case opened"
        );
        assert!(second.global_position > other.global_position);
        assert_eq!(checkpoint_of(&db, "outreach").await, second.global_position);
        shutdown.cancel();
        running.await.unwrap();
    }

    /// Events visible and events still hidden behind an older transaction, found by one
    /// batch: the batch applies the visible ones, and the hidden ones follow soon after that
    /// transaction ends, not at the next poll (a minute here), as their notification was
    /// already spent when the batch ran.
    #[tokio::test]
    async fn events_hidden_behind_visible_ones_follow_soon_after_the_older_transaction_ends() {
        let db = TestDb::new().await;
        let insert = |n: u128| {
            let id = Uuid::from_u128(n);
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 VALUES ('OutreachCase', $1, 1, 'CaseOpened', '1', $2, '{}')",
            )
            .bind(id.to_string())
            .bind(serde_json::to_value(case_opened(id, ada())).unwrap())
        };
        // The first case's transaction has the lowest id and commits first; the older
        // transaction takes the next id and stays open; the second case commits behind it.
        let mut first = sqlx::PgConnection::connect(&db.db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut first).await.unwrap();
        insert(1).execute(&mut first).await.unwrap();
        let mut older = open_transaction_with_an_id(&db).await;
        sqlx::query("COMMIT").execute(&mut first).await.unwrap();
        insert(2).execute(&db.db.pool).await.unwrap();

        let (shutdown, running) = run_outreach_polling_each_minute(&db);
        assert_eq!(
            cases_within_seconds(&db, 1).await,
            1,
            "the visible case applied"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cases_in_read_model(&db).await, 1, "the second still hidden");

        sqlx::query("COMMIT").execute(&mut older).await.unwrap();
        assert_eq!(
            cases_within_seconds(&db, 2).await,
            2,
            "applied long before the poll"
        );
        shutdown.cancel();
        running.await.unwrap();
    }
}
