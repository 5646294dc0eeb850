//! Conditional and idempotent HTTP requests on one item: `If-Match: "N"`
//! (apply only at version N), `If-None-Match: *` (only if absent) and
//! `Idempotency-Key` on PUT, PATCH and DELETE; `If-None-Match: "N"` on GET
//! (304 while the version is N). A failed condition answers 412 with the
//! `conflict` error body.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use statewell_core::{Condition, StateError, WriteOptions};

use super::error::ApiError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that repeats the first result of its idempotency key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The write options a request's headers ask for.
pub fn write_options(headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    let if_version = match header_text(headers, "if-match")? {
        None => None,
        Some(text) => Some(single_tag(text).ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "If-Match must be one version in quotes, like \"3\", not {text:?}"
            ))
        })?),
    };
    let if_absent = match header_text(headers, "if-none-match")? {
        None => false,
        Some("*") => true,
        Some(text) => {
            return Err(ApiError::invalid_argument(format!(
                "If-None-Match on a write must be *, not {text:?}"
            )));
        }
    };
    Ok(WriteOptions {
        condition: Condition {
            if_version,
            if_absent,
        },
        idempotency_key: idempotency_key(headers)?,
    })
}

/// The `Idempotency-Key` header, if any.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    Ok(header_text(headers, IDEMPOTENCY_KEY.as_str())?.map(str::to_owned))
}

/// Whether a GET's `If-None-Match` names `version` (or is `*`): the answer
/// is then 304.
pub fn not_modified(headers: &HeaderMap, version: u64) -> bool {
    let Some(text) = headers.get("if-none-match").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || single_tag(tag.trim_start_matches("W/")) == Some(version))
}

/// A 412 for a write whose condition failed; other errors as they are.
pub fn precondition(err: StateError) -> ApiError {
    let mut api = ApiError::from(err);
    if api.code == "conflict" {
        api.status = StatusCode::PRECONDITION_FAILED;
    }
    api
}

/// `Idempotent-Replayed: true` when the answer is a repeat.
pub fn replayed_header(replayed: bool) -> Option<[(HeaderName, HeaderValue); 1]> {
    replayed.then_some([(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))])
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|text| Some(text.trim()))
            .map_err(|_| ApiError::invalid_argument(format!("the {name} header is not text"))),
    }
}

/// The version in an entity tag `"N"`.
fn single_tag(text: &str) -> Option<u64> {
    text.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn headers_become_conditions() {
        let options = write_options(&headers(&[("if-match", "\"7\""), ("idempotency-key", "k")]))
            .expect("valid");
        assert_eq!(options.condition.if_version, Some(7));
        assert_eq!(options.idempotency_key.as_deref(), Some("k"));
        assert!(
            write_options(&headers(&[("if-none-match", "*")]))
                .expect("valid")
                .condition
                .if_absent
        );
        assert!(write_options(&headers(&[("if-match", "7")])).is_err());
        assert!(not_modified(
            &headers(&[("if-none-match", "\"1\", \"7\"")]),
            7
        ));
        assert!(!not_modified(&headers(&[("if-none-match", "\"1\"")]), 7));
    }
}
