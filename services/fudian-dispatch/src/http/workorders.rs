//! `GET /v1/workorders` (filters `incident`, `state`, `limit`), `GET /v1/workorders/{id}`,
//! `POST /v1/workorders/{id}/assign` (a dispatcher's manual assignment or reassignment;
//! the order is pinned to the crew) and `POST /v1/workorders/{id}/status` (the crew app:
//! `en_route`, `on_site`, `repaired`, with an optional ETR the model never overwrites).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, FixedOffset};
use fudian_events::dispatch::WorkOrderStatus;
use serde::{Deserialize, Serialize};

use crate::core::order::OrderStage;
use crate::error::ApiError;
use crate::http::json_body;
use crate::model::OrderRecord;
use crate::runtime::Runtime;
use crate::store;

const MAX_LIST: i64 = 5000;
const DEFAULT_LIST: i64 = 500;

#[derive(Debug, Serialize)]
pub struct OrderList {
    items: Vec<OrderRecord>,
}

pub async fn list(
    State(runtime): State<Arc<Runtime>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<OrderList>, ApiError> {
    if let Some(key) = query
        .keys()
        .find(|key| !matches!(key.as_str(), "incident" | "state" | "limit"))
    {
        return Err(ApiError::BadRequest(format!(
            "unknown query parameter `{key}` (expected incident, state, limit)"
        )));
    }
    let states: Option<Vec<&str>> = match query.get("state").map(String::as_str) {
        None => None,
        Some("open") => Some(
            OrderStage::ALL
                .into_iter()
                .filter(|s| !s.is_finished())
                .map(OrderStage::as_str)
                .collect(),
        ),
        Some(state) => match OrderStage::parse(state) {
            Some(stage) => Some(vec![stage.as_str()]),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "state `{state}` is not one of open, pending, assigned, en_route, on_site, \
                     repaired, closed, cancelled"
                )));
            }
        },
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIST,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit `{text}` is not a positive integer"))
            })?
            .min(MAX_LIST),
    };
    let items = store::list_orders(
        runtime.store(),
        query.get("incident").map(String::as_str),
        states.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(OrderList { items }))
}

pub async fn detail(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
) -> Result<Json<OrderRecord>, ApiError> {
    if let Some(record) = runtime.read(|model| model.order(&id)).await {
        return Ok(Json(record));
    }
    store::order(runtime.store(), &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("unknown work order `{id}`")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    crew: String,
}

pub async fn assign(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<OrderRecord>, ApiError> {
    let request: AssignRequest = json_body(&body, "assignment")?;
    if !runtime.read(|model| model.has_crew(&request.crew)).await {
        return Err(ApiError::BadRequest(format!(
            "unknown crew `{}`",
            request.crew
        )));
    }
    let order = id.clone();
    runtime
        .act(move |model, now, out| model.assign_manually(&order, &request.crew, now, out))
        .await?;
    current(&runtime, &id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    /// `en_route`, `on_site` or `repaired`.
    status: WorkOrderStatus,
    /// The crew's own estimate of the restoration time.
    etr: Option<DateTime<FixedOffset>>,
    note: Option<String>,
}

pub async fn status(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<OrderRecord>, ApiError> {
    let request: StatusRequest = json_body(&body, "status update")?;
    if !matches!(
        request.status,
        WorkOrderStatus::EnRoute | WorkOrderStatus::OnSite | WorkOrderStatus::Repaired
    ) {
        return Err(ApiError::BadRequest(
            "status must be en_route, on_site or repaired".to_owned(),
        ));
    }
    let order = id.clone();
    runtime
        .act(move |model, now, out| {
            model.set_status(&order, request.status, request.etr, request.note, now, out)
        })
        .await?;
    current(&runtime, &id).await
}

/// The order as it stands now: in memory while open, else as stored.
async fn current(runtime: &Runtime, id: &str) -> Result<Json<OrderRecord>, ApiError> {
    if let Some(record) = runtime.read(|model| model.order(id)).await {
        return Ok(Json(record));
    }
    store::order(runtime.store(), id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("unknown work order `{id}`")))
}
