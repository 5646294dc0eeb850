//! The wire form of transactions and conditional writes, shared by the
//! worker protocol (`state::transaction`) and HTTP (`POST /v1/transaction`):
//! each op `{type, scope, key, value?, ops?, if_version?, if_absent?}` in,
//! each op's result out.

use serde_json::{Map, Value, json};
use statewell_core::{Condition, Mutation, OpOutcome, StateError, TxOp, TxOutcome, UpdateOp};

/// What kind each op of a transaction was, to shape its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Set,
    Update,
    Delete,
    Check,
}

/// Reads a transaction's `ops` array. Errors name the op and the field.
pub fn parse_ops(ops: &Value) -> Result<(Vec<TxOp>, Vec<OpKind>), StateError> {
    let Value::Array(items) = ops else {
        return Err(StateError::invalid("ops", "must be an array of operations"));
    };
    let mut parsed = Vec::with_capacity(items.len());
    let mut kinds = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let (op, kind) = parse_op(item)
            .map_err(|reason| StateError::invalid("ops", format!("operation {index}: {reason}")))?;
        parsed.push(op);
        kinds.push(kind);
    }
    Ok((parsed, kinds))
}

fn parse_op(item: &Value) -> Result<(TxOp, OpKind), String> {
    let Value::Object(fields) = item else {
        return Err("must be an object".into());
    };
    let kind = match fields.get("type").and_then(Value::as_str) {
        Some("set") => OpKind::Set,
        Some("update") => OpKind::Update,
        Some("delete") => OpKind::Delete,
        Some("check") => OpKind::Check,
        Some(other) => {
            return Err(format!(
                "unknown type {other:?} (expected set, update, delete or check)"
            ));
        }
        None => return Err("missing string field `type`".into()),
    };
    // `group` is accepted as an alias of `scope` (HTTP's name for it).
    let group = string_field(fields, "scope").or_else(|| string_field(fields, "group"));
    let group = group.ok_or("missing string field `scope`")?;
    let key = string_field(fields, "key").ok_or("missing string field `key`")?;
    let condition = condition(fields)?;
    let mutation = match kind {
        OpKind::Set => Mutation::Set {
            group,
            key,
            value: fields
                .get("value")
                .cloned()
                .ok_or("missing field `value`")?,
        },
        OpKind::Update => {
            let ops = fields.get("ops").ok_or("missing field `ops`")?;
            let ops: Vec<UpdateOp> =
                serde_json::from_value(ops.clone()).map_err(|e| format!("field `ops`: {e}"))?;
            Mutation::Update { group, key, ops }
        }
        OpKind::Delete => Mutation::Delete { group, key },
        OpKind::Check => {
            if condition.is_none() {
                return Err("a check needs `if_version` or `if_absent`".into());
            }
            return Ok((
                TxOp::Check {
                    group,
                    key,
                    condition,
                },
                kind,
            ));
        }
    };
    Ok((
        TxOp::Write {
            mutation,
            condition,
        },
        kind,
    ))
}

fn string_field(fields: &Map<String, Value>, name: &str) -> Option<String> {
    fields.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// An op's `if_version` (a non-negative integer) and `if_absent` (a
/// boolean); null reads as absent.
pub fn condition(fields: &Map<String, Value>) -> Result<Condition, String> {
    let if_version = match fields.get("if_version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .ok_or_else(|| format!("field `if_version`: {n} is not a non-negative integer"))?,
        ),
        Some(_) => return Err("field `if_version` must be a non-negative integer".into()),
    };
    let if_absent = match fields.get("if_absent") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("field `if_absent` must be a boolean".into()),
    };
    Ok(Condition {
        if_version,
        if_absent,
    })
}

/// `{"results":[...]}`: each op's own result, in order — a set's or an
/// update's `{old_value, new_value, version}`, a delete's `{old_value,
/// version}`, a check's `{version}` (null when the item is missing).
pub fn results_json(outcome: &TxOutcome, kinds: &[OpKind]) -> Value {
    let results: Vec<Value> = outcome
        .results
        .iter()
        .zip(kinds)
        .map(|(result, kind)| op_result_json(result, *kind))
        .collect();
    json!({ "results": results })
}

fn op_result_json(result: &OpOutcome, kind: OpKind) -> Value {
    match kind {
        OpKind::Set | OpKind::Update => json!({
            "old_value": result.old_value,
            "new_value": result.new_value,
            "version": result.version,
        }),
        OpKind::Delete => json!({
            "old_value": result.old_value,
            "version": result.version,
        }),
        OpKind::Check => json!({ "version": result.version }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_read_with_their_conditions_and_refused_with_their_index() {
        let ops = json!([
            {"type": "set", "scope": "g", "key": "a", "value": null, "if_absent": true},
            {"type": "check", "scope": "g", "key": "b", "if_version": 3},
        ]);
        let (parsed, kinds) = parse_ops(&ops).expect("valid");
        assert_eq!(kinds, [OpKind::Set, OpKind::Check]);
        assert!(matches!(&parsed[0], TxOp::Write { condition, .. } if condition.if_absent));
        let bad = json!([{"type": "check", "scope": "g", "key": "b"}]);
        let err = parse_ops(&bad).expect_err("a check with no condition");
        assert!(err.to_string().contains("operation 0"), "{err}");
    }
}
