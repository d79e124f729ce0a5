//! Following the event store: the runner's loop once it has caught up, as a small state
//! machine. A follower is always about to do one of three things: apply a batch, look whether a
//! batch would find anything, or wait for an append or the poll.
//!
//! Between batches the runner asks one question outside any transaction: is the next event it
//! reads beyond where it left the checkpoint visible, hidden, or not there? A batch's
//! transaction (lock, checkpoint, read, write) is begun only for visible events: most
//! notifications come after the events they announce were applied already, or while they are
//! still hidden, and the empty transactions they began were a large share of the database's
//! statements on a machine short of CPU (see services/bench/HISTORY.md). A poll still begins a batch
//! unconditionally, which moves the checkpoint over events of types the projection does not
//! read and corrects a checkpoint moved by another runner (a rebuild, another instance).

use std::time::Duration;

use outreach_rounds::{notified, Backoff};
use sqlx::postgres::PgListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::position::{self, Position};
use super::ProjectionRunner;
use crate::leadership::Lead;

/// How soon a runner first asks again whether events it cannot see yet have become visible;
/// the wait doubles up to `HIDDEN_STEP_MAX`. Asking every few milliseconds from eight runners
/// took a core from a catch-up on a 2-core machine (see services/bench/HISTORY.md).
const HIDDEN_STEP_FIRST: Duration = Duration::from_millis(1);
const HIDDEN_STEP_MAX: Duration = Duration::from_millis(16);

/// The channel the event store's trigger notifies on every append.
pub(super) const EVENTS_CHANNEL: &str = "peer_outreach_events";

/// What a follower does next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    /// Begin a batch.
    Batch,
    /// Ask whether a batch would find an event to apply.
    Look,
    /// Wait for the next append of a type the projection reads, or the next poll.
    Wait,
    Stop,
}

/// A runner following the event store, and what it remembers between steps.
pub(super) struct Follower<'r> {
    runner: &'r ProjectionRunner,
    shutdown: CancellationToken,
    listener: Option<PgListener>,
    lead: Lead,
    /// The pause after a failed batch, doubled on each failure in a row.
    backoff: Backoff,
    /// Since when the runner has waited for hidden events without a batch moving.
    hidden_since: Option<Instant>,
    /// Where this runner last left (or found) the checkpoint: only a place to look from.
    /// Each batch starts from the checkpoint it locks, so a stale one costs a batch, no more.
    left_at: Option<Position>,
}

impl<'r> Follower<'r> {
    pub async fn new(runner: &'r ProjectionRunner, shutdown: CancellationToken) -> Self {
        Self {
            runner,
            shutdown,
            listener: outreach_rounds::listen(&runner.pool, EVENTS_CHANNEL).await,
            lead: runner.lead.clone(),
            backoff: Backoff::up_to(Duration::from_secs(10)),
            hidden_since: None,
            left_at: None,
        }
    }

    /// Follows until shutdown: a batch first, then whatever each step says comes next. Each
    /// step begins by asking whether this instance still drives the projection.
    pub async fn run(mut self) {
        let mut next = Next::Batch;
        while !self.shutdown.is_cancelled() {
            if !self.lead.is_leading() {
                next = self.stand_by().await;
                continue;
            }
            next = match next {
                Next::Batch => self.batch().await,
                Next::Look => self.look().await,
                Next::Wait => self.wait().await,
                Next::Stop => break,
            };
        }
    }

    fn name(&self) -> &'static str {
        self.runner.name()
    }

    /// Waits while another instance drives the projection; then starts afresh with a batch.
    async fn stand_by(&mut self) -> Next {
        tracing::info!(
            projection = self.name(),
            "another instance drives this projection; standing by"
        );
        tokio::select! {
            _ = self.lead.changed() => {}
            _ = self.shutdown.cancelled() => return Next::Stop,
        }
        self.left_at = None;
        Next::Batch
    }

    /// Applies a batch: another at once if it was full; a failed one again after the backoff.
    async fn batch(&mut self) -> Next {
        let batch_size = self.runner.settings.batch_size;
        match self.runner.apply_batch(batch_size).await {
            Ok((moved, to)) => {
                self.left_at = Some(to);
                if moved > 0 {
                    self.backoff.reset();
                    self.hidden_since = None;
                }
                if moved as i64 == batch_size {
                    return Next::Batch;
                }
                // Following the stream, a read model nobody watches by the millisecond takes
                // a batch per gather at most: intake's next commit is usually visible already
                // when a batch ends, so without this pause such a runner went on at intake's
                // pace, whatever the gather after a notification.
                if moved > 0 && !self.gather().await {
                    return Next::Stop;
                }
                Next::Look
            }
            Err(error) => {
                tracing::error!(projection = self.name(), %error, "projection batch failed; will retry");
                if !self.backoff.wait(&self.shutdown).await {
                    return Next::Stop;
                }
                Next::Batch
            }
        }
    }

    /// Whether a batch would find an event to apply beyond `left_at` (the checkpoint if
    /// unknown): `Batch` if one is visible, or once a hidden one becomes visible (or has been
    /// waited for one poll interval since `hidden_since`); `Wait` if none is there.
    ///
    /// Events may be hidden behind a transaction that began before they committed (intake's
    /// batch, another runner's), also right after a batch that applied the visible ones before
    /// them (their notification is spent): the runner watches for them to become visible rather
    /// than wait for the next append or poll, for one poll interval at most; then appends and
    /// polls take over until a batch moves.
    async fn look(&mut self) -> Next {
        let from = match &self.left_at {
            Some(from) => from.clone(),
            None => match self.runner.checkpoint().await {
                Ok(from) => self.left_at.insert(from).clone(),
                Err(_) => return Next::Batch, // the batch reports the error and backs off
            },
        };
        let types = self.runner.projection.reads().event_types;
        match position::first_beyond(&self.runner.pool, &from, types).await {
            Ok(None) => {
                self.hidden_since = None;
                Next::Wait
            }
            Ok(Some(first)) if first.visible => Next::Batch,
            Ok(Some(first)) => {
                let since = *self.hidden_since.get_or_insert_with(Instant::now);
                let until = since + self.runner.settings.poll_interval;
                if Instant::now() >= until {
                    return Next::Wait;
                }
                if self.wait_visible(&first.transaction_id, until).await {
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

    /// Waits for an append of a type the projection reads (then looks) or the poll (then
    /// begins a batch).
    async fn wait(&mut self) -> Next {
        let types = self.runner.projection.reads().event_types;
        let next = tokio::select! {
            // The trigger names the types of each append, so events this projection does not
            // read wake nothing (the poll moves the checkpoint over them).
            _ = notified(&mut self.listener, |payload| names_any(payload, types)) => Next::Look,
            _ = tokio::time::sleep(self.runner.settings.poll_interval) => Next::Batch,
            _ = self.shutdown.cancelled() => return Next::Stop,
        };
        if next == Next::Look && !self.gather().await {
            return Next::Stop;
        }
        // The look (or batch) that follows sees every append notified so far: each was
        // committed before its notification was sent.
        if let Some(listener) = &mut self.listener {
            while listener.next_buffered().is_some() {}
        }
        next
    }

    /// For a projection not [watched live](crate::Projection::watched_live), waits the gather
    /// for more appends; false if shut down meanwhile. A watched one goes on at once.
    async fn gather(&self) -> bool {
        if self.runner.projection.watched_live() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(self.runner.settings.gather) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }

    /// Waits until events of `transaction_id` are visible to a batch, or `until`. False if
    /// shutdown came first.
    async fn wait_visible(&self, transaction_id: &str, until: Instant) -> bool {
        let mut step = HIDDEN_STEP_FIRST;
        loop {
            let visible = position::is_visible(&self.runner.pool, transaction_id).await;
            if !matches!(visible, Ok(false)) || Instant::now() >= until {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = self.shutdown.cancelled() => return false,
            }
            step = (step * 2).min(HIDDEN_STEP_MAX);
        }
    }
}

/// Whether a notification's payload names one of `types`. A notification naming no types
/// counts as naming all.
pub(super) fn names_any(payload: &str, types: &[&str]) -> bool {
    payload.is_empty() || payload.split(',').any(|appended| types.contains(&appended))
}
