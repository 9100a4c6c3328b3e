//! The planner's HTTP API under `/v1/planned`: jobs and their state machine (`jobs`),
//! bundle and schedule proposals (`plans`), budgets and the weekly report (`budgets`),
//! reliability indices and the frequent-outage list (`reliability`), and the hand-written
//! OpenAPI document (`openapi`).

mod budgets;
mod jobs;
mod openapi;
mod plans;
mod reliability;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::service::Planner;

/// Every route of the service; health routes are merged in by `run`.
pub fn router(planner: Arc<Planner>) -> Router {
    Router::new()
        .route("/v1/planned/jobs", post(jobs::create).get(jobs::list))
        .route("/v1/planned/jobs/{id}", get(jobs::detail))
        .route("/v1/planned/jobs/{id}/assessment", get(jobs::assessment))
        .route("/v1/planned/jobs/{id}/assess", post(jobs::assess))
        .route("/v1/planned/jobs/{id}/approve", post(jobs::approve))
        .route("/v1/planned/jobs/{id}/reject", post(jobs::reject))
        .route("/v1/planned/jobs/{id}/schedule", post(jobs::schedule))
        .route("/v1/planned/jobs/{id}/start", post(jobs::start))
        .route("/v1/planned/jobs/{id}/complete", post(jobs::complete))
        .route("/v1/planned/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/planned/bundles", get(plans::bundles))
        .route(
            "/v1/planned/schedule",
            post(plans::propose).get(plans::latest),
        )
        .route("/v1/planned/budgets", get(budgets::budgets))
        .route("/v1/planned/reports/weekly", get(budgets::weekly))
        .route(
            "/v1/planned/reliability",
            get(reliability::stored).post(reliability::posted),
        )
        .route("/v1/planned/frequent-outages", get(reliability::frequent))
        .route("/v1/planned/openapi.json", get(openapi::document))
        .with_state(planner)
}

/// Parses a JSON body (an empty body as `{}`), naming what is wrong.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    serde::Deserialize::deserialize(&mut deserializer)
        .map_err(|error| ApiError::BadRequest(format!("invalid body: {error}")))
}
