//! `statewell import < file.jsonl`: stores every `{"group","key","value"}`
//! line (what `export` writes) with `set`, overwriting what is there.
//!
//! Lines are read and checked one at a time and sent in windows of up to
//! [`WINDOW`] concurrent sets over the one connection. A window never holds
//! the same item twice, so when a file sets one item more than once the last
//! line wins, as it would line by line.
//!
//! The first bad line stops the import with its line number. Every line
//! before it has been stored by then (the window in flight is finished
//! first); when the engine refuses a line, lines of the same window after it
//! may have been stored too. Setting an item again is harmless, so the cure
//! is to fix the line and import the file again.

use std::collections::HashSet;
use std::io::{BufRead, Read};

use futures::future::join_all;
use statewell_client::Client;

use super::Failure;
use super::export::Line;
use super::progress::Progress;

/// Sets in flight at once: enough to keep the engine's commit loop batching
/// rather than waiting on one round trip per line.
const WINDOW: usize = 64;

/// Longest line read: the engine's largest possible value (64 MiB) plus room
/// for the group, the key and the JSON around them. Reading stops there
/// instead of buffering an endless line.
const MAX_LINE_BYTES: u64 = 65 * 1024 * 1024;

/// A line checked and ready to send, with its number for error messages.
struct Numbered {
    number: u64,
    line: Line,
}

pub async fn run(client: &Client, input: impl BufRead) -> Result<(), Failure> {
    let mut lines = Lines::new(input);
    let mut progress = Progress::new("imported");
    let mut window: Vec<Numbered> = Vec::with_capacity(WINDOW);
    let mut in_window: HashSet<(String, String)> = HashSet::with_capacity(WINDOW);
    loop {
        let next = match lines.next() {
            Ok(next) => next,
            Err(bad) => {
                // Everything before the bad line is stored first, as promised.
                send(client, &mut window, &mut progress).await?;
                return Err(bad);
            }
        };
        let Some(numbered) = next else { break };
        let item = (numbered.line.group.clone(), numbered.line.key.clone());
        if window.len() == WINDOW || in_window.contains(&item) {
            send(client, &mut window, &mut progress).await?;
            in_window.clear();
        }
        in_window.insert(item);
        window.push(numbered);
    }
    send(client, &mut window, &mut progress).await?;
    progress.finish();
    Ok(())
}

/// Sends the window's sets at once and empties it; the failure of the
/// lowest-numbered line wins.
async fn send(
    client: &Client,
    window: &mut Vec<Numbered>,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let batch = std::mem::take(window);
    let Some(last) = batch.last() else {
        return Ok(());
    };
    let group = last.line.group.clone();
    let count = batch.len() as u64;
    let sets = batch
        .into_iter()
        .map(|Numbered { number, line }| async move {
            client
                .set(&line.group, &line.key, line.value)
                .await
                .map_err(|e| Failure::from(e).context(format_args!("line {number}")))
        });
    for outcome in join_all(sets).await {
        outcome?;
    }
    progress.add(count, &group);
    Ok(())
}

/// The input's lines, numbered from 1, checked one by one; blank lines are
/// skipped (a trailing newline, a file joined from several).
struct Lines<R> {
    input: R,
    number: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    fn new(input: R) -> Self {
        Lines {
            input,
            number: 0,
            buffer: Vec::new(),
        }
    }

    /// The next line with content, `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Numbered>, Failure> {
        loop {
            self.number += 1;
            let number = self.number;
            let bad = |message: String| {
                Failure::usage("invalid_line", format!("line {number}: {message}"))
            };
            self.buffer.clear();
            let read = (&mut self.input)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| Failure::new("input", format!("cannot read stdin: {e}")))?;
            if read == 0 {
                return Ok(None);
            }
            if self.buffer.last() != Some(&b'\n') && read as u64 == MAX_LINE_BYTES {
                return Err(bad(format!("longer than {MAX_LINE_BYTES} bytes")));
            }
            let text = std::str::from_utf8(&self.buffer)
                .map_err(|e| bad(format!("not UTF-8 ({e})")))?
                .trim();
            if text.is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(text).map_err(|e| {
                // serde's "at line 1 column N" would contradict our line number.
                let message = e.to_string();
                let position = format!(" at line {} column {}", e.line(), e.column());
                let message = message.strip_suffix(&position).unwrap_or(&message);
                bad(format!(
                    "expected {{\"group\": \"...\", \"key\": \"...\", \"value\": ...}} \
                     ({message}, at column {})",
                    e.column()
                ))
            })?;
            for (field, name) in [("group", &line.group), ("key", &line.key)] {
                if name.is_empty() {
                    return Err(bad(format!("`{field}` must not be empty")));
                }
            }
            return Ok(Some(Numbered { number, line }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &str) -> Result<Vec<(u64, String)>, String> {
        let mut lines = Lines::new(input.as_bytes());
        let mut seen = Vec::new();
        while let Some(numbered) = lines.next().map_err(|f| f.to_string())? {
            seen.push((numbered.number, numbered.line.key));
        }
        Ok(seen)
    }

    #[test]
    fn lines_are_numbered_and_blank_ones_skipped() {
        let input = "{\"group\":\"g\",\"key\":\"a\",\"value\":1}\n\n  \n{\"group\":\"g\",\"key\":\"b\",\"value\":null}";
        assert_eq!(read_all(input), Ok(vec![(1, "a".into()), (4, "b".into())]));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let good = "{\"group\":\"g\",\"key\":\"a\",\"value\":1}\n";
        for (bad, says) in [
            ("{\"group\":\"g\",\"key\":\"a\"}", "missing field `value`"),
            (
                "{\"group\":\"g\",\"key\":\"a\",\"value\":1,\"extra\":2}",
                "unknown field `extra`",
            ),
            (
                "{\"group\":\"\",\"key\":\"a\",\"value\":1}",
                "`group` must not be empty",
            ),
            ("{\"group\":\"g\",\"key\":7,\"value\":1}", "invalid type"),
            ("[1,2]", "expected {"),
            ("not json", "expected {"),
        ] {
            let error = read_all(&format!("{good}{bad}\n{good}"))
                .err()
                .unwrap_or_default();
            assert!(
                error.starts_with("error: invalid_line: line 2: "),
                "{error}"
            );
            assert!(error.contains(says), "{bad}: {error}");
        }
        let mut lines = Lines::new(&b"\xff\n"[..]);
        let error = lines
            .next()
            .err()
            .map(|f| f.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("error: invalid_line: line 1: not UTF-8"),
            "{error}"
        );
    }
}
