//! Incident bookkeeping shared by switching and prediction: creating incidents, moving
//! customers in and out with their interruption records, and the `fudian.outage` events
//! (snapshot, restored, cancelled) with counts by area class, critical customers and the
//! default ETR.

use std::collections::{BTreeMap, BTreeSet};

use fudian_events::common::{
    AffectedCounts, AreaClass as EventAreaClass, Device, DeviceKind, GeoPoint,
};
use fudian_events::ids::{CustomerId, IncidentId};
use fudian_events::outage::{
    CancelReason, IncidentSnapshot, IncidentState, OutageCancelled, OutageCause, OutageEvent,
    OutageRestored, PriorityHints, RestorationMethod,
};
use fudian_grid::{AreaClass, BranchKind, SwitchDevice};

use super::effect::{
    Effect, InterruptionEnded, InterruptionKind, InterruptionStarted, InterruptionTransferred,
    InterruptionVoided,
};
use super::state::{Basis, Incident, Millis, RecentIncident, RecentRestore, Scope};
use super::{Engine, NO_INCIDENT, time};

/// Why and how an incident is cancelled.
pub(super) struct Cancellation {
    pub reason: CancelReason,
    pub merged_into: Option<IncidentId>,
    pub note: Option<String>,
    /// Delete the records (a false prediction) rather than end them.
    pub void: bool,
}

/// What a new incident starts as.
pub(super) struct NewIncident {
    pub state: IncidentState,
    pub basis: Basis,
    pub scope: Scope,
    pub device: u32,
    pub cause: Option<OutageCause>,
    pub planned: bool,
    pub started_at: Millis,
    pub chain: Vec<u32>,
    pub parent: Option<IncidentId>,
}

pub(super) fn device_kind(branch: &fudian_grid::Branch) -> DeviceKind {
    match (branch.kind, branch.device) {
        (BranchKind::Line, _) => DeviceKind::Line,
        (BranchKind::Transformer, _) => DeviceKind::Transformer,
        (BranchKind::Switch, Some(SwitchDevice::Breaker)) => DeviceKind::Breaker,
        (BranchKind::Switch, Some(SwitchDevice::Recloser)) => DeviceKind::Recloser,
        (BranchKind::Switch, Some(SwitchDevice::Fuse)) => DeviceKind::Fuse,
        (BranchKind::Switch, Some(SwitchDevice::Sectionalizer)) => DeviceKind::Sectionalizer,
        (BranchKind::Switch, Some(SwitchDevice::Disconnector)) => DeviceKind::Disconnector,
        (BranchKind::Switch, Some(SwitchDevice::LoadBreakSwitch) | None) => {
            DeviceKind::LoadBreakSwitch
        }
    }
}

fn event_area_class(class: AreaClass) -> EventAreaClass {
    match class {
        AreaClass::Core => EventAreaClass::Core,
        AreaClass::Urban => EventAreaClass::Urban,
        AreaClass::Town => EventAreaClass::Town,
        AreaClass::Rural => EventAreaClass::Rural,
    }
}

/// Interruptions up to the threshold are momentary.
pub(super) fn interruption_kind(
    started: Millis,
    ended: Millis,
    momentary_ms: Millis,
) -> InterruptionKind {
    if ended.saturating_sub(started) <= momentary_ms {
        InterruptionKind::Momentary
    } else {
        InterruptionKind::Sustained
    }
}

impl Engine {
    pub(super) fn customer_ids(&self, customers: impl IntoIterator<Item = u32>) -> Vec<CustomerId> {
        customers.into_iter().map(|c| self.customer_id(c)).collect()
    }

    /// Counts of a set of customers: by area class, low voltage, public transformers (台区)
    /// and critical.
    pub(super) fn counts(&self, customers: impl IntoIterator<Item = u32>) -> AffectedCounts {
        let mut counts = AffectedCounts::default();
        let mut transformers = BTreeSet::new();
        for c in customers {
            let customer = self.grid.customer(c);
            counts.customers += 1;
            counts
                .customers_by_area_class
                .add(event_area_class(customer.area_class), 1);
            let transformer = self.lv_transformer[customer.bus as usize];
            if transformer != NO_INCIDENT {
                counts.low_voltage_customers += 1;
                transformers.insert(transformer);
            }
            if customer.critical {
                counts.critical_customers += 1;
            }
        }
        counts.public_transformers = super::to_u32(transformers.len());
        counts
    }

    fn device(&self, branch: u32) -> Device {
        Device {
            id: self.element_id(branch),
            kind: device_kind(self.grid.branch(branch)),
        }
    }

    fn location(&self, branch: u32) -> GeoPoint {
        let b = self.grid.branch(branch);
        let [lon, lat] = b
            .geometry
            .get(b.geometry.len() / 2)
            .copied()
            .unwrap_or(self.grid.bus(b.from_bus).position);
        GeoPoint { lon, lat }
    }

    /// The default ETR: the most demanding area class among the customers out.
    fn default_etr(&self, incident: &Incident) -> Millis {
        let class = incident
            .customers
            .keys()
            .map(|&c| self.grid.customer(c).area_class)
            .min()
            .unwrap_or(AreaClass::Urban);
        let kind = device_kind(self.grid.branch(incident.device));
        let minutes = self.state.rules.etr.minutes(event_area_class(class), kind);
        incident.started_at + Millis::from(minutes) * 60_000
    }

    /// Inserts an empty incident and indexes it; `publish` announces it.
    pub(super) fn create_incident(&mut self, new: NewIncident) -> u32 {
        let seq = self.state.next_incident;
        self.state.next_incident += 1;
        let id = IncidentId::new(format!("INC-{seq:06}"));
        let incident = Incident {
            seq,
            id,
            revision: 0,
            state: new.state,
            basis: new.basis,
            scope: new.scope,
            device: new.device,
            feeder: None,
            cause: new.cause,
            planned: new.planned,
            started_at: new.started_at,
            customers: BTreeMap::new(),
            heard: BTreeSet::new(),
            calls: Vec::new(),
            last_evidence_at: new.started_at,
            chain: new.chain,
            fresh: true,
            sustained_seen: false,
            dark_end: None,
            region: Vec::new(),
            indicators: BTreeMap::new(),
            fault_section: None,
            priority: PriorityHints::default(),
            etr: new.started_at,
            repaired: false,
            parent: new.parent,
        };
        self.state.incidents.insert(seq, incident);
        self.index_incident(seq);
        seq
    }

    /// Adds customers not in any incident, with one interruption record each from `start`.
    pub(super) fn add_customers(
        &mut self,
        seq: u32,
        customers: &[u32],
        start: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        let mut added = Vec::with_capacity(customers.len());
        for &c in customers {
            // A customer is out in one incident at a time.
            let owner = self.index.incident_of[c as usize];
            if (owner == NO_INCIDENT || owner == seq)
                && incident.customers.insert(c, start).is_none()
            {
                self.index.incident_of[c as usize] = seq;
                added.push(c);
            }
        }
        incident.started_at = incident.started_at.min(start);
        let (id, planned) = (incident.id.clone(), incident.planned);
        if !added.is_empty() {
            effects.push(Effect::InterruptionStarted(InterruptionStarted {
                incident: id,
                started_at: time(start),
                planned,
                customers: self.customer_ids(added),
            }));
        }
    }

    /// Moves customers (with their record starts) from one incident to another.
    pub(super) fn transfer_customers(
        &mut self,
        from: u32,
        to: u32,
        customers: &[u32],
        effects: &mut Vec<Effect>,
    ) {
        if from == to || customers.is_empty() {
            return;
        }
        let mut moved = Vec::with_capacity(customers.len());
        let Some(source) = self.state.incidents.get_mut(&from) else {
            return;
        };
        let from_id = source.id.clone();
        for &c in customers {
            if let Some(start) = source.customers.remove(&c) {
                let was_heard = source.heard.remove(&c);
                moved.push((c, start, was_heard));
            }
        }
        let source_registered = self.index.registered.contains(&from);
        let (source_fresh, source_chain) = (source.fresh, source.chain.clone());
        let unheard = moved.iter().filter(|m| m.2).count();
        if source_registered && source_fresh {
            self.adjust_below(&source_chain, 0, -count_i64(unheard));
        }
        let Some(target) = self.state.incidents.get_mut(&to) else {
            return;
        };
        let to_id = target.id.clone();
        let mut heard_added = 0;
        for &(c, start, was_heard) in &moved {
            target.customers.insert(c, start);
            target.started_at = target.started_at.min(start);
            if was_heard && target.heard.insert(c) {
                heard_added += 1;
            }
            self.index.incident_of[c as usize] = to;
        }
        let target_registered = self.index.registered.contains(&to);
        let (target_fresh, target_chain) = (target.fresh, target.chain.clone());
        if target_registered && target_fresh {
            self.adjust_below(&target_chain, 0, heard_added);
        }
        if !moved.is_empty() {
            effects.push(Effect::InterruptionTransferred(InterruptionTransferred {
                from: from_id,
                to: to_id,
                customers: self.customer_ids(moved.iter().map(|m| m.0)),
            }));
        }
    }

    /// Adds `devices` and `heard` to the fresh statistics of every device of a chain.
    pub(super) fn adjust_below(&mut self, chain: &[u32], devices: i64, heard: i64) {
        for &d in chain {
            let below = self.index.below.entry(d).or_default();
            below.fresh_devices = add_signed(below.fresh_devices, devices);
            below.fresh_heard = add_signed(below.fresh_heard, heard);
        }
    }

    /// Takes an incident out of the roll-up statistics (to change it, or it is confirmed
    /// or gone). Idempotent.
    pub(super) fn unregister_roll_up(&mut self, seq: u32) {
        if !self.index.registered.remove(&seq) {
            return;
        }
        let Some(incident) = self.state.incidents.get(&seq) else {
            return;
        };
        if self.index.predicted_at.get(&incident.device) == Some(&seq) {
            self.index.predicted_at.remove(&incident.device);
        }
        if incident.fresh {
            let device = i64::from(incident.scope == Scope::Device);
            let (chain, heard) = (incident.chain.clone(), incident.heard.len());
            self.adjust_below(&chain, -device, -count_i64(heard));
        }
    }

    /// Puts a predicted inferred incident (back) into the roll-up statistics. Idempotent.
    pub(super) fn register_roll_up(&mut self, seq: u32) {
        let Some(incident) = self.state.incidents.get(&seq) else {
            return;
        };
        if incident.basis != Basis::Inferred
            || incident.state != IncidentState::Predicted
            || !self.index.registered.insert(seq)
        {
            return;
        }
        if incident.scope == Scope::Device {
            self.index.predicted_at.insert(incident.device, seq);
        }
        let device = i64::from(incident.scope == Scope::Device);
        let (chain, heard, fresh) = (incident.chain.clone(), incident.heard.len(), incident.fresh);
        for &d in &chain {
            let list = &mut self.index.below.entry(d).or_default().incidents;
            // Lazily deleted list: re-registering the newest entry adds nothing.
            if list.last() != Some(&seq) {
                list.push(seq);
            }
        }
        if fresh {
            self.adjust_below(&chain, device, count_i64(heard));
        }
    }

    /// Ends the records of customers leaving an incident at `at`; returns those removed.
    pub(super) fn end_customers(
        &mut self,
        seq: u32,
        customers: &[u32],
        at: Millis,
        effects: &mut Vec<Effect>,
    ) -> Vec<u32> {
        let momentary_ms = super::secs(self.state.rules.momentary_secs);
        let registered = self.index.registered.contains(&seq);
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return Vec::new();
        };
        let registered = registered && incident.fresh;
        let mut groups: BTreeMap<(Millis, bool), Vec<u32>> = BTreeMap::new();
        let mut removed = Vec::with_capacity(customers.len());
        let mut unheard = 0i64;
        for &c in customers {
            if let Some(start) = incident.customers.remove(&c) {
                if incident.heard.remove(&c) {
                    unheard += 1;
                }
                let momentary =
                    interruption_kind(start, at, momentary_ms) == InterruptionKind::Momentary;
                incident.sustained_seen |= !momentary;
                groups.entry((start, momentary)).or_default().push(c);
                removed.push(c);
            }
        }
        let (id, planned, chain) = (
            incident.id.clone(),
            incident.planned,
            incident.chain.clone(),
        );
        if registered && unheard > 0 {
            self.adjust_below(&chain, 0, -unheard);
        }
        for ((start, momentary), group) in groups {
            for &c in &group {
                if self.index.incident_of[c as usize] == seq {
                    self.index.incident_of[c as usize] = NO_INCIDENT;
                }
                self.state.recent_customers.insert(
                    c,
                    RecentRestore {
                        incident: id.clone(),
                        started_at: start,
                        restored_at: at,
                    },
                );
                self.state.recent_order.push_back((at, c));
            }
            effects.push(Effect::InterruptionEnded(InterruptionEnded {
                incident: id.clone(),
                started_at: time(start),
                ended_at: time(at),
                planned,
                kind: if momentary {
                    InterruptionKind::Momentary
                } else {
                    InterruptionKind::Sustained
                },
                customers: self.customer_ids(group),
            }));
        }
        if !removed.is_empty() {
            let recent = self
                .state
                .recent_incidents
                .entry(seq)
                .or_insert_with(|| RecentIncident {
                    id,
                    device: 0,
                    restored_at: at,
                    customers: Vec::new(),
                });
            recent.restored_at = at;
            recent.customers.extend_from_slice(&removed);
        }
        if let (Some(recent), Some(incident)) = (
            self.state.recent_incidents.get_mut(&seq),
            self.state.incidents.get(&seq),
        ) {
            recent.device = incident.device;
        }
        removed
    }

    /// Publishes the incident as it stands (`detected` the first time, else `updated`).
    pub(super) fn publish(&mut self, seq: u32, effects: &mut Vec<Effect>) {
        let etr = match self.state.incidents.get(&seq) {
            Some(incident) => self.default_etr(incident),
            None => return,
        };
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        incident.revision += 1;
        incident.etr = etr;
        let first = incident.revision == 1;
        let incident = &self.state.incidents[&seq];
        let customers: Vec<u32> = incident.customers.keys().copied().collect();
        let critical: Vec<u32> = customers
            .iter()
            .copied()
            .filter(|&c| self.grid.customer(c).critical)
            .collect();
        let snapshot = IncidentSnapshot {
            incident: incident.id.clone(),
            revision: incident.revision,
            state: incident.state,
            device: self.device(incident.device),
            feeder: incident.feeder.map(|f| self.element_id(f)),
            fault_section: incident
                .fault_section
                .as_ref()
                .map(|s| s.iter().map(|&b| self.element_id(b)).collect()),
            cause: incident.cause,
            started_at: time(incident.started_at),
            counts: self.counts(customers.iter().copied()),
            customers_out: self.customer_ids(customers),
            critical_customers_out: self.customer_ids(critical),
            etr: time(etr),
            location: self.location(incident.device),
            priority: incident.priority,
        };
        effects.push(Effect::Publish(if first {
            OutageEvent::Detected(snapshot)
        } else {
            OutageEvent::Updated(snapshot)
        }));
    }

    /// Publishes `outage.restored` for customers just ended; removes the incident when
    /// nobody is left, and asks for pings to find nested outages.
    pub(super) fn publish_restored(
        &mut self,
        seq: u32,
        restored: &[u32],
        at: Millis,
        method: Option<RestorationMethod>,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        incident.revision += 1;
        let incident = &self.state.incidents[&seq];
        let still: Vec<u32> = incident.customers.keys().copied().collect();
        let event = OutageRestored {
            incident: incident.id.clone(),
            revision: incident.revision,
            state: if still.is_empty() {
                IncidentState::Restored
            } else {
                incident.state
            },
            device: self.device(incident.device),
            started_at: time(incident.started_at),
            restored_at: time(at),
            partial: !still.is_empty(),
            method,
            restored_counts: self.counts(restored.iter().copied()),
            customers_restored: self.customer_ids(restored.iter().copied()),
            still_out_counts: self.counts(still.iter().copied()),
            customers_still_out: self.customer_ids(still.iter().copied()),
        };
        let id = event.incident.clone();
        effects.push(Effect::Publish(OutageEvent::Restored(event)));
        if still.is_empty() {
            self.remove_incident(seq);
        }
        if method.is_none() && restored.len() <= 1 {
            // A meter that reported its own supply back needs no ping.
            return;
        }
        let sample: Vec<u32> = restored
            .iter()
            .copied()
            .take(self.state.rules.max_ping_meters)
            .collect();
        self.request_ping(
            super::state::PingPurpose::AfterRestore,
            &id,
            sample,
            now,
            effects,
        );
    }

    /// Cancels an incident: its customers leave it (records voided for a false prediction,
    /// ended otherwise), and `outage.cancelled` is published.
    pub(super) fn cancel_incident(
        &mut self,
        seq: u32,
        cancellation: Cancellation,
        at: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let Cancellation {
            reason,
            merged_into,
            note,
            void,
        } = cancellation;
        let Some(incident) = self.state.incidents.get(&seq) else {
            return;
        };
        let customers: Vec<u32> = incident.customers.keys().copied().collect();
        let id = incident.id.clone();
        let all_ids = self.customer_ids(customers.iter().copied());
        if void {
            if !customers.is_empty() {
                effects.push(Effect::InterruptionVoided(InterruptionVoided {
                    incident: id.clone(),
                    customers: all_ids.clone(),
                }));
            }
        } else {
            self.end_customers(seq, &customers, at, effects);
        }
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        incident.revision += 1;
        let revision = incident.revision;
        effects.push(Effect::Publish(OutageEvent::Cancelled(OutageCancelled {
            incident: id,
            revision,
            state: IncidentState::Cancelled,
            reason,
            merged_into,
            customers: all_ids,
            note,
        })));
        self.remove_incident(seq);
    }

    /// Drops an incident from the state and every index.
    pub(super) fn remove_incident(&mut self, seq: u32) {
        self.unregister_roll_up(seq);
        self.unindex_incident(seq);
        self.state.incidents.remove(&seq);
    }
}

fn add_signed(value: u32, delta: i64) -> u32 {
    let sum = i64::from(value) + delta;
    u32::try_from(sum.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn count_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
