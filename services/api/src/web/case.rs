//! A case, for program managers: its facts in time order, the ranked candidates with their
//! reasons and exclusions, assignment in one click, and a form for each lifecycle step that
//! fits where the case stands. The steps are the JSON API's commands, with its request bodies,
//! rules and `If-Match` (the version the page was rendered at); supporters record the same
//! steps from their own pages ([`super::my_cases`]).

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use uuid::Uuid;

use super::forms::{FieldErrors, Values};
use super::queue::status_code;
use super::steps::{perform, read_model_reaches, step_forms, Done, Step};
use super::view::{capitalised, time_left, who, words, Clock, FormView, Nav};
use super::{form_routes, render, PageError, SignedIn, WebState};
use crate::access::RunTheProgram;
use crate::access_audit::{self, Read};
use crate::case_timeline::{self, Authors, StepKind, TimelineStep};
use crate::cases::{self, ShownCase};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::matching::{self, Candidates};

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/cases/{case_id}", get(case_page))
        .route(form_routes::CASE_STEP, post(record_step))
}

/// A fact of the case with the time the read model gives it.
pub(crate) struct Fact {
    pub at: String,
    pub at_iso: String,
    pub what: String,
    /// Who took the step, in words: for the program director only (empty otherwise).
    pub by: String,
}

/// The case's steps, oldest first, from the case timeline: each contact attempt, encounter and
/// referral on its own line, in words, with its codes; never anything said.
fn facts(steps: &[TimelineStep], clock: Clock) -> Vec<Fact> {
    steps
        .iter()
        .map(|step| Fact {
            at: clock.at(step.at),
            at_iso: step.at.to_rfc3339(),
            what: what_happened(step, clock),
            by: step.author.as_ref().map(who).unwrap_or_default(),
        })
        .collect()
}

/// A step in a manager's words.
fn what_happened(step: &TimelineStep, clock: Clock) -> String {
    let code = |value: &Option<String>| words(value.as_deref().unwrap_or("unknown"));
    let report = || match &step.report {
        Some(report) => format!(" (report {} from {})", report.report_id, report.source),
        None => String::new(),
    };
    match step.step {
        StepKind::Opened if step.urgent == Some(true) => {
            format!("Case opened as urgent: {}{}", code(&step.trigger), report())
        }
        StepKind::Opened => format!("Case opened: {}{}", code(&step.trigger), report()),
        // An urgent report joining a routine case changes what the program owes the member.
        StepKind::TriggerLinked if step.urgent == Some(true) => {
            let deadline = match step.first_contact_due {
                Some(due) => format!("first contact is now due by {}", clock.at(due)),
                None => "first contact had been made".into(),
            };
            format!(
                "An urgent report joined the case: {}{}; the case is now urgent and {deadline}",
                code(&step.trigger),
                report()
            )
        }
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
        StepKind::ContactToConfirm => {
            "The referrer's contact details are held until the program confirms them".into()
        }
        StepKind::ContactConfirmed => match step.reason.as_deref() {
            Some("as_suggested") => "Contact details confirmed as the referrer gave them".into(),
            _ => "Contact details confirmed: replaced with details the program entered".into(),
        },
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
    /// Opened urgent, or made urgent by a report that joined it.
    pub urgent: bool,
    pub facts: Vec<Fact>,
    pub counts: Vec<(String, i64)>,
    /// Whether the resource sheets the case called for went out; `None` if it called for none.
    pub resource_sheet: Option<String>,
    /// The member's contact details are a referrer's suggestion, waiting for confirmation.
    pub contact_to_confirm: bool,
    /// That suggestion, in one line (`None` when there is none, or it was purged).
    pub suggested: Option<String>,
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

fn case_view(shown: &ShownCase, steps: &[TimelineStep], clock: Clock) -> CaseView {
    let row = &shown.row;
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
        overdue: shown.overdue,
        urgent: row.urgent,
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
        contact_to_confirm: row.contact_to_confirm,
        suggested: row.suggested_contact.as_ref().map(|held| {
            let held = &held.0;
            [
                held.email.as_deref().map(|e| format!("e-mail {e}")),
                held.phone.as_deref().map(|p| format!("phone {p}")),
                held.mobile.as_deref().map(|m| format!("mobile {m}")),
                held.preferred_channel
                    .as_deref()
                    .map(|c| format!("prefers {}", words(c))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
        }),
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
    let case = cases::find_case(&api.pool, case_id)
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
    let authors = Authors::for_caller(&signed_in.caller);
    let steps = case_timeline::steps(&api.pool, case_id, authors).await?;
    let view = case_view(&case, &steps, clock);
    let today = Utc::now()
        .with_timezone(&clock.zone)
        .date_naive()
        .to_string();
    let mut shown = Step::shown(case.row.status, true, refused.map(|(step, _, _)| step));
    if case.row.contact_to_confirm {
        // Nobody reaches out before the contact details are confirmed: that comes first.
        shown.retain(|step| *step != Step::ContactAttempt);
        if !shown.contains(&Step::ContactConfirmation) {
            shown.insert(0, Step::ContactConfirmation);
        }
    }
    let forms = step_forms(
        &format!("/dashboard/cases/{case_id}"),
        &shown,
        case.row.status,
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
    signed_in.check_form(&body)?;
    match perform(&state.api, &signed_in.caller, case_id, step, &body).await {
        Ok(version) => {
            read_model_reaches(&state.api.pool, case_id, version).await;
            Ok(
                Redirect::to(&format!("/dashboard/cases/{case_id}?done={}", step.path()))
                    .into_response(),
            )
        }
        Err(refusal) => {
            let (status, errors) = refusal.messages(step)?;
            let sent = Values::sent(&body);
            let page = page(
                &state,
                &signed_in,
                case_id,
                None,
                Some((step, &sent, &errors)),
            )
            .await?;
            Ok((status, render(&page)?).into_response())
        }
    }
}
