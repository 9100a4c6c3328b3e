//! `GET /v1/incidents` (active and past, `?state=`), `GET /v1/incidents/{id}` (with its
//! evidence) and `GET /v1/incidents/{id}/customers` (paginated by customer id).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::runtime::Runtime;
use crate::store::{self, IncidentRow};

const MAX_LIST: i64 = 1000;
const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `active` (predicted or confirmed), `predicted`, `confirmed`, `restored`, `cancelled`.
    state: Option<String>,
    limit: Option<u32>,
}

/// An incident in a list.
#[derive(Debug, Serialize)]
pub struct IncidentItem {
    id: String,
    device: String,
    state: String,
    customers_out: i64,
    started_at: DateTime<Utc>,
    revision: i64,
    restored_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl From<&IncidentRow> for IncidentItem {
    fn from(row: &IncidentRow) -> Self {
        Self {
            id: row.id.clone(),
            device: row.device.clone(),
            state: row.state.clone(),
            customers_out: row.customers_out,
            started_at: row.started_at,
            revision: row.revision,
            restored_at: row.restored_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct IncidentList {
    items: Vec<IncidentItem>,
}

pub async fn list(
    State(runtime): State<Arc<Runtime>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let states: Option<Vec<String>> = match query.state.as_deref() {
        None => None,
        Some("active") => Some(vec!["predicted".into(), "confirmed".into()]),
        Some(state @ ("predicted" | "confirmed" | "restored" | "cancelled")) => {
            Some(vec![state.to_owned()])
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state `{other}` is not one of active, predicted, confirmed, restored, cancelled"
            )));
        }
    };
    let limit = i64::from(query.limit.unwrap_or(500)).clamp(1, MAX_LIST);
    let rows = store::list_incidents(runtime.store(), states.as_deref(), limit).await?;
    Ok(Json(IncidentList {
        items: rows.iter().map(IncidentItem::from).collect(),
    }))
}

#[derive(Debug, Serialize)]
pub struct Evidence {
    kind: String,
    customer: Option<String>,
    recorded_at: DateTime<Utc>,
}

/// One incident with its last published snapshot and its evidence.
#[derive(Debug, Serialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    item: IncidentItem,
    /// The last `outage.detected`/`outage.updated` payload: cause, feeder, fault section,
    /// counts, ETR, location, priority hints.
    snapshot: serde_json::Value,
    evidence: Vec<Evidence>,
}

pub async fn detail(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let row = store::incident(runtime.store(), &id)
        .await?
        .ok_or_else(|| ApiError::UnknownIncident(id.clone()))?;
    let evidence = store::evidence_of(runtime.store(), &id)
        .await?
        .into_iter()
        .map(|e| Evidence {
            kind: e.kind,
            customer: e.customer_id,
            recorded_at: e.recorded_at,
        })
        .collect();
    let snapshot = serde_json::from_str(&row.snapshot).unwrap_or(serde_json::Value::Null);
    Ok(Json(IncidentDetail {
        item: IncidentItem::from(&row),
        snapshot,
        evidence,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next` cursor of the previous page.
    after: Option<String>,
    limit: Option<u32>,
}

/// A customer's interruption record in an incident.
#[derive(Debug, Serialize)]
pub struct CustomerItem {
    id: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    planned: bool,
    /// `momentary` or `sustained` once ended.
    kind: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CustomerPage {
    items: Vec<CustomerItem>,
    next: Option<String>,
}

pub async fn customers(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit {limit} is not between 1 and {MAX_PAGE}"
        )));
    }
    if store::incident(runtime.store(), &id).await?.is_none() {
        return Err(ApiError::UnknownIncident(id));
    }
    let after = query.after.unwrap_or_default();
    let mut rows =
        store::incident_customers(runtime.store(), &id, &after, i64::from(limit) + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|r| r.customer_id.clone()))
        .flatten();
    Ok(Json(CustomerPage {
        items: rows
            .into_iter()
            .map(|r| CustomerItem {
                id: r.customer_id,
                started_at: r.started_at,
                ended_at: r.ended_at,
                planned: r.planned,
                kind: r.kind,
            })
            .collect(),
        next,
    }))
}
