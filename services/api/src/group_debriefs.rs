//! Group debriefs proposed for reports that affect many staff at once, from the group debrief
//! read model: where and when, and how many people, never who.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Allowed, RunTheProgram};
use crate::cases::ReportRef;
use crate::error::{ApiError, Problem};
use crate::extract::Query;
use crate::ApiState;

/// The list shows at most this many proposals, the newest.
const LIMIT: i64 = 200;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list_group_debriefs))
}

/// A report that calls for a group debrief as well as individual outreach: it names more than
/// a set number of eligible staff, or eligible staff from several departments.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDebriefProposal {
    pub report: ReportRef,
    pub campus: String,
    pub unit: String,
    /// How many eligible care team members the report named.
    pub staff: u32,
    /// From how many distinct departments.
    pub departments: u32,
    pub proposed_at: DateTime<Utc>,
}

/// Proposed group debriefs, newest first (at most 200).
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDebriefList {
    pub proposals: Vec<GroupDebriefProposal>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListGroupDebriefsQuery {
    /// Only proposals for reports on this campus.
    campus: Option<crate::values::ShortText>,
}

#[derive(sqlx::FromRow)]
struct ProposalRow {
    report_source: String,
    report_id: String,
    campus: String,
    unit: String,
    staff: i32,
    departments: i32,
    proposed_at: DateTime<Utc>,
}

impl From<ProposalRow> for GroupDebriefProposal {
    fn from(row: ProposalRow) -> Self {
        GroupDebriefProposal {
            report: ReportRef {
                source: row.report_source,
                report_id: row.report_id,
            },
            campus: row.campus,
            unit: row.unit,
            staff: u32::try_from(row.staff).unwrap_or_default(),
            departments: u32::try_from(row.departments).unwrap_or_default(),
            proposed_at: row.proposed_at,
        }
    }
}

/// List proposed group debriefs, newest first.
#[utoipa::path(
    get,
    path = "/v1/group-debriefs",
    tag = "group debriefs",
    params(ListGroupDebriefsQuery),
    responses(
        (status = 200, description = "The newest proposals, at most 200", body = GroupDebriefList),
        (status = 400, description = "A query parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The server failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_group_debriefs(
    State(state): State<ApiState>,
    _: Allowed<RunTheProgram>,
    Query(query): Query<ListGroupDebriefsQuery>,
) -> Result<Json<GroupDebriefList>, ApiError> {
    let rows = sqlx::query_as::<_, ProposalRow>(
        "SELECT report_source, report_id, campus, unit, staff, departments, proposed_at
         FROM group_debrief_proposals
         WHERE ($1::text IS NULL OR campus = $1)
         ORDER BY proposed_at DESC, report_source DESC, report_id DESC
         LIMIT $2",
    )
    .bind(query.campus.map(|c| c.0))
    .bind(LIMIT)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(GroupDebriefList {
        proposals: rows.into_iter().map(Into::into).collect(),
    }))
}
