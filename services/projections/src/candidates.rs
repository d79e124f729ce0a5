//! Reads what matching needs for one case from the matching read model: the case's facts, the
//! staff of its reports, the member's preferences and the roster. The ranking itself is the
//! domain's pure [`rank`](outreach_domain::matching::rank); the API and automatic assignment
//! both come through here, so they always agree.
//!
//! Nothing is recomputed from the event store: every row was kept up to date incrementally by
//! the matching projection, and one case against a roster of hundreds is a few small queries.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use outreach_domain::matching::{rank, CaseToMatch, Ranking, RosterEntry};
use outreach_domain::CasePolicies;
use outreach_events::care_team_member::{Gender, Preferences};
use outreach_events::supporter::{Availability, SupporterProfile, Training};
use outreach_events::{Discipline, Involvement, MemberProfile, Seniority};
use serde::de::DeserializeOwned;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ProjectionError;

/// A case as matching sees it, and whether it still runs.
#[derive(Debug, Clone)]
pub struct MatchingCase {
    pub case: CaseToMatch,
    /// The supporter assigned now, if any.
    pub supporter_id: Option<String>,
    pub ended: bool,
}

#[derive(sqlx::FromRow)]
struct CaseRow {
    member_staff_id: String,
    campus: String,
    department: String,
    discipline: String,
    seniority: Option<String>,
    role: String,
    involvement: String,
    first_contact_due: Option<DateTime<Utc>>,
    supporter_id: Option<String>,
    ended_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SupporterRow {
    staff_id: String,
    campus: String,
    department: String,
    discipline: String,
    specialty: Option<String>,
    seniority: String,
    languages: Vec<String>,
    interests: Vec<String>,
    training_status: String,
    trained_on: Option<chrono::NaiveDate>,
    capacity: i32,
    availability: serde_json::Value,
    paused: bool,
    open_cases: i32,
    gender: Option<String>,
}

/// A code the projection stored, read back as the domain's type.
fn code<T: DeserializeOwned>(value: &str, what: &str) -> Result<T, ProjectionError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).map_err(|_| {
        ProjectionError::UnreadableEvent {
            event: format!("matching read model ({what})"),
            reason: "a stored code is not one the domain knows".into(),
        }
    })
}

/// The case, or `None` when the read model has no such case (yet).
pub async fn matching_case(
    db: &mut PgConnection,
    case_id: Uuid,
) -> Result<Option<MatchingCase>, ProjectionError> {
    let Some(row) = sqlx::query_as::<_, CaseRow>(
        "SELECT member_staff_id, campus, department, discipline, seniority, role, involvement,
                first_contact_due, supporter_id, ended_at
           FROM matching_cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *db)
    .await?
    else {
        return Ok(None);
    };
    let named_in_reports: BTreeSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT s.staff_id
           FROM matching_case_reports r
           JOIN matching_report_staff s USING (report_source, report_id)
          WHERE r.case_id = $1",
    )
    .bind(case_id)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .collect();
    let preferences: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT preferences FROM matching_preferences WHERE staff_id = $1")
            .bind(&row.member_staff_id)
            .fetch_optional(&mut *db)
            .await?;
    let preferences: Preferences = match preferences {
        Some(value) => {
            serde_json::from_value(value).map_err(|_| ProjectionError::UnreadableEvent {
                event: "matching read model (preferences)".into(),
                reason: "stored preferences do not read as the domain's".into(),
            })?
        }
        None => Preferences::default(),
    };
    Ok(Some(MatchingCase {
        case: CaseToMatch {
            member: MemberProfile {
                staff_id: row.member_staff_id,
                role: row.role,
                discipline: code::<Discipline>(&row.discipline, "discipline")?,
                department: row.department,
                seniority: row
                    .seniority
                    .as_deref()
                    .map(|s| code::<Seniority>(s, "seniority"))
                    .transpose()?,
                involvement: code::<Involvement>(&row.involvement, "involvement")?,
            },
            campus: row.campus,
            preferences,
            named_in_reports,
            first_contact_due: row.first_contact_due,
        },
        supporter_id: row.supporter_id,
        ended: row.ended_at.is_some(),
    }))
}

/// Every supporter on the roster, as matching reads them.
pub async fn roster(db: &mut PgConnection) -> Result<Vec<RosterEntry>, ProjectionError> {
    let rows = sqlx::query_as::<_, SupporterRow>(
        "SELECT staff_id, campus, department, discipline, specialty, seniority, languages,
                interests, training_status, trained_on, capacity, availability, paused,
                open_cases, gender
           FROM roster_supporters",
    )
    .fetch_all(&mut *db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let availability: Availability =
                serde_json::from_value(row.availability).map_err(|_| {
                    ProjectionError::UnreadableEvent {
                        event: "matching read model (availability)".into(),
                        reason: "stored availability does not read as the domain's".into(),
                    }
                })?;
            Ok(RosterEntry {
                profile: SupporterProfile {
                    staff_id: row.staff_id,
                    campus: row.campus,
                    department: row.department,
                    discipline: code(&row.discipline, "discipline")?,
                    specialty: row.specialty,
                    seniority: code(&row.seniority, "seniority")?,
                    languages: row.languages,
                    interests: row.interests,
                    training: Training {
                        status: code(&row.training_status, "training status")?,
                        completed_on: row.trained_on,
                    },
                    capacity: u32::try_from(row.capacity).unwrap_or(0),
                    availability,
                },
                gender: row
                    .gender
                    .as_deref()
                    .map(|g| code::<Gender>(g, "gender"))
                    .transpose()?,
                paused: row.paused,
                open_cases: u32::try_from(row.open_cases).unwrap_or(0),
            })
        })
        .collect()
}

/// The ranked candidates for a case at `now`, under the program's policies; `None` when the
/// read model has no such case.
pub async fn candidates(
    db: &mut PgConnection,
    case_id: Uuid,
    policies: &CasePolicies,
    now: DateTime<Utc>,
) -> Result<Option<(MatchingCase, Ranking)>, ProjectionError> {
    let Some(case) = matching_case(db, case_id).await? else {
        return Ok(None);
    };
    let roster = roster(db).await?;
    let ranking = rank(
        &case.case,
        &roster,
        &policies.matching.weights,
        now,
        policies.deadlines.calendar.time_zone,
    );
    Ok(Some((case, ranking)))
}
