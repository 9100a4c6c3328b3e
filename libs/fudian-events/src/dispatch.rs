//! `fudian.dispatch`: the dispatch service's work orders (网格化抢修) and its estimates of
//! restoration time, for notify, the outage service and the planner.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AreaClass, Device, GeoPoint};
use crate::ids::{CellId, CrewId, IncidentId, WorkOrderId};

/// The topic exchange of dispatch events.
pub const EXCHANGE: &str = "fudian.dispatch";

event_enum! {
    /// Every event on `fudian.dispatch`.
    pub enum DispatchEvent on EXCHANGE {
        /// A repair work order was opened for an incident.
        WorkOrderCreated(WorkOrderCreated): WORKORDER_CREATED = "workorder.created",
            version 1, Send;
        /// A crew was assigned (or reassigned) to a work order.
        WorkOrderAssigned(WorkOrderAssigned): WORKORDER_ASSIGNED = "workorder.assigned",
            version 1, Send;
        /// A work order moved on: assigned, en route, on site, repaired, closed.
        WorkOrderStatus(WorkOrderStatusChanged): WORKORDER_STATUS = "workorder.status",
            version 1, Send;
        /// The estimated restoration time of an incident changed.
        EtrChanged(EtrChanged): OUTAGE_ETR = "outage.etr", version 1, Send;
    }
}

impl DispatchEvent {
    /// The incident the event is about.
    pub fn incident(&self) -> &IncidentId {
        match self {
            Self::WorkOrderCreated(created) => &created.incident,
            Self::WorkOrderAssigned(assigned) => &assigned.incident,
            Self::WorkOrderStatus(status) => &status.incident,
            Self::EtrChanged(etr) => &etr.incident,
        }
    }
}

/// How urgent a work order is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderPriority {
    /// Danger to people (wire down, hazard) or critical customers out.
    Emergency,
    /// A confirmed outage.
    Urgent,
    /// Anything else (a predicted outage, a single customer).
    Normal,
}

/// Payload of `workorder.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkOrderCreated {
    /// The work order.
    pub work_order: WorkOrderId,
    /// The incident it repairs.
    pub incident: IncidentId,
    /// The repair grid cell (网格) responsible for it.
    pub cell: CellId,
    /// The cell's area class, which sets the repair time limit.
    pub area_class: AreaClass,
    /// How urgent it is.
    pub priority: WorkOrderPriority,
    /// The device to go to.
    pub device: Device,
    /// Where to go (WGS84).
    pub location: GeoPoint,
    /// The repair time limit (抢修时限) for the area class, from the incident's start.
    pub repair_due_by: DateTime<FixedOffset>,
    /// Customers out when the order was opened.
    pub customers_out: u32,
}

/// Who assigned a crew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignedBy {
    /// The dispatch service's optimiser.
    Auto,
    /// A human dispatcher.
    Dispatcher,
}

/// Payload of `workorder.assigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkOrderAssigned {
    /// The work order.
    pub work_order: WorkOrderId,
    /// The incident it repairs.
    pub incident: IncidentId,
    /// The crew now assigned.
    pub crew: CrewId,
    /// The crew assigned before, for a reassignment.
    pub previous_crew: Option<CrewId>,
    /// Who assigned it.
    pub assigned_by: AssignedBy,
    /// When the crew is expected on site, if estimated.
    pub eta: Option<DateTime<FixedOffset>>,
}

/// Where a work order stands. Orders move forward only: assigned, en route, on site,
/// repaired, closed; `cancelled` ends an order whose incident was cancelled.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderStatus {
    /// A crew is assigned.
    Assigned,
    /// The crew is on its way.
    EnRoute,
    /// The crew is on site.
    OnSite,
    /// The fault is repaired.
    Repaired,
    /// The order is closed.
    Closed,
    /// The order was cancelled with its incident.
    Cancelled,
}

/// Payload of `workorder.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkOrderStatusChanged {
    /// The work order.
    pub work_order: WorkOrderId,
    /// The incident it repairs.
    pub incident: IncidentId,
    /// The crew on it, if one is assigned.
    pub crew: Option<CrewId>,
    /// The new status.
    pub status: WorkOrderStatus,
    /// A note from the crew or the dispatcher.
    pub note: Option<String>,
}

/// Who set an estimated restoration time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EtrSource {
    /// The dispatch service's model (travel and repair times).
    Model,
    /// The crew on site.
    Crew,
    /// A human dispatcher.
    Dispatcher,
}

/// Payload of `outage.etr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EtrChanged {
    /// The incident.
    pub incident: IncidentId,
    /// The work order, if the estimate comes from one.
    pub work_order: Option<WorkOrderId>,
    /// The new estimated restoration time.
    pub etr: DateTime<FixedOffset>,
    /// The estimate it replaces, if any.
    pub previous_etr: Option<DateTime<FixedOffset>>,
    /// Who set it.
    pub source: EtrSource,
    /// Why it changed, in words (may be shown to customers).
    pub reason: String,
}
