//! `POST /v1/switching`: a dispatcher's manual switching (`{"device":"S12","state":"open"}`).
//!
//! It is published as a field event (`scada.switch.opened`/`closed`, cause `manual`,
//! source `fudian-outage-api`) through the outbox on `fudian.field`, so it reaches the
//! engine through the same queue, journal and inbox as SCADA's own reports, in order with
//! them. The answer (202) carries the event id; the effect shows once it is consumed.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use fudian_events::envelope::Envelope;
use fudian_events::field::{
    CloseCause, FieldEvent, OpenCause, ScadaSwitchClosed, ScadaSwitchOpened, SwitchState,
};
use fudian_events::ids::ElementId;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::runtime::Runtime;

/// The producer of switching events entered through the API.
pub const API_PRODUCER: &str = "fudian-outage-api";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchingRequest {
    device: String,
    state: SwitchState,
}

#[derive(Debug, Serialize)]
pub struct SwitchingAccepted {
    event_id: String,
    event_type: &'static str,
}

pub async fn operate(
    State(runtime): State<Arc<Runtime>>,
    body: Bytes,
) -> Result<(StatusCode, Json<SwitchingAccepted>), ApiError> {
    let request: SwitchingRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("invalid switching request: {error}")))?;
    let grid = runtime.grid();
    let branch = grid
        .branch_index(&request.device)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown device `{}`", request.device)))?;
    if !grid.branch(branch).is_switch() {
        return Err(ApiError::BadRequest(format!(
            "device `{}` is not a switch",
            request.device
        )));
    }
    let device = ElementId::new(request.device);
    let event = match request.state {
        SwitchState::Open => FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
            device,
            cause: OpenCause::Manual,
        }),
        SwitchState::Closed => FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed {
            device,
            cause: CloseCause::Manual,
        }),
    };
    let envelope = Envelope::new(API_PRODUCER, event);
    let mut wire = envelope.to_wire();
    wire.exchange.clone_from(&runtime.config().exchanges.field);
    let mut tx = runtime.store().begin().await?;
    tx.enqueue(&wire).await?;
    tx.commit().await?;
    tracing::info!(event.id = %envelope.id, event.type = envelope.event_type(), "manual switching accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(SwitchingAccepted {
            event_id: envelope.id.to_string(),
            event_type: envelope.event_type(),
        }),
    ))
}
