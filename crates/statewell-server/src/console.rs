//! The console: a browser UI served from the binary itself under `/ui/`.
//!
//! Its files (plain HTML, CSS and ES modules in `console/`, no build step)
//! are compiled in with `include_bytes!`, so `statewell serve` alone gives a
//! working console with nothing fetched at run time. The files hold no data
//! and are served without a token; every API call the console makes carries
//! the token itself. Every response carries a strict Content-Security-Policy
//! (scripts, styles and connections from this origin only, no inline script),
//! so a key or value that smuggled markup into the page could not run.
//!
//! Paths under `/ui/` that name no file but one of the console's own views
//! (`/ui/groups/...`, `/ui/engine`) answer `index.html`: the page reads the
//! address and opens that view, so addresses can be pasted and bookmarked.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::AppState;

/// Same origin only, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file: its path under `/ui/`, its type, its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `console/` (a test checks that none is missing).
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/feed.js", JS),
    asset!("js/json-view.js", JS),
    asset!("js/groups-view.js", JS),
    asset!("js/group-view.js", JS),
    asset!("js/item-view.js", JS),
    asset!("js/engine-view.js", JS),
    asset!("js/metrics.js", JS),
    asset!("js/changes.js", JS),
];

/// Each asset's entity tag (a hash of its bytes), in `ASSETS` order.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
        })
        .collect()
});

/// `/ui`, `/ui/` and everything under it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if ASSETS.iter().any(|asset| asset.path == path) {
        return serve(&path, &headers);
    }
    if is_view(&path) {
        return serve("index.html", &headers);
    }
    let mut response = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "no such file in the console\n",
    )
        .into_response();
    secure(response.headers_mut());
    response
}

/// The addresses of the console's own views.
fn is_view(path: &str) -> bool {
    path == "engine" || path == "groups" || path.starts_with("groups/")
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let unchanged = request.get(header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii() == etag.as_bytes())
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    // Revalidate every time: the files change with the binary, and a
    // revalidation is a 304 of a few bytes.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Middleware: a browser opening `/` (a plain `GET` asking for HTML, not a
/// WebSocket upgrade) is sent to the console. Everything else at `/` — the
/// worker protocol's upgrade, other clients — goes on unchanged. Runs before
/// the token check: the console asks for the token itself.
pub async fn redirect_browsers(req: Request, next: Next) -> Response {
    if req.uri().path() == "/" && wants_console(req.method(), req.headers()) {
        return Redirect::temporary("/ui/").into_response();
    }
    next.run(req).await
}

fn wants_console(method: &Method, headers: &HeaderMap) -> bool {
    let reading = method == Method::GET || method == Method::HEAD;
    let upgrading = headers.contains_key(header::UPGRADE);
    let html = headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|accept| accept.to_str().is_ok_and(|a| a.contains("text/html")));
    reading && !upgrading && html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("console dir") {
                let path = entry.expect("entry").path();
                let relative = path.strip_prefix(&root).expect("under root");
                // The browser tests live beside the files they test.
                if relative.starts_with("test") {
                    continue;
                }
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    on_disk.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn views_are_recognised_and_nothing_else() {
        assert!(is_view("groups"));
        assert!(is_view("groups/orders%2Feu/items/o-1"));
        assert!(is_view("engine"));
        assert!(!is_view("js/missing.js"));
        assert!(!is_view("groupsx"));
    }

    #[test]
    fn only_a_browser_asking_for_a_page_is_redirected() {
        let mut browser = HeaderMap::new();
        browser.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert!(wants_console(&Method::GET, &browser));
        assert!(!wants_console(&Method::POST, &browser));
        let mut upgrade = browser.clone();
        upgrade.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!wants_console(&Method::GET, &upgrade));
        let mut curl = HeaderMap::new();
        curl.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!wants_console(&Method::GET, &curl));
        assert!(!wants_console(&Method::GET, &HeaderMap::new()));
    }
}
