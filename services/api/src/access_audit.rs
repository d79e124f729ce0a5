//! The access audit: every read of a member's personal data (name, contact details,
//! preferences) is recorded before the data is served: who read it, when, which case (or
//! member), through which endpoint. The table is append-only by a trigger (migration
//! `access_audit`) and by the runtime role's privileges (insert and select only), its entries
//! are hash-chained (see [`crate::audit_chain`]), and the director reads it here with whether
//! the chain holds; nothing in the service updates or deletes it.
//!
//! A care team member reading their own record is recorded as `self`, without their subject or
//! staff id: who they are is personal data the retention purge must be able to forget.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, Caller, ReadAccessAudit};
use crate::audit_chain::{self, ChainStatus};
use crate::error::{ApiError, Problem};
use crate::extract::Query;
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(read_access_audit))
}

/// What was read: the cases shown, a member's record (by someone acting for them), or the
/// reader's own record.
pub(crate) enum Read<'a> {
    Cases(&'a [Uuid]),
    Member(Uuid),
    OwnRecord(Uuid),
}

/// Records that `caller` read personal data through `endpoint`. Called before the data is
/// returned: if the record cannot be written, the data is not served.
pub(crate) async fn record(
    pool: &sqlx::PgPool,
    caller: &Caller,
    endpoint: &'static str,
    read: Read<'_>,
) -> Result<(), ApiError> {
    let (case_ids, member_id): (&[Uuid], Option<Uuid>) = match read {
        Read::Cases([]) => return Ok(()),
        Read::Cases(ids) => (ids, None),
        Read::Member(id) | Read::OwnRecord(id) => (&[], Some(id)),
    };
    let (subject, staff_id, relation) = match read {
        Read::OwnRecord(_) => (None, None, Some("self")),
        _ => (Some(caller.subject()), caller.0.staff_id.as_deref(), None),
    };
    sqlx::query(
        r#"
        INSERT INTO access_audit (subject, reader_staff_id, reader_roles, reader_relation, endpoint, case_id, member_id)
        SELECT $1, $2, $3, $7, $4, case_id, $6
        FROM (SELECT unnest($5::uuid[]) AS case_id UNION ALL SELECT NULL WHERE $6::uuid IS NOT NULL) read
        "#,
    )
    .bind(subject)
    .bind(staff_id)
    .bind(caller.role_codes())
    .bind(endpoint)
    .bind(case_ids)
    .bind(member_id)
    .bind(relation)
    .execute(pool)
    .await?;
    Ok(())
}

/// One read of personal data.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AccessRecord {
    /// Increasing: pass the last one as `after` for the next page.
    pub entry_id: i64,
    pub read_at: DateTime<Utc>,
    /// The reader, as the identity provider names them (`sub`); null for a member reading
    /// their own record.
    #[schema(required = true)]
    pub subject: Option<String>,
    /// The reader's staff id, if their token carries one; null for a member reading their own
    /// record.
    #[schema(required = true)]
    pub reader_staff_id: Option<String>,
    /// The reader's roles at the time.
    pub reader_roles: Vec<String>,
    /// `self`: a member read their own record (and is not named).
    #[schema(required = true)]
    pub reader_relation: Option<String>,
    /// The endpoint, e.g. `GET /v1/cases/{case_id}`.
    pub endpoint: String,
    /// The case read; null when a member's own record was read.
    #[schema(required = true)]
    pub case_id: Option<Uuid>,
    /// The member whose record was read (the member's pseudonymous id); null for case reads.
    #[schema(required = true)]
    pub member_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessAudit {
    /// Oldest first.
    pub records: Vec<AccessRecord>,
    /// Whether the audit's hash chain holds: what this request checked (entries new since the
    /// last check), and what the last walk of the whole chain found.
    pub chain: ChainStatus,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required = true)]
    pub next: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccessAuditQuery {
    /// Only reads of this case.
    case_id: Option<Uuid>,
    /// Only reads by this subject.
    subject: Option<crate::values::Subject>,
    /// The `next` value of the previous page.
    after: Option<i64>,
}

const PAGE: i64 = 500;

/// Who read which case's personal data, when, and through which endpoint, and whether the
/// audit's hash chain holds (the director only).
#[utoipa::path(
    get,
    path = "/v1/access-audit",
    tag = "access audit",
    params(AccessAuditQuery),
    responses(
        (status = 200, description = "One page of the access audit, oldest first", body = AccessAudit),
        (status = 400, description = "A query parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the program director reads the access audit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn read_access_audit(
    State(state): State<ApiState>,
    _: Allowed<ReadAccessAudit>,
    Query(query): Query<AccessAuditQuery>,
) -> Result<Json<AccessAudit>, ApiError> {
    let mut records = sqlx::query_as::<_, AccessRecord>(
        r#"
        SELECT entry_id, read_at, subject, reader_staff_id, reader_roles, reader_relation, endpoint,
               case_id, member_id
        FROM access_audit
        WHERE ($1::uuid IS NULL OR case_id = $1)
          AND ($2::text IS NULL OR subject = $2)
          AND entry_id > COALESCE($3, 0)
        ORDER BY entry_id
        LIMIT $4
        "#,
    )
    .bind(query.case_id)
    .bind(query.subject.map(|s| s.0))
    .bind(query.after)
    .bind(PAGE + 1)
    .fetch_all(&state.pool)
    .await?;
    let next = if records.len() as i64 > PAGE {
        records.truncate(PAGE as usize);
        records.last().map(|last| last.entry_id)
    } else {
        None
    };
    let chain = audit_chain::status(&state.pool).await?;
    Ok(Json(AccessAudit {
        records,
        chain,
        next,
    }))
}
