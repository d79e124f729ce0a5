//! The commands of program managers and peer supporters on a case: assign a supporter, record
//! contact attempts, the member's decision, encounters, resources, referrals and escalations,
//! close and reopen.
//!
//! Every command goes through the command side to the event store; the read model follows
//! shortly after. Bodies are closed (`deny_unknown_fields`) and hold codes, dates and staff ids
//! only: there is nowhere to put what was said (promise 2). A command may name the version of
//! the case it was decided on in `If-Match` (the case's `ETag`); if the case has changed since,
//! it is refused with the current version instead of being applied to state nobody saw.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use outreach_domain::CaseCommand;
// The codes are the events' own; their schemas come from `outreach-events`' `openapi` feature.
use outreach_events::lifecycle::{
    CloseReason, ContactOutcome, DurationBand, EncounterFormat, EscalationCategory, Modality,
    ProfessionalHelp,
};
use outreach_events::Channel;
use serde::{Deserialize, Serialize};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, RecordOutreach, RunTheProgram};
use crate::attribution::By;
use crate::error::{ApiError, Problem, PROBLEM_CONTENT_TYPE};
use crate::extract::{IfMatch, JsonBody, NoBody, Path};
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(assign_supporter))
        .routes(routes!(record_contact_attempt))
        .routes(routes!(record_decline))
        .routes(routes!(record_acceptance))
        .routes(routes!(record_encounter))
        .routes(routes!(record_resources_sent))
        .routes(routes!(refer_to_professional_help))
        .routes(routes!(record_escalation))
        .routes(routes!(close_case))
        .routes(routes!(reopen_case))
        .routes(routes!(merge_case))
}

/// The case after a command: its id and new version, which is also the response's `ETag`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseVersion {
    pub case_id: Uuid,
    /// Pass as `If-Match` with the next command on this case.
    #[schema(example = 3)]
    pub version: u64,
}

impl IntoResponse for CaseVersion {
    fn into_response(self) -> Response {
        let etag = HeaderValue::from_str(&format!("\"{}\"", self.version))
            .expect("a quoted number is a valid header value");
        ([(header::ETAG, etag)], Json(self)).into_response()
    }
}

/// Runs a command on a case, at the version the client saw if it said which (the JSON API's
/// `If-Match`, the version a dashboard page was rendered at).
pub(crate) async fn act(
    state: &ApiState,
    by: By<'_>,
    case_id: Uuid,
    expected_version: Option<u64>,
    command: CaseCommand,
) -> Result<CaseVersion, ApiError> {
    // Who sent it, and how; the trace context is added by the command side.
    let metadata = by.metadata();
    let version = state
        .commands
        .act_on_case(case_id, command, expected_version, &metadata)
        .await?;
    Ok(CaseVersion { case_id, version })
}

// ---------------------------------------------------------------------------------------------
// Request bodies. Closed: an unknown field (say, "notes") is a 400, never silently dropped.

/// Assign (or reassign) a peer supporter to the case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignSupporter {
    /// The supporter's staff id. Never the member, nor anyone named on the same report.
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$",
        example = "E20001"
    )]
    pub supporter_id: StaffId,
}

pub(crate) use crate::values::StaffId;

/// The supporter tried to reach the member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordContactAttempt {
    pub channel: Channel,
    pub outcome: ContactOutcome,
}

/// A conversation took place: when, how, in what format and for about how long. Nothing of
/// what was said.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEncounter {
    /// The day it took place; not in the future.
    #[schema(example = "2026-11-24")]
    pub held_on: NaiveDate,
    pub modality: Modality,
    pub format: EncounterFormat,
    pub duration: DurationBand,
}

/// Tier 3: the member was referred to professional help.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferToProfessionalHelp {
    pub service: ProfessionalHelp,
}

/// A limit of confidentiality was reached: the category only, never a narrative.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEscalation {
    pub category: EscalationCategory,
}

/// Close the case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCase {
    pub reason: CloseReason,
}

impl RecordContactAttempt {
    pub(crate) fn command(self, at: DateTime<Utc>) -> CaseCommand {
        CaseCommand::RecordContactAttempt {
            channel: self.channel,
            outcome: self.outcome,
            at,
        }
    }
}

impl RecordEncounter {
    pub(crate) fn command(self, at: DateTime<Utc>) -> CaseCommand {
        CaseCommand::RecordEncounter {
            held_on: self.held_on,
            modality: self.modality,
            format: self.format,
            duration: self.duration,
            at,
        }
    }
}

impl ReferToProfessionalHelp {
    pub(crate) fn command(self, at: DateTime<Utc>) -> CaseCommand {
        CaseCommand::ReferToProfessionalHelp {
            service: self.service,
            at,
        }
    }
}

impl RecordEscalation {
    pub(crate) fn command(self, at: DateTime<Utc>) -> CaseCommand {
        CaseCommand::RecordEscalation {
            category: self.category,
            at,
        }
    }
}

impl CloseCase {
    pub(crate) fn command(self, at: DateTime<Utc>) -> CaseCommand {
        CaseCommand::Close {
            reason: self.reason,
            at,
        }
    }
}

/// A command without fields: send no body, or `{}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// Marks the bodies of commands without fields optional in the OpenAPI document. (utoipa
/// makes a body optional only when declared `Option<T>`, and then documents `null`, which is
/// not accepted.)
pub(crate) struct OptionalNoFieldsBodies;

impl utoipa::Modify for OptionalNoFieldsBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let no_fields = Ref::from_schema_name("NoFields");
        let bodies = openapi
            .paths
            .paths
            .values_mut()
            .filter_map(|item| item.post.as_mut()?.request_body.as_mut());
        for body in bodies {
            let takes_no_fields = body.content.values().any(|content| {
                matches!(&content.schema, Some(RefOr::Ref(schema)) if *schema == no_fields)
            });
            if takes_no_fields {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The problems every command can answer with; each endpoint adds its 422 and the rules behind it.

/// 400, 404, 409, 413, 415, 500 and 503, as problem documents.
pub(crate) struct CommandProblems;

impl IntoResponses for CommandProblems {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
                .into()
        };
        [
            ("400", "`invalid-body`: the body is not JSON, has an unknown field, misses one or has a value out of range (the detail names the field); `invalid-parameter`: the case id is not a UUID, or `If-Match` is malformed"),
            ("404", "`case-not-found`: no case has this id"),
            ("409", "`stale-version`: the case has changed since the version in `If-Match`, or another command on it won a race; `current_version` tells the case's version when known"),
            ("413", "`payload-too-large`: the body is larger than this API accepts"),
            ("415", "`unsupported-media-type`: a body was sent without `Content-Type: application/json`"),
            ("500", "`internal`: the server failed"),
            ("503", "`unavailable`: the event store could not take the command; retry later"),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), problem(description)))
        .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoints.

/// Assign a peer supporter to the case (or reassign it).
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/assignment",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = AssignSupporter,
    responses(
        (status = 200, description = "Assigned (or already assigned to this supporter)", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `contact-to-confirm` (the member's contact details wait for confirmation), `supporter-not-found` (`field`: `supporter_id`), `supporter-is-the-member`, `supporter-named-in-report`, `supporter-paused`, `supporter-not-trained`, `supporter-at-capacity`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn assign_supporter(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
    IfMatch(expected_version): IfMatch,
    JsonBody(body): JsonBody<AssignSupporter>,
) -> Result<CaseVersion, ApiError> {
    assign(
        &state,
        By::api(&caller),
        case_id,
        &body.supporter_id,
        expected_version,
    )
    .await
}

/// Assigns a supporter from the roster: the supporter's slot is taken, then the case records
/// the assignment; either may refuse.
pub(crate) async fn assign(
    state: &ApiState,
    by: By<'_>,
    case_id: Uuid,
    supporter_id: &StaffId,
    expected_version: Option<u64>,
) -> Result<CaseVersion, ApiError> {
    let metadata = by.metadata();
    let version = state
        .commands
        .assign(
            case_id,
            &supporter_id.0,
            expected_version,
            Utc::now(),
            &metadata,
        )
        .await
        .map_err(|error| match error {
            outreach_command_side::CommandError::Refused {
                rule: "supporter-not-found",
                ..
            } => ApiError::InvalidField {
                rule: "supporter-not-found",
                field: "supporter_id".into(),
                problem: "no supporter on the roster has this staff id".into(),
            },
            other => other.into(),
        })?;
    Ok(CaseVersion { case_id, version })
}

/// Record an attempt to contact the member, and whether it reached them.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/contact-attempts",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = RecordContactAttempt,
    responses(
        (status = 200, description = "Recorded", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-after-decline`, `contact-to-confirm` (the member's contact details wait for confirmation), `no-supporter-assigned`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn record_contact_attempt(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    JsonBody(body): JsonBody<RecordContactAttempt>,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = body.command(Utc::now());
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Record that the member declined support: no further contact follows; the resource sheet is
/// still sent.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/decline",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body(content = NoFields, description = "No body, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-after-decline`, `member-not-reached`, `already-accepted`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn record_decline(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    _: NoBody,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = CaseCommand::RecordDecline { at: Utc::now() };
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Record that the member accepted support.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/acceptance",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body(content = NoFields, description = "No body, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded (or already recorded)", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-after-decline`, `member-not-reached`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn record_acceptance(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    _: NoBody,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = CaseCommand::RecordAcceptance { at: Utc::now() };
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Record that a conversation took place: its date, modality, format and length band only.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/encounters",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = RecordEncounter,
    responses(
        (status = 200, description = "Recorded", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-after-decline`, `member-not-reached`, `encounter-in-the-future`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn record_encounter(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    JsonBody(body): JsonBody<RecordEncounter>,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = body.command(Utc::now());
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Record that follow-up resources were sent to the member (declined or not).
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/resources",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body(content = NoFields, description = "No body, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `member-not-reached`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn record_resources_sent(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    _: NoBody,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = CaseCommand::RecordResourcesSent { at: Utc::now() };
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Record a referral to professional help (tier 3).
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/professional-referrals",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = ReferToProfessionalHelp,
    responses(
        (status = 200, description = "Recorded", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-after-decline`, `member-not-reached`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn refer_to_professional_help(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    JsonBody(body): JsonBody<ReferToProfessionalHelp>,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = body.command(Utc::now());
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Record an escalation: a limit of confidentiality was reached. Its category only.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/escalations",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = RecordEscalation,
    responses(
        (status = 200, description = "Recorded", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-after-decline`, `member-not-reached`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn record_escalation(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RecordOutreach>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    JsonBody(body): JsonBody<RecordEscalation>,
) -> Result<CaseVersion, ApiError> {
    caller.require_on_case(&state, case_id).await?;
    let command = body.command(Utc::now());
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Close the case, for a reason that fits what happened.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/closure",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = CloseCase,
    responses(
        (status = 200, description = "Closed", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `close-reason-does-not-fit`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn close_case(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    JsonBody(body): JsonBody<CloseCase>,
) -> Result<CaseVersion, ApiError> {
    let command = body.command(Utc::now());
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Reopen a closed case (the member asks again), within the program's reopening window.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/reopening",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body(content = NoFields, description = "No body, or `{}`", content_type = "application/json"),
    responses(
        (status = 200, description = "Reopened", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-not-closed`, `reopen-window-passed`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn reopen_case(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
    if_match: IfMatch,
    _: NoBody,
) -> Result<CaseVersion, ApiError> {
    let command = CaseCommand::Reopen { at: Utc::now() };
    act(&state, By::api(&caller), case_id, if_match.0, command).await
}

/// Merge the case into another open case of the same person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeCase {
    /// The case that takes this one over.
    pub into: Uuid,
}

/// Merge this case into the same person's other open case (for instance one recorded under a
/// second staff id): the other case takes the trigger over; this one closes as `merged`.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/merge",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = MergeCase,
    responses(
        (status = 200, description = "Merged", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `merge-into-itself`, `merge-target-not-open`", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn merge_case(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
    IfMatch(expected_version): IfMatch,
    JsonBody(body): JsonBody<MergeCase>,
) -> Result<CaseVersion, ApiError> {
    let metadata = By::api(&caller).metadata();
    let version = state
        .commands
        .merge_case(case_id, body.into, expected_version, &metadata)
        .await?;
    Ok(CaseVersion { case_id, version })
}

#[cfg(test)]
pub(crate) mod tests {
    use serde::de::DeserializeOwned;
    use utoipa::PartialSchema;

    use super::*;

    /// The document lists every code the domain names (`ALL`, `as_str`: what pages offer), and
    /// each is what serde reads, and writes back the same: the schema's names are serde's.
    pub(crate) fn reads_the_same<Code>(all: &[Code], as_str: fn(Code) -> &'static str)
    where
        Code: PartialSchema + DeserializeOwned + Serialize + Copy,
    {
        let schema = serde_json::to_value(Code::schema()).unwrap();
        let values = schema["enum"].as_array().expect("an enum schema").clone();
        assert!(!values.is_empty());
        let names: Vec<_> = all.iter().map(|&code| as_str(code)).collect();
        assert_eq!(values, names, "documented codes and the domain's");
        for value in values {
            let code: Code = serde_json::from_value(value.clone())
                .unwrap_or_else(|e| panic!("the domain does not read {value}: {e}"));
            assert_eq!(serde_json::to_value(code).unwrap(), value);
        }
    }

    #[test]
    fn the_api_codes_are_the_domain_codes() {
        reads_the_same(&Channel::ALL, Channel::as_str);
        reads_the_same(&ContactOutcome::ALL, ContactOutcome::as_str);
        reads_the_same(&Modality::ALL, Modality::as_str);
        reads_the_same(&EncounterFormat::ALL, EncounterFormat::as_str);
        reads_the_same(&DurationBand::ALL, DurationBand::as_str);
        reads_the_same(&ProfessionalHelp::ALL, ProfessionalHelp::as_str);
        reads_the_same(&EscalationCategory::ALL, EscalationCategory::as_str);
        reads_the_same(&CloseReason::ALL, CloseReason::as_str);
    }

    #[test]
    fn staff_ids_are_identifiers_not_text() {
        for good in ["E20001", "S-1001", "a", "dr.smith_2", &"x".repeat(64)] {
            assert!(StaffId::try_from(good.to_owned()).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "-E1",
            "E 1",
            "E1\n",
            "called her, she cried",
            "Ä1",
            &"x".repeat(65),
        ] {
            assert!(StaffId::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
