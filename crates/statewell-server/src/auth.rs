//! Bearer-token auth for every request on the port: HTTP routes, `/metrics`
//! and the WebSocket upgrades at `/` and `/otel`. Only the routes marked
//! public in the route table (`/healthz`) are served without a token.
//!
//! The comparison is constant-time over SHA-256 digests of the presented and
//! expected tokens, so neither the token's bytes nor its length leak through
//! response timing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::{ApiError, is_public};

/// What a request must present; built once when the router is.
#[derive(Clone)]
pub struct TokenGuard {
    /// SHA-256 of the configured token; `None` when auth is off.
    expected: Option<[u8; 32]>,
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl TokenGuard {
    pub fn new(token: Option<&str>) -> Self {
        TokenGuard {
            expected: token.map(|t| digest(t.as_bytes())),
        }
    }

    /// Checks the `Authorization` header; the error says what was wrong
    /// without echoing what was sent.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.expected else {
            return Ok(());
        };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "this engine requires a token: send `Authorization: Bearer <token>`",
            ));
        };
        let presented = value
            .as_bytes()
            .split_first_chunk::<7>()
            // The scheme name is case-insensitive (RFC 9110 §11.1).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii())
            .filter(|token| !token.is_empty());
        let Some(presented) = presented else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        if bool::from(digest(presented).ct_eq(expected)) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("wrong token"))
        }
    }
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
    match guard.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refused) => {
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
    use axum::http::HeaderValue;

    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(auth).expect("valid header"),
        );
        h
    }

    #[test]
    fn without_a_configured_token_everything_passes() {
        let guard = TokenGuard::new(None);
        assert!(guard.check(&HeaderMap::new()).is_ok());
        assert!(guard.check(&headers("Bearer anything")).is_ok());
    }

    #[test]
    fn accepts_only_the_exact_token_with_the_bearer_scheme() {
        let guard = TokenGuard::new(Some("s3cret"));
        assert!(guard.check(&headers("Bearer s3cret")).is_ok());
        assert!(guard.check(&headers("bearer s3cret")).is_ok());
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
            "Bearer",
        ] {
            let err = guard.check(&headers(bad)).expect_err(bad);
            assert_eq!(err.code, "unauthorized", "{bad}");
        }
        assert!(guard.check(&HeaderMap::new()).is_err());
    }
}
