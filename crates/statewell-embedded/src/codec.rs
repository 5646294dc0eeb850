//! The on-disk encoding of items.
//!
//! Item key: `group length (u32, big-endian) ‖ group ‖ key`. All items of a
//! group share one prefix, and within it keys sort by their UTF-8 bytes —
//! the same order as Rust's `str`, so listings come out in key order with a
//! plain range scan.
//!
//! Item value: `version (u64, little-endian) ‖ compact JSON`. JSON keeps
//! integers exact (serde_json reads them back as i64/u64, never as floats).

use serde_json::Value;
use statewell_core::{RawJson, StateError};

const VERSION_BYTES: usize = 8;

/// The prefix every key of `group` starts with.
pub(crate) fn group_prefix(group: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + group.len());
    push_group(&mut out, group);
    out
}

pub(crate) fn item_key(group: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + group.len() + key.len());
    push_group(&mut out, group);
    out.extend_from_slice(key.as_bytes());
    out
}

fn push_group(out: &mut Vec<u8>, group: &str) {
    // Groups are bounded by `Limits` (1 KiB by default); a length that does
    // not fit u32 cannot reach the store, but saturate rather than wrap.
    let len = u32::try_from(group.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(group.as_bytes());
}

/// The smallest byte string greater than every string starting with
/// `prefix`, or `None` when there is none (all bytes 0xFF).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The group an item key belongs to.
pub(crate) fn group_of(stored_key: &[u8]) -> Result<&str, StateError> {
    let (len, rest) = stored_key
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("item key shorter than its group length"))?;
    let group = rest
        .get(..u32::from_be_bytes(*len) as usize)
        .ok_or_else(|| corrupt("item key shorter than its group"))?;
    std::str::from_utf8(group).map_err(|_| corrupt("group is not UTF-8"))
}

/// The item key without its group prefix.
pub(crate) fn key_of(stored_key: &[u8], prefix_len: usize) -> Result<String, StateError> {
    let raw = stored_key
        .get(prefix_len..)
        .ok_or_else(|| corrupt("item key shorter than its group prefix"))?;
    String::from_utf8(raw.to_vec()).map_err(|_| corrupt("item key is not UTF-8"))
}

pub(crate) fn encode_value(version: u64, value: &Value) -> Result<Vec<u8>, StateError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&version.to_le_bytes());
    serde_json::to_writer(&mut out, value)
        .map_err(|e| StateError::Storage(format!("cannot encode value: {e}")))?;
    Ok(out)
}

/// [`encode_value`] of a value already printed as compact JSON `text`.
pub(crate) fn encode_json(version: u64, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(VERSION_BYTES + text.len());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

pub(crate) fn decode_value(bytes: &[u8]) -> Result<(u64, Value), StateError> {
    let (version, json) = split_version(bytes)?;
    let value = serde_json::from_slice(json).map_err(not_json)?;
    Ok((version, value))
}

/// The stored value as its JSON text, not parsed into a tree: it is the
/// compact encoding `encode_value`/`encode_json` wrote, so passing it on
/// gives the same bytes as decoding and printing it again. Still checked as
/// JSON ([`RawJson::checked`], one quick pass for text in that form), so a
/// value damaged behind the store's back is reported here rather than sent
/// out.
pub(crate) fn decode_raw(bytes: &[u8]) -> Result<(u64, RawJson), StateError> {
    let (version, text) = split_text(bytes)?;
    let raw = RawJson::checked(text.to_owned()).map_err(not_json)?;
    Ok((version, raw))
}

/// [`decode_raw`] of bytes this store wrote in this process and kept in
/// memory (the overlay): they were encoded from a checked [`RawJson`] or a
/// printed value, so the text is not checked again.
pub(crate) fn decode_known(bytes: &[u8]) -> Result<(u64, RawJson), StateError> {
    let (version, text) = split_text(bytes)?;
    Ok((version, RawJson::known_json_unchecked(text.to_owned())))
}

/// The stored value both parsed and as its text (an update's old value:
/// parsed to apply the ops, answered as text), read once: the text is the
/// one the parser has just accepted, so it is not checked again.
pub(crate) fn decode_value_and_text(bytes: &[u8]) -> Result<(u64, Value, RawJson), StateError> {
    let (version, text) = split_text(bytes)?;
    let value = serde_json::from_str(text).map_err(not_json)?;
    Ok((
        version,
        value,
        RawJson::known_json_unchecked(text.to_owned()),
    ))
}

/// Parses JSON text the store wrote (see [`decode_raw`]).
pub(crate) fn parse_json(raw: &RawJson) -> Result<Value, StateError> {
    serde_json::from_str(raw.get()).map_err(not_json)
}

/// Length of the JSON text of a value `encode_value` encoded.
pub(crate) fn json_len(encoded: &[u8]) -> usize {
    encoded.len().saturating_sub(VERSION_BYTES)
}

/// Writes `version` into a value `encode_value` encoded (with any version):
/// lets a value be encoded before the revision it commits at is known.
pub(crate) fn stamp_version(encoded: &mut [u8], version: u64) {
    if let Some(head) = encoded.get_mut(..VERSION_BYTES) {
        head.copy_from_slice(&version.to_le_bytes());
    }
}

fn split_version(bytes: &[u8]) -> Result<(u64, &[u8]), StateError> {
    if bytes.len() < VERSION_BYTES {
        return Err(corrupt("stored value shorter than its version"));
    }
    let (head, json) = bytes.split_at(VERSION_BYTES);
    let mut version = [0u8; VERSION_BYTES];
    version.copy_from_slice(head);
    Ok((u64::from_le_bytes(version), json))
}

/// The version and the JSON text of a stored value (the text not yet
/// checked as JSON: each reader decides how).
pub(crate) fn split_text(bytes: &[u8]) -> Result<(u64, &str), StateError> {
    let (version, json) = split_version(bytes)?;
    let text = std::str::from_utf8(json).map_err(|_| corrupt("stored value is not UTF-8"))?;
    Ok((version, text))
}

fn not_json(error: serde_json::Error) -> StateError {
    corrupt(&format!("stored value is not JSON: {error}"))
}

fn corrupt(what: &str) -> StateError {
    StateError::Storage(format!("corrupt data: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_of_a_group_sort_in_key_order_and_stay_inside_the_prefix() {
        let prefix = group_prefix("g");
        let end = prefix_end(&prefix).expect("a UTF-8 group never ends in 0xFF");
        let mut keys: Vec<Vec<u8>> = ["b", "a", "é", "a/b", "ab", "\u{0}"]
            .iter()
            .map(|k| item_key("g", k))
            .collect();
        keys.sort();
        let decoded: Vec<String> = keys
            .iter()
            .map(|k| key_of(k, prefix.len()).expect("valid key"))
            .collect();
        assert_eq!(decoded, ["\u{0}", "a", "a/b", "ab", "b", "é"]);
        assert!(keys.iter().all(|k| group_of(k).ok() == Some("g")));
        assert_eq!(group_of(&item_key("", "k")).ok(), Some(""));
        assert!(group_of(&[0, 0, 0, 9, b'g']).is_err());
        for k in &keys {
            assert!(k.as_slice() >= prefix.as_slice() && k.as_slice() < end.as_slice());
        }
        // A group that is a prefix of another group does not share its keys.
        let other = item_key("gg", "a");
        assert!(!other.starts_with(&prefix));
    }

    #[test]
    fn values_round_trip_with_exact_integers() {
        let value = json!({"big": u64::MAX, "neg": i64::MIN, "f": 1.5, "s": "x"});
        let bytes = encode_value(42, &value).expect("encodable");
        assert_eq!(decode_value(&bytes).expect("decodable"), (42, value));
    }

    #[test]
    fn raw_values_are_the_text_a_decoded_value_prints() {
        let value = json!({"z": 1, "a": [u64::MAX, i64::MIN, 0.1, 1e300], "s": "é\n\"", "n": null});
        let bytes = encode_value(7, &value).expect("encodable");
        let (version, raw) = decode_raw(&bytes).expect("decodable");
        assert_eq!(version, 7);
        let (_, decoded) = decode_value(&bytes).expect("decodable");
        assert_eq!(
            raw.get(),
            serde_json::to_string(&decoded).expect("printable")
        );
        assert!(decode_raw(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_raw(&[1, 2, 3]).is_err());
        assert!(decode_raw(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_err());
    }

    #[test]
    fn a_value_and_its_text_are_read_together_as_each_alone() {
        let value = json!({"z": 1, "a": [u64::MAX, 0.1], "s": "é\n\""});
        let bytes = encode_value(9, &value).expect("encodable");
        let (version, parsed, text) = decode_value_and_text(&bytes).expect("decodable");
        assert_eq!((version, &parsed), (9, &value));
        assert_eq!(text, decode_raw(&bytes).expect("decodable").1);
        assert!(decode_value_and_text(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_value_and_text(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_err());
    }

    #[test]
    fn truncated_values_are_reported_not_panicked() {
        assert!(decode_value(&[1, 2, 3]).is_err());
        let mut bytes = encode_value(1, &json!({"a": 1})).expect("encodable");
        bytes.truncate(bytes.len() - 1);
        assert!(decode_value(&bytes).is_err());
    }
}
