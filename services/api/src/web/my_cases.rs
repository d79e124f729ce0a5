//! A supporter's own cases: the member's name, contact details and preferences, and nothing
//! else about the case or the report (the JSON API's `/v1/my/cases` query, audited the same
//! way); forms for the steps of outreach a supporter records.

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
use super::view::{capitalised, time_left, words, Clock, FormView, Nav};
use super::{form_routes, render, PageError, SignedIn, WebState};
use crate::access::Support;
use crate::access_audit::{self, Read};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::my_cases::{supported, SupportedCase};

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/my-cases", get(list))
        .route("/my-cases/{case_id}", get(one))
        .route(form_routes::MY_CASE_STEP, post(record_step))
}

/// A supported case as its page shows it: who to reach, how, and what they asked for.
pub(crate) struct SupportedView {
    pub case_id: Uuid,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub mobile: String,
    pub preferred_channel: String,
    pub preferences: Vec<(String, String)>,
    pub status: String,
    pub deadline: String,
}

fn view(case: &SupportedCase, clock: Clock) -> SupportedView {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let name = format!(
        "{} {}",
        case.name.given.as_deref().unwrap_or_default(),
        case.name.family.as_deref().unwrap_or_default()
    )
    .trim()
    .to_owned();
    let preferences = case
        .preferences
        .as_ref()
        .and_then(|p| p.as_object())
        .map(|stated| {
            stated
                .iter()
                .filter_map(|(key, value)| {
                    let value = value.as_str()?;
                    Some((capitalised(&words(key)), capitalised(&words(value))))
                })
                .collect()
        })
        .unwrap_or_default();
    let deadline = match case.first_contact_due {
        Some(due) => format!("{} ({})", clock.at(due), time_left(due, Utc::now())),
        None => "—".into(),
    };
    SupportedView {
        case_id: case.case_id,
        name: if name.is_empty() {
            "(personal data purged)".into()
        } else {
            name
        },
        email: dash(&case.contact.email),
        phone: dash(&case.contact.phone),
        mobile: dash(&case.contact.mobile),
        preferred_channel: dash(&case.contact.preferred_channel),
        preferences,
        status: capitalised(&words(&status_code(case.status))),
        deadline,
    }
}

fn clock(state: &WebState) -> Clock {
    Clock {
        zone: state.api.commands.policies().deadlines.calendar.time_zone,
    }
}

#[derive(Template)]
#[template(path = "my_cases.html")]
struct MyCasesPage {
    nav: Nav,
    title: String,
    cases: Vec<SupportedView>,
}

async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn<Support>,
) -> Result<Html<String>, PageError> {
    let cases = supported(&state.api, &signed_in.caller, None).await?;
    let ids: Vec<Uuid> = cases.iter().map(|case| case.case_id).collect();
    access_audit::record(
        &state.api.pool,
        &signed_in.caller,
        "GET /dashboard/my-cases",
        Read::Cases(&ids),
    )
    .await?;
    let clock = clock(&state);
    render(&MyCasesPage {
        nav: signed_in.nav("/dashboard/my-cases"),
        title: "My cases".into(),
        cases: cases.iter().map(|case| view(case, clock)).collect(),
    })
}

#[derive(Template)]
#[template(path = "my_case.html")]
struct MyCasePage {
    nav: Nav,
    title: String,
    case: SupportedView,
    notice: Option<&'static str>,
    forms: Vec<FormView>,
    /// Where a member can be referred on (tier 3), the crisis line included.
    tier_three: Vec<outreach_domain::resources::Resource>,
}

async fn one(
    State(state): State<WebState>,
    signed_in: SignedIn<Support>,
    Path(case_id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    render(&page(&state, &signed_in, case_id, done.notice(), None).await?)
}

async fn page(
    state: &WebState,
    signed_in: &SignedIn<Support>,
    case_id: Uuid,
    notice: Option<&'static str>,
    refused: Option<(Step, &Values, &FieldErrors)>,
) -> Result<MyCasePage, PageError> {
    let nav = signed_in.nav("/dashboard/my-cases");
    // Another supporter's case is not found, as in the JSON API.
    let case = supported(&state.api, &signed_in.caller, Some(case_id))
        .await?
        .pop()
        .ok_or_else(|| PageError::from(ApiError::CaseNotFound).with_nav(nav.clone()))?;
    access_audit::record(
        &state.api.pool,
        &signed_in.caller,
        "GET /dashboard/my-cases/{case_id}",
        Read::Cases(&[case_id]),
    )
    .await?;
    let clock = clock(state);
    let today = Utc::now()
        .with_timezone(&clock.zone)
        .date_naive()
        .to_string();
    let forms = step_forms(
        &format!("/dashboard/my-cases/{case_id}"),
        &Step::shown(case.status, false, refused.map(|(step, _, _)| step)),
        case.status,
        case.version,
        &signed_in.csrf,
        refused.map(|(_, values, errors)| (values, errors)),
        refused.map(|(step, _, _)| step.path()),
        &today,
    );
    let case = view(&case, clock);
    Ok(MyCasePage {
        nav,
        title: format!("Supporting {}", case.name),
        case,
        notice,
        forms,
        tier_three: state.dashboard.resources.tier_three().cloned().collect(),
    })
}

async fn record_step(
    State(state): State<WebState>,
    signed_in: SignedIn<Support>,
    Path((case_id, step)): Path<(Uuid, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let step = Step::from_path(&step).ok_or(ApiError::RouteNotFound)?;
    signed_in.check_form(&body)?;
    let nav = signed_in.nav("/dashboard/my-cases");
    match perform(&state.api, &signed_in.caller, case_id, step, &body).await {
        Ok(version) => {
            read_model_reaches(&state.api.pool, case_id, version).await;
            Ok(Redirect::to(&format!(
                "/dashboard/my-cases/{case_id}?done={}",
                step.path()
            ))
            .into_response())
        }
        Err(refusal) => {
            let (status, errors) = refusal
                .messages(step)
                .map_err(|e| PageError::from(e).with_nav(nav))?;
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
