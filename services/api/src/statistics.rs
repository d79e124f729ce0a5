//! Statistics for the safety office: cumulative counts for a quarter or a month, each broken
//! down by campus and by discipline, small cells suppressed (CMS cell-size policy), as JSON or
//! CSV. Read from the statistics read model, which holds counts and anonymous durations only.
//!
//! Every table is suppressed as a whole (cells, row and column totals, the grand total) by the
//! domain's [`suppress`]; a share is published only when its counts are, and a median or
//! percentile only when the number of cases behind it may be published.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use outreach_domain::period::Period;
use outreach_domain::suppression::Cell;
use outreach_projections::statistics_publication::{self, Publication, RequestedBy};
use outreach_projections::statistics_report::{self, Statistics};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{self, Allowed, ReadStatistics};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Query};
use crate::ApiState;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/statistics", get(get_statistics))
        .route("/v1/statistics/publications", post(publish_statistics))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// A quarter (`2026-Q3`) or a month (`2026-07`) of the program's calendar.
    #[param(value_type = String, pattern = "^2[0-9]{3}-(Q[1-4]|0[1-9]|1[0-2])$", example = "2026-Q3")]
    pub period: Period,
    /// `json` (the default) or `csv`; `Accept: text/csv` asks for CSV too.
    #[serde(default)]
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

/// Statistics of a period, for the safety office.
#[utoipa::path(
    get,
    path = "/v1/statistics",
    tag = "statistics",
    params(StatisticsQuery),
    responses(
        (status = 200, description = "The period's tables, small cells suppressed. As JSON (the default): `period`, `from`, `until`, `smallest_published_count`, `tables` (each `measure` by `campus` or `discipline`: `rows`, `columns`, `cells`, `row_totals`, `column_totals`, `total`; a value is a count or the string `suppressed`) and `first_contact` (`cases`, `median_working_hours`, `p90_working_hours`, `share_within_deadline`, null where suppressed). As CSV (`format=csv` or `Accept: text/csv`): `period,table,by,row,column,value`, no cell starting with a formula character",
            content(
                (Object = "application/json"),
                (String = "text/csv"),
            )),
        (status = 400, description = "`invalid-parameter`: the period is not a quarter or month", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_statistics(
    State(state): State<ApiState>,
    _: Allowed<ReadStatistics>,
    headers: HeaderMap,
    Query(query): Query<StatisticsQuery>,
) -> Result<Response, ApiError> {
    let statistics = statistics_report::read(&state.pool, query.period).await?;
    let wants_csv = query.format == Some(Format::Csv)
        || (query.format.is_none()
            && headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/csv")));
    if wants_csv {
        return Ok(csv_download(&statistics));
    }
    Ok(Json(statistics).into_response())
}

/// The period's statistics as a CSV file to save (the API's and the dashboard's download).
pub(crate) fn csv_download(statistics: &Statistics) -> Response {
    let disposition = format!(
        "attachment; filename=\"statistics-{}.csv\"",
        statistics.period
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("a period is a valid header"),
            ),
        ],
        csv(statistics),
    )
        .into_response()
}

/// A request to publish a period's statistics.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishStatistics {
    /// A quarter (`2026-Q3`) or a month (`2026-07`) that is over.
    #[schema(value_type = String, pattern = "^2[0-9]{3}-(Q[1-4]|0[1-9]|1[0-2])$", example = "2026-Q3")]
    pub period: Period,
}

/// What the request did.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsPublication {
    #[schema(value_type = String, example = "2026-Q3")]
    pub period: Period,
    /// The CloudEvent's id, the same however often the period is asked for.
    pub event_id: uuid::Uuid,
    /// False when the period had been published before: nothing new was sent.
    pub published_now: bool,
    pub published_at: chrono::DateTime<chrono::Utc>,
}

/// Publish a period's statistics on the statistics topic, once: the director's request, beside
/// the automatic one at each quarter's end. A period already published publishes nothing new.
#[utoipa::path(
    post,
    path = "/v1/statistics/publications",
    tag = "statistics",
    request_body = PublishStatistics,
    responses(
        (status = 201, description = "Published now", body = StatisticsPublication),
        (status = 200, description = "Published before; nothing new was sent", body = StatisticsPublication),
        (status = 400, description = "`invalid-body`: the period is not a quarter or month", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`period-not-over`: a period is published once, so only when it is complete", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn publish_statistics(
    State(state): State<ApiState>,
    _: Allowed<access::PublishStatistics>,
    JsonBody(body): JsonBody<PublishStatistics>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let zone = state.commands.policies().deadlines.calendar.time_zone;
    if body.period.end() > now.with_timezone(&zone).date_naive() {
        return Err(ApiError::Refused {
            rule: "period-not-over",
            detail: format!(
                "{} is not over yet, and a period is published only once",
                body.period
            ),
        });
    }
    let published =
        statistics_publication::publish(&state.pool, body.period, RequestedBy::Director, now)
            .await?;
    let (status, event_id, published_now, published_at) = match published {
        Publication::Published { event_id } => (StatusCode::CREATED, event_id, true, now),
        Publication::AlreadyPublished {
            event_id,
            published_at,
        } => (StatusCode::OK, event_id, false, published_at),
    };
    let answer = StatisticsPublication {
        period: body.period,
        event_id,
        published_now,
        published_at,
    };
    Ok((status, Json(answer)).into_response())
}

/// The statistics as CSV, one published value per line: `period,table,by,row,column,value`.
fn csv(statistics: &Statistics) -> String {
    let mut out = String::from("period,table,by,row,column,value\n");
    let value = |cell: &Cell| match cell {
        Cell::Count(n) => n.to_string(),
        Cell::Suppressed => "suppressed".to_owned(),
    };
    let field = |text: &str| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let period = statistics.period.to_string();
    for table in &statistics.tables {
        let t = &table.table;
        let mut line = |row: &str, column: &str, cell: &Cell| {
            out.push_str(&format!(
                "{period},{},{},{},{},{}\n",
                table.measure,
                table.by,
                field(row),
                field(column),
                value(cell)
            ));
        };
        for (r, row) in t.rows.iter().enumerate() {
            for (c, column) in t.columns.iter().enumerate() {
                line(row, column, &t.cells[r][c]);
            }
            line(row, "total", &t.row_totals[r]);
        }
        for (c, column) in t.columns.iter().enumerate() {
            line("total", column, &t.column_totals[c]);
        }
        line("total", "total", &t.total);
    }
    let optional =
        |v: Option<f64>| v.map_or_else(|| "suppressed".to_owned(), |v| format!("{v:.2}"));
    for timing in &statistics.first_contact {
        for (column, text) in [
            ("cases", value(&timing.cases)),
            (
                "median_working_hours",
                optional(timing.median_working_hours),
            ),
            ("p90_working_hours", optional(timing.p90_working_hours)),
            (
                "share_within_deadline",
                optional(timing.share_within_deadline),
            ),
        ] {
            out.push_str(&format!(
                "{period},first_contact,{},{},{column},{text}\n",
                timing.by,
                field(&timing.group)
            ));
        }
    }
    out
}
