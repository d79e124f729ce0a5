//! The referral form, for any signed-in member of the program who may refer (as the JSON API's
//! permission table says): refer oneself or a colleague, and, for oneself, state preferences
//! about the supporter. Who to reach and how; there is no field for what happened.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use uuid::Uuid;

use super::forms::{read, FieldErrors, Form, Values};
use super::view::{Control, FormView, Nav};
use super::{render, PageError, SignedIn, WebState};
use crate::access::Refer;
use crate::attribution::By;
use crate::error::ApiError;
use crate::members::{
    refer_member, state_member_preferences, Referral, ReferralOutcome, ReferredBy, StatePreferences,
};

pub(crate) fn routes() -> Router<WebState> {
    Router::new().route("/referral", get(form_page).post(send))
}

#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    nav: Nav,
    title: String,
    form: FormView,
}

#[derive(Template)]
#[template(path = "referred.html")]
struct ReferredPage {
    nav: Nav,
    title: String,
    joined: bool,
}

fn referral_form(
    state: &WebState,
    signed_in: &SignedIn<Refer>,
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
    let campus = if campuses.is_empty() {
        Control::text("campus", "Campus")
    } else {
        let mut select = Control::select("campus", "Campus", &campuses, Some("Choose…"));
        for choice in &mut select.options {
            if !choice.value.is_empty() {
                choice.label = choice.value.clone();
            }
        }
        select
    };
    let controls = vec![
        Control::radio(
            "referred_by",
            "Who is referring",
            &["self", "colleague", "supervisor"],
        )
        .required(),
        Control::text("member.staff_id", "Staff id of the person to support")
            .required()
            .max_length(64)
            .hint("Your own, when you refer yourself."),
        Control::text("member.name.given", "Given name")
            .required()
            .autocomplete("off"),
        Control::text("member.name.family", "Family name").required(),
        Control::text("member.role", "Role")
            .required()
            .hint("For example: registered nurse."),
        Control::select(
            "member.discipline",
            "Discipline",
            &outreach_events::Discipline::ALL.map(|d| d.as_str()),
            Some("Choose…"),
        )
        .required(),
        Control::text("member.department", "Department").required(),
        Control::select(
            "member.seniority",
            "Seniority",
            &["trainee", "early_career", "mid_career", "senior"],
            Some("Not stated"),
        ),
        campus.required(),
        Control::text("unit", "Unit").required(),
        Control::input("member.contact.email", "E-mail", "email")
            .max_length(254)
            .hint("At least one way to reach them: e-mail, phone or mobile."),
        Control::input("member.contact.phone", "Phone", "tel").max_length(33),
        Control::input("member.contact.mobile", "Mobile", "tel").max_length(33),
        Control::select(
            "member.preferred_channel",
            "Preferred channel",
            &["email", "phone", "text"],
            Some("Not stated"),
        ),
        Control::select(
            "preferences.supporter_gender",
            "Preferred supporter: gender",
            &["woman", "man", "non_binary"],
            Some("No preference"),
        )
        .hint("Preferences can be stated only when you refer yourself."),
        Control::text(
            "preferences.supporter_specialty",
            "Preferred supporter: specialty",
        ),
        Control::select(
            "preferences.supporter_department",
            "Preferred supporter: department",
            &["own_department", "other_department"],
            Some("No preference"),
        ),
        Control::select(
            "preferences.supporter_seniority",
            "Preferred supporter: seniority",
            &["similar", "more_senior"],
            Some("No preference"),
        ),
        Control::text(
            "preferences.supporter_language",
            "Preferred supporter: language",
        )
        .hint("As on the roster, e.g. es."),
    ];
    let mut values = values.clone();
    if values.get("referral_id").is_empty() {
        values.set("referral_id", Uuid::new_v4().to_string());
    }
    if values.get("referred_by").is_empty() {
        values.set("referred_by", "self");
        if let Some(staff_id) = &signed_in.caller.0.staff_id {
            values.set("member.staff_id", staff_id);
        }
    }
    FormView::new(
        "referral",
        "/dashboard/referral".into(),
        "Referral",
        "Send referral",
    )
    .on_its_own()
    .controls(controls)
    // The same referral sent twice (a double click, a reload) opens one case.
    .hidden("referral_id", values.get("referral_id"))
    .finish(&signed_in.csrf, Some((&values, errors)), Some("referral"))
}

async fn form_page(
    State(state): State<WebState>,
    signed_in: SignedIn<Refer>,
) -> Result<Html<String>, PageError> {
    render(&ReferralPage {
        nav: signed_in.nav("/dashboard/referral"),
        title: "Refer for peer support".into(),
        form: referral_form(
            &state,
            &signed_in,
            &Values::default(),
            &FieldErrors::default(),
        ),
    })
}

async fn send(
    State(state): State<WebState>,
    signed_in: SignedIn<Refer>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Form::parse(&body)?;
    signed_in.check_csrf(form.get("csrf"))?;
    let refused = |errors: FieldErrors| -> Result<Response, PageError> {
        let page = ReferralPage {
            nav: signed_in.nav("/dashboard/referral"),
            title: "Refer for peer support".into(),
            form: referral_form(&state, &signed_in, &form.values(), &errors),
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let as_refusal = |error: ApiError| FieldErrors::from_refusal("referral", error, &[]);
    let mut body = form.to_json(&[]);
    let preferences = body
        .as_object_mut()
        .and_then(|fields| fields.remove("preferences"));
    let referral: Referral = match read(body) {
        Ok(referral) => referral,
        Err(error) => return refused(as_refusal(error)?),
    };
    // Everything is checked before anything is sent: a refused form changes nothing.
    let preferences = match preferences {
        None => None,
        Some(stated) => {
            let stated: StatePreferences = match read::<StatePreferences>(Value::clone(&stated)) {
                Ok(stated) => stated,
                Err(error) => {
                    let mut errors = FieldErrors::default();
                    for key in as_refusal(error)?.keys() {
                        errors.add(
                            key.replacen("referral.", "referral.preferences.", 1),
                            "Choose one of the options, or leave it empty.",
                        );
                    }
                    return refused(errors);
                }
            };
            let own = referral.referred_by == ReferredBy::Member;
            let mut errors = FieldErrors::default();
            if !own && !signed_in.caller.runs_the_program() {
                errors.add(
                    "referral.preferences.supporter_gender",
                    "Only the person themselves can state their preferences: leave these empty \
                     when you refer someone else.",
                );
            } else if signed_in
                .caller
                .require_member_or_staff(&referral.member.staff_id.0)
                .is_err()
            {
                errors.add(
                    "referral.member.staff_id",
                    "A self-referral is made with your own staff id.",
                );
            }
            if stated
                .supporter_specialty
                .as_deref()
                .is_some_and(|s| s.chars().count() > 100)
            {
                errors.add(
                    "referral.preferences.supporter_specialty",
                    "Must be at most 100 characters.",
                );
            }
            if !errors.is_empty() {
                return refused(errors);
            }
            Some(stated)
        }
    };
    let staff_id = referral.member.staff_id.0.clone();
    let referred = match refer_member(&state.api, By::dashboard(&signed_in.caller), referral).await
    {
        Ok(referred) => referred,
        Err(error @ ApiError::TooManyRequests { .. }) => return Err(error.into()),
        Err(error) => return refused(as_refusal(error)?),
    };
    if let Some(stated) = preferences {
        state_member_preferences(
            &state.api,
            By::dashboard(&signed_in.caller),
            staff_id,
            stated,
        )
        .await?;
    }
    render(&ReferredPage {
        nav: signed_in.nav("/dashboard/referral"),
        title: "Referral sent".into(),
        joined: referred.outcome == ReferralOutcome::Linked,
    })
    .map(IntoResponse::into_response)
}
