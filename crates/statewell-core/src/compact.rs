//! A client's JSON text as the compact text the store keeps.
//!
//! A set's value is stored and answered as text, never as a tree, and that
//! text must be exactly what printing the parsed value gives (so every
//! backend and every reply agrees on it). Most clients already send that
//! text — `JSON.stringify` and `serde_json` print the same compact form — so
//! it is first checked for being in printed form, which is one pass over the
//! bytes; only other text (spaces, other escapes, floats, huge integers) goes
//! through the parser and printer.

use serde_json::value::RawValue;

use crate::RawJson;
use crate::printed::{Scanned, scan};

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
        return Ok(RawJson::known_json_unchecked(text.to_owned()));
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
        return Ok(RawJson::known_json_unchecked(text.to_owned()));
    }
    // The printer's output is JSON by construction; `from_string` checks it
    // once more, which only this less common path pays.
    let printed = String::from_utf8(out).map_err(serde::de::Error::custom)?;
    RawValue::from_string(printed).map(RawJson::from)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::printed::is_plain_json_string;
    use crate::raw_json;

    fn printed(text: &str) -> bool {
        scan(text) == Some(Scanned::Printed)
    }

    fn compact(text: &str) -> Result<String, serde_json::Error> {
        compact_json(text).map(|raw| raw.get().to_owned())
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
