//! A one-off command's progress on stderr: a bar on a terminal, a line a step otherwise (a log
//! file, a test reading the lines), so that both a person watching and a pipe are told.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `total` steps of `what` (e.g. "events sealed").
    pub fn new(what: &str, total: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            eprintln!("{total} {what} to go");
            return Self { bar: None };
        }
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_owned());
        Self { bar: Some(bar) }
    }

    /// `done` steps so far; `line` says so where no bar is drawn.
    pub fn at(&self, done: u64, line: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None => eprintln!("{}", line()),
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        }
    }
}
