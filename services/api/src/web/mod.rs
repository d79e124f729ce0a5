//! The dashboard: server-rendered pages for program managers, supporters, the safety office and
//! care team members, under `/dashboard`.
//!
//! Pages are thin: they read with the JSON API's query functions, send commands with its
//! command functions, and are allowed by the same permission table (`access.rs`) and per-case
//! checks; reads of personal data go to the same access audit. The caller comes from a session
//! made at sign-in ([`session`]) whose token is checked by the same [`Authenticator`] as a bearer
//! token, on every request.
//!
//! [`Authenticator`]: outreach_auth::Authenticator

mod attention;
mod case;
mod feedback;
mod forms;
mod my_cases;
mod my_support;
mod queue;
mod referral;
mod roster;
mod roster_form;
mod session;
mod sign_in;
mod statistics;
mod steps;
mod view;

use std::sync::Arc;

use askama::Template;
use axum::extract::FromRef;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use outreach_auth::sign_in::{SignInClient, SignInSettings};
use outreach_auth::{AuthError, AuthSettings};
use serde::Deserialize;

use crate::access::{ActAsMember, Permission, ReadStatistics, RunTheProgram, Support};
use crate::error::ApiError;
use crate::ApiState;

pub(crate) use feedback::routes as feedback_page;
pub use feedback::PATH as FEEDBACK_PAGE;
pub(crate) use session::SignedIn;

/// `[dashboard]`: the pages, and how people sign in to them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSettings {
    /// `[dashboard.sign_in]`: the dashboard as a client of the identity provider.
    pub sign_in: SignInSettings,
    /// How often the queue page asks for new cases, in seconds.
    #[serde(default = "default_queue_refresh_seconds")]
    pub queue_refresh_seconds: u32,
}

fn default_queue_refresh_seconds() -> u32 {
    5
}

/// The dashboard, its identity provider's endpoints resolved.
pub struct Dashboard {
    sign_in: SignInClient,
    queue_refresh_seconds: u32,
    /// The tier 3 directory supporters see on their case pages (`[resources]`).
    resources: outreach_domain::resources::ResourceDirectory,
}

impl Dashboard {
    /// Resolves the provider's endpoints (from the issuer's discovery document where the
    /// settings leave them out), under the API's `[auth]` settings: the same issuer, the same
    /// rules for what may be reached over plain `http://`.
    pub async fn connect(
        settings: DashboardSettings,
        auth: &AuthSettings,
    ) -> Result<Self, AuthError> {
        Ok(Dashboard {
            sign_in: SignInClient::connect(settings.sign_in, auth).await?,
            queue_refresh_seconds: settings.queue_refresh_seconds.max(1),
            resources: Default::default(),
        })
    }

    /// Shows supporters the tier 3 entries of `directory` (by default, the 988 Lifeline only).
    pub fn with_resources(
        mut self,
        directory: outreach_domain::resources::ResourceDirectory,
    ) -> Self {
        self.resources = directory;
        self
    }
}

/// What the dashboard's handlers need: the API's state, and the dashboard's own.
#[derive(Clone)]
pub(crate) struct WebState {
    pub api: ApiState,
    pub dashboard: Arc<Dashboard>,
}

impl FromRef<WebState> for ApiState {
    fn from_ref(state: &WebState) -> Self {
        state.api.clone()
    }
}

/// Where every page lives.
pub(crate) const BASE: &str = "/dashboard";

/// The dashboard's forms: its POST routes, under [`BASE`]. Each module registers its forms by
/// these names and no POST route otherwise (a test reads the sources for one), so
/// [`dashboard_forms`] lists every form the router takes.
pub(crate) mod form_routes {
    pub(crate) const CASE_STEP: &str = "/cases/{case_id}/{step}";
    pub(crate) const MY_CASE_STEP: &str = "/my-cases/{case_id}/{step}";
    pub(crate) const OPT_OUT: &str = "/my-support/opt-out";
    pub(crate) const OPT_IN: &str = "/my-support/opt-in";
    pub(crate) const PREFERENCES: &str = "/my-support/preferences";
    pub(crate) const REFERRAL: &str = "/referral";
    pub(crate) const ROSTER: &str = "/roster";
    pub(crate) const ROSTER_ENTRY: &str = "/roster/{staff_id}";
    pub(crate) const ROSTER_SWITCH: &str = "/roster/{staff_id}/{switch}";
    pub(crate) const SIGN_OUT: &str = "/sign-out";
}

/// Every form the dashboard takes, as the paths a browser posts to (`/dashboard/…`, with
/// `{case_id}` and `{staff_id}` left as they are): one per step of a case page, one per step a
/// supporter's own case page offers, one per roster switch. The attribution test holds a row
/// for each, so a new form cannot come without a test of who it records as its author.
pub fn dashboard_forms() -> Vec<String> {
    use form_routes::*;
    let steps = |route: &str, staff: bool| -> Vec<String> {
        steps::Step::ALL
            .into_iter()
            .filter(|step| staff || !step.for_staff_only())
            .map(|step| route.replace("{step}", step.path()))
            .collect()
    };
    let mut forms = steps(CASE_STEP, true);
    forms.extend(steps(MY_CASE_STEP, false));
    forms.extend(roster::SWITCHES.map(|switch| ROSTER_SWITCH.replace("{switch}", switch)));
    forms.extend(
        [
            OPT_OUT,
            OPT_IN,
            PREFERENCES,
            REFERRAL,
            ROSTER,
            ROSTER_ENTRY,
            SIGN_OUT,
        ]
        .map(str::to_owned),
    );
    forms
        .into_iter()
        .map(|form| format!("{BASE}{form}"))
        .collect()
}

/// The dashboard's routes, with their state, ready to merge into the API's router.
pub(crate) fn routes(api: ApiState, dashboard: Arc<Dashboard>) -> Router {
    let pages = Router::new()
        .route("/", get(home))
        .route("/assets/dashboard.css", get(stylesheet))
        .route("/assets/queue.js", get(queue_script))
        .merge(sign_in::routes())
        .merge(queue::routes())
        .merge(case::routes())
        .merge(my_cases::routes())
        .merge(my_support::routes())
        .merge(roster::routes())
        .merge(statistics::routes())
        .merge(referral::routes())
        .merge(attention::routes())
        .fallback(not_found)
        .with_state(WebState { api, dashboard })
        .layer(axum::middleware::map_response(security_headers));
    // Nested at /dashboard, `/` is /dashboard itself; /dashboard/ and / lead there too.
    Router::new()
        .nest(BASE, pages)
        .route("/dashboard/", get(|| async { Redirect::to(BASE) }))
        .route("/", get(|| async { Redirect::to(BASE) }))
}

/// The first page of each role.
async fn home(signed_in: SignedIn<Anyone>) -> Redirect {
    let caller = &signed_in.caller.0;
    let to = if caller.has_any(RunTheProgram::ROLES) {
        "/dashboard/queue"
    } else if caller.has_any(Support::ROLES) {
        "/dashboard/my-cases"
    } else if caller.has_any(ReadStatistics::ROLES) {
        "/dashboard/statistics"
    } else if caller.has_any(ActAsMember::ROLES) {
        // A care team member's own page: their request, opt-out and preferences.
        "/dashboard/my-support"
    } else {
        "/dashboard/referral"
    };
    Redirect::to(to)
}

/// Any signed-in caller: the home page sends each role on to its first page.
pub(crate) struct Anyone;

impl Permission for Anyone {
    const ROLES: &'static [outreach_auth::Role] = &outreach_auth::Role::ALL;
}

async fn not_found() -> PageError {
    PageError::from(ApiError::RouteNotFound)
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/dashboard.css"),
    )
}

async fn queue_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/queue.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Pages load their own styles and scripts only, are never framed, never cached (they hold
/// personal data), and send no referrer to other sites.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Renders a page template.
pub(crate) fn render(template: &impl Template) -> Result<Html<String>, PageError> {
    template
        .render()
        .map(Html)
        .map_err(|error| PageError::from(ApiError::Internal(format!("a template: {error}"))))
}

/// An error on a page, shown as a page: a sign-in for the unauthenticated, a clear 403 for the
/// forbidden, 404 for what does not exist; the rest as the API would answer, in words.
pub(crate) struct PageError {
    error: ApiError,
    /// Where to come back to after signing in.
    return_to: Option<String>,
    /// The navigation of the signed-in caller, when known (boxed: errors travel far).
    nav: Option<Box<view::Nav>>,
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError {
            error,
            return_to: None,
            nav: None,
        }
    }
}

impl PageError {
    pub(crate) fn with_nav(mut self, nav: view::Nav) -> Self {
        self.nav = Some(Box::new(nav));
        self
    }

    pub(crate) fn sign_in(return_to: Option<String>) -> Self {
        PageError {
            error: ApiError::Unauthenticated(AuthError::MissingToken),
            return_to,
            nav: None,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: view::Nav,
    title: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self.error {
            ApiError::Unauthenticated(_) => {
                let to = match &self.return_to {
                    Some(path) => {
                        format!("/dashboard/sign-in?return_to={}", forms::url_encode(path))
                    }
                    None => "/dashboard/sign-in".to_owned(),
                };
                return Redirect::to(&to).into_response();
            }
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role in the peer support program does not allow this page. The pages your \
                 role may open are in the navigation above."
                    .to_owned(),
            ),
            ApiError::CsrfRefused => (
                StatusCode::FORBIDDEN,
                "Form not accepted",
                "This form was sent from a page that is out of date or from another site, so \
                 nothing was changed. Go back, reload the page and try again."
                    .to_owned(),
            ),
            ApiError::CaseNotFound => (
                StatusCode::NOT_FOUND,
                "Case not found",
                "No case has this id, or it is not assigned to you.".to_owned(),
            ),
            ApiError::SupporterNotFound => (
                StatusCode::NOT_FOUND,
                "Supporter not found",
                "No supporter on the roster has this staff id.".to_owned(),
            ),
            ApiError::RouteNotFound | ApiError::MemberNotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.".to_owned(),
            ),
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                format!("Please wait {retry_after_seconds} seconds and try again."),
            ),
            ApiError::Unavailable(reason) => {
                tracing::error!(%reason, "the event store could not take a command from a page");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not recorded",
                    "The service could not record this just now, so nothing was changed. \
                     Please try again in a moment."
                        .to_owned(),
                )
            }
            ApiError::Internal(_) | ApiError::Database(_) => {
                // Logged, as the API logs it; the page says nothing about our data.
                let _ = self.error.status_and_log();
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The page could not be shown; the problem has been logged.".to_owned(),
                )
            }
            client_error => (
                client_error.status_and_log(),
                "Not accepted",
                client_error.to_string(),
            ),
        };
        let page = ErrorPage {
            nav: self.nav.map(|nav| *nav).unwrap_or_default(),
            title: title.to_owned(),
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        }
    }
}
