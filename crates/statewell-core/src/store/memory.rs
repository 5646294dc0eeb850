//! A store in process memory: for tests and ephemeral use. Nothing survives
//! the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{EVENT_CHANNEL_CAPACITY, Store, StoreStats};
use crate::{
    ChangeEvent, IdempotencyTable, Item, Limits, Mutation, MutationOutcome, OpOutcome, Page,
    Remembered, ResolvedPageRequest, StateError, TxOp, TxOutcome, Versioned, WriteRequest,
    apply_mutation, change_event, now_ms, plan_transaction,
};

pub struct MemoryStore {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<ChangeEvent>>,
    limits: Limits,
}

struct Inner {
    /// group → key → item. Empty groups are removed, so the outer map's keys
    /// are exactly the groups that hold items.
    groups: BTreeMap<String, BTreeMap<String, Versioned>>,
    revision: u64,
    commits: u64,
    items: u64,
    /// Kept in memory only, as everything else here.
    idempotency: IdempotencyTable,
}

impl MemoryStore {
    pub fn new(limits: Limits) -> Self {
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        MemoryStore {
            inner: Mutex::new(Inner {
                groups: BTreeMap::new(),
                revision: 0,
                commits: 0,
                items: 0,
                idempotency: IdempotencyTable::new(&limits),
            }),
            events,
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied item:
        // every mutation is computed before the map is touched.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `after` (or removes the item when `None`) at `revision`,
    /// under the lock.
    fn put(inner: &mut Inner, group: &str, key: &str, after: Option<&Value>, revision: u64) {
        match after {
            Some(value) => {
                let items = inner.groups.entry(group.to_owned()).or_default();
                let previous = items.insert(
                    key.to_owned(),
                    Versioned {
                        value: value.clone(),
                        version: revision,
                    },
                );
                if previous.is_none() {
                    inner.items += 1;
                }
            }
            None => {
                if let Some(items) = inner.groups.get_mut(group) {
                    if items.remove(key).is_some() {
                        inner.items -= 1;
                    }
                    if items.is_empty() {
                        inner.groups.remove(group);
                    }
                }
            }
        }
    }

    /// Removes every item of `group` under the lock, one event each.
    fn clear_locked(&self, inner: &mut Inner, group: &str) -> u64 {
        let Some(items) = inner.groups.remove(group) else {
            return 0;
        };
        let removed = items.len() as u64;
        inner.items -= removed;
        inner.commits += 1;
        for (key, item) in items {
            inner.revision += 1;
            let event = change_event(group, &key, Some(item.value), None, inner.revision);
            self.publish(event);
        }
        removed
    }

    /// Applies a request's ops (not a clear) under the lock.
    fn transaction_locked(
        &self,
        inner: &mut Inner,
        request: &WriteRequest,
    ) -> Result<TxOutcome, StateError> {
        let next = inner.revision + 1;
        let groups = &inner.groups;
        let mut plan = plan_transaction(&request.ops, request.mode, &self.limits, next, |g, k| {
            Ok(groups
                .get(g)
                .and_then(|items| items.get(k))
                .map(|item| (item.value.clone(), item.version)))
        })?;
        if plan.changes.is_empty() {
            return Ok(plan.outcome(None));
        }
        inner.revision = next;
        inner.commits += 1;
        for change in std::mem::take(&mut plan.changes) {
            Self::put(
                inner,
                &change.group,
                &change.key,
                change.after.as_ref(),
                next,
            );
            // Published under the lock so that events leave in commit order.
            self.publish(change_event(
                &change.group,
                &change.key,
                change.before,
                change.after,
                next,
            ));
        }
        Ok(plan.outcome(Some(next)))
    }

    fn publish(&self, event: Option<ChangeEvent>) {
        if let Some(event) = event {
            // No receiver is not an error: nobody is listening.
            let _ = self.events.send(Arc::new(event));
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(Limits::default())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
        Ok(self
            .lock()
            .groups
            .get(group)
            .and_then(|g| g.get(key))
            .cloned())
    }

    async fn write(&self, mutation: Mutation) -> Result<MutationOutcome, StateError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let (group, key) = (mutation.group(), mutation.key());
        let current = inner.groups.get(group).and_then(|g| g.get(key)).cloned();
        let applied = apply_mutation(current.as_ref().map(|v| &v.value), &mutation, &self.limits)?;
        let old_value = current.map(|v| v.value);
        if !applied.changed {
            return Ok(MutationOutcome {
                new_value: applied.after,
                old_value,
                version: None,
                op_errors: applied.op_errors,
            });
        }
        inner.revision += 1;
        inner.commits += 1;
        let revision = inner.revision;
        Self::put(inner, group, key, applied.after.as_ref(), revision);
        let event = change_event(
            group,
            key,
            old_value.clone(),
            applied.after.clone(),
            revision,
        );
        // Published under the lock so that events leave in commit order.
        self.publish(event);
        Ok(MutationOutcome {
            old_value,
            new_value: applied.after,
            version: Some(revision),
            op_errors: applied.op_errors,
        })
    }

    async fn clear(&self, group: &str) -> Result<u64, StateError> {
        let mut inner = self.lock();
        Ok(self.clear_locked(&mut inner, group))
    }

    async fn transaction(&self, request: WriteRequest) -> Result<TxOutcome, StateError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = now_ms();
        if let Some(idem) = &request.idempotency
            && let Some(answer) = inner.idempotency.lookup(idem, now)
        {
            return answer;
        }
        let outcome = match request.ops.as_slice() {
            [TxOp::Clear { group }] => {
                let removed = self.clear_locked(inner, group);
                TxOutcome {
                    results: vec![OpOutcome {
                        removed,
                        ..OpOutcome::default()
                    }],
                    revision: (removed > 0).then_some(inner.revision),
                    replayed: false,
                }
            }
            _ => self.transaction_locked(inner, &request)?,
        };
        // Only a success is remembered: a refused request changed nothing,
        // and its retry is decided afresh.
        if let Some(idem) = request.idempotency {
            let entry = Remembered {
                hash: idem.request_hash,
                at_ms: now,
                outcome: outcome.clone(),
            };
            inner.idempotency.remember(idem.key, entry, now);
        }
        Ok(outcome)
    }

    async fn list(&self, group: &str) -> Result<Vec<Value>, StateError> {
        Ok(self
            .lock()
            .groups
            .get(group)
            .map(|items| items.values().map(|v| v.value.clone()).collect())
            .unwrap_or_default())
    }

    async fn list_items(
        &self,
        group: &str,
        page: ResolvedPageRequest<'_>,
    ) -> Result<Page, StateError> {
        use std::ops::Bound;
        let ResolvedPageRequest {
            prefix,
            after,
            limit,
        } = page;
        let inner = self.lock();
        let Some(items) = inner.groups.get(group) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let prefix = prefix.unwrap_or("");
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
            _ => Bound::Included(prefix.to_owned()),
        };
        let mut page: Vec<Item> = items
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit.saturating_add(1))
            .map(|(key, item)| Item {
                key: key.clone(),
                value: item.value.clone(),
                version: item.version,
            })
            .collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|item| item.key.clone())
        } else {
            None
        };
        Ok(Page { items: page, next })
    }

    async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        Ok(self.lock().groups.keys().cloned().collect())
    }

    async fn group_size(&self, group: &str) -> Result<u64, StateError> {
        let size = self.lock().groups.get(group).map_or(0, BTreeMap::len);
        Ok(u64::try_from(size).unwrap_or(u64::MAX))
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.events.subscribe()
    }

    async fn sync(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        let inner = self.lock();
        StoreStats {
            items: inner.items,
            bytes: 0,
            last_batch_size: 1,
            commits: inner.commits,
            syncs: 0,
            revision: inner.revision,
            idempotency_keys: inner.idempotency.len() as u64,
        }
    }
}
