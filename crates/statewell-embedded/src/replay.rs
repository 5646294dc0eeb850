//! Replaying the write-ahead log into redb at open: the batches that were
//! acknowledged (synced to the log) after the last checkpoint.
//!
//! Records hold stored bytes, not mutations: replay writes exactly what the
//! commit loop wrote, with no JSON and no update ops to run again. All
//! records go into one durable transaction together with the new `log_lsn`,
//! so a crash during replay leaves the file as it was and the next open
//! replays again.

use std::collections::HashMap;

use redb::{Database, Table};

use crate::codec::group_of;
use crate::tables::{
    GROUPS, ITEMS, META, META_LOG_LSN, META_REVISION, remove_group, store_group_counts,
};
use crate::txn::is_idempotency_item;
use crate::wal::{LogOp, Record};

/// Applies `records` (in lsn order) and commits durably.
pub(crate) fn replay(db: &Database, records: &[Record]) -> Result<(), String> {
    let Some(last) = records.last() else {
        return Ok(());
    };
    let fail = |e: &dyn std::fmt::Display| format!("cannot replay the write-ahead log: {e}");
    let txn = db.begin_write().map_err(|e| fail(&e))?;
    {
        let mut items = txn.open_table(ITEMS).map_err(|e| fail(&e))?;
        let mut deltas: HashMap<String, i64> = HashMap::new();
        for record in records {
            for op in &record.ops {
                apply(&mut items, op, &mut deltas).map_err(|e| fail(&e))?;
            }
        }
        let mut groups = txn.open_table(GROUPS).map_err(|e| fail(&e))?;
        store_group_counts(&mut groups, &deltas).map_err(|e| fail(&e))?;
        let mut meta = txn.open_table(META).map_err(|e| fail(&e))?;
        meta.insert(META_REVISION, last.revision)
            .map_err(|e| fail(&e))?;
        meta.insert(META_LOG_LSN, last.lsn).map_err(|e| fail(&e))?;
    }
    txn.commit().map_err(|e| fail(&e))
}

fn apply(
    items: &mut Table<&[u8], &[u8]>,
    op: &LogOp,
    deltas: &mut HashMap<String, i64>,
) -> Result<(), String> {
    match op {
        LogOp::Put { key, value } if is_idempotency_item(key) => {
            items
                .insert(key.as_slice(), value.as_slice())
                .map_err(|e| e.to_string())?;
        }
        LogOp::Remove { key } if is_idempotency_item(key) => {
            items.remove(key.as_slice()).map_err(|e| e.to_string())?;
        }
        LogOp::Put { key, value } => {
            let group = group_of(key).map_err(|e| e.to_string())?;
            let existed = items
                .insert(key.as_slice(), value.as_slice())
                .map_err(|e| e.to_string())?
                .is_some();
            if !existed {
                *deltas.entry(group.to_owned()).or_default() += 1;
            }
        }
        LogOp::Remove { key } => {
            let group = group_of(key).map_err(|e| e.to_string())?;
            if items
                .remove(key.as_slice())
                .map_err(|e| e.to_string())?
                .is_some()
            {
                *deltas.entry(group.to_owned()).or_default() -= 1;
            }
        }
        LogOp::Clear { group } => {
            let removed = remove_group(items, group, |_, _| Ok(())).map_err(|e| e.to_string())?;
            if removed > 0 {
                *deltas.entry(group.clone()).or_default() -=
                    i64::try_from(removed).unwrap_or(i64::MAX);
            }
        }
    }
    Ok(())
}
