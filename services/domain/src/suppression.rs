//! Small-cell suppression of the statistics the safety office receives (CMS cell-size
//! suppression policy, see `shared/DOMAIN.md`, "Statistics for the safety office").
//!
//! The rule: no published cell shows a count from 1 to 10, and no suppressed value can be
//! derived from what is published (a total, a row or column sum, a percentage), so
//! complementary cells are suppressed too. Zero may be shown.
//!
//! # What "cannot be derived" means here
//!
//! A published [`CountTable`] shows its cells, its row totals, its column totals and its grand
//! total. A reader knows every published value, every sum relation (each row adds up to its row
//! total, each column to its column total, the row totals and the column totals each to the
//! grand total) and that no count is negative. [`suppress`] guarantees that for every suppressed
//! value the tables consistent with all that still allow **at least two different values** for
//! it (and then, as shown below, two whole numbers).
//!
//! The guarantee is exact, not a heuristic: the relations are those of a flow network, so the
//! question "can this value change?" is answered by a path search. The table is a circulation
//! on four kinds of node, one for each "line" of the published table:
//!
//! ```text
//!   ROWS ──row total i──▶ row i ──cell (i, j)──▶ column j ──column total j──▶ COLUMNS
//!     ▲                                                                          │
//!     └──────────────────────────────── grand total ─────────────────────────────┘
//! ```
//!
//! Flow is conserved at every node, and conservation at a node is exactly the sum relation of
//! one line: row i (its cells and its row total), column j (its cells and its column total),
//! ROWS (the row totals and the grand total) and COLUMNS (the column totals and the grand
//! total). The tables consistent with the published values are the true one plus the
//! circulations on the suppressed edges that keep every count nonnegative. A suppressed value
//! can change if and only if its edge lies on a simple cycle of suppressed edges that can be
//! traversed in the residual sense: an edge may be walked forwards (its count grows) always,
//! and backwards (its count shrinks) only if its count is above zero. Moving one unit round
//! such a cycle gives another consistent table of whole numbers. Conversely, if any other
//! value, even a fractional one, were consistent, a conformal decomposition of the difference
//! into cycles would give such a cycle, so no linear-programming reasoning over the published
//! table can pin the value down either (the matrix is totally unimodular).
//!
//! # The algorithm
//!
//! 1. Primary suppression: every cell and every total from 1 to 10.
//! 2. Complementary suppression: for each suppressed value in a fixed order (cells row by row,
//!    then row totals, column totals, grand total) that is not yet on such a cycle, find the
//!    cheapest cycle through it (Dijkstra; already suppressed members cost nothing) and suppress
//!    the published members on it. Every member of that cycle is then protected, and stays so,
//!    as suppressing more only adds cycles; so one pass suffices.
//!
//! The cost of suppressing a published member compares, in this order: how many totals (a
//! total is the most useful number of a table, so it is the last resort), how many zeros (a
//! zero can only grow, so it protects poorly: a 7 complemented by a 0 is known to be at most
//! 7), the sum of the values suppressed (the smallest first), and how many members. Ties go to
//! the first found in the fixed order, so the result is deterministic.
//!
//! This covers every line: a small cell alone in a line with a published total always draws a
//! partner, and a one-column list (cases by trigger kind with a total) works the same way: its
//! row total equals its only cell, so a small row is suppressed with its total, and protected
//! by suppressing another row (cell and total), the smallest above zero, rather than the grand
//! total.
//!
//! # Limits
//!
//! - Not minimal: finding the fewest or cheapest complementary suppressions is NP-hard in
//!   general; this is a greedy heuristic in the spirit of the network-flow methods used by
//!   statistical offices. It always terminates with a safe table (at worst everything is
//!   suppressed, which reveals nothing).
//! - "At least two values" is not a protection interval: a reader may still bound a suppressed
//!   count (say between 0 and 15). Nothing requires the bounds to be wide.
//! - One table at a time. Tables that share members (the same cases by campus and by
//!   discipline share the grand total; a quarter is the sum of its months) can reveal in
//!   combination what each hides alone: [`suppress_linked`] suppresses such tables together.
//! - The reader is assumed to know only the published values and nonnegativity, not that a
//!   suppressed count is at least 1 because it is small (the algorithm itself is public).

mod linked;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::ops::Add;

pub use linked::suppress_linked;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The smallest count that may be published (CMS: counts 1 to 10 are suppressed). 0 is shown.
pub const SMALLEST_PUBLISHED: u64 = 11;

/// How a suppressed value is written, in JSON and CSV.
pub const SUPPRESSED: &str = "suppressed";

/// Whether `count` is one the policy forbids publishing (1 to 10; zero is shown).
pub fn is_small(count: u64) -> bool {
    count != 0 && count < SMALLEST_PUBLISHED
}

/// A two-way table of counts as it would be published: rows × columns, with the row totals,
/// the column totals and the grand total also published. `cells[row][column]`.
///
/// A one-dimensional list (cases by trigger kind, with a total) is a table with one column:
/// see [`CountTable::one_column`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountTable {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: Vec<Vec<u64>>,
}

/// A table whose cells do not match its row and column labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("the table has {labels} row labels but {rows} rows of cells")]
    RowCount { labels: usize, rows: usize },
    #[error("row {row} has {cells} cells for {columns} columns")]
    RowLength {
        row: usize,
        cells: usize,
        columns: usize,
    },
}

impl CountTable {
    /// A table whose shape is checked: one row of cells per row label, one cell per column.
    pub fn new(
        rows: Vec<String>,
        columns: Vec<String>,
        cells: Vec<Vec<u64>>,
    ) -> Result<Self, ShapeError> {
        let table = Self {
            rows,
            columns,
            cells,
        };
        table.check_shape()?;
        Ok(table)
    }

    /// A one-dimensional list as a table of one column, e.g. cases by trigger kind.
    pub fn one_column<L: Into<String>>(
        column: impl Into<String>,
        rows: impl IntoIterator<Item = (L, u64)>,
    ) -> Self {
        let (rows, cells) = rows
            .into_iter()
            .map(|(label, count)| (label.into(), vec![count]))
            .unzip();
        Self {
            rows,
            columns: vec![column.into()],
            cells,
        }
    }

    /// Whether there is one row of cells per row label and one cell per column in each.
    pub fn check_shape(&self) -> Result<(), ShapeError> {
        if self.cells.len() != self.rows.len() {
            return Err(ShapeError::RowCount {
                labels: self.rows.len(),
                rows: self.cells.len(),
            });
        }
        match self
            .cells
            .iter()
            .position(|row| row.len() != self.columns.len())
        {
            Some(row) => Err(ShapeError::RowLength {
                row,
                cells: self.cells[row].len(),
                columns: self.columns.len(),
            }),
            None => Ok(()),
        }
    }

    /// The total of each row.
    pub fn row_totals(&self) -> Vec<u64> {
        self.cells
            .iter()
            .map(|row| sum(row.iter().copied()))
            .collect()
    }

    /// The total of each column.
    pub fn column_totals(&self) -> Vec<u64> {
        (0..self.columns.len())
            .map(|column| sum(self.cells.iter().map(|row| row[column])))
            .collect()
    }

    /// The grand total.
    pub fn total(&self) -> u64 {
        sum(self.cells.iter().flatten().copied())
    }
}

fn sum(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, |total, count| {
        total
            .checked_add(count)
            .expect("a table of counts adds up to less than 2^64")
    })
}

/// A published value: the count, or suppressed.
///
/// Serialises as the number, or as the string `"suppressed"` (so a suppressed value can never
/// be mistaken for a zero, nor a JSON `null` for a missing field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    Count(u64),
    Suppressed,
}

impl Cell {
    /// The published count, if any.
    pub fn count(self) -> Option<u64> {
        match self {
            Cell::Count(count) => Some(count),
            Cell::Suppressed => None,
        }
    }

    pub fn is_suppressed(self) -> bool {
        self == Cell::Suppressed
    }
}

impl fmt::Display for Cell {
    /// The count, or `suppressed`: what a CSV cell shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Count(count) => write!(f, "{count}"),
            Cell::Suppressed => f.write_str(SUPPRESSED),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Count(count) => serializer.serialize_u64(*count),
            Cell::Suppressed => serializer.serialize_str(SUPPRESSED),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;

        impl Visitor<'_> for CellVisitor {
            type Value = Cell;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a count or the string \"{SUPPRESSED}\"")
            }

            fn visit_u64<E: de::Error>(self, count: u64) -> Result<Cell, E> {
                Ok(Cell::Count(count))
            }

            fn visit_i64<E: de::Error>(self, count: i64) -> Result<Cell, E> {
                u64::try_from(count)
                    .map(Cell::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(count), &self))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Cell, E> {
                if text == SUPPRESSED {
                    Ok(Cell::Suppressed)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(text), &self))
                }
            }
        }

        deserializer.deserialize_any(CellVisitor)
    }
}

/// A table as published: each cell and total shown, or suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTable {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: Vec<Vec<Cell>>,
    pub row_totals: Vec<Cell>,
    pub column_totals: Vec<Cell>,
    pub total: Cell,
}

/// Suppresses the small cells of `table` and enough complementary cells (and totals) that none
/// can be derived: see the module documentation for the guarantee, the algorithm and its
/// limits. Deterministic: the same table is always suppressed the same way.
///
/// # Panics
///
/// If the table is malformed (see [`CountTable::check_shape`]; [`CountTable::new`] checks it),
/// or if its counts add up to 2^64 or more.
pub fn suppress(table: &CountTable) -> PublishedTable {
    suppress_linked(&[vec![table.clone()]])
        .pop()
        .and_then(|mut breakdowns| breakdowns.pop())
        .expect("one period of one table")
}

/// A share (e.g. cases contacted within the deadline out of all cases) of two published counts,
/// or `None` when it must not be published.
///
/// It is published only when `part` and `whole` are both published counts, `whole` is above
/// zero, `part` is at most `whole`, and neither of them nor the complement `whole - part` is a
/// count from 1 to 10. So the share reveals nothing that the two published counts do not
/// already show, and it is withheld even when those two alone would reveal a small complement
/// (12 of 15 reveals a 3). A suppressed `whole` cannot be recovered from `part` and the share,
/// because no share is given then.
///
/// What it cannot check: that `part` and `whole` come from one suppressed table (say a line
/// "within the deadline | later | all") so that the complement was protected there too. Take
/// both from the same [`PublishedTable`].
pub fn share(part: Cell, whole: Cell) -> Option<f64> {
    let (Cell::Count(part), Cell::Count(whole)) = (part, whole) else {
        return None;
    };
    if whole == 0 || part > whole || [part, whole, whole - part].into_iter().any(is_small) {
        return None;
    }
    Some(part as f64 / whole as f64)
}

/// Whether a statistic of `n` observations (a median, a percentile) may be published: only
/// when `n` itself could be published as a nonzero count, i.e. `n >= SMALLEST_PUBLISHED`.
///
/// `n == 0` gives `false`: there is nothing to publish, and a median of no observations is not
/// a number. Use the true `n`, not the published cell: a group whose count was suppressed only
/// as a complement (`n >= 11`) may still have its median published, which does not reveal `n`.
pub fn may_publish_statistic_of(n: u64) -> bool {
    n >= SMALLEST_PUBLISHED
}

/// The published table as a flow network: see the module documentation.
struct Network {
    rows: usize,
    columns: usize,
    /// Cells row by row, then row totals, column totals, and the grand total last.
    edges: Vec<Edge>,
    /// For each node, the arcs leaving it: `(edge, next node)`. An edge gives a forward arc
    /// (its count may grow) and, if its count is above zero, a backward arc (it may shrink).
    arcs: Vec<Vec<(usize, usize)>>,
}

struct Edge {
    from: usize,
    to: usize,
    value: u64,
    is_total: bool,
}

/// Where the row totals meet the grand total.
const ROWS: usize = 0;
/// Where the column totals meet the grand total.
const COLUMNS: usize = 1;

/// What suppressing some published members costs, compared field by field in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Cost {
    totals: u64,
    zeros: u64,
    values: u64,
    members: u64,
}

impl Add for Cost {
    type Output = Cost;

    fn add(self, other: Cost) -> Cost {
        Cost {
            totals: self.totals + other.totals,
            zeros: self.zeros + other.zeros,
            values: self.values.saturating_add(other.values),
            members: self.members + other.members,
        }
    }
}

impl Network {
    fn of(table: &CountTable) -> Self {
        let rows = table.rows.len();
        let columns = table.columns.len();
        let row = |i: usize| 2 + i;
        let column = |j: usize| 2 + rows + j;
        let mut edges = Vec::with_capacity(rows * columns + rows + columns + 1);
        for (i, cells) in table.cells.iter().enumerate() {
            for (j, &value) in cells.iter().enumerate() {
                edges.push(Edge {
                    from: row(i),
                    to: column(j),
                    value,
                    is_total: false,
                });
            }
        }
        for (i, value) in table.row_totals().into_iter().enumerate() {
            edges.push(Edge {
                from: ROWS,
                to: row(i),
                value,
                is_total: true,
            });
        }
        for (j, value) in table.column_totals().into_iter().enumerate() {
            edges.push(Edge {
                from: column(j),
                to: COLUMNS,
                value,
                is_total: true,
            });
        }
        edges.push(Edge {
            from: COLUMNS,
            to: ROWS,
            value: table.total(),
            is_total: true,
        });
        let mut arcs = vec![Vec::new(); 2 + rows + columns];
        for (index, edge) in edges.iter().enumerate() {
            arcs[edge.from].push((index, edge.to));
            if edge.value > 0 {
                arcs[edge.to].push((index, edge.from));
            }
        }
        Self {
            rows,
            columns,
            edges,
            arcs,
        }
    }

    fn cost(&self, edge: usize, suppressed: &[bool]) -> Cost {
        if suppressed[edge] {
            return Cost::default();
        }
        let edge = &self.edges[edge];
        Cost {
            totals: u64::from(edge.is_total),
            zeros: u64::from(edge.value == 0),
            values: edge.value,
            members: 1,
        }
    }

    /// The members of the cheapest simple cycle through `edge` along which `edge` can change,
    /// `edge` included.
    fn cheapest_cycle(&self, edge: usize, suppressed: &[bool]) -> Option<Vec<usize>> {
        let Edge {
            from, to, value, ..
        } = self.edges[edge];
        // Back from `to` to `from`: `edge` can grow. From `from` to `to`: it can shrink.
        let grow = self.cheapest_path(to, from, edge, suppressed);
        let shrink = if value > 0 {
            self.cheapest_path(from, to, edge, suppressed)
        } else {
            None
        };
        let (_, mut path) = match (grow, shrink) {
            (Some(grow), Some(shrink)) if shrink.0 < grow.0 => shrink,
            (Some(grow), _) => grow,
            (None, shrink) => shrink?,
        };
        path.push(edge);
        Some(path)
    }

    /// Dijkstra from `start` to `goal` over every arc except those of `avoid`; returns the cost
    /// and the edges of the path.
    fn cheapest_path(
        &self,
        start: usize,
        goal: usize,
        avoid: usize,
        suppressed: &[bool],
    ) -> Option<(Cost, Vec<usize>)> {
        let mut best: Vec<Option<Cost>> = vec![None; self.arcs.len()];
        let mut came_by: Vec<Option<(usize, usize)>> = vec![None; self.arcs.len()];
        let mut done = vec![false; self.arcs.len()];
        let mut queue = BinaryHeap::new();
        best[start] = Some(Cost::default());
        queue.push(Reverse((Cost::default(), start)));
        while let Some(Reverse((cost, node))) = queue.pop() {
            if done[node] {
                continue;
            }
            done[node] = true;
            if node == goal {
                let mut path = Vec::new();
                let mut at = goal;
                while let Some((edge, previous)) = came_by[at] {
                    path.push(edge);
                    at = previous;
                }
                path.reverse();
                return Some((cost, path));
            }
            for &(edge, next) in &self.arcs[node] {
                if edge == avoid || done[next] {
                    continue;
                }
                let through = cost + self.cost(edge, suppressed);
                if best[next].is_none_or(|known| through < known) {
                    best[next] = Some(through);
                    came_by[next] = Some((edge, node));
                    queue.push(Reverse((through, next)));
                }
            }
        }
        None
    }

    fn publish(&self, table: &CountTable, suppressed: &[bool]) -> PublishedTable {
        let cell = |edge: usize| {
            if suppressed[edge] {
                Cell::Suppressed
            } else {
                Cell::Count(self.edges[edge].value)
            }
        };
        let cells_end = self.rows * self.columns;
        let row_totals_end = cells_end + self.rows;
        let column_totals_end = row_totals_end + self.columns;
        PublishedTable {
            rows: table.rows.clone(),
            columns: table.columns.clone(),
            cells: (0..self.rows)
                .map(|i| {
                    (0..self.columns)
                        .map(|j| cell(i * self.columns + j))
                        .collect()
                })
                .collect(),
            row_totals: (cells_end..row_totals_end).map(cell).collect(),
            column_totals: (row_totals_end..column_totals_end).map(cell).collect(),
            total: cell(column_totals_end),
        }
    }
}

#[cfg(test)]
#[path = "suppression_tests.rs"]
mod tests;
