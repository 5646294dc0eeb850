//! `statewell export GROUP... | --all`: every item as one JSON line
//! `{"group","key","value"}` on stdout, group after group in key order, read
//! page by page so memory stays bounded whatever the engine holds.
//! `statewell import` reads the same lines back.
//!
//! Not a snapshot: each page is read as it is when asked for, so writes made
//! during an export may or may not be in it. Stop writers (or accept that)
//! for a consistent backup.

use std::io::{BufWriter, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use statewell_client::{Client, PageRequest};

use super::Failure;
use super::progress::Progress;

/// Items per page. Smaller than the engine's largest page (1000) so that a
/// page of large values still fits in one WebSocket frame.
const PAGE_SIZE: usize = 100;

/// One line of an export, and of an import's input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub group: String,
    pub key: String,
    pub value: Value,
}

pub async fn run(client: &Client, groups: &[String], all: bool) -> Result<(), Failure> {
    let groups = if all {
        client.list_groups().await?
    } else {
        groups.to_vec()
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut progress = Progress::new("exported");
    for group in &groups {
        let mut request = PageRequest {
            limit: Some(PAGE_SIZE),
            ..PageRequest::default()
        };
        loop {
            let page = client.list_items(group, &request).await?;
            let count = page.items.len() as u64;
            for item in page.items {
                let line = Line {
                    group: group.clone(),
                    key: item.key,
                    value: item.value,
                };
                write_line(&mut out, &line)?;
            }
            // Page by page, so a reader of the pipe sees steady progress.
            out.flush().map_err(write_failed)?;
            progress.add(count, group);
            match page.next {
                Some(next) => request.after = Some(next),
                None => break,
            }
        }
    }
    progress.finish();
    Ok(())
}

fn write_line(out: &mut impl Write, line: &Line) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, line)
        .map_err(|e| Failure::new("output", format!("cannot write an item: {e}")))?;
    out.write_all(b"\n").map_err(write_failed)
}

fn write_failed(e: std::io::Error) -> Failure {
    Failure::new("output", format!("cannot write to stdout: {e}"))
}
