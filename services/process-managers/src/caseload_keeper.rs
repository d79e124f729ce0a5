//! The caseload keeper: frees a supporter's slot once the case it was held for no longer needs
//! them, so capacity counts the cases a supporter really holds.
//!
//! An assignment takes a slot on the supporter before the case records it (see
//! `CommandSide::assign`). A slot stays held after the case closes, is cancelled or merged, or
//! goes to another supporter, and after an assignment that a crash interrupted between its two
//! writes. Every `interval` the keeper sweeps the matching read model for such slots and releases
//! each with `ReleaseCase`.
//!
//! # Why the read model only proposes
//!
//! The read model lags: an assignment just made may not be projected yet, and releasing on its
//! word could free a slot its case still needs, letting the supporter take one case too many. So
//! before releasing, the keeper loads the case from the event store and releases only when the
//! case is closed or cancelled, or has a supporter other than the slot's holder, or has none
//! and the slot is older than [`GRACE`] (an assignment in flight takes milliseconds, not
//! minutes). A released slot is never needed again by its case, except that a reopened case
//! keeps its supporter without a slot; reopening is rare, and the supporter's load is then one
//! lower than it is until the case closes again.
//!
//! Releasing a case not held records nothing, so repeats, and a second instance's sweep, are
//! harmless.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_command_side::{CommandSide, Metadata};
use outreach_domain::case::CaseStatus;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sweep::Sweep;

/// "peercsk1" read as a big-endian 64-bit integer.
pub const LOCK_KEY: i64 = 0x7065_6572_6373_6b31;

/// How long a slot may wait for its case to record the assignment before it counts as left
/// over from an interrupted one.
pub const GRACE: Duration = Duration::from_secs(60);

/// Slots looked at per sweep.
const BATCH: i64 = 200;

const SOURCE: &str = "caseload-keeper";

pub struct CaseloadKeeper {
    pub pool: PgPool,
    pub commands: Arc<CommandSide>,
    pub interval: Duration,
}

impl CaseloadKeeper {
    pub async fn run(self, shutdown: CancellationToken) {
        crate::sweep::run(&self, &self.pool, self.interval, shutdown).await;
    }

    /// Slots whose case, by the read model, ended, went to someone else after the slot was
    /// taken, or still has nobody after the grace period.
    async fn proposed(
        &self,
        db: &mut PgConnection,
        taken_before: DateTime<Utc>,
    ) -> Result<Vec<(String, Uuid, DateTime<Utc>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT s.staff_id, l.case_id, l.taken_at
               FROM roster_caseload l
               JOIN roster_supporters s ON s.supporter_id = l.supporter_id
               LEFT JOIN matching_cases c ON c.case_id = l.case_id
              WHERE c.ended_at IS NOT NULL
                 OR (c.supporter_id IS DISTINCT FROM s.staff_id
                     AND (c.assigned_at > l.taken_at OR l.taken_at < $1))
              ORDER BY l.taken_at
              LIMIT $2",
        )
        .bind(taken_before)
        .bind(BATCH)
        .fetch_all(db)
        .await
    }
}

#[async_trait]
impl Sweep for CaseloadKeeper {
    const NAME: &'static str = "caseload-keeper";
    const LOCK_KEY: i64 = LOCK_KEY;

    #[tracing::instrument(name = "caseload_keeper.sweep", skip_all, fields(released = tracing::field::Empty))]
    async fn sweep(
        &self,
        db: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        let now = Utc::now();
        let grace = chrono::Duration::from_std(GRACE).expect("a minute fits");
        let metadata = Metadata::from([("source".to_string(), SOURCE.to_string())]);
        let mut released = 0;
        for (staff_id, case_id, taken_at) in self.proposed(db, now - grace).await? {
            if shutdown.is_cancelled() {
                break;
            }
            let case = match self.commands.case(case_id).await {
                Ok((case, _)) => case,
                Err(error) => {
                    tracing::warn!(%case_id, %error, "could not load a case; will retry");
                    continue;
                }
            };
            let done = matches!(
                case.status(),
                Some(CaseStatus::Closed | CaseStatus::Cancelled)
            );
            let needed = match case.supporter_id() {
                Some(holder) => holder == staff_id,
                None => taken_at >= now - grace,
            };
            if !done && needed {
                continue;
            }
            match self
                .commands
                .release(&staff_id, case_id, now, &metadata)
                .await
            {
                Ok(()) => released += 1,
                Err(error) => {
                    tracing::warn!(%case_id, %error, "could not release a slot; will retry")
                }
            }
        }
        tracing::Span::current().record("released", released);
        Ok(released)
    }
}
