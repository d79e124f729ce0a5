//! A case, for program managers: its facts in time order, the ranked candidates with their
//! reasons and exclusions, assignment in one click, and a form for each lifecycle step that
//! fits where the case stands. The steps are the JSON API's commands, with its request bodies,
//! rules and `If-Match` (the version the page was rendered at); supporters record the same
//! steps from their own pages ([`super::my_cases`]).

use std::time::Duration;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::forms::{FieldErrors, Form, Values};
use super::queue::status_code;
use super::view::{capitalised, time_left, words, Clock, Control, FormView, Nav};
use super::{render, PageError, SignedIn, WebState};
use crate::access::{Caller, RunTheProgram};
use crate::access_audit::{self, Read};
use crate::case_commands::{
    self, AssignSupporter, CloseCase, NoFields, RecordContactAttempt, RecordEncounter,
    RecordEscalation, ReferToProfessionalHelp,
};
use crate::case_timeline::{self, StepKind, TimelineStep};
use crate::cases::{self, CaseRow, CaseStatus};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::matching::{self, Candidates};
use crate::ApiState;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/cases/{case_id}", get(case_page))
        .route("/cases/{case_id}/{step}", post(record_step))
}

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
}

impl Step {
    const ALL: [Step; 10] = [
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
        }
    }

    pub(crate) fn from_path(path: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.path() == path)
    }

    /// Steps only the program's staff take (as in the JSON API's permissions).
    pub(crate) fn for_staff_only(self) -> bool {
        matches!(self, Step::Assignment | Step::Closure | Step::Reopening)
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
        }
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

/// Records `step` on the case with the form's values, as the JSON API would: the same body,
/// the same checks of who may, the same command. Returns the case's new version.
pub(crate) async fn perform(
    state: &ApiState,
    caller: &Caller,
    case_id: Uuid,
    step: Step,
    form: &Form,
) -> Result<u64, ApiError> {
    if step.for_staff_only() && !caller.runs_the_program() {
        return Err(ApiError::Forbidden);
    }
    let expected = form.version();
    let now = Utc::now();
    let command = match step {
        Step::Assignment => {
            let body: AssignSupporter = form.body(&[])?;
            return case_commands::assign(state, case_id, &body.supporter_id, expected)
                .await
                .map(|v| v.version);
        }
        Step::ContactAttempt => form.body::<RecordContactAttempt>(&[])?.command(now),
        Step::Acceptance => {
            let NoFields {} = form.body(&[])?;
            outreach_domain::CaseCommand::RecordAcceptance { at: now }
        }
        Step::Decline => {
            let NoFields {} = form.body(&[])?;
            outreach_domain::CaseCommand::RecordDecline { at: now }
        }
        Step::Encounter => form.body::<RecordEncounter>(&[])?.command(now),
        Step::Resources => {
            let NoFields {} = form.body(&[])?;
            outreach_domain::CaseCommand::RecordResourcesSent { at: now }
        }
        Step::ProfessionalReferral => form.body::<ReferToProfessionalHelp>(&[])?.command(now),
        Step::Escalation => form.body::<RecordEscalation>(&[])?.command(now),
        Step::Closure => form.body::<CloseCase>(&[])?.command(now),
        Step::Reopening => {
            let NoFields {} = form.body(&[])?;
            outreach_domain::CaseCommand::Reopen { at: now }
        }
    };
    caller.require_on_case(state, case_id).await?;
    case_commands::act(state, case_id, expected, command)
        .await
        .map(|v| v.version)
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

/// The forms of `steps` for the case, posting to `base/{step}`.
pub(crate) fn step_forms(
    base: &str,
    steps: &[Step],
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
                    "contact-attempts",
                    action(step),
                    "Contact attempt",
                    "Record contact attempt",
                )
                .controls(vec![
                    Control::select(
                        "channel",
                        "Channel",
                        &["email", "phone", "text"],
                        Some("Choose…"),
                    )
                    .required(),
                    Control::select(
                        "outcome",
                        "Outcome",
                        &["no_answer", "message_left", "reached"],
                        Some("Choose…"),
                    )
                    .required(),
                ]),
                Step::Acceptance => FormView::new(
                    "acceptance",
                    action(step),
                    "The member accepted support",
                    "Record acceptance",
                ),
                Step::Decline => FormView::new(
                    "decline",
                    action(step),
                    "The member declined support",
                    "Record decline",
                )
                .quiet(),
                Step::Encounter => {
                    FormView::new("encounters", action(step), "Encounter", "Record encounter")
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
                        &["phone", "video", "in_person"],
                        Some("Choose…"),
                    )
                    .required(),
                    Control::select(
                        "format",
                        "Format",
                        &["individual", "group"],
                        Some("Choose…"),
                    )
                    .required(),
                    Control::select(
                        "duration",
                        "About how long",
                        &[
                            "under_15_minutes",
                            "15_to_30_minutes",
                            "30_to_60_minutes",
                            "over_60_minutes",
                        ],
                        Some("Choose…"),
                    )
                    .required(),
                ])
                }
                Step::Resources => FormView::new(
                    "resources",
                    action(step),
                    "Resources sent",
                    "Record resources sent",
                ),
                Step::ProfessionalReferral => FormView::new(
                    "professional-referrals",
                    action(step),
                    "Referral to professional help (tier 3)",
                    "Record referral",
                )
                .controls(vec![Control::select(
                    "service",
                    "Service",
                    &["employee_assistance", "psychology", "chaplaincy", "other"],
                    Some("Choose…"),
                )
                .required()]),
                Step::Escalation => FormView::new(
                    "escalations",
                    action(step),
                    "Escalation: a limit of confidentiality",
                    "Record escalation",
                )
                .controls(vec![Control::select(
                    "category",
                    "Category",
                    &[
                        "danger_to_self_or_others",
                        "impairment_putting_patients_at_risk",
                        "abuse_or_neglect",
                        "discrimination_harassment_or_retaliation",
                    ],
                    Some("Choose…"),
                )
                .required()
                .hint("The category only: never a narrative.")]),
                Step::Closure => {
                    FormView::new("closure", action(step), "Close the case", "Close case")
                        .controls(vec![Control::select(
                            "reason",
                            "Reason",
                            &["completed", "declined", "unreachable", "withdrawn"],
                            Some("Choose…"),
                        )
                        .required()])
                        .quiet()
                }
                Step::Reopening => {
                    FormView::new("reopening", action(step), "Reopen the case", "Reopen case")
                }
                Step::Assignment => unreachable!("filtered out above"),
            };
            form.version(version).finish(csrf, sent, failed)
        })
        .collect()
}

/// A fact of the case with the time the read model gives it.
pub(crate) struct Fact {
    pub at: String,
    pub at_iso: String,
    pub what: String,
}

/// The case's steps, oldest first, from the case timeline: each contact attempt, encounter and
/// referral on its own line, in words, with its codes; never anything said.
fn facts(steps: &[TimelineStep], clock: Clock) -> Vec<Fact> {
    steps
        .iter()
        .map(|step| Fact {
            at: clock.at(step.at),
            at_iso: step.at.to_rfc3339(),
            what: what_happened(step),
        })
        .collect()
}

/// A step in a manager's words.
fn what_happened(step: &TimelineStep) -> String {
    let code = |value: &Option<String>| words(value.as_deref().unwrap_or("unknown"));
    let report = || match &step.report {
        Some(report) => format!(" (report {} from {})", report.report_id, report.source),
        None => String::new(),
    };
    match step.step {
        StepKind::Opened => format!("Case opened: {}{}", code(&step.trigger), report()),
        StepKind::TriggerLinked => {
            format!(
                "Another trigger joined the case: {}{}",
                code(&step.trigger),
                report()
            )
        }
        StepKind::Cancelled => format!("Case cancelled: {}", code(&step.reason)),
        StepKind::SupporterAssigned => format!(
            "Supporter {} assigned",
            step.supporter_id.as_deref().unwrap_or("?")
        ),
        StepKind::ContactAttempted => format!(
            "Contact attempted by {}: {}",
            code(&step.channel),
            code(&step.outcome)
        ),
        StepKind::SupportDeclined => match step.resource_sheet_sent {
            Some(true) => "Member declined support (recorded then as \"resource sheet sent\", \
                           before sending was tracked: unverified)"
                .into(),
            _ => "Member declined support; the resource sheet follows by e-mail".into(),
        },
        StepKind::SupportAccepted => "Member accepted support".into(),
        StepKind::EncounterRecorded => format!(
            "Encounter held on {}: {}, {}, {}",
            step.held_on.map(|d| d.to_string()).unwrap_or_default(),
            code(&step.modality),
            code(&step.format),
            code(&step.duration)
        ),
        StepKind::ResourcesSent => {
            "Resources given by the supporter; the resource sheet follows by e-mail".into()
        }
        StepKind::ResourceSheetSent => "Resource sheet sent to the member's e-mail".into(),
        StepKind::ReferredToProfessionalHelp => {
            format!("Referred to professional help: {}", code(&step.service))
        }
        StepKind::EscalationRecorded => format!("Escalation recorded: {}", code(&step.category)),
        StepKind::Closed => match step.merged_into {
            Some(into) => format!("Case closed: merged into case {into}"),
            None => format!("Case closed: {}", code(&step.reason)),
        },
        StepKind::Reopened => "Case reopened".into(),
        StepKind::FirstContactDeadlinePassed => {
            "First-contact deadline passed without an attempt".into()
        }
    }
}

/// The case as the manager's page shows it.
pub(crate) struct CaseView {
    pub case_id: Uuid,
    pub version: u64,
    pub name: String,
    pub staff_id: String,
    pub role: String,
    pub discipline: String,
    pub department: String,
    pub seniority: String,
    pub involvement: String,
    pub email: String,
    pub phone: String,
    pub mobile: String,
    pub preferred_channel: String,
    pub status: String,
    pub trigger: String,
    pub place: String,
    pub supporter: String,
    pub deadline: String,
    pub overdue: bool,
    pub facts: Vec<Fact>,
    pub counts: Vec<(String, i64)>,
    /// Whether the resource sheets the case called for went out; `None` if it called for none.
    pub resource_sheet: Option<String>,
}

/// Each decline and each "resources given" sends the member a sheet; a sheet counts as sent
/// only once the mail server accepted it (its own step).
fn resource_sheet(steps: &[TimelineStep]) -> Option<String> {
    let called_for = steps
        .iter()
        .filter(|step| match step.step {
            StepKind::SupportDeclined => step.resource_sheet_sent.is_none(),
            StepKind::ResourcesSent => true,
            _ => false,
        })
        .count();
    let sent = steps
        .iter()
        .filter(|step| step.step == StepKind::ResourceSheetSent)
        .count();
    match (called_for, sent) {
        (0, 0) => None,
        (due, sent) if sent >= due => Some(format!("Sent ({sent})")),
        (due, sent) => Some(format!(
            "Not sent yet: {sent} of {due} sent. It goes out by e-mail as soon as the mail \
             server takes it; a member without an e-mail address needs it given by phone."
        )),
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.map(str::to_owned).unwrap_or_else(|| "—".into())
}

fn case_view(row: &CaseRow, steps: &[TimelineStep], clock: Clock) -> CaseView {
    let name = match (&row.given_name, &row.family_name) {
        (None, None) => "(personal data purged)".to_owned(),
        (given, family) => format!(
            "{} {}",
            given.as_deref().unwrap_or_default(),
            family.as_deref().unwrap_or_default()
        )
        .trim()
        .to_owned(),
    };
    let deadline = match (row.first_contacted_at, row.first_contact_due) {
        (Some(at), _) => format!("First contact attempted {}", clock.at(at)),
        (None, Some(due)) => format!("Due {} ({})", clock.at(due), time_left(due, Utc::now())),
        (None, None) => "No deadline".into(),
    };
    CaseView {
        case_id: row.case_id,
        version: cases::unsigned(row.version),
        name,
        staff_id: row.staff_id.clone(),
        role: row.role.clone(),
        discipline: capitalised(&words(&row.discipline)),
        department: row.department.clone(),
        seniority: or_dash(row.seniority.as_deref().map(words).as_deref()),
        involvement: capitalised(&words(&row.involvement)),
        email: or_dash(row.email.as_deref()),
        phone: or_dash(row.phone.as_deref()),
        mobile: or_dash(row.mobile.as_deref()),
        preferred_channel: or_dash(row.preferred_channel.as_deref()),
        status: capitalised(&words(&status_code(row.status))),
        trigger: capitalised(&words(&row.trigger_kind)),
        place: format!("{} · {}", row.campus, row.unit),
        supporter: or_dash(row.supporter_id.as_deref()),
        deadline,
        overdue: row.overdue,
        facts: facts(steps, clock),
        counts: vec![
            ("Contact attempts".into(), row.contact_attempts.into()),
            ("Encounters".into(), row.encounters.into()),
            ("Resources sent".into(), row.resources_sent.into()),
            (
                "Referrals to professional help".into(),
                row.referrals.into(),
            ),
            ("Escalations".into(), row.escalations.into()),
            ("Later triggers joined".into(), row.linked_triggers.into()),
        ],
        resource_sheet: resource_sheet(steps),
    }
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    nav: Nav,
    title: String,
    case: CaseView,
    notice: Option<&'static str>,
    candidates: Option<Candidates>,
    candidates_note: Option<String>,
    assignment_error: Option<String>,
    csrf: String,
    forms: Vec<FormView>,
}

impl CasePage {
    fn name(&self, given: &Option<String>, family: &Option<String>) -> String {
        format!(
            "{} {}",
            given.as_deref().unwrap_or_default(),
            family.as_deref().unwrap_or_default()
        )
        .trim()
        .to_owned()
    }
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

async fn case_page(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Path(case_id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    render(&page(&state, &signed_in, case_id, done.notice(), None).await?)
}

/// The page, with the form that was sent and refused when there is one.
async fn page(
    state: &WebState,
    signed_in: &SignedIn<RunTheProgram>,
    case_id: Uuid,
    notice: Option<&'static str>,
    refused: Option<(Step, &Values, &FieldErrors)>,
) -> Result<CasePage, PageError> {
    let nav = signed_in.nav("/dashboard/queue");
    let api = &state.api;
    let row = cases::find_case(&api.pool, case_id)
        .await?
        .ok_or_else(|| PageError::from(ApiError::CaseNotFound).with_nav(nav.clone()))?;
    // As the JSON API does: the read is on record before the member's data is served.
    access_audit::record(
        &api.pool,
        &signed_in.caller,
        "GET /dashboard/cases/{case_id}",
        Read::Cases(&[case_id]),
    )
    .await?;
    let clock = Clock {
        zone: api.commands.policies().deadlines.calendar.time_zone,
    };
    let (candidates, candidates_note) = match matching::ranked(api, case_id).await {
        Ok(candidates) => (Some(candidates), None),
        Err(ApiError::CaseNotFound) => (
            None,
            Some("Candidates appear once matching has taken the case in (a moment).".into()),
        ),
        Err(ApiError::Refused { .. }) => (
            None,
            Some("The case is closed: nobody is matched to it.".into()),
        ),
        Err(other) => return Err(other.into()),
    };
    let failed = refused.map(|(step, _, _)| step.path());
    let sent = refused.map(|(_, values, errors)| (values, errors));
    let assignment_error = match refused {
        Some((Step::Assignment, _, errors)) => errors
            .keys()
            .next()
            .and_then(|key| errors.get(key))
            .map(str::to_owned),
        _ => None,
    };
    let steps = case_timeline::steps(&api.pool, case_id).await?;
    let view = case_view(&row, &steps, clock);
    let today = Utc::now()
        .with_timezone(&clock.zone)
        .date_naive()
        .to_string();
    let forms = step_forms(
        &format!("/dashboard/cases/{case_id}"),
        &Step::fitting(row.status, true),
        view.version,
        &signed_in.csrf,
        sent,
        failed,
        &today,
    );
    Ok(CasePage {
        nav,
        title: format!("Case of {}", view.name),
        case: view,
        notice,
        candidates,
        candidates_note,
        assignment_error,
        csrf: signed_in.csrf.clone(),
        forms,
    })
}

async fn record_step(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Path((case_id, step)): Path<(Uuid, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let step = Step::from_path(&step).ok_or(ApiError::RouteNotFound)?;
    let form = Form::parse(&body)?;
    signed_in.check_csrf(form.get("csrf"))?;
    match perform(&state.api, &signed_in.caller, case_id, step, &form).await {
        Ok(version) => {
            read_model_reaches(&state.api.pool, case_id, version).await;
            Ok(
                Redirect::to(&format!("/dashboard/cases/{case_id}?done={}", step.path()))
                    .into_response(),
            )
        }
        Err(error) => {
            let status = refusal_status(&error);
            let errors = FieldErrors::from_refusal(step.path(), error, RULE_FIELDS)?;
            let page = page(
                &state,
                &signed_in,
                case_id,
                None,
                Some((step, &form.values(), &errors)),
            )
            .await?;
            Ok((status, render(&page)?).into_response())
        }
    }
}

/// 409 when the case changed under the form, 422 for any other refusal.
pub(crate) fn refusal_status(error: &ApiError) -> StatusCode {
    match error {
        ApiError::StaleVersion { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}
