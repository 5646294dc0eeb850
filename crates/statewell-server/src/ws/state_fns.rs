//! The `state::*` functions: arguments from a frame's `data`, a call on
//! [`statewell_core::State`], and the exact result shapes of PROTOCOL.md.

use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use statewell_core::{
    Mutation, OpError, PageRequest, RawItem, RawJson, RawPage, State, StateError, TxOp, UpdateOp,
    WriteOptions,
};

use super::frame::{ErrorBody, WriteJson, write_json};
use super::ops::ops_from_json;
use super::raw::{RawData, RawObject, RawText, raw_str, raw_type_name, raw_value};
use crate::metrics::{Metrics, Outcome};
use crate::state_fn::StateFn;
use crate::txn_wire::{OpKind, parse_ops, results_json};

/// A state function's arguments, decoded from the frame's `data` while the
/// frame is read (so the request task owns them and the frame's text can be
/// dropped at once).
#[derive(Debug)]
pub enum Call {
    Set {
        scope: String,
        key: String,
        /// Compact JSON text (see [`statewell_core::compact_json`]).
        value: RawJson,
    },
    Get {
        scope: String,
        key: String,
    },
    Delete {
        scope: String,
        key: String,
    },
    Update {
        scope: String,
        key: String,
        ops: Vec<UpdateOp>,
    },
    List {
        scope: String,
    },
    ListGroups,
    Clear {
        scope: String,
    },
    ListItems {
        scope: String,
        page: PageRequest,
    },
    /// A set, update or delete with a condition or an idempotency key.
    With {
        mutation: Mutation,
        options: WriteOptions,
    },
    /// A clear with an idempotency key.
    ClearWith {
        scope: String,
        idempotency_key: String,
    },
    GetItem {
        scope: String,
        key: String,
    },
    Transaction {
        ops: Vec<TxOp>,
        kinds: Vec<OpKind>,
        idempotency_key: Option<String>,
    },
}

impl Call {
    /// Decodes `data` (`None` when the frame had none) into the arguments of
    /// `function`, checking fields in the order a reply reports them.
    pub fn parse(function: StateFn, data: Option<&RawData<'_>>) -> Result<Call, CallError> {
        let args = Args {
            function,
            fields: match data {
                // No `data` at all reads as an empty object: the first
                // required field is then reported missing.
                None | Some(RawData::Other(Value::Null)) => None,
                Some(RawData::Object(object)) => Some(object),
                Some(other) => {
                    return Err(CallError::Unreadable(ErrorBody::deserialization(
                        function.id(),
                        format!("invalid type: {}, expected an object", other.type_name()),
                    )));
                }
            },
        };
        let options = args.options()?;
        if !options.is_plain() {
            return args.with_options(options);
        }
        Ok(match function {
            StateFn::Set => {
                let (scope, key) = args.item()?;
                // `data` is accepted as an alias of `value` (older clients).
                let value = match args.take("value") {
                    Some(value) => value,
                    None => args.take("data").ok_or_else(|| args.missing("value"))?,
                };
                // Printed compactly straight from the frame's text: the
                // value is stored and answered as text, never as a tree.
                let value = value
                    .to_compact_json()
                    .map_err(|e| args.invalid("value", e))?;
                Call::Set { scope, key, value }
            }
            StateFn::Get => {
                let (scope, key) = args.item()?;
                Call::Get { scope, key }
            }
            StateFn::Delete => {
                let (scope, key) = args.item()?;
                Call::Delete { scope, key }
            }
            StateFn::Update => {
                let (scope, key) = args.item()?;
                let ops = args.ops()?;
                Call::Update { scope, key, ops }
            }
            StateFn::List => Call::List {
                scope: args.name("scope")?,
            },
            StateFn::ListGroups => Call::ListGroups,
            StateFn::Clear => Call::Clear {
                scope: args.name("scope")?,
            },
            StateFn::ListItems => {
                let scope = args.name("scope")?;
                let page = PageRequest {
                    prefix: args.optional_string("prefix")?,
                    after: args.optional_string("after")?,
                    limit: args.optional_usize("limit")?,
                };
                Call::ListItems { scope, page }
            }
            StateFn::GetItem => {
                let (scope, key) = args.item()?;
                Call::GetItem { scope, key }
            }
            StateFn::Transaction => args.transaction(None)?,
        })
    }
}

/// What a state function answers. Reads hand over the stored JSON text of
/// values (see `Store::get_raw`), which prints exactly as the parsed value
/// would.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Value(Value),
    Set(RawOldNew),
    Update(RawUpdate),
    Raw(RawJson),
    List(Vec<RawJson>),
    Page(RawPage),
    Item(RawItem),
}

/// A set's `{"old_value","new_value"}`, as the JSON text the store holds
/// (`old_value` is null when the key was new).
#[derive(Debug, Serialize)]
pub struct RawOldNew {
    old_value: Option<RawJson>,
    new_value: RawJson,
}

/// An update's `{"old_value","new_value"}` as JSON text (either null when
/// absent), with the ops it skipped as `errors` when there were any.
#[derive(Debug, Serialize)]
pub struct RawUpdate {
    old_value: Option<RawJson>,
    new_value: Option<RawJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<OpError>,
}

/// Written by hand so that stored text goes in as it is (see
/// [`WriteJson`]); the same bytes as the derived `Serialize`, which a test
/// checks.
impl WriteJson for Reply {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Value(value) => write_json(out, value),
            Reply::Raw(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Reply::List(values) => {
                out.push(b'[');
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(value.get().as_bytes());
                }
                out.push(b']');
            }
            Reply::Set(set) => {
                write_old_new(out, set.old_value.as_ref(), Some(&set.new_value));
                out.push(b'}');
            }
            Reply::Update(update) => {
                write_old_new(out, update.old_value.as_ref(), update.new_value.as_ref());
                if !update.errors.is_empty() {
                    out.extend_from_slice(br#","errors":"#);
                    write_json(out, &update.errors);
                }
                out.push(b'}');
            }
            // Listing pages is no hot path: serde (which checks each value).
            Reply::Page(page) => write_json(out, page),
            Reply::Item(item) => write_json(out, item),
        }
    }
}

/// `{"old_value":…,"new_value":…` (the object left open), `null` for `None`.
fn write_old_new(out: &mut Vec<u8>, old: Option<&RawJson>, new: Option<&RawJson>) {
    out.extend_from_slice(br#"{"old_value":"#);
    out.extend_from_slice(old.map_or("null", RawJson::get).as_bytes());
    out.extend_from_slice(br#","new_value":"#);
    out.extend_from_slice(new.map_or("null", RawJson::get).as_bytes());
}

/// Why a state function failed; metrics count it by this.
#[derive(Debug)]
pub enum CallError {
    /// `data` is not the function's arguments: `deserialization_error`.
    Unreadable(ErrorBody),
    /// Refused by the core, or found invalid here with one of its codes.
    State(StateError),
}

impl CallError {
    fn outcome(&self) -> Outcome {
        match self {
            CallError::Unreadable(_) => Outcome::Unreadable,
            CallError::State(error) => Outcome::Failed(error.code()),
        }
    }

    fn into_body(self) -> ErrorBody {
        match self {
            CallError::Unreadable(body) => body,
            CallError::State(error) => state_error(error),
        }
    }
}

/// Runs one state function and records it in the metrics. `Ok(None)` means
/// "nothing": the reply omits `result`. `call` is what [`Call::parse`] made
/// of the request; an argument error is recorded like any other failure.
pub async fn call(
    state: &State,
    metrics: &Metrics,
    function: StateFn,
    call: Result<Call, CallError>,
) -> Result<Option<Reply>, ErrorBody> {
    let started = Instant::now();
    let outcome = match call {
        Ok(call) => run(state, call).await.map_err(CallError::State),
        Err(error) => Err(error),
    };
    let counted = match &outcome {
        Ok(_) => Outcome::Ok,
        Err(error) => error.outcome(),
    };
    metrics.record_op(function, counted, started.elapsed());
    outcome.map_err(CallError::into_body)
}

async fn run(state: &State, call: Call) -> Result<Option<Reply>, StateError> {
    match call {
        Call::Set { scope, key, value } => {
            let outcome = state.set_raw(&scope, &key, value).await?;
            Ok(Some(Reply::Set(RawOldNew {
                old_value: outcome.old_value,
                new_value: outcome.new_value,
            })))
        }
        Call::Get { scope, key } => {
            let found = state.get_raw(&scope, &key).await?;
            Ok(found.map(|item| Reply::Raw(item.value)))
        }
        Call::Delete { scope, key } => {
            let old = state.delete(&scope, &key).await?;
            Ok(old.map(Reply::Value))
        }
        Call::Update { scope, key, ops } => {
            let outcome = state.update_raw(&scope, &key, ops).await?;
            Ok(Some(Reply::Update(RawUpdate {
                old_value: outcome.old_value,
                new_value: outcome.new_value,
                errors: outcome.errors,
            })))
        }
        Call::List { scope } => {
            let values = state.list_raw(&scope).await?;
            Ok(Some(Reply::List(values)))
        }
        Call::ListGroups => {
            let groups = state.list_groups().await?;
            Ok(Some(Reply::Value(json!({ "groups": groups }))))
        }
        Call::Clear { scope } => {
            let deleted = state.clear(&scope).await?;
            Ok(Some(Reply::Value(json!({ "deleted": deleted }))))
        }
        Call::ListItems { scope, page } => {
            let page = state.list_items_raw(&scope, &page).await?;
            // Serializes as {"items":[{"key","value","version"}],"next"}.
            Ok(Some(Reply::Page(page)))
        }
        Call::GetItem { scope, key } => {
            let found = state.get_item(&scope, &key).await?;
            Ok(found.map(|item| {
                Reply::Item(RawItem {
                    key,
                    value: item.value,
                    version: item.version,
                })
            }))
        }
        Call::With { mutation, options } => {
            let kind = match &mutation {
                Mutation::Set { .. } => OpKind::Set,
                Mutation::Update { .. } => OpKind::Update,
                Mutation::Delete { .. } => OpKind::Delete,
            };
            let (outcome, _) = state.write_with(mutation, options).await?;
            Ok(match kind {
                OpKind::Delete => outcome.old_value.map(Reply::Value),
                OpKind::Update if !outcome.errors.is_empty() => Some(Reply::Value(json!({
                    "old_value": outcome.old_value,
                    "new_value": outcome.new_value,
                    "errors": outcome.errors,
                }))),
                _ => Some(Reply::Value(json!({
                    "old_value": outcome.old_value,
                    "new_value": outcome.new_value,
                }))),
            })
        }
        Call::ClearWith {
            scope,
            idempotency_key,
        } => {
            let deleted = state.clear_with(&scope, Some(idempotency_key)).await?;
            Ok(Some(Reply::Value(json!({ "deleted": deleted }))))
        }
        Call::Transaction {
            ops,
            kinds,
            idempotency_key,
        } => {
            let outcome = state.transaction(ops, idempotency_key).await?;
            Ok(Some(Reply::Value(results_json(&outcome, &kinds))))
        }
    }
}

/// The core names the item's parts `group`/`key`; the wire says `scope`/`key`.
fn state_error(error: StateError) -> ErrorBody {
    let message = match &error {
        StateError::InvalidArgument { field, reason } => {
            let field = if *field == "group" { "scope" } else { field };
            format!("invalid {field}: {reason}")
        }
        other => other.to_string(),
    };
    // An error with fields beyond code and message (a conflict's
    // `current_version`) is sent as that object.
    if let Some(details) = error.details() {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), error.code().as_str().into());
        body.insert("message".into(), message.into());
        body.extend(details);
        return ErrorBody::Relayed(Value::Object(body));
    }
    ErrorBody::new(error.code().as_str(), message)
}

/// A function's `data` object, taken apart field by field with messages in
/// the style of serde's (`missing field \`key\``).
struct Args<'o, 'a> {
    function: StateFn,
    /// `None` when the frame had no `data` (or `null`).
    fields: Option<&'o RawObject<'a>>,
}

impl<'a> Args<'_, 'a> {
    fn take(&self, field: &str) -> Option<RawText<'a>> {
        self.fields.and_then(|fields| fields.get(field))
    }

    fn missing(&self, field: &str) -> CallError {
        CallError::Unreadable(ErrorBody::deserialization(
            self.function.id(),
            format!("missing field `{field}`"),
        ))
    }

    fn invalid(&self, field: &str, error: impl std::fmt::Display) -> CallError {
        CallError::Unreadable(ErrorBody::deserialization(
            self.function.id(),
            format!("field `{field}`: {error}"),
        ))
    }

    fn string(&self, field: &str) -> Result<String, CallError> {
        match self.take(field) {
            Some(raw) => match raw_str(raw) {
                Some(s) => Ok(s.into_owned()),
                None => Err(self.wrong_type(field, raw, "a string")),
            },
            None => Err(self.missing(field)),
        }
    }

    fn optional_string(&self, field: &str) -> Result<Option<String>, CallError> {
        match self.take(field) {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => match raw_str(raw) {
                Some(s) => Ok(Some(s.into_owned())),
                None => Err(self.wrong_type(field, raw, "a string")),
            },
        }
    }

    fn optional_usize(&self, field: &str) -> Result<Option<usize>, CallError> {
        let Some(raw) = self.take(field) else {
            return Ok(None);
        };
        match raw_value(raw).map_err(|e| self.invalid(field, e))? {
            Value::Null => Ok(None),
            Value::Number(n) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(self.invalid(
                    field,
                    format!("invalid value: {n}, expected a non-negative integer"),
                )),
            },
            _ => Err(self.wrong_type(field, raw, "a non-negative integer")),
        }
    }

    /// An update's `ops`, deserialized straight from the text. Only a
    /// refused one is read again as a `Value`, so that its message stays the
    /// one of `from_value` (no line and column into the frame), as it always was.
    fn ops(&self) -> Result<Vec<UpdateOp>, CallError> {
        let raw = self.take("ops").ok_or_else(|| self.missing("ops"))?;
        ops_from_json(raw.get()).or_else(|direct| {
            let tree = raw_value(raw).map_err(|e| self.invalid("ops", e))?;
            // Both read the same text, so the tree is refused too.
            let error = serde_json::from_value::<Vec<UpdateOp>>(tree)
                .err()
                .unwrap_or(direct);
            Err(self.invalid("ops", error))
        })
    }

    fn wrong_type(&self, field: &str, raw: RawText<'_>, expected: &str) -> CallError {
        self.invalid(
            field,
            format!("invalid type: {}, expected {expected}", raw_type_name(raw)),
        )
    }

    /// A required, non-empty name (`scope` or `key`).
    fn name(&self, field: &'static str) -> Result<String, CallError> {
        let name = self.string(field)?;
        if name.is_empty() {
            return Err(CallError::State(StateError::invalid(
                field,
                "must not be empty",
            )));
        }
        Ok(name)
    }

    /// The optional `if_version`, `if_absent` and `idempotency_key` of a
    /// write (read only for the functions that take them).
    fn options(&self) -> Result<WriteOptions, CallError> {
        let takes = |names: &[&str]| -> Result<serde_json::Map<String, Value>, CallError> {
            let mut fields = serde_json::Map::new();
            for name in names {
                if let Some(raw) = self.take(name) {
                    let value = raw_value(raw).map_err(|e| self.invalid(name, e))?;
                    fields.insert((*name).to_owned(), value);
                }
            }
            Ok(fields)
        };
        let fields = match self.function {
            StateFn::Set | StateFn::Update | StateFn::Delete => {
                takes(&["if_version", "if_absent", "idempotency_key"])?
            }
            StateFn::Clear | StateFn::Transaction => takes(&["idempotency_key"])?,
            _ => return Ok(WriteOptions::default()),
        };
        if fields.is_empty() {
            return Ok(WriteOptions::default());
        }
        let condition = crate::txn_wire::condition(&fields).map_err(|reason| {
            CallError::Unreadable(ErrorBody::deserialization(self.function.id(), reason))
        })?;
        let idempotency_key = match fields.get("idempotency_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(key.clone()),
            Some(_) => {
                return Err(self.invalid("idempotency_key", "invalid type, expected a string"));
            }
        };
        Ok(WriteOptions {
            condition,
            idempotency_key,
        })
    }

    /// The call of a write that has `options` (see [`Args::options`]).
    fn with_options(&self, options: WriteOptions) -> Result<Call, CallError> {
        let mutation = match self.function {
            StateFn::Set => {
                let (group, key) = self.item()?;
                let value = match self.take("value") {
                    Some(value) => value,
                    None => self.take("data").ok_or_else(|| self.missing("value"))?,
                };
                let value = raw_value(value).map_err(|e| self.invalid("value", e))?;
                Mutation::Set { group, key, value }
            }
            StateFn::Update => {
                let (group, key) = self.item()?;
                let ops = self.ops()?;
                Mutation::Update { group, key, ops }
            }
            StateFn::Delete => {
                let (group, key) = self.item()?;
                Mutation::Delete { group, key }
            }
            StateFn::Clear => {
                let scope = self.name("scope")?;
                let idempotency_key = options.idempotency_key.unwrap_or_default();
                return Ok(Call::ClearWith {
                    scope,
                    idempotency_key,
                });
            }
            StateFn::Transaction => return self.transaction(options.idempotency_key),
            _ => return Err(self.invalid("idempotency_key", "not taken by this function")),
        };
        Ok(Call::With { mutation, options })
    }

    /// A transaction's `ops`, checked whole before anything runs.
    fn transaction(&self, idempotency_key: Option<String>) -> Result<Call, CallError> {
        let raw = self.take("ops").ok_or_else(|| self.missing("ops"))?;
        let ops = raw_value(raw).map_err(|e| self.invalid("ops", e))?;
        let (ops, kinds) = parse_ops(&ops).map_err(CallError::State)?;
        Ok(Call::Transaction {
            ops,
            kinds,
            idempotency_key,
        })
    }

    fn item(&self) -> Result<(String, String), CallError> {
        let scope = self.name("scope")?;
        let key = self.name("key")?;
        Ok((scope, key))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use statewell_core::{RawItem, RawJson, RawPage};

    use super::*;
    use crate::ws::frame::result_frame;

    fn raw(text: &str) -> RawJson {
        RawJson::checked(text.to_owned()).expect("test JSON")
    }

    #[test]
    fn replies_write_what_their_serialization_prints() {
        let text = r#"{"n":1,"s":"x\"y\\z\u0001","f":[1.5,-0.0,1e300]}"#;
        let error = OpError {
            op_index: 1,
            code: "increment.not_number".to_owned(),
            message: "not a \"number\"".to_owned(),
            doc_url: None,
        };
        let replies = [
            Reply::Value(json!({"groups": ["a", "b\u{7f}"]})),
            Reply::Value(Value::Null),
            Reply::Raw(raw(text)),
            Reply::List(vec![]),
            Reply::List(vec![raw("1"), raw(text), raw("null")]),
            Reply::Set(RawOldNew {
                old_value: None,
                new_value: raw(text),
            }),
            Reply::Set(RawOldNew {
                old_value: Some(raw("[]")),
                new_value: raw("\"s\""),
            }),
            Reply::Update(RawUpdate {
                old_value: None,
                new_value: None,
                errors: vec![],
            }),
            Reply::Update(RawUpdate {
                old_value: Some(raw(text)),
                new_value: Some(raw("{}")),
                errors: vec![error.clone(), error],
            }),
            Reply::Page(RawPage {
                items: vec![RawItem {
                    key: "k\"".to_owned(),
                    value: raw(text),
                    version: 3,
                }],
                next: Some("k\"".to_owned()),
            }),
            Reply::Item(RawItem {
                key: "k".to_owned(),
                value: raw(text),
                version: 7,
            }),
        ];
        for reply in &replies {
            let mut written = Vec::new();
            reply.write_json(&mut written);
            let written = String::from_utf8(written).expect("UTF-8");
            let serialized = serde_json::to_string(reply).expect("serializable");
            assert_eq!(written, serialized, "{reply:?}");
        }
    }

    /// The frame as serializing it as a struct prints it: what
    /// `result_frame` must give byte for byte.
    #[derive(Serialize)]
    struct ResultFrame<'a, R> {
        #[serde(rename = "type")]
        kind: &'static str,
        invocation_id: &'a Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        function_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a R>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a ErrorBody>,
    }

    fn as_struct<R: Serialize>(
        invocation_id: &Value,
        function_id: Option<&str>,
        outcome: &Result<Option<R>, ErrorBody>,
    ) -> String {
        let (result, error) = match outcome {
            Ok(result) => (result.as_ref(), None),
            Err(error) => (None, Some(error)),
        };
        serde_json::to_string(&ResultFrame {
            kind: "invocationresult",
            invocation_id,
            function_id,
            result,
            error,
        })
        .expect("frames serialize")
    }

    #[test]
    fn result_frames_print_as_the_struct_prints() {
        let raw = |text: &str| RawJson::checked(text.to_owned()).expect("JSON");
        let ids = [
            json!("abc-1"),
            json!("quote\" and \\ and \u{1}"),
            json!("a control character alone: \u{1f}"),
            json!("é and \u{7f}, nothing to escape"),
            json!(42),
            json!(-1.5),
        ];
        let functions = [
            None,
            Some("state::get"),
            Some("my::fn \"é\"\n"),
            Some("tab\there"),
        ];
        let outcomes: Vec<Result<Option<Reply>, ErrorBody>> = vec![
            Ok(None),
            Ok(Some(Reply::Value(json!({"groups": ["a", "b\u{7f}"]})))),
            Ok(Some(Reply::Raw(raw(r#"{"n":1,"s":"x\"y"}"#)))),
            Ok(Some(Reply::List(vec![raw("1"), raw("null")]))),
            Err(ErrorBody::function_not_found("nope")),
            Err(ErrorBody::Relayed(json!({"code": "x", "detail": [1, 2]}))),
        ];
        for id in &ids {
            for function in functions {
                for outcome in &outcomes {
                    assert_eq!(
                        result_frame(id, function, outcome),
                        as_struct(id, function, outcome),
                        "{id} {function:?} {outcome:?}"
                    );
                }
            }
        }
    }
}
