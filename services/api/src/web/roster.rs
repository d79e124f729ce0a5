//! The roster, for program managers: supporters with their capacity and availability; adding,
//! editing, pausing and resuming them. A form becomes the JSON API's roster entry and goes
//! through its checks and command; the list is the API's roster query.

use std::time::Duration;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use outreach_domain::SupporterCommand;
use outreach_events::care_team_member::Gender;
use outreach_events::supporter::{Day, TrainingStatus};
use outreach_events::{Discipline, Seniority};
use serde::Deserialize;

use super::forms::{self, FieldErrors, Values};
use super::roster_form::{form_field, EntryForm, FORM, ON_CALL_ROWS};
use super::view::{capitalised, words, Control, FormView, Nav};
use super::{form_routes, render, PageError, SignedIn, WebState};
use crate::access::RunTheProgram;
use crate::attribution::By;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::supporters::{self, RosterEntry, RosterFilter, Supporter};

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route(form_routes::ROSTER, get(list).post(add))
        .route("/roster/new", get(new_form))
        .route(form_routes::ROSTER_ENTRY, get(edit_form).post(change))
        .route(form_routes::ROSTER_SWITCH, post(pause_or_resume))
}

/// A supporter as the roster's table shows them.
struct RosterRow {
    staff_id: String,
    name: String,
    place: String,
    discipline: String,
    seniority: String,
    training: String,
    caseload: String,
    availability: String,
    paused: bool,
}

fn roster_row(supporter: &Supporter) -> RosterRow {
    let hours: Vec<String> = supporter.availability["weekly_hours"]
        .as_array()
        .map(|hours| {
            hours
                .iter()
                .map(|h| {
                    format!(
                        "{} {}–{}",
                        capitalised(h["day"].as_str().unwrap_or_default()),
                        short_time(h["starts"].as_str().unwrap_or_default()),
                        short_time(h["ends"].as_str().unwrap_or_default())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let on_call = supporter.availability["on_call"]
        .as_array()
        .map_or(0, Vec::len);
    let mut availability = if hours.is_empty() {
        "Any time".to_owned()
    } else {
        hours.join(", ")
    };
    if on_call > 0 {
        availability.push_str(&format!(
            "; on call in {on_call} period{}",
            if on_call == 1 { "" } else { "s" }
        ));
    }
    RosterRow {
        staff_id: supporter.staff_id.clone(),
        name: format!(
            "{} {}",
            supporter.given_name.as_deref().unwrap_or_default(),
            supporter.family_name.as_deref().unwrap_or_default()
        )
        .trim()
        .to_owned(),
        place: format!("{} · {}", supporter.campus, supporter.department),
        discipline: capitalised(&words(&supporter.discipline)),
        seniority: capitalised(&words(&supporter.seniority)),
        training: capitalised(&words(&supporter.training_status)),
        caseload: format!("{} of {}", supporter.open_cases, supporter.capacity),
        availability,
        paused: supporter.paused,
    }
}

fn short_time(time: &str) -> &str {
    time.get(..5).unwrap_or(time)
}

#[derive(Template)]
#[template(path = "roster.html")]
struct RosterPage {
    nav: Nav,
    title: String,
    rows: Vec<RosterRow>,
    csrf: String,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct Done {
    #[serde(default)]
    done: Option<String>,
}

async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    let supporters = supporters::roster(
        &state.api.pool,
        &RosterFilter {
            campus: None,
            paused: None,
        },
    )
    .await?;
    let notice = match done.done.as_deref() {
        Some("added") => Some("The supporter is on the roster.".to_owned()),
        Some("changed") => Some("The roster entry is changed.".to_owned()),
        Some("paused") => Some("The supporter is paused: no new cases until resumed.".to_owned()),
        Some("resumed") => Some("The supporter takes new cases again.".to_owned()),
        _ => None,
    };
    render(&RosterPage {
        nav: signed_in.nav("/dashboard/roster"),
        title: "Roster".into(),
        rows: supporters.iter().map(roster_row).collect(),
        csrf: signed_in.csrf.clone(),
        notice,
    })
}

#[derive(Template)]
#[template(path = "supporter_form.html")]
struct SupporterFormPage {
    nav: Nav,
    title: String,
    form: FormView,
    errors: Vec<(String, String)>,
}

/// The roster entry's form, with `values` (as sent, or as on the roster).
fn entry_form(
    state: &WebState,
    csrf: &str,
    editing: Option<&str>,
    values: &Values,
    errors: &FieldErrors,
) -> FormView {
    let campuses: Vec<&str> = state
        .api
        .commands
        .policies()
        .roster
        .campuses
        .iter()
        .map(String::as_str)
        .collect();
    let mut campus = if campuses.is_empty() {
        Control::text("campus", "Campus")
    } else {
        let mut select = Control::select("campus", "Campus", &campuses, Some("Choose…"));
        // Campus names are shown as they are written.
        for choice in &mut select.options {
            if !choice.value.is_empty() {
                choice.label = choice.value.clone();
            }
        }
        select
    };
    campus = campus.required();
    let mut controls = vec![
        match editing {
            Some(_) => Control::text("staff_id", "Staff id")
                .hint("A roster entry keeps its staff id.")
                .required(),
            None => Control::text("staff_id", "Staff id")
                .required()
                .max_length(64),
        },
        Control::text("given_name", "Given name").required(),
        Control::text("family_name", "Family name").required(),
        Control::input("email", "E-mail", "email")
            .required()
            .max_length(254)
            .hint("Where assignment notices are sent."),
        Control::input("phone", "Phone", "tel").max_length(33),
        Control::select(
            "gender",
            "Gender",
            &Gender::ALL.map(Gender::as_str),
            Some("Not stated"),
        )
        .hint("Only as the supporter describes themselves, and only if they wish."),
        campus,
        Control::text("department", "Department").required(),
        Control::select(
            "discipline",
            "Discipline",
            &Discipline::ALL.map(Discipline::as_str),
            Some("Choose…"),
        )
        .required(),
        Control::text("specialty", "Specialty"),
        Control::select(
            "seniority",
            "Seniority",
            &Seniority::ALL.map(Seniority::as_str),
            Some("Choose…"),
        )
        .required(),
        Control::text("languages", "Languages")
            .max_length(400)
            .hint("Separated by commas, e.g. en, es."),
        Control::text("interests", "Areas of interest")
            .max_length(1000)
            .hint("Separated by commas, e.g. litigation stress."),
        Control::select(
            "training.status",
            "Training",
            &TrainingStatus::ALL.map(TrainingStatus::as_str),
            Some("Choose…"),
        )
        .required(),
        Control::input("training.completed_on", "Training completed on", "date")
            .hint("Required once trained."),
        Control::input("capacity", "Capacity", "number")
            .required()
            .hint("The most cases the supporter holds at once, 0 to 20."),
    ];
    for day in Day::ALL.map(Day::as_str) {
        let label = capitalised(day);
        controls.push(
            Control::input(
                &format!("hours.{day}.starts"),
                &format!("{label} from"),
                "time",
            )
            .hint(if day == "monday" {
                "Weekly hours in the program's time zone; none at all: any time."
            } else {
                ""
            }),
        );
        controls.push(Control::input(
            &format!("hours.{day}.ends"),
            &format!("{label} until"),
            "time",
        ));
    }
    for row in 0..ON_CALL_ROWS {
        let n = row + 1;
        controls.push(Control::input(
            &format!("on_call[{row}].starts"),
            &format!("On-call period {n} from"),
            "date",
        ));
        controls.push(Control::input(
            &format!("on_call[{row}].ends"),
            &format!("On-call period {n} until"),
            "date",
        ));
    }
    for control in &mut controls {
        if control.hint.as_deref() == Some("") {
            control.hint = None;
        }
        control.value = values.get(&control.name).to_owned();
    }
    let (action, title, submit) = match editing {
        Some(staff_id) => (
            format!("/dashboard/roster/{staff_id}"),
            "Roster entry",
            "Save changes",
        ),
        None => (
            "/dashboard/roster".to_owned(),
            "New roster entry",
            "Put on the roster",
        ),
    };
    FormView::new("roster", action, title, submit)
        .on_its_own()
        .controls(controls)
        .finish(csrf, Some((values, errors)), Some("roster"))
}

/// A supporter's entry as form values, to edit it.
fn values_of(supporter: &Supporter) -> Values {
    let mut values = Values::default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    values.set("staff_id", &supporter.staff_id);
    values.set("given_name", text(&supporter.given_name));
    values.set("family_name", text(&supporter.family_name));
    values.set("email", text(&supporter.email));
    values.set("phone", text(&supporter.phone));
    values.set("gender", text(&supporter.gender));
    values.set("campus", &supporter.campus);
    values.set("department", &supporter.department);
    values.set("discipline", &supporter.discipline);
    values.set("specialty", text(&supporter.specialty));
    values.set("seniority", &supporter.seniority);
    values.set("languages", supporter.languages.join(", "));
    values.set("interests", supporter.interests.join(", "));
    values.set("training.status", &supporter.training_status);
    values.set(
        "training.completed_on",
        supporter
            .trained_on
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    values.set("capacity", supporter.capacity.to_string());
    for hours in supporter.availability["weekly_hours"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let day = hours["day"].as_str().unwrap_or_default();
        values.set(
            &format!("hours.{day}.starts"),
            short_time(hours["starts"].as_str().unwrap_or_default()),
        );
        values.set(
            &format!("hours.{day}.ends"),
            short_time(hours["ends"].as_str().unwrap_or_default()),
        );
    }
    for (row, period) in supporter.availability["on_call"]
        .as_array()
        .into_iter()
        .flatten()
        .take(ON_CALL_ROWS)
        .enumerate()
    {
        values.set(
            &format!("on_call[{row}].starts"),
            period["starts"].as_str().unwrap_or_default(),
        );
        values.set(
            &format!("on_call[{row}].ends"),
            period["ends"].as_str().unwrap_or_default(),
        );
    }
    values
}

/// A refusal of the API as messages next to the roster form's fields.
fn refusal(error: ApiError, entry: &RosterEntry) -> Result<FieldErrors, ApiError> {
    let errors = FieldErrors::from_refusal(FORM, error, &[])?;
    let mut mapped = FieldErrors::default();
    for key in errors.keys() {
        let message = errors.get(key).unwrap_or_default();
        match key.strip_prefix("roster.") {
            Some(path) => mapped.add(format!("roster.{}", form_field(entry, path)), message),
            None => mapped.add(key.clone(), message),
        }
    }
    Ok(mapped)
}

async fn new_form(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
) -> Result<Html<String>, PageError> {
    let mut values = Values::default();
    values.set("capacity", "3");
    values.set("training.status", "trained");
    render(&form_page(
        &state,
        &signed_in,
        None,
        &values,
        &FieldErrors::default(),
    ))
}

async fn edit_form(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Path(staff_id): Path<String>,
) -> Result<Html<String>, PageError> {
    let nav = signed_in.nav("/dashboard/roster");
    let supporter = supporters::roster_entry(&state.api.pool, &staff_id)
        .await?
        .ok_or_else(|| PageError::from(ApiError::SupporterNotFound).with_nav(nav))?;
    render(&form_page(
        &state,
        &signed_in,
        Some(&supporter.staff_id),
        &values_of(&supporter),
        &FieldErrors::default(),
    ))
}

fn form_page(
    state: &WebState,
    signed_in: &SignedIn<RunTheProgram>,
    editing: Option<&str>,
    values: &Values,
    errors: &FieldErrors,
) -> SupporterFormPage {
    let form = entry_form(state, &signed_in.csrf, editing, values, errors);
    let summary = form
        .controls
        .iter()
        .filter_map(|c| {
            Some((
                c.id.clone(),
                format!("{}: {}", c.label, c.error.as_deref()?),
            ))
        })
        .collect();
    SupporterFormPage {
        nav: signed_in.nav("/dashboard/roster"),
        title: match editing {
            Some(staff_id) => format!("Edit {staff_id}"),
            None => "Add a supporter".to_owned(),
        },
        form,
        errors: summary,
    }
}

async fn add(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    body: Bytes,
) -> Result<Response, PageError> {
    save(state, signed_in, None, body).await
}

async fn change(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Path(staff_id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    save(state, signed_in, Some(staff_id), body).await
}

async fn save(
    state: WebState,
    signed_in: SignedIn<RunTheProgram>,
    editing: Option<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.check_form(&body)?;
    let refused = |errors: FieldErrors| -> Result<Response, PageError> {
        let sent = Values::sent(&body);
        let page = form_page(&state, &signed_in, editing.as_deref(), &sent, &errors);
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let entry = match forms::read::<EntryForm>(FORM, &body).and_then(EntryForm::entry) {
        Ok(entry) => entry,
        Err(errors) => return refused(errors),
    };
    // Where each value is on the form, should the API refuse one: the entry is sent on.
    let on_form = |error| refusal(error, &entry);
    let by = By::dashboard(&signed_in.caller);
    let saved = match &editing {
        Some(staff_id) => supporters::change(&state.api, by, staff_id.clone(), entry.clone()).await,
        None => supporters::add(&state.api, by, entry.clone()).await,
    };
    match saved {
        Ok(saved) => {
            roster_reaches(&state.api.pool, &saved.staff_id, saved.version).await;
            let done = if editing.is_some() {
                "changed"
            } else {
                "added"
            };
            Ok(Redirect::to(&format!("/dashboard/roster?done={done}")).into_response())
        }
        Err(error) => refused(on_form(error)?),
    }
}

/// The roster's switches, `{switch}` of [`form_routes::ROSTER_SWITCH`]: pause, resume.
pub(crate) const SWITCHES: [&str; 2] = ["pause", "resume"];

async fn pause_or_resume(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Path((staff_id, switch)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.check_form(&body)?;
    forms::only_csrf(&body)?;
    let at = chrono::Utc::now();
    let (command, done) = match switch.as_str() {
        s if s == SWITCHES[0] => (SupporterCommand::Pause { at }, "paused"),
        s if s == SWITCHES[1] => (SupporterCommand::Resume { at }, "resumed"),
        _ => return Err(ApiError::RouteNotFound.into()),
    };
    let nav = signed_in.nav("/dashboard/roster");
    let by = By::dashboard(&signed_in.caller);
    let saved = supporters::on_or_off(&state.api, by, staff_id, command)
        .await
        .map_err(|e| PageError::from(e).with_nav(nav))?;
    roster_reaches(&state.api.pool, &saved.staff_id, saved.version).await;
    Ok(Redirect::to(&format!("/dashboard/roster?done={done}")).into_response())
}

/// Waits (a few seconds at most) until the roster read model shows the supporter at `version`.
async fn roster_reaches(pool: &sqlx::PgPool, staff_id: &str, version: u64) {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    for _ in 0..60 {
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT version FROM roster_supporters WHERE staff_id = $1")
                .bind(staff_id)
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
