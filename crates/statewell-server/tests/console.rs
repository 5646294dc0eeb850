//! The console's files and the routes it reads, through a real socket: the
//! files under `/ui/` with their Content-Security-Policy, a browser sent from
//! `/` to `/ui/` (a WebSocket upgrade at `/` unchanged), the token left to
//! the API, and `GET /v1/workers`.

mod ws_support;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use serde_json::{Value, json};
use statewell_server::ServerConfig;
use ws_support::{TestServer, Worker};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(addr: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_console_files_are_served_with_a_strict_policy() {
    let s = TestServer::start().await;
    for (path, kind, needle) in [
        (
            "/ui/",
            "text/html",
            "<script type=\"module\" src=\"/ui/js/main.js\">",
        ),
        ("/ui/js/main.js", "text/javascript", "import"),
        ("/ui/style.css", "text/css", "{"),
        ("/ui/favicon.svg", "image/svg+xml", "<svg"),
        // A view's address answers the page, which opens that view.
        ("/ui/groups/a%2Fb/items/k%201", "text/html", "<title>"),
        ("/ui/engine", "text/html", "<title>"),
    ] {
        let reply = get(&s.addr, path).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
        let headers = reply.headers().clone();
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let content_type = headers[CONTENT_TYPE].to_str().expect("ascii");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let body = reply.text().await.expect("body");
        assert!(body.contains(needle), "{path}");
    }
    let missing = get(&s.addr, "/ui/js/missing.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().contains_key("content-security-policy"));
    let bare = get(&s.addr, "/ui").await;
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers()[LOCATION], "/ui/");
}

#[tokio::test]
async fn an_unchanged_file_is_answered_not_modified() {
    let s = TestServer::start().await;
    let first = get(&s.addr, "/ui/js/api.js").await;
    let etag = first.headers()[ETAG].clone();
    let again = client()
        .get(format!("http://{}/ui/js/api.js", s.addr))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag);
}

#[tokio::test]
async fn a_browser_at_the_root_is_sent_to_the_console() {
    let s = TestServer::start().await;
    let browser = client()
        .get(format!("http://{}/", s.addr))
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("request");
    assert_eq!(browser.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(browser.headers()[LOCATION], "/ui/");
    // Anything else at `/` is the worker protocol's, as before.
    let plain = get(&s.addr, "/").await;
    assert_ne!(plain.status(), StatusCode::TEMPORARY_REDIRECT);
    let worker = Worker::connect(&s.url()).await;
    worker.sync().await;
    worker.close().await;
}

#[tokio::test]
async fn with_a_token_the_files_load_but_the_data_needs_it() {
    let s = TestServer::start_with(ServerConfig {
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(get(&s.addr, "/ui/").await.status(), StatusCode::OK);
    assert_eq!(get(&s.addr, "/ui/js/api.js").await.status(), StatusCode::OK);
    let browser = client()
        .get(format!("http://{}/", s.addr))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(browser.status(), StatusCode::TEMPORARY_REDIRECT);
    for path in ["/v1/groups", "/v1/workers", "/v1/groups/g"] {
        assert_eq!(
            get(&s.addr, path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

async fn workers(addr: &str) -> Value {
    get(addr, "/v1/workers")
        .await
        .json()
        .await
        .expect("workers body")
}

#[tokio::test]
async fn workers_are_listed_with_their_functions_and_triggers() {
    let s = TestServer::start().await;
    assert_eq!(
        workers(&s.addr).await,
        json!({"workers": [], "waiting_triggers": []})
    );
    let worker = Worker::connect(&s.url()).await;
    worker.register("orders::on_change", |_| async { Ok(Value::Null) });
    worker.register("orders::total", |_| async { Ok(Value::Null) });
    worker.register_trigger(
        "t-1",
        "orders::on_change",
        json!({"scope": "orders", "key": "o-1"}),
    );
    worker.sync().await;
    let listed = workers(&s.addr).await;
    let one = &listed["workers"][0];
    assert_eq!(listed["workers"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["id"], worker.worker_id.as_str());
    assert!(one["connected_at_ms"].as_u64().is_some_and(|ms| ms > 0));
    assert_eq!(
        one["functions"],
        json!(["orders::on_change", "orders::total"])
    );
    assert_eq!(
        one["triggers"],
        json!([{"id": "t-1", "function_id": "orders::on_change", "scope": "orders",
                "key": "o-1", "condition_function_id": null}])
    );
    assert_eq!(listed["waiting_triggers"], json!([]));

    worker.close().await;
    let mut listed = workers(&s.addr).await;
    for _ in 0..2000 {
        if listed["workers"] == json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        listed = workers(&s.addr).await;
    }
    assert_eq!(
        listed["workers"],
        json!([]),
        "the closed worker is still listed"
    );
    // Its trigger waits out the reconnect grace period.
    assert_eq!(listed["waiting_triggers"][0]["id"], "t-1");
}
