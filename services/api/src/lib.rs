//! The HTTP API of peer-outreach: serves the `outreach_cases` read model that the outreach
//! projection writes, takes program managers' and supporters' commands on cases and care team
//! members' referrals, preferences and opt-outs, plus liveness, readiness and the OpenAPI
//! document.
//!
//! The API writes nothing itself: every command goes through the command side to the event
//! store, and the read model follows from the events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

mod access;
mod access_audit;
mod attribution;
pub mod audit_chain;
mod case_commands;
mod case_timeline;
mod cases;
mod contact_confirmation;
mod error;
mod extract;
mod feedback;
mod group_debriefs;
mod health;
mod matching;
mod members;
mod my_cases;
mod openapi;
mod rate_limits;
mod referrals;
mod roster_changes;
mod statistics;
mod supporters;
mod values;
mod web;

pub use error::{ApiError, Problem};
pub use openapi::{document, openapi, PUBLIC_ROUTES};
pub use rate_limits::{RateLimitSettings, RateLimits};
pub use web::{dashboard_forms, Dashboard, DashboardSettings, FEEDBACK_PAGE};

/// Command bodies are a few codes and ids; the limit keeps a client from making us buffer more.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub pool: sqlx::PgPool,
    pub broker: BrokerHealth,
    pub metrics: MetricsExposition,
    /// Where case commands go.
    pub commands: Arc<outreach_command_side::CommandSide>,
    /// Checks every caller's bearer token.
    pub auth: Arc<outreach_auth::Authenticator>,
    pub rate_limits: RateLimits,
    /// Which statistics periods the safety office reads.
    pub safety_office: outreach_domain::period::SafetyOfficePeriods,
    /// The language of members' pages when neither the member nor their browser names one the
    /// program speaks.
    pub default_language: outreach_texts::Language,
}

/// Renders the service's metrics in the Prometheus text format; supplied by the binary, which
/// owns the meter provider, so the API knows no metrics backend.
#[derive(Clone)]
pub struct MetricsExposition(pub(crate) Arc<dyn Fn() -> String + Send + Sync>);

impl MetricsExposition {
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(Arc::new(render))
    }
}

impl Default for MetricsExposition {
    fn default() -> Self {
        Self::new(String::new)
    }
}

/// Updated by the binary from a background probe of the Kafka broker; the API knows no Kafka.
///
/// Starts unreachable, so readiness stays false until the first successful probe.
#[derive(Clone, Default)]
pub struct BrokerHealth(Arc<AtomicBool>);

impl BrokerHealth {
    pub fn set_reachable(&self, yes: bool) {
        // A lone flag guarding no other memory: Relaxed is enough.
        self.0.store(yes, Ordering::Relaxed);
    }

    pub fn is_reachable(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// All routes, traced, with a 64 KiB request body limit; every error is a problem document.
pub fn router(state: ApiState) -> Router {
    build(state, None)
}

/// The API's routes and the dashboard's pages under `/dashboard` (see [`Dashboard`]).
pub fn router_with_dashboard(state: ApiState, dashboard: Arc<Dashboard>) -> Router {
    build(state, Some(dashboard))
}

fn build(state: ApiState, dashboard: Option<Arc<Dashboard>>) -> Router {
    // The documented routes, each registered with its documentation; the document is built
    // from the same routes in `openapi`.
    let (documented, _) = openapi::routes().split_for_parts();
    let api = documented
        .merge(web::feedback_page())
        .with_state(state.clone());
    let routes = match dashboard {
        Some(dashboard) => api.merge(web::routes(state, dashboard)),
        None => api,
    };
    routes
        .fallback(route_not_found)
        // Must follow the routes: it is installed on each route registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(middleware::map_response(body_limit_as_problem))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// A server span per request, continuing the caller's trace. It names the route template, not
/// the path, and never the query string.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.name = %format!("{} {}", request.method(), route),
        http.request.method = %request.method(),
        http.route = %route,
    );
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    outreach_telemetry::continue_trace(&span, headers);
    span
}

async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// tower-http answers an oversized body with plain text; clients were promised problem documents.
async fn body_limit_as_problem(response: Response) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == error::PROBLEM_CONTENT_TYPE);
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_problem {
        ApiError::PayloadTooLarge.into_response()
    } else {
        response
    }
}
