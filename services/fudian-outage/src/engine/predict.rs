//! Predicted outages from scattered evidence: last gasps and trouble calls are held for a
//! short window, attached to a known outage when they belong to one, else rolled up to
//! the lowest common device and moved up to protective devices as thresholds are crossed.
//! Also here: meter pings (asked and answered), momentary interruptions, trouble-call
//! placement and answers, crew reports, and nested outages found after a restoration.

use std::collections::{BTreeMap, BTreeSet};

use fudian_events::field::{AmiPingRequest, CallTrouble, CrewReportKind, Crs, TroubleKind};
use fudian_events::ids::{CallId, IncidentId, PingRequestId};
use fudian_events::outage::{CancelReason, IncidentState, PriorityHints, RestorationMethod};
use fudian_grid::BranchKind;

use super::effect::{
    CallAnswered, Effect, EvidenceAttached, EvidenceKind, Ignored, InterruptionKind,
    MeterInterruption,
};
use super::report::{Cancellation, NewIncident, interruption_kind};
use super::state::{Basis, Held, HeldKind, Millis, Ping, PingPurpose, Scope, Spot};
use super::{Engine, EngineError, secs, time};

/// Released evidence that shares its lowest device.
struct Group {
    chain: Vec<u32>,
    customers: BTreeMap<u32, Millis>,
    calls: Vec<(CallId, PriorityHints, Spot)>,
    line_calls: u32,
    earliest: Millis,
    latest: Millis,
}

fn ignored(reason: impl Into<String>) -> Effect {
    Effect::Ignored(Ignored {
        reason: reason.into(),
    })
}

impl Engine {
    /// Devices (switches and transformers) on the way from an energized bus to its
    /// source, nearest first.
    fn device_chain(&self, bus: u32) -> Vec<u32> {
        self.topology
            .upstream_path(bus)
            .map(|path| {
                path.branches
                    .into_iter()
                    .filter(|&b| self.grid.branch(b).kind != BranchKind::Line)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The device chain above a line, from its end nearer the source.
    fn line_chain(&self, line: u32) -> Vec<u32> {
        let [from, to] = self.topology.branch_ends(line);
        let paths: Vec<_> = [from, to]
            .into_iter()
            .filter_map(|bus| self.topology.upstream_path(bus))
            .collect();
        let upstream = paths.into_iter().min_by_key(|p| p.branches.len());
        upstream
            .map(|p| {
                p.branches
                    .into_iter()
                    .filter(|&b| self.grid.branch(b).kind != BranchKind::Line)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A meter message older than the meter's last one is late news (AMI head-ends queue
    /// and reorder): the newest message tells the meter's state, so the older one changes
    /// nothing. It is not bad input, so it is ignored with its reason, not dead-lettered.
    fn stale_meter_message(&self, c: u32, what: &str, at: Millis) -> Option<Effect> {
        match self.state.meter_last.get(&c) {
            Some(&last) if last > at => Some(ignored(format!(
                "{what} of meter `{}` at {} is older than its last message at {}: late news",
                self.grid.customer(c).id,
                time(at).to_rfc3339(),
                time(last).to_rfc3339()
            ))),
            _ => None,
        }
    }

    pub(super) fn last_gasp(
        &mut self,
        meter: &str,
        at: Millis,
        now: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let c = self.customer_index(meter)?;
        // A gasp from before the restoration of the customer's incident is late news of it
        // (AMI head-ends queue and reorder), not a new outage, even when the meter's
        // power-restored overtook it. A later one may be a nested outage, decided when the
        // hold ends (see `release_held`): a trip of the same feeder reordered behind its
        // meters' gasps must win over the nested reading.
        if let Some(recent) = self.state.recent_customers.get(&c)
            && at < recent.restored_at
        {
            return Ok(vec![ignored(format!(
                "last gasp of meter `{meter}` predates the restoration of its incident"
            ))]);
        }
        // A gasp overtaken by its meter's power-restored, with no incident around it: a
        // blip already over (AMI reorders), recorded as the meter's interruption.
        if let Some(&restored_at) = self.state.orphan_restores.get(&c)
            && at <= restored_at
        {
            self.state.orphan_restores.remove(&c);
            let momentary_ms = secs(self.state.rules.momentary_secs);
            return Ok(vec![Effect::MeterInterruption(MeterInterruption {
                customer: self.customer_id(c),
                started_at: time(at),
                ended_at: time(restored_at),
                kind: interruption_kind(at, restored_at, momentary_ms),
            })]);
        }
        if let Some(stale) = self.stale_meter_message(c, "last gasp", at) {
            return Ok(vec![stale]);
        }
        if self.state.held_gasps.contains_key(&c) {
            return Ok(vec![ignored(format!(
                "a last gasp of meter `{meter}` is already held"
            ))]);
        }
        self.state.meter_last.insert(c, at);
        let mut effects = Vec::new();
        if let Some(seq) = self.active_incident_of(c) {
            self.attach_heard(seq, c, at, EvidenceKind::LastGasp, &mut effects);
            return Ok(effects);
        }
        let token = self.hold(Spot::Customer(c), HeldKind::LastGasp, at, now);
        self.state.held_gasps.insert(c, (token, at));
        Ok(effects)
    }

    fn hold(&mut self, spot: Spot, kind: HeldKind, at: Millis, now: Millis) -> u64 {
        let token = self.state.next_token;
        self.state.next_token += 1;
        let hold = secs(self.state.rules.roll_up(self.state.storm).hold_secs);
        self.state.held.push_back(Held {
            token,
            spot,
            kind,
            occurred_at: at,
            release_at: now + hold,
        });
        token
    }

    /// A customer heard from inside an active incident: evidence only.
    fn attach_heard(
        &mut self,
        seq: u32,
        c: u32,
        at: Millis,
        evidence: EvidenceKind,
        effects: &mut Vec<Effect>,
    ) {
        let registered = self.index.registered.contains(&seq);
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        let newly = incident.heard.insert(c);
        incident.last_evidence_at = incident.last_evidence_at.max(at);
        let id = incident.id.clone();
        let (fresh, chain) = (incident.fresh, incident.chain.clone());
        if registered {
            if !fresh {
                // New evidence makes an aged prediction count again.
                if let Some(incident) = self.state.incidents.get_mut(&seq) {
                    incident.fresh = true;
                }
                let heard = self.state.incidents.get(&seq).map_or(0, |i| i.heard.len());
                let device = i64::from(
                    self.state
                        .incidents
                        .get(&seq)
                        .is_some_and(|i| i.scope == Scope::Device),
                );
                self.adjust_below(&chain, device, super::report::count_i64(heard));
            } else if newly {
                self.adjust_below(&chain, 0, 1);
            }
        }
        effects.push(Effect::EvidenceAttached(EvidenceAttached {
            incident: id,
            customer: Some(self.customer_id(c)),
            evidence,
        }));
    }

    pub(super) fn power_restored(
        &mut self,
        meter: &str,
        at: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let c = self.customer_index(meter)?;
        if let Some(stale) = self.stale_meter_message(c, "power restored", at) {
            return Ok(vec![stale]);
        }
        self.state.meter_last.insert(c, at);
        let momentary_ms = secs(self.state.rules.momentary_secs);
        if let Some((_, gasp_at)) = self.state.held_gasps.remove(&c) {
            // Still held: never part of an incident (the held entry is now a tombstone).
            return Ok(vec![Effect::MeterInterruption(MeterInterruption {
                customer: self.customer_id(c),
                started_at: time(gasp_at),
                ended_at: time(at),
                kind: interruption_kind(gasp_at, at, momentary_ms),
            })]);
        }
        let Some(seq) = self.active_incident_of(c) else {
            // Its last gasp may still come, reordered behind it.
            self.state.orphan_restores.insert(c, at);
            return Ok(vec![ignored(format!(
                "meter `{meter}` reports supply and no interruption is known"
            ))]);
        };
        if !self.topology.is_energized(self.grid.customer(c).bus) {
            return Ok(vec![ignored(format!(
                "meter `{meter}` reports supply inside a switched-out area"
            ))]);
        }
        let mut effects = Vec::new();
        let predicted = self.state.incidents[&seq].state == IncidentState::Predicted;
        self.unregister_roll_up(seq);
        let ended = self.end_customers(seq, &[c], at, &mut effects);
        let (empty, no_evidence, sustained) = match self.state.incidents.get(&seq) {
            Some(i) => (i.customers.is_empty(), i.heard.is_empty(), i.sustained_seen),
            None => return Ok(effects),
        };
        if empty || no_evidence {
            if predicted && !sustained {
                self.cancel_incident(
                    seq,
                    Cancellation {
                        reason: CancelReason::NotConfirmed,
                        merged_into: None,
                        note: Some("momentary interruption".into()),
                        void: false,
                    },
                    at,
                    &mut effects,
                );
            } else {
                let rest: Vec<u32> = self.state.incidents[&seq]
                    .customers
                    .keys()
                    .copied()
                    .collect();
                let mut all = ended;
                all.extend(self.end_customers(seq, &rest, at, &mut effects));
                self.publish_restored(seq, &all, at, None, at, &mut effects);
            }
        } else {
            self.register_roll_up(seq);
            self.publish_restored(seq, &ended, at, None, at, &mut effects);
        }
        Ok(effects)
    }

    /// Places a call on a customer: the one named, else the nearest to its location (or
    /// the nearest line).
    fn place_call(&self, call: &CallTrouble) -> Result<Spot, EngineError> {
        if let Some(customer) = &call.customer {
            return Ok(Spot::Customer(self.customer_index(customer.as_str())?));
        }
        let Some(location) = call.location else {
            return Err(EngineError::CallWithoutPlace(call.call_id.to_string()));
        };
        let lonlat = match location.crs {
            Crs::Wgs84 => [location.lon, location.lat],
            Crs::Gcj02 => fudian_grid::gcj02::gcj02_to_wgs84([location.lon, location.lat]),
        };
        let not_placed = || EngineError::CallNotPlaced {
            call: call.call_id.to_string(),
            lon: location.lon,
            lat: location.lat,
        };
        if !(lonlat[0].is_finite() && lonlat[1].is_finite()) {
            return Err(not_placed());
        }
        let spatial = self.grid.spatial();
        let nearest = spatial
            .customers_within(lonlat, self.state.rules.call_customer_radius_m)
            .into_iter()
            .map(|c| {
                (
                    fudian_grid::load::haversine_m(lonlat, self.grid.customer(c).position),
                    c,
                )
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some((_, c)) = nearest {
            return Ok(Spot::Customer(c));
        }
        match spatial.nearest_segment(lonlat) {
            Some(hit) if hit.metres <= self.state.rules.call_line_radius_m => {
                Ok(Spot::Line(hit.branch))
            }
            _ => Err(not_placed()),
        }
    }

    fn priority_of(&self, call: &CallTrouble) -> PriorityHints {
        let text = call.text.to_lowercase();
        PriorityHints {
            wire_down: call.kind == TroubleKind::WireDown,
            hazard: self
                .state
                .rules
                .hazard_keywords
                .iter()
                .any(|k| !k.is_empty() && text.contains(k.as_str())),
        }
    }

    pub(super) fn trouble_call(
        &mut self,
        call: &CallTrouble,
        at: Millis,
        now: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let spot = self.place_call(call)?;
        let priority = self.priority_of(call);
        let owner = match spot {
            Spot::Customer(c) => self.active_incident_of(c),
            Spot::Line(l) => self.index.region_owner.get(&l).copied(),
        };
        let mut effects = Vec::new();
        if let Some(seq) = owner {
            self.attach_call(seq, spot, &call.call_id, priority, at, &mut effects);
            return Ok(effects);
        }
        self.hold(
            spot,
            HeldKind::Call {
                call_id: call.call_id.clone(),
                priority,
            },
            at,
            now,
        );
        Ok(effects)
    }

    fn attach_call(
        &mut self,
        seq: u32,
        spot: Spot,
        call_id: &CallId,
        priority: PriorityHints,
        at: Millis,
        effects: &mut Vec<Effect>,
    ) {
        if let Spot::Customer(c) = spot {
            self.attach_heard(seq, c, at, EvidenceKind::Call, effects);
        }
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        incident.calls.push(call_id.clone());
        let before = incident.priority;
        incident.priority.wire_down |= priority.wire_down;
        incident.priority.hazard |= priority.hazard;
        if incident.priority != before {
            self.publish(seq, effects);
        }
        self.answer_call(call_id, Some(seq), effects);
    }

    fn answer_call(&self, call_id: &CallId, seq: Option<u32>, effects: &mut Vec<Effect>) {
        let incident = seq.and_then(|s| self.state.incidents.get(&s));
        effects.push(Effect::CallAnswered(CallAnswered {
            call_id: call_id.clone(),
            incident: incident.map(|i| i.id.clone()),
            state: incident.map(|i| i.state),
            started_at: incident.map(|i| time(i.started_at)),
            etr: incident.map(|i| time(i.etr)),
        }));
    }

    /// Rolls up every piece of held evidence whose window has ended.
    pub(super) fn release_held(&mut self, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
        while self.state.held.front().is_some_and(|h| h.release_at <= now) {
            let Some(held) = self.state.held.pop_front() else {
                break;
            };
            if let (HeldKind::LastGasp, Spot::Customer(c)) = (&held.kind, held.spot) {
                match self.state.held_gasps.get(&c) {
                    Some(&(token, _)) if token == held.token => {
                        self.state.held_gasps.remove(&c);
                    }
                    // Withdrawn by a power-restored while held.
                    _ => continue,
                }
            }
            let owner = match held.spot {
                Spot::Customer(c) => self.active_incident_of(c),
                Spot::Line(l) => self.index.region_owner.get(&l).copied(),
            };
            if let Some(seq) = owner {
                match &held.kind {
                    HeldKind::LastGasp => {
                        if let Spot::Customer(c) = held.spot {
                            self.attach_heard(
                                seq,
                                c,
                                held.occurred_at,
                                EvidenceKind::LastGasp,
                                &mut effects,
                            );
                        }
                    }
                    HeldKind::Call { call_id, priority } => self.attach_call(
                        seq,
                        held.spot,
                        call_id,
                        *priority,
                        held.occurred_at,
                        &mut effects,
                    ),
                }
                continue;
            }
            if let (HeldKind::LastGasp, Spot::Customer(c)) = (&held.kind, held.spot)
                && let Some(recent) = self.state.recent_customers.get(&c)
                && held.occurred_at >= recent.restored_at
                && held.occurred_at - recent.restored_at
                    <= secs(self.state.rules.nested_last_gasp_secs)
            {
                self.nested_outage(c, held.occurred_at, now, &mut effects);
                continue;
            }
            let chain = match held.spot {
                Spot::Customer(c) => self.device_chain(self.grid.customer(c).bus),
                Spot::Line(l) => self.line_chain(l),
            };
            let Some(&lowest) = chain.first() else {
                effects.push(ignored(
                    "evidence on a dark or source bus with no device above it",
                ));
                if let HeldKind::Call { call_id, .. } = &held.kind {
                    self.answer_call(call_id, None, &mut effects);
                }
                continue;
            };
            let group = groups.entry(lowest).or_insert_with(|| Group {
                chain,
                customers: BTreeMap::new(),
                calls: Vec::new(),
                line_calls: 0,
                earliest: held.occurred_at,
                latest: held.occurred_at,
            });
            group.earliest = group.earliest.min(held.occurred_at);
            group.latest = group.latest.max(held.occurred_at);
            match held.spot {
                Spot::Customer(c) => {
                    let first = group.customers.entry(c).or_insert(held.occurred_at);
                    *first = (*first).min(held.occurred_at);
                }
                Spot::Line(_) => group.line_calls += 1,
            }
            if let HeldKind::Call { call_id, priority } = held.kind {
                group.calls.push((call_id, priority, held.spot));
            }
        }
        for group in groups.into_values() {
            self.roll_up(group, now, &mut effects);
        }
        effects
    }

    /// Decides where a group of evidence points: one customer's service, its lowest
    /// device, or a protective device further up when the thresholds say so.
    fn roll_up(&mut self, mut group: Group, now: Millis, effects: &mut Vec<Effect>) {
        // An earlier group of this release may have covered some of these customers.
        let mut calls = Vec::with_capacity(group.calls.len());
        for (call_id, priority, spot) in std::mem::take(&mut group.calls) {
            let owner = match spot {
                Spot::Customer(c) => self.active_incident_of(c),
                Spot::Line(_) => None,
            };
            match owner {
                Some(seq) => {
                    if let Spot::Customer(c) = spot {
                        group.customers.remove(&c);
                    }
                    self.attach_call(seq, spot, &call_id, priority, group.latest, effects);
                }
                None => calls.push((call_id, priority, spot)),
            }
        }
        group.calls = calls;
        let covered: Vec<(u32, Millis)> = group
            .customers
            .iter()
            .filter(|(c, _)| self.active_incident_of(**c).is_some())
            .map(|(&c, &at)| (c, at))
            .collect();
        for (c, at) in covered {
            group.customers.remove(&c);
            if let Some(seq) = self.active_incident_of(c) {
                self.attach_heard(seq, c, at, EvidenceKind::LastGasp, effects);
            }
        }
        if group.customers.is_empty() && group.line_calls == 0 {
            return;
        }
        let rules = self.state.rules.roll_up(self.state.storm).clone();
        let evidence = super::to_u32(group.customers.len()).saturating_add(group.line_calls);
        let lowest = group.chain[0];
        let heard_below = |engine: &Self, device: u32| {
            engine
                .index
                .below
                .get(&device)
                .map_or((0, 0), |b| (b.fresh_devices, b.fresh_heard))
        };
        let (_, heard_at_lowest) = heard_below(self, lowest);
        let mut level = None;
        if group.line_calls > 0
            || evidence.saturating_add(heard_at_lowest) >= rules.min_evidence_for_device
        {
            let mut i = 0;
            while let Some(j) = (i + 1..group.chain.len())
                .find(|&j| self.grid.branch(group.chain[j]).is_protective())
            {
                let p = group.chain[j];
                let (devices, heard) = heard_below(self, p);
                // What is at and below the current level becomes one predicted device.
                let level_device = group.chain[i];
                let (merging, heard_merging) = heard_below(self, level_device);
                let at_level = self
                    .index
                    .predicted_at
                    .get(&level_device)
                    .and_then(|s| self.state.incidents.get(s))
                    .filter(|incident| incident.fresh)
                    .map(|incident| super::to_u32(incident.heard.len()));
                let devices = devices.saturating_sub(merging + u32::from(at_level.is_some())) + 1;
                let heard = heard.saturating_add(evidence);
                let heard_inside = heard_merging
                    .saturating_add(at_level.unwrap_or(0))
                    .saturating_add(evidence);
                let total = self.topology.customers_below_branch(p).customer_count();
                let inside = self
                    .topology
                    .customers_below_branch(level_device)
                    .customer_count();
                let share = f64::from(heard) / total.max(1) as f64;
                // A protective device feeding nothing but the current level is the likelier
                // open device; otherwise evidence must come from outside the current level.
                if devices >= rules.min_devices_to_move_up
                    || total <= inside
                    || (heard > heard_inside
                        && heard >= rules.min_evidence_to_move_up
                        && share >= rules.min_share_to_move_up)
                {
                    i = j;
                } else {
                    break;
                }
            }
            level = Some(i);
        }
        match level {
            None => {
                for (&c, &at) in &group.customers {
                    let seq = self.create_incident(NewIncident {
                        state: IncidentState::Predicted,
                        basis: Basis::Inferred,
                        scope: Scope::Service(c),
                        device: lowest,
                        cause: None,
                        planned: false,
                        started_at: at,
                        chain: group.chain.clone(),
                        parent: None,
                    });
                    self.unregister_roll_up(seq);
                    self.add_customers(seq, &[c], at, effects);
                    if let Some(incident) = self.state.incidents.get_mut(&seq) {
                        incident.heard.insert(c);
                        incident.last_evidence_at = group.latest;
                    }
                    self.set_feeder(seq, lowest);
                    self.register_roll_up(seq);
                    self.publish(seq, effects);
                    let id = self.state.incidents[&seq].id.clone();
                    // Is the meter really off?
                    self.request_ping(PingPurpose::Confirm, &id, vec![c], now, effects);
                }
                for (call_id, priority, spot) in &group.calls {
                    let seq = match spot {
                        Spot::Customer(c) => self.active_incident_of(*c),
                        Spot::Line(_) => None,
                    };
                    if let Some(seq) = seq
                        && let Some(incident) = self.state.incidents.get_mut(&seq)
                    {
                        incident.calls.push(call_id.clone());
                        incident.priority.wire_down |= priority.wire_down;
                        incident.priority.hazard |= priority.hazard;
                    }
                    self.answer_call(call_id, seq, effects);
                }
            }
            Some(i) => self.predict_device(&group, i, now, effects),
        }
    }

    fn set_feeder(&mut self, seq: u32, device: u32) {
        let [from, to] = self.topology.branch_ends(device);
        let feeder = self
            .topology
            .feeder_of(to)
            .or_else(|| self.topology.feeder_of(from));
        if let Some(incident) = self.state.incidents.get_mut(&seq) {
            incident.feeder = feeder;
        }
    }

    /// Predicts an outage of `group.chain[level]`, merging the predictions below it.
    fn predict_device(
        &mut self,
        group: &Group,
        level: usize,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let device = group.chain[level];
        let mut merged: BTreeSet<u32> = self
            .index
            .below
            .get(&device)
            .map(|b| b.incidents.iter().copied().collect())
            .unwrap_or_default();
        merged.retain(|s| {
            self.state.incidents.get(s).is_some_and(|i| {
                i.state == IncidentState::Predicted
                    && i.basis == Basis::Inferred
                    && i.chain.contains(&device)
            })
        });
        if let Some(below) = self.index.below.get_mut(&device) {
            below.incidents = merged.iter().copied().collect();
        }
        let existing = self
            .index
            .predicted_at
            .get(&device)
            .copied()
            .or_else(|| merged.first().copied());
        let (seq, new) = match existing {
            Some(seq) => (seq, false),
            None => {
                let seq = self.create_incident(NewIncident {
                    state: IncidentState::Predicted,
                    basis: Basis::Inferred,
                    scope: Scope::Device,
                    device,
                    cause: None,
                    planned: false,
                    started_at: group.earliest,
                    chain: Vec::new(),
                    parent: None,
                });
                (seq, true)
            }
        };
        merged.remove(&seq);
        self.unregister_roll_up(seq);
        for &other in &merged {
            self.unregister_roll_up(other);
        }
        let moved_up = self
            .state
            .incidents
            .get(&seq)
            .is_some_and(|i| i.device != device || i.scope != Scope::Device);
        if let Some(incident) = self.state.incidents.get_mut(&seq) {
            incident.device = device;
            incident.scope = Scope::Device;
            incident.chain = group.chain[level + 1..].to_vec();
            incident.fresh = true;
        }
        let into = self.state.incidents[&seq].id.clone();
        for &other in &merged {
            let customers: Vec<u32> = self.state.incidents[&other]
                .customers
                .keys()
                .copied()
                .collect();
            let heard: Vec<u32> = self.state.incidents[&other].heard.iter().copied().collect();
            self.transfer_customers(other, seq, &customers, effects);
            self.merge_evidence(other, seq);
            if let Some(incident) = self.state.incidents.get_mut(&seq) {
                incident.heard.extend(heard);
            }
            self.cancel_incident(
                other,
                Cancellation {
                    reason: CancelReason::Merged,
                    merged_into: Some(into.clone()),
                    note: None,
                    void: false,
                },
                group.latest,
                effects,
            );
        }
        let unowned: Vec<u32> = self
            .topology
            .customers_below_branch(device)
            .customers
            .iter()
            .copied()
            .filter(|&c| self.active_incident_of(c).is_none())
            .collect();
        self.add_customers(seq, &unowned, group.earliest, effects);
        if let Some(incident) = self.state.incidents.get_mut(&seq) {
            incident.heard.extend(
                group
                    .customers
                    .keys()
                    .copied()
                    .filter(|c| incident.customers.contains_key(c)),
            );
            incident.last_evidence_at = incident.last_evidence_at.max(group.latest);
            incident.started_at = incident.started_at.min(group.earliest);
            for (call_id, priority, _) in &group.calls {
                incident.calls.push(call_id.clone());
                incident.priority.wire_down |= priority.wire_down;
                incident.priority.hazard |= priority.hazard;
            }
        }
        self.set_feeder(seq, device);
        self.register_roll_up(seq);
        self.publish(seq, effects);
        for (call_id, _, _) in &group.calls {
            self.answer_call(call_id, Some(seq), effects);
        }
        if new || moved_up || !merged.is_empty() {
            // Ping the meters not heard from: are they off too?
            let incident = &self.state.incidents[&seq];
            let mut sample: Vec<u32> = incident.heard.iter().copied().take(3).collect();
            sample.extend(
                incident
                    .customers
                    .keys()
                    .copied()
                    .filter(|c| !incident.heard.contains(c))
                    .take(
                        self.state
                            .rules
                            .max_ping_meters
                            .saturating_sub(sample.len()),
                    ),
            );
            let id = incident.id.clone();
            self.request_ping(PingPurpose::Confirm, &id, sample, now, effects);
        }
    }

    /// Asks the AMI head-end to ping meters; the request id is derived from the incident.
    pub(super) fn request_ping(
        &mut self,
        purpose: PingPurpose,
        incident: &IncidentId,
        mut meters: Vec<u32>,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        meters.sort_unstable();
        meters.dedup();
        meters.truncate(self.state.rules.max_ping_meters);
        if meters.is_empty() {
            return;
        }
        let request_id = format!("{incident}-ping-{}", self.state.next_ping);
        self.state.next_ping += 1;
        effects.push(Effect::PingRequest(AmiPingRequest {
            request_id: PingRequestId::new(request_id.clone()),
            meters: self.customer_ids(meters.iter().copied()),
        }));
        self.state.pings.insert(
            request_id,
            Ping {
                purpose,
                incident: incident.clone(),
                asked: meters.into_iter().collect(),
                answered: BTreeSet::new(),
                off: 0,
                expires_at: now + secs(self.state.rules.ping_timeout_secs),
            },
        );
    }

    pub(super) fn ping_result(
        &mut self,
        request: &str,
        meter: &str,
        energized: bool,
        at: Millis,
        now: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let c = self.customer_index(meter)?;
        let ping = self
            .state
            .pings
            .get(request)
            .ok_or_else(|| EngineError::UnknownPingRequest(request.to_owned()))?;
        if !ping.asked.contains(&c) {
            return Err(EngineError::MeterNotPinged {
                request: request.to_owned(),
                meter: meter.to_owned(),
            });
        }
        if ping.answered.contains(&c) {
            return Ok(vec![ignored(format!(
                "meter `{meter}` already answered ping `{request}`"
            ))]);
        }
        let Some(ping) = self.state.pings.get_mut(request) else {
            return Ok(Vec::new());
        };
        ping.answered.insert(c);
        if !energized {
            ping.off += 1;
        }
        let (purpose, incident_id, complete, off) = (
            ping.purpose,
            ping.incident.clone(),
            ping.answered.len() == ping.asked.len(),
            ping.off,
        );
        if complete {
            self.state.pings.remove(request);
        }
        let mut effects = Vec::new();
        match purpose {
            PingPurpose::Confirm => {
                let Some(&seq) = self.index.by_id.get(incident_id.as_str()) else {
                    return Ok(vec![ignored(format!(
                        "ping `{request}` answers for an incident no longer active"
                    ))]);
                };
                if !energized {
                    if self.state.incidents[&seq].customers.contains_key(&c) {
                        self.attach_heard(seq, c, at, EvidenceKind::PingOff, &mut effects);
                    }
                    self.confirm(seq, &mut effects);
                } else if complete
                    && off == 0
                    && self.state.incidents[&seq].state == IncidentState::Predicted
                {
                    self.cancel_incident(
                        seq,
                        Cancellation {
                            reason: CancelReason::NotConfirmed,
                            merged_into: None,
                            note: Some("every pinged meter has supply".into()),
                            void: true,
                        },
                        at,
                        &mut effects,
                    );
                }
            }
            PingPurpose::AfterRestore => {
                if !energized {
                    self.nested_outage(c, at, now, &mut effects);
                }
            }
        }
        Ok(effects)
    }

    /// A predicted incident is confirmed (failed ping, crew on site).
    fn confirm(&mut self, seq: u32, effects: &mut Vec<Effect>) {
        if self
            .state
            .incidents
            .get(&seq)
            .is_none_or(|i| i.state != IncidentState::Predicted)
        {
            return;
        }
        self.unregister_roll_up(seq);
        if let Some(incident) = self.state.incidents.get_mut(&seq) {
            incident.state = IncidentState::Confirmed;
        }
        self.publish(seq, effects);
    }

    /// A customer is still out after its incident restored it: a nested incident, started
    /// when the customer's interruption started, takes its record over.
    fn nested_outage(&mut self, c: u32, at: Millis, now: Millis, effects: &mut Vec<Effect>) {
        if self.active_incident_of(c).is_some() {
            return;
        }
        let Some(recent) = self.state.recent_customers.remove(&c) else {
            effects.push(ignored(format!(
                "customer `{}` is off but was not restored recently",
                self.grid.customer(c).id
            )));
            return;
        };
        let chain = self.device_chain(self.grid.customer(c).bus);
        let Some(&device) = chain.first() else {
            effects.push(ignored("nested outage on a bus with no device above it"));
            return;
        };
        let sibling = self.state.incidents.values().find(|i| {
            i.parent.as_ref() == Some(&recent.incident)
                && i.device == device
                && i.basis == Basis::Inferred
        });
        let seq = match sibling {
            Some(incident) => incident.seq,
            None => {
                let seq = self.create_incident(NewIncident {
                    state: IncidentState::Confirmed,
                    basis: Basis::Inferred,
                    scope: Scope::Service(c),
                    device,
                    cause: None,
                    planned: false,
                    started_at: recent.started_at,
                    chain,
                    parent: Some(recent.incident.clone()),
                });
                self.set_feeder(seq, device);
                seq
            }
        };
        let Some(incident) = self.state.incidents.get_mut(&seq) else {
            return;
        };
        incident.customers.insert(c, recent.started_at);
        incident.heard.insert(c);
        incident.started_at = incident.started_at.min(recent.started_at);
        incident.last_evidence_at = incident.last_evidence_at.max(at);
        incident.sustained_seen = true;
        let to = incident.id.clone();
        self.index.incident_of[c as usize] = seq;
        effects.push(Effect::InterruptionTransferred(
            super::effect::InterruptionTransferred {
                from: recent.incident,
                to,
                customers: vec![self.customer_id(c)],
            },
        ));
        self.publish(seq, effects);
        let _ = now;
    }

    /// The topology incident whose dark region holds a customer's bus.
    fn topology_owner(&self, c: u32) -> Option<u32> {
        let bus = self.grid.customer(c).bus;
        self.adjacent(bus)
            .iter()
            .find_map(|(_, via)| self.index.region_owner.get(via).copied())
    }

    pub(super) fn crew_report(
        &mut self,
        incident: Option<&str>,
        kind: &CrewReportKind,
        at: Millis,
        now: Millis,
    ) -> Result<Vec<Effect>, EngineError> {
        let Some(id) = incident else {
            return Ok(vec![ignored("crew report names no incident")]);
        };
        let active = self.index.by_id.get(id).copied();
        let recent = self
            .state
            .recent_incidents
            .iter()
            .find(|(_, r)| r.id.as_str() == id)
            .map(|(&s, _)| s);
        if active.is_none() && recent.is_none() {
            return Err(EngineError::UnknownIncident(id.to_owned()));
        }
        let mut effects = Vec::new();
        match (kind, active) {
            (CrewReportKind::Arrived, Some(seq)) => self.confirm(seq, &mut effects),
            (CrewReportKind::Repaired, Some(seq)) => {
                let basis = self.state.incidents[&seq].basis;
                if let Some(incident) = self.state.incidents.get_mut(&seq) {
                    incident.repaired = true;
                }
                if basis == Basis::Inferred {
                    // Nothing switched in the topology (a fuse replaced, a service drop
                    // fixed): the repair itself restores.
                    self.unregister_roll_up(seq);
                    let (lit, dark): (Vec<u32>, Vec<u32>) = self.state.incidents[&seq]
                        .customers
                        .keys()
                        .partition(|&&c| self.topology.is_energized(self.grid.customer(c).bus));
                    // Customers a switch keeps dark now belong to that switch's incident.
                    for c in dark {
                        if let Some(owner) = self.topology_owner(c) {
                            self.transfer_customers(seq, owner, &[c], &mut effects);
                        }
                    }
                    let ended = self.end_customers(seq, &lit, at, &mut effects);
                    self.publish_restored(
                        seq,
                        &ended,
                        at,
                        Some(RestorationMethod::Repair),
                        now,
                        &mut effects,
                    );
                }
            }
            (CrewReportKind::StillOut, _) => {
                if let Some(seq) = active {
                    self.confirm(seq, &mut effects);
                }
                // Which of the restored customers are still out? Ask their meters.
                let seq = active.or(recent);
                let restored: Vec<u32> = seq
                    .and_then(|s| self.state.recent_incidents.get(&s))
                    .map(|r| {
                        r.customers
                            .iter()
                            .rev()
                            .copied()
                            .filter(|c| self.state.recent_customers.contains_key(c))
                            .collect()
                    })
                    .unwrap_or_default();
                let incident_id = IncidentId::new(id);
                for chunk in restored.chunks(self.state.rules.max_ping_meters.max(1)) {
                    self.request_ping(
                        PingPurpose::AfterRestore,
                        &incident_id,
                        chunk.to_vec(),
                        now,
                        &mut effects,
                    );
                }
                if restored.is_empty() {
                    effects.push(ignored(
                        "still out reported, but no customer of the incident was restored",
                    ));
                }
            }
            (_, _) => effects.push(ignored("crew report changes nothing here")),
        }
        Ok(effects)
    }

    /// Timers: pings given up, restored customers forgotten, old indicator reports
    /// dropped, and predictions whose evidence aged past the time separation no longer
    /// counted toward moving new evidence up.
    pub(super) fn expire(&mut self, now: Millis, effects: &mut Vec<Effect>) {
        let expired: Vec<String> = self
            .state
            .pings
            .iter()
            .filter(|(_, p)| p.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for request in expired {
            if let Some(ping) = self.state.pings.remove(&request) {
                effects.push(ignored(format!(
                    "ping `{request}` expired with {} of {} meters answered",
                    ping.answered.len(),
                    ping.asked.len()
                )));
            }
        }
        let keep = secs(self.state.rules.recent_restore_secs);
        self.state
            .orphan_restores
            .retain(|_, &mut restored_at| restored_at + keep > now);
        while self
            .state
            .recent_order
            .front()
            .is_some_and(|&(t, _)| t + keep <= now)
        {
            let Some((t, c)) = self.state.recent_order.pop_front() else {
                break;
            };
            if self
                .state
                .recent_customers
                .get(&c)
                .is_some_and(|r| r.restored_at == t)
            {
                self.state.recent_customers.remove(&c);
            }
        }
        let incidents = &self.state.incidents;
        self.state
            .recent_incidents
            .retain(|seq, r| incidents.contains_key(seq) || r.restored_at + keep > now);
        let window = secs(self.state.rules.fpi_window_secs);
        self.state.fpi_pending.retain(|_, (_, t)| *t + window > now);
        let separation = secs(
            self.state
                .rules
                .roll_up(self.state.storm)
                .time_separation_secs,
        );
        let aged: Vec<u32> = self
            .state
            .incidents
            .values()
            .filter(|i| {
                i.fresh && i.state == IncidentState::Predicted && i.basis == Basis::Inferred
            })
            .filter(|i| i.last_evidence_at + separation < now)
            .map(|i| i.seq)
            .collect();
        for seq in aged {
            self.unregister_roll_up(seq);
            if let Some(incident) = self.state.incidents.get_mut(&seq) {
                incident.fresh = false;
            }
            self.register_roll_up(seq);
        }
    }
}

impl InterruptionKind {
    /// Whether the interruption counts in SAIFI/SAIDI (sustained) or MAIFI (momentary).
    pub fn is_momentary(self) -> bool {
        self == Self::Momentary
    }
}
