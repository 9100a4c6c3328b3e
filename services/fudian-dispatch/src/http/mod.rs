//! The dispatch service's HTTP API under `/v1`: crews and their positions (`crews`),
//! repair cells (`cells`), work orders with manual assignment and crew status updates
//! (`workorders`), the arrival-limit board (`board`) and the OpenAPI document (`openapi`).

mod board;
mod cells;
mod crews;
mod openapi;
mod workorders;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::runtime::Runtime;

/// Every route of the service; health routes are merged in by `run`.
pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/v1/crews", get(crews::list))
        .route("/v1/crews/{id}/position", post(crews::position))
        .route("/v1/cells", get(cells::list))
        .route("/v1/workorders", get(workorders::list))
        .route("/v1/workorders/{id}", get(workorders::detail))
        .route("/v1/workorders/{id}/assign", post(workorders::assign))
        .route("/v1/workorders/{id}/status", post(workorders::status))
        .route("/v1/board", get(board::show))
        .route("/v1/dispatch/openapi.json", get(openapi::document))
        .with_state(runtime)
}

/// Parses a JSON body, naming what is wrong with it (axum's own rejection is plain text).
fn json_body<T: DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("invalid {what}: {error}")))
}
