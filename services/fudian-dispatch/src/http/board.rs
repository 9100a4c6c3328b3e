//! `GET /v1/board`: the arrival-limit board, open orders no crew has reached yet that are
//! at risk of (within the margin), or past, their on-site limit; most pressing first.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use fudian_events::envelope::now_shanghai;

use crate::model::Board;
use crate::runtime::Runtime;

pub async fn show(State(runtime): State<Arc<Runtime>>) -> Json<Board> {
    let now = now_shanghai();
    Json(runtime.read(|model| model.board(now)).await)
}
