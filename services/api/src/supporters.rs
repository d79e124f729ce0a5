//! The roster of peer supporters, kept by program managers: who they are, where and how they
//! work, their training, capacity and availability; pausing and resuming them.
//!
//! Changes go through the command side to the supporter's aggregate; reads come from the
//! matching read model (`roster_supporters`), which follows shortly after. Bodies are closed
//! (`deny_unknown_fields`), and each value is checked twice: its shape as it is read (a 400 that
//! names the field), then the program's rules (a 422 with the field in `field`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use outreach_command_side::CommandError;
use outreach_domain::supporter::{self, SupporterError};
use outreach_domain::SupporterCommand;
use outreach_events::care_team_member::Gender;
use outreach_events::supporter::{self as roster, Day, TrainingStatus};
use outreach_events::{Discipline, Seniority};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Allowed, RunTheProgram};
use crate::attribution::By;
use crate::case_commands::StaffId;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Path, Query};
use crate::members::{
    problems, staff_id_in_path, Email, Phone, ShortText, INTERNAL, PAYLOAD_TOO_LARGE, UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
};
use crate::values::TimeOfDay;
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(add_supporter, list_supporters))
        .routes(routes!(get_supporter, change_supporter))
        .routes(routes!(pause_supporter))
        .routes(routes!(resume_supporter))
}

// ---------------------------------------------------------------------------------------------
// Request bodies.

/// A supporter's roster entry, whole: adding one and changing one send the same body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// The supporter's staff id; they are hospital staff too.
    pub staff_id: StaffId,
    pub given_name: ShortText,
    pub family_name: ShortText,
    /// Where assignment notices are e-mailed.
    pub email: Email,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub phone: Option<Phone>,
    /// Only as the supporter describes themselves, and only if they wish.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub gender: Option<Gender>,
    /// One of the program's campuses (configuration: `policy.roster.campuses`).
    pub campus: ShortText,
    pub department: ShortText,
    pub discipline: Discipline,
    /// Area of practice.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub specialty: Option<ShortText>,
    pub seniority: Seniority,
    /// Languages a conversation can be held in, at most 20.
    #[serde(default)]
    #[schema(max_items = 20, example = json!(["en", "es"]))]
    pub languages: Vec<ShortText>,
    /// Topics the supporter offers to talk about, at most 20.
    #[serde(default)]
    #[schema(max_items = 20, example = json!(["litigation stress"]))]
    pub interests: Vec<ShortText>,
    pub training: Training,
    /// The most cases the supporter holds at once, 0 to 20.
    #[serde(deserialize_with = "crate::extract::whole")]
    #[schema(minimum = 0, maximum = 20, example = 3)]
    pub capacity: i64,
    #[serde(default)]
    pub availability: Availability,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub status: TrainingStatus,
    /// Required once trained; not in the future.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub completed_on: Option<NaiveDate>,
}

/// When the supporter takes peer support calls, in the program's time zone.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// No hours: any time. At most two spans a day.
    #[serde(default, deserialize_with = "crate::extract::at_most::<_, _, 14>")]
    #[schema(max_items = 14)]
    pub weekly_hours: Vec<WeeklyHours>,
    /// The on-call weeks; none: every week.
    #[serde(default, deserialize_with = "crate::extract::at_most::<_, _, 52>")]
    #[schema(max_items = 52)]
    pub on_call: Vec<DatePeriod>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    pub day: Day,
    pub starts: TimeOfDay,
    pub ends: TimeOfDay,
}

/// Dates inclusive.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatePeriod {
    pub starts: NaiveDate,
    pub ends: NaiveDate,
}

impl From<Availability> for roster::Availability {
    fn from(value: Availability) -> Self {
        Self {
            weekly_hours: value
                .weekly_hours
                .into_iter()
                .map(|h| roster::WeeklyHours {
                    day: h.day,
                    starts: h.starts.0,
                    ends: h.ends.0,
                })
                .collect(),
            on_call: value
                .on_call
                .into_iter()
                .map(|p| roster::DatePeriod {
                    starts: p.starts,
                    ends: p.ends,
                })
                .collect(),
        }
    }
}

impl RosterEntry {
    /// The domain's entry, or the first field the program's rules refuse.
    pub(crate) fn into_entry(
        self,
        state: &ApiState,
        today: NaiveDate,
    ) -> Result<(roster::SupporterProfile, roster::SupporterContact), ApiError> {
        let capacity = u32::try_from(self.capacity).map_err(|_| ApiError::InvalidField {
            rule: "invalid-roster-entry",
            field: "capacity".into(),
            problem: format!("must be from 0 to {}", supporter::MAX_CAPACITY),
        })?;
        let texts = |values: Vec<ShortText>| values.into_iter().map(|v| v.0).collect();
        let profile = roster::SupporterProfile {
            staff_id: self.staff_id.0,
            campus: self.campus.0,
            department: self.department.0,
            discipline: self.discipline,
            specialty: self.specialty.map(|s| s.0),
            seniority: self.seniority,
            languages: texts(self.languages),
            interests: texts(self.interests),
            training: roster::Training {
                status: self.training.status,
                completed_on: self.training.completed_on,
            },
            capacity,
            availability: self.availability.into(),
        };
        let contact = roster::SupporterContact {
            given_name: self.given_name.0,
            family_name: self.family_name.0,
            email: self.email.0,
            phone: self.phone.map(|p| p.0),
            gender: self.gender,
        };
        supporter::validate(&profile, &contact, &state.commands.policies().roster, today)
            .map_err(refusal)?;
        Ok((profile, contact))
    }
}

/// A roster rule's refusal as the API reports it: a wrong value names its field.
fn refusal(error: SupporterError) -> ApiError {
    match error {
        SupporterError::Invalid { field, problem } => ApiError::InvalidField {
            rule: "invalid-roster-entry",
            field,
            problem,
        },
        other => ApiError::Refused {
            rule: other.rule(),
            detail: other.to_string(),
        },
    }
}

/// The command side's answer about a supporter named in the path.
fn on_roster(error: CommandError) -> ApiError {
    match error {
        CommandError::Refused {
            rule: "supporter-not-found",
            ..
        } => ApiError::SupporterNotFound,
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses.

/// The supporter's roster entry after a command: its new version.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupporterVersion {
    pub staff_id: String,
    #[schema(example = 1)]
    pub version: u64,
}

pub(crate) struct Created(SupporterVersion);

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        let location = HeaderValue::from_str(&format!("/v1/supporters/{}", self.0.staff_id))
            .expect("a checked staff id is a valid header value");
        (
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            Json(self.0),
        )
            .into_response()
    }
}

/// A supporter on the roster, as the matching read model holds them.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Supporter {
    pub staff_id: String,
    #[schema(required = true)]
    pub given_name: Option<String>,
    #[schema(required = true)]
    pub family_name: Option<String>,
    #[schema(required = true)]
    pub email: Option<String>,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(value_type = Option<Gender>, required = true)]
    pub gender: Option<String>,
    pub campus: String,
    pub department: String,
    #[schema(value_type = Discipline)]
    pub discipline: String,
    #[schema(required = true)]
    pub specialty: Option<String>,
    #[schema(value_type = Seniority)]
    pub seniority: String,
    pub languages: Vec<String>,
    pub interests: Vec<String>,
    #[schema(value_type = TrainingStatus)]
    pub training_status: String,
    #[schema(required = true)]
    pub trained_on: Option<NaiveDate>,
    pub capacity: i32,
    /// Cases the supporter holds now.
    pub open_cases: i32,
    pub paused: bool,
    #[schema(value_type = Availability)]
    pub availability: serde_json::Value,
    pub joined_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    pub version: i64,
}

const SUPPORTER_COLUMNS: &str = "staff_id, given_name, family_name, email, phone, gender, campus,
    department, discipline, specialty, seniority, languages, interests, training_status,
    trained_on, capacity, open_cases, paused, availability, joined_at, changed_at, version";

#[derive(Debug, Serialize, ToSchema)]
pub struct Roster {
    pub supporters: Vec<Supporter>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RosterFilter {
    /// Only supporters of this campus.
    #[serde(default)]
    pub campus: Option<crate::values::ShortText>,
    /// Only paused (`true`) or active (`false`) supporters.
    #[serde(default)]
    pub paused: Option<bool>,
}

/// 400, 409, 413, 415, 500 and 503 of a roster command, as problem documents.
pub(crate) struct RosterProblems;

impl IntoResponses for RosterProblems {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        problems(&[
            ("400", "`invalid-body`: the body is not JSON, has an unknown field, misses one or has a value of the wrong shape, such as an unknown discipline (the detail names the field); `invalid-parameter`: the staff id is malformed"),
            ("409", "`stale-version`: other commands on the supporter kept winning a race; retry"),
            PAYLOAD_TOO_LARGE,
            UNSUPPORTED_MEDIA_TYPE,
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoints.

/// Put a supporter on the roster.
#[utoipa::path(
    post,
    path = "/v1/supporters",
    tag = "roster",
    request_body = RosterEntry,
    responses(
        (status = 201, description = "On the roster", body = SupporterVersion,
            headers(("Location" = String, description = "The supporter, `/v1/supporters/{staff_id}`"))),
        (status = 422, description = "`invalid-roster-entry` (an unknown campus, a capacity out of range, hours or weeks that end before they start, a training date missing or in the future; `field` names the value), or `supporter-already-on-roster`", body = Problem, content_type = "application/problem+json"),
        RosterProblems,
    )
)]
pub(crate) async fn add_supporter(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    JsonBody(body): JsonBody<RosterEntry>,
) -> Result<Created, ApiError> {
    add(&state, By::api(&caller), body).await.map(Created)
}

/// Puts a supporter on the roster, if the entry keeps the program's rules.
pub(crate) async fn add(
    state: &ApiState,
    by: By<'_>,
    body: RosterEntry,
) -> Result<SupporterVersion, ApiError> {
    let now = Utc::now();
    let (profile, contact) = body.into_entry(state, now.date_naive())?;
    let staff_id = profile.staff_id.clone();
    let command = SupporterCommand::Join {
        profile,
        contact,
        at: now,
    };
    let version = state
        .commands
        .act_on_supporter(&staff_id, command, &by.metadata())
        .await?;
    Ok(SupporterVersion { staff_id, version })
}

/// Replace a supporter's roster entry with the one sent.
#[utoipa::path(
    put,
    path = "/v1/supporters/{staff_id}",
    tag = "roster",
    params(("staff_id" = String, Path, description = "The supporter's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "S20001")),
    request_body = RosterEntry,
    responses(
        (status = 200, description = "Changed", body = SupporterVersion),
        (status = 404, description = "`supporter-not-found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-roster-entry` (`field` names the value; `staff_id` when it differs from the path)", body = Problem, content_type = "application/problem+json"),
        RosterProblems,
    )
)]
pub(crate) async fn change_supporter(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(staff_id): Path<String>,
    JsonBody(body): JsonBody<RosterEntry>,
) -> Result<Json<SupporterVersion>, ApiError> {
    change(&state, By::api(&caller), staff_id, body)
        .await
        .map(Json)
}

/// Replaces a supporter's roster entry, which keeps its staff id.
pub(crate) async fn change(
    state: &ApiState,
    by: By<'_>,
    staff_id: String,
    body: RosterEntry,
) -> Result<SupporterVersion, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    let now = Utc::now();
    let (profile, contact) = body.into_entry(state, now.date_naive())?;
    if profile.staff_id != staff_id {
        return Err(ApiError::InvalidField {
            rule: "invalid-roster-entry",
            field: "staff_id".into(),
            problem: "must be the staff id in the path: a roster entry keeps its staff id".into(),
        });
    }
    let command = SupporterCommand::ChangeProfile {
        profile,
        contact,
        at: now,
    };
    let version = state
        .commands
        .act_on_supporter(&staff_id, command, &by.metadata())
        .await
        .map_err(on_roster)?;
    Ok(SupporterVersion { staff_id, version })
}

/// Pause a supporter: no new cases until resumed; the cases they hold stay theirs.
#[utoipa::path(
    post,
    path = "/v1/supporters/{staff_id}/pause",
    tag = "roster",
    params(("staff_id" = String, Path, description = "The supporter's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "S20001")),
    responses(
        (status = 200, description = "Paused (or already paused)", body = SupporterVersion),
        (status = 404, description = "`supporter-not-found`", body = Problem, content_type = "application/problem+json"),
        RosterProblems,
    )
)]
pub(crate) async fn pause_supporter(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(staff_id): Path<String>,
) -> Result<Json<SupporterVersion>, ApiError> {
    let at = Utc::now();
    on_or_off(
        &state,
        By::api(&caller),
        staff_id,
        SupporterCommand::Pause { at },
    )
    .await
    .map(Json)
}

/// Resume a paused supporter.
#[utoipa::path(
    post,
    path = "/v1/supporters/{staff_id}/resume",
    tag = "roster",
    params(("staff_id" = String, Path, description = "The supporter's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "S20001")),
    responses(
        (status = 200, description = "Active (or already active)", body = SupporterVersion),
        (status = 404, description = "`supporter-not-found`", body = Problem, content_type = "application/problem+json"),
        RosterProblems,
    )
)]
pub(crate) async fn resume_supporter(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(staff_id): Path<String>,
) -> Result<Json<SupporterVersion>, ApiError> {
    let at = Utc::now();
    on_or_off(
        &state,
        By::api(&caller),
        staff_id,
        SupporterCommand::Resume { at },
    )
    .await
    .map(Json)
}

/// Pauses or resumes a supporter.
pub(crate) async fn on_or_off(
    state: &ApiState,
    by: By<'_>,
    staff_id: String,
    command: SupporterCommand,
) -> Result<SupporterVersion, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    let version = state
        .commands
        .act_on_supporter(&staff_id, command, &by.metadata())
        .await
        .map_err(on_roster)?;
    Ok(SupporterVersion { staff_id, version })
}

/// The roster, by family name.
#[utoipa::path(
    get,
    path = "/v1/supporters",
    tag = "roster",
    params(RosterFilter),
    responses(
        (status = 200, description = "The roster as the matching read model holds it", body = Roster),
        (status = 400, description = "`invalid-parameter`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_supporters(
    State(state): State<ApiState>,
    _: Allowed<RunTheProgram>,
    Query(filter): Query<RosterFilter>,
) -> Result<Json<Roster>, ApiError> {
    Ok(Json(Roster {
        supporters: roster(&state.pool, &filter).await?,
    }))
}

/// The roster as the matching read model holds it, by family name.
pub(crate) async fn roster(
    pool: &sqlx::PgPool,
    filter: &RosterFilter,
) -> Result<Vec<Supporter>, ApiError> {
    Ok(sqlx::query_as::<_, Supporter>(&format!(
        "SELECT {SUPPORTER_COLUMNS} FROM roster_supporters
         WHERE ($1::text IS NULL OR campus = $1)
           AND ($2::boolean IS NULL OR paused = $2)
         ORDER BY family_name, given_name, staff_id"
    ))
    .bind(filter.campus.as_ref().map(|c| c.0.as_str()))
    .bind(filter.paused)
    .fetch_all(pool)
    .await?)
}

/// One supporter's roster entry, with the cases they hold.
#[utoipa::path(
    get,
    path = "/v1/supporters/{staff_id}",
    tag = "roster",
    params(("staff_id" = String, Path, description = "The supporter's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "S20001")),
    responses(
        (status = 200, description = "The supporter", body = Supporter),
        (status = 404, description = "`supporter-not-found`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`invalid-parameter`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_supporter(
    State(state): State<ApiState>,
    _: Allowed<RunTheProgram>,
    Path(staff_id): Path<String>,
) -> Result<Json<Supporter>, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    roster_entry(&state.pool, &staff_id)
        .await?
        .map(Json)
        .ok_or(ApiError::SupporterNotFound)
}

/// One supporter as the matching read model holds them.
pub(crate) async fn roster_entry(
    pool: &sqlx::PgPool,
    staff_id: &str,
) -> Result<Option<Supporter>, ApiError> {
    Ok(sqlx::query_as::<_, Supporter>(&format!(
        "SELECT {SUPPORTER_COLUMNS} FROM roster_supporters WHERE staff_id = $1"
    ))
    .bind(staff_id)
    .fetch_optional(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case_commands::tests::reads_the_same;

    #[test]
    fn the_api_codes_are_the_domain_codes() {
        reads_the_same(&TrainingStatus::ALL, TrainingStatus::as_str);
        reads_the_same(&Day::ALL, Day::as_str);
    }
}
