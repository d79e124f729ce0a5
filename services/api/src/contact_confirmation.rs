//! Confirming how to reach a member whose case holds a referrer's suggestion. A care team member
//! who refers a colleague the program has no record of cannot choose where that colleague is
//! contacted: the case opens with the suggestion held (`contact_to_confirm` on the case), and
//! nobody is assigned or reaches out until a program manager confirms it here, as it is or
//! replaced with details they entered (from the hospital's directory, say).

use axum::extract::State;
use chrono::Utc;
use outreach_domain::case::ContactRoutes;
use outreach_domain::CaseCommand;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, RunTheProgram};
use crate::attribution::By;
use crate::case_commands::{act, CaseVersion, CommandProblems};
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody, Path};
use crate::referrals::ReferralContact;
use crate::ApiState;
use outreach_events::Channel;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(confirm_contact))
}

/// Confirm the contact details held on the case: `{}` confirms the referrer's suggestion as it
/// is; `replace_with` puts the details given in its place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmContact {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub replace_with: Option<ContactReplacement>,
}

/// How to reach the member instead of the suggestion: at least one way.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactReplacement {
    pub contact: ReferralContact,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub preferred_channel: Option<Channel>,
}

impl ConfirmContact {
    pub(crate) fn command(self) -> Result<CaseCommand, ApiError> {
        let replacement = match self.replace_with {
            None => None,
            Some(ContactReplacement {
                contact,
                preferred_channel,
            }) => {
                if contact.email.is_none() && contact.phone.is_none() && contact.mobile.is_none() {
                    return Err(ApiError::InvalidBody(
                        "replace_with.contact: at least one of `email`, `phone` or `mobile` is needed to reach the member"
                            .to_owned(),
                    ));
                }
                Some(ContactRoutes {
                    email: contact.email.map(|e| e.0),
                    phone: contact.phone.map(|p| p.0),
                    mobile: contact.mobile.map(|m| m.0),
                    preferred_channel,
                })
            }
        };
        Ok(CaseCommand::ConfirmContact {
            replacement,
            at: Utc::now(),
        })
    }
}

/// Confirm how to reach the member of a case held for confirmation: the referrer's suggestion
/// as it is, or details entered in its place. Until then no supporter is assigned and nobody
/// reaches out. Recorded under the signed-in manager's name.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/contact-confirmation",
    tag = "case commands",
    params(("case_id" = Uuid, Path, description = "The case's id"), IfMatch),
    request_body = ConfirmContact,
    responses(
        (status = 200, description = "Confirmed: these are now the member's contact details", body = CaseVersion,
            headers(("ETag" = String, description = "The case's new version, quoted"))),
        (status = 422, description = "Refused by a rule: `case-is-closed`, `no-contact-to-confirm` (the case holds no suggestion: none was held, or it was confirmed already), `case-needs-a-contact-route` (the suggestion was purged with the member's data)", body = Problem, content_type = "application/problem+json"),
        CommandProblems,
    )
)]
pub(crate) async fn confirm_contact(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
    IfMatch(expected_version): IfMatch,
    JsonBody(body): JsonBody<ConfirmContact>,
) -> Result<CaseVersion, ApiError> {
    let command = body.command()?;
    act(&state, By::api(&caller), case_id, expected_version, command).await
}
