//! A care team member's own page, `/dashboard/my-support`: their open request (that it arrived,
//! its status, the assigned supporter's name once assigned, when first contact is due), opting
//! out of automatic outreach and back in, and their preferences about the supporter.
//!
//! The page is about the signed-in caller only: it takes no id from the URL, it reads the caller's
//! staff id from their session. Commands go through the JSON API's own functions
//! (`members::set_opted_out`, `members::state_member_preferences`), attributed to the dashboard;
//! the read is in the access audit as the member reading their own record. Nothing the program's
//! staff know about the conversation is shown (nothing is kept, by design).
//!
//! The page speaks the member's stated language, else their browser's, else the program's
//! default.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use outreach_events::care_team_member::{
    DepartmentPreference, Gender as SupporterGender, SeniorityPreference,
};
use outreach_events::Channel;
use outreach_texts::Language;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::feedback::{browser_language, MemberNav};
use super::forms::{self, Values};
use super::{form_routes, render, PageError, SignedIn, WebState};
use crate::access::ActAsMember;
use crate::access_audit::{self, Read};
use crate::attribution::By;
use crate::cases::CaseStatus;
use crate::error::ApiError;
use crate::extract::Query;
use crate::members::{set_opted_out, state_member_preferences, ShortText, StatePreferences};

const PAGE: &str = "/dashboard/my-support";

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/my-support", get(show))
        .route(form_routes::OPT_OUT, post(opt_out))
        .route(form_routes::OPT_IN, post(opt_in))
        .route(form_routes::PREFERENCES, post(preferences))
}

/// The member's open case as the read model has it: theirs only, found by their staff id.
#[derive(sqlx::FromRow)]
struct OwnCase {
    status: CaseStatus,
    opened_at: DateTime<Utc>,
    first_contact_due: Option<DateTime<Utc>>,
    supporter_id: Option<String>,
    supporter_given: Option<String>,
    supporter_family: Option<String>,
}

/// The request as the page shows it.
struct RequestView {
    arrived: Option<String>,
    status: String,
    supporter: String,
    due: String,
}

/// A select of the preferences form: `(value, label, selected)`.
struct Question {
    name: &'static str,
    label: String,
    hint: Option<String>,
    options: Vec<(String, String, bool)>,
    invalid: bool,
}

#[derive(Template)]
#[template(path = "my_support.html")]
struct SupportPage {
    lang: Language,
    member_nav: Option<MemberNav>,
    title: String,
    csrf: String,
    notice: Option<String>,
    request: Option<RequestView>,
    opted_out: bool,
    questions: Vec<Question>,
    specialty: String,
    specialty_invalid: bool,
    refused: bool,
}

#[derive(Deserialize)]
struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// The caller's own staff id: a member's page is of someone.
fn own_staff_id(signed_in: &SignedIn<ActAsMember>) -> Result<String, PageError> {
    signed_in
        .caller
        .0
        .staff_id
        .clone()
        .ok_or_else(|| PageError::from(ApiError::Forbidden))
}

async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn<ActAsMember>,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    let notice = match done.done.as_deref() {
        Some("opted-out") => Some("done-opted-out"),
        Some("opted-in") => Some("done-opted-in"),
        Some("preferences") => Some("done-preferences"),
        _ => None,
    };
    let page = page(&state, &signed_in, &headers, notice, None).await?;
    render(&page)
}

/// The page; `refused` is a preferences form sent back, with the fields it was refused for.
async fn page(
    state: &WebState,
    signed_in: &SignedIn<ActAsMember>,
    headers: &HeaderMap,
    notice: Option<&str>,
    refused: Option<(&Values, &[&str])>,
) -> Result<SupportPage, PageError> {
    let staff_id = own_staff_id(signed_in)?;
    let (member, version) = state
        .api
        .commands
        .member(&staff_id)
        .await
        .map_err(ApiError::from)?;
    let stated = member.preferences();
    let lang = Language::negotiate(
        stated.supporter_language.as_deref(),
        None,
        browser_language(&state.api, headers),
    );
    let case: Option<OwnCase> = sqlx::query_as(
        "SELECT c.status, c.opened_at, c.first_contact_due, c.supporter_id,
                r.given_name AS supporter_given, r.family_name AS supporter_family
           FROM outreach_cases c
           LEFT JOIN roster_supporters r ON r.staff_id = c.supporter_id
          WHERE c.staff_id = $1 AND c.closed_at IS NULL AND c.status <> 'cancelled'
          ORDER BY c.opened_at DESC
          LIMIT 1",
    )
    .bind(&staff_id)
    .fetch_optional(&state.api.pool)
    .await
    .map_err(ApiError::from)?;
    if version > 0 || case.is_some() {
        // The member's record id is derived under their data key: the audit names the record
        // a purge makes unlinkable, never the staff id.
        let member_id = state
            .api
            .commands
            .member_id(&staff_id)
            .await
            .map_err(ApiError::from)?;
        access_audit::record(
            &state.api.pool,
            &signed_in.caller,
            "GET /dashboard/my-support",
            Read::OwnRecord(member_id),
        )
        .await?;
    }
    let zone = state.api.commands.policies().deadlines.calendar.time_zone;
    let request = match case {
        Some(case) => Some(request_view(lang, &case, zone, Utc::now())),
        // Opened on the event store, not in the read model yet.
        None if member.open_case().is_some() => Some(RequestView {
            arrived: None,
            status: lang.text("status-open"),
            supporter: lang.text("support-supporter-none"),
            due: lang.text("support-due-none"),
        }),
        None => None,
    };
    let (invalid, values) = match refused {
        Some((values, invalid)) => (invalid, Some(values)),
        None => (&[][..], None),
    };
    let chosen = |name: &str, stated: Option<&str>| -> String {
        match values {
            Some(values) => values.get(name).to_owned(),
            None => stated.unwrap_or_default().to_owned(),
        }
    };
    let select = |name: &'static str, key: &str, codes: &[&str], stated: Option<&str>| {
        let chosen = chosen(name, stated);
        let mut options = vec![(
            String::new(),
            lang.text("pref-no-preference"),
            chosen.is_empty(),
        )];
        options.extend(codes.iter().map(|code| {
            (
                (*code).to_owned(),
                lang.text(&format!("{key}-{code}")),
                chosen == *code,
            )
        }));
        Question {
            name,
            label: lang.text(key),
            hint: None,
            options,
            invalid: invalid.contains(&name),
        }
    };
    let mut language = select(
        "supporter_language",
        "pref-language",
        &Language::ALL.map(Language::code),
        stated.supporter_language.as_deref(),
    );
    language.hint = Some(lang.text("pref-language-hint"));
    // A language stated through the API that these pages do not speak stays as it was.
    let current = chosen("supporter_language", stated.supporter_language.as_deref());
    if !current.is_empty() && !["en", "es"].contains(&current.as_str()) {
        language.options.push((current.clone(), current, true));
    }
    let questions = vec![
        select(
            "channel",
            "pref-channel",
            &Channel::ALL.map(Channel::as_str),
            stated.channel.map(|c| c.as_str()),
        ),
        select(
            "supporter_gender",
            "pref-gender",
            &SupporterGender::ALL.map(SupporterGender::as_str),
            code(&stated.supporter_gender).as_deref(),
        ),
        select(
            "supporter_department",
            "pref-department",
            &DepartmentPreference::ALL.map(DepartmentPreference::as_str),
            code(&stated.supporter_department).as_deref(),
        ),
        select(
            "supporter_seniority",
            "pref-seniority",
            &SeniorityPreference::ALL.map(SeniorityPreference::as_str),
            code(&stated.supporter_seniority).as_deref(),
        ),
        language,
    ];
    Ok(SupportPage {
        lang,
        member_nav: Some(MemberNav {
            csrf: signed_in.csrf.clone(),
            current: "my-support",
        }),
        title: lang.text("support-title"),
        csrf: signed_in.csrf.clone(),
        notice: notice.map(|id| lang.text(id)),
        request,
        opted_out: member.opted_out(),
        questions,
        specialty: chosen("supporter_specialty", stated.supporter_specialty.as_deref()),
        specialty_invalid: invalid.contains(&"supporter_specialty"),
        refused: refused.is_some(),
    })
}

/// A code as the API and the forms write it (`own_department`).
fn code<T: serde::Serialize>(value: &Option<T>) -> Option<String> {
    value.as_ref().and_then(|v| {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    })
}

fn request_view(
    lang: Language,
    case: &OwnCase,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> RequestView {
    let status = match case.status {
        CaseStatus::Open => "status-open",
        CaseStatus::Assigned => "status-assigned",
        CaseStatus::Reached => "status-reached",
        CaseStatus::Accepted => "status-accepted",
        CaseStatus::Declined => "status-declined",
        CaseStatus::Closed | CaseStatus::Cancelled => "status-closed",
    };
    let supporter = match (&case.supporter_id, &case.supporter_given) {
        (None, _) => lang.text("support-supporter-none"),
        (Some(_), Some(given)) => format!(
            "{given} {}",
            case.supporter_family.as_deref().unwrap_or_default()
        )
        .trim()
        .to_owned(),
        // Assigned, the supporter's name purged or not projected yet.
        (Some(_), None) => lang.text("support-supporter-unnamed"),
    };
    let due = match case.first_contact_due {
        Some(due) => lang.text_with(
            "support-due-at",
            &[
                ("date", lang.date_time(&due.with_timezone(&zone)).into()),
                ("left", left(lang, due, now).into()),
            ],
        ),
        None => lang.text("support-due-none"),
    };
    RequestView {
        arrived: Some(lang.text_with(
            "support-arrived",
            &[(
                "date",
                lang.date_time(&case.opened_at.with_timezone(&zone)).into(),
            )],
        )),
        status: lang.text(status),
        supporter,
        due,
    }
}

/// How long until `due`, in whole hours rounded up, or that it is overdue.
fn left(lang: Language, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (due - now).num_minutes();
    if minutes < 0 {
        return lang.text("overdue");
    }
    let hours = (minutes + 59) / 60;
    lang.text_with("hours-left", &[("hours", outreach_texts::number(hours))])
}

async fn opt_out(
    state: State<WebState>,
    signed_in: SignedIn<ActAsMember>,
    body: Bytes,
) -> Result<Redirect, PageError> {
    opt(state, signed_in, body, true).await
}

async fn opt_in(
    state: State<WebState>,
    signed_in: SignedIn<ActAsMember>,
    body: Bytes,
) -> Result<Redirect, PageError> {
    opt(state, signed_in, body, false).await
}

async fn opt(
    State(state): State<WebState>,
    signed_in: SignedIn<ActAsMember>,
    body: Bytes,
    out: bool,
) -> Result<Redirect, PageError> {
    signed_in.check_form(&body)?;
    forms::only_csrf(&body)?;
    let staff_id = own_staff_id(&signed_in)?;
    set_opted_out(&state.api, By::dashboard(&signed_in.caller), staff_id, out).await?;
    let done = if out { "opted-out" } else { "opted-in" };
    Ok(Redirect::to(&format!("{PAGE}?done={done}")))
}

/// The preferences form, read into the API's own types; a blank answer is no preference.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreferencesForm {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default = "absent")]
    channel: forms::Field<Option<Channel>>,
    #[serde(default = "absent")]
    supporter_gender: forms::Field<Option<SupporterGender>>,
    #[serde(default = "absent")]
    supporter_specialty: forms::Field<Option<ShortText>>,
    #[serde(default = "absent")]
    supporter_department: forms::Field<Option<DepartmentPreference>>,
    #[serde(default = "absent")]
    supporter_seniority: forms::Field<Option<SeniorityPreference>>,
    #[serde(default = "absent")]
    supporter_language: forms::Field<Option<ShortText>>,
}

/// A question left out of the form altogether: no preference, like a blank answer.
fn absent<T>() -> forms::Field<Option<T>> {
    forms::Field::present(None)
}

impl PreferencesForm {
    /// The preferences, or the names of the answers that could not be read.
    fn preferences(self) -> Result<StatePreferences, Vec<&'static str>> {
        fn take<T>(
            refused: &mut Vec<&'static str>,
            name: &'static str,
            field: forms::Field<Option<T>>,
        ) -> Option<T> {
            field.ok().unwrap_or_else(|| {
                refused.push(name);
                None
            })
        }
        let mut refused = Vec::new();
        let r = &mut refused;
        let preferences = StatePreferences {
            channel: take(r, "channel", self.channel),
            supporter_gender: take(r, "supporter_gender", self.supporter_gender),
            supporter_specialty: take(r, "supporter_specialty", self.supporter_specialty)
                .map(|s| s.0),
            supporter_department: take(r, "supporter_department", self.supporter_department),
            supporter_seniority: take(r, "supporter_seniority", self.supporter_seniority),
            supporter_language: take(r, "supporter_language", self.supporter_language),
        };
        if refused.is_empty() {
            Ok(preferences)
        } else {
            Err(refused)
        }
    }
}

async fn preferences(
    State(state): State<WebState>,
    signed_in: SignedIn<ActAsMember>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.check_form(&body)?;
    let staff_id = own_staff_id(&signed_in)?;
    let stated = match forms::read::<PreferencesForm>("preferences", &body) {
        Ok(form) => form.preferences(),
        // A field the form does not have.
        Err(_) => Err(vec![]),
    };
    let fields = match stated {
        Ok(stated) => match state_member_preferences(
            &state.api,
            By::dashboard(&signed_in.caller),
            staff_id,
            stated,
        )
        .await
        {
            Ok(_) => return Ok(Redirect::to(&format!("{PAGE}?done=preferences")).into_response()),
            // The domain's rules (a specialty too long) are about one field.
            Err(ApiError::Refused { .. }) => vec!["supporter_specialty"],
            Err(error) => return Err(error.into()),
        },
        Err(fields) => fields,
    };
    let sent = Values::sent(&body);
    let page = page(&state, &signed_in, &headers, None, Some((&sent, &fields))).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}
