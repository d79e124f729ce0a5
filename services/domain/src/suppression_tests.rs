use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

// ----- The audit -------------------------------------------------------------------------
//
// Exact, and independent of the algorithm's code: for every suppressed value it looks for
// a *witness*, another table of whole numbers that a reader of the published table cannot
// rule out (every published cell and total is its own), in which the value differs. A
// witness is checked by `consistent`, which knows nothing of networks, so a passing audit
// does not rest on the theory: a found witness proves the value cannot be derived.
//
// The witness is looked for by a breadth-first search for a cycle of suppressed members
// (the residual-graph argument of the module documentation). That the search misses no
// witness (so that a failing audit means a really derivable value) is checked against an
// exhaustive search on small tables, `the_audit_finds_every_alternative_an_exhaustive_search_finds`.
//
// Why not an LP: the min and max of a cell over the polytope answer the same question, but
// an LP crate (minilp, microlp) brings sparse-matrix dependencies and floating-point
// tolerances; here the matrix is totally unimodular, so the exact integer search is both
// smaller and stronger (it shows an integer witness, not a fractional bound).

/// A value a published table shows: a cell, a row total, a column total or the grand total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Member {
    Cell(usize, usize),
    Row(usize),
    Column(usize),
    Total,
}

pub(super) fn members(rows: usize, columns: usize) -> Vec<Member> {
    let cells = (0..rows).flat_map(|i| (0..columns).map(move |j| Member::Cell(i, j)));
    cells
        .chain((0..rows).map(Member::Row))
        .chain((0..columns).map(Member::Column))
        .chain([Member::Total])
        .collect()
}

pub(super) fn value_in(cells: &[Vec<u64>], member: Member) -> u64 {
    match member {
        Member::Cell(i, j) => cells[i][j],
        Member::Row(i) => cells[i].iter().sum(),
        Member::Column(j) => cells.iter().map(|row| row[j]).sum(),
        Member::Total => cells.iter().flatten().sum(),
    }
}

pub(super) fn shown(published: &PublishedTable, member: Member) -> Cell {
    match member {
        Member::Cell(i, j) => published.cells[i][j],
        Member::Row(i) => published.row_totals[i],
        Member::Column(j) => published.column_totals[j],
        Member::Total => published.total,
    }
}

pub(super) fn suppressed_members(published: &PublishedTable) -> Vec<Member> {
    members(published.rows.len(), published.columns.len())
        .into_iter()
        .filter(|&m| shown(published, m).is_suppressed())
        .collect()
}

/// Whether a reader of `published` cannot rule out that the counts are `cells`.
pub(super) fn consistent(published: &PublishedTable, cells: &[Vec<u64>]) -> bool {
    members(published.rows.len(), published.columns.len())
        .into_iter()
        .all(|m| match shown(published, m) {
            Cell::Count(count) => value_in(cells, m) == count,
            Cell::Suppressed => true,
        })
}

/// Another table of counts consistent with `published` in which `target` has another
/// value than in the true `table`, if the search finds one.
pub(super) fn alternative(
    table: &CountTable,
    published: &PublishedTable,
    target: Member,
) -> Option<Vec<Vec<u64>>> {
    let (rows, columns) = (table.rows.len(), table.columns.len());
    // Nodes: 0 all rows, 1 all columns, 2.. each row, then each column.
    let ends = |m: Member| match m {
        Member::Cell(i, j) => (2 + i, 2 + rows + j),
        Member::Row(i) => (0, 2 + i),
        Member::Column(j) => (2 + rows + j, 1),
        Member::Total => (1, 0),
    };
    // Steps over suppressed members other than the target: forwards (+1) always,
    // backwards (-1) when the count can shrink.
    let mut steps: Vec<Vec<(usize, Member, i64)>> = vec![Vec::new(); 2 + rows + columns];
    for m in suppressed_members(published) {
        if m == target {
            continue;
        }
        let (from, to) = ends(m);
        steps[from].push((to, m, 1));
        if value_in(&table.cells, m) > 0 {
            steps[to].push((from, m, -1));
        }
    }
    let search = |start: usize, goal: usize| {
        let mut reached: Vec<Option<(usize, Member, i64)>> = vec![None; steps.len()];
        let mut seen = vec![false; steps.len()];
        let mut queue = std::collections::VecDeque::from([start]);
        seen[start] = true;
        while let Some(node) = queue.pop_front() {
            if node == goal {
                let mut path = Vec::new();
                let mut at = goal;
                while let Some((previous, m, sign)) = reached[at] {
                    path.push((m, sign));
                    at = previous;
                }
                return Some(path);
            }
            for &(next, m, sign) in &steps[node] {
                if !seen[next] {
                    seen[next] = true;
                    reached[next] = Some((node, m, sign));
                    queue.push_back(next);
                }
            }
        }
        None
    };
    let (from, to) = ends(target);
    let cycle = search(to, from)
        .map(|mut path| {
            path.push((target, 1));
            path
        })
        .or_else(|| {
            (value_in(&table.cells, target) > 0)
                .then(|| search(from, to))
                .flatten()
                .map(|mut path| {
                    path.push((target, -1));
                    path
                })
        })?;
    let mut cells = table.cells.clone();
    for (m, sign) in cycle {
        if let Member::Cell(i, j) = m {
            cells[i][j] = cells[i][j].checked_add_signed(sign)?;
        }
    }
    Some(cells)
}

/// The suppressed members of `published` that a reader could derive from it, with the
/// witness of every other checked.
pub(super) fn derivable(table: &CountTable, published: &PublishedTable) -> Vec<Member> {
    suppressed_members(published)
        .into_iter()
        .filter(|&target| match alternative(table, published, target) {
            Some(cells) => {
                assert!(
                    consistent(published, &cells),
                    "the audit's witness for {target:?} contradicts the published table"
                );
                value_in(&cells, target) == value_in(&table.cells, target)
            }
            None => true,
        })
        .collect()
}

/// Every suppressed member that some table consistent with `published`, within `radius`
/// of the truth in every cell, shows with another value: an exhaustive search.
fn exhaustively_variable(
    table: &CountTable,
    published: &PublishedTable,
    radius: i64,
) -> BTreeSet<Member> {
    let free: Vec<(usize, usize)> = suppressed_members(published)
        .into_iter()
        .filter_map(|m| match m {
            Member::Cell(i, j) => Some((i, j)),
            _ => None,
        })
        .collect();
    let targets = suppressed_members(published);
    let mut variable = BTreeSet::new();
    let mut offsets = vec![-radius; free.len()];
    loop {
        let mut cells = table.cells.clone();
        let fits = free.iter().zip(&offsets).all(|(&(i, j), &offset)| {
            match cells[i][j].checked_add_signed(offset) {
                Some(count) => {
                    cells[i][j] = count;
                    true
                }
                None => false,
            }
        });
        if fits && consistent(published, &cells) {
            for &m in &targets {
                if value_in(&cells, m) != value_in(&table.cells, m) {
                    variable.insert(m);
                }
            }
        }
        // The next combination of offsets, like an odometer.
        let Some(position) = offsets.iter().position(|&offset| offset < radius) else {
            return variable;
        };
        offsets[position] += 1;
        offsets[..position].fill(-radius);
    }
}

/// A published table showing the true value of every member but those in `hidden`.
pub(super) fn publish_except(table: &CountTable, hidden: &[Member]) -> PublishedTable {
    let value = |m: Member| {
        if hidden.contains(&m) {
            Cell::Suppressed
        } else {
            Cell::Count(value_in(&table.cells, m))
        }
    };
    let (rows, columns) = (table.rows.len(), table.columns.len());
    PublishedTable {
        rows: table.rows.clone(),
        columns: table.columns.clone(),
        cells: (0..rows)
            .map(|i| (0..columns).map(|j| value(Member::Cell(i, j))).collect())
            .collect(),
        row_totals: (0..rows).map(|i| value(Member::Row(i))).collect(),
        column_totals: (0..columns).map(|j| value(Member::Column(j))).collect(),
        total: value(Member::Total),
    }
}

pub(super) fn table(rows: &[&str], columns: &[&str], cells: Vec<Vec<u64>>) -> CountTable {
    CountTable::new(
        rows.iter().map(|r| r.to_string()).collect(),
        columns.iter().map(|c| c.to_string()).collect(),
        cells,
    )
    .expect("a well-formed table")
}

/// The rules every published table keeps, for the scenarios and the properties alike.
fn assert_safe(table: &CountTable, published: &PublishedTable) {
    let (rows, columns) = (table.rows.len(), table.columns.len());
    for m in members(rows, columns) {
        if let Cell::Count(count) = shown(published, m) {
            assert!(!is_small(count), "{m:?} shows {count}");
            assert_eq!(
                count,
                value_in(&table.cells, m),
                "{m:?} shows a wrong count"
            );
        }
    }
    let lines = (0..rows)
        .map(|i| {
            let mut line: Vec<Member> = (0..columns).map(|j| Member::Cell(i, j)).collect();
            line.push(Member::Row(i));
            line
        })
        .chain((0..columns).map(|j| {
            let mut line: Vec<Member> = (0..rows).map(|i| Member::Cell(i, j)).collect();
            line.push(Member::Column(j));
            line
        }))
        .chain([
            (0..rows).map(Member::Row).chain([Member::Total]).collect(),
            (0..columns)
                .map(Member::Column)
                .chain([Member::Total])
                .collect(),
        ]);
    for line in lines {
        let hidden = line
            .iter()
            .filter(|&&m| shown(published, m).is_suppressed())
            .count();
        assert_ne!(
            hidden, 1,
            "the one suppressed member of {line:?} is its total's rest"
        );
    }
    assert_eq!(
        derivable(table, published),
        Vec::<Member>::new(),
        "suppressed values a reader can derive from {published:?}"
    );
}

// ----- Scenarios -------------------------------------------------------------------------

#[test]
fn a_campus_with_seven_cases_is_suppressed_and_so_is_another_to_protect_it() {
    let cases = table(
        &["North", "South", "East"],
        &["nurse", "physician", "pharmacist"],
        vec![vec![40, 25, 12], vec![7, 30, 15], vec![22, 18, 20]],
    );
    let published = suppress(&cases);
    assert_safe(&cases, &published);
    let hidden: Vec<(usize, usize)> = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .filter(|&(i, j)| published.cells[i][j].is_suppressed())
        .collect();
    // South's 7 nurses, with the cheapest rectangle that hides them: South's 15
    // pharmacists (their row), East's 22 nurses (their column) and East's 20 pharmacists.
    assert_eq!(hidden, vec![(1, 0), (1, 2), (2, 0), (2, 2)]);
    assert_eq!(
        published.row_totals,
        vec![Cell::Count(77), Cell::Count(52), Cell::Count(60)]
    );
    assert_eq!(
        published.column_totals,
        vec![Cell::Count(69), Cell::Count(73), Cell::Count(47)]
    );
    assert_eq!(published.total, Cell::Count(189));
}

#[test]
fn zeros_are_shown() {
    let encounters = table(
        &["North", "South"],
        &["individual", "group"],
        vec![vec![0, 25], vec![31, 0]],
    );
    let published = suppress(&encounters);
    assert_eq!(
        published.cells,
        vec![
            vec![Cell::Count(0), Cell::Count(25)],
            vec![Cell::Count(31), Cell::Count(0)]
        ]
    );
    assert_eq!(published.total, Cell::Count(56));
}

#[test]
fn a_table_without_small_counts_is_published_whole() {
    let cases = table(
        &["North", "South"],
        &["incident", "I-report"],
        vec![vec![11, 40], vec![0, 12]],
    );
    let published = suppress(&cases);
    assert_eq!(suppressed_members(&published), Vec::<Member>::new());
    assert_eq!(published.row_totals, vec![Cell::Count(51), Cell::Count(12)]);
}

#[test]
fn a_total_of_ten_or_less_is_suppressed() {
    let encounters = table(
        &["North", "South"],
        &["individual", "group"],
        vec![vec![3, 4], vec![30, 40]],
    );
    let published = suppress(&encounters);
    assert_safe(&encounters, &published);
    // North's 7 is hidden, and so is South's 70, which is the grand total less North's.
    assert_eq!(
        published.row_totals,
        vec![Cell::Suppressed, Cell::Suppressed]
    );
    assert_eq!(
        published.column_totals,
        vec![Cell::Count(33), Cell::Count(44)]
    );
    assert_eq!(published.total, Cell::Count(77));
}

#[test]
fn a_grand_total_of_ten_or_less_leaves_only_the_zeros() {
    let escalations = table(
        &["North", "South"],
        &["danger", "abuse"],
        vec![vec![0, 4], vec![3, 0]],
    );
    let published = suppress(&escalations);
    assert_safe(&escalations, &published);
    assert_eq!(
        published.cells,
        vec![
            vec![Cell::Count(0), Cell::Suppressed],
            vec![Cell::Suppressed, Cell::Count(0)]
        ]
    );
    assert_eq!(published.total, Cell::Suppressed);
}

#[test]
fn a_one_column_table_suppresses_its_total_with_its_only_small_cell() {
    let by_trigger = CountTable::one_column(
        "cases",
        [
            ("incident", 40),
            ("I-report", 7),
            ("self-referral", 0),
            ("colleague referral", 25),
            ("supervisor referral", 12),
        ],
    );
    let published = suppress(&by_trigger);
    assert_safe(&by_trigger, &published);
    let s = Cell::Suppressed;
    let c = Cell::Count;
    // The 7 and its row total (the same number); then, as the grand total is published,
    // another row to hide it among: the smallest above zero (a zero could only grow),
    // rather than the grand total itself.
    assert_eq!(
        published.cells,
        vec![vec![c(40)], vec![s], vec![c(0)], vec![c(25)], vec![s]]
    );
    assert_eq!(published.row_totals, vec![c(40), s, c(0), c(25), s]);
    assert_eq!(published.column_totals, vec![c(84)]);
    assert_eq!(published.total, c(84));
}

#[test]
fn a_one_row_table_works_the_same_way() {
    let by_trigger = table(
        &["cases"],
        &[
            "incident",
            "I-report",
            "self-referral",
            "colleague",
            "supervisor",
        ],
        vec![vec![40, 7, 0, 25, 12]],
    );
    let published = suppress(&by_trigger);
    assert_safe(&by_trigger, &published);
    let s = Cell::Suppressed;
    let c = Cell::Count;
    assert_eq!(published.cells, vec![vec![c(40), s, c(0), c(25), s]]);
    assert_eq!(published.row_totals, vec![c(84)]);
    assert_eq!(published.total, c(84));
}

#[test]
fn a_single_small_count_hides_the_whole_one_cell_table() {
    let table = table(&["North"], &["referrals"], vec![vec![5]]);
    let published = suppress(&table);
    assert_safe(&table, &published);
    assert_eq!(suppressed_members(&published).len(), 4);
}

#[test]
fn an_empty_table_publishes_zeros() {
    let nothing = table(&["North", "South"], &[], vec![vec![], vec![]]);
    let published = suppress(&nothing);
    assert_eq!(published.row_totals, vec![Cell::Count(0), Cell::Count(0)]);
    assert_eq!(published.total, Cell::Count(0));
    let no_rows = suppress(&table(&[], &["a"], vec![]));
    assert_eq!(no_rows.column_totals, vec![Cell::Count(0)]);
}

#[test]
fn a_cell_joining_two_blocks_of_suppressed_cells_is_derivable() {
    // Two 2 × 2 blocks of suppressed cells joined by one more, South-West's 14: every line
    // has no or at least two suppressed members, yet rows North and South add up to
    // 100 + 100, of which columns a and b take 40 + 40 of the hidden 2 × 2 block, so
    // South-West's 14 is derivable.
    let cells = vec![
        vec![5, 15, 60, 20],
        vec![15, 5, 14, 66],
        vec![40, 40, 5, 15],
        vec![40, 40, 15, 5],
    ];
    let tricky = table(
        &["North", "South", "West", "East"],
        &["a", "b", "c", "d"],
        cells,
    );
    let hidden = [
        Member::Cell(0, 0),
        Member::Cell(0, 1),
        Member::Cell(1, 0),
        Member::Cell(1, 1),
        Member::Cell(1, 2),
        Member::Cell(2, 2),
        Member::Cell(2, 3),
        Member::Cell(3, 2),
        Member::Cell(3, 3),
    ];
    let by_lines = publish_except(&tricky, &hidden);
    assert_eq!(derivable(&tricky, &by_lines), vec![Member::Cell(1, 2)]);
    assert_safe(&tricky, &suppress(&tricky));
}

// The two tables below are what the rule first suggested for this module makes of them:
// suppress the small counts, then, while a line (a row or column with its total, the row
// totals or the column totals with the grand total) has a published total and exactly one
// suppressed member, suppress its smallest other member above zero (else a zero, else the
// total). It leaves a derivable value in about 1 random table in 30 (73 of 2,000 in the
// property tests' distribution), in these two ways.

#[test]
fn a_suppressed_total_whose_cells_are_all_shown_gives_itself_away() {
    // West's 23 cases are shown, so West's suppressed total is 23 too, and then the row
    // totals give South's 7 away: 821 - 495 - 296 - 23.
    let cases = table(
        &["North", "South", "West", "East"],
        &["nurse", "physician"],
        vec![vec![495, 0], vec![0, 7], vec![0, 23], vec![278, 18]],
    );
    let by_lines = publish_except(
        &cases,
        &[
            Member::Cell(0, 0),
            Member::Cell(0, 1),
            Member::Cell(1, 1),
            Member::Cell(3, 0),
            Member::Cell(3, 1),
            Member::Row(1),
            Member::Row(2),
        ],
    );
    assert_eq!(
        derivable(&cases, &by_lines),
        vec![Member::Cell(1, 1), Member::Row(1), Member::Row(2)]
    );
    assert_safe(&cases, &suppress(&cases));
}

#[test]
fn two_suppressed_members_in_every_line_are_not_always_enough() {
    // Every line with a published total has two suppressed members, yet: North and South
    // add up to 56 - 41 = 15, North is only its pharmacists and South's pharmacists and
    // North's add up to 47 - 37 = 10, so South has 5 nurses.
    let cases = table(
        &["North", "South", "West"],
        &["nurse", "physician", "pharmacist"],
        vec![vec![0, 0, 6], vec![5, 0, 4], vec![3, 1, 37]],
    );
    let by_lines = publish_except(
        &cases,
        &[
            Member::Cell(0, 2),
            Member::Cell(1, 0),
            Member::Cell(1, 2),
            Member::Cell(2, 0),
            Member::Cell(2, 1),
            Member::Row(0),
            Member::Row(1),
            Member::Column(0),
            Member::Column(1),
        ],
    );
    assert_eq!(derivable(&cases, &by_lines), vec![Member::Cell(1, 0)]);
    assert_safe(&cases, &suppress(&cases));
}

#[test]
fn suppression_is_deterministic() {
    let cases = table(
        &["North", "South", "East"],
        &["a", "b", "c"],
        vec![vec![12, 12, 12], vec![12, 3, 12], vec![12, 12, 12]],
    );
    assert_eq!(suppress(&cases), suppress(&cases));
}

#[test]
fn a_large_table_is_suppressed() {
    // 40 units × 15 disciplines, a third of the counts small.
    let cells: Vec<Vec<u64>> = (0..40u64)
        .map(|i| (0..15u64).map(|j| (i * 7 + j * 13) % 31).collect())
        .collect();
    let rows: Vec<String> = (0..40).map(|i| format!("unit {i}")).collect();
    let columns: Vec<String> = (0..15).map(|j| format!("discipline {j}")).collect();
    let large = CountTable::new(rows, columns, cells).expect("well formed");
    let published = suppress(&large);
    assert_safe(&large, &published);
}

#[test]
fn a_malformed_table_is_refused() {
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        CountTable::new(names(&["North"]), names(&["a", "b"]), vec![vec![1]]),
        Err(ShapeError::RowLength {
            row: 0,
            cells: 1,
            columns: 2
        })
    );
    assert_eq!(
        CountTable::new(names(&["North", "South"]), names(&["a"]), vec![vec![1]]),
        Err(ShapeError::RowCount { labels: 2, rows: 1 })
    );
}

#[test]
#[should_panic(expected = "malformed")]
fn suppressing_a_malformed_table_panics() {
    let ragged = CountTable {
        rows: vec!["North".into()],
        columns: vec!["a".into(), "b".into()],
        cells: vec![vec![1]],
    };
    suppress(&ragged);
}

#[test]
fn a_share_of_a_suppressed_count_is_not_published() {
    assert_eq!(share(Cell::Suppressed, Cell::Count(40)), None);
    // Nor of a suppressed whole: 30 and the share would give the whole back.
    assert_eq!(share(Cell::Count(30), Cell::Suppressed), None);
}

#[test]
fn a_share_that_would_reveal_a_small_rest_is_not_published() {
    // 12 of 15 within the deadline: 3 were not.
    assert_eq!(share(Cell::Count(12), Cell::Count(15)), None);
    assert_eq!(share(Cell::Count(5), Cell::Count(40)), None);
}

#[test]
fn a_share_of_published_counts_is_published() {
    assert_eq!(
        share(Cell::Count(30), Cell::Count(40)),
        None,
        "the rest is 10"
    );
    assert_eq!(share(Cell::Count(30), Cell::Count(41)), Some(30.0 / 41.0));
    assert_eq!(share(Cell::Count(0), Cell::Count(40)), Some(0.0));
    assert_eq!(share(Cell::Count(40), Cell::Count(40)), Some(1.0));
}

#[test]
fn a_share_of_nothing_or_more_than_the_whole_is_not_published() {
    assert_eq!(share(Cell::Count(0), Cell::Count(0)), None);
    assert_eq!(share(Cell::Count(50), Cell::Count(40)), None);
}

#[test]
fn a_median_of_ten_or_fewer_cases_is_not_published() {
    assert!(!may_publish_statistic_of(0));
    assert!(!may_publish_statistic_of(1));
    assert!(!may_publish_statistic_of(10));
    assert!(may_publish_statistic_of(11));
    assert!(may_publish_statistic_of(500));
}

#[test]
fn published_values_serialise_as_numbers_or_suppressed() {
    let published = suppress(&CountTable::one_column(
        "cases",
        [("North", 7), ("South", 20)],
    ));
    let json = serde_json::to_value(&published).expect("serialises");
    assert_eq!(
        json,
        serde_json::json!({
            "rows": ["North", "South"],
            "columns": ["cases"],
            "cells": [["suppressed"], ["suppressed"]],
            "row_totals": ["suppressed", "suppressed"],
            "column_totals": [27],
            "total": 27,
        })
    );
    let back: PublishedTable = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, published);
    assert_eq!(serde_json::to_string(&Cell::Count(0)).unwrap(), "0");
    assert_eq!(serde_json::from_str::<Cell>("12").unwrap(), Cell::Count(12));
    assert!(serde_json::from_str::<Cell>("\"hidden\"").is_err());
    assert!(serde_json::from_str::<Cell>("-1").is_err());
    assert!(serde_json::from_str::<Cell>("null").is_err());
    assert_eq!(Cell::Suppressed.to_string(), "suppressed");
    assert_eq!(Cell::Count(12).to_string(), "12");
}

// ----- Properties ------------------------------------------------------------------------

pub(super) fn config() -> Config {
    Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Counts as they come: many zeros, many small ones, some large.
pub(super) fn count() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 4 => 1..=10u64, 3 => 11..=60u64, 1 => 61..=500u64]
}

fn tables(max_rows: usize, max_columns: usize) -> impl Strategy<Value = CountTable> {
    (1..=max_rows, 1..=max_columns).prop_flat_map(|(rows, columns)| {
        prop::collection::vec(prop::collection::vec(count(), columns), rows).prop_map(
            move |cells| CountTable {
                rows: (0..rows).map(|i| format!("row {i}")).collect(),
                columns: (0..columns).map(|j| format!("column {j}")).collect(),
                cells,
            },
        )
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_published_value_is_small_or_wrong_or_derivable(table in tables(6, 6)) {
        // All four rules: no count from 1 to 10, every count true, no line with its total
        // published has exactly one suppressed member, no suppressed value derivable.
        assert_safe(&table, &suppress(&table));
    }

    #[test]
    fn nothing_is_suppressed_without_a_small_count(
        table in tables(6, 6).prop_map(|mut table| {
            for count in table.cells.iter_mut().flatten() {
                if is_small(*count) {
                    *count += SMALLEST_PUBLISHED;
                }
            }
            table
        })
    ) {
        prop_assert_eq!(suppressed_members(&suppress(&table)), Vec::<Member>::new());
    }

    #[test]
    fn the_audit_finds_every_alternative_an_exhaustive_search_finds(
        (table, hidden) in tables(3, 3).prop_flat_map(|table| {
            let all = members(table.rows.len(), table.columns.len());
            let n = all.len();
            (Just(table), prop::sample::subsequence(all, 0..=n))
        })
    ) {
        // Any pattern of suppression, safe or not: the audit's search says a value can
        // change exactly when an exhaustive search over nearby tables finds it changing
        // (within 2 of the truth in every cell for small tables, 1 for the others; a unit
        // step round a cycle is always enough, which the wider search double-checks).
        let published = publish_except(&table, &hidden);
        let radius = if table.rows.len() * table.columns.len() <= 6 { 2 } else { 1 };
        let variable = exhaustively_variable(&table, &published, radius);
        let derivable: BTreeSet<Member> = derivable(&table, &published).into_iter().collect();
        let suppressed: BTreeSet<Member> = hidden.into_iter().collect();
        let audited: BTreeSet<Member> = suppressed.difference(&derivable).copied().collect();
        prop_assert_eq!(audited, variable);
    }

    #[test]
    fn a_published_share_never_reveals_a_small_count(part in 0..60u64, rest in 0..60u64) {
        let whole = part + rest;
        if share(Cell::Count(part), Cell::Count(whole)).is_some() {
            prop_assert!(!is_small(part) && !is_small(rest) && !is_small(whole));
        }
    }
}
