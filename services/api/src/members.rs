//! What care team members ask of the program (a referral is in [`crate::referrals`]): their
//! preferences about contact and supporter, opting out of automatic outreach and back in, and
//! reading their own record; and the values and codes members' bodies share.
//!
//! Like the case commands, every command goes through the command side to the event store, and
//! bodies are closed (`deny_unknown_fields`): a referral carries who to reach and how, never why
//! (there is no field for what happened), and preferences are codes and a specialty's name.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use outreach_domain::MemberCommand;
use outreach_events::care_team_member::{self, DepartmentPreference, SeniorityPreference};
use outreach_events::Channel;
use serde::{Deserialize, Serialize};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{ActAsMember, Allowed};
use crate::access_audit::{self, Read};
use crate::attribution::By;
use crate::case_commands::{NoFields, StaffId};
use crate::error::{ApiError, Problem, PROBLEM_CONTENT_TYPE};
use crate::extract::{JsonBody, NoBody, Path};
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_member))
        .routes(routes!(state_preferences))
        .routes(routes!(opt_out))
        .routes(routes!(opt_in))
}

/// The `staff_id` path parameter, checked with the rules of staff ids in bodies.
pub(crate) fn staff_id_in_path(staff_id: String) -> Result<String, ApiError> {
    match StaffId::try_from(staff_id.clone()) {
        Ok(_) => Ok(staff_id),
        // The value is not repeated back: the client has it.
        Err(reason) => Err(ApiError::InvalidPath {
            name: "staff_id".to_owned(),
            reason: reason.to_owned(),
        }),
    }
}

pub(crate) use crate::values::{Email, MemberStaffId, Phone, ShortText};

// ---------------------------------------------------------------------------------------------
// Request and response bodies. Closed: an unknown field is a 400.

/// The member's preferences, replacing any stated before: a field left out is no preference.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatePreferences {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub channel: Option<Channel>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub supporter_gender: Option<care_team_member::Gender>,
    /// The name of a specialty, at most 100 characters; longer is refused (422
    /// `specialty-too-long`).
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, max_length = 100, example = "Emergency medicine")]
    pub supporter_specialty: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub supporter_department: Option<DepartmentPreference>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub supporter_seniority: Option<SeniorityPreference>,
    /// A language the member would rather talk in, as on the roster (e.g. `es`).
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub supporter_language: Option<ShortText>,
}

impl From<StatePreferences> for care_team_member::Preferences {
    fn from(value: StatePreferences) -> Self {
        Self {
            channel: value.channel,
            supporter_gender: value.supporter_gender,
            supporter_specialty: value.supporter_specialty,
            supporter_department: value.supporter_department,
            supporter_seniority: value.supporter_seniority,
            supporter_language: value.supporter_language.map(|l| l.0),
        }
    }
}

/// The member's record after a command: its new version.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberVersion {
    pub staff_id: String,
    #[schema(example = 2)]
    pub version: u64,
}

/// A care team member's own record: whether they opted out of automatic outreach, the case
/// later triggers join, and their preferences.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRecord {
    pub staff_id: String,
    /// Opted out of automatic outreach after reported events; referrals still open cases.
    pub opted_out: bool,
    /// The member's open case, which later triggers join; null when none. It may lag a case
    /// that has just ended.
    #[schema(required = true)]
    pub open_case_id: Option<Uuid>,
    pub preferences: MemberPreferences,
    #[schema(example = 2)]
    pub version: u64,
}

/// Null where the member stated no preference. The domain's codes are served as they are: they
/// read the same as the API's (see the tests).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPreferences {
    #[schema(required = true)]
    pub channel: Option<Channel>,
    #[schema(required = true)]
    pub supporter_gender: Option<care_team_member::Gender>,
    #[schema(required = true)]
    pub supporter_specialty: Option<String>,
    #[schema(required = true)]
    pub supporter_department: Option<DepartmentPreference>,
    #[schema(required = true)]
    pub supporter_seniority: Option<SeniorityPreference>,
    #[schema(required = true)]
    pub supporter_language: Option<String>,
}

impl From<&care_team_member::Preferences> for MemberPreferences {
    fn from(value: &care_team_member::Preferences) -> Self {
        Self {
            channel: value.channel,
            supporter_gender: value.supporter_gender,
            supporter_specialty: value.supporter_specialty.clone(),
            supporter_department: value.supporter_department,
            supporter_seniority: value.supporter_seniority,
            supporter_language: value.supporter_language.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The problems these endpoints can answer with; each endpoint adds its own 404 or 422.

pub(crate) fn problems(
    list: &[(&str, &str)],
) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    list.iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            ((*status).to_owned(), response.into())
        })
        .collect()
}

pub(crate) const PAYLOAD_TOO_LARGE: (&str, &str) = (
    "413",
    "`payload-too-large`: the body is larger than this API accepts",
);
pub(crate) const UNSUPPORTED_MEDIA_TYPE: (&str, &str) = (
    "415",
    "`unsupported-media-type`: a body was sent without `Content-Type: application/json`",
);
pub(crate) const INTERNAL: (&str, &str) = ("500", "`internal`: the server failed");
pub(crate) const UNAVAILABLE: (&str, &str) = (
    "503",
    "`unavailable`: the event store could not take the command; retry later",
);

/// 400, 409, 413, 415, 500 and 503 of a command on a member's record, as problem documents.
pub(crate) struct MemberCommandProblems;

impl IntoResponses for MemberCommandProblems {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        problems(&[
            ("400", "`invalid-body`: the body is not JSON, has an unknown field or a value out of range (the detail names the field); `invalid-parameter`: the staff id is malformed"),
            ("409", "`stale-version`: other commands on the member's record kept winning a race; retry"),
            PAYLOAD_TOO_LARGE,
            UNSUPPORTED_MEDIA_TYPE,
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoints.

/// State the member's preferences about contact and supporter, replacing earlier ones.
#[utoipa::path(
    put,
    path = "/v1/members/{staff_id}/preferences",
    tag = "members",
    params(("staff_id" = String, Path, description = "The member's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "E10001")),
    request_body = StatePreferences,
    responses(
        (status = 200, description = "Stated (or unchanged)", body = MemberVersion),
        (status = 422, description = "Refused by a rule: `specialty-too-long`", body = Problem, content_type = "application/problem+json"),
        MemberCommandProblems,
    )
)]
pub(crate) async fn state_preferences(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<ActAsMember>,
    Path(staff_id): Path<String>,
    JsonBody(body): JsonBody<StatePreferences>,
) -> Result<Json<MemberVersion>, ApiError> {
    state_member_preferences(&state, By::api(&caller), staff_id, body)
        .await
        .map(Json)
}

/// States a member's preferences, for the member themselves or the program's staff.
pub(crate) async fn state_member_preferences(
    state: &ApiState,
    by: By<'_>,
    staff_id: String,
    body: StatePreferences,
) -> Result<MemberVersion, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    by.caller.require_member_or_staff(&staff_id)?;
    let command = MemberCommand::StatePreferences {
        staff_id: staff_id.clone(),
        preferences: body.into(),
        at: Utc::now(),
    };
    act(state, by, staff_id, command).await.map(|Json(v)| v)
}

/// Opt out of automatic outreach after reported events. The member can still refer themselves.
#[utoipa::path(
    post,
    path = "/v1/members/{staff_id}/opt-out",
    tag = "members",
    params(("staff_id" = String, Path, description = "The member's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "E10001")),
    request_body(content = NoFields, description = "No body, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Opted out (or already)", body = MemberVersion),
        MemberCommandProblems,
    )
)]
pub(crate) async fn opt_out(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<ActAsMember>,
    Path(staff_id): Path<String>,
    _: NoBody,
) -> Result<Json<MemberVersion>, ApiError> {
    set_opted_out(&state, By::api(&caller), staff_id, true)
        .await
        .map(Json)
}

/// Opt back in to automatic outreach after reported events.
#[utoipa::path(
    post,
    path = "/v1/members/{staff_id}/opt-in",
    tag = "members",
    params(("staff_id" = String, Path, description = "The member's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "E10001")),
    request_body(content = NoFields, description = "No body, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Opted in (or already)", body = MemberVersion),
        MemberCommandProblems,
    )
)]
pub(crate) async fn opt_in(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<ActAsMember>,
    Path(staff_id): Path<String>,
    _: NoBody,
) -> Result<Json<MemberVersion>, ApiError> {
    set_opted_out(&state, By::api(&caller), staff_id, false)
        .await
        .map(Json)
}

/// Opts a member out of automatic outreach (`out`) or back in, for the member themselves or the
/// program's staff.
pub(crate) async fn set_opted_out(
    state: &ApiState,
    by: By<'_>,
    staff_id: String,
    out: bool,
) -> Result<MemberVersion, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    by.caller.require_member_or_staff(&staff_id)?;
    let command = if out {
        MemberCommand::OptOut {
            staff_id: staff_id.clone(),
            at: Utc::now(),
        }
    } else {
        MemberCommand::OptIn {
            staff_id: staff_id.clone(),
            at: Utc::now(),
        }
    };
    act(state, by, staff_id, command).await.map(|Json(v)| v)
}

/// Runs a command on the member's record; returns the record's new version.
async fn act(
    state: &ApiState,
    by: By<'_>,
    staff_id: String,
    command: MemberCommand,
) -> Result<Json<MemberVersion>, ApiError> {
    let metadata = by.metadata_about_member(&staff_id);
    let version = state.commands.act_on_member(command, &metadata).await?;
    Ok(Json(MemberVersion { staff_id, version }))
}

/// A care team member's own record: opt-out, open case and preferences.
#[utoipa::path(
    get,
    path = "/v1/members/{staff_id}",
    tag = "members",
    params(("staff_id" = String, Path, description = "The member's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "E10001")),
    responses(
        (status = 200, description = "The member's record", body = MemberRecord),
        (status = 400, description = "`invalid-parameter`: the staff id is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member-not-found`: nothing is on record for this staff id", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the server failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the event store could not be read; retry later", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_member(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<ActAsMember>,
    Path(staff_id): Path<String>,
) -> Result<Json<MemberRecord>, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    caller.require_member_or_staff(&staff_id)?;
    // The member's record is small and has no read model yet: it is loaded from its events
    // through the command side. A read model would take over once one is projected.
    let (member, version) = state.commands.member(&staff_id).await?;
    if version == 0 {
        return Err(ApiError::MemberNotFound);
    }
    // The member's record id is derived under their data key: the audit names the record a
    // purge makes unlinkable, never the staff id.
    let member_id = state.commands.member_id(&staff_id).await?;
    access_audit::record(
        &state.pool,
        &caller,
        "GET /v1/members/{staff_id}",
        if caller.0.is_staff(&staff_id) {
            Read::OwnRecord(member_id)
        } else {
            Read::Member(member_id)
        },
    )
    .await?;
    Ok(Json(MemberRecord {
        staff_id,
        opted_out: member.opted_out(),
        open_case_id: member.open_case(),
        preferences: member.preferences().into(),
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case_commands::tests::reads_the_same;

    #[test]
    fn the_api_codes_are_the_domain_codes() {
        reads_the_same(
            &outreach_events::Discipline::ALL,
            outreach_events::Discipline::as_str,
        );
        reads_the_same(
            &outreach_events::Seniority::ALL,
            outreach_events::Seniority::as_str,
        );
        reads_the_same(
            &care_team_member::Gender::ALL,
            care_team_member::Gender::as_str,
        );
        reads_the_same(&DepartmentPreference::ALL, DepartmentPreference::as_str);
        reads_the_same(&SeniorityPreference::ALL, SeniorityPreference::as_str);
        assert_eq!(outreach_events::Discipline::ALL.len(), 12);
    }
}
