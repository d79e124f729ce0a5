//! Anonymous feedback (seed 004: "quarterly usage stats and anonymous feedback"): a member whose
//! case completed was sent a one-time link by the feedback-invitations projection; through it
//! they give two ratings, and nothing about them is kept with the answer.
//!
//! `POST /v1/feedback/{token}` with `{"helpfulness": 1..5, "would_recommend": true|false}`:
//!
//! - a token that is not 64 lowercase hex characters is unknown (404), without a database query
//!   or a count against any limit;
//! - a token of that shape that no link has (neither answered before nor MACed under the
//!   program's link key) is unknown (404); such guesses are limited all together (429 once
//!   over), and answers through real links are limited per link only, so a flood of junk never
//!   makes a real answer wait;
//! - a rating out of range is refused (422 `rating-out-of-range`, naming the field), and the
//!   token stays usable;
//! - otherwise, in one transaction: a token answered before is found by its SHA-256 and is 410;
//!   a token the program's link key did not issue (its MAC, see
//!   `outreach_projections::feedback_links`) is 404; else its SHA-256 is stored as used, the
//!   answer is recorded, and 201 says so. A refused answer changes nothing. (A link sent before
//!   tokens were MACed has its hash stored, unused, and is taken once the same way.)
//!
//! Unlike everything else the API does, this writes to tables directly, not through the event
//! store: an event would keep the answer for ever with its transaction, time and stream, which is
//! what must not be kept. The answer's row holds the two ratings and the month it was given (of
//! the program's calendar, the month the safety office's period counts it in), nothing else.
//!
//! # Keeping PostgreSQL's own bookkeeping from linking the answer to its token
//!
//! A token row shares nothing with its invitation: no id, no transaction (it is written when the
//! answer comes, not when the link is sent), no order but that of answers. A row's `xmin` is the
//! id of the transaction that wrote it, and the answer and the token's row are written by one
//! transaction; the token is in the member's mailbox. So the same transaction rewrites every
//! used token: all used tokens then carry the latest answer's transaction id, and no token row
//! singles out the answer it gave. Answers are taken one at a time (an advisory lock) so that each rewrite sees every
//! token used before it. (The superseded row versions stay readable to a superuser's page
//! inspection until vacuum; WAL and backups are outside what the schema can promise.)
//!
//! # What is published
//!
//! Counts only, for a range of months, small cells suppressed like every other statistic: see
//! `outreach_projections::statistics_report`, which publishes them with the rest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use outreach_projections::feedback_links::LinkKey;

use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Path};
use crate::ApiState;

/// The rating scale of `helpfulness`.
const HELPFULNESS: std::ops::RangeInclusive<i64> = 1..=5;

/// The key of the advisory lock that takes answers one at a time ("feedback" in ASCII).
const ANSWER_LOCK: i64 = 0x6665_6564_6261_636b;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/feedback/{token}", post(give_feedback))
}

/// Two ratings, and nothing else: no free text, by design.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// How helpful the peer support was, from 1 (not at all) to 5 (very).
    #[serde(deserialize_with = "crate::extract::whole")]
    #[schema(minimum = 1, maximum = 5, example = 4)]
    pub helpfulness: i64,
    /// Whether the member would recommend the program to a colleague.
    pub would_recommend: bool,
}

/// Give anonymous feedback through a one-time link.
#[utoipa::path(
    post,
    path = "/v1/feedback/{token}",
    tag = "feedback",
    params(("token" = String, Path, description = "The token of the one-time link the member was sent", min_length = 64, max_length = 64, pattern = "^[0-9a-f]{64}$")),
    request_body = Feedback,
    responses(
        (status = 201, description = "Recorded, without anything that leads back to the member, the case or the link; the link is used up"),
        (status = 400, description = "`invalid-body`: not JSON, a field missing, unknown or of the wrong type", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`feedback-token-unknown`: no link has this token", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`feedback-token-used`: the link was used already; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload-too-large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported-media-type`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too-many-requests`: too many answers through this link, or through links that do not exist, in the last minute; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`rating-out-of-range`: `helpfulness` is not from 1 to 5 (`field` names it); nothing changed, the link still works", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn give_feedback(
    State(state): State<ApiState>,
    Path(token): Path<String>,
    JsonBody(feedback): JsonBody<Feedback>,
) -> Result<StatusCode, ApiError> {
    answer(&state, &token, feedback).await?;
    Ok(StatusCode::CREATED)
}

/// Where a link stands before an answer comes through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Sent by the program and not answered yet.
    Open,
    /// Answered already: it takes no other answer.
    Used,
}

/// Where the link of `token` stands; a token no link has is [`ApiError::FeedbackTokenUnknown`],
/// counted against the guesses' limit (one of another shape is answered without a query or a
/// count). Looked up outside the answers' lock: a flood of guesses costs one indexed read and
/// a MAC each and never queues a real answer behind it.
pub(crate) async fn link(state: &ApiState, token: &str) -> Result<Link, ApiError> {
    if !is_well_formed(token) {
        return Err(ApiError::FeedbackTokenUnknown);
    }
    let stored: Option<bool> = sqlx::query_scalar(
        "SELECT used FROM feedback_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(token)
    .fetch_optional(&state.pool)
    .await?;
    match stored {
        Some(true) => Ok(Link::Used),
        // A link sent before tokens were MACed, not answered yet.
        Some(false) => Ok(Link::Open),
        None if link_key()?.verify(token) => Ok(Link::Open),
        None => {
            // Guesses are slowed, all together; real links are not counted with them.
            state.rate_limits.feedback_guess()?;
            Err(ApiError::FeedbackTokenUnknown)
        }
    }
}

/// The program's link key, derived from the process's key-encryption key (which the service
/// does not start without).
fn link_key() -> Result<LinkKey, ApiError> {
    LinkKey::installed().map_err(|error| ApiError::Internal(error.to_string()))
}

/// Records `feedback` through the link of `token`, for the API and the feedback page alike
/// (the rules are in the module's documentation).
pub(crate) async fn answer(
    state: &ApiState,
    token: &str,
    feedback: Feedback,
) -> Result<(), ApiError> {
    link(state, token).await?;
    state.rate_limits.feedback_link(token)?;
    let helpfulness = rating(feedback.helpfulness)?;
    let zone = state.commands.policies().deadlines.calendar.time_zone;
    let month = first_of_month(Utc::now().with_timezone(&zone).date_naive());

    let mut tx = state.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ANSWER_LOCK)
        .execute(&mut *tx)
        .await?;
    let found: Option<bool> = sqlx::query_scalar(
        "SELECT used FROM feedback_tokens
          WHERE token_hash = sha256(convert_to($1, 'UTF8'))
            FOR UPDATE",
    )
    .bind(token)
    .fetch_optional(&mut *tx)
    .await?;
    // Dropping the transaction rolls it back: a refusal changes nothing.
    match found {
        Some(true) => return Err(ApiError::FeedbackTokenUsed),
        // A link sent before tokens were MACed, not answered yet.
        Some(false) => {}
        None => {
            if !link_key()?.verify(token) {
                return Err(ApiError::FeedbackTokenUnknown);
            }
            sqlx::query(
                "INSERT INTO feedback_tokens (token_hash, used)
                 VALUES (sha256(convert_to($1, 'UTF8')), true)",
            )
            .bind(token)
            .execute(&mut *tx)
            .await?;
        }
    }
    // This token, and every one used before it, now carry this transaction's id (see the module).
    sqlx::query(
        "UPDATE feedback_tokens SET used = true
          WHERE used OR token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(token)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO feedback (month, helpfulness, would_recommend) VALUES ($1, $2, $3)")
        .bind(month)
        .bind(helpfulness)
        .bind(feedback.would_recommend)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `token` has the shape of the tokens the program sends: 64 lowercase hex characters.
fn is_well_formed(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `helpfulness` as stored, or the 422 that names it.
fn rating(helpfulness: i64) -> Result<i16, ApiError> {
    if !HELPFULNESS.contains(&helpfulness) {
        return Err(ApiError::InvalidField {
            rule: "rating-out-of-range",
            field: "helpfulness".to_owned(),
            problem: format!(
                "a rating from {} to {}, not {helpfulness}",
                HELPFULNESS.start(),
                HELPFULNESS.end()
            ),
        });
    }
    Ok(helpfulness as i16)
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_another_shape_are_unknown() {
        let good = "0123456789abcdef".repeat(4);
        assert!(is_well_formed(&good));
        for bad in [
            String::new(),
            good[..63].to_owned(),
            format!("{good}0"),
            good.to_uppercase(),
            format!("{}g", &good[..63]),
            format!("{}/", &good[..63]),
        ] {
            assert!(!is_well_formed(&bad), "{bad}");
        }
    }

    #[test]
    fn a_rating_from_one_to_five_is_taken_and_any_other_refused_by_name() {
        for ok in 1..=5 {
            assert_eq!(rating(ok).unwrap(), ok as i16);
        }
        for bad in [0, 6, -1, i64::MAX, i64::MIN] {
            let Err(ApiError::InvalidField { rule, field, .. }) = rating(bad) else {
                panic!("{bad} was taken");
            };
            assert_eq!(
                (rule, field.as_str()),
                ("rating-out-of-range", "helpfulness")
            );
        }
    }
}
