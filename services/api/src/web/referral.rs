//! The referral form, for any signed-in member of the program who may refer (as the JSON API's
//! permission table says): refer oneself or a colleague, and, for oneself, state preferences
//! about the supporter. Who to reach and how; there is no field for what happened.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use outreach_events::care_team_member::{
    DepartmentPreference, Gender as SupporterGender, SeniorityPreference,
};
use outreach_events::{Channel, Discipline, Seniority};
use outreach_texts::Language;
use serde::de::IgnoredAny;
use serde::Deserialize;
use uuid::Uuid;

use super::feedback::{browser_language, MemberNav};
use super::forms::{self, FieldErrors, Values};
use super::view::{Control, FormView, Nav};
use super::{form_routes, render, PageError, SignedIn, WebState};
use crate::access::{CareTeamMember, Permission, ReadStatistics, Refer, RunTheProgram, Support};
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
const PAGE: &str = "/dashboard/referral";

pub(crate) fn routes() -> Router<WebState> {
    Router::new().route(form_routes::REFERRAL, get(form_page).post(send))
}

/// The program's staff's page, in English like the rest of their dashboard.
#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    nav: Nav,
    lang: Language,
    title: String,
    form: FormView,
}

/// A care team member's page, in their language, among their own pages.
#[derive(Template)]
#[template(path = "member_referral.html")]
struct MemberReferralPage {
    lang: Language,
    member_nav: Option<MemberNav>,
    title: String,
    form: FormView,
}

#[derive(Template)]
#[template(path = "referred.html")]
struct ReferredPage {
    nav: Nav,
    lang: Language,
    title: String,
    message: String,
}

#[derive(Template)]
#[template(path = "member_referred.html")]
struct MemberReferredPage {
    lang: Language,
    member_nav: Option<MemberNav>,
    title: String,
    message: String,
}

/// Who reads the page. A care team member (no role of the program's staff) reads it as their
/// own page does: in their stated language, else their browser's, else the program's default.
/// The program's staff read the dashboard in English, with their own navigation.
#[derive(Clone, Copy)]
enum Reader {
    Member(Language),
    Staff,
}

impl Reader {
    async fn of(
        state: &WebState,
        signed_in: &SignedIn<Refer>,
        headers: &HeaderMap,
    ) -> Result<Reader, PageError> {
        let caller = &signed_in.caller.0;
        let staff = [RunTheProgram::ROLES, Support::ROLES, ReadStatistics::ROLES];
        if !caller.has_any(&[CareTeamMember]) || staff.iter().any(|roles| caller.has_any(roles)) {
            return Ok(Reader::Staff);
        }
        let stated = match &caller.staff_id {
            Some(staff_id) => {
                let (member, _) = state
                    .api
                    .commands
                    .member(staff_id)
                    .await
                    .map_err(ApiError::from)?;
                member.preferences().supporter_language.clone()
            }
            None => None,
        };
        Ok(Reader::Member(Language::negotiate(
            stated.as_deref(),
            None,
            browser_language(&state.api, headers),
        )))
    }

    fn lang(self) -> Language {
        match self {
            Reader::Member(lang) => lang,
            Reader::Staff => Language::En,
        }
    }

    /// The form's page, with `form` as built for this reader.
    fn form_page(
        self,
        signed_in: &SignedIn<Refer>,
        form: FormView,
    ) -> Result<Html<String>, PageError> {
        let title = self.lang().text("referral-title");
        match self {
            Reader::Member(lang) => render(&MemberReferralPage {
                lang,
                member_nav: Some(member_nav(signed_in)),
                title,
                form,
            }),
            Reader::Staff => render(&ReferralPage {
                nav: signed_in.nav(PAGE),
                lang: Language::En,
                title,
                form,
            }),
        }
    }

    fn referred_page(
        self,
        signed_in: &SignedIn<Refer>,
        joined: bool,
    ) -> Result<Html<String>, PageError> {
        let lang = self.lang();
        let title = lang.text("referred-title");
        let message = lang.text(if joined {
            "referred-joined"
        } else {
            "referred-opened"
        });
        match self {
            Reader::Member(lang) => render(&MemberReferredPage {
                lang,
                member_nav: Some(member_nav(signed_in)),
                title,
                message,
            }),
            Reader::Staff => render(&ReferredPage {
                nav: signed_in.nav(PAGE),
                lang,
                title,
                message,
            }),
        }
    }

    /// A member reads why a field was refused in their language; the staff's English messages
    /// stay as the forms and the API word them (they may name the program's rules).
    fn errors(self, errors: FieldErrors) -> FieldErrors {
        match self {
            Reader::Member(lang) => errors.reworded(|key, message| {
                let id = match problem(message) {
                    "referral-error-check" if key == FORM => "referral-error-form",
                    id => id,
                };
                lang.text(id)
            }),
            Reader::Staff => errors,
        }
    }

    /// A refusal of the API next to its field, in the reader's words.
    fn refusal(self, error: ApiError) -> Result<FieldErrors, ApiError> {
        let Reader::Member(lang) = self else {
            return FieldErrors::from_refusal(FORM, error, &[]);
        };
        let (key, id) = match &error {
            ApiError::InvalidField { rule, .. }
                if *rule == "self-referral-under-another-staff-id" =>
            {
                ("referral.member.staff_id", "referral-error-own-staff-id")
            }
            ApiError::InvalidField { rule, .. } if *rule == "campus-not-of-the-program" => {
                ("referral.campus", "referral-error-campus")
            }
            ApiError::Refused { rule, .. } if *rule == "member-not-eligible" => {
                ("referral.member.discipline", "referral-error-not-eligible")
            }
            ApiError::InvalidBody(message) if message.starts_with("member.contact:") => {
                (FORM, "referral-error-contact")
            }
            _ => return Ok(self.errors(FieldErrors::from_refusal(FORM, error, &[])?)),
        };
        let mut errors = FieldErrors::default();
        errors.add(key, lang.text(id));
        Ok(errors)
    }
}

fn member_nav(signed_in: &SignedIn<Refer>) -> MemberNav {
    MemberNav {
        csrf: signed_in.csrf.clone(),
        current: "referral",
    }
}

/// The catalogue's message for a refusal worded in English by the forms' reader
/// (`forms::read`) or by the API's types (`values.rs`); a problem not named here asks the
/// member to check the answer.
fn problem(message: &str) -> &'static str {
    let message = message.to_lowercase();
    let starts = |prefix: &str| message.starts_with(prefix);
    let says = |words: &str| message.contains(words);
    if starts("this is required") || says("must not be empty") {
        "referral-error-required"
    } else if starts("choose one of the options") {
        "referral-error-choose"
    } else if starts("send this field once") {
        "referral-error-once"
    } else if starts("this form was sent with a field it does not have") {
        "referral-error-unknown-field"
    } else if says("at most 100 characters") {
        "referral-error-too-long"
    } else if says("one line") {
        "referral-error-one-line"
    } else if says("e-mail address") {
        "referral-error-email"
    } else if says("phone number") {
        "referral-error-phone"
    } else if says("staff id") {
        "referral-error-staff-id"
    } else if starts("this value is not accepted") {
        "referral-error-not-accepted"
    } else {
        "referral-error-check"
    }
}

/// The codes of a select or radio shown in the reader's words: `{key}-{code}`.
fn worded(mut control: Control, lang: Language, key: &str) -> Control {
    for choice in &mut control.options {
        if !choice.value.is_empty() {
            choice.label = lang.text(&format!("{key}-{}", choice.value));
        }
    }
    control
}

fn referral_form(
    state: &WebState,
    signed_in: &SignedIn<Refer>,
    lang: Language,
    values: &Values,
    errors: &FieldErrors,
) -> FormView {
    let t = |id: &str| lang.text(id);
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
        Control::text("campus", &t("referral-campus"))
    } else {
        let mut select = Control::select(
            "campus",
            &t("referral-campus"),
            &campuses,
            Some(&t("referral-choose")),
        );
        // The program's own names of its campuses.
        for choice in &mut select.options {
            if !choice.value.is_empty() {
                choice.label = choice.value.clone();
            }
        }
        select
    };
    let no_preference = t("pref-no-preference");
    let controls = vec![
        worded(
            Control::radio(
                "referred_by",
                &t("referral-who"),
                &["self", "colleague", "supervisor"],
            ),
            lang,
            "referral-who",
        )
        .required(),
        Control::text("member.staff_id", &t("referral-staff-id"))
            .required()
            .max_length(64)
            .hint(&t("referral-staff-id-hint")),
        Control::text("member.name.given", &t("referral-given-name"))
            .required()
            .autocomplete("off"),
        Control::text("member.name.family", &t("referral-family-name")).required(),
        Control::text("member.role", &t("referral-role"))
            .required()
            .hint(&t("referral-role-hint")),
        worded(
            Control::select(
                "member.discipline",
                &t("referral-discipline"),
                &Discipline::ALL.map(Discipline::as_str),
                Some(&t("referral-choose")),
            ),
            lang,
            "referral-discipline",
        )
        .required(),
        Control::text("member.department", &t("referral-department")).required(),
        worded(
            Control::select(
                "member.seniority",
                &t("referral-seniority"),
                &Seniority::ALL.map(Seniority::as_str),
                Some(&t("referral-not-stated")),
            ),
            lang,
            "referral-seniority",
        ),
        campus.required(),
        Control::text("unit", &t("referral-unit")).required(),
        Control::input("member.contact.email", &t("referral-email"), "email")
            .max_length(254)
            .hint(&t("referral-email-hint")),
        Control::input("member.contact.phone", &t("referral-phone"), "tel").max_length(33),
        Control::input("member.contact.mobile", &t("referral-mobile"), "tel").max_length(33),
        worded(
            Control::select(
                "member.preferred_channel",
                &t("referral-channel"),
                &Channel::ALL.map(Channel::as_str),
                Some(&t("referral-not-stated")),
            ),
            lang,
            "pref-channel",
        ),
        worded(
            Control::select(
                "preferences.supporter_gender",
                &t("referral-supporter-gender"),
                &SupporterGender::ALL.map(SupporterGender::as_str),
                Some(&no_preference),
            ),
            lang,
            "pref-gender",
        )
        .hint(&t("referral-supporter-gender-hint")),
        Control::text(
            "preferences.supporter_specialty",
            &t("referral-supporter-specialty"),
        ),
        worded(
            Control::select(
                "preferences.supporter_department",
                &t("referral-supporter-department"),
                &DepartmentPreference::ALL.map(DepartmentPreference::as_str),
                Some(&no_preference),
            ),
            lang,
            "pref-department",
        ),
        worded(
            Control::select(
                "preferences.supporter_seniority",
                &t("referral-supporter-seniority"),
                &SeniorityPreference::ALL.map(SeniorityPreference::as_str),
                Some(&no_preference),
            ),
            lang,
            "pref-seniority",
        ),
        Control::text(
            "preferences.supporter_language",
            &t("referral-supporter-language"),
        )
        .hint(&t("referral-supporter-language-hint")),
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
        PAGE.into(),
        &t("referral-form-title"),
        &t("referral-send"),
    )
    .on_its_own()
    .in_language(lang)
    .controls(controls)
    // The same referral sent twice (a double click, a reload) opens one case.
    .hidden("referral_id", values.get("referral_id"))
    .finish(&signed_in.csrf, Some((&values, errors)), Some("referral"))
}

async fn form_page(
    State(state): State<WebState>,
    signed_in: SignedIn<Refer>,
    headers: HeaderMap,
) -> Result<Html<String>, PageError> {
    let reader = Reader::of(&state, &signed_in, &headers).await?;
    let form = referral_form(
        &state,
        &signed_in,
        reader.lang(),
        &Values::default(),
        &FieldErrors::default(),
    );
    reader.form_page(&signed_in, form)
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.check_form(&body)?;
    let reader = Reader::of(&state, &signed_in, &headers).await?;
    let lang = reader.lang();
    let refused = |errors: FieldErrors| -> Result<Response, PageError> {
        let form = referral_form(&state, &signed_in, lang, &Values::sent(&body), &errors);
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            reader.form_page(&signed_in, form)?,
        )
            .into_response())
    };
    let (referral, preferences) = match forms::read::<ReferralForm>(FORM, &body) {
        Ok(form) => form.referral(),
        Err(errors) => return refused(reader.errors(errors)),
    };
    // Everything is checked before anything is sent: a refused form changes nothing.
    if preferences.is_some()
        && referral.referred_by != ReferredBy::Member
        && !signed_in.caller.runs_the_program()
    {
        let mut errors = FieldErrors::default();
        errors.add(
            "referral.preferences.supporter_gender",
            lang.text("referral-error-preferences-of-others"),
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
            lang.text("referral-error-own-staff-id"),
        );
        return refused(errors);
    }
    let staff_id = referral.member.staff_id.0.clone();
    let referred = match refer_member(&state.api, By::dashboard(&signed_in.caller), referral).await
    {
        Ok(referred) => referred,
        Err(error @ ApiError::TooManyRequests { .. }) => return Err(error.into()),
        Err(error) => return refused(reader.refusal(error)?),
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
    let joined = matches!(
        referred,
        ReferralAnswer::Placed(ref placed) if placed.outcome == ReferralOutcome::Linked
    );
    reader
        .referred_page(&signed_in, joined)
        .map(IntoResponse::into_response)
}
