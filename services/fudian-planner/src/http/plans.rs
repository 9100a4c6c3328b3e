//! `GET /v1/planned/bundles` (一停多用 proposals) and `POST`/`GET /v1/planned/schedule`
//! (dates for pending jobs, optimised beside first-come, with both totals).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::service::Planner;

pub async fn bundles(State(planner): State<Arc<Planner>>) -> Result<Json<Value>, ApiError> {
    let bundles = planner.bundles().await?;
    let saving: f64 = bundles.iter().map(|b| b.saving_customer_hours).sum();
    Ok(Json(json!({
        "items": bundles,
        "saving_customer_hours": saving,
    })))
}

pub async fn propose(State(planner): State<Arc<Planner>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(planner.propose_schedule().await?))
}

pub async fn latest(State(planner): State<Arc<Planner>>) -> Result<Json<Value>, ApiError> {
    planner.latest_schedule().await?.map(Json).ok_or_else(|| {
        ApiError::NotFound("no schedule proposed yet: POST /v1/planned/schedule".into())
    })
}
