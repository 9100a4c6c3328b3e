//! What the engine asks the service to do: events to publish, pings to send, calls to
//! answer, and the interruption records to write (one per customer and incident).

use chrono::{DateTime, FixedOffset};
use fudian_events::field::AmiPingRequest;
use fudian_events::ids::{CallId, CustomerId, ElementId, IncidentId};
use fudian_events::outage::{IncidentState, OutageEvent};

/// One thing the service must do after an input or a tick, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Publish on `fudian.outage`.
    Publish(OutageEvent),
    /// Publish `ami.ping_request` on `fudian.field`.
    PingRequest(AmiPingRequest),
    /// A switching change of the live state and whom it changed.
    SupplyChanged(SupplyChanged),
    /// Open interruption records: one per customer, under `incident`.
    InterruptionStarted(InterruptionStarted),
    /// Close interruption records.
    InterruptionEnded(InterruptionEnded),
    /// Open or closed records of these customers move from one incident to another with
    /// their start unchanged, and are open again: a merge, or a nested outage found after
    /// its parent restored. The customer-minutes are counted once, under `to`.
    InterruptionTransferred(InterruptionTransferred),
    /// Delete the records: the incident was a false prediction.
    InterruptionVoided(InterruptionVoided),
    /// A complete record seen by a meter alone, in no incident (typically momentary).
    MeterInterruption(MeterInterruption),
    /// Tell the call center what is known about a call.
    CallAnswered(CallAnswered),
    /// Evidence that joined an active incident (no change to its extent).
    EvidenceAttached(EvidenceAttached),
    /// A valid input that changed nothing, and why (for logs and metrics).
    Ignored(Ignored),
}

/// Whether an interruption was momentary or sustained (IEEE 1366, 5 minutes by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterruptionKind {
    Momentary,
    Sustained,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupplyChanged {
    pub device: ElementId,
    /// Customers energized before and not after.
    pub lost: Vec<CustomerId>,
    /// Customers dark before and energized after.
    pub restored: Vec<CustomerId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterruptionStarted {
    pub incident: IncidentId,
    pub started_at: DateTime<FixedOffset>,
    pub planned: bool,
    pub customers: Vec<CustomerId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterruptionEnded {
    pub incident: IncidentId,
    pub started_at: DateTime<FixedOffset>,
    pub ended_at: DateTime<FixedOffset>,
    pub planned: bool,
    pub kind: InterruptionKind,
    pub customers: Vec<CustomerId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterruptionTransferred {
    pub from: IncidentId,
    pub to: IncidentId,
    pub customers: Vec<CustomerId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterruptionVoided {
    pub incident: IncidentId,
    pub customers: Vec<CustomerId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeterInterruption {
    pub customer: CustomerId,
    pub started_at: DateTime<FixedOffset>,
    pub ended_at: DateTime<FixedOffset>,
    pub kind: InterruptionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallAnswered {
    pub call_id: CallId,
    /// The incident the call belongs to; `None` when it is held for roll-up or found no
    /// outage.
    pub incident: Option<IncidentId>,
    pub state: Option<IncidentState>,
    pub started_at: Option<DateTime<FixedOffset>>,
    pub etr: Option<DateTime<FixedOffset>>,
}

/// What kind of evidence joined an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvidenceKind {
    LastGasp,
    Call,
    FaultIndicator,
    PingOff,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceAttached {
    pub incident: IncidentId,
    pub customer: Option<CustomerId>,
    pub evidence: EvidenceKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub reason: String,
}
