//! A client's JSON text as the compact text the store keeps.
//!
//! A set's value is stored and answered as text, never as a tree, and that
//! text must be exactly what printing the parsed value gives (so every
//! backend and every reply agrees on it). Most clients already send that
//! text — `JSON.stringify` and `serde_json` print the same compact form — so
//! it is first checked for being in printed form, which is one pass over the
//! bytes; only other text (spaces, other escapes, floats, huge integers) goes
//! through the parser and printer.

// Every byte of a client's text is read with `get`: text that ends early
// or is malformed is "not sure" (`None`), never an out-of-bounds panic.
// (Not `arithmetic_side_effects`: the positions added to are bounded by the
// text's length, and checked adds on every step would cost the scan.)
#![deny(clippy::indexing_slicing)]

use serde_json::value::RawValue;

use crate::RawJson;

/// Nesting past this depth skips the quick check: the parser's recursion
/// limit (128) then decides, as it does for any other text.
const MAX_QUICK_DEPTH: usize = 64;

/// Integers with at most this many digits fit both `i64` and `u64`, so the
/// parser reads them as integers and prints them back digit for digit.
const MAX_QUICK_DIGITS: usize = 18;

/// `text` (JSON as a client wrote it, or any text: what is not JSON is
/// refused) printed compactly, as [`crate::raw_json`] prints it once parsed
/// — numbers, strings and escapes come out the same — but without building
/// the tree. Refuses what the parser refuses, nesting past its recursion
/// limit included. One difference: an object that repeats a key keeps
/// every occurrence, where a parsed value keeps the last; JSON parsers read
/// both texts as the same value (the last occurrence wins).
pub fn compact_json(text: &str) -> Result<RawJson, serde_json::Error> {
    if scan(text) == Some(Scanned::Printed) {
        // The scan checked it as JSON.
        return Ok(RawJson::known(text.to_owned()));
    }
    transcoded(text)
}

/// The parser feeds the printer directly (a set's value is only stored and
/// passed on, so a tree would be built just to be printed and freed).
fn transcoded(text: &str) -> Result<RawJson, serde_json::Error> {
    let mut parser = serde_json::Deserializer::from_str(text);
    let mut out = Vec::with_capacity(text.len());
    serde_transcode::transcode(&mut parser, &mut serde_json::Serializer::new(&mut out))?;
    parser.end()?;
    if out == text.as_bytes() {
        // The parser read it to its end without error.
        return Ok(RawJson::known(text.to_owned()));
    }
    // The printer's output is JSON by construction; `from_string` checks it
    // once more, which only this less common path pays.
    let printed = String::from_utf8(out).map_err(serde::de::Error::custom)?;
    RawValue::from_string(printed).map(RawJson::from)
}

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
    use std::fmt::Write;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::raw_json;

    fn printed(text: &str) -> bool {
        scan(text) == Some(Scanned::Printed)
    }

    fn compact(text: &str) -> Result<String, serde_json::Error> {
        compact_json(text).map(|raw| raw.get().to_owned())
    }

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

    /// What the tree path prints: parse, then print compactly.
    fn through_a_tree(text: &str) -> String {
        let value: Value = serde_json::from_str(text).expect("JSON");
        raw_json(&value).expect("printable").get().to_owned()
    }

    /// The quick check and the parser-printer give the same text (or both
    /// refuse it).
    fn assert_both_paths_agree(text: &str) {
        let quick = compact_json(text).map(|r| r.get().to_owned());
        let slow = transcoded(text).map(|r| r.get().to_owned());
        match (quick, slow) {
            (Ok(quick), Ok(slow)) => assert_eq!(quick, slow, "{text}"),
            (Err(_), Err(_)) => {}
            (quick, slow) => panic!("{text}: quick {quick:?}, parsed {slow:?}"),
        }
    }

    #[test]
    fn compact_json_prints_what_the_parsed_value_prints() {
        for text in [
            r#"{"a":1,"b":[true,null,"x"]}"#,
            " { \"a\" : [ 1 , 2.50 , -0.0 , 1e3 , 1E-2 ] , \"s\" : \"\\u0041\\n\\/\" } ",
            r#"18446744073709551615"#,
            r#"-9223372036854775808"#,
            r#"123456789012345678901234567890"#,
            r#""é😀\ud83d\ude00""#,
            "[[],{},[{}]]",
            "null",
        ] {
            assert_eq!(compact(text).expect("JSON"), through_a_tree(text), "{text}");
        }
    }

    #[test]
    fn compact_json_refuses_what_the_parser_refuses() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = compact(&deep).expect_err("past the recursion limit");
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(compact(&fine).expect("within the limit"), fine);
    }

    #[test]
    fn compact_json_keeps_repeated_keys_which_parse_as_the_last() {
        let text = compact(r#"{"a":1, "a":2}"#).expect("JSON");
        assert_eq!(text, r#"{"a":1,"a":2}"#);
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value, json!({"a": 2}));
    }

    #[test]
    fn every_escape_form_gives_the_printed_text() {
        for code in 0u32..0x80 {
            let c = char::from_u32(code).expect("ASCII");
            for escaped in [
                format!("\"\\u{code:04x}\""),
                format!("\"\\u{code:04X}\""),
                serde_json::to_string(&c.to_string()).expect("printable"),
            ] {
                assert_both_paths_agree(&escaped);
            }
        }
        for text in [
            r#""\/""#,
            r#""\"\\\b\f\n\r\t""#,
            r#""\u00e9""#,
            r#""\u2028""#,
        ] {
            assert_both_paths_agree(text);
        }
        assert!(printed(r#""a\"\\\n\u0001\u001f""#));
        assert!(!printed(r#""\u000a""#));
        assert!(!printed(r#""\u001F""#));
        assert!(!printed(r#""\/""#));
    }

    #[test]
    fn integers_the_parser_reads_exactly_are_taken_as_they_are() {
        for text in [
            "0",
            "-1",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "-0",
            "1.0",
            "1e2",
            "-1E-2",
            "[0,-0,10,-10]",
        ] {
            assert_both_paths_agree(text);
        }
        assert!(printed("[0,-7,999999999999999999]"));
        assert!(!printed("-0"));
        assert!(!printed("1000000000000000000"));
        assert!(!printed("1.5"));
    }

    #[test]
    fn whitespace_and_deep_nesting_take_the_parser() {
        assert!(!printed("{\"a\": 1}"));
        assert!(!printed(" 1"));
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(!printed(&deep));
        assert_both_paths_agree(&deep);
        let shallow = format!("{}{}", "{\"a\":[".repeat(32), "]}".repeat(32));
        assert!(printed(&shallow));
    }

    #[test]
    fn every_one_character_damage_of_printed_text_is_caught_or_still_json() {
        let samples = [
            r#"{"a":[1,-2.5e3,{"b":null,"c":true}],"d":"x\"y\\z\n\u0001","e":{},"f":[]}"#,
            r#"[false,0,"",{"":[[]]},-0,1E+2]"#,
        ];
        let inserts = [
            '{', '}', '[', ']', ',', ':', '"', '\\', '-', '.', 'e', '0', 'u', 't', ' ',
        ];
        for sample in samples {
            assert!(scan(sample).is_some(), "{sample}");
            let chars: Vec<char> = sample.chars().collect();
            let mut damaged = Vec::new();
            for at in 0..=chars.len() {
                damaged.push(chars[..at].iter().collect::<String>());
                if at < chars.len() {
                    let mut cut = chars.clone();
                    cut.remove(at);
                    damaged.push(cut.into_iter().collect());
                }
                for &c in &inserts {
                    let mut grown = chars.clone();
                    grown.insert(at, c);
                    damaged.push(grown.into_iter().collect());
                }
            }
            for text in damaged {
                let valid = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
                assert!(valid || scan(&text).is_none(), "scanned as valid: {text}");
            }
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[a-z\"\\\\/\u{0}-\u{1f}é😀]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Values as workers send them: mostly what the quick check takes (a
    /// single float or huge integer sends the whole text to the parser).
    fn client_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            Just(Value::from(0)),
            (999_999_999_999_999_990u64..1_000_000_000_000_000_010).prop_map(Value::from),
            (-1_000_000_000_000_000_010i64..-999_999_999_999_999_990).prop_map(Value::from),
            "[a-z\"\\\\/\u{0}-\u{1f}\u{7f}é😀]{0,8}".prop_map(Value::from),
            // Long runs of plain text, which are skipped a word at a time,
            // with something to notice at any offset.
            "[a-z]{0,20}[\"\\\\\u{0}-\u{1f}é]{0,2}[a-z]{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\n\"]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Writes `value` as some client might: choices (spacing, escapes,
    /// number forms) are drawn from `choices`, cycling.
    struct ClientPrinter<'a> {
        /// Whether this client spaces its JSON out at all (most do not, and
        /// any space takes the parser, hiding the other choices from the
        /// quick check).
        spaced: bool,
        choices: &'a [u8],
        next: usize,
        out: String,
    }

    impl ClientPrinter<'_> {
        fn choose(&mut self, options: u8) -> u8 {
            let choice = self.choices.get(self.next).copied().unwrap_or(0);
            self.next = (self.next + 1) % self.choices.len().max(1);
            choice % options
        }

        fn space(&mut self) {
            if !self.spaced {
                return;
            }
            let space = [" ", "", "\n", "\t", "", ""][usize::from(self.choose(6))];
            self.out.push_str(space);
        }

        fn string(&mut self, s: &str) {
            self.out.push('"');
            for c in s.chars() {
                let code = u32::from(c);
                match self.choose(4) {
                    0 if code < 0x10000 => {
                        let _ = write!(self.out, "\\u{code:04x}");
                    }
                    1 if code < 0x10000 => {
                        let _ = write!(self.out, "\\u{code:04X}");
                    }
                    2 if c == '/' => self.out.push_str("\\/"),
                    _ => {
                        let printed = serde_json::to_string(&c.to_string()).expect("printable");
                        self.out.push_str(&printed[1..printed.len() - 1]);
                    }
                }
            }
            self.out.push('"');
        }

        fn value(&mut self, value: &Value) {
            self.space();
            match value {
                Value::String(s) => self.string(s),
                Value::Number(n) => {
                    let printed = n.to_string();
                    let integer = n.is_i64() || n.is_u64();
                    match self.choose(8) {
                        0 if integer => {
                            let _ = write!(self.out, "{printed}.0");
                        }
                        1 if integer => {
                            let _ = write!(self.out, "{printed}e0");
                        }
                        // Past what i64 and u64 hold, or `-0`: floats.
                        2 if integer && n.as_u64() != Some(0) => {
                            let _ = write!(self.out, "{printed}00");
                        }
                        3 if n.as_u64() == Some(0) => self.out.push_str("-0"),
                        _ => self.out.push_str(&printed),
                    }
                }
                Value::Array(items) => {
                    self.out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.value(item);
                    }
                    self.space();
                    self.out.push(']');
                }
                Value::Object(fields) => {
                    self.out.push('{');
                    for (i, (name, item)) in fields.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.space();
                        self.string(name);
                        self.space();
                        self.out.push(':');
                        self.value(item);
                    }
                    self.space();
                    self.out.push('}');
                }
                other => self.out.push_str(&other.to_string()),
            }
            self.space();
        }
    }

    proptest! {
        /// A string is plain exactly when serde_json prints it as itself
        /// between quotes.
        #[test]
        fn plain_strings_are_the_ones_printed_as_they_are(
            text in prop_oneof![any::<String>(), "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é]{0,20}"],
        ) {
            let printed = serde_json::to_string(&text).expect("printable");
            prop_assert_eq!(is_plain_json_string(&text), printed == format!("\"{text}\""));
        }

        /// Any value, written compactly or pretty-printed by a client,
        /// compacts to the text the tree path prints.
        #[test]
        fn compact_json_agrees_with_the_tree_path(value in any_value()) {
            let printed = raw_json(&value).expect("printable").get().to_owned();
            prop_assert_eq!(compact(&printed).expect("JSON"), printed.clone());
            let pretty = serde_json::to_string_pretty(&value).expect("printable");
            prop_assert_eq!(compact(&pretty).expect("JSON"), printed);
        }

        /// However a client writes a value, the quick check never passes
        /// text the printer would write otherwise.
        #[test]
        fn the_quick_check_agrees_with_the_parser(
            value in client_value(),
            choices in prop::collection::vec(any::<u8>(), 1..64),
        ) {
            let mut client = ClientPrinter {
                spaced: choices[0] < 64,
                choices: &choices,
                next: 1,
                out: String::new(),
            };
            client.value(&value);
            assert_both_paths_agree(&client.out);
            prop_assert_eq!(compact(&client.out).expect("JSON"), through_a_tree(&client.out));
        }

        /// What the printer writes for values without floats or huge
        /// integers passes the quick check (the check is not just "no").
        #[test]
        fn printed_text_passes_the_quick_check(value in any_value()) {
            let text = raw_json(&value).expect("printable").get().to_owned();
            if has_no_float_or_big(&value) {
                prop_assert!(printed(&text), "{}", text);
            }
            // Floats and all: what the printer writes is found valid.
            prop_assert!(scan(&text).is_some(), "{}", text);
        }

        /// The scan never calls text valid that serde_json refuses: printed
        /// values, written by clients, and damaged (a character cut out,
        /// one inserted, the text cut short).
        #[test]
        fn the_scan_calls_nothing_valid_that_is_not_json(
            value in client_value(),
            choices in prop::collection::vec(any::<u8>(), 1..64),
            damage in (any::<prop::sample::Index>(), 0u8..4, prop::sample::select(
                vec!['{', '}', '[', ']', ',', ':', '"', '\\', '-', '.', 'e', '0', '1', 't', 'n', ' '],
            )),
        ) {
            let mut client = ClientPrinter {
                spaced: choices[0] < 32,
                choices: &choices,
                next: 1,
                out: String::new(),
            };
            client.value(&value);
            let mut text = client.out;
            let (at, how, c) = damage;
            let mut chars: Vec<char> = text.chars().collect();
            if !chars.is_empty() {
                let at = at.index(chars.len());
                match how {
                    0 => { chars.remove(at); }
                    1 => chars.insert(at, c),
                    2 => chars.truncate(at),
                    _ => {}
                }
                text = chars.into_iter().collect();
            }
            let valid = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
            if scan(&text).is_some() {
                prop_assert!(valid, "scanned as valid but is not JSON: {}", text);
            }
        }
    }

    fn has_no_float_or_big(value: &Value) -> bool {
        match value {
            Value::Number(n) => n
                .as_i64()
                .is_some_and(|i| i.unsigned_abs() < 1_000_000_000_000_000_000),
            Value::Array(items) => items.iter().all(has_no_float_or_big),
            Value::Object(fields) => fields.values().all(has_no_float_or_big),
            _ => true,
        }
    }
}
