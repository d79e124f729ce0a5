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
use outreach_events::care_team_member::{
    DepartmentPreference, Gender as SupporterGender, SeniorityPreference,
};
use outreach_events::{Channel, Discipline, Seniority};
use serde::de::IgnoredAny;
use serde::Deserialize;
use uuid::Uuid;

use super::forms::{self, FieldErrors, Values};
use super::view::{Control, FormView, Nav};
use super::{form_routes, render, PageError, SignedIn, WebState};
use crate::access::Refer;
use crate::attribution::By;
use crate::error::ApiError;
use crate::members::{
    state_member_preferences, Email, MemberStaffId, Phone, ShortText, StatePreferences,
};
use crate::referrals::{
    refer_member, Referral, ReferralAnswer, ReferralContact, ReferralOutcome, ReferredBy,
    ReferredMember, ReferredName,
};

/// The form's id on the page: its fields' messages are keyed `referral.<field>`.
const FORM: &str = "referral";

pub(crate) fn routes() -> Router<WebState> {
    Router::new().route(form_routes::REFERRAL, get(form_page).post(send))
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
            &Discipline::ALL.map(Discipline::as_str),
            Some("Choose…"),
        )
        .required(),
        Control::text("member.department", "Department").required(),
        Control::select(
            "member.seniority",
            "Seniority",
            &Seniority::ALL.map(Seniority::as_str),
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
            &Channel::ALL.map(Channel::as_str),
            Some("Not stated"),
        ),
        Control::select(
            "preferences.supporter_gender",
            "Preferred supporter: gender",
            &SupporterGender::ALL.map(SupporterGender::as_str),
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
            &DepartmentPreference::ALL.map(DepartmentPreference::as_str),
            Some("No preference"),
        ),
        Control::select(
            "preferences.supporter_seniority",
            "Preferred supporter: seniority",
            &SeniorityPreference::ALL.map(SeniorityPreference::as_str),
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

/// The referral's form as sent, read into the API's own types. Preferences are the member's
/// own, stated with a self-referral.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferralForm {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    referral_id: Option<Uuid>,
    referred_by: ReferredBy,
    #[serde(rename = "member.staff_id")]
    staff_id: MemberStaffId,
    #[serde(rename = "member.name.given")]
    given_name: ShortText,
    #[serde(rename = "member.name.family")]
    family_name: ShortText,
    #[serde(rename = "member.role")]
    role: ShortText,
    #[serde(rename = "member.discipline")]
    discipline: Discipline,
    #[serde(rename = "member.department")]
    department: ShortText,
    #[serde(default, rename = "member.seniority")]
    seniority: Option<Seniority>,
    campus: ShortText,
    unit: ShortText,
    #[serde(default, rename = "member.contact.email")]
    email: Option<Email>,
    #[serde(default, rename = "member.contact.phone")]
    phone: Option<Phone>,
    #[serde(default, rename = "member.contact.mobile")]
    mobile: Option<Phone>,
    #[serde(default, rename = "member.preferred_channel")]
    preferred_channel: Option<Channel>,
    #[serde(default, rename = "preferences.supporter_gender")]
    supporter_gender: Option<SupporterGender>,
    #[serde(default, rename = "preferences.supporter_specialty")]
    supporter_specialty: Option<ShortText>,
    #[serde(default, rename = "preferences.supporter_department")]
    supporter_department: Option<DepartmentPreference>,
    #[serde(default, rename = "preferences.supporter_seniority")]
    supporter_seniority: Option<SeniorityPreference>,
    #[serde(default, rename = "preferences.supporter_language")]
    supporter_language: Option<ShortText>,
}

impl ReferralForm {
    /// The API's referral, and the preferences stated with it (if any).
    fn referral(self) -> (Referral, Option<StatePreferences>) {
        let preferences = StatePreferences {
            channel: None,
            supporter_gender: self.supporter_gender,
            supporter_specialty: self.supporter_specialty.map(|s| s.0),
            supporter_department: self.supporter_department,
            supporter_seniority: self.supporter_seniority,
            supporter_language: self.supporter_language,
        };
        let stated = preferences.supporter_gender.is_some()
            || preferences.supporter_specialty.is_some()
            || preferences.supporter_department.is_some()
            || preferences.supporter_seniority.is_some()
            || preferences.supporter_language.is_some();
        let referral = Referral {
            referral_id: self.referral_id,
            referred_by: self.referred_by,
            campus: self.campus,
            unit: self.unit,
            member: ReferredMember {
                staff_id: self.staff_id,
                name: ReferredName {
                    given: self.given_name,
                    family: self.family_name,
                },
                role: self.role,
                discipline: self.discipline,
                department: self.department,
                seniority: self.seniority,
                contact: ReferralContact {
                    email: self.email,
                    phone: self.phone,
                    mobile: self.mobile,
                },
                preferred_channel: self.preferred_channel,
            },
        };
        (referral, stated.then_some(preferences))
    }
}

async fn send(
    State(state): State<WebState>,
    signed_in: SignedIn<Refer>,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.check_form(&body)?;
    let refused = |errors: FieldErrors| -> Result<Response, PageError> {
        let page = ReferralPage {
            nav: signed_in.nav("/dashboard/referral"),
            title: "Refer for peer support".into(),
            form: referral_form(&state, &signed_in, &Values::sent(&body), &errors),
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let (referral, preferences) = match forms::read::<ReferralForm>(FORM, &body) {
        Ok(form) => form.referral(),
        Err(errors) => return refused(errors),
    };
    // Everything is checked before anything is sent: a refused form changes nothing.
    if preferences.is_some()
        && referral.referred_by != ReferredBy::Member
        && !signed_in.caller.runs_the_program()
    {
        let mut errors = FieldErrors::default();
        errors.add(
            "referral.preferences.supporter_gender",
            "Only the person themselves can state their preferences: leave these empty when \
             you refer someone else.",
        );
        return refused(errors);
    }
    // Stated for the member: by the member themselves, or by the program's staff for them.
    if preferences.is_some()
        && signed_in
            .caller
            .require_member_or_staff(&referral.member.staff_id.0)
            .is_err()
    {
        let mut errors = FieldErrors::default();
        errors.add(
            "referral.member.staff_id",
            "A self-referral is made with your own staff id.",
        );
        return refused(errors);
    }
    let staff_id = referral.member.staff_id.0.clone();
    let referred = match refer_member(&state.api, By::dashboard(&signed_in.caller), referral).await
    {
        Ok(referred) => referred,
        Err(error @ ApiError::TooManyRequests { .. }) => return Err(error.into()),
        Err(error) => return refused(FieldErrors::from_refusal(FORM, error, &[])?),
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
        joined: matches!(
            referred,
            ReferralAnswer::Placed(ref placed) if placed.outcome == ReferralOutcome::Linked
        ),
    })
    .map(IntoResponse::into_response)
}
