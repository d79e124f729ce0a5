//! The steps of outreach a page records, each one command of the JSON API: their forms on the
//! page, and their forms as sent, read by serde_html_form into the API's own types (the same
//! codes, dates and staff ids a JSON body holds) and sent through the same checks of who may
//! and the same command, at the version the page was rendered at.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use outreach_events::lifecycle::{
    CloseReason, ContactOutcome, DurationBand, EncounterFormat, EscalationCategory, Modality,
    ProfessionalHelp,
};
use outreach_events::Channel;
use serde::de::IgnoredAny;
use serde::Deserialize;
use uuid::Uuid;

use super::forms::{self, FieldErrors, Values};
use super::view::{Control, FormView};
use crate::access::Caller;
use crate::attribution::By;
use crate::case_commands::{self, RecordContactAttempt, RecordEncounter, StaffId};
use crate::cases::CaseStatus;
use crate::contact_confirmation::{ConfirmContact, ContactReplacement};
use crate::error::ApiError;
use crate::referrals::ReferralContact;
use crate::values::{Email, Phone};
use crate::ApiState;

/// A step of outreach a page can record: each is one command of the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Assignment,
    ContactAttempt,
    Acceptance,
    Decline,
    Encounter,
    Resources,
    ProfessionalReferral,
    Escalation,
    Closure,
    Reopening,
    /// Confirming (or replacing) the contact details a referrer suggested.
    ContactConfirmation,
}

impl Step {
    pub(crate) const ALL: [Step; 11] = [
        Step::Assignment,
        Step::ContactAttempt,
        Step::Acceptance,
        Step::Decline,
        Step::Encounter,
        Step::Resources,
        Step::ProfessionalReferral,
        Step::Escalation,
        Step::Closure,
        Step::Reopening,
        Step::ContactConfirmation,
    ];

    /// Its path segment, which is also its form's id.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Step::Assignment => "assignment",
            Step::ContactAttempt => "contact-attempts",
            Step::Acceptance => "acceptance",
            Step::Decline => "decline",
            Step::Encounter => "encounters",
            Step::Resources => "resources",
            Step::ProfessionalReferral => "professional-referrals",
            Step::Escalation => "escalations",
            Step::Closure => "closure",
            Step::Reopening => "reopening",
            Step::ContactConfirmation => "contact-confirmation",
        }
    }

    pub(crate) fn from_path(path: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.path() == path)
    }

    /// Steps only the program's staff take (as in the JSON API's permissions).
    pub(crate) fn for_staff_only(self) -> bool {
        matches!(
            self,
            Step::Assignment | Step::Closure | Step::Reopening | Step::ContactConfirmation
        )
    }

    /// What the page says once the step is recorded.
    pub(crate) fn done(self) -> &'static str {
        match self {
            Step::Assignment => "The supporter is assigned.",
            Step::ContactAttempt => "The contact attempt is recorded.",
            Step::Acceptance => "The member's acceptance is recorded.",
            Step::Decline => "The member's decline is recorded: no further contact follows.",
            Step::Encounter => "The encounter is recorded.",
            Step::Resources => "The resources sent are recorded.",
            Step::ProfessionalReferral => "The referral to professional help is recorded.",
            Step::Escalation => "The escalation is recorded; the program director is notified.",
            Step::Closure => "The case is closed.",
            Step::Reopening => "The case is reopened.",
            Step::ContactConfirmation => {
                "The contact details are confirmed: a supporter can now be assigned."
            }
        }
    }

    /// The steps whose forms a page shows: those that fit the case, and the one just refused
    /// (so that its message shows next to it, whatever the case's state).
    pub(crate) fn shown(status: CaseStatus, staff: bool, refused: Option<Step>) -> Vec<Step> {
        let mut steps = Step::fitting(status, staff);
        if let Some(step) = refused.filter(|step| !steps.contains(step)) {
            steps.push(step);
        }
        steps
    }

    /// The steps that fit a case in `status`; the command side still decides.
    pub(crate) fn fitting(status: CaseStatus, staff: bool) -> Vec<Step> {
        use Step::*;
        let steps: &[Step] = match status {
            CaseStatus::Open | CaseStatus::Assigned => &[ContactAttempt, Closure],
            CaseStatus::Reached => &[
                Acceptance,
                Decline,
                ContactAttempt,
                Encounter,
                Resources,
                ProfessionalReferral,
                Escalation,
                Closure,
            ],
            CaseStatus::Accepted => &[
                Encounter,
                Resources,
                ProfessionalReferral,
                Escalation,
                ContactAttempt,
                Closure,
            ],
            // A member who declined but disclosed danger to self or others is escalated.
            CaseStatus::Declined => &[Resources, Escalation, Closure],
            CaseStatus::Closed => &[Reopening],
            CaseStatus::Cancelled => &[],
        };
        steps
            .iter()
            .copied()
            .filter(|step| staff || !step.for_staff_only())
            .collect()
    }
}

/// The rules of the program that are about one field of a step's form.
const RULE_FIELDS: &[(&str, &str)] = &[
    ("encounter-in-the-future", "held_on"),
    ("close-reason-does-not-fit", "reason"),
];

// ---------------------------------------------------------------------------------------------
// The forms as sent. Each holds the session's CSRF token (checked before the form is read) and
// the version of the case the page showed; nothing else than its own fields is taken.

/// A step without fields of its own: acceptance, decline, resources sent, reopening.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assignment {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    supporter_id: StaffId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactAttempt {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    channel: Channel,
    outcome: ContactOutcome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Encounter {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    held_on: NaiveDate,
    modality: Modality,
    format: EncounterFormat,
    duration: DurationBand,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfessionalReferral {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    service: ProfessionalHelp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Escalation {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    category: EscalationCategory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Closure {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    reason: CloseReason,
}

/// Whether a manager confirms the referrer's suggestion or replaces it with what they entered.
#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ContactDecision {
    AsSuggested,
    Replace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactConfirmation {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    version: Option<u64>,
    decision: ContactDecision,
    #[serde(default)]
    email: Option<Email>,
    #[serde(default)]
    phone: Option<Phone>,
    #[serde(default)]
    mobile: Option<Phone>,
    #[serde(default)]
    preferred_channel: Option<Channel>,
}

impl ContactConfirmation {
    /// The JSON API's body for the form: the decision and the details entered must agree.
    fn body(self, form: &str) -> Result<ConfirmContact, FieldErrors> {
        let entered = self.email.is_some() || self.phone.is_some() || self.mobile.is_some();
        let mut errors = FieldErrors::default();
        match self.decision {
            ContactDecision::AsSuggested if entered || self.preferred_channel.is_some() => {
                errors.add(
                    format!("{form}.decision"),
                    "To confirm the suggestion, leave the fields below empty; to use the \
                     details you entered, choose to replace it.",
                );
                Err(errors)
            }
            ContactDecision::AsSuggested => Ok(ConfirmContact { replace_with: None }),
            ContactDecision::Replace if !entered => {
                errors.add(
                    format!("{form}.email"),
                    "Enter at least one way to reach the member: an e-mail address, a phone \
                     or a mobile number.",
                );
                Err(errors)
            }
            ContactDecision::Replace => Ok(ConfirmContact {
                replace_with: Some(ContactReplacement {
                    contact: ReferralContact {
                        email: self.email,
                        phone: self.phone,
                        mobile: self.mobile,
                    },
                    preferred_channel: self.preferred_channel,
                }),
            }),
        }
    }
}

/// What a step's form asks for: a supporter for the case, or a command on it.
enum Asked {
    Assign(StaffId),
    Command(Box<outreach_domain::CaseCommand>),
}

/// Reads `body` as the form of `step`: the command it asks for and the version it was made at.
fn asked(step: Step, body: &[u8]) -> Result<(Asked, Option<u64>), FieldErrors> {
    use outreach_domain::CaseCommand as C;
    let form = step.path();
    let at = Utc::now();
    let command = |version, command| Ok((Asked::Command(Box::new(command)), version));
    match step {
        Step::Assignment => {
            let f: Assignment = forms::read(form, body)?;
            Ok((Asked::Assign(f.supporter_id), f.version))
        }
        Step::ContactAttempt => {
            let f: ContactAttempt = forms::read(form, body)?;
            let body = RecordContactAttempt {
                channel: f.channel,
                outcome: f.outcome,
            };
            command(f.version, body.command(at))
        }
        Step::Encounter => {
            let f: Encounter = forms::read(form, body)?;
            let body = RecordEncounter {
                held_on: f.held_on,
                modality: f.modality,
                format: f.format,
                duration: f.duration,
            };
            command(f.version, body.command(at))
        }
        Step::ProfessionalReferral => {
            let f: ProfessionalReferral = forms::read(form, body)?;
            let service = f.service;
            command(f.version, C::ReferToProfessionalHelp { service, at })
        }
        Step::Escalation => {
            let f: Escalation = forms::read(form, body)?;
            let category = f.category;
            command(f.version, C::RecordEscalation { category, at })
        }
        Step::Closure => {
            let f: Closure = forms::read(form, body)?;
            let reason = f.reason;
            command(f.version, C::Close { reason, at })
        }
        Step::ContactConfirmation => {
            let f: ContactConfirmation = forms::read(form, body)?;
            let version = f.version;
            let confirmed = f.body(form)?.command().map_err(|error| {
                FieldErrors::from_refusal(form, error, RULE_FIELDS).unwrap_or_default()
            })?;
            command(version, confirmed)
        }
        Step::Acceptance | Step::Decline | Step::Resources | Step::Reopening => {
            let f: Plain = forms::read(form, body)?;
            let plain = match step {
                Step::Acceptance => C::RecordAcceptance { at },
                Step::Decline => C::RecordDecline { at },
                Step::Resources => C::RecordResourcesSent { at },
                _ => C::Reopen { at },
            };
            command(f.version, plain)
        }
    }
}

/// Why a step was not recorded: its form, or the API's refusal.
pub(crate) enum Refusal {
    Form(FieldErrors),
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal::Api(error)
    }
}

impl Refusal {
    /// The page's status and the messages next to the step's fields; or, for what is no
    /// refusal of the form (forbidden, not found, down), the failure the page shows as such.
    pub(crate) fn messages(self, step: Step) -> Result<(StatusCode, FieldErrors), ApiError> {
        match self {
            Refusal::Form(errors) => Ok((StatusCode::UNPROCESSABLE_ENTITY, errors)),
            Refusal::Api(error) => {
                let status = match error {
                    ApiError::StaleVersion { .. } => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                Ok((
                    status,
                    FieldErrors::from_refusal(step.path(), error, RULE_FIELDS)?,
                ))
            }
        }
    }
}

/// Records `step` on the case with the form sent, as the JSON API would: the same values, the
/// same checks of who may, the same command. Returns the case's new version.
pub(crate) async fn perform(
    state: &ApiState,
    caller: &Caller,
    case_id: Uuid,
    step: Step,
    body: &[u8],
) -> Result<u64, Refusal> {
    if step.for_staff_only() && !caller.runs_the_program() {
        return Err(ApiError::Forbidden.into());
    }
    let (asked, expected) = asked(step, body).map_err(Refusal::Form)?;
    let version = match asked {
        Asked::Assign(supporter_id) => {
            case_commands::assign(
                state,
                By::dashboard(caller),
                case_id,
                &supporter_id,
                expected,
            )
            .await?
        }
        Asked::Command(command) => {
            caller.require_on_case(state, case_id).await?;
            case_commands::act(state, By::dashboard(caller), case_id, expected, *command).await?
        }
    };
    Ok(version.version)
}

/// Waits (a few seconds at most) until the outreach read model and the case's timeline show the
/// case at `version`, so the page shown next includes what was just recorded.
pub(crate) async fn read_model_reaches(pool: &sqlx::PgPool, case_id: Uuid, version: u64) {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    for _ in 0..60 {
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT least(c.version, (SELECT coalesce(max(sequence), 0) FROM case_timeline t
                                           WHERE t.case_id = c.case_id))
                   FROM outreach_cases c WHERE c.case_id = $1",
        )
        .bind(case_id)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten();
        if seen.is_some_and(|seen| seen >= version) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The forms of `steps` for the case, in `status`, posting to `base/{step}`.
// One argument more than clippy likes: each is one thing the forms need, none belong together.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step_forms(
    base: &str,
    steps: &[Step],
    status: CaseStatus,
    version: u64,
    csrf: &str,
    sent: Option<(&Values, &FieldErrors)>,
    failed: Option<&str>,
    today: &str,
) -> Vec<FormView> {
    let action = |step: Step| format!("{base}/{}", step.path());
    steps
        .iter()
        .filter(|step| **step != Step::Assignment)
        .map(|&step| {
            let form = match step {
                Step::ContactAttempt => FormView::new(
                    step.path(),
                    action(step),
                    "Contact attempt",
                    "Record contact attempt",
                )
                .controls(vec![
                    Control::select(
                        "channel",
                        "Channel",
                        &Channel::ALL.map(Channel::as_str),
                        Some("Choose…"),
                    )
                    .required(),
                    Control::select(
                        "outcome",
                        "Outcome",
                        &ContactOutcome::ALL.map(ContactOutcome::as_str),
                        Some("Choose…"),
                    )
                    .required(),
                ]),
                Step::Acceptance => FormView::new(
                    step.path(),
                    action(step),
                    "The member accepted support",
                    "Record acceptance",
                ),
                Step::Decline => FormView::new(
                    step.path(),
                    action(step),
                    "The member declined support",
                    "Record decline",
                )
                .quiet(),
                Step::Encounter => {
                    FormView::new(step.path(), action(step), "Encounter", "Record encounter")
                        .controls(vec![
                    Control::input("held_on", "Held on", "date")
                        .required()
                        .value(today)
                        .hint(
                            "Only that a conversation took place is recorded: never what was said.",
                        ),
                    Control::select(
                        "modality",
                        "How",
                        &Modality::ALL.map(Modality::as_str),
                        Some("Choose…"),
                    )
                    .required(),
                    Control::select(
                        "format",
                        "Format",
                        &EncounterFormat::ALL.map(EncounterFormat::as_str),
                        Some("Choose…"),
                    )
                    .required(),
                    Control::select(
                        "duration",
                        "About how long",
                        &DurationBand::ALL.map(DurationBand::as_str),
                        Some("Choose…"),
                    )
                    .required(),
                ])
                }
                Step::Resources => FormView::new(
                    step.path(),
                    action(step),
                    "Resources sent",
                    "Record resources sent",
                ),
                Step::ProfessionalReferral => FormView::new(
                    step.path(),
                    action(step),
                    "Referral to professional help (tier 3)",
                    "Record referral",
                )
                .controls(vec![Control::select(
                    "service",
                    "Service",
                    &ProfessionalHelp::ALL.map(ProfessionalHelp::as_str),
                    Some("Choose…"),
                )
                .required()]),
                // After a decline the command side accepts danger to self or others only
                // (`CaseError::EscalationAfterDecline`): offering the rest would only lead a
                // manager to an error.
                Step::Escalation if status == CaseStatus::Declined => FormView::new(
                    "escalations",
                    action(step),
                    "Escalation: a limit of confidentiality",
                    "Record escalation",
                )
                .controls(vec![Control::select(
                    "category",
                    "Category",
                    &[EscalationCategory::DangerToSelfOrOthers.as_str()],
                    Some("Choose…"),
                )
                .required()
                .hint(
                    "The member declined support: only danger to self or others can be \
                     escalated now. The decline ends outreach, not the program's duty. The \
                     category only: never a narrative.",
                )]),
                Step::Escalation => FormView::new(
                    step.path(),
                    action(step),
                    "Escalation: a limit of confidentiality",
                    "Record escalation",
                )
                .controls(vec![Control::select(
                    "category",
                    "Category",
                    &EscalationCategory::ALL.map(EscalationCategory::as_str),
                    Some("Choose…"),
                )
                .required()
                .hint("The category only: never a narrative.")]),
                Step::Closure => {
                    FormView::new(step.path(), action(step), "Close the case", "Close case")
                        .controls(vec![Control::select(
                            "reason",
                            "Reason",
                            &CloseReason::ALL
                                // `merged` is the merge command's, which names the case joined.
                                .into_iter()
                                .filter(|reason| *reason != CloseReason::Merged)
                                .map(CloseReason::as_str)
                                .collect::<Vec<_>>(),
                            Some("Choose…"),
                        )
                        .required()])
                        .quiet()
                }
                Step::Reopening => {
                    FormView::new(step.path(), action(step), "Reopen the case", "Reopen case")
                }
                Step::ContactConfirmation => FormView::new(
                    "contact-confirmation",
                    action(step),
                    "Confirm the contact details",
                    "Confirm contact details",
                )
                .controls(vec![
                    Control::radio("decision", "The referrer's suggestion", &["as_suggested", "replace"])
                        .required()
                        .hint("Confirm it only if the program knows it is the member's own (the hospital's directory, say); otherwise replace it."),
                    Control::input("email", "E-mail (to replace it)", "email").max_length(254),
                    Control::input("phone", "Phone (to replace it)", "tel").max_length(32),
                    Control::input("mobile", "Mobile (to replace it)", "tel").max_length(32),
                    Control::select(
                        "preferred_channel",
                        "Preferred channel (to replace it)",
                        &Channel::ALL.map(Channel::as_str),
                        Some("None"),
                    ),
                ]),
                Step::Assignment => unreachable!("filtered out above"),
            };
            form.version(version).finish(csrf, sent, failed)
        })
        .collect()
}

/// The query a page is sent back with after a step: `?done=STEP`.
#[derive(Deserialize)]
pub(crate) struct Done {
    #[serde(default)]
    done: Option<String>,
}

impl Done {
    /// What the page says about the step just recorded, if it names one.
    pub(crate) fn notice(&self) -> Option<&'static str> {
        self.done
            .as_deref()
            .and_then(Step::from_path)
            .map(Step::done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page posts each step where the JSON API takes its command: the segments are the API's.
    #[test]
    fn every_step_is_a_command_of_the_json_api() {
        let document = crate::openapi();
        for step in Step::ALL {
            let path = format!("/v1/cases/{{case_id}}/{}", step.path());
            let item = document.paths.paths.get(&path);
            assert!(
                item.is_some_and(|item| item.post.is_some()),
                "the API takes no POST {path}"
            );
        }
    }
}
