//! Outreach cases: the list program managers work from, and a single case.

use std::fmt;
use std::str::FromStr;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, RunTheProgram};
use crate::access_audit::{self, Read};
use crate::error::{ApiError, Problem};
use crate::extract::{Path, Query};
use crate::ApiState;
use outreach_projections::{CaseRow, SuggestedContact};

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_cases))
        .routes(routes!(get_case))
}

// The read model's codes, with their schemas: declared once, by the projection that writes them.
pub use outreach_projections::{CaseStatus, Decision};

/// One care team member's outreach after one trigger.
// Here and below, `required = true` on an `Option` tells clients the field is always present,
// null when unknown, rather than sometimes missing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Case {
    pub case_id: Uuid,
    /// The case's version: pass it as `If-Match` with a command (also the `ETag` of the case).
    #[schema(example = 3)]
    pub version: u64,
    pub status: CaseStatus,
    /// What started outreach: an incident, an I-report, a self- or colleague referral.
    pub trigger: String,
    pub report: ReportRef,
    pub campus: String,
    pub unit: String,
    pub opened_at: DateTime<Utc>,
    /// Null while the case is open.
    #[schema(required = true)]
    pub closed_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub close_reason: Option<String>,
    /// Staff id of the assigned peer supporter; null until one is assigned.
    #[schema(required = true)]
    pub supporter_id: Option<String>,
    /// When first contact is due under the program's deadline policy; null for cases opened
    /// before deadlines existed.
    #[schema(required = true)]
    pub first_contact_due: Option<DateTime<Utc>>,
    /// First contact is due, has not been attempted, and the case is still `open` or
    /// `assigned`. Computed when read.
    pub overdue: bool,
    /// The urgency policy found a report of the case urgent (a death, a severe harm, a listed
    /// category): the one that opened it, or a later one that joined it. First contact is then
    /// due within the urgent allowance, and the supporter on call was paged.
    pub urgent: bool,
    /// When contact was first attempted; null until then.
    #[schema(required = true)]
    pub first_contacted_at: Option<DateTime<Utc>>,
    /// When the member was reached; null until then.
    #[schema(required = true)]
    pub reached_at: Option<DateTime<Utc>>,
    /// The member's decision; null until they made one.
    #[schema(required = true)]
    pub decision: Option<Decision>,
    #[schema(required = true)]
    pub decided_at: Option<DateTime<Utc>>,
    /// How many contact attempts were recorded.
    pub contact_attempts: u32,
    /// How many encounters (conversations) were recorded.
    pub encounters: u32,
    /// How many times resources were sent.
    pub resources_sent: u32,
    /// How many referrals to professional help (tier 3) were made.
    pub referrals: u32,
    /// How many escalations were recorded.
    pub escalations: u32,
    pub member: Member,
    /// The member's contact details are a referrer's suggestion (a colleague the program had no
    /// record of), held for the program's staff to confirm with
    /// `POST /v1/cases/{case_id}/contact-confirmation`: until then `member.contact` is empty, no
    /// supporter is assigned and nobody reaches out.
    pub contact_to_confirm: bool,
    /// The suggestion held while `contact_to_confirm`; null otherwise, or once purged.
    #[schema(required = true)]
    pub suggested_contact: Option<Contact>,
}

impl IntoResponse for Case {
    /// The case, with its version as the `ETag`, for `If-Match` on the next command.
    fn into_response(self) -> Response {
        let etag = HeaderValue::from_str(&format!("\"{}\"", self.version))
            .expect("a quoted number is a valid header value");
        ([(header::ETAG, etag)], Json(self)).into_response()
    }
}

/// The safety report that triggered the case; only its identity, never its content.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRef {
    pub source: String,
    pub report_id: String,
}

/// The care team member the case is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub staff_id: String,
    pub role: String,
    pub discipline: String,
    pub department: String,
    #[schema(required = true)]
    pub seniority: Option<String>,
    /// How the member was involved: primary, witness, reporter.
    pub involvement: String,
    pub name: PersonName,
    pub contact: Contact,
}

/// Null once personal data has been purged.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonName {
    #[schema(required = true)]
    pub given: Option<String>,
    #[schema(required = true)]
    pub family: Option<String>,
}

/// Null once personal data has been purged.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    #[schema(required = true)]
    pub email: Option<String>,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true)]
    pub mobile: Option<String>,
    #[schema(required = true)]
    pub preferred_channel: Option<String>,
}

/// One page of cases, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<Case>,
    /// Pass as `after` to fetch the next page; null on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// Filters and paging of the case list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListCasesQuery {
    /// Only cases with this status.
    status: Option<CaseStatus>,
    /// Only cases on this campus.
    campus: Option<crate::values::ShortText>,
    /// Only cases whose first contact is overdue (`true`), or only the others (`false`).
    overdue: Option<bool>,
    /// Page size.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, default = 50)]
    limit: Limit,
    /// The `next` value of the previous page.
    #[param(value_type = Option<String>, pattern = r"^-?[0-9]{1,16}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    after: Option<Cursor>,
}

/// A page size known to be in range, so the handler cannot forget to check it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "u32")]
pub(crate) struct Limit(pub(crate) u32);

impl Limit {
    pub(crate) const MAX: u32 = 200;
}

impl Default for Limit {
    fn default() -> Self {
        Limit(50)
    }
}

impl TryFrom<u32> for Limit {
    type Error = String;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Limit(value))
        } else {
            Err(format!("must be between 1 and {}", Self::MAX))
        }
    }
}

/// The position of the last case of a page in `(opened_at DESC, case_id DESC)` order.
///
/// Written `"{opened_at in µs since the epoch}_{case_id}"`: PostgreSQL keeps microseconds, so the
/// round trip is exact and no case is skipped or repeated at a page boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Cursor {
    opened_at: DateTime<Utc>,
    case_id: Uuid,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.opened_at.timestamp_micros(), self.case_id)
    }
}

impl FromStr for Cursor {
    type Err = &'static str;

    /// Exactly as written by `Display` (and as the document's pattern says): signed decimal
    /// microseconds, `_`, the case id hyphenated in lower case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const MALFORMED: &str =
            "malformed cursor; pass the `next` value of a previous page unchanged";
        let (micros, case_id) = s.split_once('_').ok_or(MALFORMED)?;
        let digits = micros.strip_prefix('-').unwrap_or(micros);
        let canonical_id = case_id.len() == 36
            && case_id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'));
        if !(1..=16).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || !canonical_id
        {
            return Err(MALFORMED);
        }
        let micros: i64 = micros.parse().map_err(|_| MALFORMED)?;
        Ok(Cursor {
            opened_at: DateTime::from_timestamp_micros(micros).ok_or(MALFORMED)?,
            case_id: Uuid::try_parse(case_id).map_err(|_| MALFORMED)?,
        })
    }
}

impl TryFrom<String> for Cursor {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// Whether first contact is overdue. Mirrors the partial index
/// `outreach_cases_awaiting_first_contact`; a null deadline is never overdue.
macro_rules! overdue {
    () => {
        r#"COALESCE(first_contacted_at IS NULL AND status IN ('open', 'assigned')
                    AND first_contact_due < now(), false)"#
    };
}

/// A case of the read model as it is shown: its row, and whether first contact is overdue
/// (computed from the clock of the database when read). What the JSON [`Case`] and the
/// dashboard's pages are both made from.
#[derive(sqlx::FromRow)]
pub(crate) struct ShownCase {
    #[sqlx(flatten)]
    pub(crate) row: CaseRow,
    pub(crate) overdue: bool,
}

/// Counts and versions are never negative; the columns are signed only because PostgreSQL's are.
pub(crate) fn unsigned<T: TryFrom<i64> + Default>(value: impl Into<i64>) -> T {
    T::try_from(value.into()).unwrap_or_default()
}

impl From<SuggestedContact> for Contact {
    fn from(held: SuggestedContact) -> Self {
        Contact {
            email: held.email,
            phone: held.phone,
            mobile: held.mobile,
            preferred_channel: held.preferred_channel,
        }
    }
}

impl From<ShownCase> for Case {
    fn from(ShownCase { row, overdue }: ShownCase) -> Self {
        Case {
            case_id: row.case_id,
            version: unsigned(row.version),
            status: row.status,
            trigger: row.trigger_kind,
            report: ReportRef {
                source: row.report_source,
                report_id: row.report_id,
            },
            campus: row.campus,
            unit: row.unit,
            opened_at: row.opened_at,
            closed_at: row.closed_at,
            close_reason: row.close_reason,
            supporter_id: row.supporter_id,
            first_contact_due: row.first_contact_due,
            overdue,
            urgent: row.urgent,
            first_contacted_at: row.first_contacted_at,
            reached_at: row.reached_at,
            decision: row.decision,
            decided_at: row.decided_at,
            contact_attempts: unsigned(row.contact_attempts),
            encounters: unsigned(row.encounters),
            resources_sent: unsigned(row.resources_sent),
            referrals: unsigned(row.referrals),
            escalations: unsigned(row.escalations),
            member: Member {
                staff_id: row.staff_id,
                role: row.role,
                discipline: row.discipline,
                department: row.department,
                seniority: row.seniority,
                involvement: row.involvement,
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
            },
            contact_to_confirm: row.contact_to_confirm,
            suggested_contact: row.suggested_contact.map(|held| held.0.into()),
        }
    }
}

/// List outreach cases, newest first.
#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "cases",
    params(ListCasesQuery),
    responses(
        (status = 200, description = "One page of cases", body = CaseList),
        (status = 400, description = "A query parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The server failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_cases(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Query(query): Query<ListCasesQuery>,
) -> Result<Json<CaseList>, ApiError> {
    let filter = CaseFilter {
        statuses: query.status.map(|status| vec![status]),
        campus: query.campus.map(|c| c.0),
        trigger: None,
        overdue: query.overdue,
        after: query.after,
        limit: query.limit,
    };
    let (rows, next) = find_cases(&state.pool, &filter).await?;
    let shown: Vec<Uuid> = rows.iter().map(|shown| shown.row.case_id).collect();
    access_audit::record(&state.pool, &caller, "GET /v1/cases", Read::Cases(&shown)).await?;
    Ok(Json(CaseList {
        cases: rows.into_iter().map(Case::from).collect(),
        next: next.map(|cursor| cursor.to_string()),
    }))
}

/// Which cases to list: the JSON list's filters, and the dashboard queue's (any of several
/// statuses, a trigger).
#[derive(Debug, Default)]
pub(crate) struct CaseFilter {
    pub(crate) statuses: Option<Vec<CaseStatus>>,
    pub(crate) campus: Option<String>,
    pub(crate) trigger: Option<String>,
    pub(crate) overdue: Option<bool>,
    pub(crate) after: Option<Cursor>,
    pub(crate) limit: Limit,
}

/// One page of cases, newest first, and where the next page starts (if one follows). Reads
/// personal data: the caller records the read in the access audit before serving it.
pub(crate) async fn find_cases(
    pool: &sqlx::PgPool,
    filter: &CaseFilter,
) -> Result<(Vec<ShownCase>, Option<Cursor>), ApiError> {
    let limit = filter.limit.0;
    // One row more than the page tells whether another page follows without a count.
    let mut rows = sqlx::query_as::<_, ShownCase>(concat!(
        "SELECT *, ",
        overdue!(),
        r#" AS overdue
        FROM outreach_cases
        WHERE ($1::text[] IS NULL OR status = ANY($1))
          AND ($2::text IS NULL OR campus = $2)
          AND ($3::timestamptz IS NULL OR (opened_at, case_id) < ($3, $4::uuid))
          AND ($6::bool IS NULL OR "#,
        overdue!(),
        r#" = $6)
          AND ($7::text IS NULL OR trigger_kind = $7)
        ORDER BY opened_at DESC, case_id DESC
        LIMIT $5
        "#,
    ))
    .bind(filter.statuses.as_ref())
    .bind(filter.campus.as_deref())
    .bind(filter.after.map(|c| c.opened_at))
    .bind(filter.after.map(|c| c.case_id))
    .bind(i64::from(limit) + 1)
    .bind(filter.overdue)
    .bind(filter.trigger.as_deref())
    .fetch_all(pool)
    .await?;

    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|last| Cursor {
            opened_at: last.row.opened_at,
            case_id: last.row.case_id,
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// One case, if the read model has it. Reads personal data: the caller records the read.
pub(crate) async fn find_case(
    pool: &sqlx::PgPool,
    case_id: Uuid,
) -> Result<Option<ShownCase>, ApiError> {
    Ok(sqlx::query_as::<_, ShownCase>(concat!(
        "SELECT *, ",
        overdue!(),
        r#" AS overdue
        FROM outreach_cases
        WHERE case_id = $1
        "#,
    ))
    .bind(case_id)
    .fetch_optional(pool)
    .await?)
}

/// One outreach case.
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}",
    tag = "cases",
    params(("case_id" = Uuid, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case", body = Case,
            headers(("ETag" = String, description = "The case's version, quoted: pass it as `If-Match` with a command"))),
        (status = 400, description = "The case id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No case has this id", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The server failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_case(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
) -> Result<Case, ApiError> {
    let row = find_case(&state.pool, case_id)
        .await?
        .ok_or(ApiError::CaseNotFound)?;
    access_audit::record(
        &state.pool,
        &caller,
        "GET /v1/cases/{case_id}",
        Read::Cases(&[case_id]),
    )
    .await?;
    Ok(row.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_to_the_microsecond() {
        let cursor = Cursor {
            opened_at: DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap(),
            case_id: Uuid::new_v4(),
        };
        assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "123",
            "abc_1f0c",
            "12_not-a-uuid",
            "_00000000-0000-0000-0000-000000000000",
            "+12_00000000-0000-0000-0000-000000000000",
            "12_00000000000000000000000000000000",
            "12_00000000-0000-0000-0000-00000000000A",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?} was accepted");
        }
    }
}
