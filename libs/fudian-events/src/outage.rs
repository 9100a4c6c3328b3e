//! `fudian.outage`: the outage service's incidents (故障研判), for dispatch, notify and the
//! planner.
//!
//! Each event carries a `revision` that grows by one per event of the incident: events can
//! arrive out of order, and a consumer keeps the highest revision it has seen. The
//! affected customer ids travel in the events, so notify needs no lookup to reach them.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AffectedCounts, Device, GeoPoint};
use crate::ids::{CustomerId, ElementId, IncidentId};

/// The topic exchange of incident events.
pub const EXCHANGE: &str = "fudian.outage";

event_enum! {
    /// Every event on `fudian.outage`.
    pub enum OutageEvent on EXCHANGE {
        /// A new incident: customers lost supply (predicted or confirmed).
        Detected(IncidentSnapshot): OUTAGE_DETECTED = "outage.detected", version 1, Send;
        /// An incident changed: confirmed, located, grown, merged, or its estimate moved.
        Updated(IncidentSnapshot): OUTAGE_UPDATED = "outage.updated", version 1, Send;
        /// Some or all of an incident's customers have supply again.
        Restored(OutageRestored): OUTAGE_RESTORED = "outage.restored", version 1, Send;
        /// An incident turned out not to be one, or was merged into another.
        Cancelled(OutageCancelled): OUTAGE_CANCELLED = "outage.cancelled", version 1, Send;
    }
}

impl OutageEvent {
    /// The incident the event is about.
    pub fn incident(&self) -> &IncidentId {
        match self {
            Self::Detected(snapshot) | Self::Updated(snapshot) => &snapshot.incident,
            Self::Restored(restored) => &restored.incident,
            Self::Cancelled(cancelled) => &cancelled.incident,
        }
    }

    /// The incident's revision after this event.
    pub fn revision(&self) -> u32 {
        match self {
            Self::Detected(snapshot) | Self::Updated(snapshot) => snapshot.revision,
            Self::Restored(restored) => restored.revision,
            Self::Cancelled(cancelled) => cancelled.revision,
        }
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Inferred from last gasps or calls; no switch is known to have opened.
    Predicted,
    /// A switch opening (SCADA or crew) or a failed ping confirmed it.
    Confirmed,
    /// Every customer has supply again.
    Restored,
    /// Not an outage after all, or merged into another incident.
    Cancelled,
}

/// What caused an incident, as far as the outage service can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutageCause {
    /// A fault: a protective device tripped or a fault indicator saw fault current.
    Fault,
    /// A switch was opened by hand on site.
    ManualSwitching,
    /// A switch was opened by remote control.
    RemoteSwitching,
    /// Part of a planned job's switching.
    Planned,
}

/// Hints for dispatch to rank the work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PriorityHints {
    /// A wire is reported down (a call or a crew said so).
    pub wire_down: bool,
    /// Any other danger to people reported.
    pub hazard: bool,
}

/// Payload of `outage.detected` and `outage.updated`: the whole incident as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentSnapshot {
    /// The incident.
    pub incident: IncidentId,
    /// 1 for `outage.detected`, then one more per event of the incident.
    pub revision: u32,
    /// Where the incident stands.
    pub state: IncidentState,
    /// The open (or presumed open) device that took the customers out.
    pub device: Device,
    /// Head breaker of the feeder, if known; work ordered per feeder is routed by it.
    pub feeder: Option<ElementId>,
    /// Elements of the faulted section (between the nearest switches around the fault),
    /// if the fault is located.
    pub fault_section: Option<Vec<ElementId>>,
    /// The cause, if known.
    pub cause: Option<OutageCause>,
    /// When the first customer lost supply, RFC 3339 with offset.
    pub started_at: DateTime<FixedOffset>,
    /// How much is out now.
    pub counts: AffectedCounts,
    /// Every customer out now.
    pub customers_out: Vec<CustomerId>,
    /// The critical customers among `customers_out`.
    pub critical_customers_out: Vec<CustomerId>,
    /// Estimated restoration time (ETR): the outage service's default from the area
    /// class's repair time limit until dispatch sends `outage.etr`.
    pub etr: DateTime<FixedOffset>,
    /// Location of `device` (WGS84).
    pub location: GeoPoint,
    /// Hints for dispatch to rank the work.
    pub priority: PriorityHints,
}

/// How supply came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestorationMethod {
    /// The protective device reclosed (a transient fault).
    Reclose,
    /// Switching: the faulted section isolated, healthy sections fed from the source or
    /// through tie switches (故障隔离与转供).
    Switching,
    /// The fault was repaired.
    Repair,
}

/// Payload of `outage.restored`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutageRestored {
    /// The incident.
    pub incident: IncidentId,
    /// The incident's revision after this event.
    pub revision: u32,
    /// `restored` when nobody is left out, else still `confirmed`.
    pub state: IncidentState,
    /// The device of the incident.
    pub device: Device,
    /// When the first customer lost supply.
    pub started_at: DateTime<FixedOffset>,
    /// When these customers got supply back.
    pub restored_at: DateTime<FixedOffset>,
    /// `true` when some customers are still out (`customers_still_out` not empty).
    pub partial: bool,
    /// How supply came back, if known.
    pub method: Option<RestorationMethod>,
    /// How much came back with this event.
    pub restored_counts: AffectedCounts,
    /// The customers who got supply back with this event.
    pub customers_restored: Vec<CustomerId>,
    /// How much is still out.
    pub still_out_counts: AffectedCounts,
    /// The customers still out.
    pub customers_still_out: Vec<CustomerId>,
}

/// Why an incident was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Meter pings or SCADA showed the customers have supply: a false prediction.
    NotConfirmed,
    /// The incident is part of another one (`merged_into`).
    Merged,
    /// An operator cancelled it.
    Operator,
}

/// Payload of `outage.cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutageCancelled {
    /// The incident.
    pub incident: IncidentId,
    /// The incident's revision after this event.
    pub revision: u32,
    /// Always `cancelled`.
    pub state: IncidentState,
    /// Why.
    pub reason: CancelReason,
    /// The incident it was merged into, for `merged`.
    pub merged_into: Option<IncidentId>,
    /// The customers the incident had reported out, so notify can correct what it sent.
    pub customers: Vec<CustomerId>,
    /// A note from the operator or the outage service.
    pub note: Option<String>,
}
