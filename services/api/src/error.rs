//! The one error type of the API and its single mapping to RFC 9457 problem documents.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
const PROBLEM_TYPE_BASE: &str = "https://peer-outreach.dev/problems/";

/// Everything that can go wrong serving a request.
///
/// Messages of client errors are shown to the client as the problem's `detail`; they only ever
/// echo what the client sent, never stored data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The query string did not deserialize; the message names the parameter.
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("invalid path parameter `{name}`: {reason}")]
    InvalidPath { name: String, reason: String },
    #[error("no outreach case has this id")]
    CaseNotFound,
    #[error("no resource at this path")]
    RouteNotFound,
    #[error("this method is not supported on this path")]
    MethodNotAllowed,
    #[error("the request body is larger than this API accepts")]
    PayloadTooLarge,
    /// A bug on our side (e.g. a route and its extractor disagree); never the client's fault.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// An RFC 9457 problem document, served as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI identifying the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem, the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
}

impl ApiError {
    fn status_slug_title(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::InvalidQuery(_) | Self::InvalidPath { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid request parameter",
            ),
            Self::CaseNotFound => (StatusCode::NOT_FOUND, "case-not-found", "Case not found"),
            Self::RouteNotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            Self::Internal(_) | Self::Database(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.status_slug_title();
        let detail = match &self {
            // Logged here, once; the client learns nothing about our data or schema.
            // sqlx errors carry driver and SQL messages, not row values.
            Self::Database(error) => {
                tracing::error!(%error, "database query failed");
                "the request could not be completed; it has been logged".to_owned()
            }
            Self::Internal(error) => {
                tracing::error!(%error, "internal error");
                "the request could not be completed; it has been logged".to_owned()
            }
            client_error => client_error.to_string(),
        };
        let problem = Problem {
            problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
        };
        // The header part is applied after `Json` sets its own content type, so it wins.
        (
            status,
            [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
            Json(problem),
        )
            .into_response()
    }
}
