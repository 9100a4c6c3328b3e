//! The engine's persistent state: everything `snapshot` exports and `restore` reads back.
//! Elements and customers are grid indices (the state belongs to one grid package, checked
//! by a fingerprint); times are milliseconds since the Unix epoch.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use fudian_events::ids::{CallId, EventId, IncidentId, PlannedJobId};
use fudian_events::outage::{IncidentState, OutageCause, PriorityHints};
use fudian_grid::Grid;
use serde::{Deserialize, Serialize};

use super::config::Rules;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Identifies the grid package a state belongs to: sizes and a hash of every id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridFingerprint {
    pub buses: usize,
    pub branches: usize,
    pub customers: usize,
    pub id_hash: u64,
}

impl GridFingerprint {
    pub fn of(grid: &Grid) -> Self {
        // FNV-1a: stable across builds, unlike the std hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |text: &str| {
            for byte in text.bytes().chain([0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        grid.buses.iter().for_each(|b| eat(&b.id));
        grid.branches.iter().for_each(|b| eat(&b.id));
        grid.customers.iter().for_each(|c| eat(&c.id));
        Self {
            buses: grid.buses.len(),
            branches: grid.branches.len(),
            customers: grid.customers.len(),
            id_hash: hash,
        }
    }
}

/// Whether an incident's customers are dark in the topology (a switch is open) or only
/// inferred to be out (last gasps, calls, pings, crew reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    Topology,
    Inferred,
}

/// What an inferred incident covers: everything below a device, or one customer's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Device,
    Service(u32),
}

/// An active incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub seq: u32,
    pub id: IncidentId,
    pub revision: u32,
    pub state: IncidentState,
    pub basis: Basis,
    pub scope: Scope,
    /// The branch that is (or is presumed) open.
    pub device: u32,
    pub feeder: Option<u32>,
    pub cause: Option<OutageCause>,
    pub planned: bool,
    pub started_at: Millis,
    /// Customers out now, with the start of each one's interruption record.
    pub customers: BTreeMap<u32, Millis>,
    /// Customers heard from (last gasp, call, failed ping).
    pub heard: BTreeSet<u32>,
    pub calls: Vec<CallId>,
    pub last_evidence_at: Millis,
    /// Devices above the scope, nearest first (inferred incidents: roll-up registration).
    pub chain: Vec<u32>,
    /// Whether the incident counts toward roll-up thresholds (evidence is recent).
    pub fresh: bool,
    /// Whether some customer had a sustained interruption (else momentary only so far).
    pub sustained_seen: bool,
    /// The bus that lost supply when `device` opened (topology incidents).
    pub dark_end: Option<u32>,
    /// Branches of the dark region when the incident started (fault indicator lookup).
    pub region: Vec<u32>,
    /// Fault indicator reports: branch and whether it saw fault current.
    pub indicators: BTreeMap<u32, bool>,
    pub fault_section: Option<Vec<u32>>,
    pub priority: PriorityHints,
    pub etr: Millis,
    pub repaired: bool,
    pub parent: Option<IncidentId>,
}

/// A restored incident, remembered for nested-outage callbacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentIncident {
    pub id: IncidentId,
    pub device: u32,
    pub restored_at: Millis,
    pub customers: Vec<u32>,
}

/// A customer whose interruption under `incident` ended recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentRestore {
    pub incident: IncidentId,
    pub started_at: Millis,
    pub restored_at: Millis,
}

/// Where a held piece of evidence points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Spot {
    Customer(u32),
    Line(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HeldKind {
    LastGasp,
    Call {
        call_id: CallId,
        priority: PriorityHints,
    },
}

/// Evidence waiting for its hold window to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub token: u64,
    pub spot: Spot,
    pub kind: HeldKind,
    pub occurred_at: Millis,
    pub release_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PingPurpose {
    /// Is a predicted incident real?
    Confirm,
    /// Are customers still out after their incident restored (nested outages)?
    AfterRestore,
}

/// An outstanding ping request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub purpose: PingPurpose,
    pub incident: IncidentId,
    pub asked: BTreeSet<u32>,
    pub answered: BTreeSet<u32>,
    pub off: u32,
    pub expires_at: Millis,
}

/// The live state of a branch that differs from its normal state, or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub closed: bool,
    pub last_change: Millis,
    /// Order of the change, to replay changes in the order they were applied.
    pub order: u64,
}

/// A planned job's element, so its switching is not taken for a fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedMark {
    pub job: PlannedJobId,
    pub start: Millis,
    pub end: Millis,
}

/// The whole persistent state of an engine (see `Engine::snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    pub(crate) fingerprint: GridFingerprint,
    pub(crate) rules: Rules,
    pub(crate) storm: bool,
    pub(crate) switches: BTreeMap<u32, SwitchRecord>,
    pub(crate) incidents: BTreeMap<u32, Incident>,
    pub(crate) recent_incidents: BTreeMap<u32, RecentIncident>,
    pub(crate) recent_customers: HashMap<u32, RecentRestore>,
    pub(crate) recent_order: VecDeque<(Millis, u32)>,
    pub(crate) held: VecDeque<Held>,
    pub(crate) held_gasps: HashMap<u32, (u64, Millis)>,
    pub(crate) pings: BTreeMap<String, Ping>,
    pub(crate) fpi_pending: HashMap<u32, (bool, Millis)>,
    pub(crate) meter_last: HashMap<u32, Millis>,
    /// Power-restored messages that came with no interruption known for their meter,
    /// by meter: a last gasp reordered behind one is a blip already over, recorded when
    /// it comes (kept as long as recent restorations are).
    #[serde(default)]
    pub(crate) orphan_restores: HashMap<u32, Millis>,
    pub(crate) seen: VecDeque<EventId>,
    pub(crate) planned: HashMap<u32, PlannedMark>,
    pub(crate) next_incident: u32,
    pub(crate) next_ping: u64,
    pub(crate) next_token: u64,
    pub(crate) next_order: u64,
    pub(crate) last_tick: Millis,
}

impl EngineState {
    pub(crate) fn new(grid: &Grid, rules: Rules) -> Self {
        Self {
            fingerprint: GridFingerprint::of(grid),
            storm: rules.storm_mode,
            rules,
            switches: BTreeMap::new(),
            incidents: BTreeMap::new(),
            recent_incidents: BTreeMap::new(),
            recent_customers: HashMap::new(),
            recent_order: VecDeque::new(),
            held: VecDeque::new(),
            held_gasps: HashMap::new(),
            pings: BTreeMap::new(),
            fpi_pending: HashMap::new(),
            meter_last: HashMap::new(),
            orphan_restores: HashMap::new(),
            seen: VecDeque::new(),
            planned: HashMap::new(),
            next_incident: 1,
            next_ping: 1,
            next_token: 1,
            next_order: 1,
            last_tick: Millis::MIN,
        }
    }

    /// Number of incidents active now.
    pub fn active_incidents(&self) -> usize {
        self.incidents.len()
    }
}
