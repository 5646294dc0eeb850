//! `POST /v1/transaction`: the worker protocol's `state::transaction` over
//! HTTP. Body `{"ops":[...]}` (the same op objects; `group` may stand for
//! `scope`), `Idempotency-Key` header; answers `{"results":[...]}`, or 409
//! `conflict` / `update_failed` with the failing `op_index`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use serde::Deserialize;
use serde_json::{Value, json};
use statewell_core::{StateError, TxOutcome};

use super::conditions::{idempotency_key, replayed_header};
use super::error::ApiError;
use super::extract::JsonBody;
use super::openapi::{error_response, json_body, json_response};
use super::route::{Route, Verb};
use super::state_routes::timed;
use crate::app::AppState;
use crate::state_fn::StateFn;
use crate::txn_wire::{OpKind, parse_ops, results_json};

pub static ROUTES: &[Route] = &[Route {
    verb: Verb::Post,
    path: "/v1/transaction",
    operation_id: "transaction",
    public: false,
    handler: |m| on(m, transaction),
    doc: || {
        json!({
            "summary": "Apply up to 1,000 writes and checks, all or nothing (state::transaction)",
            "description": "Each op is `{type: set|update|delete|check, scope (or group), key, value?, ops?, if_version?, if_absent?}`. Every condition is checked as the earlier ops leave the item; when one fails nothing is applied and the answer is 409 `conflict` with `op_index` and `current_version`; an update op that fails is 409 `update_failed`. Send `Idempotency-Key` to make a retry safe.",
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 256},
                 "description": "A repeat within the retention window answers the first result and applies nothing"},
            ],
            "requestBody": json_body("The ops", json!({"$ref": "#/components/schemas/TransactionRequest"})),
            "responses": {
                "200": json_response("Each op's result, in order", json!({"$ref": "#/components/schemas/TransactionResult"})),
                "400": error_response("Invalid ops (`invalid_argument`), body not JSON (`invalid_json`)"),
                "409": error_response("A condition failed (`conflict`, with `op_index` and `current_version`) or an update op failed (`update_failed`)"),
                "413": error_response("A value over the limit (`value_too_large`) or body over the engine's limit (`body_too_large`)"),
                "422": error_response("The idempotency key came with another request (`idempotency_mismatch`)"),
                "500": error_response("The store failed"),
            }
        })
    },
}];

#[derive(Deserialize)]
struct TransactionBody {
    ops: Value,
}

async fn transaction(
    State(app): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TransactionBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (outcome, kinds) = timed(&app, StateFn::Transaction, run(&app, &body.ops, key)).await?;
    let replayed = replayed_header(outcome.replayed);
    Ok((replayed, Json(results_json(&outcome, &kinds))).into_response())
}

async fn run(
    app: &AppState,
    ops: &Value,
    key: Option<String>,
) -> Result<(TxOutcome, Vec<OpKind>), StateError> {
    let (ops, kinds) = parse_ops(ops)?;
    let outcome = app.state.transaction(ops, key).await?;
    Ok((outcome, kinds))
}
