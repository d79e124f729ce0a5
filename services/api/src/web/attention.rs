//! Needs attention: what a director or program manager must act on, without looking through
//! the queue: open escalations (each with its category), first contacts overdue, and cases
//! still waiting for a supporter, oldest first.
//!
//! Facts only (campus, times, codes), as in the queue: no member's name or contact detail, so
//! reading it is not a read of personal data. Each list is bounded: the first 200 of each.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use outreach_projections::alert_messages::duration_in_words;

use super::view::{time_left, words, Clock, Nav};
use super::{render, PageError, SignedIn, WebState};
use crate::access::RunTheProgram;
use crate::error::ApiError;

pub(crate) fn routes() -> Router<WebState> {
    Router::new().route("/attention", get(attention))
}

/// The most rows of each list.
const LIMIT: i64 = 200;

/// A case on the page: where, when, and what about it.
pub(crate) struct AttentionRow {
    pub case_id: Uuid,
    pub campus: String,
    /// When the thing that needs attention happened (or is due), as the program reads it.
    pub at: String,
    pub at_iso: String,
    /// What it is, in words: the category, how long overdue, how long waiting.
    pub what: String,
    pub supporter: String,
}

#[derive(Template)]
#[template(path = "attention.html")]
struct AttentionPage {
    nav: Nav,
    title: String,
    escalations: Vec<AttentionRow>,
    overdue: Vec<AttentionRow>,
    unassigned: Vec<AttentionRow>,
}

type Found = (Uuid, String, DateTime<Utc>, Option<String>, Option<String>);

async fn attention(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
) -> Result<Html<String>, PageError> {
    let pool = &state.api.pool;
    let clock = Clock {
        zone: state.api.commands.policies().deadlines.calendar.time_zone,
    };
    let now = Utc::now();
    let fetch = |sql: &'static str| async move {
        sqlx::query_as::<_, Found>(sql)
            .bind(LIMIT)
            .fetch_all(pool)
            .await
            .map_err(|error| PageError::from(ApiError::from(error)))
    };
    // Escalations recorded on cases still being worked, newest first, each with its category:
    // the cases from the status index, their escalations from each one's timeline.
    let escalations = fetch(
        "SELECT c.case_id, c.campus, t.at, t.category, c.supporter_id
           FROM outreach_cases c
           JOIN case_timeline t ON t.case_id = c.case_id AND t.step = 'escalation_recorded'
          WHERE c.status IN ('open', 'assigned', 'reached', 'accepted', 'declined')
            AND c.escalations > 0
          ORDER BY t.at DESC
          LIMIT $1",
    )
    .await?;
    // Noticed past due, and still never contacted.
    let overdue = fetch(
        "SELECT case_id, campus, first_contact_due, NULL::text, supporter_id
           FROM outreach_cases
          WHERE deadline_passed_at IS NOT NULL AND first_contacted_at IS NULL
            AND status IN ('open', 'assigned')
          ORDER BY first_contact_due
          LIMIT $1",
    )
    .await?;
    let unassigned = fetch(
        "SELECT case_id, campus, opened_at, NULL::text, NULL::text
           FROM outreach_cases
          WHERE status = 'open' AND supporter_id IS NULL
          ORDER BY opened_at
          LIMIT $1",
    )
    .await?;
    let row = |found: Found, what: String| AttentionRow {
        case_id: found.0,
        campus: found.1,
        at: clock.at(found.2),
        at_iso: found.2.to_rfc3339(),
        what,
        supporter: found.4.unwrap_or_else(|| "—".into()),
    };
    render(&AttentionPage {
        nav: signed_in.nav("/dashboard/attention"),
        title: "Needs attention".into(),
        escalations: escalations
            .into_iter()
            .map(|f| {
                let category = words(f.3.as_deref().unwrap_or("unknown"));
                row(f, category)
            })
            .collect(),
        overdue: overdue
            .into_iter()
            .map(|f| {
                let left = time_left(f.2, now);
                row(f, left)
            })
            .collect(),
        unassigned: unassigned
            .into_iter()
            .map(|f| {
                let waiting = duration_in_words(now - f.2);
                row(f, waiting)
            })
            .collect(),
    })
}
