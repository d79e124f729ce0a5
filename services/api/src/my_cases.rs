//! A peer supporter's own cases. The supporter is told who to reach and how, and the member's
//! preferences: "only contact information and no clinical details" (seed 002). Nothing about
//! the report, the trigger, the unit or the member's role reaches this view, and every read is
//! in the access audit.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, Caller, Support};
use crate::access_audit::{self, Read};
use crate::cases::{CaseStatus, Contact, PersonName};
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_my_cases))
        .routes(routes!(get_my_case))
}

/// A case as its supporter sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupportedCase {
    pub case_id: Uuid,
    /// Pass as `If-Match` with a command on the case.
    pub version: u64,
    pub status: CaseStatus,
    /// When first contact is due; null for cases opened before deadlines existed.
    #[schema(required = true)]
    pub first_contact_due: Option<DateTime<Utc>>,
    pub name: PersonName,
    pub contact: Contact,
    /// What the member asked for, as they stated it; null where they stated nothing. Null as a
    /// whole once personal data has been purged or when none was stated.
    #[schema(value_type = Option<Object>, required = true)]
    pub preferences: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupportedCases {
    /// Newest first; cancelled cases are left out.
    pub cases: Vec<SupportedCase>,
}

#[derive(sqlx::FromRow)]
struct SupportedRow {
    case_id: Uuid,
    version: i64,
    status: CaseStatus,
    first_contact_due: Option<DateTime<Utc>>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    preferred_channel: Option<String>,
    preferences: Option<serde_json::Value>,
}

impl From<SupportedRow> for SupportedCase {
    fn from(row: SupportedRow) -> Self {
        SupportedCase {
            case_id: row.case_id,
            version: u64::try_from(row.version).unwrap_or_default(),
            status: row.status,
            first_contact_due: row.first_contact_due,
            name: PersonName {
                given: row.given_name,
                family: row.family_name,
            },
            contact: Contact {
                email: row.email,
                phone: row.phone,
                mobile: row.mobile,
                preferred_channel: row.preferred_channel,
            },
            preferences: row.preferences,
        }
    }
}

/// The supporter's cases: `$1` is the supporter's staff id, `$2` one case or null for all.
const SUPPORTED_CASES: &str = r#"
    SELECT c.case_id, c.version, c.status, c.first_contact_due,
           c.given_name, c.family_name, c.email, c.phone, c.mobile, c.preferred_channel,
           p.preferences
    FROM outreach_cases c
    LEFT JOIN matching_preferences p ON p.staff_id = c.staff_id
    WHERE c.supporter_id = $1
      AND c.status <> 'cancelled'
      AND ($2::uuid IS NULL OR c.case_id = $2)
    ORDER BY c.opened_at DESC, c.case_id DESC
    LIMIT 500
"#;

/// The caller's own cases (`case_id`: only that one), newest first. Reads personal data: the
/// caller records the read in the access audit before serving it.
pub(crate) async fn supported(
    state: &ApiState,
    caller: &Caller,
    case_id: Option<Uuid>,
) -> Result<Vec<SupportedCase>, ApiError> {
    // A supporter's token without a staff id cannot be matched to any case.
    let Some(staff_id) = caller.0.staff_id.as_deref() else {
        return Ok(Vec::new());
    };
    Ok(sqlx::query_as::<_, SupportedRow>(SUPPORTED_CASES)
        .bind(staff_id)
        .bind(case_id)
        .fetch_all(&state.pool)
        .await?
        .into_iter()
        .map(SupportedCase::from)
        .collect())
}

/// The cases assigned to the calling peer supporter, with whom to reach and how.
#[utoipa::path(
    get,
    path = "/v1/my/cases",
    tag = "my cases",
    responses(
        (status = 200, description = "The caller's cases", body = SupportedCases),
        (status = 500, description = "The server failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_my_cases(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<Support>,
) -> Result<Json<SupportedCases>, ApiError> {
    let rows = supported(&state, &caller, None).await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.case_id).collect();
    access_audit::record(&state.pool, &caller, "GET /v1/my/cases", Read::Cases(&ids)).await?;
    Ok(Json(SupportedCases { cases: rows }))
}

/// One case assigned to the calling peer supporter. Another supporter's case is not found.
#[utoipa::path(
    get,
    path = "/v1/my/cases/{case_id}",
    tag = "my cases",
    params(("case_id" = Uuid, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case", body = SupportedCase),
        (status = 404, description = "`case-not-found`: no case with this id is assigned to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The server failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_my_case(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<Support>,
    Path(case_id): Path<Uuid>,
) -> Result<Json<SupportedCase>, ApiError> {
    let row = supported(&state, &caller, Some(case_id))
        .await?
        .pop()
        .ok_or(ApiError::CaseNotFound)?;
    access_audit::record(
        &state.pool,
        &caller,
        "GET /v1/my/cases/{case_id}",
        Read::Cases(&[row.case_id]),
    )
    .await?;
    Ok(Json(row))
}
