//! Bearer-token auth for every request on the port: HTTP routes, `/metrics`
//! and the WebSocket upgrades at `/` and `/otel`. Only the routes marked
//! public in the route table (`/healthz`) are served without a token.
//!
//! The token normally travels in `Authorization: Bearer <token>`. Clients
//! that cannot set a header on their WebSocket handshake (the iii engine's
//! state `bridge` adapter, which builds its connection from a URL alone) may
//! send it as `?access_token=<token>` (RFC 6750 §2.3) — only on the
//! WebSocket routes, and only when the operator turned it on
//! (`--token-in-query`), because a URL is logged and shown where a header is
//! not. The query is never logged here.
//!
//! The comparison is constant-time over SHA-256 digests of the presented and
//! expected tokens, so neither the token's bytes nor its length leak through
//! response timing.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::{ApiError, is_public};

/// The query parameter that may carry the token (RFC 6750 §2.3).
pub const QUERY_PARAMETER: &str = "access_token";

/// The routes of `ws::routes`: the only ones where the token may come in
/// the URL. Every other route is reached by clients that can send a header.
const WEBSOCKET_PATHS: [&str; 2] = ["/", "/otel"];

/// What a request must present; built once when the router is.
#[derive(Clone)]
pub struct TokenGuard {
    /// SHA-256 of the configured token; `None` when auth is off.
    expected: Option<[u8; 32]>,
    /// Whether a WebSocket upgrade may carry the token in its query.
    token_in_query: bool,
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl TokenGuard {
    pub fn new(token: Option<&str>, token_in_query: bool) -> Self {
        TokenGuard {
            expected: token.map(|t| digest(t.as_bytes())),
            token_in_query,
        }
    }

    /// Checks the `Authorization` header, or else the token in the query;
    /// the error says what was wrong without echoing what was sent.
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.expected else {
            return Ok(());
        };
        let matches = |presented: &[u8]| bool::from(digest(presented).ct_eq(expected));
        // A header, when sent, is the credential: a query beside it is not
        // looked at, so a client that has both is judged by the header.
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            return if matches(bearer_token(value)?) {
                Ok(())
            } else {
                Err(ApiError::unauthorized("wrong token"))
            };
        }
        let Some(presented) = self.query_token(uri)? else {
            return Err(ApiError::unauthorized(if self.token_in_query {
                "this engine requires a token: send `Authorization: Bearer <token>`, \
                 or `?access_token=<token>` in the WebSocket URL"
            } else {
                "this engine requires a token: send `Authorization: Bearer <token>`"
            }));
        };
        if matches(presented.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("wrong token"))
        }
    }

    /// The token in the query, when this request may carry it there; an
    /// error when it is there but may not be, so the client learns why.
    fn query_token(&self, uri: &Uri) -> Result<Option<String>, ApiError> {
        if uri.query().is_none() {
            return Ok(None);
        }
        // Decoded as `application/x-www-form-urlencoded`, as RFC 6750 says:
        // a `+` in the token is sent as `%2B`.
        let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(uri) else {
            return Err(ApiError::unauthorized("the URL's query cannot be decoded"));
        };
        let mut tokens = pairs
            .into_iter()
            .filter(|(name, _)| name == QUERY_PARAMETER)
            .map(|(_, value)| value);
        let Some(token) = tokens.next() else {
            return Ok(None);
        };
        if !self.token_in_query {
            return Err(ApiError::unauthorized(
                "this engine does not accept a token in the URL (it runs without \
                 --token-in-query): send `Authorization: Bearer <token>`",
            ));
        }
        if !WEBSOCKET_PATHS.contains(&uri.path()) {
            return Err(ApiError::unauthorized(
                "a token in the URL is accepted only on the WebSocket routes `/` and \
                 `/otel`: send `Authorization: Bearer <token>`",
            ));
        }
        if tokens.next().is_some() {
            return Err(ApiError::unauthorized(
                "`access_token` is given more than once in the URL",
            ));
        }
        if token.is_empty() {
            return Err(ApiError::unauthorized("`access_token` in the URL is empty"));
        }
        Ok(Some(token))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(value: &HeaderValue) -> Result<&[u8], ApiError> {
    value
        .as_bytes()
        .split_first_chunk::<7>()
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|(_, token)| token.trim_ascii())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// Middleware: refuses with 401 `unauthorized` unless the route is public or
/// the request carries the token.
pub async fn require_token(
    State(guard): State<Arc<TokenGuard>>,
    req: Request,
    next: Next,
) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    match guard.check(req.uri(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refused) => {
            // The path only: the query may hold a token.
            tracing::debug!(
                path = req.uri().path(),
                "refused a request without a valid token"
            );
            refused.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(auth).expect("valid header"),
        );
        h
    }

    fn uri(text: &str) -> Uri {
        text.parse().expect("valid uri")
    }

    fn refusal(result: Result<(), ApiError>) -> String {
        match result {
            Ok(()) => panic!("accepted"),
            Err(err) => {
                assert_eq!(err.code, "unauthorized");
                err.message
            }
        }
    }

    #[test]
    fn without_a_configured_token_everything_passes() {
        let guard = TokenGuard::new(None, false);
        let root = uri("/");
        assert!(guard.check(&root, &HeaderMap::new()).is_ok());
        assert!(guard.check(&root, &headers("Bearer anything")).is_ok());
        assert!(
            guard
                .check(&uri("/?access_token=x"), &HeaderMap::new())
                .is_ok()
        );
    }

    #[test]
    fn accepts_only_the_exact_token_with_the_bearer_scheme() {
        let guard = TokenGuard::new(Some("s3cret"), false);
        let root = uri("/");
        assert!(guard.check(&root, &headers("Bearer s3cret")).is_ok());
        assert!(guard.check(&root, &headers("bearer s3cret")).is_ok());
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
            "Bearer",
        ] {
            refusal(guard.check(&root, &headers(bad)));
        }
        refusal(guard.check(&root, &HeaderMap::new()));
    }

    #[test]
    fn a_token_in_the_query_needs_the_flag() {
        let guard = TokenGuard::new(Some("s3cret"), false);
        let message = refusal(guard.check(&uri("/?access_token=s3cret"), &HeaderMap::new()));
        assert!(message.contains("--token-in-query"), "{message}");
    }

    #[test]
    fn with_the_flag_a_websocket_url_may_carry_the_token() {
        let guard = TokenGuard::new(Some("s+3/cr&t"), true);
        let none = HeaderMap::new();
        for path in ["/", "/otel"] {
            let ok = uri(&format!("{path}?v=1&access_token=s%2B3%2Fcr%26t"));
            assert!(guard.check(&ok, &none).is_ok(), "{path}");
            // A `+` decodes to a space, as form encoding says.
            refusal(guard.check(&uri(&format!("{path}?access_token=s+3%2Fcr%26t")), &none));
            refusal(guard.check(&uri(&format!("{path}?access_token=wrong")), &none));
            refusal(guard.check(&uri(&format!("{path}?access_token=")), &none));
            refusal(guard.check(&uri(&format!("{path}?token=s%2B3%2Fcr%26t")), &none));
            let twice = format!("{path}?access_token=s%2B3%2Fcr%26t&access_token=x");
            assert!(refusal(guard.check(&uri(&twice), &none)).contains("more than once"));
        }
        // Not on an HTTP route, where a header can always be sent.
        let message = refusal(guard.check(&uri("/v1/groups?access_token=s%2B3%2Fcr%26t"), &none));
        assert!(
            message.contains("only on the WebSocket routes"),
            "{message}"
        );
        // The header still works, and when sent it is the one judged.
        assert!(guard.check(&uri("/"), &headers("Bearer s+3/cr&t")).is_ok());
        let both = uri("/?access_token=s%2B3%2Fcr%26t");
        refusal(guard.check(&both, &headers("Bearer wrong")));
    }
}
