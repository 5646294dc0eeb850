//! Handlers for the state operations under `/v1/groups`. Each one validates
//! nothing itself ([`statewell_core::State`] does), times the operation for
//! `/metrics`, and shapes the result exactly like the worker protocol's.

use std::future::Future;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use statewell_core::{
    Mutation, OpError, OpOutcome, PageRequest, RawJson, StateError, UpdateOp, WriteOptions,
};

use super::conditions::{
    idempotency_key, not_modified, precondition, replayed_header, write_options,
};
use super::error::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use crate::app::AppState;
use crate::metrics::Outcome;
use crate::state_fn::StateFn;

#[derive(Deserialize)]
pub struct GroupParams {
    pub group: String,
}

#[derive(Deserialize)]
pub struct ItemParams {
    group: String,
    key: String,
}

/// `?prefix=&after=&limit=`; unknown parameters are refused so that a typo
/// (`?limt=10`) is not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// The body of `PATCH .../items/{key}`. Extra fields are ignored, as in the
/// worker protocol.
#[derive(Deserialize)]
pub struct UpdateBody {
    ops: Vec<UpdateOp>,
}

/// The answer of `PATCH .../items/{key}`: both values as the store's JSON
/// text (null when absent), and the ops that were skipped (always present).
#[derive(Serialize)]
struct UpdateReply {
    old_value: Option<RawJson>,
    new_value: Option<RawJson>,
    errors: Vec<OpError>,
}

/// Runs one state operation and records its kind, outcome and latency.
pub(super) async fn timed<T>(
    app: &AppState,
    function: StateFn,
    op: impl Future<Output = Result<T, StateError>>,
) -> Result<T, ApiError> {
    let start = Instant::now();
    let result = op.await;
    let outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err(err) => Outcome::Failed(err.code()),
    };
    app.metrics.record_op(function, outcome, start.elapsed());
    result.map_err(ApiError::from)
}

/// [`timed`] for a write with conditions or a key: a failed condition is
/// 412 (see `conditions`). Returns the outcome and whether it was replayed.
async fn timed_with(
    app: &AppState,
    function: StateFn,
    mutation: Mutation,
    options: WriteOptions,
) -> Result<(OpOutcome, bool), ApiError> {
    let start = Instant::now();
    let result = app.state.write_with(mutation, options).await;
    let outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err(err) => Outcome::Failed(err.code()),
    };
    app.metrics.record_op(function, outcome, start.elapsed());
    result.map_err(precondition)
}

/// The item's version as a strong entity tag, `"<version>"`.
fn etag(version: u64) -> [(header::HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(&format!("\"{version}\""))
        .expect("a quoted decimal number is a valid header value");
    [(header::ETAG, value)]
}

/// `GET /v1/groups` → `{"groups":[...]}`, sorted.
pub async fn list_groups(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let groups = timed(&app, StateFn::ListGroups, app.state.list_groups()).await?;
    Ok(Json(json!({ "groups": groups })))
}

/// `GET /v1/groups/{group}` → `{"group","items":N}` (0 for a group that
/// holds nothing).
pub async fn group_size(
    State(app): State<AppState>,
    PathParams(p): PathParams<GroupParams>,
) -> Result<Json<Value>, ApiError> {
    let items = timed(&app, StateFn::ListGroups, app.state.group_size(&p.group)).await?;
    Ok(Json(json!({ "group": p.group, "items": items })))
}

/// `DELETE /v1/groups/{group}` → `{"deleted":N}`.
pub async fn clear_group(
    State(app): State<AppState>,
    PathParams(p): PathParams<GroupParams>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = idempotency_key(&headers)?;
    let deleted = timed(&app, StateFn::Clear, app.state.clear_with(&p.group, key)).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// `GET /v1/groups/{group}/values` → the values in key order (state.list).
pub async fn list_values(
    State(app): State<AppState>,
    PathParams(p): PathParams<GroupParams>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let values = timed(&app, StateFn::List, app.state.list(&p.group)).await?;
    Ok(Json(values))
}

/// `GET /v1/groups/{group}/items?prefix=&after=&limit=` → `{"items":[{key,value,version}],"next"}`.
pub async fn list_items(
    State(app): State<AppState>,
    PathParams(p): PathParams<GroupParams>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let request = PageRequest {
        prefix: q.prefix,
        after: q.after,
        limit: q.limit,
    };
    let page = timed(
        &app,
        StateFn::ListItems,
        app.state.list_items(&p.group, &request),
    )
    .await?;
    Ok(Json(json!({ "items": page.items, "next": page.next })))
}

/// `GET /v1/groups/{group}/items/{key}` → the value, version in `ETag`; 404 when missing.
pub async fn get_item(
    State(app): State<AppState>,
    PathParams(p): PathParams<ItemParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match timed(&app, StateFn::Get, app.state.get(&p.group, &p.key)).await? {
        // `If-None-Match: "N"` while the version is still N.
        Some(found) if not_modified(&headers, found.version) => {
            Ok((StatusCode::NOT_MODIFIED, etag(found.version)).into_response())
        }
        Some(found) => Ok((etag(found.version), Json(found.value)).into_response()),
        None => Err(ApiError::not_found(&p.group, &p.key)),
    }
}

/// `PUT /v1/groups/{group}/items/{key}` with the value as body →
/// `{"old_value","new_value"}`; 201 when the item was created, 200 when replaced.
pub async fn put_item(
    State(app): State<AppState>,
    PathParams(p): PathParams<ItemParams>,
    headers: HeaderMap,
    JsonBody(value): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let options = write_options(&headers)?;
    if !options.is_plain() {
        let set = Mutation::Set {
            group: p.group,
            key: p.key,
            value,
        };
        let (outcome, replayed) = timed_with(&app, StateFn::Set, set, options).await?;
        let status = match outcome.old_value {
            None => StatusCode::CREATED,
            Some(_) => StatusCode::OK,
        };
        let body = json!({ "old_value": outcome.old_value, "new_value": outcome.new_value });
        let tag = etag(outcome.version.unwrap_or_default());
        return Ok((status, tag, replayed_header(replayed), Json(body)).into_response());
    }
    let outcome = timed(&app, StateFn::Set, app.state.set(&p.group, &p.key, value)).await?;
    let status = if outcome.old_value.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({ "old_value": outcome.old_value, "new_value": outcome.new_value });
    Ok((status, etag(outcome.version), Json(body)).into_response())
}

/// `PATCH /v1/groups/{group}/items/{key}` with `{"ops":[...]}` →
/// `{"old_value","new_value","errors"}` (`errors` always present, `[]` when every op applied).
pub async fn update_item(
    State(app): State<AppState>,
    PathParams(p): PathParams<ItemParams>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let options = write_options(&headers)?;
    if !options.is_plain() {
        let update = Mutation::Update {
            group: p.group,
            key: p.key,
            ops: body.ops,
        };
        let (outcome, replayed) = timed_with(&app, StateFn::Update, update, options).await?;
        let body = json!({
            "old_value": outcome.old_value,
            "new_value": outcome.new_value,
            "errors": outcome.errors,
        });
        let tag = outcome.version.map(etag);
        return Ok((tag, replayed_header(replayed), Json(body)).into_response());
    }
    let update = app.state.update_raw(&p.group, &p.key, body.ops);
    let outcome = timed(&app, StateFn::Update, update).await?;
    let json = Json(UpdateReply {
        old_value: outcome.old_value,
        new_value: outcome.new_value,
        errors: outcome.errors,
    });
    // No version when nothing was written (an empty op list on a missing key).
    Ok(match outcome.version {
        Some(version) => (etag(version), json).into_response(),
        None => json.into_response(),
    })
}

/// `DELETE /v1/groups/{group}/items/{key}` → the removed value; 404 when missing.
pub async fn delete_item(
    State(app): State<AppState>,
    PathParams(p): PathParams<ItemParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let options = write_options(&headers)?;
    if !options.is_plain() {
        let (group, key) = (p.group.clone(), p.key.clone());
        let delete = Mutation::Delete { group, key };
        let (outcome, replayed) = timed_with(&app, StateFn::Delete, delete, options).await?;
        return match outcome.old_value {
            Some(old) => Ok((replayed_header(replayed), Json(old)).into_response()),
            None => Err(ApiError::not_found(&p.group, &p.key)),
        };
    }
    match timed(&app, StateFn::Delete, app.state.delete(&p.group, &p.key)).await? {
        Some(old) => Ok(Json(old).into_response()),
        None => Err(ApiError::not_found(&p.group, &p.key)),
    }
}
