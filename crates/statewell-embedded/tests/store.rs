//! The embedded store's operations, through a real data directory.

mod common;

use common::{delete, open, set, value};
use serde_json::json;
use statewell_core::{ErrorCode, Limits, Mutation, ResolvedPageRequest, Store, UpdateOp, raw_json};
use statewell_embedded::{EmbeddedOptions, EmbeddedStore};

/// The page of at most `limit` keys starting with `prefix`, after `after`.
fn page_request<'a>(
    prefix: Option<&'a str>,
    after: Option<&'a str>,
    limit: usize,
) -> ResolvedPageRequest<'a> {
    ResolvedPageRequest {
        prefix,
        after,
        limit,
    }
}

#[tokio::test]
async fn set_get_delete_and_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let first = store
        .write(set("g", "k", json!({"n": 1})))
        .await
        .expect("set");
    assert_eq!(first.old_value, None);
    assert_eq!(first.version, Some(1));
    let second = store
        .write(set("g", "k", json!({"n": 2})))
        .await
        .expect("set");
    assert_eq!(second.old_value, Some(json!({"n": 1})));
    assert_eq!(second.version, Some(2));
    let got = store.get("g", "k").await.expect("get").expect("present");
    assert_eq!((got.value, got.version), (json!({"n": 2}), 2));

    let removed = store.write(delete("g", "k")).await.expect("delete");
    assert_eq!(removed.old_value, Some(json!({"n": 2})));
    assert_eq!(value(&store, "g", "k").await, None);
    // Deleting a missing key changes nothing and consumes no revision.
    let again = store.write(delete("g", "k")).await.expect("delete");
    assert_eq!((again.old_value, again.version), (None, None));
    assert_eq!(store.stats().revision, 3);
}

#[tokio::test]
async fn integers_keep_full_precision_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let value_in = json!({"u": u64::MAX, "i": i64::MIN, "f": 0.1, "nested": [1, {"x": null}]});
    {
        let store = open(dir.path());
        store
            .write(set("g", "k", value_in.clone()))
            .await
            .expect("set");
        store.close().expect("close");
    }
    let store = open(dir.path());
    assert_eq!(value(&store, "g", "k").await, Some(value_in));
}

#[tokio::test]
async fn list_and_list_items_in_key_order_with_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for key in ["b", "a", "c", "ab", "x/1", "x/2", "x/3"] {
        store.write(set("g", key, json!(key))).await.expect("set");
    }
    // Another group whose name extends this one's must not leak in.
    store
        .write(set("gg", "a", json!("other")))
        .await
        .expect("set");
    let all = store.list("g").await.expect("list");
    assert_eq!(
        all,
        json!(["a", "ab", "b", "c", "x/1", "x/2", "x/3"])
            .as_array()
            .cloned()
            .expect("array")
    );

    let page = store
        .list_items("g", page_request(Some("x/"), None, 2))
        .await
        .expect("page");
    let keys: Vec<_> = page.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["x/1", "x/2"]);
    assert_eq!(page.next.as_deref(), Some("x/2"));
    let page = store
        .list_items("g", page_request(Some("x/"), Some("x/2"), 2))
        .await
        .expect("page");
    let keys: Vec<_> = page.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["x/3"]);
    assert_eq!(page.next, None);
    // A cursor before the prefix starts at the prefix.
    let page = store
        .list_items("g", page_request(Some("x/"), Some("a"), 10))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 3);
    assert!(store.list("missing").await.expect("list").is_empty());
}

#[tokio::test]
async fn clear_and_list_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for key in ["a", "b", "c"] {
        store.write(set("one", key, json!(1))).await.expect("set");
    }
    store.write(set("two", "a", json!(2))).await.expect("set");
    assert_eq!(store.list_groups().await.expect("groups"), ["one", "two"]);
    assert_eq!(store.stats().items, 4);
    assert_eq!(store.clear("one").await.expect("clear"), 3);
    assert_eq!(store.clear("one").await.expect("clear"), 0);
    assert_eq!(store.list_groups().await.expect("groups"), ["two"]);
    store.write(delete("two", "a")).await.expect("delete");
    assert!(store.list_groups().await.expect("groups").is_empty());
    assert_eq!(store.stats().items, 0);
    assert_eq!(store.stats().revision, 4 + 3 + 1);
}

#[tokio::test]
async fn a_value_too_large_fails_alone_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_value_bytes: 16,
        ..Limits::default()
    };
    let store = std::sync::Arc::new(
        EmbeddedStore::open(
            dir.path(),
            EmbeddedOptions {
                limits,
                ..Default::default()
            },
        )
        .expect("open"),
    );
    // Sent concurrently so that they are likely to share a batch; whatever
    // the batching, the big one fails and the small ones commit.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let value = if i == 7 {
                json!("x".repeat(100))
            } else {
                json!(i)
            };
            store.write(set("g", &format!("k{i:02}"), value)).await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("task");
        if i == 7 {
            assert_eq!(
                result.expect_err("too large").code(),
                ErrorCode::ValueTooLarge
            );
        } else {
            result.expect("small value commits");
        }
    }
    assert_eq!(value(&*store, "g", "k07").await, None);
    assert_eq!(store.list("g").await.expect("list").len(), 19);

    // An update whose result outgrows the limit fails the same way and
    // leaves the item as it was, without consuming a revision.
    let revision = store.stats().revision;
    let grow = |by: &str| Mutation::Update {
        group: "g".into(),
        key: "k01".into(),
        ops: vec![UpdateOp::Append {
            path: None,
            value: json!(by),
        }],
    };
    store
        .write(set("g", "k01", json!("ab")))
        .await
        .expect("set");
    let err = store
        .write(grow(&"y".repeat(20)))
        .await
        .expect_err("too large once appended");
    assert_eq!(err.code(), ErrorCode::ValueTooLarge);
    assert_eq!(value(&*store, "g", "k01").await, Some(json!("ab")));
    assert_eq!(store.stats().revision, revision + 1, "only the set counted");
    // One that stays within it commits.
    let grown = store.write(grow("c")).await.expect("small append");
    assert_eq!(grown.new_value, Some(json!("abc")));
}

#[tokio::test]
async fn two_writes_of_one_key_in_a_batch_see_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(open(dir.path()));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.write(set("g", "k", json!(i))).await.expect("set")
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    // Each write's old value is exactly the previous revision's new value.
    outcomes.sort_by_key(|o| o.version);
    for pair in outcomes.windows(2) {
        assert_eq!(pair[1].old_value, pair[0].new_value);
    }
    assert!(store.embedded_stats().max_batch_size >= 1);
    let last = outcomes.last().expect("some");
    assert_eq!(value(&*store, "g", "k").await, last.new_value);
}

#[tokio::test]
async fn update_with_no_ops_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let outcome = store
        .write(Mutation::Update {
            group: "g".into(),
            key: "k".into(),
            ops: vec![],
        })
        .await
        .expect("update");
    assert_eq!(outcome.version, None);
    assert_eq!(value(&store, "g", "k").await, None);
    assert!(store.list_groups().await.expect("groups").is_empty());
}

/// A stored value that is no longer JSON (a damaged data file) fails the set
/// that would replace it — the set returns the value it replaces, which
/// cannot be read — and that set stores nothing; other keys are unaffected.
#[tokio::test]
async fn a_set_over_a_damaged_value_fails_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store
        .write(set("g", "k", json!({"n": 1})))
        .await
        .expect("set");
    store.close().expect("close");

    // Damage the stored value behind the store's back: its 8-byte version
    // stays, its JSON text is cut short. The item key is `group length
    // (u32, big-endian) ‖ group ‖ key` (see the store's codec).
    {
        const ITEMS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("items");
        let db = redb::Database::open(dir.path().join("data.redb")).expect("open data.redb");
        let txn = db.begin_write().expect("write txn");
        {
            let mut items = txn.open_table(ITEMS).expect("items table");
            let mut stored_key = 1u32.to_be_bytes().to_vec();
            stored_key.extend_from_slice(b"gk");
            let mut damaged = 1u64.to_le_bytes().to_vec();
            damaged.extend_from_slice(b"{\"n\":");
            let replaced = items
                .insert(stored_key.as_slice(), damaged.as_slice())
                .expect("insert");
            assert!(replaced.is_some(), "the key layout matches the store's");
        }
        txn.commit().expect("commit");
    }

    let store = open(dir.path());
    let err = store
        .write(set("g", "k", json!({"n": 2})))
        .await
        .expect_err("the old value cannot be read");
    assert_eq!(err.code(), ErrorCode::Storage);
    assert!(err.to_string().contains("corrupt"), "{err}");
    let revision = store.stats().revision;
    assert_eq!(revision, 1, "the failed set consumed no revision");
    let read = store.get("g", "k").await.expect_err("still damaged");
    assert_eq!(read.code(), ErrorCode::Storage);
    // The paths that pass stored text on without parsing it check it too:
    // the damaged text is never answered.
    let read = store.get_raw("g", "k").await.expect_err("still damaged");
    assert_eq!(read.code(), ErrorCode::Storage);
    let err = store
        .set_raw("g", "k", raw_json(&json!({"n": 3})).expect("printable"))
        .await
        .expect_err("the old value cannot be answered");
    assert_eq!(err.code(), ErrorCode::Storage);
    assert_eq!(
        store.stats().revision,
        1,
        "the failed set_raw consumed no revision"
    );
    // The store goes on: other keys are written and read as usual.
    store
        .write(set("g", "other", json!(3)))
        .await
        .expect("set another key");
    assert_eq!(value(&store, "g", "other").await, Some(json!(3)));
}

/// `set_raw` answers both values as the JSON text the store holds — also
/// when a subscriber makes the commit thread parse the replaced value for
/// its event.
#[tokio::test]
async fn set_raw_answers_both_values_as_stored_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let value = json!({"s": "a\"b", "n": [1, 2.5], "z": {}});
    let text = r#"{"s":"a\"b","n":[1,2.5],"z":{}}"#;
    let first = store
        .set_raw("g", "k", raw_json(&value).expect("printable"))
        .await
        .expect("set");
    assert!(first.old_value.is_none());
    assert_eq!(first.new_value.get(), text);
    assert_eq!(first.version, 1);
    let second = store
        .set_raw("g", "k", raw_json(&json!(7)).expect("printable"))
        .await
        .expect("set");
    assert_eq!(second.old_value.expect("replaced").get(), text);
    assert_eq!(second.new_value.get(), "7");
    assert_eq!(second.version, 2);

    let mut events = store.subscribe();
    let third = store
        .set_raw("g", "k", raw_json(&value).expect("printable"))
        .await
        .expect("set");
    assert_eq!(third.old_value.expect("replaced").get(), "7");
    let event = events.recv().await.expect("event");
    assert_eq!(
        (event.old_value.clone(), event.new_value.clone()),
        (Some(json!(7)), Some(value.clone()))
    );
    // What set_raw stored reads back as the value given.
    assert_eq!(common::value(&store, "g", "k").await, Some(value));
    assert_eq!(store.stats().items, 1);
}
