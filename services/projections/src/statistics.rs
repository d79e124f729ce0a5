//! The statistics read model: cumulative counts for the safety office, by month, campus and
//! discipline ("the only outgoing information from Peer Support is quarterly usage stats").
//!
//! It holds no identifier of a member, supporter or case: each event adds one to a count, or one
//! anonymous duration for a first contact. What it needs to know about the case an event belongs
//! to (the member's campus and discipline, when the case opened and when contact was due) it
//! reads from the case's `CaseOpened` in the event store, which is committed and never changes;
//! so it keeps no per-case state of its own. Each event is applied exactly once (the checkpoint
//! moves in the same transaction), which is what makes `+ 1` safe.
//!
//! A month is a month of the program's calendar (its time zone), and time to first contact is
//! counted in that calendar's working hours: the projection is built with the calendar, and a
//! rebuild after the calendar changed recounts everything under the new one.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use outreach_domain::deadline::WorkingCalendar;
use outreach_events::care_team_member::MemberEvent;
use outreach_events::lifecycle::{CloseReason, ContactOutcome};
use outreach_events::{CaseEvent, CaseOpened, ReportEvent};
use sqlx::PgConnection;

use crate::{code_name, Projection, ProjectionError, StoredEvent};

/// Where an event's count goes when the event does not say (an opted-out member's discipline).
pub const UNKNOWN: &str = "unknown";

pub struct StatisticsProjection {
    calendar: WorkingCalendar,
}

impl StatisticsProjection {
    pub fn new(calendar: WorkingCalendar) -> Self {
        Self { calendar }
    }

    /// The first day of the calendar month `at` falls in.
    fn month(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.calendar.time_zone).date_naive();
        local.with_day(1).expect("every month has a first day")
    }
}

/// The facts of a case that its statistics are broken down by.
struct CaseFacts {
    campus: String,
    discipline: String,
    opened_at: DateTime<Utc>,
    first_contact_due: Option<DateTime<Utc>>,
}

#[async_trait]
impl Projection for StatisticsProjection {
    fn name(&self) -> &'static str {
        "statistics"
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM statistics_counts")
            .execute(&mut *db)
            .await?;
        sqlx::query("DELETE FROM statistics_first_contact")
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        match (event.aggregate_type.as_str(), event.event_type.as_str()) {
            ("OutreachCase", "CaseOpened") => {
                let CaseEvent::CaseOpened(opened) = event.decode()? else {
                    return Err(event.unreadable("event type and payload disagree".into()));
                };
                let facts = &opened.facts;
                let measure = format!("opened:{}", facts.trigger.as_str());
                let month = self.month(facts.opened_at);
                count(
                    db,
                    month,
                    &measure,
                    &facts.campus,
                    facts.member.discipline.as_str(),
                )
                .await
            }
            (
                "OutreachCase",
                "ContactAttempted"
                | "SupportAccepted"
                | "SupportDeclined"
                | "CaseClosed"
                | "EncounterRecorded"
                | "ReferredToProfessionalHelp"
                | "EscalationRecorded",
            ) => self.apply_to_case(db, event).await,
            ("CareTeamMember", "AutomaticOutreachSkipped") => {
                let MemberEvent::AutomaticOutreachSkipped {
                    report, skipped_at, ..
                } = event.decode()?
                else {
                    return Err(event.unreadable("event type and payload disagree".into()));
                };
                let campus = report_campus(db, &report).await?;
                let month = self.month(skipped_at);
                count(
                    db,
                    month,
                    "opted_out",
                    campus.as_deref().unwrap_or(UNKNOWN),
                    UNKNOWN,
                )
                .await
            }
            _ => Ok(()),
        }
    }
}

impl StatisticsProjection {
    async fn apply_to_case(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let case = case_facts(db, event).await?;
        let (campus, discipline) = (case.campus.as_str(), case.discipline.as_str());
        match event.decode::<CaseEvent>()? {
            CaseEvent::ContactAttempted(attempt) => {
                let at = attempt.attempted_at;
                if is_first(db, event, false).await? {
                    let working = self.calendar.working_seconds_between(case.opened_at, at);
                    let within = case.first_contact_due.is_none_or(|due| at <= due);
                    sqlx::query(
                        "INSERT INTO statistics_first_contact
                             (month, campus, discipline, working_seconds, within_deadline)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(self.month(at))
                    .bind(campus)
                    .bind(discipline)
                    .bind(working.max(0))
                    .bind(within)
                    .execute(&mut *db)
                    .await?;
                }
                if attempt.outcome == ContactOutcome::Reached && is_first(db, event, true).await? {
                    count(db, self.month(at), "reached", campus, discipline).await?;
                }
                Ok(())
            }
            CaseEvent::SupportAccepted(e) => {
                count(
                    db,
                    self.month(e.accepted_at),
                    "accepted",
                    campus,
                    discipline,
                )
                .await
            }
            CaseEvent::SupportDeclined(e) => {
                count(
                    db,
                    self.month(e.declined_at),
                    "declined",
                    campus,
                    discipline,
                )
                .await
            }
            CaseEvent::CaseClosed(e) if e.reason == CloseReason::Unreachable => {
                count(
                    db,
                    self.month(e.closed_at),
                    "unreachable",
                    campus,
                    discipline,
                )
                .await
            }
            CaseEvent::CaseClosed(_) => Ok(()),
            CaseEvent::EncounterRecorded(e) => {
                let month = e.held_on.with_day(1).expect("every month has a first day");
                let measure = format!("encounters:{}", code_name(&e.format));
                count(db, month, &measure, campus, discipline).await
            }
            CaseEvent::ReferredToProfessionalHelp(e) => {
                count(
                    db,
                    self.month(e.referred_at),
                    "tier3_referrals",
                    campus,
                    discipline,
                )
                .await
            }
            CaseEvent::EscalationRecorded(e) => {
                let measure = format!("escalations:{}", code_name(&e.category));
                count(db, self.month(e.recorded_at), &measure, campus, discipline).await
            }
            _ => Err(event.unreadable("event type and payload disagree".into())),
        }
    }
}

/// Adds one to a count.
async fn count(
    db: &mut PgConnection,
    month: NaiveDate,
    measure: &str,
    campus: &str,
    discipline: &str,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO statistics_counts (month, measure, campus, discipline, count)
         VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (month, measure, campus, discipline)
         DO UPDATE SET count = statistics_counts.count + 1",
    )
    .bind(month)
    .bind(measure)
    .bind(campus)
    .bind(discipline)
    .execute(db)
    .await?;
    Ok(())
}

/// The facts of the case `event` belongs to, from the case's opening in the event store.
async fn case_facts(
    db: &mut PgConnection,
    event: &StoredEvent,
) -> Result<CaseFacts, ProjectionError> {
    let mut payload: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM events
          WHERE aggregate_type = 'OutreachCase' AND aggregate_id = $1
            AND event_type = 'CaseOpened'",
    )
    .bind(&event.aggregate_id)
    .fetch_optional(&mut *db)
    .await?;
    // Statistics never need personal data: the sealed part is set aside, not opened.
    if let Some(opened) = payload.as_mut().and_then(|p| p.get_mut("CaseOpened")) {
        opened["personal"] = serde_json::Value::Null;
    }
    let Some(Ok(CaseEvent::CaseOpened(CaseOpened { facts, .. }))) =
        payload.map(serde_json::from_value::<CaseEvent>)
    else {
        return Err(event.unreadable("the case has no readable opening".into()));
    };
    Ok(CaseFacts {
        campus: facts.campus,
        discipline: facts.member.discipline.as_str().to_owned(),
        opened_at: facts.opened_at,
        first_contact_due: facts.first_contact_due,
    })
}

/// Whether `event` is its case's first contact attempt (or, with `reached`, the first that
/// reached the member).
async fn is_first(
    db: &mut PgConnection,
    event: &StoredEvent,
    reached: bool,
) -> Result<bool, ProjectionError> {
    let earlier: bool = sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM events
              WHERE aggregate_type = 'OutreachCase' AND aggregate_id = $1
                AND event_type = 'ContactAttempted' AND sequence < $2
                AND (NOT $3 OR payload -> 'ContactAttempted' ->> 'outcome' = 'reached'))",
    )
    .bind(&event.aggregate_id)
    .bind(event.sequence)
    .bind(reached)
    .fetch_one(&mut *db)
    .await?;
    Ok(!earlier)
}

/// The campus of a report, from its recording in the event store.
async fn report_campus(
    db: &mut PgConnection,
    report: &outreach_events::ReportRef,
) -> Result<Option<String>, ProjectionError> {
    let id = outreach_domain::ids::report_id(report).to_string();
    let payload: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM events
          WHERE aggregate_type = 'SafetyReport' AND aggregate_id = $1
            AND event_type = 'ReportRecorded'",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?;
    Ok(match payload.map(serde_json::from_value::<ReportEvent>) {
        Some(Ok(ReportEvent::ReportRecorded { campus, .. })) => Some(campus),
        _ => None,
    })
}
