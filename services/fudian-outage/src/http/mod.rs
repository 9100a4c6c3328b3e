//! The outage service's HTTP API under `/v1`: incidents (`incidents`), customer status
//! (`customers`), manual switching (`switching`) and the OpenAPI document (`openapi`).

mod customers;
mod incidents;
mod openapi;
mod switching;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::runtime::Runtime;

/// Every route of the service; health routes are merged in by `run`.
pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::detail))
        .route("/v1/incidents/{id}/customers", get(incidents::customers))
        .route("/v1/customers/{id}/status", get(customers::status))
        .route("/v1/switching", post(switching::operate))
        .route("/v1/outage/openapi.json", get(openapi::document))
        .with_state(runtime)
}
