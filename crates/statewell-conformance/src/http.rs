//! A small client of the engine's `/v1` HTTP API for tests, shared by the
//! in-process server tests and the end-to-end tests against the binary.
//!
//! Test support: a failure here is a failed test, so these helpers panic
//! with a message instead of returning errors.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Percent-encodes everything but RFC 3986 unreserved characters, so any
/// group or key fits in one path segment (`/` → `%2F`).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/v1/groups/{group}/items/{key}`, both encoded.
pub fn item_path(group: &str, key: &str) -> String {
    format!("/v1/groups/{}/items/{}", enc(group), enc(key))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    /// The `ETag` header (also [`Reply::etag()`]).
    pub etag: Option<String>,
    /// The JSON body; a body that is not JSON is kept as a string.
    pub body: Value,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Asserts an error reply: status, code, and a non-empty message.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.error_code(), code, "body: {}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.body
        );
    }
}

pub struct Http {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Sent as a bearer token when set.
    pub token: Option<String>,
    client: reqwest::Client,
}

impl Http {
    pub fn new(base: String, token: Option<&str>) -> Http {
        Http {
            base,
            token: token.map(str::to_owned),
            // Loopback only: never route through a proxy from the environment.
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client without TLS or proxies always builds"),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Reply {
        self.call_with(method, path, &[], body).await
    }

    /// [`Http::call`] with extra request headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.expect("send request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let etag = headers
            .get("etag")
            .map(|v| v.to_str().expect("the ETag header is ASCII").to_owned());
        let text = resp.text().await.expect("read body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            etag,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.call(method, path, Some(body.to_string().into_bytes()))
            .await
    }

    /// `PUT` of `value` at `group`/`key`.
    pub async fn put(&self, group: &str, key: &str, value: &Value) -> Reply {
        self.send_json(Method::PUT, &item_path(group, key), value)
            .await
    }
}
