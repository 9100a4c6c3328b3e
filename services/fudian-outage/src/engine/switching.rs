//! Switch states and what they do: an opening that darkens customers makes (or confirms)
//! an incident at once, a closing restores customers (partly or wholly), and fault
//! indicators narrow a fault down to a section of the dark region.

use std::collections::{BTreeMap, HashMap, VecDeque};

use fudian_events::field::SwitchState;
use fudian_events::outage::{IncidentState, OutageCause, RestorationMethod};
use fudian_grid::topology::Operation;
use fudian_grid::{BranchKind, SwitchDevice};

use super::effect::{Effect, EvidenceAttached, EvidenceKind, SupplyChanged};
use super::report::{Cancellation, NewIncident};
use super::state::{Basis, Millis, Scope, SwitchRecord};
use super::{Engine, EngineError, time};

/// Why a switch changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpenReason {
    /// Protection opened it (a fault).
    Trip,
    /// By hand on site (or a crew's switching).
    Manual,
    /// By remote control.
    Remote,
    /// Automatic reclosing (closings only).
    Reclose,
}

impl Engine {
    pub(super) fn switch_event(
        &mut self,
        device: &str,
        target: SwitchState,
        reason: OpenReason,
        crew_incident: Option<&str>,
        at: Millis,
        now: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let b = self
            .grid
            .branch_index(device)
            .ok_or_else(|| EngineError::UnknownElement(device.to_owned()))?;
        if !self.grid.branch(b).is_switch() {
            return Err(EngineError::NotASwitch(device.to_owned()));
        }
        let crew_seq = match crew_incident {
            Some(id) => match self.index.by_id.get(id) {
                Some(&seq) => Some(seq),
                None if self
                    .state
                    .recent_incidents
                    .values()
                    .any(|r| r.id.as_str() == id) =>
                {
                    None
                }
                None => return Err(EngineError::UnknownIncident(id.to_owned())),
            },
            None => None,
        };
        if let Some(record) = self.state.switches.get(&b)
            && record.last_change > at
        {
            return Err(EngineError::OutOfOrder {
                what: format!("switching of `{device}`"),
                occurred_at: time(at).to_rfc3339(),
                last_change: time(record.last_change).to_rfc3339(),
            });
        }
        let closed = self.topology.is_closed(b);
        let open = match target {
            SwitchState::Open if !closed => {
                return Err(EngineError::AlreadyOpen(device.to_owned()));
            }
            SwitchState::Closed if closed => {
                return Err(EngineError::AlreadyClosed(device.to_owned()));
            }
            SwitchState::Open => true,
            SwitchState::Closed => false,
        };
        let change = self.topology.apply(if open {
            Operation::Open(b)
        } else {
            Operation::Close(b)
        });
        let order = self.state.next_order;
        self.state.next_order += 1;
        self.state.switches.insert(
            b,
            SwitchRecord {
                closed: !open,
                last_change: at,
                order,
            },
        );
        let mut effects = vec![Effect::SupplyChanged(SupplyChanged {
            device: self.element_id(b),
            lost: self.customer_ids(change.lost.iter().copied()),
            restored: self.customer_ids(change.restored.iter().copied()),
        })];
        if !change.lost.is_empty() {
            self.outage_from_opening(b, reason, &change.lost, crew_seq, at, &mut effects);
        }
        if !change.restored.is_empty() {
            self.restore_customers(&change.restored, reason, at, now, &mut effects);
        }
        Ok(effects)
    }

    /// The customers `lost` went dark when `b` opened: they form a confirmed incident, the
    /// crew's incident grows, or a prediction that they explain is confirmed.
    fn outage_from_opening(
        &mut self,
        b: u32,
        reason: OpenReason,
        lost: &[u32],
        crew_seq: Option<u32>,
        at: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let planned = reason != OpenReason::Trip
            && self
                .state
                .planned
                .get(&b)
                .is_some_and(|m| m.start <= at && at <= m.end);
        let cause = match reason {
            _ if planned => OutageCause::Planned,
            OpenReason::Trip => OutageCause::Fault,
            OpenReason::Remote => OutageCause::RemoteSwitching,
            OpenReason::Manual | OpenReason::Reclose => OutageCause::ManualSwitching,
        };
        let mut unowned = Vec::new();
        let mut from_predicted: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &c in lost {
            match self.active_incident_of(c) {
                None => unowned.push(c),
                // Inferred outages (predicted, or confirmed by pings or crews) are explained
                // by the opening; a topology incident cannot hold an energized customer.
                Some(seq) if self.state.incidents[&seq].parent.is_none() => {
                    from_predicted.entry(seq).or_default().push(c);
                }
                // Nested incidents keep their customers: their cause is below and is still
                // there when this opening is undone.
                Some(_) => {}
            }
        }
        if unowned.is_empty() && from_predicted.is_empty() {
            // Everyone who lost supply is already out in a nested incident.
            return;
        }
        let crew_target = crew_seq.filter(|s| {
            self.state
                .incidents
                .get(s)
                .is_some_and(|i| i.basis == Basis::Topology)
        });
        let promoted = from_predicted
            .iter()
            .filter(|(seq, cs)| self.state.incidents[*seq].customers.len() == cs.len())
            .max_by_key(|(seq, cs)| (cs.len(), std::cmp::Reverse(**seq)))
            .map(|(seq, _)| *seq);
        let dark_end = {
            let [from, to] = self.topology.branch_ends(b);
            if self.topology.is_energized(from) {
                to
            } else {
                from
            }
        };
        let region = self.dark_region(dark_end, b);
        let seq = match (crew_target, promoted) {
            (Some(seq), _) => seq,
            (None, Some(seq)) => {
                self.unregister_roll_up(seq);
                let incident = self.state.incidents.get_mut(&seq).map(|i| {
                    i.state = IncidentState::Confirmed;
                    i.basis = Basis::Topology;
                    i.scope = Scope::Device;
                    i.device = b;
                    i.cause = Some(cause);
                    i.planned = planned;
                    i.chain.clear();
                    i.dark_end = Some(dark_end);
                });
                debug_assert!(incident.is_some());
                seq
            }
            (None, None) => {
                let seq = self.create_incident(NewIncident {
                    state: IncidentState::Confirmed,
                    basis: Basis::Topology,
                    scope: Scope::Device,
                    device: b,
                    cause: Some(cause),
                    planned,
                    started_at: at,
                    chain: Vec::new(),
                    parent: None,
                });
                if let Some(incident) = self.state.incidents.get_mut(&seq) {
                    incident.dark_end = Some(dark_end);
                }
                seq
            }
        };
        let feeder = self.feeder_above(b);
        if let Some(incident) = self.state.incidents.get_mut(&seq) {
            if incident.feeder.is_none() {
                incident.feeder = feeder;
            }
            incident.started_at = incident.started_at.min(at);
            incident.region.extend_from_slice(&region);
        }
        for &branch in &region {
            self.index.region_owner.insert(branch, seq);
        }
        for (other, customers) in &from_predicted {
            if *other == seq {
                continue;
            }
            self.transfer_customers(*other, seq, customers, effects);
            self.merge_evidence(*other, seq);
            if self
                .state
                .incidents
                .get(other)
                .is_some_and(|i| i.customers.is_empty())
            {
                let into = self.state.incidents.get(&seq).map(|i| i.id.clone());
                self.cancel_incident(
                    *other,
                    Cancellation {
                        reason: fudian_events::outage::CancelReason::Merged,
                        merged_into: into,
                        note: Some("explained by a switch opening".into()),
                        void: false,
                    },
                    at,
                    effects,
                );
            } else {
                self.publish(*other, effects);
            }
        }
        self.add_customers(seq, &unowned, at, effects);
        // Fault indicator reports that came before the trip.
        let window = super::secs(self.state.rules.fpi_window_secs);
        let pending: Vec<(u32, bool)> = region
            .iter()
            .filter_map(|br| {
                self.state
                    .fpi_pending
                    .get(br)
                    .filter(|(_, t)| (at - t).abs() <= window)
                    .map(|(fc, _)| (*br, *fc))
            })
            .collect();
        if !pending.is_empty() {
            for (br, _) in &pending {
                self.state.fpi_pending.remove(br);
            }
            if let Some(incident) = self.state.incidents.get_mut(&seq) {
                incident.indicators.extend(pending);
            }
            self.state
                .incidents
                .get(&seq)
                .map(|i| self.fault_section(i))
                .into_iter()
                .for_each(|section| {
                    if let Some(incident) = self.state.incidents.get_mut(&seq) {
                        incident.fault_section = section;
                    }
                });
        }
        self.publish(seq, effects);
    }

    /// Folds the heard customers, calls and hints of `from` into `to`.
    pub(super) fn merge_evidence(&mut self, from: u32, to: u32) {
        let Some(source) = self.state.incidents.get(&from) else {
            return;
        };
        let (calls, priority, last) = (
            source.calls.clone(),
            source.priority,
            source.last_evidence_at,
        );
        if let Some(target) = self.state.incidents.get_mut(&to) {
            target.calls.extend(calls);
            target.priority.wire_down |= priority.wire_down;
            target.priority.hazard |= priority.hazard;
            target.last_evidence_at = target.last_evidence_at.max(last);
        }
    }

    /// The head breaker of the feeder above branch `b` (or `b` itself).
    fn feeder_above(&self, b: u32) -> Option<u32> {
        let [from, to] = self.topology.branch_ends(b);
        let up = if self.topology.is_energized(from) {
            from
        } else {
            to
        };
        self.topology
            .feeder_of(up)
            .or_else(|| (self.grid.branch(b).device == Some(SwitchDevice::Breaker)).then_some(b))
    }

    /// Branches of the dark region reached from `start` over conducting branches, with
    /// `device` itself first.
    fn dark_region(&self, start: u32, device: u32) -> Vec<u32> {
        let mut branches = vec![device];
        if self.topology.is_energized(start) {
            return branches;
        }
        let mut seen_bus = std::collections::HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(bus) = queue.pop_front() {
            for &(next, via) in self.adjacent(bus) {
                if via == device
                    || !self.topology.is_conducting(via)
                    || self.topology.is_energized(next)
                {
                    continue;
                }
                if seen_bus.insert(next) {
                    branches.push(via);
                    queue.push_back(next);
                }
            }
        }
        branches
    }

    /// Customers regained supply: they leave their topology incidents (partial or full
    /// restoration). Customers of inferred incidents stay out: their cause is elsewhere.
    fn restore_customers(
        &mut self,
        restored: &[u32],
        reason: OpenReason,
        at: Millis,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let mut by_incident: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &c in restored {
            if let Some(seq) = self.active_incident_of(c)
                && self.state.incidents[&seq].basis == Basis::Topology
            {
                by_incident.entry(seq).or_default().push(c);
            }
        }
        for (seq, customers) in by_incident {
            let repaired = self.state.incidents.get(&seq).is_some_and(|i| i.repaired);
            let ended = self.end_customers(seq, &customers, at, effects);
            let left = self
                .state
                .incidents
                .get(&seq)
                .map_or(0, |i| i.customers.len());
            let method = match reason {
                OpenReason::Reclose => RestorationMethod::Reclose,
                _ if repaired && left == 0 => RestorationMethod::Repair,
                _ => RestorationMethod::Switching,
            };
            self.publish_restored(seq, &ended, at, Some(method), now, effects);
        }
    }

    pub(super) fn fault_indicator(
        &mut self,
        device: &str,
        fault_current: bool,
        at: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let b = self
            .grid
            .branch_index(device)
            .ok_or_else(|| EngineError::UnknownElement(device.to_owned()))?;
        let Some(&seq) = self.index.region_owner.get(&b) else {
            // Kept for a trip that has not arrived yet.
            self.state.fpi_pending.insert(b, (fault_current, at));
            return Ok(Vec::new());
        };
        let mut effects = Vec::new();
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return Ok(effects);
        };
        incident.indicators.insert(b, fault_current);
        effects.push(Effect::EvidenceAttached(EvidenceAttached {
            incident: incident.id.clone(),
            customer: None,
            evidence: EvidenceKind::FaultIndicator,
        }));
        let section = self.fault_section(&self.state.incidents[&seq]);
        if let Some(incident) = self.state.incidents.get_mut(&seq)
            && incident.fault_section != section
        {
            incident.fault_section = section;
            self.publish(seq, &mut effects);
        }
        Ok(effects)
    }

    /// The faulted section: below the deepest indicator that saw fault current (or the
    /// device), not past indicators that saw none, closed protective devices (a fault
    /// beyond them would have blown them) or transformers. `None` without indicators.
    pub(super) fn fault_section(&self, incident: &super::state::Incident) -> Option<Vec<u32>> {
        if incident.indicators.is_empty() {
            return None;
        }
        let root = incident.dark_end?;
        // The dark region as a tree from the device: children and depths.
        let mut depth: HashMap<u32, u32> = HashMap::from([(root, 0)]);
        let mut children: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        let mut child_of: HashMap<u32, u32> = HashMap::new();
        let mut queue = VecDeque::from([root]);
        while let Some(bus) = queue.pop_front() {
            let d = depth[&bus];
            for &(next, via) in self.adjacent(bus) {
                if via == incident.device
                    || !self.topology.is_conducting(via)
                    || self.topology.is_energized(next)
                {
                    continue;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = depth.entry(next) {
                    slot.insert(d + 1);
                    children.entry(bus).or_default().push((via, next));
                    child_of.insert(via, next);
                    queue.push_back(next);
                }
            }
        }
        let deepest = incident
            .indicators
            .iter()
            .filter(|&(b, &fc)| fc && (child_of.contains_key(b) || *b == incident.device))
            .max_by_key(|&(b, _)| {
                child_of
                    .get(b)
                    .and_then(|bus| depth.get(bus))
                    .copied()
                    .unwrap_or(0)
            })
            .map(|(b, _)| *b);
        let is_line = |b: u32| self.grid.branch(b).kind == BranchKind::Line;
        let (start, mut section) = match deepest {
            Some(t) if t != incident.device => {
                (child_of[&t], if is_line(t) { vec![t] } else { Vec::new() })
            }
            _ => (root, Vec::new()),
        };
        let mut queue = VecDeque::from([start]);
        while let Some(bus) = queue.pop_front() {
            for &(via, next) in children.get(&bus).map(Vec::as_slice).unwrap_or(&[]) {
                let branch = self.grid.branch(via);
                if incident.indicators.get(&via) == Some(&false) {
                    if is_line(via) {
                        section.push(via);
                    }
                    continue;
                }
                if branch.is_protective() {
                    continue;
                }
                section.push(via);
                if branch.kind != BranchKind::Transformer {
                    queue.push_back(next);
                }
            }
        }
        section.sort_unstable();
        section.dedup();
        Some(section)
    }
}
