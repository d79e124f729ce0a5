//! The safety office's statistics of a period, as published: every count table of the
//! statistics read model broken down by campus and by discipline, small cells suppressed (CMS
//! cell-size policy) by the domain's [`suppress`], and time to first contact with its median,
//! 90th percentile and share within the deadline only where the counts behind them may be
//! shown. The API serves it; the quarterly publication sends the same document.
//!
//! The campus and discipline tables of one measure share their column totals and grand total,
//! so they are suppressed together, a margin hidden in one hidden in the other too. Read alone
//! ([`read`], the program's staff), a period is protected on its own: a month can be the
//! difference of its quarter and the quarter's other two months. Read linked ([`read_linked`],
//! the safety office and the published statistics), a quarter and its months are suppressed
//! together, so that no combination of them gives a hidden value away.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use outreach_domain::period::Period;
use outreach_domain::suppression::{
    may_publish_statistic_of, share, suppress_linked, Cell, CountTable, PublishedTable,
    SMALLEST_PUBLISHED,
};
use outreach_events::lifecycle::EscalationCategory;
use outreach_events::TriggerKind;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticsTable {
    /// `cases_opened` (columns: trigger kinds), `encounters` (individual, group),
    /// `escalations` (categories), or one of `members_reached`, `accepted`, `declined`,
    /// `unreachable`, `opted_out`, `tier3_referrals` (one column); or, over all responses,
    /// `feedback_helpfulness` (ratings 1 to 5) and `feedback_would_recommend` (yes, no).
    pub measure: String,
    /// `campus` or `discipline`: what the rows are.
    pub by: String,
    /// Cells are counts, or the string `suppressed`.
    pub table: PublishedTable,
}

/// Time to first contact for one campus or discipline (or `all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstContact {
    /// `campus`, `discipline`, or `all`.
    pub by: String,
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

/// What one period's statistics are made of, before suppression.
struct Raw {
    period: Period,
    counts: Vec<(String, String, String, i64)>,
    /// (campus, discipline, working seconds, within the deadline) of each first contact.
    contacts: Vec<Contact>,
    feedback: Vec<(i16, bool, i64)>,
}

type Contact = (String, String, i64, bool);

async fn load(pool: &PgPool, period: Period) -> Result<Raw, sqlx::Error> {
    let (from, until) = (period.first_month(), period.end());
    let counts = sqlx::query_as(
        "SELECT measure, campus, discipline, sum(count)::bigint
           FROM statistics_counts
          WHERE month >= $1 AND month < $2
          GROUP BY measure, campus, discipline",
    )
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let contacts = sqlx::query_as(
        "SELECT campus, discipline, working_seconds, within_deadline
           FROM statistics_first_contact
          WHERE month >= $1 AND month < $2",
    )
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let feedback = crate::feedback_report::feedback_counts(pool, from, until).await?;
    Ok(Raw {
        period,
        counts,
        contacts,
        feedback,
    })
}

/// A period's statistics as the program's staff read them: suppressed on its own (its campus
/// and discipline tables together, as they share their margins).
pub async fn read(pool: &PgPool, period: Period) -> Result<Statistics, sqlx::Error> {
    let mut linked = read_linked(pool, &[period]).await?;
    Ok(linked.remove(0))
}

/// The statistics of `periods` suppressed together as linked tables
/// ([`suppress_linked`]): a quarter first, then its months, so that no combination of what is
/// served gives away a hidden value (see `SafetyOfficePeriods`). One per period, in order.
pub async fn read_linked(
    pool: &PgPool,
    periods: &[Period],
) -> Result<Vec<Statistics>, sqlx::Error> {
    let mut raws = Vec::with_capacity(periods.len());
    for period in periods {
        raws.push(load(pool, *period).await?);
    }
    // Every campus and discipline seen in any of the periods is a row of every table, so that
    // tables line up and a row's absence says nothing.
    let campuses: BTreeSet<String> = raws
        .iter()
        .flat_map(|raw| {
            let counted = raw.counts.iter().map(|c| c.1.clone());
            counted.chain(raw.contacts.iter().map(|c| c.0.clone()))
        })
        .collect();
    let disciplines: BTreeSet<String> = raws
        .iter()
        .flat_map(|raw| {
            let counted = raw.counts.iter().map(|c| c.2.clone());
            counted.chain(raw.contacts.iter().map(|c| c.1.clone()))
        })
        .collect();
    let breakdowns = [("campus", &campuses), ("discipline", &disciplines)];

    let mut tables: Vec<Vec<StatisticsTable>> = vec![Vec::new(); raws.len()];
    for group in groups() {
        let per_period: Vec<Vec<CountTable>> = raws
            .iter()
            .map(|raw| {
                breakdowns
                    .iter()
                    .map(|(by, rows)| group.table(raw, by, rows))
                    .collect()
            })
            .collect();
        for (period, published) in suppress_linked(&per_period).into_iter().enumerate() {
            for ((by, _), table) in breakdowns.iter().zip(published) {
                tables[period].push(StatisticsTable {
                    measure: group.name.to_owned(),
                    by: (*by).to_owned(),
                    table,
                });
            }
        }
    }

    // Within and after the deadline, by campus and by discipline: suppressed like any table, so
    // a share cannot reveal a small count; the two share their column totals and grand total,
    // which also give the overall figures.
    let deadlines: Vec<Vec<CountTable>> = raws
        .iter()
        .map(|raw| {
            breakdowns
                .iter()
                .map(|(by, rows)| deadline_table(raw, by, rows))
                .collect()
        })
        .collect();
    let deadlines = suppress_linked(&deadlines);

    // Anonymous feedback given in the period: by rating and by recommendation, all responses.
    let feedback = crate::feedback_report::linked_feedback_tables(
        &raws
            .iter()
            .map(|raw| raw.feedback.as_slice())
            .collect::<Vec<_>>(),
    );

    Ok(raws
        .into_iter()
        .zip(tables)
        .zip(deadlines)
        .zip(feedback)
        .map(|(((raw, mut tables), deadline), feedback)| {
            for (measure, table) in feedback {
                tables.push(StatisticsTable {
                    measure: measure.to_owned(),
                    by: "all".to_owned(),
                    table,
                });
            }
            let first_contact = first_contact(&breakdowns, &deadline, &raw.contacts);
            Statistics {
                period: raw.period,
                from: raw.period.first_month(),
                until: raw.period.end(),
                smallest_published_count: SMALLEST_PUBLISHED,
                tables,
                first_contact,
            }
        })
        .collect())
}

impl Group {
    /// The group's table of `raw`'s counts by `by` (`campus` or `discipline`), one row each.
    fn table(&self, raw: &Raw, by: &str, rows: &BTreeSet<String>) -> CountTable {
        let mut cells = vec![vec![0_u64; self.columns.len()]; rows.len()];
        let index: BTreeMap<&String, usize> =
            rows.iter().enumerate().map(|(i, r)| (r, i)).collect();
        for (measure, campus, discipline, count) in &raw.counts {
            let Some(column) = self.columns.iter().position(|(m, _)| m == measure) else {
                continue;
            };
            let row = index[if by == "campus" { campus } else { discipline }];
            cells[row][column] += u64::try_from(*count).unwrap_or(0);
        }
        CountTable {
            rows: rows.iter().cloned().collect(),
            columns: self.columns.iter().map(|(_, c)| c.clone()).collect(),
            cells,
        }
    }
}

/// First contacts within and after their deadline, by `by`.
fn deadline_table(raw: &Raw, by: &str, rows: &BTreeSet<String>) -> CountTable {
    CountTable {
        rows: rows.iter().cloned().collect(),
        columns: vec!["within_deadline".into(), "after_deadline".into()],
        cells: rows
            .iter()
            .map(|row| {
                let mine = raw.contacts.iter().filter(|c| in_row(by, row, c));
                let (within, after) = mine.fold(
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
    }
}

/// The timings of each campus and discipline, and over all, from the suppressed deadline
/// tables (campus first) and the period's first contacts.
fn first_contact(
    breakdowns: &[(&'static str, &BTreeSet<String>); 2],
    deadline: &[PublishedTable],
    contacts: &[Contact],
) -> Vec<FirstContact> {
    let mut first_contact = Vec::new();
    for ((by, _), published) in breakdowns.iter().zip(deadline) {
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
    let overall = &deadline[0];
    first_contact.push(timing(
        "all",
        "all".into(),
        overall.total,
        overall.column_totals[0],
        contacts.iter().map(|c| c.2).collect(),
    ));
    first_contact
}

/// Whether a first contact belongs to `row` of the breakdown `by`.
fn in_row(by: &str, row: &str, contact: &Contact) -> bool {
    if by == "campus" {
        contact.0 == row
    } else {
        contact.1 == row
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
        by: by.to_owned(),
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
