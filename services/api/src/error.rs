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
    /// A request header is malformed. The reason never repeats the header's value.
    #[error("invalid header `{name}`: {reason}")]
    InvalidHeader {
        name: &'static str,
        reason: &'static str,
    },
    /// The request body is not valid JSON or does not fit the command; the message names the
    /// field. Command bodies hold codes and ids only, never clinical data, so serde's message
    /// (which may quote the offending value) is safe to return.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    #[error("the request body must be JSON, sent with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("no outreach case has this id")]
    CaseNotFound,
    #[error("nothing is on record for this staff id")]
    MemberNotFound,
    #[error("no supporter on the roster has this staff id")]
    SupporterNotFound,
    /// The feedback link is not one the program sent under its present key (or is malformed).
    /// Says nothing more, except that links of an earlier key no longer work.
    #[error(
        "no feedback link has this token; links sent before the program last changed its keys \
         no longer work"
    )]
    FeedbackTokenUnknown,
    /// The feedback link was used already: it takes one answer.
    #[error("this feedback link has been used already; it takes one answer")]
    FeedbackTokenUsed,
    /// A value that reads well but breaks a rule of the program (an unknown campus, a capacity
    /// below zero, hours that end before they start); `field` names it, as the client sent it.
    #[error("`{field}`: {problem}")]
    InvalidField {
        rule: &'static str,
        field: String,
        problem: String,
    },
    /// No bearer token, or one that did not check out; the message names the failed check.
    #[error("{0}")]
    Unauthenticated(outreach_auth::AuthError),
    /// The caller's roles do not allow this (or, for a supporter, the case is not theirs).
    #[error("your role in the peer support program does not allow this")]
    Forbidden,
    /// The caller sent more of these requests than the limit allows; retry after the given
    /// number of seconds.
    #[error("too many requests; retry in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    /// A dashboard form came without its session's CSRF token (an old page, or another site).
    #[error("the form was not sent from a current page of the dashboard")]
    CsrfRefused,
    #[error("no resource at this path")]
    RouteNotFound,
    #[error("this method is not supported on this path")]
    MethodNotAllowed,
    #[error("the request body is larger than this API accepts")]
    PayloadTooLarge,
    /// A rule of the program refused the command; `rule` is its stable name.
    #[error("{detail}")]
    Refused { rule: &'static str, detail: String },
    /// The command was made on a version of the case that is no longer current (`If-Match`),
    /// or lost a race with another command on the same case (then the version is unknown).
    #[error("{}", stale_version_detail(*.current))]
    StaleVersion { current: Option<u64> },
    /// The event store could not take the command; worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
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
    /// Extension member of `…/problems/{rule}` problems (422): the stable name of the program
    /// rule that refused the command, e.g. `no-contact-after-decline`. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "no-contact-after-decline")]
    pub rule: Option<String>,
    /// Extension member of `…/problems/stale-version` problems (409): the case's current
    /// version, to re-read the case and retry with `If-Match`. Absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0, example = 4)]
    pub current_version: Option<u64>,
    /// Extension member of 422 problems about one value of the body: its path, e.g.
    /// `availability.weekly_hours[0]`. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "capacity")]
    pub field: Option<String>,
}

fn stale_version_detail(current: Option<u64>) -> String {
    match current {
        Some(current) => format!(
            "the case has changed since the version given in `If-Match`: it is at version {current}"
        ),
        None => "the case was changed by another command at the same time; read it again and retry"
            .to_owned(),
    }
}

impl From<outreach_command_side::CommandError> for ApiError {
    fn from(error: outreach_command_side::CommandError) -> Self {
        use outreach_command_side::CommandError as E;
        match error {
            E::Refused {
                rule: "case-not-found",
                ..
            } => ApiError::CaseNotFound,
            E::Refused { rule, detail } => ApiError::Refused { rule, detail },
            // Version 0 is an aggregate without a single event: no case has this id.
            E::StaleVersion { current: 0 } => ApiError::CaseNotFound,
            E::StaleVersion { current } => ApiError::StaleVersion {
                current: Some(current),
            },
            E::Conflict { .. } => ApiError::StaleVersion { current: None },
            E::Unavailable(reason) => ApiError::Unavailable(reason),
        }
    }
}

impl ApiError {
    fn status_slug_title(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::InvalidQuery(_) | Self::InvalidPath { .. } | Self::InvalidHeader { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid request parameter",
            ),
            Self::InvalidBody(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-body",
                "Invalid request body",
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::CaseNotFound => (StatusCode::NOT_FOUND, "case-not-found", "Case not found"),
            Self::MemberNotFound => (
                StatusCode::NOT_FOUND,
                "member-not-found",
                "Member not found",
            ),
            Self::SupporterNotFound => (
                StatusCode::NOT_FOUND,
                "supporter-not-found",
                "Supporter not found",
            ),
            Self::FeedbackTokenUnknown => (
                StatusCode::NOT_FOUND,
                "feedback-token-unknown",
                "Feedback link not found",
            ),
            Self::FeedbackTokenUsed => (
                StatusCode::GONE,
                "feedback-token-used",
                "Feedback link already used",
            ),
            Self::InvalidField { rule, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                rule,
                "Refused by a rule of the program",
            ),
            // The rule names the problem type; the title is shared by every refusal.
            Self::Refused { rule, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                rule,
                "Refused by a rule of the program",
            ),
            Self::StaleVersion { .. } => (
                StatusCode::CONFLICT,
                "stale-version",
                "The case has changed",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign-in required",
            ),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            Self::CsrfRefused => (StatusCode::FORBIDDEN, "csrf-refused", "Form not accepted"),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
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

impl ApiError {
    /// The status this error is answered with; a failure of ours is logged here, once, as
    /// the problem document would log it (for the dashboard's error pages).
    pub(crate) fn status_and_log(&self) -> StatusCode {
        match self {
            Self::Database(error) => tracing::error!(%error, "database query failed"),
            Self::Internal(error) => tracing::error!(%error, "internal error"),
            _ => {}
        }
        self.status_slug_title().0
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
            Self::Unavailable(error) => {
                tracing::error!(%error, "the event store could not take a command");
                "the command could not be recorded now; retry later".to_owned()
            }
            client_error => client_error.to_string(),
        };
        let (rule, current_version, field) = match &self {
            Self::Refused { rule, .. } => (Some((*rule).to_owned()), None, None),
            Self::InvalidField { rule, field, .. } => {
                (Some((*rule).to_owned()), None, Some(field.clone()))
            }
            Self::StaleVersion { current } => (None, *current, None),
            _ => (None, None, None),
        };
        let problem = Problem {
            problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            rule,
            current_version,
            field,
        };
        // The header part is applied after `Json` sets its own content type, so it wins.
        let mut response = (
            status,
            [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
            Json(problem),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            // A 503 invites a retry; say when (RFC 9110, section 10.2.3).
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            }
            Self::TooManyRequests {
                retry_after_seconds,
            } => {
                headers.insert(header::RETRY_AFTER, (*retry_after_seconds).into());
            }
            // RFC 6750, section 3: a missing token gets the bare challenge, a bad one the error.
            Self::Unauthenticated(outreach_auth::AuthError::MissingToken) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(r#"Bearer realm="peer-outreach""#),
                );
            }
            Self::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(
                        r#"Bearer realm="peer-outreach", error="invalid_token""#,
                    ),
                );
            }
            _ => {}
        }
        response
    }
}
