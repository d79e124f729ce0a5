//! The alert watch: what the passing of time calls for before anything is recorded on a case.
//!
//! - **A reminder before first contact is due**: a case assigned and not yet contacted, whose
//!   deadline is within `[alerts] remind_before` (4 working hours by default), gets one e-mail to
//!   its supporter's roster address with a link to their case page (`first-contact-reminder`).
//! - **A case waiting for a supporter**: a case still unassigned `[alerts] unassigned_after`
//!   after it opened (4 working hours by default) gets one alert to each program manager
//!   (`unassigned-alert`).
//!
//! (After the deadline, the deadline watch records `FirstContactDeadlinePassed`, and the
//! program alerts reaction tells the managers: that one follows an event.)
//!
//! Every `interval` it sweeps the outreach read model for candidates, decides with the domain's
//! [`AlertTiming`] and writes the rows into the outbox, whose publishers send them.
//!
//! # Why every message goes out once
//!
//! Each row's id is derived from what makes it one message, in its kind's namespace: the case,
//! its deadline and the supporter for a reminder (a new supporter, or a deadline moved by a
//! reopening, is reminded again), the case, its opening and the manager for an alert. Rows are
//! inserted `ON CONFLICT DO NOTHING`, so the next sweep, a sweep that repeats after a lost
//! lock, and another instance's sweep all find the row there and record nothing new; the
//! publisher sends each row once (at least once, with its id as the message's idempotency key).
//! The advisory lock only saves the repeated work.
//!
//! The messages name no member and nothing clinical: a link and a time (see
//! `outreach_projections::alert_messages`). Tracing carries counts only.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_domain::alerts::AlertTiming;
use outreach_domain::deadline::WorkingCalendar;
use outreach_projections::alert_messages::{self as messages, AlertSetup};
use outreach_projections::outbox::OutboxRow;
use outreach_projections::outbox_id_named;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sweep::Sweep;

/// "peeralw1" read as a big-endian 64-bit integer.
pub const LOCK_KEY: i64 = 0x7065_6572_616c_7731;

/// Candidates of each kind looked at per sweep: every case awaiting first contact or a
/// supporter, at any hospital's scale (a program holds dozens of open cases, not thousands).
pub const DEFAULT_BATCH: i64 = 1000;

/// A case assigned and never contacted, with its supporter's roster address.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AwaitingContact {
    pub case_id: Uuid,
    pub due: DateTime<Utc>,
    pub supporter: String,
    pub address: String,
}

/// A case with no supporter yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AwaitingSupporter {
    pub case_id: Uuid,
    pub opened_at: DateTime<Utc>,
    pub due: Option<DateTime<Utc>>,
}

pub struct AlertWatch {
    pub pool: PgPool,
    /// Whom to tell and what to link to.
    pub setup: AlertSetup,
    pub timing: AlertTiming,
    /// The program's working calendar, which working hours are counted in.
    pub calendar: WorkingCalendar,
    pub interval: Duration,
    pub batch: i64,
}

impl AlertWatch {
    /// Sweeps every `interval` until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::sweep::run(&self, &self.pool, self.interval, shutdown).await;
    }

    /// The rows due at `now` for the cases awaiting first contact and those awaiting a
    /// supporter. No I/O.
    pub fn due(
        &self,
        now: DateTime<Utc>,
        reminders: &[AwaitingContact],
        waiting: &[AwaitingSupporter],
    ) -> Vec<OutboxRow> {
        let mut rows = Vec::new();
        let row = |kind, id, case_id, payload| OutboxRow {
            id,
            kind,
            channel: "email",
            case_id,
            payload,
            created_at: now,
        };
        for case in reminders {
            if !self.timing.reminder_due(&self.calendar, case.due, now) {
                continue;
            }
            let name = format!(
                "{}/{}/{}",
                case.case_id,
                case.due.to_rfc3339(),
                case.supporter
            );
            let id = outbox_id_named(messages::REMINDER, &name);
            let email = messages::reminder(&self.setup, &case.address, case.case_id, case.due);
            rows.push(row(messages::REMINDER, id, case.case_id, email));
        }
        for case in waiting {
            if !self
                .timing
                .waited_too_long(&self.calendar, case.opened_at, now)
            {
                continue;
            }
            for manager in &self.setup.managers {
                let name = format!("{}/{}/{manager}", case.case_id, case.opened_at.to_rfc3339());
                let id = outbox_id_named(messages::UNASSIGNED, &name);
                let alert = messages::unassigned(
                    &self.setup,
                    manager,
                    case.case_id,
                    case.opened_at,
                    case.due,
                );
                rows.push(row(messages::UNASSIGNED, id, case.case_id, alert));
            }
        }
        rows
    }
}

#[async_trait]
impl Sweep for AlertWatch {
    const NAME: &'static str = "alert-watch";
    const LOCK_KEY: i64 = LOCK_KEY;

    /// Records the reminders and alerts due now; returns how many rows it offered (those
    /// recorded before are left as they are).
    #[tracing::instrument(name = "alert_watch.sweep", skip_all, fields(count = tracing::field::Empty))]
    async fn sweep(
        &self,
        db: &mut PgConnection,
        _shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        let now = Utc::now();
        // Assigned, never contacted, due ahead: the supporter's address from the roster.
        let reminders: Vec<AwaitingContact> = sqlx::query_as(
            "SELECT c.case_id, c.first_contact_due AS due, s.staff_id AS supporter,
                    s.email AS address
               FROM outreach_cases c
               JOIN roster_supporters s ON s.staff_id = c.supporter_id
              WHERE c.first_contacted_at IS NULL
                AND c.status = 'assigned'
                AND c.first_contact_due > $1
                AND s.email IS NOT NULL
              ORDER BY c.first_contact_due
              LIMIT $2",
        )
        .bind(now)
        .bind(self.batch)
        .fetch_all(&mut *db)
        .await?;
        let waiting: Vec<AwaitingSupporter> = if self.setup.managers.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(
                "SELECT case_id, opened_at, first_contact_due AS due
                       FROM outreach_cases
                      WHERE status = 'open' AND supporter_id IS NULL
                      ORDER BY opened_at
                      LIMIT $1",
            )
            .bind(self.batch)
            .fetch_all(&mut *db)
            .await?
        };
        let rows = self.due(now, &reminders, &waiting);
        outreach_projections::outbox::insert(db, &rows)
            .await
            .map_err(|error| match error {
                outreach_projections::ProjectionError::Database(error) => error,
                other => sqlx::Error::Protocol(other.to_string()),
            })?;
        tracing::Span::current().record("count", rows.len());
        Ok(rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use outreach_domain::alerts::Span;

    use super::*;

    fn watch() -> AlertWatch {
        AlertWatch {
            pool: sqlx::postgres::PgPoolOptions::new()
                .connect_lazy("postgres://postgres@127.0.0.1:1/unused")
                .unwrap(),
            setup: AlertSetup {
                managers: vec!["m1@hospital.example".into(), "m2@hospital.example".into()],
                ..AlertSetup::default()
            },
            timing: AlertTiming {
                remind_before: Span::WorkingHours(4),
                unassigned_after: Span::Minutes(60),
            },
            calendar: WorkingCalendar::default(),
            interval: Duration::from_secs(1),
            batch: DEFAULT_BATCH,
        }
    }

    /// Monday 23 November 2026 at `hour`, UTC (the default calendar).
    fn monday(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn reminders_and_alerts_are_due_by_the_timing_and_named_by_what_makes_them_one() {
        let watch = watch();
        let case = Uuid::from_u128(7);
        let awaiting = |supporter: &str| AwaitingContact {
            case_id: case,
            due: monday(16),
            supporter: supporter.into(),
            address: format!("{}@hospital.example", supporter.to_lowercase()),
        };
        let reminders = [awaiting("S1")];
        let waiting = [AwaitingSupporter {
            case_id: Uuid::from_u128(8),
            opened_at: monday(9),
            due: Some(monday(17)),
        }];

        assert!(watch.due(monday(9), &reminders, &waiting).is_empty());
        let rows = watch.due(monday(13), &reminders, &waiting);
        let kinds: Vec<_> = rows
            .iter()
            .map(|r| (r.kind, r.payload["to"].clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("first-contact-reminder", "s1@hospital.example".into()),
                ("unassigned-alert", "m1@hospital.example".into()),
                ("unassigned-alert", "m2@hospital.example".into()),
            ]
        );
        // A later sweep offers the same rows under the same ids: inserted once.
        let again = watch.due(monday(14), &reminders, &waiting);
        let ids = |rows: &[OutboxRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&rows), ids(&again));
        // Another supporter is reminded on their own.
        let reassigned = [awaiting("S2")];
        assert_ne!(watch.due(monday(13), &reassigned, &[])[0].id, rows[0].id);
        assert!(rows[0].payload["body"]
            .as_str()
            .unwrap()
            .contains("/my-cases/00000000-0000-0000-0000-000000000007"));
    }
}
