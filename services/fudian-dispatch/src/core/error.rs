//! The one error type of the dispatch crate.

use fudian_events::dispatch::WorkOrderStatus;

use crate::core::order::OrderStage;

/// Everything the dispatch core refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// A crew lists a skill the dispatch core does not know.
    #[error(
        "crew {crew} has unknown skill {skill:?} (expected line, cable, live_line or transformer)"
    )]
    UnknownSkill { crew: String, skill: String },
    /// A work order was asked to move where its lifecycle does not go.
    #[error("work order {work_order} cannot go from {from:?} to {to:?}")]
    InvalidTransition {
        work_order: String,
        from: OrderStage,
        to: WorkOrderStatus,
    },
    /// The grid has no cells, so an incident cannot be given a responsible cell.
    #[error("the grid has no repair cells to place incident {incident} in")]
    NoCells { incident: String },
    /// An incident location is not a finite WGS84 position.
    #[error("incident {incident} has a non-finite location ({lon}, {lat})")]
    BadLocation {
        incident: String,
        lon: f64,
        lat: f64,
    },
    /// A configuration value is out of range.
    #[error("bad dispatch configuration {key}: {reason}")]
    BadConfig { key: &'static str, reason: String },
    /// An index does not name a work order or crew of the state.
    #[error("no {what} at index {index}")]
    NoSuchIndex { what: &'static str, index: usize },
}
