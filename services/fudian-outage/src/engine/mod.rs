//! The outage engine: a deterministic state machine over one grid. Field events go in
//! through `handle(input, now)`, timers through `tick(now)`; both return the effects the
//! service must carry out (publish, ping, answer, write records). `snapshot` exports the
//! state and `restore` rebuilds an engine from it after a restart.
//!
//! Parts: `switching` (switch states, confirmed incidents, restoration, fault indicators),
//! `predict` (hold and roll-up of last gasps and calls, pings, momentaries, nested
//! outages), `report` (incident events, counts, ETR), `state` (what is persisted),
//! `config` (the rules), `effect` and `error`.

mod config;
mod effect;
mod error;
mod predict;
mod report;
mod state;
mod switching;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use fudian_events::Event;
use fudian_events::envelope::Envelope;
use fudian_events::field::{CrewReportKind, FieldEvent, OpenCause, SwitchState};
use fudian_events::ids::{EventId, IncidentId};
use fudian_events::outage::{IncidentState, OutageCause};
use fudian_events::planned::PlannedEvent;
use fudian_grid::topology::{Operation, Topology};
use fudian_grid::{BranchKind, Grid};

pub use config::{EtrTable, RollUpRules, Rules};
pub use effect::{
    CallAnswered, Effect, EvidenceAttached, EvidenceKind, Ignored, InterruptionEnded,
    InterruptionKind, InterruptionStarted, InterruptionTransferred, InterruptionVoided,
    MeterInterruption, SupplyChanged,
};
pub use error::EngineError;
pub use state::{EngineState, GridFingerprint};

use state::{Incident, Millis, PlannedMark};

/// "No incident" in the per-customer index.
const NO_INCIDENT: u32 = u32::MAX;

/// An input to the engine: a field event, or a planned-outage event (so planned switching
/// is recorded as planned, not taken for a fault).
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Field(&'a Envelope<FieldEvent>),
    Planned(&'a Envelope<PlannedEvent>),
}

impl<'a> From<&'a Envelope<FieldEvent>> for Input<'a> {
    fn from(envelope: &'a Envelope<FieldEvent>) -> Self {
        Self::Field(envelope)
    }
}

impl<'a> From<&'a Envelope<PlannedEvent>> for Input<'a> {
    fn from(envelope: &'a Envelope<PlannedEvent>) -> Self {
        Self::Planned(envelope)
    }
}

/// A read-only view of an active incident, for the service's API.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    pub id: IncidentId,
    pub state: IncidentState,
    pub revision: u32,
    pub device: String,
    pub cause: Option<OutageCause>,
    pub started_at: DateTime<FixedOffset>,
    pub customers_out: Vec<String>,
    pub fault_section: Option<Vec<String>>,
    pub parent: Option<IncidentId>,
}

/// Lookups derived from the state and the grid, rebuilt on restore.
#[derive(Debug)]
struct Indexes {
    /// Incident seq per customer, `NO_INCIDENT` when none.
    incident_of: Vec<u32>,
    by_id: HashMap<IncidentId, u32>,
    /// Inferred device-scope incidents by their device.
    predicted_at: HashMap<u32, u32>,
    /// Inferred incidents registered below each device of their chain.
    below: HashMap<u32, Below>,
    /// Topology incidents by the branches of their dark region.
    region_owner: HashMap<u32, u32>,
    /// Incidents counted in `below` (predicted, inferred).
    registered: HashSet<u32>,
    seen: HashSet<EventId>,
}

/// Roll-up statistics below one device.
#[derive(Debug, Default, Clone)]
struct Below {
    /// Inferred incidents below (may hold stale seqs; checked on use).
    incidents: Vec<u32>,
    /// Fresh device-scope predictions below, and the customers heard in all fresh ones.
    fresh_devices: u32,
    fresh_heard: u32,
}

/// The outage engine over one grid.
#[derive(Debug)]
pub struct Engine {
    grid: Arc<Grid>,
    topology: Topology,
    /// Per bus: the public transformer (台区) whose low-voltage region holds it.
    lv_transformer: Vec<u32>,
    /// Per bus: adjacent (bus, branch) pairs, compressed rows.
    adjacency_start: Vec<u32>,
    adjacency: Vec<(u32, u32)>,
    state: EngineState,
    index: Indexes,
}

/// Milliseconds of a timestamp.
fn millis(at: DateTime<FixedOffset>) -> Millis {
    at.timestamp_millis()
}

/// A timestamp in the utility's offset (+08:00).
fn time(ms: Millis) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&offset)
}

use chrono::Offset as _;

fn secs(s: u32) -> Millis {
    Millis::from(s) * 1000
}

impl Engine {
    /// A fresh engine: every switch in its normal state, nothing out.
    pub fn new(grid: Arc<Grid>, rules: Rules) -> Self {
        let state = EngineState::new(&grid, rules);
        Self::build(grid, state)
    }

    /// Rebuilds an engine from a snapshot taken on the same grid package.
    pub fn restore(grid: Arc<Grid>, state: EngineState) -> Result<Self, EngineError> {
        let fingerprint = GridFingerprint::of(&grid);
        if fingerprint != state.fingerprint {
            return Err(EngineError::GridMismatch(format!(
                "snapshot of {:?}, grid is {fingerprint:?}",
                state.fingerprint
            )));
        }
        let bad_customer = state
            .incidents
            .values()
            .flat_map(|i| i.customers.keys())
            .any(|&c| c as usize >= grid.customers.len());
        let bad_branch = state
            .switches
            .keys()
            .any(|&b| b as usize >= grid.branches.len());
        if bad_customer || bad_branch {
            return Err(EngineError::GridMismatch("index out of range".into()));
        }
        Ok(Self::build(grid, state))
    }

    fn build(grid: Arc<Grid>, state: EngineState) -> Self {
        let mut topology = Topology::new(&grid);
        let mut changes: Vec<(u64, u32, bool)> = state
            .switches
            .iter()
            .map(|(&b, r)| (r.order, b, r.closed))
            .collect();
        changes.sort_unstable();
        for (_, branch, closed) in changes {
            topology.apply(if closed {
                Operation::Close(branch)
            } else {
                Operation::Open(branch)
            });
        }
        let bus_count = grid.buses.len();
        let mut adjacency_start = vec![0u32; bus_count + 1];
        for b in &grid.branches {
            adjacency_start[b.from_bus as usize + 1] += 1;
            adjacency_start[b.to_bus as usize + 1] += 1;
        }
        for i in 0..bus_count {
            adjacency_start[i + 1] += adjacency_start[i];
        }
        let mut fill = adjacency_start.clone();
        let mut adjacency = vec![(0u32, 0u32); adjacency_start[bus_count] as usize];
        for (i, b) in grid.branches.iter().enumerate() {
            let i = to_u32(i);
            adjacency[fill[b.from_bus as usize] as usize] = (b.to_bus, i);
            fill[b.from_bus as usize] += 1;
            adjacency[fill[b.to_bus as usize] as usize] = (b.from_bus, i);
            fill[b.to_bus as usize] += 1;
        }
        let mut engine = Self {
            lv_transformer: vec![NO_INCIDENT; bus_count],
            adjacency_start,
            adjacency,
            topology,
            index: Indexes {
                incident_of: vec![NO_INCIDENT; grid.customers.len()],
                by_id: HashMap::new(),
                predicted_at: HashMap::new(),
                below: HashMap::new(),
                region_owner: HashMap::new(),
                registered: HashSet::new(),
                seen: state.seen.iter().copied().collect(),
            },
            grid,
            state,
        };
        engine.mark_lv_regions();
        let seqs: Vec<u32> = engine.state.incidents.keys().copied().collect();
        for seq in seqs {
            engine.index_incident(seq);
        }
        engine
    }

    /// Marks the low-voltage region of every public transformer: buses reached from its
    /// LV side without crossing another transformer.
    fn mark_lv_regions(&mut self) {
        let grid = Arc::clone(&self.grid);
        let mut stack = Vec::new();
        for (i, branch) in grid.branches.iter().enumerate() {
            let i = to_u32(i);
            if !grid.is_public_transformer(i)
                || self.lv_transformer[branch.to_bus as usize] != NO_INCIDENT
            {
                continue;
            }
            self.lv_transformer[branch.to_bus as usize] = i;
            stack.push(branch.to_bus);
            while let Some(bus) = stack.pop() {
                let b = bus as usize;
                for k in self.adjacency_start[b]..self.adjacency_start[b + 1] {
                    let (next, via) = self.adjacency[k as usize];
                    if grid.branches[via as usize].kind != BranchKind::Transformer
                        && self.lv_transformer[next as usize] == NO_INCIDENT
                    {
                        self.lv_transformer[next as usize] = i;
                        stack.push(next);
                    }
                }
            }
        }
    }

    fn adjacent(&self, bus: u32) -> &[(u32, u32)] {
        let b = bus as usize;
        &self.adjacency[self.adjacency_start[b] as usize..self.adjacency_start[b + 1] as usize]
    }

    /// Adds an incident of the state to the derived lookups.
    fn index_incident(&mut self, seq: u32) {
        let Some(incident) = self.state.incidents.get(&seq) else {
            return;
        };
        for &c in incident.customers.keys() {
            self.index.incident_of[c as usize] = seq;
        }
        self.index.by_id.insert(incident.id.clone(), seq);
        for &b in &incident.region {
            self.index.region_owner.insert(b, seq);
        }
        self.register_roll_up(seq);
    }

    /// Removes an incident from the customer, id and region lookups (entries only where
    /// they still point at it); the roll-up statistics are `unregister_roll_up`'s.
    fn unindex_incident(&mut self, seq: u32) {
        let Some(incident) = self.state.incidents.get(&seq) else {
            return;
        };
        for &c in incident.customers.keys() {
            if self.index.incident_of[c as usize] == seq {
                self.index.incident_of[c as usize] = NO_INCIDENT;
            }
        }
        self.index.by_id.remove(&incident.id);
        for &b in &incident.region {
            if self.index.region_owner.get(&b) == Some(&seq) {
                self.index.region_owner.remove(&b);
            }
        }
    }

    /// The engine's state, to persist (see `restore`).
    pub fn snapshot(&self) -> EngineState {
        self.state.clone()
    }

    /// The grid the engine runs on.
    pub fn grid(&self) -> &Arc<Grid> {
        &self.grid
    }

    /// The live switching state and energization index.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn rules(&self) -> &Rules {
        &self.state.rules
    }

    /// Switches the storm rule set on or off; held evidence keeps its release time.
    pub fn set_storm_mode(&mut self, on: bool) {
        self.state.storm = on;
    }

    pub fn storm_mode(&self) -> bool {
        self.state.storm
    }

    /// Active incidents, oldest first.
    pub fn incidents(&self) -> Vec<IncidentView> {
        self.state
            .incidents
            .values()
            .map(|i| self.view(i))
            .collect()
    }

    pub fn incident(&self, id: &str) -> Option<IncidentView> {
        let seq = self.index.by_id.get(id)?;
        self.state.incidents.get(seq).map(|i| self.view(i))
    }

    /// The active incident a customer is out in.
    pub fn incident_of_customer(&self, customer_id: &str) -> Option<IncidentId> {
        let c = self.grid.customer_index(customer_id)?;
        let seq = self.index.incident_of.get(c as usize).copied()?;
        self.state.incidents.get(&seq).map(|i| i.id.clone())
    }

    /// Number of pieces of evidence waiting for their hold window to end.
    pub fn held_count(&self) -> usize {
        self.state.held_gasps.len()
            + self
                .state
                .held
                .iter()
                .filter(|h| matches!(h.kind, state::HeldKind::Call { .. }))
                .count()
    }

    fn view(&self, incident: &Incident) -> IncidentView {
        IncidentView {
            id: incident.id.clone(),
            state: incident.state,
            revision: incident.revision,
            device: self.grid.branch(incident.device).id.to_string(),
            cause: incident.cause,
            started_at: time(incident.started_at),
            customers_out: incident
                .customers
                .keys()
                .map(|&c| self.grid.customer(c).id.to_string())
                .collect(),
            fault_section: incident.fault_section.as_ref().map(|s| {
                s.iter()
                    .map(|&b| self.grid.branch(b).id.to_string())
                    .collect()
            }),
            parent: incident.parent.clone(),
        }
    }

    /// Applies one input. On error the state is unchanged and the input can be
    /// dead-lettered (or retried, see `EngineError::is_transient`).
    pub fn handle(
        &mut self,
        input: Input<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<Effect>, EngineError> {
        let now = millis(now);
        let (id, effects) = match input {
            Input::Field(envelope) => {
                self.check_duplicate(envelope.id)?;
                (
                    envelope.id,
                    self.handle_field(&envelope.event, millis(envelope.occurred_at), now)?,
                )
            }
            Input::Planned(envelope) => {
                self.check_duplicate(envelope.id)?;
                (envelope.id, self.handle_planned(&envelope.event)?)
            }
        };
        self.remember(id);
        Ok(effects)
    }

    fn check_duplicate(&self, id: EventId) -> Result<(), EngineError> {
        if self.index.seen.contains(&id) {
            Err(EngineError::Duplicate(id))
        } else {
            Ok(())
        }
    }

    fn remember(&mut self, id: EventId) {
        if self.state.rules.dedup_capacity == 0 {
            return;
        }
        self.index.seen.insert(id);
        self.state.seen.push_back(id);
        while self.state.seen.len() > self.state.rules.dedup_capacity {
            if let Some(old) = self.state.seen.pop_front() {
                self.index.seen.remove(&old);
            }
        }
    }

    fn handle_field(
        &mut self,
        event: &FieldEvent,
        at: Millis,
        now: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        match event {
            FieldEvent::ScadaSwitchOpened(e) => {
                let cause = match e.cause {
                    OpenCause::Trip => switching::OpenReason::Trip,
                    OpenCause::Manual => switching::OpenReason::Manual,
                    OpenCause::Remote => switching::OpenReason::Remote,
                };
                self.switch_event(e.device.as_str(), SwitchState::Open, cause, None, at, now)
            }
            FieldEvent::ScadaSwitchClosed(e) => {
                let reclose = matches!(e.cause, fudian_events::field::CloseCause::Reclose);
                let reason = if reclose {
                    switching::OpenReason::Reclose
                } else {
                    switching::OpenReason::Manual
                };
                self.switch_event(
                    e.device.as_str(),
                    SwitchState::Closed,
                    reason,
                    None,
                    at,
                    now,
                )
            }
            FieldEvent::FpiFault(e) => self.fault_indicator(e.device.as_str(), e.fault_current, at),
            FieldEvent::AmiLastGasp(e) => self.last_gasp(e.meter.as_str(), at, now),
            FieldEvent::AmiPowerRestored(e) => self.power_restored(e.meter.as_str(), at),
            FieldEvent::AmiPingResult(e) => self.ping_result(
                e.request_id.as_str(),
                e.meter.as_str(),
                e.energized,
                at,
                now,
            ),
            FieldEvent::CallTrouble(call) => self.trouble_call(call, at, now),
            FieldEvent::CrewReport(report) => {
                let incident = report.incident.as_ref().map(|i| i.as_str());
                match &report.kind {
                    CrewReportKind::Switching { device, state } => self.switch_event(
                        device.as_str(),
                        *state,
                        switching::OpenReason::Manual,
                        incident,
                        at,
                        now,
                    ),
                    kind => self.crew_report(incident, kind, at, now),
                }
            }
            FieldEvent::AmiPingRequest(_) => Err(EngineError::NotForEngine(event.event_type())),
        }
    }

    fn handle_planned(&mut self, event: &PlannedEvent) -> Result<Vec<Effect>, EngineError> {
        match event {
            PlannedEvent::Approved(job) => {
                let mut branches = Vec::with_capacity(job.elements.len());
                for element in &job.elements {
                    let b = self
                        .grid
                        .branch_index(element.as_str())
                        .ok_or_else(|| EngineError::UnknownElement(element.to_string()))?;
                    branches.push(b);
                }
                let slack = secs(self.state.rules.planned_slack_secs);
                for b in branches {
                    self.state.planned.insert(
                        b,
                        PlannedMark {
                            job: job.job.clone(),
                            start: millis(job.window.start) - slack,
                            end: millis(job.window.end) + slack,
                        },
                    );
                }
                Ok(Vec::new())
            }
            PlannedEvent::Cancelled(cancelled) => {
                self.state
                    .planned
                    .retain(|_, mark| mark.job != cancelled.job);
                Ok(Vec::new())
            }
            PlannedEvent::Started(_) | PlannedEvent::Completed(_) => {
                Ok(vec![Effect::Ignored(Ignored {
                    reason: "planned start and completion are seen through the switching".into(),
                })])
            }
        }
    }

    /// Releases held evidence whose window ended, expires pings and forgets old restores.
    pub fn tick(&mut self, now: DateTime<FixedOffset>) -> Vec<Effect> {
        let now = millis(now);
        self.state.last_tick = self.state.last_tick.max(now);
        let mut effects = self.release_held(now);
        self.expire(now, &mut effects);
        effects
    }

    fn customer_index(&self, id: &str) -> Result<u32, EngineError> {
        self.grid
            .customer_index(id)
            .ok_or_else(|| EngineError::UnknownCustomer(id.to_owned()))
    }

    fn customer_id(&self, c: u32) -> fudian_events::ids::CustomerId {
        fudian_events::ids::CustomerId::new(self.grid.customer(c).id.to_string())
    }

    fn element_id(&self, b: u32) -> fudian_events::ids::ElementId {
        fudian_events::ids::ElementId::new(self.grid.branch(b).id.to_string())
    }

    fn active_incident_of(&self, c: u32) -> Option<u32> {
        let seq = *self.index.incident_of.get(c as usize)?;
        (seq != NO_INCIDENT).then_some(seq)
    }
}

/// A `usize` position as a `u32` index; grids stay far below 4 billion elements.
fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
