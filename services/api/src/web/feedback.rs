//! The feedback page, at `/feedback/{token}`: where the one-time link of the feedback invitation
//! leads. No sign-in: the token in the path is the credential, as for `POST /v1/feedback/{token}`,
//! whose code records the answer here too (the same checks, limits and refusals).
//!
//! - `GET` shows the two ratings for a link that was sent and not answered; a used link, or one
//!   the program never sent, gets a plain page saying so (410, 404). An unknown link counts
//!   against the guesses' limit like an unknown answer does; a real one counts against nothing.
//! - `POST` (a form: `helpfulness` 1–5, `would_recommend` yes/no) records the answer and shows a
//!   thank-you; a missing or wrong answer shows the form again with the question marked, and the
//!   link still works.
//!
//! The member is anonymous here, so the page speaks the browser's language (`Accept-Language`)
//! if the program speaks it, else the program's default.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use outreach_texts::Language;
use serde::Deserialize;

use super::forms::{self, Field};
use crate::error::ApiError;
use crate::extract::Path;
use crate::feedback::{answer, link, Feedback, Link};
use crate::ApiState;

/// Where the page lives; a link is `{public address}{PATH}/{token}`.
pub const PATH: &str = "/feedback";

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/feedback/{token}", get(show).post(send))
        .layer(axum::middleware::map_response(super::security_headers))
}

/// The navigation of a member's page (none on the feedback page: nobody is signed in).
pub(crate) struct MemberNav {
    pub csrf: String,
    /// Which page is shown: `my-support` or `referral`.
    pub current: &'static str,
}

#[derive(Template)]
#[template(path = "feedback.html")]
struct FeedbackPage {
    lang: Language,
    member_nav: Option<MemberNav>,
    title: String,
    action: String,
    /// `(value, label, checked)`.
    ratings: Vec<(String, String, bool)>,
    answers: Vec<(&'static str, String, bool)>,
    refused: bool,
    helpfulness_error: bool,
    recommend_error: bool,
}

/// A page of one message: thanks, a used or unknown link, a wait.
#[derive(Template)]
#[template(path = "member_message.html")]
pub(crate) struct MessagePage {
    pub lang: Language,
    pub member_nav: Option<MemberNav>,
    pub title: String,
    pub message: String,
    /// A confirmation, announced as a status.
    pub notice: bool,
}

/// The page's language: the browser's, if the program speaks it, else the program's default.
pub(crate) fn browser_language(state: &ApiState, headers: &HeaderMap) -> Language {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok());
    Language::negotiate(None, accept, state.default_language)
}

async fn show(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let lang = browser_language(&state, &headers);
    match link(&state, &token).await {
        Ok(Link::Open) => form(lang, &token, None, None, false),
        Ok(Link::Used) => refusal(lang, ApiError::FeedbackTokenUsed),
        Err(error) => refusal(lang, error),
    }
}

/// The form as sent: each answer read or kept as refused, so both can be marked at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackForm {
    #[serde(default)]
    helpfulness: Field<i64>,
    #[serde(default)]
    would_recommend: Field<YesNo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum YesNo {
    Yes,
    No,
}

async fn send(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let lang = browser_language(&state, &headers);
    let Ok(sent) = forms::read::<FeedbackForm>("feedback", &body) else {
        // A field the form does not have (free text has no place here), or one sent twice.
        return form(lang, &token, None, None, true);
    };
    let helpfulness = sent.helpfulness.ok();
    let would_recommend = sent.would_recommend.ok();
    let (Some(helpfulness), Some(would_recommend)) = (helpfulness, would_recommend) else {
        return form(lang, &token, helpfulness, would_recommend, true);
    };
    let feedback = Feedback {
        helpfulness,
        would_recommend: would_recommend == YesNo::Yes,
    };
    match answer(&state, &token, feedback).await {
        Ok(()) => message(
            lang,
            StatusCode::CREATED,
            "feedback-thanks-title",
            lang.text("feedback-thanks"),
            true,
        ),
        Err(ApiError::InvalidField { .. }) => form(lang, &token, None, Some(would_recommend), true),
        Err(error) => refusal(lang, error),
    }
}

/// The form, with what was sent checked again and the unanswered questions marked when
/// `refused`.
fn form(
    lang: Language,
    token: &str,
    helpfulness: Option<i64>,
    would_recommend: Option<YesNo>,
    refused: bool,
) -> Response {
    let page = FeedbackPage {
        lang,
        member_nav: None,
        title: lang.text("feedback-title"),
        // The token is 64 hex characters here: a link of another shape has no form.
        action: format!("{PATH}/{token}"),
        ratings: (1..=5)
            .map(|n| {
                (
                    n.to_string(),
                    lang.text(&format!("feedback-helpfulness-{n}")),
                    helpfulness == Some(n),
                )
            })
            .collect(),
        answers: vec![
            (
                "yes",
                lang.text("feedback-yes"),
                would_recommend == Some(YesNo::Yes),
            ),
            (
                "no",
                lang.text("feedback-no"),
                would_recommend == Some(YesNo::No),
            ),
        ],
        refused,
        helpfulness_error: refused && !(1..=5).contains(&helpfulness.unwrap_or(0)),
        recommend_error: refused && would_recommend.is_none(),
    };
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    respond(status, &page)
}

/// A used or unknown link, or too many answers: a plain page saying so.
fn refusal(lang: Language, error: ApiError) -> Response {
    let (status, title, text) = match error {
        ApiError::FeedbackTokenUsed => (
            StatusCode::GONE,
            "feedback-used-title",
            lang.text("feedback-used"),
        ),
        ApiError::FeedbackTokenUnknown => (
            StatusCode::NOT_FOUND,
            "feedback-unknown-title",
            lang.text("feedback-unknown"),
        ),
        ApiError::TooManyRequests {
            retry_after_seconds,
        } => {
            let mut response = message(
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                "feedback-wait-title",
                lang.text_with(
                    "feedback-wait",
                    &[(
                        "seconds",
                        outreach_texts::number(retry_after_seconds as i64),
                    )],
                ),
                false,
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after_seconds.to_string().parse().expect("digits"),
            );
            return response;
        }
        // The rest (the database failing) as the dashboard's pages show it.
        other => return super::PageError::from(other).into_response(),
    };
    message(lang, status, title, text, false)
}

fn message(
    lang: Language,
    status: StatusCode,
    title: &str,
    message: String,
    notice: bool,
) -> Response {
    respond(
        status,
        &MessagePage {
            lang,
            member_nav: None,
            title: lang.text(title),
            message,
            notice,
        },
    )
}

fn respond(status: StatusCode, page: &impl Template) -> Response {
    match super::render(page) {
        Ok(html) => (status, html).into_response(),
        Err(error) => error.into_response(),
    }
}
