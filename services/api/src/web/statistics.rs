//! Statistics for the safety office and the program's staff: the period's tables as the API
//! serves them, suppressed cells shown as suppressed, two charts drawn on the server as SVG
//! (cases opened by quarter and trigger; time to first contact by campus), and the API's CSV.

use std::fmt::Write;

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use outreach_domain::period::{Period, SafetyOfficePeriods};
use outreach_domain::suppression::Cell;
use outreach_projections::statistics_report::Statistics;
use serde::Deserialize;

use super::view::{capitalised, words, Nav};
use super::{render, PageError, SignedIn, WebState};
use crate::access::Caller;
use crate::access::ReadStatistics;
use crate::error::ApiError;
use crate::extract::Query;
use crate::statistics::{csv_download, statistics_for};

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/statistics", get(page))
        .route("/statistics.csv", get(download))
}

#[derive(Deserialize)]
struct PeriodQuery {
    #[serde(default)]
    period: Option<String>,
}

/// The quarter asked for; else, for the program's staff the one running now in the program's
/// calendar, for the safety office the last one that is over (the first it may read).
fn period_of(state: &WebState, caller: &Caller, query: &PeriodQuery) -> Result<Period, ApiError> {
    match query.period.as_deref().filter(|p| !p.is_empty()) {
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::InvalidQuery("period: a quarter (2026-Q3) or month".into())),
        None => Ok(newest_quarter(state, caller)),
    }
}

/// The newest quarter `caller` may read: the running one for the program's staff, the last
/// one over for the safety office.
fn newest_quarter(state: &WebState, caller: &Caller) -> Period {
    let today = today(state);
    if caller.runs_the_program() {
        Period::quarter_of(today)
    } else {
        SafetyOfficePeriods::latest_quarter(today)
    }
}

fn today(state: &WebState) -> chrono::NaiveDate {
    let zone = state.api.commands.policies().deadlines.calendar.time_zone;
    Utc::now().with_timezone(&zone).date_naive()
}

struct TableView {
    caption: String,
    by: String,
    columns: Vec<String>,
    rows: Vec<(String, Vec<String>, String)>,
    column_totals: Vec<String>,
    total: String,
}

fn cell(cell: &Cell) -> String {
    match cell {
        Cell::Count(n) => n.to_string(),
        Cell::Suppressed => "suppressed".to_owned(),
    }
}

fn tables(statistics: &Statistics) -> Vec<TableView> {
    statistics
        .tables
        .iter()
        .map(|table| {
            let t = &table.table;
            TableView {
                caption: format!(
                    "{} by {}",
                    capitalised(&words(&table.measure)),
                    words(&table.by)
                ),
                by: capitalised(&words(&table.by)),
                columns: t.columns.iter().map(|c| capitalised(&words(c))).collect(),
                rows: t
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(r, row)| {
                        (
                            capitalised(&words(row)),
                            t.cells[r].iter().map(cell).collect(),
                            cell(&t.row_totals[r]),
                        )
                    })
                    .collect(),
                column_totals: t.column_totals.iter().map(cell).collect(),
                total: cell(&t.total),
            }
        })
        .collect()
}

struct TimingView {
    by: String,
    group: String,
    cases: String,
    median: String,
    p90: String,
    within: String,
}

fn hours(value: Option<f64>) -> String {
    value.map_or_else(|| "suppressed".to_owned(), |v| format!("{v:.1} h"))
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsPage {
    nav: Nav,
    title: String,
    period: String,
    periods: Vec<String>,
    smallest: u64,
    tables: Vec<TableView>,
    timings: Vec<TimingView>,
    cases_chart: String,
    contact_chart: String,
}

async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn<ReadStatistics>,
    Query(query): Query<PeriodQuery>,
) -> Result<Html<String>, PageError> {
    let nav = signed_in.nav("/dashboard/statistics");
    let caller = &signed_in.caller;
    let period =
        period_of(&state, caller, &query).map_err(|e| PageError::from(e).with_nav(nav.clone()))?;
    let statistics = statistics_for(&state.api, caller, period)
        .await
        .map_err(|e| PageError::from(e).with_nav(nav.clone()))?;
    // The chart of cases covers the four quarters up to the one shown (or the running one).
    let mut quarter = match period {
        Period::Quarter { .. } => period,
        Period::Month { .. } => Period::quarter_of(period.first_month()),
    };
    let mut quarters = Vec::new();
    for _ in 0..4 {
        let counts = statistics_for(&state.api, caller, quarter).await?;
        quarters.push(counts);
        quarter = quarter.previous_quarter();
    }
    quarters.reverse();
    let mut periods = Vec::new();
    let mut recent = newest_quarter(&state, caller);
    for _ in 0..8 {
        periods.push(recent.to_string());
        recent = recent.previous_quarter();
    }
    let timings = statistics
        .first_contact
        .iter()
        .map(|t| TimingView {
            by: capitalised(&words(&t.by)),
            group: capitalised(&words(&t.group)),
            cases: cell(&t.cases),
            median: hours(t.median_working_hours),
            p90: hours(t.p90_working_hours),
            within: t.share_within_deadline.map_or_else(
                || "suppressed".to_owned(),
                |s| format!("{:.0} %", s * 100.0),
            ),
        })
        .collect();
    render(&StatisticsPage {
        nav,
        title: format!("Statistics {period}"),
        period: period.to_string(),
        periods,
        smallest: statistics.smallest_published_count,
        tables: tables(&statistics),
        timings,
        cases_chart: cases_chart(&quarters),
        contact_chart: contact_chart(&statistics),
    })
}

async fn download(
    State(state): State<WebState>,
    signed_in: SignedIn<ReadStatistics>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, PageError> {
    let period = period_of(&state, &signed_in.caller, &query)?;
    let statistics = statistics_for(&state.api, &signed_in.caller, period).await?;
    Ok(csv_download(&statistics))
}

/// Text for SVG.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The colours of the triggers: distinguishable, each at least 3:1 against white.
const COLOURS: [&str; 5] = ["#0b4f8a", "#b34700", "#1b7a3a", "#7a3e9d", "#8a6d00"];

/// Cases opened per quarter, a bar per trigger; a suppressed count is drawn as a hatched stub
/// and labelled, never as a number.
fn cases_chart(quarters: &[Statistics]) -> String {
    let totals: Vec<(String, Vec<(String, Cell)>)> = quarters
        .iter()
        .map(|q| {
            let by_trigger = q
                .tables
                .iter()
                .find(|t| t.measure == "cases_opened" && t.by == "campus")
                .map(|t| {
                    t.table
                        .columns
                        .iter()
                        .cloned()
                        .zip(t.table.column_totals.iter().copied())
                        .collect()
                })
                .unwrap_or_default();
            (q.period.to_string(), by_trigger)
        })
        .collect();
    let triggers: Vec<String> = totals
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|(t, _)| t.clone()))
        .fold(Vec::new(), |mut all, t| {
            if !all.contains(&t) {
                all.push(t);
            }
            all
        });
    let max = totals
        .iter()
        .flat_map(|(_, cells)| cells.iter().filter_map(|(_, c)| c.count()))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (width, height, left, bottom) = (640.0, 260.0, 40.0, 40.0);
    let group_width = (width - left) / totals.len().max(1) as f64;
    let bar = (group_width - 20.0) / triggers.len().max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-labelledby="cases-chart-title cases-chart-desc" viewBox="0 0 {width} {}" xmlns="http://www.w3.org/2000/svg">"#,
        height + 60.0
    );
    svg.push_str(r#"<title id="cases-chart-title">Cases opened by quarter and trigger</title>"#);
    svg.push_str(r#"<desc id="cases-chart-desc">Bars per trigger for each of four quarters; suppressed counts are hatched. The tables below hold the same counts.</desc>"#);
    svg.push_str(r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="2"/></pattern></defs>"##);
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{}" x2="{width}" y2="{}" stroke="#333"/>"##,
        height - bottom,
        height - bottom
    );
    for (g, (period, cells)) in totals.iter().enumerate() {
        let x0 = left + g as f64 * group_width + 10.0;
        for (t, trigger) in triggers.iter().enumerate() {
            let x = x0 + t as f64 * bar;
            let colour = COLOURS[t % COLOURS.len()];
            match cells
                .iter()
                .find(|(name, _)| name == trigger)
                .map(|(_, c)| *c)
            {
                Some(Cell::Count(n)) => {
                    let h = (height - bottom - 20.0) * n as f64 / max;
                    let _ = write!(
                        svg,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"><title>{period}, {}: {n}</title></rect>"#,
                        height - bottom - h,
                        bar - 2.0,
                        esc(&words(trigger))
                    );
                }
                Some(Cell::Suppressed) => {
                    let _ = write!(
                        svg,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="12" fill="url(#hatch)" stroke="{colour}"><title>{period}, {}: suppressed</title></rect>"#,
                        height - bottom - 12.0,
                        bar - 2.0,
                        esc(&words(trigger))
                    );
                }
                None => {}
            }
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="#1a1a1a">{period}</text>"##,
            x0 + (group_width - 20.0) / 2.0,
            height - bottom + 18.0
        );
    }
    for (t, trigger) in triggers.iter().enumerate() {
        let x = left + (t as f64) * 120.0;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" font-size="12" fill="#1a1a1a">{}</text>"##,
            height + 10.0,
            COLOURS[t % COLOURS.len()],
            x + 16.0,
            height + 21.0,
            esc(&capitalised(&words(trigger)))
        );
    }
    if triggers.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="14" fill="#1a1a1a">No cases opened in these quarters</text>"##,
            width / 2.0,
            height / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Median and 90th percentile of working hours to first contact, per campus, where they may
/// be shown.
fn contact_chart(statistics: &Statistics) -> String {
    let groups: Vec<_> = statistics
        .first_contact
        .iter()
        .filter(|t| t.by == "campus")
        .collect();
    let max = groups
        .iter()
        .filter_map(|t| t.p90_working_hours.or(t.median_working_hours))
        .fold(1.0_f64, f64::max);
    let (width, row, left) = (640.0, 44.0, 150.0);
    let height = row * groups.len().max(1) as f64 + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-labelledby="contact-chart-title contact-chart-desc" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    svg.push_str(
        r#"<title id="contact-chart-title">Working hours to first contact, by campus</title>"#,
    );
    svg.push_str(r#"<desc id="contact-chart-desc">For each campus a bar for the median and a thinner one for the 90th percentile; where the number of cases is too small to show, the bar is left out and marked suppressed.</desc>"#);
    for (i, timing) in groups.iter().enumerate() {
        let y = 10.0 + i as f64 * row;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{:.1}" text-anchor="end" font-size="13" fill="#1a1a1a">{}</text>"##,
            left - 8.0,
            y + 16.0,
            esc(&timing.group)
        );
        let scale = |v: f64| (width - left - 80.0) * v / max;
        match (timing.median_working_hours, timing.p90_working_hours) {
            (None, None) => {
                let _ = write!(
                    svg,
                    r##"<text x="{left}" y="{:.1}" font-size="13" fill="#1a1a1a">suppressed</text>"##,
                    y + 16.0
                );
            }
            (median, p90) => {
                if let Some(m) = median {
                    let _ = write!(
                        svg,
                        r##"<rect x="{left}" y="{y:.1}" width="{:.1}" height="16" fill="#0b4f8a"><title>{}: median {m:.1} working hours</title></rect><text x="{:.1}" y="{:.1}" font-size="12" fill="#1a1a1a">median {m:.1} h</text>"##,
                        scale(m),
                        esc(&timing.group),
                        left + scale(m) + 4.0,
                        y + 13.0
                    );
                }
                if let Some(p) = p90 {
                    let _ = write!(
                        svg,
                        r##"<rect x="{left}" y="{:.1}" width="{:.1}" height="8" fill="#b34700"><title>{}: 90th percentile {p:.1} working hours</title></rect><text x="{:.1}" y="{:.1}" font-size="12" fill="#1a1a1a">p90 {p:.1} h</text>"##,
                        y + 20.0,
                        scale(p),
                        esc(&timing.group),
                        left + scale(p) + 4.0,
                        y + 28.0
                    );
                }
            }
        }
    }
    if groups.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="30" text-anchor="middle" font-size="14" fill="#1a1a1a">No first contacts in this period</text>"##,
            width / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}
