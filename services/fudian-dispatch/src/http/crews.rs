//! `GET /v1/crews` (state and position of every crew) and `POST /v1/crews/{id}/position`
//! (the crew app's position, in WGS84 or GCJ-02, the datum of Chinese map apps, stored as
//! WGS84).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use fudian_events::envelope::now_shanghai;
use fudian_events::field::Crs;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http::json_body;
use crate::model::CrewView;
use crate::runtime::Runtime;

#[derive(Debug, Serialize)]
pub struct CrewList {
    items: Vec<CrewView>,
}

pub async fn list(State(runtime): State<Arc<Runtime>>) -> Json<CrewList> {
    let now = now_shanghai();
    Json(CrewList {
        items: runtime.read(|model| model.crews(now)).await,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionRequest {
    lon: f64,
    lat: f64,
    /// `WGS84` (the default) or `GCJ-02`.
    crs: Option<Crs>,
}

pub async fn position(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CrewView>, ApiError> {
    let request: PositionRequest = json_body(&body, "position")?;
    let given = [request.lon, request.lat];
    let wgs84 = match request.crs.unwrap_or(Crs::Wgs84) {
        Crs::Wgs84 => given,
        Crs::Gcj02 if given.iter().all(|v| v.is_finite()) => {
            fudian_grid::gcj02::gcj02_to_wgs84(given)
        }
        Crs::Gcj02 => given,
    };
    let crew = id.clone();
    runtime
        .act(move |model, _, _| model.report_position(&crew, wgs84))
        .await?;
    let now = now_shanghai();
    let view = runtime
        .read(|model| model.crews(now).into_iter().find(|c| c.id == id))
        .await;
    view.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("unknown crew `{id}`")))
}
