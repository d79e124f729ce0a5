//! Automatic assignment (off by default): a case awaiting assignment gets its top candidate
//! when their score reaches the configured threshold, and otherwise waits for a manager.
//!
//! Every `interval` it sweeps the matching read model for cases awaiting assignment that it has
//! not considered yet, ranks the roster for each exactly as `GET /v1/cases/{id}/candidates`
//! does, and records what it decided in `auto_assignments`, so each case is considered once.
//! A case whose contact details wait for the program's staff to confirm them is not considered
//! until they are: nobody may be assigned to it before, and it should not be passed over after.
//!
//! # Why it never overrides a manager, and why repeats are harmless
//!
//! Before assigning, it loads the case from the event store: a case that already has a
//! supporter (a manager was quicker than the read model) is left alone. The assignment then
//! names the version it was decided on, so a manager's assignment in between wins and this one
//! is refused as stale. A crash between assigning and recording the decision makes the next
//! sweep consider the case again; by then the case has its supporter and is left alone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_command_side::{CommandError, CommandSide, Metadata};
use outreach_projections::candidates;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sweep::Sweep;

/// "peeraas1" read as a big-endian 64-bit integer.
pub const LOCK_KEY: i64 = 0x7065_6572_6161_7331;

/// Cases considered per sweep.
const BATCH: i64 = 100;

const SOURCE: &str = "auto-assign";

pub struct AutoAssign {
    pub pool: PgPool,
    pub commands: Arc<CommandSide>,
    pub interval: Duration,
}

/// What automatic assignment decided for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision {
    outcome: &'static str,
    supporter_id: Option<String>,
    score: Option<i32>,
    rule: Option<&'static str>,
}

impl AutoAssign {
    /// Sweeps until `shutdown` is cancelled; start it only when the policy turns it on.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::sweep::run(&self, &self.pool, self.interval, shutdown).await;
    }

    async fn awaiting(&self, db: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT c.case_id FROM matching_cases c
              WHERE c.supporter_id IS NULL AND c.ended_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM auto_assignments a WHERE a.case_id = c.case_id)
                AND NOT EXISTS (SELECT 1 FROM outreach_cases o
                                 WHERE o.case_id = c.case_id AND o.contact_to_confirm)
              ORDER BY c.opened_at
              LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(db)
        .await
    }

    /// Decides for one case, assigning when the top candidate scores enough. `None` when the
    /// case could not be decided now (the event store or read model failed): tried again later.
    async fn decide(
        &self,
        db: &mut PgConnection,
        case_id: Uuid,
        now: DateTime<Utc>,
    ) -> Option<Decision> {
        let decision = |outcome, supporter_id, score, rule| Decision {
            outcome,
            supporter_id,
            score,
            rule,
        };
        let (case, version) = match self.commands.case(case_id).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%case_id, %error, "could not load a case; will retry");
                return None;
            }
        };
        if case.supporter_id().is_some() {
            return Some(decision("already-assigned", None, None, None));
        }
        // Held for confirmation, and the outreach read model has not shown it yet: not now.
        if case.has_contact_to_confirm() {
            return None;
        }
        let policies = self.commands.policies();
        let ranking = match candidates::candidates(db, case_id, policies, now).await {
            Ok(Some((_, ranking))) => ranking,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%case_id, %error, "could not rank the roster; will retry");
                return None;
            }
        };
        let Some(top) = ranking.candidates.into_iter().next() else {
            return Some(decision("no-candidate", None, None, None));
        };
        if top.score < policies.matching.auto_assign.threshold {
            return Some(decision(
                "below-threshold",
                Some(top.staff_id),
                Some(top.score),
                None,
            ));
        }
        let metadata = Metadata::from([("source".to_string(), SOURCE.to_string())]);
        match self
            .commands
            .assign(case_id, &top.staff_id, Some(version), now, &metadata)
            .await
        {
            Ok(_) => Some(decision(
                "assigned",
                Some(top.staff_id),
                Some(top.score),
                None,
            )),
            Err(CommandError::Refused { rule, .. }) => Some(decision(
                "refused",
                Some(top.staff_id),
                Some(top.score),
                Some(rule),
            )),
            Err(CommandError::StaleVersion { .. }) => {
                // Someone acted on the case meanwhile; the next sweep looks again.
                None
            }
            Err(error) => {
                tracing::warn!(%case_id, %error, "could not assign; will retry");
                None
            }
        }
    }
}

#[async_trait]
impl Sweep for AutoAssign {
    const NAME: &'static str = "auto-assign";
    const LOCK_KEY: i64 = LOCK_KEY;

    #[tracing::instrument(name = "auto_assign.sweep", skip_all, fields(assigned = tracing::field::Empty))]
    async fn sweep(
        &self,
        db: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        let now = Utc::now();
        let mut assigned = 0;
        for case_id in self.awaiting(db).await? {
            if shutdown.is_cancelled() {
                break;
            }
            let Some(decision) = self.decide(db, case_id, now).await else {
                continue;
            };
            tracing::info!(%case_id, outcome = decision.outcome, "automatic assignment considered a case");
            if decision.outcome == "assigned" {
                assigned += 1;
            }
            sqlx::query(
                "INSERT INTO auto_assignments (case_id, considered_at, outcome, supporter_id, score, rule)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (case_id) DO NOTHING",
            )
            .bind(case_id)
            .bind(now)
            .bind(decision.outcome)
            .bind(decision.supporter_id)
            .bind(decision.score)
            .bind(decision.rule)
            .execute(&mut *db)
            .await?;
        }
        tracing::Span::current().record("assigned", assigned);
        Ok(assigned)
    }
}
