//! `GET /v1/customers/{id}/status`: whether a customer has supply, the incident they are
//! out in and its estimated restoration time.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use crate::error::ApiError;
use crate::runtime::Runtime;
use crate::store;

#[derive(Debug, Serialize)]
pub struct CustomerStatus {
    customer: String,
    supplied: bool,
    incident: Option<String>,
    incident_state: Option<String>,
    estimated_restoration: Option<serde_json::Value>,
}

pub async fn status(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
) -> Result<Json<CustomerStatus>, ApiError> {
    if runtime.grid().customer_index(&id).is_none() {
        return Err(ApiError::UnknownCustomer(id));
    }
    let incident = runtime
        .read(|engine| engine.incident_of_customer(&id))
        .await;
    let Some(incident) = incident else {
        return Ok(Json(CustomerStatus {
            customer: id,
            supplied: true,
            incident: None,
            incident_state: None,
            estimated_restoration: None,
        }));
    };
    let row = store::incident(runtime.store(), incident.as_str()).await?;
    let (state, etr) = match row {
        Some(row) => {
            let snapshot: serde_json::Value =
                serde_json::from_str(&row.snapshot).unwrap_or_default();
            (Some(row.state), snapshot.get("etr").cloned())
        }
        None => (None, None),
    };
    Ok(Json(CustomerStatus {
        customer: id,
        supplied: false,
        incident: Some(incident.as_str().to_owned()),
        incident_state: state,
        estimated_restoration: etr,
    }))
}
