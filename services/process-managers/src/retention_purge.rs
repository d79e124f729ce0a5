//! The retention purge: once a member's cases have all been closed for the retention period,
//! their personal data is purged (issue 7; UW Medicine deletes identifiable information once
//! the encounter is completed; HIPAA's minimum-necessary standard). A member who never had a
//! case (preferences stated only) is purged once the period after their last change is over.
//!
//! Every `interval` it asks the key store for members whose data key is older than the period,
//! and the outreach read model which of them have no case open and their last case closed more
//! than `retention` ago, or no case at all (the read models propose), and whose cases the
//! statistics projection has counted to their last event (the purge destroys the discipline
//! statistics count by: a member counted late waits for the next sweep), and sends each
//! `PurgePersonalData` through the command side, where the member aggregate decides and the
//! key is destroyed after the event is stored.
//!
//! # Why repeating it is harmless
//!
//! The member aggregate refuses a purge while a case is open or before the period is over, and
//! a purge under a key already purged records nothing; a crash between the event and the key's
//! destruction leaves the key, so the member is proposed again and the next sweep destroys it.
//! A refusal (the read model lagging the event store) is logged and tried again next time.
//!
//! Tracing carries counts only: never who was purged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_command_side::{CommandError, CommandSide, Metadata, Purge};
use outreach_events::case;
use outreach_privacy::{DataKeys, PrivacyError};
use outreach_projections::StatisticsProjection;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::sweep::Sweep;

/// The advisory lock a sweep holds: the ASCII bytes of "peerprg1" read as a big-endian 64-bit
/// integer (see [`crate::deadline_watch::LOCK_KEY`]).
pub const LOCK_KEY: i64 = 0x7065_6572_7072_6731;

/// Members purged per sweep; the rest wait for the next tick.
pub const DEFAULT_BATCH: i64 = 100;

/// Where the events it causes come from, in their metadata.
const SOURCE: &str = "retention-purge";

pub struct RetentionPurge {
    pub pool: PgPool,
    pub commands: Arc<CommandSide>,
    /// How long after a member's last case closed their personal data is kept.
    pub retention: chrono::Duration,
    /// How long to wait between sweeps.
    pub interval: Duration,
    /// At most this many members are purged per sweep.
    pub batch: i64,
}

impl RetentionPurge {
    pub fn new(
        pool: PgPool,
        commands: Arc<CommandSide>,
        retention: chrono::Duration,
        interval: Duration,
    ) -> Self {
        Self {
            pool,
            commands,
            retention,
            interval,
            batch: DEFAULT_BATCH,
        }
    }

    /// Sweeps every `interval` until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::sweep::run(&self, &self.pool, self.interval, shutdown).await;
    }

    /// Staff ids of members with a live key, no case open in the read model and every case
    /// closed at or before `closed_by`, longest closed first; then members with a key that old
    /// and no case at all (the member aggregate checks their last change).
    async fn due(
        &self,
        db: &mut PgConnection,
        closed_by: DateTime<Utc>,
    ) -> Result<Vec<String>, sqlx::Error> {
        // A key is made before the member's first case opens (or their preferences are
        // stated), so only a key made by `closed_by` can belong to a member due. Asked first
        // and alone: joined and grouped over every case, the question read the whole read
        // model at every start and every interval (2.9 s at 448,000 cases, all of them
        // recent). The key store keeps staff ids sealed: only the service can list them.
        let aged: Vec<String> = DataKeys::on(db)
            .members_with_keys_made_by(closed_by)
            .await
            .map_err(|error| match error {
                PrivacyError::Database(error) => error,
                other => sqlx::Error::Decode(Box::new(other)),
            })?;
        if aged.is_empty() {
            return Ok(aged);
        }
        // Statistics count a case's discipline, which the purge destroys, from its events: a
        // member waits until the statistics projection has applied every event of their cases
        // (its checkpoint is past them in commit order), and the next sweep looks again.
        let mut due: Vec<String> = sqlx::query_scalar(
            "WITH counted AS (
                 SELECT coalesce(max(transaction_id::text), '0')::xid8 AS transaction_id,
                        coalesce(max(global_position), 0) AS global_position
                   FROM projection_checkpoints WHERE projection = $4)
             SELECT c.staff_id
               FROM outreach_cases c
              WHERE c.staff_id = ANY($1)
                AND NOT EXISTS (
                    SELECT 1 FROM outreach_cases u, counted, events e
                     WHERE u.staff_id = c.staff_id
                       AND e.aggregate_type = $5 AND e.aggregate_id = u.case_id::text
                       AND (e.transaction_id, e.global_position)
                           > (counted.transaction_id, counted.global_position))
              GROUP BY c.staff_id
             HAVING bool_and(c.closed_at IS NOT NULL) AND max(c.closed_at) <= $2
              ORDER BY max(c.closed_at)
              LIMIT $3",
        )
        .bind(&aged)
        .bind(closed_by)
        .bind(self.batch)
        .bind(StatisticsProjection::NAME)
        .bind(case::AGGREGATE_TYPE)
        .fetch_all(&mut *db)
        .await?;
        let room = self.batch - due.len() as i64;
        if room > 0 {
            // `aged` is oldest key first, and UNNEST keeps that order.
            let caseless: Vec<String> = sqlx::query_scalar(
                "SELECT staff_id FROM UNNEST($1::text[]) WITH ORDINALITY AS aged(staff_id, n)
                  WHERE NOT EXISTS (SELECT 1 FROM outreach_cases c WHERE c.staff_id = aged.staff_id)
                  ORDER BY n
                  LIMIT $2",
            )
            .bind(&aged)
            .bind(room)
            .fetch_all(&mut *db)
            .await?;
            due.extend(caseless);
        }
        Ok(due)
    }
}

#[async_trait]
impl Sweep for RetentionPurge {
    const NAME: &'static str = "retention-purge";
    const LOCK_KEY: i64 = LOCK_KEY;

    /// Purges up to `batch` members whose retention period is over; returns how many.
    #[tracing::instrument(
        name = "retention_purge.sweep",
        skip_all,
        fields(candidates = tracing::field::Empty, count = tracing::field::Empty)
    )]
    async fn sweep(
        &self,
        db: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        let now = Utc::now();
        let due = self.due(db, now - self.retention).await?;
        let span = tracing::Span::current();
        span.record("candidates", due.len());
        let metadata = Metadata::from([("source".to_string(), SOURCE.to_string())]);
        let mut purged = 0;
        for staff_id in due {
            if shutdown.is_cancelled() {
                break;
            }
            match self
                .commands
                .purge_member(&staff_id, self.retention, now, &metadata)
                .await
            {
                Ok(Purge::Purged { .. }) => purged += 1,
                Ok(Purge::NoKey | Purge::KeyStillNeeded) => {}
                Err(CommandError::Refused { rule, .. }) => {
                    tracing::debug!(rule, "a proposed purge was refused; will look again")
                }
                Err(error) => tracing::warn!(%error, "could not purge; will retry"),
            }
        }
        span.record("count", purged);
        Ok(purged)
    }
}
