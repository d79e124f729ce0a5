//! Statistics for the safety office: cumulative counts for a quarter or a month, each broken
//! down by campus and by discipline, small cells suppressed (CMS cell-size policy), as JSON or
//! CSV. Read from the statistics read model, which holds counts and anonymous durations only.
//!
//! Every table is suppressed as a whole (cells, row and column totals, the grand total) by the
//! domain's `suppress_linked`; a share is published only when its counts are, and a median or
//! percentile only when the number of cases behind it may be published.
//!
//! The safety office reads only periods that are over, quarters only unless months are served,
//! each fixed at its first read and suppressed with its linked tables (see
//! `outreach_projections::statistics_publication::fixed`): the program's staff read any period.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outreach_domain::period::{NotServed, Period};
use outreach_domain::suppression::Cell;
use outreach_projections::statistics_publication::{self, Publication, RequestedBy};
use outreach_projections::statistics_report::{self, Statistics};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, Allowed, Caller, ReadStatistics};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Query};
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_statistics))
        .routes(routes!(publish_statistics))
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

/// Statistics of a period: for the safety office, a period that is over (see the module).
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
        (status = 422, description = "Only for the safety office: `period-not-over` (the period, or a month's quarter, is not over) or `months-not-served` (quarters only: `statistics.safety_office_months`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_statistics(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<ReadStatistics>,
    headers: HeaderMap,
    Query(query): Query<StatisticsQuery>,
) -> Result<Response, ApiError> {
    let statistics = statistics_for(&state, &caller, query.period).await?;
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

/// `period`'s statistics as `caller` may read them: any period, suppressed on its own, for the
/// program's staff; for the safety office only periods that are over, fixed, and suppressed
/// with the tables linked to them (quarters only unless `statistics.safety_office_months`).
pub(crate) async fn statistics_for(
    state: &ApiState,
    caller: &Caller,
    period: Period,
) -> Result<Statistics, ApiError> {
    if caller.runs_the_program() {
        return Ok(statistics_report::read(&state.pool, period).await?);
    }
    let now = chrono::Utc::now();
    let today = now.with_timezone(&state.commands.policies().deadlines.calendar.time_zone);
    statistics_publication::fixed(
        &state.pool,
        period,
        state.safety_office,
        today.date_naive(),
        now,
    )
    .await?
    .map_err(not_served)
}

/// The 422 that says why a period is not served.
fn not_served(not_served: NotServed) -> ApiError {
    ApiError::Refused {
        rule: not_served.rule(),
        detail: not_served.to_string(),
    }
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
        (status = 422, description = "`period-not-over`: a period is published once, so only when it is complete (a month only once its quarter is); `months-not-served`: the topic carries quarters only (`statistics.safety_office_months`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn publish_statistics(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<access::PublishStatistics>,
    JsonBody(body): JsonBody<PublishStatistics>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let zone = state.commands.policies().deadlines.calendar.time_zone;
    let today = now.with_timezone(&zone).date_naive();
    let published = statistics_publication::publish(
        &state.pool,
        body.period,
        state.safety_office,
        requested_by(&caller),
        today,
        now,
    )
    .await?
    .map_err(not_served)?;
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

/// The caller who asked for a publication, named as the program's staff are.
fn requested_by(caller: &access::Caller) -> RequestedBy {
    let role = if caller.0.has(access::Director) {
        "director"
    } else {
        "service"
    };
    RequestedBy::Caller {
        role,
        subject: caller.0.subject.clone(),
        staff_id: caller.0.staff_id.clone(),
    }
}

/// The statistics as CSV, one published value per line: `period,table,by,row,column,value`,
/// written by the `csv` crate (quoting as RFC 4180 says) with every cell neutralised.
fn csv(statistics: &Statistics) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut line = |record: [&str; 6]| {
        out.write_record(record.map(|cell| neutralised(cell).into_owned()))
            .expect("writing to memory cannot fail");
    };
    line(["period", "table", "by", "row", "column", "value"]);
    let value = |cell: &Cell| match cell {
        Cell::Count(n) => n.to_string(),
        Cell::Suppressed => "suppressed".to_owned(),
    };
    let period = statistics.period.to_string();
    for table in &statistics.tables {
        let t = &table.table;
        let mut cell = |row: &str, column: &str, cell: &Cell| {
            line([
                &period,
                &table.measure,
                &table.by,
                row,
                column,
                &value(cell),
            ]);
        };
        for (r, row) in t.rows.iter().enumerate() {
            for (c, column) in t.columns.iter().enumerate() {
                cell(row, column, &t.cells[r][c]);
            }
            cell(row, "total", &t.row_totals[r]);
        }
        for (c, column) in t.columns.iter().enumerate() {
            cell("total", column, &t.column_totals[c]);
        }
        cell("total", "total", &t.total);
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
            line([
                &period,
                "first_contact",
                &timing.by,
                &timing.group,
                column,
                &text,
            ]);
        }
    }
    let bytes = out.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the cells are text")
}

/// A cell a spreadsheet would read as a formula (it begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return) is written with a leading `'`, as OWASP's CSV injection guidance says: a
/// campus named `=HYPERLINK(...)` is shown as text, never run.
pub(crate) fn neutralised(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use outreach_domain::suppression::PublishedTable;
    use outreach_projections::statistics_report::{FirstContact, StatisticsTable};
    use proptest::prelude::*;

    use super::*;

    fn statistics(labels: &[String]) -> Statistics {
        let period: Period = "2026-Q3".parse().unwrap();
        let count = |n| Cell::Count(n);
        Statistics {
            period,
            from: period.first_month(),
            until: period.end(),
            smallest_published_count: 11,
            tables: vec![StatisticsTable {
                measure: "cases_opened".into(),
                by: "campus".into(),
                table: PublishedTable {
                    rows: labels.to_vec(),
                    columns: labels.to_vec(),
                    cells: labels
                        .iter()
                        .map(|_| labels.iter().map(|_| count(12)).collect())
                        .collect(),
                    row_totals: labels.iter().map(|_| Cell::Suppressed).collect(),
                    column_totals: labels.iter().map(|_| count(0)).collect(),
                    total: count(40),
                },
            }],
            first_contact: labels
                .iter()
                .map(|label| FirstContact {
                    by: "campus".into(),
                    group: label.clone(),
                    cases: count(15),
                    median_working_hours: Some(3.5),
                    p90_working_hours: None,
                    share_within_deadline: Some(0.9),
                })
                .collect(),
        }
    }

    proptest! {
        /// Whatever the labels (campuses and units are typed by people), no cell of the safety
        /// office's CSV starts with a formula character, and every label reads back as it was.
        #[test]
        fn no_cell_starts_a_formula(labels in proptest::collection::vec(any::<String>(), 1..4)) {
            let text = csv(&statistics(&labels));
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
            let mut rows = 0;
            for record in reader.records() {
                let record = record.unwrap();
                prop_assert_eq!(record.len(), 6);
                for cell in record.iter() {
                    prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{:?}", cell);
                }
                let row = &record[3];
                prop_assert!(
                    row == "total" || labels.iter().any(|l| neutralised(l) == row),
                    "{:?} is no label", row
                );
                rows += 1;
            }
            // Each table cell, row total, column total and the total; four lines per timing.
            let n = labels.len();
            prop_assert_eq!(rows, n * n + n + n + 1 + 4 * n);
        }
    }

    #[test]
    fn a_formula_is_written_as_text() {
        let text = csv(&statistics(&[
            "=HYPERLINK(\"http://x\")".to_owned(),
            "North".to_owned(),
        ]));
        assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
        assert!(text.starts_with("period,table,by,row,column,value\n"));
    }
}
