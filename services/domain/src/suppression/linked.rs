//! Tables served side by side whose values are tied, suppressed together: a quarter and its
//! three months (each cell of the quarter is the sum of the months' cells), and, within a
//! period, one measure by campus and by discipline (they share the column totals and the grand
//! total).
//!
//! Suppressed one at a time, such tables give away what each hides: a month's 4 is the
//! quarter's 30 less the other months' 15 and 11, and a reader who polls a running quarter sees
//! single cases arrive. [`suppress_linked`] suppresses them as one: a value is hidden in every
//! table of its breakdown if it is hidden in any period (one pattern for the quarter and its
//! months), a shared margin in both breakdowns if in either, and every hidden value of every
//! table lies on a cycle of hidden values in that table's own network (see the parent module).
//!
//! # Why a quarter and its months then reveal nothing
//!
//! Take a hidden value of one breakdown, in month m or in the quarter. Month m's network has a
//! cycle of hidden values through it along which month m's counts can move by one (the residual
//! condition); move month m by that cycle, and the quarter by the same cycle. Every value that
//! moves is hidden in month m and in the quarter (one pattern), the quarter stays the sum of
//! the months, no month or quarter count goes below zero (the quarter's counts are at least
//! month m's), and every published value is unchanged. So another set of whole-number tables
//! fits everything served, with the value changed: it cannot be derived from any combination
//! of the quarter and its months. The property tests build that witness for every hidden value
//! and check it against every published value.
//!
//! # Limits
//!
//! The link between the campus and the discipline breakdowns is kept as before, by hiding a
//! shared margin in both: it is not covered by the witness argument (a cycle through a shared
//! margin moves the other breakdown's margin without moving its cells), so it is not proven;
//! a reader who combines both breakdowns reasons over the campus × discipline table, which is
//! not a network.

use super::{is_small, CountTable, Network, PublishedTable};

/// Suppresses `tables[period][breakdown]` together (see the module): the first period is
/// usually a quarter and the others its months; every period has the same breakdowns, each
/// breakdown the same rows and columns in every period, and every breakdown the same columns.
/// One period and one breakdown is [`super::suppress`].
///
/// # Panics
///
/// If a table is malformed, or the shapes do not line up as above.
pub fn suppress_linked(tables: &[Vec<CountTable>]) -> Vec<Vec<PublishedTable>> {
    let Some(first) = tables.first() else {
        return Vec::new();
    };
    for (period, breakdowns) in tables.iter().enumerate() {
        assert_eq!(
            breakdowns.len(),
            first.len(),
            "period {period} has other breakdowns"
        );
        for (table, model) in breakdowns.iter().zip(first) {
            if let Err(error) = table.check_shape() {
                panic!("cannot suppress a malformed table: {error}");
            }
            assert!(
                table.rows == model.rows && table.columns == model.columns,
                "period {period} does not line up with the first"
            );
            assert_eq!(
                table.columns, first[0].columns,
                "the breakdowns of a period share their columns"
            );
        }
    }
    let networks: Vec<Vec<Network>> = tables
        .iter()
        .map(|breakdowns| breakdowns.iter().map(Network::of).collect())
        .collect();
    let classes = Classes::new(first);
    let mut suppressed = vec![false; classes.count];
    for breakdowns in &networks {
        for (b, network) in breakdowns.iter().enumerate() {
            for (edge, e) in network.edges.iter().enumerate() {
                if is_small(e.value) {
                    suppressed[classes.of(b, edge)] = true;
                }
            }
        }
    }
    let mut protected: Vec<Vec<Vec<bool>>> = networks
        .iter()
        .map(|breakdowns| {
            breakdowns
                .iter()
                .map(|network| vec![false; network.edges.len()])
                .collect()
        })
        .collect();
    // Suppressing for one table may leave a value hidden in another without a cycle there:
    // round again until a round hides nothing new. Each round hides more or ends, so it ends.
    let mut changed = true;
    while changed {
        changed = false;
        for (period, breakdowns) in networks.iter().enumerate() {
            for (b, network) in breakdowns.iter().enumerate() {
                for edge in 0..network.edges.len() {
                    if !suppressed[classes.of(b, edge)] || protected[period][b][edge] {
                        continue;
                    }
                    let view = classes.view(b, network, &suppressed);
                    let cycle = network
                        .cheapest_cycle(edge, &view)
                        .expect("every edge of a table's network lies on a cycle");
                    for member in cycle {
                        let class = classes.of(b, member);
                        changed |= !suppressed[class];
                        suppressed[class] = true;
                        protected[period][b][member] = true;
                    }
                }
            }
        }
    }
    networks
        .iter()
        .zip(tables)
        .map(|(breakdowns, tables)| {
            breakdowns
                .iter()
                .zip(tables)
                .enumerate()
                .map(|(b, (network, table))| {
                    network.publish(table, &classes.view(b, network, &suppressed))
                })
                .collect()
        })
        .collect()
}

/// Which values share one suppression: a breakdown's member in every period, and the column
/// totals and grand total of every breakdown with the first's.
struct Classes {
    /// Where each breakdown's members start.
    offsets: Vec<usize>,
    /// Rows of each breakdown.
    rows: Vec<usize>,
    columns: usize,
    count: usize,
}

impl Classes {
    fn new(breakdowns: &[CountTable]) -> Self {
        let columns = breakdowns.first().map_or(0, |t| t.columns.len());
        let rows: Vec<usize> = breakdowns.iter().map(|t| t.rows.len()).collect();
        let mut offsets = Vec::with_capacity(rows.len());
        let mut count = 0;
        for r in &rows {
            offsets.push(count);
            count += r * columns + r + columns + 1;
        }
        Self {
            offsets,
            rows,
            columns,
            count,
        }
    }

    /// The class of `edge` of breakdown `b`'s network (cells, row totals, column totals, grand
    /// total, in that order).
    fn of(&self, b: usize, edge: usize) -> usize {
        let margins = self.rows[b] * self.columns + self.rows[b];
        if edge >= margins && b > 0 {
            // A column total or the grand total: the first breakdown's.
            let first_margins = self.rows[0] * self.columns + self.rows[0];
            return self.offsets[0] + first_margins + (edge - margins);
        }
        self.offsets[b] + edge
    }

    /// Which edges of breakdown `b`'s network are suppressed.
    fn view(&self, b: usize, network: &Network, suppressed: &[bool]) -> Vec<bool> {
        (0..network.edges.len())
            .map(|edge| suppressed[self.of(b, edge)])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests::{
        alternative, config, consistent, count, derivable, publish_except, suppressed_members,
        table, value_in, Member,
    };
    use super::super::{suppress, Cell};
    use super::*;

    /// The quarter of `months`: each cell the sum of the months'.
    fn quarter_of(months: &[CountTable]) -> CountTable {
        let mut quarter = months[0].clone();
        for month in &months[1..] {
            for (row, cells) in quarter.cells.iter_mut().zip(&month.cells) {
                for (total, cell) in row.iter_mut().zip(cells) {
                    *total += cell;
                }
            }
        }
        quarter
    }

    /// The linked audit, for one breakdown: for each hidden value of the quarter (`published[0]`)
    /// or a month (`published[1..]`), a witness: month tables of whole numbers, not negative, that
    /// fit every published value of the quarter and all its months, their sum being the quarter,
    /// in which the value differs. Found by moving one month round a cycle of hidden values (see
    /// the module), and checked against every published table by `consistent`, which knows
    /// nothing of networks: a witness proves the value cannot be derived from any combination
    /// of the tables served (a reader of fewer tables can rule out still less). Returns the
    /// hidden values without one: a failing audit names a value it could not show undetermined.
    fn derivable_from_the_linked_tables(
        months: &[CountTable],
        published: &[PublishedTable],
    ) -> Vec<(usize, Member)> {
        let quarter = quarter_of(months);
        let mut derivable = Vec::new();
        for (period, shown) in published.iter().enumerate() {
            for target in suppressed_members(shown) {
                let candidates: Vec<usize> = if period == 0 {
                    (0..months.len()).collect()
                } else {
                    vec![period - 1]
                };
                let witness = candidates.into_iter().find_map(|m| {
                    let moved = alternative(&months[m], &published[m + 1], target)?;
                    let mut cells: Vec<Vec<Vec<u64>>> =
                        months.iter().map(|t| t.cells.clone()).collect();
                    cells[m] = moved;
                    Some(cells)
                });
                let Some(witness) = witness else {
                    derivable.push((period, target));
                    continue;
                };
                let witness_months: Vec<CountTable> = months
                    .iter()
                    .zip(witness)
                    .map(|(t, cells)| CountTable { cells, ..t.clone() })
                    .collect();
                let witness_quarter = quarter_of(&witness_months);
                // A candidate that contradicts a published value (as the month alone's cycle
                // does when the quarter shows the value) is no witness.
                let fits = consistent(&published[0], &witness_quarter.cells)
                    && witness_months
                        .iter()
                        .zip(&published[1..])
                        .all(|(month, shown)| consistent(shown, &month.cells));
                let (before, after) = if period == 0 {
                    (&quarter, &witness_quarter)
                } else {
                    (&months[period - 1], &witness_months[period - 1])
                };
                if !fits || value_in(&before.cells, target) == value_in(&after.cells, target) {
                    derivable.push((period, target));
                }
            }
        }
        derivable
    }

    /// No published value is small or wrong, and each table keeps its own protection too.
    fn assert_each_safe(tables: &[CountTable], published: &[PublishedTable]) {
        for (table, shown) in tables.iter().zip(published) {
            for member in super::super::tests::members(table.rows.len(), table.columns.len()) {
                if let Cell::Count(count) = super::super::tests::shown(shown, member) {
                    assert!(!is_small(count), "{member:?} shows {count}");
                    assert_eq!(count, value_in(&table.cells, member), "{member:?}");
                }
            }
            assert_eq!(derivable(table, shown), Vec::<Member>::new());
        }
    }

    fn by_campus(cells: Vec<Vec<u64>>) -> CountTable {
        table(&["North", "South", "West"], &["referrals"], cells)
    }

    #[test]
    fn suppressed_alone_a_month_is_its_quarter_less_the_other_months() {
        let months = [
            by_campus(vec![vec![4], vec![20], vec![30]]),
            by_campus(vec![vec![15], vec![15], vec![40]]),
            by_campus(vec![vec![15], vec![12], vec![50]]),
        ];
        let quarter = quarter_of(&months);
        // One at a time, as before: the first month hides North's 4 (and South's 20 beside it),
        // but the quarter shows North's 34 and the other months 15 and 15.
        let alone: Vec<PublishedTable> = std::iter::once(&quarter)
            .chain(&months)
            .map(suppress)
            .collect();
        assert_eq!(alone[1].cells[0][0], Cell::Suppressed);
        let shown = |t: &PublishedTable| t.cells[0][0].count();
        assert_eq!(
            (shown(&alone[0]), shown(&alone[2]), shown(&alone[3])),
            (Some(34), Some(15), Some(15)),
            "34 - 15 - 15 = 4"
        );
        // So is everything the first month hides: South's 20 is 47 - 15 - 12.
        assert_eq!(
            derivable_from_the_linked_tables(&months, &alone),
            [
                (1, Member::Cell(0, 0)),
                (1, Member::Cell(1, 0)),
                (1, Member::Row(0)),
                (1, Member::Row(1))
            ]
        );

        // Together: North (and its partner) hidden in the quarter and in every month.
        let tables: Vec<Vec<CountTable>> = std::iter::once(quarter.clone())
            .chain(months.iter().cloned())
            .map(|t| vec![t])
            .collect();
        let linked: Vec<PublishedTable> = suppress_linked(&tables)
            .into_iter()
            .map(|mut b| b.remove(0))
            .collect();
        for published in &linked {
            assert_eq!(published.cells[0][0], Cell::Suppressed);
        }
        assert_eq!(derivable_from_the_linked_tables(&months, &linked), []);
        let all: Vec<CountTable> = std::iter::once(quarter).chain(months).collect();
        assert_each_safe(&all, &linked);
    }

    #[test]
    fn one_table_alone_is_suppressed_as_before() {
        let hidden = [Member::Cell(0, 0), Member::Cell(1, 0)];
        let single = by_campus(vec![vec![4], vec![20], vec![30]]);
        let expected = publish_except(
            &single,
            &[hidden[0], hidden[1], Member::Row(0), Member::Row(1)],
        );
        assert_eq!(suppress(&single), expected);
    }

    /// A quarter of `rows` × `columns`, month by month: three random tables.
    fn streams(rows: usize, columns: usize) -> impl Strategy<Value = Vec<CountTable>> {
        prop::collection::vec(
            prop::collection::vec(prop::collection::vec(count(), columns), rows),
            3,
        )
        .prop_map(move |months| {
            months
                .into_iter()
                .map(|cells| CountTable {
                    rows: (0..rows).map(|i| format!("row {i}")).collect(),
                    columns: (0..columns).map(|j| format!("column {j}")).collect(),
                    cells,
                })
                .collect()
        })
    }

    /// Months of a measure by campus and discipline together: `campuses` × `disciplines` ×
    /// `columns` counts a month, of which the two breakdowns are the sums.
    fn two_way_streams(
        campuses: usize,
        disciplines: usize,
        columns: usize,
    ) -> impl Strategy<Value = Vec<[CountTable; 2]>> {
        let month = prop::collection::vec(
            prop::collection::vec(prop::collection::vec(count(), columns), disciplines),
            campuses,
        );
        prop::collection::vec(month, 3).prop_map(move |months| {
            months
                .into_iter()
                .map(|cube| {
                    let labels = |n: usize, what: &str| -> Vec<String> {
                        (0..n).map(|i| format!("{what} {i}")).collect()
                    };
                    let columns_labels = labels(columns, "column");
                    let campus = (0..campuses)
                        .map(|c| {
                            (0..columns)
                                .map(|k| (0..disciplines).map(|d| cube[c][d][k]).sum())
                                .collect()
                        })
                        .collect();
                    let discipline = (0..disciplines)
                        .map(|d| {
                            (0..columns)
                                .map(|k| (0..campuses).map(|c| cube[c][d][k]).sum())
                                .collect()
                        })
                        .collect();
                    [
                        CountTable {
                            rows: labels(campuses, "campus"),
                            columns: columns_labels.clone(),
                            cells: campus,
                        },
                        CountTable {
                            rows: labels(disciplines, "discipline"),
                            columns: columns_labels,
                            cells: discipline,
                        },
                    ]
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn no_hidden_value_of_a_quarter_or_its_months_follows_from_any_combination(
            months in (1..=4usize, 1..=4usize).prop_flat_map(|(r, c)| streams(r, c))
        ) {
            let quarter = quarter_of(&months);
            let all: Vec<CountTable> = std::iter::once(quarter).chain(months.iter().cloned()).collect();
            let tables: Vec<Vec<CountTable>> = all.iter().cloned().map(|t| vec![t]).collect();
            let published: Vec<PublishedTable> =
                suppress_linked(&tables).into_iter().map(|mut b| b.remove(0)).collect();
            assert_each_safe(&all, &published);
            prop_assert_eq!(derivable_from_the_linked_tables(&months, &published), vec![]);
            // One pattern for the quarter and its months.
            for shown in &published[1..] {
                prop_assert_eq!(suppressed_members(shown), suppressed_members(&published[0]));
            }
        }

        #[test]
        fn both_breakdowns_of_a_quarter_and_its_months_are_protected_each(
            months in (1..=3usize, 1..=3usize, 1..=3usize)
                .prop_flat_map(|(c, d, k)| two_way_streams(c, d, k))
        ) {
            let campus: Vec<CountTable> = months.iter().map(|m| m[0].clone()).collect();
            let discipline: Vec<CountTable> = months.iter().map(|m| m[1].clone()).collect();
            let quarter = [quarter_of(&campus), quarter_of(&discipline)];
            let tables: Vec<Vec<CountTable>> = std::iter::once(quarter.to_vec())
                .chain(months.iter().map(|m| m.to_vec()))
                .collect();
            let published = suppress_linked(&tables);
            for (b, breakdown) in [&campus, &discipline].into_iter().enumerate() {
                let shown: Vec<PublishedTable> = published.iter().map(|p| p[b].clone()).collect();
                let all: Vec<CountTable> = tables.iter().map(|p| p[b].clone()).collect();
                assert_each_safe(&all, &shown);
                prop_assert_eq!(derivable_from_the_linked_tables(breakdown, &shown), vec![]);
            }
            // The shared margins are hidden in both breakdowns or in neither.
            for period in &published {
                prop_assert_eq!(&period[0].column_totals, &period[1].column_totals);
                prop_assert_eq!(period[0].total, period[1].total);
            }
        }
    }
}
