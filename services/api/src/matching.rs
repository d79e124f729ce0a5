//! Matching: which peer supporters fit a case, ranked, with the reasons in words, and who may
//! not be offered and why. Read from the matching read model and ranked by the domain's pure
//! policy; assigning one of them is `POST /v1/cases/{case_id}/assignment`.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use outreach_domain::matching::{Candidate, Exclusion};
use outreach_projections::candidates;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, RunTheProgram};
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list_candidates))
}

/// The supporters who may be offered the case, best first, and those who may not.
#[derive(Debug, Serialize, ToSchema)]
pub struct Candidates {
    pub case_id: Uuid,
    /// The supporter assigned now; null while the case awaits assignment.
    #[schema(required = true)]
    pub supporter_id: Option<String>,
    pub candidates: Vec<RankedSupporter>,
    pub excluded: Vec<ExcludedSupporter>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankedSupporter {
    pub staff_id: String,
    #[schema(required = true)]
    pub given_name: Option<String>,
    #[schema(required = true)]
    pub family_name: Option<String>,
    /// The sum of the points of the reasons (weights are configuration).
    #[schema(example = 75)]
    pub score: i32,
    /// Why the supporter ranks where they do, in words.
    #[schema(example = json!(["same campus", "similar seniority", "different department", "matches preference: specialty"]))]
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExcludedSupporter {
    pub staff_id: String,
    #[schema(required = true)]
    pub given_name: Option<String>,
    #[schema(required = true)]
    pub family_name: Option<String>,
    /// `is-the-member`, `named-in-same-report`, `same-department`, `paused`, `not-trained`,
    /// `at-capacity` or `unavailable-until-deadline`.
    #[schema(example = "same-department")]
    pub reason: &'static str,
    /// The reason in words.
    #[schema(example = "same department as the member")]
    pub explanation: &'static str,
}

/// Supporters ranked for a case, with their reasons, and the excluded ones with theirs.
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}/candidates",
    tag = "matching",
    params(("case_id" = Uuid, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The ranking, from the matching read model", body = Candidates),
        (status = 400, description = "`invalid-parameter`: the case id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`case-not-found` (or not yet in the read model)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`case-is-closed`: nobody is matched to a closed case", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_candidates(
    State(state): State<ApiState>,
    _: Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
) -> Result<Json<Candidates>, ApiError> {
    ranked(&state, case_id).await.map(Json)
}

/// The supporters ranked for an open case, best first, and those excluded; refused for a
/// closed case. Names come from the roster (supporters', not the member's).
pub(crate) async fn ranked(state: &ApiState, case_id: Uuid) -> Result<Candidates, ApiError> {
    let mut db = state.pool.acquire().await?;
    let (case, ranking) =
        candidates::candidates(&mut db, case_id, state.commands.policies(), Utc::now())
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?
            .ok_or(ApiError::CaseNotFound)?;
    if case.ended {
        return Err(ApiError::Refused {
            rule: "case-is-closed",
            detail: "the case is closed: nobody is matched to it".into(),
        });
    }
    let names: HashMap<String, (Option<String>, Option<String>)> =
        sqlx::query_as::<_, (String, Option<String>, Option<String>)>(
            "SELECT staff_id, given_name, family_name FROM roster_supporters",
        )
        .fetch_all(&mut *db)
        .await?
        .into_iter()
        .map(|(staff_id, given, family)| (staff_id, (given, family)))
        .collect();
    let name = |staff_id: &str| names.get(staff_id).cloned().unwrap_or_default();
    Ok(Candidates {
        case_id,
        supporter_id: case.supporter_id,
        candidates: ranking
            .candidates
            .into_iter()
            .map(
                |Candidate {
                     staff_id,
                     score,
                     reasons,
                 }| {
                    let (given_name, family_name) = name(&staff_id);
                    RankedSupporter {
                        staff_id,
                        given_name,
                        family_name,
                        score,
                        reasons,
                    }
                },
            )
            .collect(),
        excluded: ranking
            .excluded
            .into_iter()
            .map(|Exclusion { staff_id, reason }| {
                let (given_name, family_name) = name(&staff_id);
                ExcludedSupporter {
                    staff_id,
                    given_name,
                    family_name,
                    reason: reason.code(),
                    explanation: reason.words(),
                }
            })
            .collect(),
    })
}
