//! Property test: a random sequence of set / delete / update (answered as
//! values or as JSON text) / clear on a
//! few groups and keys gives the same results on the embedded store as on
//! `MemoryStore` (the model) — answers, versions, listings, groups, stats —
//! including across a close and reopen of the embedded store.

mod common;

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use statewell_core::store::MemoryStore;
use statewell_core::{
    Mutation, Path as OpPath, RawUpdateOutcome, ResolvedPageRequest, Store, UpdateOp,
};
use statewell_embedded::{DEFAULT_CHECKPOINT_BYTES, Durability, EmbeddedOptions, EmbeddedStore};

#[derive(Debug, Clone)]
enum Op {
    Write(Mutation),
    /// An update through `update_raw`, which answers JSON text.
    UpdateRaw {
        group: String,
        key: String,
        ops: Vec<UpdateOp>,
    },
    Clear(String),
    Reopen,
}

const GROUPS: [&str; 3] = ["a", "b", "a/b"];
const KEYS: [&str; 4] = ["x", "y", "x:1", "é"];

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        "[a-z]{0,5}".prop_map(|s| json!(s)),
        (any::<i32>(), "[a-z]{0,3}").prop_map(|(n, s)| json!({"n": n, "s": s})),
    ]
}

fn update_op() -> impl Strategy<Value = UpdateOp> {
    prop_oneof![
        (-5i64..5).prop_map(|by| UpdateOp::Increment {
            path: OpPath::Field("n".into()),
            by: by.into()
        }),
        (-5i64..5).prop_map(|by| UpdateOp::Decrement {
            path: OpPath::Field("n".into()),
            by: by.into()
        }),
        value().prop_map(|value| UpdateOp::Set {
            path: OpPath::Field("s".into()),
            value
        }),
        value().prop_map(|value| UpdateOp::Append {
            path: Some(OpPath::Field("list".into())),
            value
        }),
        Just(UpdateOp::Remove {
            path: OpPath::Field("s".into())
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let group = prop::sample::select(GROUPS.to_vec()).prop_map(str::to_owned);
    let key = prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned);
    prop_oneof![
        4 => (group.clone(), key.clone(), value())
            .prop_map(|(group, key, value)| Op::Write(Mutation::Set { group, key, value })),
        2 => (group.clone(), key.clone())
            .prop_map(|(group, key)| Op::Write(Mutation::Delete { group, key })),
        4 => (group.clone(), key.clone(), prop::collection::vec(update_op(), 0..4))
            .prop_map(|(group, key, ops)| Op::Write(Mutation::Update { group, key, ops })),
        3 => (group.clone(), key, prop::collection::vec(update_op(), 0..4))
            .prop_map(|(group, key, ops)| Op::UpdateRaw { group, key, ops }),
        1 => group.prop_map(Op::Clear),
        1 => Just(Op::Reopen),
    ]
}

/// How often the store checkpoints: after every batch, after every few
/// writes, or (the default) not within a run — so reads merge the data
/// file with the overlay in every proportion.
fn checkpoint_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1), Just(700), Just(DEFAULT_CHECKPOINT_BYTES)]
}

fn open(dir: &Path, always: bool, checkpoint_bytes: u64) -> EmbeddedStore {
    let durability = if always {
        Durability::Always
    } else {
        Durability::Batched {
            interval: Duration::from_secs(3600),
        }
    };
    EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            durability,
            checkpoint_bytes,
            ..Default::default()
        },
    )
    .expect("open")
}

/// Everything observable through reads must be the same on both stores.
async fn same_reads(store: &EmbeddedStore, model: &MemoryStore) {
    assert_eq!(
        store.list_groups().await.expect("groups"),
        model.list_groups().await.expect("groups")
    );
    for group in GROUPS {
        assert_eq!(
            store.group_size(group).await.expect("group size"),
            model.group_size(group).await.expect("group size")
        );
        assert_eq!(
            store.list(group).await.expect("list"),
            model.list(group).await.expect("list")
        );
        for key in KEYS {
            assert_eq!(
                store.get(group, key).await.expect("get"),
                model.get(group, key).await.expect("get")
            );
        }
        for (prefix, after) in [
            (None, None),
            (Some("x"), None),
            (None, Some("x")),
            (Some("x"), Some("a")),
        ] {
            for limit in [1, 2, 10] {
                let page = ResolvedPageRequest {
                    prefix,
                    after,
                    limit,
                };
                let ours = store.list_items(group, page).await.expect("page");
                let theirs = model.list_items(group, page).await.expect("page");
                assert_eq!(ours, theirs, "{group} {prefix:?} {after:?} {limit}");
            }
        }
    }
    let (ours, theirs) = (store.stats(), model.stats());
    assert_eq!((ours.items, ours.revision), (theirs.items, theirs.revision));
}

/// An update's answer, comparable: values as text, errors, revision.
fn texts(
    outcome: &RawUpdateOutcome,
) -> (
    Option<&str>,
    Option<&str>,
    &[statewell_core::OpError],
    Option<u64>,
) {
    (
        outcome.old_value.as_ref().map(|raw| raw.get()),
        outcome.new_value.as_ref().map(|raw| raw.get()),
        &outcome.errors,
        outcome.version,
    )
}

async fn run(ops: Vec<Op>, always: bool, checkpoint_bytes: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path(), always, checkpoint_bytes);
    let model = MemoryStore::default();
    for op in ops {
        match op {
            Op::Write(mutation) => {
                let ours = store.write(mutation.clone()).await;
                let theirs = model.write(mutation).await;
                match (ours, theirs) {
                    (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
                    (Err(ours), Err(theirs)) => assert_eq!(ours.code(), theirs.code()),
                    (ours, theirs) => panic!("embedded {ours:?} but model {theirs:?}"),
                }
            }
            Op::UpdateRaw { group, key, ops } => {
                // The model's is the trait's default: its values printed.
                let ours = store.update_raw(&group, &key, ops.clone()).await;
                let theirs = model.update_raw(&group, &key, ops).await;
                match (ours, theirs) {
                    (Ok(ours), Ok(theirs)) => assert_eq!(texts(&ours), texts(&theirs)),
                    (Err(ours), Err(theirs)) => assert_eq!(ours.code(), theirs.code()),
                    (ours, theirs) => panic!("embedded {ours:?} but model {theirs:?}"),
                }
            }
            Op::Clear(group) => {
                assert_eq!(
                    store.clear(&group).await.expect("clear"),
                    model.clear(&group).await.expect("clear")
                );
            }
            Op::Reopen => {
                store.close().expect("close");
                store = open(dir.path(), always, checkpoint_bytes);
            }
        }
        same_reads(&store, &model).await;
    }
    store.close().expect("close");
    let store = open(dir.path(), always, checkpoint_bytes);
    same_reads(&store, &model).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn embedded_store_behaves_like_the_model(
        ops in prop::collection::vec(op(), 1..40),
        always in any::<bool>(),
        checkpoint_bytes in checkpoint_bytes(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(run(ops, always, checkpoint_bytes));
    }
}
