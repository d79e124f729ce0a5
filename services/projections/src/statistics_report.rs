//! The safety office's statistics of a period, as published: every count table of the
//! statistics read model broken down by campus and by discipline, small cells suppressed (CMS
//! cell-size policy) by the domain's [`suppress`], and time to first contact with its median,
//! 90th percentile and share within the deadline only where the counts behind them may be
//! shown. The API serves it; the quarterly publication sends the same document.
//!
//! The campus and discipline tables of one measure share their column totals and grand total,
//! so a margin hidden in one is hidden in the other too. Each period is protected on its own:
//! a month can be the difference of a quarter and its other two months (see the README).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use outreach_domain::period::Period;
use outreach_domain::suppression::{
    may_publish_statistic_of, share, suppress, Cell, CountTable, PublishedTable, SMALLEST_PUBLISHED,
};
use outreach_events::lifecycle::EscalationCategory;
use outreach_events::TriggerKind;
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    pub period: Period,
    /// The first day of the period.
    pub from: NaiveDate,
    /// The first day after the period.
    pub until: NaiveDate,
    /// Counts from 1 to one less than this are never shown, nor anything they could be
    /// derived from; 0 is shown.
    pub smallest_published_count: u64,
    pub tables: Vec<StatisticsTable>,
    /// Time from a case's opening to its first contact attempt, in working hours.
    pub first_contact: Vec<FirstContact>,
}

/// One table: a measure broken down by campus or by discipline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatisticsTable {
    /// `cases_opened` (columns: trigger kinds), `encounters` (individual, group),
    /// `escalations` (categories), or one of `members_reached`, `accepted`, `declined`,
    /// `unreachable`, `opted_out`, `tier3_referrals` (one column); or, over all responses,
    /// `feedback_helpfulness` (ratings 1 to 5) and `feedback_would_recommend` (yes, no).
    pub measure: &'static str,
    /// `campus` or `discipline`: what the rows are.
    pub by: &'static str,
    /// Cells are counts, or the string `suppressed`.
    pub table: PublishedTable,
}

/// Time to first contact for one campus or discipline (or `all`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstContact {
    /// `campus`, `discipline`, or `all`.
    pub by: &'static str,
    pub group: String,
    /// How many cases had their first contact in the period: a count, or `suppressed`.
    pub cases: Cell,
    /// Null when suppressed (too few cases) or there were none.
    pub median_working_hours: Option<f64>,
    pub p90_working_hours: Option<f64>,
    /// The share of first contacts within the case's deadline, 0 to 1; null when suppressed.
    pub share_within_deadline: Option<f64>,
}

struct Group {
    name: &'static str,
    columns: Vec<(String, String)>, // (read-model measure, column name)
}

fn groups() -> Vec<Group> {
    let codes = |prefix: &str, values: Vec<String>| {
        values
            .into_iter()
            .map(|v| (format!("{prefix}:{v}"), v))
            .collect::<Vec<_>>()
    };
    let single = |name: &'static str, measure: &str| Group {
        name,
        columns: vec![(measure.to_owned(), name.to_owned())],
    };
    vec![
        Group {
            name: "cases_opened",
            columns: codes(
                "opened",
                [
                    TriggerKind::Incident,
                    TriggerKind::IReport,
                    TriggerKind::SelfReferral,
                    TriggerKind::ColleagueReferral,
                    TriggerKind::SupervisorReferral,
                ]
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            ),
        },
        single("members_reached", "reached"),
        single("accepted", "accepted"),
        single("declined", "declined"),
        single("unreachable", "unreachable"),
        single("opted_out", "opted_out"),
        Group {
            name: "encounters",
            columns: codes("encounters", vec!["individual".into(), "group".into()]),
        },
        single("tier3_referrals", "tier3_referrals"),
        Group {
            name: "escalations",
            columns: codes(
                "escalations",
                [
                    EscalationCategory::DangerToSelfOrOthers,
                    EscalationCategory::ImpairmentPuttingPatientsAtRisk,
                    EscalationCategory::AbuseOrNeglect,
                    EscalationCategory::DiscriminationHarassmentOrRetaliation,
                ]
                .iter()
                .map(crate::code_name)
                .collect(),
            ),
        },
    ]
}

pub async fn read(pool: &PgPool, period: Period) -> Result<Statistics, sqlx::Error> {
    let (from, until) = (period.first_month(), period.end());
    let counts: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT measure, campus, discipline, sum(count)::bigint
           FROM statistics_counts
          WHERE month >= $1 AND month < $2
          GROUP BY measure, campus, discipline",
    )
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let contacts: Vec<(String, String, i64, bool)> = sqlx::query_as(
        "SELECT campus, discipline, working_seconds, within_deadline
           FROM statistics_first_contact
          WHERE month >= $1 AND month < $2",
    )
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;

    // Every campus and discipline seen in the period is a row of every table, so that tables
    // line up and a row's absence says nothing.
    let campuses: BTreeSet<String> = counts
        .iter()
        .map(|c| c.1.clone())
        .chain(contacts.iter().map(|c| c.0.clone()))
        .collect();
    let disciplines: BTreeSet<String> = counts
        .iter()
        .map(|c| c.2.clone())
        .chain(contacts.iter().map(|c| c.1.clone()))
        .collect();

    let mut tables = Vec::new();
    for group in groups() {
        let mut pair = Vec::new();
        for (by, rows) in [("campus", &campuses), ("discipline", &disciplines)] {
            let mut cells = vec![vec![0_u64; group.columns.len()]; rows.len()];
            let index: BTreeMap<&String, usize> =
                rows.iter().enumerate().map(|(i, r)| (r, i)).collect();
            for (measure, campus, discipline, count) in &counts {
                let Some(column) = group.columns.iter().position(|(m, _)| m == measure) else {
                    continue;
                };
                let row = index[if by == "campus" { campus } else { discipline }];
                cells[row][column] += u64::try_from(*count).unwrap_or(0);
            }
            let table = CountTable {
                rows: rows.iter().cloned().collect(),
                columns: group.columns.iter().map(|(_, c)| c.clone()).collect(),
                cells,
            };
            pair.push(StatisticsTable {
                measure: group.name,
                by,
                table: suppress(&table),
            });
        }
        share_margins(&mut pair);
        tables.extend(pair);
    }

    // Within and after the deadline, by campus and by discipline: suppressed like any table, so
    // a share cannot reveal a small count; the two share their column totals and grand total,
    // which also give the overall figures.
    let mut deadline_tables = Vec::new();
    for (by, rows) in [("campus", &campuses), ("discipline", &disciplines)] {
        let table = CountTable {
            rows: rows.iter().cloned().collect(),
            columns: vec!["within_deadline".into(), "after_deadline".into()],
            cells: rows
                .iter()
                .map(|row| {
                    let mine = contacts.iter().filter(|c| in_row(by, row, c));
                    let (within, after) =
                        mine.fold(
                            (0, 0),
                            |(w, a), c| {
                                if c.3 {
                                    (w + 1, a)
                                } else {
                                    (w, a + 1)
                                }
                            },
                        );
                    vec![within, after]
                })
                .collect(),
        };
        deadline_tables.push((by, suppress(&table)));
    }
    {
        let [(_, campus), (_, discipline)] = &mut deadline_tables[..] else {
            unreachable!("two breakdowns")
        };
        unify_margins(campus, discipline);
    }
    let mut first_contact = Vec::new();
    for (by, published) in &deadline_tables {
        for (i, row) in published.rows.iter().enumerate() {
            let seconds = contacts
                .iter()
                .filter(|c| in_row(by, row, c))
                .map(|c| c.2)
                .collect();
            first_contact.push(timing(
                by,
                row.clone(),
                published.row_totals[i],
                published.cells[i][0],
                seconds,
            ));
        }
    }
    let (_, overall) = &deadline_tables[0];
    first_contact.push(timing(
        "all",
        "all".into(),
        overall.total,
        overall.column_totals[0],
        contacts.iter().map(|c| c.2).collect(),
    ));

    // Anonymous feedback given in the period: by rating and by recommendation, all responses.
    for (measure, table) in crate::feedback_report::feedback_tables(pool, from, until).await? {
        tables.push(StatisticsTable {
            measure,
            by: "all",
            table,
        });
    }

    Ok(Statistics {
        period,
        from,
        until,
        smallest_published_count: SMALLEST_PUBLISHED,
        tables,
        first_contact,
    })
}

/// Whether a first contact belongs to `row` of the breakdown `by`.
fn in_row(by: &str, row: &str, contact: &(String, String, i64, bool)) -> bool {
    if by == "campus" {
        contact.0 == row
    } else {
        contact.1 == row
    }
}

/// The campus and discipline tables of one measure share their column totals and grand total:
/// a margin hidden in one must not be shown by the other.
fn share_margins(pair: &mut [StatisticsTable]) {
    if let [campus, discipline] = pair {
        unify_margins(&mut campus.table, &mut discipline.table);
    }
}

/// Suppresses, in both tables, every shared margin either suppressed. Hiding more never makes
/// a hidden value derivable, so each table stays protected.
fn unify_margins(a: &mut PublishedTable, b: &mut PublishedTable) {
    for (x, y) in a.column_totals.iter_mut().zip(b.column_totals.iter_mut()) {
        if x.is_suppressed() || y.is_suppressed() {
            (*x, *y) = (Cell::Suppressed, Cell::Suppressed);
        }
    }
    if a.total.is_suppressed() || b.total.is_suppressed() {
        (a.total, b.total) = (Cell::Suppressed, Cell::Suppressed);
    }
}

/// The timing of one group: its median and 90th percentile only when its count may be shown.
fn timing(
    by: &'static str,
    group: String,
    cases: Cell,
    within: Cell,
    mut seconds: Vec<i64>,
) -> FirstContact {
    seconds.sort_unstable();
    let published =
        matches!(cases, Cell::Count(_)) && may_publish_statistic_of(seconds.len() as u64);
    let hours = |q: f64| published.then(|| percentile(&seconds, q) / 3600.0);
    FirstContact {
        by,
        group,
        cases,
        median_working_hours: hours(0.5),
        p90_working_hours: hours(0.9),
        share_within_deadline: share(within, cases),
    }
}

/// The `q` quantile of sorted values, interpolated between neighbours (as PostgreSQL's
/// `percentile_cont`).
fn percentile(sorted: &[i64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - low as f64;
    sorted[low] as f64 * (1.0 - weight) + sorted[high] as f64 * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_postgresql() {
        assert_eq!(percentile(&[10], 0.5), 10.0);
        assert_eq!(percentile(&[10, 20], 0.5), 15.0);
        assert_eq!(
            percentile(&[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9),
            90.0
        );
    }

    #[test]
    fn every_measure_column_is_one_the_projection_writes() {
        let measures: Vec<String> = groups()
            .into_iter()
            .flat_map(|g| g.columns.into_iter().map(|(m, _)| m))
            .collect();
        assert!(measures.contains(&"opened:i_report".to_owned()));
        assert!(measures.contains(&"escalations:danger_to_self_or_others".to_owned()));
        assert!(measures.contains(&"encounters:group".to_owned()));
        assert_eq!(measures.len(), 5 + 5 + 2 + 1 + 4);
    }
}
