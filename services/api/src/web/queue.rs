//! The queue: open cases, newest first, filtered by campus, status and trigger, each with the
//! time left to its contact deadline, overdue ones marked. New cases appear without a reload:
//! `queue.js` asks for the rows again every few seconds.
//!
//! The queue shows case facts only, never a member's name or contact details, so reading it is
//! not a read of personal data (and its polling writes nothing to the access audit); the case
//! page is, and is audited.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::view::{capitalised, time_left, words, Clock, Nav};
use super::{render, PageError, SignedIn, WebState};
use crate::access::RunTheProgram;
use crate::cases::{self, CaseFilter, CaseStatus, Cursor, Limit, ShownCase};
use crate::error::ApiError;
use crate::extract::Query;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/queue", get(queue))
        .route("/queue/rows", get(rows))
}

/// The triggers a case can have, as stored.
pub(crate) const TRIGGERS: [&str; 5] = [
    "incident",
    "i_report",
    "self_referral",
    "colleague_referral",
    "supervisor_referral",
];

/// Statuses of a case still being worked.
const STILL_OPEN: [CaseStatus; 5] = [
    CaseStatus::Open,
    CaseStatus::Assigned,
    CaseStatus::Reached,
    CaseStatus::Accepted,
    CaseStatus::Declined,
];

const STATUSES: [&str; 7] = [
    "open",
    "assigned",
    "reached",
    "accepted",
    "declined",
    "closed",
    "cancelled",
];

#[derive(Debug, Default, Deserialize)]
struct QueueQuery {
    #[serde(default)]
    campus: Option<String>,
    /// `any` (the default: every case still being worked) or one status.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default)]
    overdue: Option<String>,
    #[serde(default)]
    after: Option<Cursor>,
}

impl QueueQuery {
    fn filter(&self) -> Result<CaseFilter, ApiError> {
        let blank = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let statuses = match blank(&self.status).as_deref() {
            None | Some("any") => Some(STILL_OPEN.to_vec()),
            Some(code) => Some(vec![serde_json::from_value::<CaseStatus>(
                serde_json::Value::from(code),
            )
            .map_err(|_| {
                ApiError::InvalidQuery("status: not a status of a case".into())
            })?]),
        };
        let trigger = blank(&self.trigger);
        if trigger.as_deref().is_some_and(|t| !TRIGGERS.contains(&t)) {
            return Err(ApiError::InvalidQuery("trigger: not a trigger".into()));
        }
        Ok(CaseFilter {
            statuses,
            campus: blank(&self.campus),
            trigger,
            overdue: (self.overdue.as_deref() == Some("true")).then_some(true),
            after: self.after,
            limit: Limit(50),
        })
    }

    /// The filters as a query string, for the live rows and the next page.
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("campus", self.campus.as_deref().unwrap_or_default()),
            ("status", self.status.as_deref().unwrap_or_default()),
            ("trigger", self.trigger.as_deref().unwrap_or_default()),
            ("overdue", self.overdue.as_deref().unwrap_or_default()),
        ])
        .unwrap_or_default()
    }
}

/// A row of the queue: facts of the case, nothing personal.
pub(crate) struct QueueRow {
    pub case_id: Uuid,
    pub opened: String,
    pub opened_iso: String,
    pub trigger: String,
    pub place: String,
    pub discipline: String,
    pub status: String,
    pub supporter: String,
    pub deadline: String,
    pub overdue: bool,
    /// The member's contact details wait for a manager to confirm them.
    pub contact_to_confirm: bool,
    /// Opened urgent, or made urgent by a report that joined it.
    pub urgent: bool,
}

fn queue_row(shown: &ShownCase, clock: Clock) -> QueueRow {
    let row = &shown.row;
    let now = Utc::now();
    let deadline = match (row.first_contacted_at, row.first_contact_due) {
        (Some(at), _) => format!("First contact {}", clock.at(at)),
        _ if !STILL_OPEN.contains(&row.status) => "—".to_owned(),
        (None, Some(due)) => capitalised(&time_left(due, now)),
        (None, None) => "No deadline".to_owned(),
    };
    QueueRow {
        case_id: row.case_id,
        opened: clock.at(row.opened_at),
        opened_iso: row.opened_at.to_rfc3339(),
        trigger: capitalised(&words(&row.trigger_kind)),
        place: format!("{} · {}", row.campus, row.unit),
        discipline: capitalised(&words(&row.discipline)),
        status: capitalised(&words(&status_code(row.status))),
        supporter: row
            .supporter_id
            .clone()
            .unwrap_or_else(|| "Not assigned".into()),
        deadline,
        overdue: shown.overdue,
        contact_to_confirm: row.contact_to_confirm,
        urgent: row.urgent,
    }
}

pub(crate) fn status_code(status: CaseStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    nav: Nav,
    title: String,
    rows: Vec<QueueRow>,
    campuses: Vec<String>,
    statuses: Vec<&'static str>,
    triggers: Vec<&'static str>,
    chosen_campus: String,
    chosen_status: String,
    chosen_trigger: String,
    overdue_only: bool,
    query: String,
    next: Option<String>,
    refresh_seconds: u32,
    live: bool,
}

impl QueuePage {
    fn label(&self, code: &str) -> String {
        capitalised(&words(code))
    }
}

#[derive(Template)]
#[template(path = "queue_rows.html")]
struct QueueRows {
    rows: Vec<QueueRow>,
}

async fn queue(
    State(state): State<WebState>,
    signed_in: SignedIn<RunTheProgram>,
    Query(query): Query<QueueQuery>,
) -> Result<Html<String>, PageError> {
    let nav = signed_in.nav("/dashboard/queue");
    let filter = query
        .filter()
        .map_err(|e| PageError::from(e).with_nav(nav.clone()))?;
    let clock = Clock {
        zone: state.api.commands.policies().deadlines.calendar.time_zone,
    };
    let (found, next) = cases::find_cases(&state.api.pool, &filter).await?;
    let query_string = query.query_string();
    render(&QueuePage {
        nav,
        title: "Queue".into(),
        rows: found.iter().map(|row| queue_row(row, clock)).collect(),
        campuses: state.api.commands.policies().roster.campuses.clone(),
        statuses: STATUSES.to_vec(),
        triggers: TRIGGERS.to_vec(),
        chosen_campus: query.campus.clone().unwrap_or_default(),
        chosen_status: query.status.clone().unwrap_or_default(),
        chosen_trigger: query.trigger.clone().unwrap_or_default(),
        overdue_only: query.overdue.as_deref() == Some("true"),
        next: next.map(|cursor| {
            format!(
                "{query_string}&after={}",
                super::forms::url_encode(&cursor.to_string())
            )
        }),
        query: query_string,
        refresh_seconds: state.dashboard.queue_refresh_seconds,
        live: query.after.is_none(),
    })
}

/// The queue's rows alone, for the page to refresh them.
async fn rows(
    State(state): State<WebState>,
    _: SignedIn<RunTheProgram>,
    Query(query): Query<QueueQuery>,
) -> Result<Html<String>, PageError> {
    let clock = Clock {
        zone: state.api.commands.policies().deadlines.calendar.time_zone,
    };
    let (found, _) = cases::find_cases(&state.api.pool, &query.filter()?).await?;
    render(&QueueRows {
        rows: found.iter().map(|row| queue_row(row, clock)).collect(),
    })
}
