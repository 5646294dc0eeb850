//! The live change feed as server-sent events: `GET /v1/watch` (every
//! group) and `GET /v1/groups/{group}/watch` (one group, optionally one key
//! or a key prefix).
//!
//! Each committed change is one `change` event whose `id` is its revision and
//! whose data is what a state trigger receives plus `"revision"`. The feed is
//! live only: it starts at the request. `Last-Event-ID` and `?from=` are
//! accepted and ignored until the engine keeps a change log to resume from.
//! A subscriber that falls behind the store's event channel cannot be
//! brought up to date: its stream ends with `resync_required`, and the
//! client reloads what it shows. Engine shutdown ends every stream, so no
//! stream holds the shutdown drain.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use statewell_core::ChangeEvent;
use tokio::sync::broadcast::{self, error::RecvError};

use super::error::ApiError;
use super::extract::{PathParams, QueryParams};
use super::openapi::error_response;
use super::route::{Route, Verb};
use super::state_routes::GroupParams;
use crate::AppState;
use crate::shutdown::Shutdown;
use crate::triggers::event_payload;

pub static ROUTES: &[Route] = &[
    Route {
        verb: Verb::Get,
        path: "/v1/groups/{group}/watch",
        operation_id: "watchGroup",
        public: false,
        handler: |m| on(m, watch_group),
        doc: || {
            json!({
                "summary": "The group's changes as they commit (server-sent events)",
                "description": WATCH_DESCRIPTION,
                "parameters": [
                    {"name": "key", "in": "query", "required": false, "schema": {"type": "string"},
                     "description": "Only this key's changes"},
                    {"name": "prefix", "in": "query", "required": false, "schema": {"type": "string"},
                     "description": "Only the changes of keys starting with this"},
                    {"name": "from", "in": "query", "required": false,
                     "schema": {"type": "integer", "minimum": 0},
                     "description": "Resume after this revision: accepted, not yet honoured (the feed starts at the request)"},
                ],
                "responses": {
                    "200": sse_response(),
                    "400": error_response("Invalid group, key or query (`invalid_argument`, `deserialization_error`)"),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: "/v1/watch",
        operation_id: "watchAll",
        public: false,
        handler: |m| on(m, watch_all),
        doc: || {
            json!({
                "summary": "Every group's changes as they commit (server-sent events)",
                "description": WATCH_DESCRIPTION,
                "parameters": [
                    {"name": "from", "in": "query", "required": false,
                     "schema": {"type": "integer", "minimum": 0},
                     "description": "Resume after this revision: accepted, not yet honoured (the feed starts at the request)"},
                ],
                "responses": {
                    "200": sse_response(),
                    "400": error_response("Invalid query (`deserialization_error`)"),
                }
            })
        },
    },
];

const WATCH_DESCRIPTION: &str = "A `text/event-stream`. Each committed change is one event: `event: change`, `id: <revision>`, `data:` the JSON a state trigger receives (`type`, `event_type`, `scope`, `key`, `old_value`, `new_value`) plus `revision`. A comment `: keep-alive` is sent every 15 s. A subscriber that falls too far behind gets `event: resync_required` with data `{\"reason\":\"lagged\"}` and the stream ends: reload, then watch again. The stream ends when the engine shuts down. The feed starts at the request: `Last-Event-ID` and `from` are accepted and ignored for now.";

fn sse_response() -> Value {
    json!({
        "description": "The change feed (server-sent events)",
        "content": {"text/event-stream": {"schema": {"type": "string"},
                    "example": "event: change\nid: 42\ndata: {\"type\":\"state\",\"event_type\":\"state:created\",\"scope\":\"orders\",\"key\":\"o-1\",\"old_value\":null,\"new_value\":{\"total\":5},\"revision\":42}\n\n"}},
    })
}

/// How often an idle stream sends a comment, so proxies and clients can
/// tell a quiet feed from a dead connection.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// `?key=&prefix=&from=` of a group's feed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupWatchQuery {
    key: Option<String>,
    prefix: Option<String>,
    /// A revision to resume after; accepted, not yet honoured.
    #[allow(dead_code)]
    from: Option<u64>,
}

/// `?from=` of the feed of every group.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// A revision to resume after; accepted, not yet honoured.
    #[allow(dead_code)]
    from: Option<u64>,
}

/// Which changes a stream carries.
#[derive(Debug, Clone, Default)]
struct Filter {
    group: Option<String>,
    key: Option<String>,
    prefix: Option<String>,
}

impl Filter {
    fn matches(&self, event: &ChangeEvent) -> bool {
        self.group.as_deref().is_none_or(|g| g == event.group)
            && self.key.as_deref().is_none_or(|k| k == event.key)
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| event.key.starts_with(p))
    }
}

/// `GET /v1/watch` → every change of every group.
pub async fn watch_all(
    State(app): State<AppState>,
    QueryParams(_q): QueryParams<WatchQuery>,
) -> Response {
    feed(&app, Filter::default())
}

/// `GET /v1/groups/{group}/watch?key=&prefix=` → the changes of one group.
pub async fn watch_group(
    State(app): State<AppState>,
    PathParams(p): PathParams<GroupParams>,
    QueryParams(q): QueryParams<GroupWatchQuery>,
) -> Result<Response, ApiError> {
    let limits = app.state.limits();
    limits.check_group(&p.group)?;
    if let Some(key) = &q.key {
        limits.check_key(key)?;
    }
    let filter = Filter {
        group: Some(p.group),
        key: q.key,
        prefix: q.prefix.filter(|p| !p.is_empty()),
    };
    Ok(feed(&app, filter))
}

/// Subscribes now (so every change committed after the request is seen) and
/// streams the matching events until the client leaves, the subscriber lags,
/// or the engine shuts down.
fn feed(app: &AppState, filter: Filter) -> Response {
    let events = app.state.subscribe();
    let stream = changes(events, app.shutdown.clone(), filter);
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("keep-alive");
    Sse::new(stream).keep_alive(keep_alive).into_response()
}

enum Next {
    Change(Arc<ChangeEvent>),
    Lagged,
    End,
}

fn changes(
    events: broadcast::Receiver<Arc<ChangeEvent>>,
    shutdown: Shutdown,
    filter: Filter,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let state = Some((events, shutdown, filter));
    futures::stream::unfold(state, |state| async move {
        let (mut events, shutdown, filter) = state?;
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.wait() => Next::End,
                received = events.recv() => match received {
                    Ok(event) => Next::Change(event),
                    Err(RecvError::Lagged(_)) => Next::Lagged,
                    Err(RecvError::Closed) => Next::End,
                },
            };
            match next {
                Next::Change(event) if filter.matches(&event) => {
                    let sse = change_event(&event);
                    return Some((Ok(sse), Some((events, shutdown, filter))));
                }
                Next::Change(_) => continue,
                Next::Lagged => {
                    // Events were lost for this subscriber: say so, then end.
                    let sse = Event::default()
                        .event("resync_required")
                        .data(r#"{"reason":"lagged"}"#);
                    return Some((Ok(sse), None));
                }
                Next::End => return None,
            }
        }
    })
}

/// One change as an SSE event: `event: change`, `id: <revision>`, data the
/// state trigger payload plus `"revision"`.
fn change_event(event: &ChangeEvent) -> Event {
    let mut payload = event_payload(event);
    if let Value::Object(map) = &mut payload {
        map.insert("revision".into(), Value::from(event.revision));
    }
    Event::default()
        .event("change")
        .id(event.revision.to_string())
        .data(payload.to_string())
}

#[cfg(test)]
mod tests {
    use statewell_core::EventKind;

    use super::*;

    fn event(group: &str, key: &str) -> ChangeEvent {
        ChangeEvent {
            kind: EventKind::Created,
            group: group.into(),
            key: key.into(),
            old_value: None,
            new_value: Some(Value::from(1)),
            revision: 7,
        }
    }

    #[test]
    fn filters_by_group_key_and_prefix() {
        let all = Filter::default();
        assert!(all.matches(&event("g", "k")));
        let group = Filter {
            group: Some("g".into()),
            ..Filter::default()
        };
        assert!(group.matches(&event("g", "k")));
        assert!(!group.matches(&event("h", "k")));
        let key = Filter {
            group: Some("g".into()),
            key: Some("k".into()),
            ..Filter::default()
        };
        assert!(key.matches(&event("g", "k")));
        assert!(!key.matches(&event("g", "k2")));
        let prefix = Filter {
            group: Some("g".into()),
            prefix: Some("ord".into()),
            ..Filter::default()
        };
        assert!(prefix.matches(&event("g", "order-1")));
        assert!(!prefix.matches(&event("g", "x-order")));
    }
}
