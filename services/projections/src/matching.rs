//! The matching read model: what choosing a peer supporter for a case reads. The roster (each
//! supporter's profile, pause and the cases they hold), each case's member facts and supporter,
//! the staff each report names (a supporter named in the member's report is not a stranger to
//! what happened), and members' stated preferences.
//!
//! It follows four aggregates and decodes only the events it uses; the rest are skipped on their
//! stored type. Updates of a case, a supporter or a report carry the aggregate's sequence and
//! change nothing if the row already holds that event or a later one, so applying an event twice
//! is a no-op; inserts are `ON CONFLICT` upserts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_events::care_team_member::MemberEvent;
use outreach_events::supporter::{SupporterContact, SupporterEvent, SupporterProfile};
use outreach_events::{CaseEvent, CaseOpened, ReportEvent, ReportMember, ReportRef};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Projection, ProjectionError, StoredEvent};

const CASE: &str = "OutreachCase";
const REPORT: &str = "SafetyReport";
const MEMBER: &str = "CareTeamMember";
const SUPPORTER: &str = "PeerSupporter";

pub struct MatchingProjection;

#[async_trait]
impl Projection for MatchingProjection {
    fn name(&self) -> &'static str {
        "matching"
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        for table in [
            "roster_supporters",
            "roster_caseload",
            "matching_cases",
            "matching_case_reports",
            "matching_report_staff",
            "matching_reports",
            "matching_preferences",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *db)
                .await?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let wanted = match event.aggregate_type.as_str() {
            CASE => matches!(
                event.event_type.as_str(),
                "CaseOpened"
                    | "SupporterAssigned"
                    | "CaseClosed"
                    | "CaseCancelled"
                    | "CaseReopened"
                    | "TriggerLinked"
            ),
            REPORT => matches!(
                event.event_type.as_str(),
                "ReportRecorded" | "StaffAdded" | "StaffRemoved"
            ),
            MEMBER => matches!(
                event.event_type.as_str(),
                "PreferencesStated" | "PersonalDataPurged"
            ),
            SUPPORTER => true,
            _ => false,
        };
        if !wanted {
            return Ok(());
        }
        let id = event.aggregate_uuid()?;
        match event.aggregate_type.as_str() {
            CASE => apply_case(db, event, id).await,
            REPORT => apply_report(db, event, id).await,
            MEMBER => apply_member(db, event).await,
            _ => apply_supporter(db, event, id).await,
        }
    }
}

/// The name an enum is stored under: its serde name, as in the event payload.
fn name<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
}

fn json<T: serde::Serialize>(
    event: &StoredEvent,
    value: &T,
) -> Result<serde_json::Value, ProjectionError> {
    serde_json::to_value(value).map_err(|_| event.unreadable("cannot be stored as JSON".into()))
}

async fn apply_case(
    db: &mut PgConnection,
    event: &StoredEvent,
    case: Uuid,
) -> Result<(), ProjectionError> {
    // $1 the case, $2 the version, $3 a staff id, $4 a time (unused ones bind NULL).
    let (set, staff, at): (&str, Option<String>, Option<DateTime<Utc>>) =
        match event.decode::<CaseEvent>()? {
            CaseEvent::CaseOpened(opened) => {
                return open_case(db, &opened, event.sequence).await;
            }
            CaseEvent::SupporterAssigned(e) => (
                "supporter_id = $3, assigned_at = $4,",
                Some(e.supporter_id),
                Some(e.assigned_at),
            ),
            // Merging closes the case too (reason `merged`); its report joins the other case.
            CaseEvent::CaseClosed(e) => ("ended_at = $4,", None, Some(e.closed_at)),
            CaseEvent::CaseCancelled(e) => ("ended_at = $4,", None, Some(e.cancelled_at)),
            // The supporter stays assigned: the case goes back to them.
            CaseEvent::CaseReopened(_) => ("ended_at = NULL,", None, None),
            CaseEvent::TriggerLinked(e) => {
                add_case_report(db, case, &e.report).await?;
                ("", None, None)
            }
            _ => return Err(event.unreadable("event type and payload disagree".into())),
        };
    sqlx::query(&format!(
        "UPDATE matching_cases SET {set} version = $2 WHERE case_id = $1 AND version < $2"
    ))
    .bind(case)
    .bind(event.sequence)
    .bind(staff)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

async fn open_case(
    db: &mut PgConnection,
    opened: &CaseOpened,
    version: i64,
) -> Result<(), ProjectionError> {
    let (facts, member) = (&opened.facts, &opened.facts.member);
    // A case opens once; applying its opening again leaves the row as later events made it.
    sqlx::query(
        "INSERT INTO matching_cases (
             case_id, member_staff_id, campus, department, discipline, seniority, role,
             involvement, first_contact_due, opened_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(facts.case_id)
    .bind(&member.staff_id)
    .bind(&facts.campus)
    .bind(&member.department)
    .bind(member.discipline.as_str())
    .bind(member.seniority.map(|s| s.as_str()))
    .bind(&member.role)
    .bind(member.involvement.as_str())
    .bind(facts.first_contact_due)
    .bind(facts.opened_at)
    .bind(version)
    .execute(&mut *db)
    .await?;
    add_case_report(db, facts.case_id, &facts.report).await
}

async fn add_case_report(
    db: &mut PgConnection,
    case: Uuid,
    report: &ReportRef,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO matching_case_reports (case_id, report_source, report_id)
         VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(case)
    .bind(&report.source)
    .bind(&report.report_id)
    .execute(db)
    .await?;
    Ok(())
}

async fn apply_report(
    db: &mut PgConnection,
    event: &StoredEvent,
    aggregate: Uuid,
) -> Result<(), ProjectionError> {
    let (report, added, removed) = match event.decode::<ReportEvent>()? {
        ReportEvent::ReportRecorded {
            report, members, ..
        } => {
            // Amendments name only the aggregate: remember which report it is.
            let recorded = sqlx::query(
                "INSERT INTO matching_reports (report_aggregate_id, report_source, report_id, version)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (report_aggregate_id) DO NOTHING",
            )
            .bind(aggregate)
            .bind(&report.source)
            .bind(&report.report_id)
            .bind(event.sequence)
            .execute(&mut *db)
            .await?
            .rows_affected();
            if recorded == 0 {
                return Ok(()); // recorded already: later amendments may have changed the staff
            }
            (report, members, Vec::new())
        }
        ReportEvent::StaffAdded { members, .. } => {
            let Some(report) = report_at(db, aggregate, event.sequence).await? else {
                return Ok(());
            };
            (report, members, Vec::new())
        }
        ReportEvent::StaffRemoved { staff_ids, .. } => {
            let Some(report) = report_at(db, aggregate, event.sequence).await? else {
                return Ok(());
            };
            (report, Vec::new(), staff_ids)
        }
        _ => return Err(event.unreadable("event type and payload disagree".into())),
    };
    // Everyone named, eligible for outreach or not: they were all there.
    let added: Vec<String> = added
        .into_iter()
        .map(|m: ReportMember| m.staff_id)
        .collect();
    if !added.is_empty() {
        sqlx::query(
            "INSERT INTO matching_report_staff (report_source, report_id, staff_id)
             SELECT $1, $2, unnest($3::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&report.source)
        .bind(&report.report_id)
        .bind(&added)
        .execute(&mut *db)
        .await?;
    }
    if !removed.is_empty() {
        sqlx::query(
            "DELETE FROM matching_report_staff
              WHERE report_source = $1 AND report_id = $2 AND staff_id = ANY($3)",
        )
        .bind(&report.source)
        .bind(&report.report_id)
        .bind(&removed)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// The report a SafetyReport aggregate is, moving its version to `sequence`; `None` if the
/// report is unknown or already holds this event (so applying an amendment twice is a no-op).
async fn report_at(
    db: &mut PgConnection,
    aggregate: Uuid,
    sequence: i64,
) -> Result<Option<ReportRef>, ProjectionError> {
    let found: Option<(String, String)> = sqlx::query_as(
        "UPDATE matching_reports SET version = $2
          WHERE report_aggregate_id = $1 AND version < $2
          RETURNING report_source, report_id",
    )
    .bind(aggregate)
    .bind(sequence)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|(source, report_id)| ReportRef { source, report_id }))
}

async fn apply_member(db: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let (staff_id, personal) = match event.decode::<MemberEvent>()? {
        MemberEvent::PreferencesStated {
            staff_id, personal, ..
        } => (staff_id, personal),
        MemberEvent::PersonalDataPurged { staff_id, .. } => (staff_id, None),
        _ => return Err(event.unreadable("event type and payload disagree".into())),
    };
    // Purged (or stated before a purge and rebuilt after it): no preferences are held.
    let Some(personal) = personal else {
        sqlx::query("DELETE FROM matching_preferences WHERE staff_id = $1")
            .bind(&staff_id)
            .execute(db)
            .await?;
        return Ok(());
    };
    // The whole set, as last stated: a preference left out is no longer held.
    sqlx::query(
        "INSERT INTO matching_preferences (staff_id, preferences) VALUES ($1, $2)
         ON CONFLICT (staff_id) DO UPDATE SET preferences = excluded.preferences",
    )
    .bind(&staff_id)
    .bind(json(event, &personal)?)
    .execute(db)
    .await?;
    Ok(())
}

async fn apply_supporter(
    db: &mut PgConnection,
    event: &StoredEvent,
    supporter: Uuid,
) -> Result<(), ProjectionError> {
    let (taken, case, at) = match event.decode::<SupporterEvent>()? {
        SupporterEvent::SupporterJoined {
            profile,
            personal,
            joined_at,
        } => {
            return write_profile(
                db,
                event,
                supporter,
                &profile,
                &personal,
                Some(joined_at),
                joined_at,
            )
            .await;
        }
        SupporterEvent::SupporterProfileChanged {
            profile,
            personal,
            changed_at,
        } => {
            return write_profile(db, event, supporter, &profile, &personal, None, changed_at)
                .await;
        }
        SupporterEvent::SupporterPaused { .. } => {
            return set_paused(db, event, supporter, true).await
        }
        SupporterEvent::SupporterResumed { .. } => {
            return set_paused(db, event, supporter, false).await;
        }
        SupporterEvent::CaseTaken { case_id, taken_at } => (true, case_id, taken_at),
        SupporterEvent::CaseReleased {
            case_id,
            released_at,
        } => (false, case_id, released_at),
    };
    // Moves the version first: a supporter the roster does not know, or an event already
    // applied, changes nothing.
    let moved = sqlx::query(
        "UPDATE roster_supporters SET version = $2 WHERE supporter_id = $1 AND version < $2",
    )
    .bind(supporter)
    .bind(event.sequence)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(());
    }
    if taken {
        // Taking a case held already keeps the first taking (and counts it once).
        sqlx::query(
            "INSERT INTO roster_caseload (supporter_id, case_id, taken_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(supporter)
        .bind(case)
        .bind(at)
        .execute(&mut *db)
        .await?;
    } else {
        sqlx::query("DELETE FROM roster_caseload WHERE supporter_id = $1 AND case_id = $2")
            .bind(supporter)
            .bind(case)
            .execute(&mut *db)
            .await?;
    }
    // Counted, not incremented: the count can never drift from the rows.
    sqlx::query(
        "UPDATE roster_supporters
            SET open_cases = (SELECT count(*) FROM roster_caseload WHERE supporter_id = $1)
          WHERE supporter_id = $1",
    )
    .bind(supporter)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes the roster entry as a whole: on joining (`joined_at`) or on a change, which keeps the
/// joining date, the pause and the caseload.
async fn write_profile(
    db: &mut PgConnection,
    event: &StoredEvent,
    supporter: Uuid,
    profile: &SupporterProfile,
    personal: &SupporterContact,
    joined_at: Option<DateTime<Utc>>,
    changed_at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let capacity = i32::try_from(profile.capacity).unwrap_or(i32::MAX);
    // A change of a supporter the roster does not know yet (no joining seen) enters them as
    // joined at that change, so the roster never lacks someone whose events it has.
    sqlx::query(
        "INSERT INTO roster_supporters (
             supporter_id, staff_id, campus, department, discipline, specialty, seniority,
             languages, interests, training_status, trained_on, capacity, availability,
             given_name, family_name, email, phone, gender, joined_at, changed_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                 $14, $15, $16, $17, $18, coalesce($19, $20), $20, $21)
         ON CONFLICT (supporter_id) DO UPDATE SET
             staff_id = excluded.staff_id, campus = excluded.campus,
             department = excluded.department, discipline = excluded.discipline,
             specialty = excluded.specialty, seniority = excluded.seniority,
             languages = excluded.languages, interests = excluded.interests,
             training_status = excluded.training_status, trained_on = excluded.trained_on,
             capacity = excluded.capacity, availability = excluded.availability,
             given_name = excluded.given_name, family_name = excluded.family_name,
             email = excluded.email, phone = excluded.phone, gender = excluded.gender,
             joined_at = coalesce($19, roster_supporters.joined_at),
             changed_at = excluded.changed_at, version = excluded.version
         WHERE roster_supporters.version < excluded.version",
    )
    .bind(supporter)
    .bind(&profile.staff_id)
    .bind(&profile.campus)
    .bind(&profile.department)
    .bind(profile.discipline.as_str())
    .bind(&profile.specialty)
    .bind(profile.seniority.as_str())
    .bind(&profile.languages)
    .bind(&profile.interests)
    .bind(profile.training.status.as_str())
    .bind(profile.training.completed_on)
    .bind(capacity)
    .bind(json(event, &profile.availability)?)
    .bind(&personal.given_name)
    .bind(&personal.family_name)
    .bind(&personal.email)
    .bind(&personal.phone)
    .bind(personal.gender.as_ref().and_then(name))
    .bind(joined_at)
    .bind(changed_at)
    .bind(event.sequence)
    .execute(db)
    .await?;
    Ok(())
}

async fn set_paused(
    db: &mut PgConnection,
    event: &StoredEvent,
    supporter: Uuid,
    paused: bool,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE roster_supporters SET paused = $3, version = $2
          WHERE supporter_id = $1 AND version < $2",
    )
    .bind(supporter)
    .bind(event.sequence)
    .bind(paused)
    .execute(db)
    .await?;
    Ok(())
}
