//! Anonymous feedback as published: answers counted by helpfulness rating and by whether the
//! member would recommend the program, for a range of months, small cells suppressed.

use chrono::NaiveDate;
use outreach_domain::suppression::{suppress_linked, Cell, CountTable, PublishedTable};
use sqlx::PgPool;

/// The name of the table of answers by helpfulness rating, as the statistics publish it.
pub const HELPFULNESS_TABLE: &str = "feedback_helpfulness";
/// The name of the table of answers by whether the member would recommend the program.
pub const WOULD_RECOMMEND_TABLE: &str = "feedback_would_recommend";

/// The feedback given in the months from `from` up to, not including, `until` (first days of
/// months, e.g. a [`Period`](outreach_domain::period::Period)'s `first_month()` and `end()`), as
/// published: [`HELPFULNESS_TABLE`] (one row, `responses`; columns `1` to `5`) and
/// [`WOULD_RECOMMEND_TABLE`] (one row, `responses`; columns `yes` and `no`), small cells
/// suppressed. The two share their grand total (the number of answers), and it is published in
/// both or in neither, so one cannot give away what the other hides.
pub async fn feedback_tables(
    pool: &PgPool,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<(&'static str, PublishedTable)>, sqlx::Error> {
    let counts = feedback_counts(pool, from, until).await?;
    Ok(published_tables(&counts))
}

/// The answers given in the months from `from` up to `until`, counted as `(helpfulness,
/// would_recommend, answers)`.
pub async fn feedback_counts(
    pool: &PgPool,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<(i16, bool, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT helpfulness, would_recommend, count(*)
           FROM feedback
          WHERE month >= $1 AND month < $2
          GROUP BY helpfulness, would_recommend",
    )
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await
}

/// The tables of answers counted as `(helpfulness, would_recommend, answers)`, suppressed.
fn published_tables(counts: &[(i16, bool, i64)]) -> Vec<(&'static str, PublishedTable)> {
    linked_feedback_tables(&[counts]).remove(0)
}

/// The tables of each period's answers (a quarter first, then its months), suppressed together
/// as linked tables (see `outreach_domain::suppression::suppress_linked`): one list per period.
pub fn linked_feedback_tables(
    periods: &[&[(i16, bool, i64)]],
) -> Vec<Vec<(&'static str, PublishedTable)>> {
    let tables: Vec<[CountTable; 2]> = periods.iter().map(|counts| count_tables(counts)).collect();
    let suppressed = |which: usize| {
        let linked: Vec<Vec<CountTable>> = tables.iter().map(|t| vec![t[which].clone()]).collect();
        suppress_linked(&linked)
            .into_iter()
            .map(|mut breakdowns| breakdowns.remove(0))
            .collect::<Vec<_>>()
    };
    let (mut helpfulness, mut recommendation) = (suppressed(0), suppressed(1));
    // The number of answers is each table's grand total and its only row's total. Hidden in
    // one table or period, it is hidden in both tables and every period, so that neither the
    // other table nor the other periods give it away; hiding more never makes a value derivable.
    if helpfulness
        .iter()
        .chain(&recommendation)
        .any(|t| t.total.is_suppressed())
    {
        for table in helpfulness.iter_mut().chain(&mut recommendation) {
            table.total = Cell::Suppressed;
            table.row_totals = vec![Cell::Suppressed];
        }
    }
    helpfulness
        .into_iter()
        .zip(recommendation)
        .map(|(helpfulness, recommendation)| {
            vec![
                (HELPFULNESS_TABLE, helpfulness),
                (WOULD_RECOMMEND_TABLE, recommendation),
            ]
        })
        .collect()
}

/// The answers by rating, and by recommendation: one row each.
fn count_tables(counts: &[(i16, bool, i64)]) -> [CountTable; 2] {
    let mut by_helpfulness = [0u64; 5];
    let mut by_recommendation = [0u64; 2];
    for &(helpfulness, would_recommend, answers) in counts {
        let answers = u64::try_from(answers).unwrap_or_default();
        // The schema keeps ratings from 1 to 5.
        if let Some(cell) = usize::try_from(helpfulness - 1)
            .ok()
            .and_then(|i| by_helpfulness.get_mut(i))
        {
            *cell += answers;
        }
        by_recommendation[usize::from(!would_recommend)] += answers;
    }
    let one_row = |columns: &[&str], cells: &[u64]| CountTable {
        rows: vec!["responses".to_owned()],
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        cells: vec![cells.to_vec()],
    };
    [
        one_row(&["1", "2", "3", "4", "5"], &by_helpfulness),
        one_row(&["yes", "no"], &by_recommendation),
    ]
}

#[cfg(test)]
mod tests {
    use outreach_domain::suppression::is_small;

    use super::*;

    fn counts(table: &PublishedTable) -> Vec<Cell> {
        let mut all: Vec<Cell> = table.cells.iter().flatten().copied().collect();
        all.extend(&table.row_totals);
        all.extend(&table.column_totals);
        all.push(table.total);
        all
    }

    #[test]
    fn answers_are_counted_by_rating_and_by_recommendation() {
        let published = published_tables(&[
            (5, true, 30),
            (4, true, 12),
            (4, false, 2),
            (2, false, 14),
            (1, false, 0),
        ]);
        let names: Vec<&str> = published.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["feedback_helpfulness", "feedback_would_recommend"]);

        let helpfulness = &published[0].1;
        assert_eq!(helpfulness.columns, ["1", "2", "3", "4", "5"]);
        assert_eq!(helpfulness.rows, ["responses"]);
        assert_eq!(
            helpfulness.cells,
            [[0, 14, 0, 14, 30].map(Cell::Count).to_vec()]
        );
        assert_eq!(helpfulness.total, Cell::Count(58));

        let recommendation = &published[1].1;
        assert_eq!(recommendation.columns, ["yes", "no"]);
        assert_eq!(recommendation.cells, [[42, 16].map(Cell::Count).to_vec()]);
        assert_eq!(recommendation.total, Cell::Count(58));
    }

    #[test]
    fn small_counts_are_suppressed_in_both_tables() {
        let published = published_tables(&[(5, true, 25), (3, false, 4), (4, true, 16)]);
        for (name, table) in &published {
            for cell in counts(table) {
                assert!(
                    !cell.count().is_some_and(is_small),
                    "{name} shows a small count"
                );
            }
        }
        // 4 answers rated 3 and 4 that would not recommend: both hidden, with a complement.
        assert_eq!(published[0].1.cells[0][2], Cell::Suppressed);
        assert_eq!(published[1].1.cells[0][1], Cell::Suppressed);
    }

    #[test]
    fn the_number_of_answers_is_shown_in_both_tables_or_in_neither() {
        for counts in [
            vec![],
            vec![(5, true, 3)],
            vec![(5, true, 7), (1, false, 2)],
            vec![(5, true, 30), (1, true, 2)],
            vec![(5, true, 30), (4, false, 12)],
        ] {
            let published = published_tables(&counts);
            let (a, b) = (&published[0].1, &published[1].1);
            assert_eq!(a.total, b.total, "{counts:?}");
            assert_eq!(a.row_totals, b.row_totals, "{counts:?}");
            assert_eq!(a.row_totals, vec![a.total], "{counts:?}");
        }
        let nothing = published_tables(&[]);
        assert_eq!(nothing[0].1.total, Cell::Count(0));
    }

    /// The query, against a fresh database: only the months asked for count.
    #[tokio::test]
    async fn the_tables_count_the_months_asked_for() {
        let db = outreach_test_support::TestDatabase::create("projections_test").await;
        let month = |m| NaiveDate::from_ymd_opt(2026, m, 1).unwrap();
        for (m, helpfulness, would_recommend, answers) in [
            (6, 5, true, 40),
            (7, 5, true, 12),
            (8, 4, false, 20),
            (9, 1, false, 3),
            (10, 2, true, 50),
        ] {
            for _ in 0..answers {
                sqlx::query(
                    "INSERT INTO feedback (month, helpfulness, would_recommend)
                     VALUES ($1, $2, $3)",
                )
                .bind(month(m))
                .bind(helpfulness as i16)
                .bind(would_recommend)
                .execute(&db.pool)
                .await
                .unwrap();
            }
        }

        // The third quarter: July to September.
        let published = feedback_tables(&db.pool, month(7), month(10))
            .await
            .unwrap();

        let helpfulness = &published[0].1;
        assert_eq!(helpfulness.column_totals[1], Cell::Count(0));
        assert_eq!(helpfulness.column_totals[3], Cell::Count(20));
        // The 3 answers rating 1 are hidden, and the 12 rating 5 with them.
        assert_eq!(helpfulness.column_totals[0], Cell::Suppressed);
        assert_eq!(helpfulness.column_totals[4], Cell::Suppressed);
        assert_eq!(helpfulness.total, Cell::Count(35));
        assert_eq!(published[1].1.total, Cell::Count(35));
    }
}
