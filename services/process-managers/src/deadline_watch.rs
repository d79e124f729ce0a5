//! The deadline watch: notices when a case's first contact is past due and was never attempted,
//! and says so with a command, so the fact is an event (`FirstContactDeadlinePassed`) that
//! escalations, notifications and statistics can follow.
//!
//! Every `interval` it sweeps the outreach read model for cases that are still being worked,
//! were never contacted, are past their deadline and have not been noticed yet, oldest deadline
//! first, and issues `NoticeDeadlinePassed` for each.
//!
//! # Why repeating it is harmless
//!
//! Every instance runs a watch; the shared [sweep loop](crate::sweep) keeps them mostly to one
//! at a time, but the read model lags and the lock is only an optimisation.
//!
//! The guarantee is the aggregate's own rule: an outreach case records
//! `FirstContactDeadlinePassed` at most once, only while it is open, never contacted and past due,
//! and otherwise records nothing without an error; the command side runs it with optimistic
//! concurrency on the case's stream, so two concurrent notices cannot both record. Repeats are
//! therefore harmless, and an error needs no bookkeeping: it is logged, and the next sweep
//! picks the case up again.
//!
//! A sweep also skips cases whose event is already in the event store but not yet projected,
//! so read-model lag costs a query rather than a command, and the
//! `peer_outreach.deadlines.passed` counter counts a case only when its event appeared.
//!
//! Tracing carries case ids and counts only, never who the member is.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_command_side::{CommandSide, Metadata};
use outreach_domain::CaseCommand;
use outreach_telemetry::metrics::metrics;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sweep::Sweep;

/// The advisory lock a sweep holds: `pg_try_advisory_lock(8098991046881212209)`, the ASCII
/// bytes of "peerdlw1" read as a big-endian 64-bit integer. Advisory locks are per database, so
/// the key only has to be unique among the locks taken on peer-outreach's own database.
pub const LOCK_KEY: i64 = 0x7065_6572_646c_7731;

/// Cases noticed per sweep, unless told otherwise; the rest wait for the next tick.
pub const DEFAULT_BATCH: i64 = 100;

/// Where the events it causes come from, in their metadata.
const SOURCE: &str = "deadline-watch";

pub struct DeadlineWatch {
    pub pool: PgPool,
    pub commands: Arc<CommandSide>,
    /// How long to wait between sweeps.
    pub interval: Duration,
    /// At most this many cases are noticed per sweep.
    pub batch: i64,
}

impl DeadlineWatch {
    pub fn new(pool: PgPool, commands: Arc<CommandSide>, interval: Duration) -> Self {
        Self {
            pool,
            commands,
            interval,
            batch: DEFAULT_BATCH,
        }
    }

    /// Sweeps every `interval` until `shutdown` is cancelled. A sweep in progress finishes the
    /// case in hand and stops; failures are logged and the next tick tries again.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::sweep::run(&self, &self.pool, self.interval, shutdown).await;
    }
}

#[async_trait]
impl Sweep for DeadlineWatch {
    const NAME: &'static str = "deadline-watch";
    const LOCK_KEY: i64 = LOCK_KEY;

    /// Notices the passed deadlines of up to `batch` cases; returns how many it recorded.
    #[tracing::instrument(
        name = "deadline_watch.sweep",
        skip_all,
        fields(candidates = tracing::field::Empty, count = tracing::field::Empty)
    )]
    async fn sweep(
        &self,
        db: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        // One instant for the whole sweep, compared with deadlines the aggregate computed on the
        // same (service) clock, so every case selected is past due by the aggregate's rule too.
        let now = Utc::now();
        let due = self.overdue_cases(db, now).await?;
        let span = tracing::Span::current();
        span.record("candidates", due.len());
        let metadata = Metadata::from([("source".to_string(), SOURCE.to_string())]);
        let mut noticed = 0;
        for case_id in due {
            if shutdown.is_cancelled() {
                break;
            }
            let command = CaseCommand::NoticeDeadlinePassed { at: now };
            if let Err(error) = self.commands.handle_case(case_id, command, &metadata).await {
                tracing::warn!(%case_id, %error, "could not notice a passed deadline; will retry");
                continue;
            }
            // Recorded nothing when the case moved on meanwhile (contacted, closed).
            if noticed_in_event_store(db, case_id).await? {
                noticed += 1;
                metrics().deadlines_passed.add(1, &[]);
            }
        }
        span.record("count", noticed);
        Ok(noticed)
    }
}

impl DeadlineWatch {
    /// Open or assigned cases never contacted, past due at `now` and not yet noticed, oldest
    /// deadline first. Follows the partial index `outreach_cases_awaiting_first_contact`.
    async fn overdue_cases(
        &self,
        db: &mut PgConnection,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT c.case_id
               FROM outreach_cases c
              WHERE c.deadline_passed_at IS NULL
                AND c.first_contacted_at IS NULL
                AND c.status IN ('open', 'assigned')
                AND c.first_contact_due <= $1
                -- noticed already, but the projection has not caught up
                AND NOT EXISTS (
                    SELECT 1 FROM events e
                     WHERE e.aggregate_type = 'OutreachCase'
                       AND e.aggregate_id = c.case_id::text
                       AND e.event_type = 'FirstContactDeadlinePassed')
              ORDER BY c.first_contact_due
              LIMIT $2",
        )
        .bind(now)
        .bind(self.batch)
        .fetch_all(db)
        .await
    }
}

/// Whether the event store holds the case's `FirstContactDeadlinePassed`.
async fn noticed_in_event_store(db: &mut PgConnection, case_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM events
              WHERE aggregate_type = 'OutreachCase'
                AND aggregate_id = $1
                AND event_type = 'FirstContactDeadlinePassed')",
    )
    .bind(case_id.to_string())
    .fetch_one(db)
    .await
}
