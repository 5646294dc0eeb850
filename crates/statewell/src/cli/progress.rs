//! A running count on stderr for `export` and `import`, only when stderr is a
//! terminal: a redirected stderr (a log, a cron mail) stays empty on success.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn: often enough to look alive, rarely enough
/// to cost nothing next to the transfer.
const REDRAW: Duration = Duration::from_millis(200);

pub struct Progress {
    verb: &'static str,
    count: u64,
    shown: bool,
    last_drawn: Option<Instant>,
}

impl Progress {
    /// `verb` names what is counted: `exported`, `imported`.
    pub fn new(verb: &'static str) -> Progress {
        Progress {
            verb,
            count: 0,
            shown: std::io::stderr().is_terminal(),
            last_drawn: None,
        }
    }

    pub fn add(&mut self, items: u64, group: &str) {
        self.count += items;
        if !self.shown || self.last_drawn.is_some_and(|at| at.elapsed() < REDRAW) {
            return;
        }
        self.last_drawn = Some(Instant::now());
        // `\r` and clear-to-end-of-line: one line, redrawn in place.
        eprint!("\r\x1b[K{} {} items ({group})", self.verb, self.count);
        let _ = std::io::stderr().flush();
    }

    /// The final count on a line of its own.
    pub fn finish(mut self) {
        if self.shown {
            eprintln!("\r\x1b[K{} {} items", self.verb, self.count);
        }
        self.last_drawn = None;
    }
}

/// Cut short (an error is about to be printed): end the drawn line, so the
/// error starts a line of its own.
impl Drop for Progress {
    fn drop(&mut self) {
        if self.last_drawn.is_some() {
            eprintln!();
        }
    }
}
