//! The results table: each figure beside its references, as text and as Markdown.

use std::time::Duration;

const HEADER: [&str; 7] = [
    "figure", "value", "naive", "limit", "ratio", "target", "met?",
];

#[derive(Default)]
pub struct Table {
    rows: Vec<[String; 7]>,
}

impl Table {
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        figure: &str,
        value: String,
        naive: Option<String>,
        limit: Option<String>,
        ratio: Option<String>,
        target: Option<String>,
        met: Option<bool>,
    ) {
        let dash = || "-".to_string();
        self.rows.push([
            figure.to_string(),
            value,
            naive.unwrap_or_else(dash),
            limit.unwrap_or_else(dash),
            ratio.unwrap_or_else(dash),
            target.unwrap_or_else(dash),
            met.map_or_else(dash, |met| if met { "yes" } else { "NO" }.to_string()),
        ]);
    }

    pub fn text(&self) -> String {
        let mut widths = HEADER.map(str::len);
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = vec![line(&HEADER.map(String::from))];
        out.push(line(&widths.map(|w| "-".repeat(w))));
        out.extend(self.rows.iter().map(|row| line(row)));
        out.join("\n")
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", HEADER.join(" | "));
        out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

pub fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
