//! Referrals for support: a care team member refers themselves, or a colleague or supervisor
//! refers them. Who to reach and how; there is no field for what happened.
//!
//! A referral must not tell anyone who is not the program's staff whether a colleague is in
//! peer support, nor let them choose where a colleague is contacted: anyone else is told only
//! that the referral was taken in, a self-referral is made under the caller's own staff id, and
//! a colleague's contact details come from what the program already has for them when it has
//! any (their latest case), not from the referrer. With nothing on record, the referrer's
//! details open the case held as a suggestion (`ContactToConfirm`): nobody is reached through
//! them until a program manager confirms them or enters others.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use outreach_command_side::Outreach;
use outreach_domain::InvolvedMember;
use outreach_events as events;
use outreach_events::author::Relation;
use outreach_events::{Channel, Discipline, Seniority};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, Refer};
use crate::attribution::By;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::members::{
    problems, Email, MemberStaffId, Phone, ShortText, INTERNAL, PAYLOAD_TOO_LARGE, UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
};
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(refer))
}

// ---------------------------------------------------------------------------------------------
// Request and response bodies. Closed: an unknown field (say, "reason") is a 400.

/// A referral for support: a care team member refers themselves, or a colleague or supervisor
/// refers them. Who to reach and how; there is no field for what happened.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// The client's idempotency key: the same referral sent again opens no second case. When
    /// absent, one is generated and returned.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub referral_id: Option<Uuid>,
    pub referred_by: ReferredBy,
    pub campus: ShortText,
    pub unit: ShortText,
    pub member: ReferredMember,
}

/// The member referred for support: who they are and how to reach them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferredMember {
    pub staff_id: MemberStaffId,
    pub name: ReferredName,
    /// The member's role, e.g. "Attending physician".
    pub role: ShortText,
    pub discipline: Discipline,
    pub department: ShortText,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub seniority: Option<Seniority>,
    /// At least one way to reach the member.
    pub contact: ReferralContact,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub preferred_channel: Option<Channel>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferredName {
    pub given: ShortText,
    pub family: ShortText,
}

/// At least one of the three (none is ever `null`, so any one present is a way to reach them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralContact {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub email: Option<Email>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub phone: Option<Phone>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub mobile: Option<Phone>,
}

impl Referral {
    /// The command side's referral: the member is involved as `other`, and their eligibility is
    /// the command side's to check against the program's policy.
    fn into_command(
        self,
        referral_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<outreach_command_side::Referral, ApiError> {
        let ReferredMember {
            staff_id,
            name,
            role,
            discipline,
            department,
            seniority,
            contact,
            preferred_channel,
        } = self.member;
        if contact.email.is_none() && contact.phone.is_none() && contact.mobile.is_none() {
            return Err(ApiError::InvalidBody(
                "member.contact: at least one of `email`, `phone` or `mobile` is needed to reach the member"
                    .to_owned(),
            ));
        }
        Ok(outreach_command_side::Referral {
            referral_id,
            trigger: self.referred_by.into(),
            campus: self.campus.0,
            unit: self.unit.0,
            member: InvolvedMember {
                profile: events::MemberProfile {
                    staff_id: staff_id.0,
                    role: role.0,
                    discipline,
                    department: department.0,
                    seniority,
                    involvement: events::Involvement::Other,
                },
                contact: events::MemberContact {
                    given_name: name.given.0,
                    family_name: name.family.0,
                    email: contact.email.map(|e| e.0),
                    phone: contact.phone.map(|p| p.0),
                    mobile: contact.mobile.map(|m| m.0),
                    preferred_channel,
                },
                // The command side refuses members the program does not serve.
                eligible: true,
                // Derived by the command side under the member's key.
                case_id: None,
            },
            at,
            // Decided by the caller, who knows who refers whom and what is on record.
            contact_to_confirm: false,
        })
    }
}

/// Who made the referral: the member themselves, a colleague, or a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferredBy {
    #[serde(rename = "self")]
    Member,
    Colleague,
    Supervisor,
}

impl ReferredBy {
    /// How the referrer stands to the member, as the events' metadata records it.
    fn relation(self) -> Relation {
        match self {
            ReferredBy::Member => Relation::Themselves,
            ReferredBy::Colleague => Relation::Colleague,
            ReferredBy::Supervisor => Relation::Supervisor,
        }
    }
}

impl From<ReferredBy> for events::TriggerKind {
    fn from(value: ReferredBy) -> Self {
        match value {
            ReferredBy::Member => events::TriggerKind::SelfReferral,
            ReferredBy::Colleague => events::TriggerKind::ColleagueReferral,
            ReferredBy::Supervisor => events::TriggerKind::SupervisorReferral,
        }
    }
}

/// Where the referral went: told to the program's staff only.
#[derive(Debug, Serialize, ToSchema)]
pub struct Referred {
    /// The referral's idempotency key, as sent or generated.
    pub referral_id: Uuid,
    /// The case the member's outreach runs in.
    pub case_id: Uuid,
    pub outcome: ReferralOutcome,
}

/// A referral taken in, as anyone but the program's staff is told: the same whether it opened
/// a case or joined one already under way, so that nobody learns from it whether a colleague
/// is in peer support.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralAccepted {
    /// The referral's idempotency key, as sent or generated.
    pub referral_id: Uuid,
}

/// `opened`: a case opened for the referral (or had, for a referral sent again); `linked`: the
/// member's open case took it in, so nobody contacts them twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralOutcome {
    Opened,
    Linked,
}

/// The answer to a referral: where it went for the program's staff, taken in for anyone else.
#[derive(Debug)]
pub(crate) enum ReferralAnswer {
    Placed(Referred),
    Accepted(ReferralAccepted),
}

impl IntoResponse for ReferralAnswer {
    fn into_response(self) -> Response {
        match self {
            ReferralAnswer::Accepted(accepted) => {
                (StatusCode::ACCEPTED, Json(accepted)).into_response()
            }
            ReferralAnswer::Placed(referred) if referred.outcome == ReferralOutcome::Opened => {
                let location = HeaderValue::from_str(&format!("/v1/cases/{}", referred.case_id))
                    .expect("a path with a UUID is a valid header value");
                (
                    StatusCode::CREATED,
                    [(header::LOCATION, location)],
                    Json(referred),
                )
                    .into_response()
            }
            ReferralAnswer::Placed(referred) => Json(referred).into_response(),
        }
    }
}

/// 400, 409, 413, 415, 500 and 503 of a referral, as problem documents.
pub(crate) struct ReferralProblems;

impl IntoResponses for ReferralProblems {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        problems(&[
            ("400", "`invalid-body`: the body is not JSON, has an unknown field, misses one, has a value out of range, or gives no way to reach the member (the detail names the field)"),
            ("409", "`stale-version`: other triggers for the same member kept winning a race; retry"),
            PAYLOAD_TOO_LARGE,
            UNSUPPORTED_MEDIA_TYPE,
            INTERNAL,
            UNAVAILABLE,
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint.

/// Refer a care team member for support: themselves, or a colleague or supervisor on their
/// behalf. Opens a case, or joins the member's open case. Only the program's staff are told
/// which (and the case); anyone else is told the referral was taken in, the same either way.
/// A self-referral is made under the caller's own staff id. A colleague's contact details
/// from a referrer who is not the program's staff are taken from what the program already has
/// for the member, when it has any (see the README: *Referrals*).
#[utoipa::path(
    post,
    path = "/v1/referrals",
    tag = "members",
    request_body = Referral,
    responses(
        (status = 201, description = "To the program's staff (director, program manager): a case opened (or had opened, for a referral sent again with the same `referral_id`)", body = Referred,
            headers(("Location" = String, description = "The case, `/v1/cases/{case_id}`"))),
        (status = 200, description = "To the program's staff: the member's open case took the referral in", body = Referred),
        (status = 202, description = "To anyone else: the referral is taken in; whether it opened a case or joined one is not said", body = ReferralAccepted),
        (status = 422, description = "Refused by a rule: `member-not-eligible` (the program does not serve the member's discipline), `self-referral-under-another-staff-id` (`field`: `member.staff_id`), `campus-not-of-the-program` (`field`: `campus`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too-many-requests`: the caller sent too many referrals in the last minute; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        ReferralProblems,
    )
)]
pub(crate) async fn refer(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<Refer>,
    JsonBody(body): JsonBody<Referral>,
) -> Result<ReferralAnswer, ApiError> {
    refer_member(&state, By::api(&caller), body).await
}

/// Records a referral for `caller`, within their rate limit: opens a case, or joins the
/// member's open case; says which to the program's staff only.
pub(crate) async fn refer_member(
    state: &ApiState,
    by: By<'_>,
    body: Referral,
) -> Result<ReferralAnswer, ApiError> {
    let caller = by.caller;
    state.rate_limits.referral(caller.subject())?;
    let staff = caller.runs_the_program();
    if body.referred_by == ReferredBy::Member
        && !staff
        && !caller.0.is_staff(&body.member.staff_id.0)
    {
        return Err(ApiError::InvalidField {
            rule: "self-referral-under-another-staff-id",
            field: "member.staff_id".into(),
            problem: "a self-referral is made under your own staff id".into(),
        });
    }
    let campuses = &state.commands.policies().roster.campuses;
    if !campuses.is_empty() && !campuses.contains(&body.campus.0) {
        return Err(ApiError::InvalidField {
            rule: "campus-not-of-the-program",
            field: "campus".into(),
            problem: format!("is not a campus of the program ({})", campuses.join(", ")),
        });
    }
    let referral_id = body.referral_id.unwrap_or_else(Uuid::new_v4);
    let relation = body.referred_by.relation();
    let mut referral = body.into_command(referral_id, Utc::now())?;
    let metadata = by.metadata_of_referral(&referral.member.profile.staff_id, relation);
    if !staff && referral.trigger != events::TriggerKind::SelfReferral {
        // With nothing on record, the referrer's details are held for the staff to confirm; the
        // answer is the same either way, so it says nothing of what the program holds.
        referral.contact_to_confirm = !contact_on_record(&state.pool, &mut referral.member).await?;
    }
    let (case_id, outcome) = match state.commands.refer(referral, &metadata).await? {
        Outreach::Opened(case_id) => (case_id, ReferralOutcome::Opened),
        Outreach::Linked(case_id) => (case_id, ReferralOutcome::Linked),
        // Opting out stops automatic outreach only; a referral is never skipped.
        Outreach::Skipped => {
            return Err(ApiError::Internal(
                "the command side skipped a referral".to_owned(),
            ))
        }
    };
    Ok(if staff {
        ReferralAnswer::Placed(Referred {
            referral_id,
            case_id,
            outcome,
        })
    } else {
        ReferralAnswer::Accepted(ReferralAccepted { referral_id })
    })
}

/// Replaces the contact details a referrer gave for a colleague with those the program has for
/// the member, from their latest case that still holds any (the hospital's own reporting system,
/// or the program's staff, gave or confirmed them). Whether any were on record: with none, the
/// referrer's are only a suggestion, for the program's staff to confirm.
async fn contact_on_record(
    pool: &sqlx::PgPool,
    member: &mut InvolvedMember,
) -> Result<bool, ApiError> {
    type OnRecord = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let found: Option<OnRecord> = sqlx::query_as(
        "SELECT given_name, family_name, email, phone, mobile, preferred_channel
           FROM outreach_cases
          WHERE staff_id = $1 AND coalesce(email, phone, mobile) IS NOT NULL
          ORDER BY opened_at DESC
          LIMIT 1",
    )
    .bind(&member.profile.staff_id)
    .fetch_optional(pool)
    .await?;
    let Some((given, family, email, phone, mobile, channel)) = found else {
        return Ok(false);
    };
    let contact = &mut member.contact;
    contact.given_name = given.unwrap_or_else(|| contact.given_name.clone());
    contact.family_name = family.unwrap_or_else(|| contact.family_name.clone());
    contact.email = email;
    contact.phone = phone;
    contact.mobile = mobile;
    contact.preferred_channel = channel.and_then(|c| serde_json::from_value(c.into()).ok());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_are_the_three_referral_triggers() {
        for (code, trigger) in [
            ("self", events::TriggerKind::SelfReferral),
            ("colleague", events::TriggerKind::ColleagueReferral),
            ("supervisor", events::TriggerKind::SupervisorReferral),
        ] {
            let by: ReferredBy = serde_json::from_value(serde_json::json!(code)).unwrap();
            assert_eq!(events::TriggerKind::from(by), trigger);
        }
    }
}
