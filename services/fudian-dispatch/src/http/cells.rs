//! `GET /v1/cells`: the repair cells (网格) of the grid package with their crews and open
//! work orders.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::model::CellView;
use crate::runtime::Runtime;

#[derive(Debug, Serialize)]
pub struct CellList {
    items: Vec<CellView>,
}

pub async fn list(State(runtime): State<Arc<Runtime>>) -> Json<CellList> {
    Json(CellList {
        items: runtime.read(|model| model.cells()).await,
    })
}
