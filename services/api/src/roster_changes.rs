//! Who changed a supporter's roster entry, and when: for the program director, from the
//! supporter's events in the event store (through the command side), each with the author its
//! metadata records.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use outreach_events::author::Attribution;
use outreach_events::supporter::SupporterEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Allowed, ReadAuthors};
use crate::attribution::Author;
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use crate::members::staff_id_in_path;
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(roster_changes))
}

/// What a change did to the roster entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RosterChangeKind {
    /// Put on the roster.
    Joined,
    /// The entry replaced as a whole.
    Changed,
    Paused,
    Resumed,
}

impl RosterChangeKind {
    fn of(event_type: &str) -> Option<Self> {
        match event_type {
            SupporterEvent::SUPPORTER_JOINED => Some(RosterChangeKind::Joined),
            SupporterEvent::SUPPORTER_PROFILE_CHANGED => Some(RosterChangeKind::Changed),
            SupporterEvent::SUPPORTER_PAUSED => Some(RosterChangeKind::Paused),
            SupporterEvent::SUPPORTER_RESUMED => Some(RosterChangeKind::Resumed),
            _ => None,
        }
    }
}

/// One change to a roster entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterChange {
    pub change: RosterChangeKind,
    /// When it was stored.
    pub at: DateTime<Utc>,
    pub author: Author,
}

/// A supporter's roster changes, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterChanges {
    pub staff_id: String,
    pub changes: Vec<RosterChange>,
}

/// Who put a supporter on the roster, changed their entry, paused or resumed them, and when
/// (the program director only).
#[utoipa::path(
    get,
    path = "/v1/supporters/{staff_id}/changes",
    tag = "roster",
    params(("staff_id" = String, Path, description = "The supporter's staff id", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", example = "S20001")),
    responses(
        (status = 200, description = "The entry's changes, oldest first, each with its author", body = RosterChanges),
        (status = 400, description = "`invalid-parameter`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`supporter-not-found`: nobody with this staff id was ever on the roster", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the event store could not be read; retry later", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn roster_changes(
    State(state): State<ApiState>,
    _: Allowed<ReadAuthors>,
    Path(staff_id): Path<String>,
) -> Result<Json<RosterChanges>, ApiError> {
    let staff_id = staff_id_in_path(staff_id)?;
    let changes: Vec<RosterChange> = state
        .commands
        .roster_changes(&staff_id)
        .await?
        .into_iter()
        .filter_map(|stored| {
            Some(RosterChange {
                change: RosterChangeKind::of(&stored.event_type)?,
                at: stored.recorded_at,
                author: Attribution::deserialize(&stored.metadata)
                    .unwrap_or_default()
                    .into(),
            })
        })
        .collect();
    if changes.is_empty() {
        return Err(ApiError::SupporterNotFound);
    }
    Ok(Json(RosterChanges { staff_id, changes }))
}
