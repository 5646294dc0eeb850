//! Reading JSON text written in the compact printer's form, without parsing
//! it.
//!
//! The compact printer (`serde_json::to_string`, and `JSON.stringify`, which
//! writes the same form) writes no whitespace and escapes only what it must,
//! so text in that form can be checked and taken apart in one pass over its
//! bytes. Everything here answers "not sure" (`None`) rather than guess: the
//! caller then asks serde_json. [`crate::compact_json`] keeps a client's
//! text as it is when [`scan`] finds it printed; the counter fast path of
//! updates ([`crate::update::apply_to_text`]) reads a stored object field by
//! field; readers of larger texts (a protocol's messages) take them apart
//! with [`printed_object_end`] and [`printed_value_scan`]. The tests that
//! hold the scan to the parser's verdict, on text written as many clients
//! write it, are compact.rs's.

// Every byte of the text is read with `get`: text that ends early
// or is malformed is "not sure" (`None`), never an out-of-bounds panic.
// (Not `arithmetic_side_effects`: the positions added to are bounded by the
// text's length, and checked adds on every step would cost the scan.)
#![deny(clippy::indexing_slicing)]

/// Nesting past this depth skips the quick check: the parser's recursion
/// limit (128) then decides, as it does for any other text.
const MAX_QUICK_DEPTH: usize = 64;

/// Integers with at most this many digits fit both `i64` and `u64`, so the
/// parser reads them as integers and prints them back digit for digit.
const MAX_QUICK_DIGITS: usize = 18;

/// What [`scan`] found in text that is JSON written compactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// Every number is an integer the parser reads exactly: the printer
    /// would write the text unchanged.
    Printed,
    /// Some number is a float, `-0` or past 18 digits: valid JSON, but the
    /// printer may write that number differently.
    OtherNumbers,
}

/// One pass over `text`: `Some` when it is valid JSON as the compact
/// printer writes it — no whitespace, strings escaping only `"`, `\` and
/// control characters (as `\b \t \n \f \r`, else `\u00xx` in lower case),
/// nesting no deeper than 64. `None` means "not sure", never "valid": the
/// caller then asks serde_json.
pub(crate) fn scan(text: &str) -> Option<Scanned> {
    let (end, scanned) = scan_value(text.as_bytes(), 0)?;
    (end == text.len()).then_some(scanned)
}

/// Where the JSON value that starts at byte `at` of `text` ends, when it
/// is written as [`scan`] accepts it (compact, printer's escapes; numbers
/// of any form). `None` means "not sure", never "valid": the caller then
/// asks serde_json. For readers that take a larger text apart (a frame)
/// and keep each value's text.
pub fn printed_value_end(text: &str, at: usize) -> Option<usize> {
    printed_value_scan(text, at).map(|(end, _)| end)
}

/// [`printed_value_end`], and whether the value is exactly what the
/// printer writes for it (its numbers too: then [`compact_json`] of it is
/// the text itself), so a reader that keeps the value need not scan it
/// again.
pub fn printed_value_scan(text: &str, at: usize) -> Option<(usize, bool)> {
    let bytes = text.as_bytes();
    // Most of a frame's values are strings: no need for the general loop.
    if bytes.get(at) == Some(&b'"') {
        return printed_string_end(bytes, at + 1).map(|end| (end, true));
    }
    scan_value(bytes, at).map(|(end, scanned)| (end, scanned == Scanned::Printed))
}

/// Reads the JSON object that starts at byte `at` of `text`, written as
/// [`printed_value_end`] reads values, handing each field's name and the
/// position of its value to `field`, which reads the value and says where
/// it ends. Returns where the object ends. `None` ("not sure") for a name
/// that holds an escape too, so names are the text between the quotes.
pub fn printed_object_end<'a>(
    text: &'a str,
    at: usize,
    mut field: impl FnMut(&'a str, usize) -> Option<usize>,
) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut at = at + 1;
    if bytes.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let name_end = unescaped_string_end(bytes, at + 1)?;
        let name = text.get(at + 1..name_end - 1)?;
        if bytes.get(name_end) != Some(&b':') {
            return None;
        }
        at = field(name, name_end + 1)?;
        match bytes.get(at)? {
            b',' => at += 1,
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

/// [`scan`] of the one value that starts at `at`: where it ends, and what
/// its numbers are.
fn scan_value(bytes: &[u8], mut at: usize) -> Option<(usize, Scanned)> {
    let mut exact = true;
    // Bit d: whether the container open at depth d is an object.
    let mut objects = 0u64;
    let mut depth = 0usize;
    loop {
        // A value starts at `at`.
        at = match *bytes.get(at)? {
            b'"' => printed_string_end(bytes, at + 1)?,
            b'-' | b'0'..=b'9' => {
                let (end, exact_integer) = number_end(bytes, at)?;
                exact &= exact_integer;
                end
            }
            b't' => literal_end(bytes, at, b"true")?,
            b'f' => literal_end(bytes, at, b"false")?,
            b'n' => literal_end(bytes, at, b"null")?,
            open @ (b'{' | b'[') => {
                if depth == MAX_QUICK_DEPTH {
                    return None;
                }
                let object = open == b'{';
                objects = (objects & !(1 << depth)) | (u64::from(object) << depth);
                let close = if object { b'}' } else { b']' };
                if bytes.get(at + 1) == Some(&close) {
                    at + 2
                } else {
                    depth += 1;
                    at = if object {
                        key_end(bytes, at + 1)?
                    } else {
                        at + 1
                    };
                    continue;
                }
            }
            _ => return None,
        };
        // A value ended at `at`: what follows is a separator, a closing
        // bracket, or the end of the text.
        loop {
            if depth == 0 {
                let scanned = if exact {
                    Scanned::Printed
                } else {
                    Scanned::OtherNumbers
                };
                return Some((at, scanned));
            }
            let in_object = (objects >> (depth - 1)) & 1 == 1;
            match (*bytes.get(at)?, in_object) {
                (b',', true) => {
                    at = key_end(bytes, at + 1)?;
                    break;
                }
                (b',', false) => {
                    at += 1;
                    break;
                }
                (b'}', true) | (b']', false) => {
                    depth -= 1;
                    at += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Where an object's key that starts at `at` ends, its colon included.
fn key_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let end = printed_string_end(bytes, at + 1)?;
    (bytes.get(end) == Some(&b':')).then_some(end + 1)
}

fn literal_end(bytes: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    let end = at + word.len();
    (bytes.get(at..end) == Some(word)).then_some(end)
}

/// Where the string whose text starts at `from` (after its opening quote)
/// ends, if it is written as the printer writes it.
fn printed_string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = plain_run_end(bytes, from);
    loop {
        match *bytes.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => {
                at += printed_escape_len(bytes.get(at + 1..)?)?;
                at = plain_run_end(bytes, at);
            }
            0x00..=0x1f => return None,
            _ => at += 1,
        }
    }
}

/// Where the string whose text starts at `from` ends, if it holds no
/// escape (and no control character).
fn unescaped_string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = plain_run_end(bytes, from);
    loop {
        match *bytes.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' | 0x00..=0x1f => return None,
            _ => at += 1,
        }
    }
}

/// Whether `text` is written as a JSON string just by quoting it (it holds
/// no quote, backslash or control character), so the escaper can be
/// skipped. Checked 8 bytes at a time.
pub fn is_plain_json_string(text: &str) -> bool {
    let bytes = text.as_bytes();
    let rest = bytes.get(plain_run_end(bytes, 0)..).unwrap_or_default();
    rest.iter()
        .all(|&byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
}

/// Where the first quote, backslash or control character at or after
/// `from` is, found 8 bytes at a time (the bulk of a value's text); in the
/// last bytes, fewer than 8, it returns where they start and the caller
/// looks at them one by one. The test for each word is the usual "has a
/// byte less than n" bit trick; its lowest flagged byte is exact (a borrow
/// only runs upwards from a byte that is flagged itself).
fn plain_run_end(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    let Some(rest) = bytes.get(from..) else {
        return from;
    };
    let mut plain = 0;
    for word in rest.chunks_exact(8) {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(word);
        let word = u64::from_le_bytes(chunk);
        let quote = word ^ QUOTES;
        let backslash = word ^ BACKSLASHES;
        let below_space = word.wrapping_sub(ONES * 0x20) & !word;
        let is_quote = quote.wrapping_sub(ONES) & !quote;
        let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
        let special = (below_space | is_quote | is_backslash) & HIGH;
        if special != 0 {
            // Little-endian: the lowest bit is the first byte.
            return from + plain + (special.trailing_zeros() / 8) as usize;
        }
        plain += 8;
    }
    from + plain
}

/// Length of the escape at the start of `after_backslash`, counting the
/// backslash, if it is the one the printer writes for its character.
fn printed_escape_len(after_backslash: &[u8]) -> Option<usize> {
    match *after_backslash.first()? {
        b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => Some(2),
        b'u' => {
            let [b'0', b'0', high, low] = *after_backslash.get(1..5)? else {
                return None;
            };
            let code = match (high, low) {
                (b'0'..=b'1', b'0'..=b'9') => (high - b'0') * 16 + (low - b'0'),
                (b'0'..=b'1', b'a'..=b'f') => (high - b'0') * 16 + (low - b'a' + 10),
                _ => return None,
            };
            // These have a short form, which is what the printer uses.
            let short = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
            (!short).then_some(6)
        }
        _ => None,
    }
}

/// Where the JSON number starting at `from` ends, and whether it is an
/// integer the parser reads exactly and the printer gives back unchanged
/// (at most 18 digits, not `-0`, which reads as a float).
fn number_end(bytes: &[u8], from: usize) -> Option<(usize, bool)> {
    let digits_at = |at: usize| {
        bytes.get(at..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    let negative = bytes.get(from) == Some(&b'-');
    let mut at = from + usize::from(negative);
    let digits = digits_at(at);
    let leading_zero = bytes.get(at) == Some(&b'0');
    if digits == 0 || (leading_zero && digits > 1) {
        return None;
    }
    at += digits;
    let mut exact = digits <= MAX_QUICK_DIGITS && !(negative && leading_zero);
    if bytes.get(at) == Some(&b'.') {
        let fraction = digits_at(at + 1);
        if fraction == 0 {
            return None;
        }
        at += 1 + fraction;
        exact = false;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent = digits_at(at);
        if exponent == 0 {
            return None;
        }
        at += exponent;
        exact = false;
    }
    Some((at, exact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_a_value_inside_a_larger_text_ends() {
        let text = r#"{"a":"x\"y","b":[1,{"c":null}],"d":-2.5e3,"e":true}"#;
        let ends: Vec<_> = [5, 16, 35, 46]
            .into_iter()
            .map(|at| printed_value_end(text, at).map(|end| &text[at..end]))
            .collect();
        assert_eq!(
            ends,
            [
                Some(r#""x\"y""#),
                Some(r#"[1,{"c":null}]"#),
                Some("-2.5e3"),
                Some("true")
            ]
        );
        assert_eq!(printed_value_end(text, 0), Some(text.len()));
        // Not a value's start, a value cut short, a space: not sure.
        for at in [4, 1000] {
            assert_eq!(printed_value_end(text, at), None, "{at}");
        }
        assert_eq!(printed_value_end(r#"{"a":[1,2"#, 0), None);
        assert_eq!(printed_value_end(r#"{"a": 1}"#, 0), None);
        // Trailing text is the caller's: the value ends before it.
        assert_eq!(printed_value_end("[1]]", 0), Some(3));
    }
}
