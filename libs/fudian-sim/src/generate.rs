//! Scenario generation: picks faults and momentary trips on a grid, works out what each
//! field system would see (trips, indicators, last gasps, calls, crew switching, repair)
//! and stamps every message with when it happened and when it is sent.
//!
//! Every fault is computed against the grid's normal state. So that this stays true while
//! faults overlap in time, a fault never starts on a feeder still busy with an earlier one
//! (nor on one its restoration borrows through a tie); it is deferred instead.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset, TimeDelta};
use fudian_events::field::{
    AmiLastGasp, AmiPowerRestored, CallLocation, CallTrouble, CloseCause, CrewReport,
    CrewReportKind, Crs, FieldEvent, FpiFault, OpenCause, ScadaSwitchClosed, ScadaSwitchOpened,
    SwitchState, TroubleKind,
};
use fudian_events::ids::{EventId, Producer};
use fudian_events::{Envelope, WireMessage};
use fudian_grid::gcj02::wgs84_to_gcj02;
use fudian_grid::{BranchKind, Grid, LonLat, Operation, SwitchDevice, Topology};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::SimError;
use crate::options::SimOptions;
use crate::truth::{GroundTruth, TruthFault, TruthMomentary};

pub const SCADA: &str = "scada-sim";
pub const FPI: &str = "fpi-sim";
pub const AMI: &str = "ami-sim";
pub const CALL_CENTER: &str = "call-center-sim";
pub const CREW_APP: &str = "crew-app-sim";

/// The crew named when the package has no crews.
const FALLBACK_CREW: &str = "CREW-SIM";
/// Meters send their last gasp within this of losing supply.
const LAST_GASP_SPREAD_MS: u64 = 3_000;
/// Meters report power back within this of getting it.
const RESTORED_SPREAD_MS: u64 = 5_000;
/// Callers call between one and fifteen minutes after the trip.
const CALL_WINDOW_MS: (u64, u64) = (60_000, 900_000);
/// A duplicate is re-sent this long after the original.
const DUPLICATE_DELAY_MS: (u64, u64) = (100, 5_000);

/// One message and when to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedEvent {
    /// Milliseconds after the simulation start at which to send it.
    pub at_offset_ms: u64,
    /// Milliseconds after the start at which it happened (its `occurred_at`).
    pub occurred_offset_ms: u64,
    pub wire: WireMessage,
}

/// A generated run: the messages in send order and what really happened.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub events: Vec<TimedEvent>,
    pub truth: GroundTruth,
}

impl Simulation {
    /// A player over a copy of the events, at `speed` (1 = real time, 0 = all at once).
    pub fn player(&self, speed: f64) -> crate::Player {
        crate::Player::new(self.events.clone(), speed)
    }
}

/// What limits concurrency: the feeder (its head breaker) or, without one, the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FeederKey {
    Feeder(u32),
    Source(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sustained,
    Momentary,
}

/// Generates a simulation of `options.faults` sustained faults (and the momentary ones)
/// on `grid`, starting at `start`. Deterministic for a seed.
pub fn generate(
    grid: &Grid,
    options: &SimOptions,
    start: DateTime<FixedOffset>,
) -> Result<Simulation, SimError> {
    options.validate()?;
    let mut builder = Builder::new(grid, options, start);
    let lines: Vec<u32> = (0..grid.branches.len())
        .filter(|&b| {
            let branch = &grid.branches[b];
            branch.kind == BranchKind::Line && branch.in_service
        })
        .map(to_u32)
        .collect();
    let breakers: Vec<u32> = (0..grid.branches.len())
        .map(to_u32)
        .filter(|&b| {
            matches!(
                grid.branch(b).device,
                Some(SwitchDevice::Breaker | SwitchDevice::Recloser)
            ) && builder.topology.is_conducting(b)
                && builder.topology.outage_if_opened(b).customer_count() > 0
        })
        .collect();
    if options.faults > 0
        && !lines
            .iter()
            .any(|&l| builder.sustained_candidate(l).is_some())
    {
        return Err(SimError::NothingToFault);
    }

    let mut plan: Vec<(u64, Kind)> = builder
        .fault_starts()
        .into_iter()
        .map(|t| (t, Kind::Sustained))
        .collect();
    let momentaries = if breakers.is_empty() {
        0
    } else {
        (options.faults as f64 * options.share_momentary).round() as usize
    };
    let span = plan.last().map_or(60_000, |&(t, _)| t.max(60_000));
    for _ in 0..momentaries {
        plan.push((builder.rng.random_range(0..=span), Kind::Momentary));
    }
    plan.sort_by_key(|&(t, _)| t);

    // (busy until, feeders) of the faults and trips in progress.
    let mut busy: Vec<(u64, Vec<FeederKey>)> = Vec::new();
    for (planned, kind) in plan {
        let mut at = planned;
        let mut deferred = false;
        loop {
            busy.retain(|(until, _)| *until > at);
            let taken: HashSet<FeederKey> = busy
                .iter()
                .flat_map(|(_, keys)| keys.iter().copied())
                .collect();
            let placed = match kind {
                Kind::Sustained => builder.place_fault(&lines, &taken, at),
                Kind::Momentary => builder.place_momentary(&breakers, &taken, at),
            };
            if let Some(occupied) = placed {
                busy.push(occupied);
                break;
            }
            // Everything is busy: start when the earliest busy feeder is free again. With
            // nothing busy a place is always found (checked above), so this cannot spin.
            let Some(free_at) = busy.iter().map(|(until, _)| *until).min() else {
                break;
            };
            at = free_at;
            deferred = true;
        }
        if deferred && kind == Kind::Sustained {
            builder.deferred += 1;
        }
    }
    Ok(builder.finish())
}

fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A line that can fault: its protective device, customers out and upstream bus.
struct Candidate {
    device: u32,
    customers: Vec<u32>,
    upstream_bus: u32,
}

struct Builder<'a> {
    grid: &'a Grid,
    options: &'a SimOptions,
    start: DateTime<FixedOffset>,
    topology: Topology,
    rng: ChaCha8Rng,
    fpi_equipped: Vec<u32>,
    events: Vec<TimedEvent>,
    faults: Vec<TruthFault>,
    momentaries: Vec<TruthMomentary>,
    deferred: usize,
    calls: u64,
}

impl<'a> Builder<'a> {
    fn new(grid: &'a Grid, options: &'a SimOptions, start: DateTime<FixedOffset>) -> Self {
        let topology = Topology::new(grid);
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let fpi_equipped = (0..grid.branches.len())
            .map(to_u32)
            .filter(|&b| {
                let branch = grid.branch(b);
                branch.is_switch() && !branch.is_protective() && topology.is_conducting(b)
            })
            .filter(|_| rng.random_bool(options.fpi_share))
            .collect();
        Self {
            grid,
            options,
            start,
            topology,
            rng,
            fpi_equipped,
            events: Vec::new(),
            faults: Vec::new(),
            momentaries: Vec::new(),
            deferred: 0,
            calls: 0,
        }
    }

    fn finish(mut self) -> Simulation {
        // Stable: equal send times keep generation order, so a fixed seed is reproducible.
        self.events.sort_by_key(|e| e.at_offset_ms);
        self.faults.sort_by_key(|f| f.start_offset_ms);
        self.momentaries.sort_by_key(|m| m.start_offset_ms);
        Simulation {
            events: self.events,
            truth: GroundTruth {
                seed: self.options.seed,
                start: self.start,
                faults: self.faults,
                momentaries: self.momentaries,
                deferred_faults: self.deferred,
            },
        }
    }

    /// Planned start offsets of the sustained faults.
    fn fault_starts(&mut self) -> Vec<u64> {
        let count = self.options.faults;
        match self.options.storm_per_minute {
            Some(rate) => {
                let gap = (60_000.0 / rate).max(1.0) as u64;
                (0..count as u64)
                    .map(|i| i * gap + self.rng.random_range(0..gap))
                    .collect()
            }
            None => {
                let mean = ms(self.options.mean_fault_gap) as f64;
                let mut t = 0u64;
                (0..count)
                    .map(|i| {
                        if i > 0 {
                            let u: f64 = self.rng.random();
                            t += (-(1.0 - u).ln() * mean) as u64;
                        }
                        t
                    })
                    .collect()
            }
        }
    }

    fn feeder_key(&self, bus: u32) -> Option<FeederKey> {
        if let Some(breaker) = self.topology.feeder_of(bus) {
            return Some(FeederKey::Feeder(breaker));
        }
        self.topology
            .upstream_path(bus)
            .map(|path| FeederKey::Source(path.source))
    }

    /// The end of a conducting branch nearer the source.
    fn upstream_end(&self, branch: u32) -> Option<u32> {
        let [from, to] = self.topology.branch_ends(branch);
        let from_path = self.topology.upstream_path(from)?;
        if from_path.branches.first() == Some(&branch) {
            Some(to)
        } else {
            Some(from)
        }
    }

    fn sustained_candidate(&self, line: u32) -> Option<Candidate> {
        let upstream_bus = self.upstream_end(line)?;
        let outcome = self.topology.fault_on(line);
        let device = outcome.protective_device?;
        (!outcome.customers_out.is_empty()).then_some(Candidate {
            device,
            customers: outcome.customers_out,
            upstream_bus,
        })
    }

    /// Places a sustained fault at `at` on a random line of a free feeder; returns how
    /// long and which feeders it keeps busy, or `None` when every feeder is taken.
    fn place_fault(
        &mut self,
        lines: &[u32],
        taken: &HashSet<FeederKey>,
        at: u64,
    ) -> Option<(u64, Vec<FeederKey>)> {
        let mut order = lines.to_vec();
        order.shuffle(&mut self.rng);
        for line in order {
            let Some(upstream) = self.upstream_end(line) else {
                continue;
            };
            let Some(key) = self.feeder_key(upstream) else {
                continue;
            };
            if taken.contains(&key) {
                continue;
            }
            let Some(candidate) = self.sustained_candidate(line) else {
                continue;
            };
            let plan = self
                .options
                .switching
                .then(|| self.topology.restoration_plan(line));
            let mut keys = vec![key];
            for tie in plan.iter().flat_map(|p| &p.close_switches) {
                for bus in self.topology.branch_ends(tie.switch) {
                    keys.extend(self.feeder_key(bus));
                }
            }
            if keys.iter().any(|k| taken.contains(k)) {
                continue;
            }
            let until = self.emit_fault(line, &candidate, plan.as_ref(), at);
            return Some((until, keys));
        }
        None
    }

    fn place_momentary(
        &mut self,
        breakers: &[u32],
        taken: &HashSet<FeederKey>,
        at: u64,
    ) -> Option<(u64, Vec<FeederKey>)> {
        let mut order = breakers.to_vec();
        order.shuffle(&mut self.rng);
        for device in order {
            let [from, to] = self.topology.branch_ends(device);
            let Some(upstream) = self.upstream_end(device) else {
                continue;
            };
            let downstream = if upstream == from { to } else { from };
            let keys: Vec<FeederKey> = self.feeder_key(downstream).into_iter().collect();
            if keys.iter().any(|k| taken.contains(k)) {
                continue;
            }
            let until = self.emit_momentary(device, at);
            return Some((until, keys));
        }
        None
    }

    /// Queues one message that happened `occurred` ms after the start, sent after a random
    /// reordering delay plus `extra_delay`; sometimes queued twice with the same id.
    fn emit(&mut self, occurred: u64, producer: &str, event: FieldEvent, extra_delay: u64) {
        let occurred_at = self.at(occurred);
        let mut random = [0u8; 10];
        self.rng.fill(&mut random);
        let millis = u64::try_from(occurred_at.timestamp_millis()).unwrap_or(0);
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        let envelope = Envelope {
            id: EventId::from(id),
            occurred_at,
            producer: Producer::new(producer),
            correlation_id: None,
            event,
        };
        let wire = envelope.to_wire();
        let jitter = if self.options.reorder_ms > 0 {
            self.rng.random_range(0..=self.options.reorder_ms)
        } else {
            0
        };
        let send = occurred + jitter + extra_delay;
        if self.rng.random_bool(self.options.duplicate_share) {
            let again = send
                + self
                    .rng
                    .random_range(DUPLICATE_DELAY_MS.0..=DUPLICATE_DELAY_MS.1);
            self.events.push(TimedEvent {
                at_offset_ms: again,
                occurred_offset_ms: occurred,
                wire: wire.clone(),
            });
        }
        self.events.push(TimedEvent {
            at_offset_ms: send,
            occurred_offset_ms: occurred,
            wire,
        });
    }

    fn at(&self, offset_ms: u64) -> DateTime<FixedOffset> {
        self.start + TimeDelta::milliseconds(i64::try_from(offset_ms).unwrap_or(i64::MAX))
    }

    fn id_of(&self, branch: u32) -> String {
        self.grid.branch(branch).id.to_string()
    }

    fn customer_id(&self, customer: u32) -> String {
        self.grid.customer(customer).id.to_string()
    }

    fn last_gasps(&mut self, customers: &[u32], at: u64, spread: u64) {
        for &customer in customers {
            if self.rng.random_bool(self.options.share_last_gasp_lost) {
                continue;
            }
            let occurred = at + self.rng.random_range(0..spread.max(1));
            let late = if self.rng.random_bool(self.options.share_late) {
                self.rng.random_range(0..=ms(self.options.late_delay))
            } else {
                0
            };
            let meter = self.customer_id(customer).into();
            self.emit(
                occurred,
                AMI,
                FieldEvent::AmiLastGasp(AmiLastGasp { meter }),
                late,
            );
        }
    }

    fn power_restored(&mut self, customers: &[u32], at: u64) {
        for &customer in customers {
            let occurred = at + self.rng.random_range(0..RESTORED_SPREAD_MS);
            let meter = self.customer_id(customer).into();
            self.emit(
                occurred,
                AMI,
                FieldEvent::AmiPowerRestored(AmiPowerRestored { meter }),
                0,
            );
        }
    }

    fn scada_opened(&mut self, device: u32, cause: OpenCause, at: u64) {
        let device = self.id_of(device).into();
        self.emit(
            at,
            SCADA,
            FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened { device, cause }),
            0,
        );
    }

    fn scada_closed(&mut self, device: u32, cause: CloseCause, at: u64) {
        let device = self.id_of(device).into();
        self.emit(
            at,
            SCADA,
            FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed { device, cause }),
            0,
        );
    }

    fn crew_report(&mut self, crew: &str, kind: CrewReportKind, text: &str, at: u64) {
        let report = CrewReport {
            crew: crew.into(),
            incident: None,
            kind,
            text: text.to_owned(),
        };
        self.emit(at, CREW_APP, FieldEvent::CrewReport(report), 0);
    }

    fn crew_switching(&mut self, crew: &str, switch: u32, state: SwitchState, at: u64) {
        let device = self.id_of(switch);
        let text = match state {
            SwitchState::Open => format!("拉开 {device}"),
            SwitchState::Closed => format!("合上 {device}"),
        };
        let kind = CrewReportKind::Switching {
            device: device.into(),
            state,
        };
        self.crew_report(crew, kind, &text, at);
    }

    /// A point on the line (the middle of its middle segment), for wire-down calls.
    fn point_on(&self, branch: u32) -> LonLat {
        let geometry = &self.grid.branch(branch).geometry;
        match geometry.len() {
            0 => self.grid.bus(self.grid.branch(branch).from_bus).position,
            1 => geometry[0],
            n => {
                let (a, b) = (geometry[n / 2 - 1], geometry[n / 2]);
                [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
            }
        }
    }

    fn calls(&mut self, customers: &[u32], faulted: u32, at: u64) {
        for &customer in customers {
            if !self.rng.random_bool(self.options.share_callers) {
                continue;
            }
            self.calls += 1;
            let call_id = format!("SIM-{}-{}", self.options.seed, self.calls);
            let occurred = at + self.rng.random_range(CALL_WINDOW_MS.0..=CALL_WINDOW_MS.1);
            let id = self.customer_id(customer);
            let call = if self.rng.random_bool(self.options.share_wire_down) {
                let [lon, lat] = wgs84_to_gcj02(self.point_on(faulted));
                CallTrouble {
                    call_id: call_id.into(),
                    customer: Some(id.into()),
                    location: Some(CallLocation {
                        lon,
                        lat,
                        crs: Crs::Gcj02,
                    }),
                    kind: TroubleKind::WireDown,
                    text: "电线断了掉在路边".to_owned(),
                }
            } else if self.rng.random_bool(self.options.share_gcj02_only) {
                let [lon, lat] = wgs84_to_gcj02(self.grid.customer(customer).position);
                CallTrouble {
                    call_id: call_id.into(),
                    customer: None,
                    location: Some(CallLocation {
                        lon,
                        lat,
                        crs: Crs::Gcj02,
                    }),
                    kind: TroubleKind::NoPower,
                    text: "家里停电了（微信定位）".to_owned(),
                }
            } else {
                CallTrouble {
                    call_id: call_id.into(),
                    customer: Some(id.into()),
                    location: None,
                    kind: TroubleKind::NoPower,
                    text: "家里停电了".to_owned(),
                }
            };
            self.emit(occurred, CALL_CENTER, FieldEvent::CallTrouble(call), 0);
        }
    }

    /// Indicators between the device and the fault see fault current; those beyond the
    /// fault (in the zone the device takes out) report that they saw none. Indicators on
    /// other branches of the zone stay silent, as real ones do.
    fn indicators(&mut self, device: u32, line: u32, upstream_bus: u32, at: u64) {
        let path_to = |topology: &Topology, bus: u32| -> Vec<u32> {
            topology
                .upstream_path(bus)
                .map(|path| path.branches)
                .unwrap_or_default()
        };
        let on_path: Vec<u32> = path_to(&self.topology, upstream_bus)
            .into_iter()
            .take_while(|&b| b != device)
            .collect();
        self.topology.apply(Operation::Open(device));
        let zone: Vec<u32> = self
            .fpi_equipped
            .iter()
            .copied()
            .filter(|&s| {
                let [a, b] = self.topology.branch_ends(s);
                !self.topology.is_energized(a) && !self.topology.is_energized(b)
            })
            .collect();
        self.topology.apply(Operation::Close(device));
        for switch in zone {
            let fault_current = on_path.contains(&switch);
            let beyond = !fault_current
                && self
                    .upstream_end(switch)
                    .is_some_and(|bus| path_to(&self.topology, bus).contains(&line));
            if !(fault_current || beyond) {
                continue;
            }
            let occurred = at + self.rng.random_range(0..1_000);
            let fpi = FpiFault {
                device: self.id_of(switch).into(),
                fault_current,
            };
            self.emit(occurred, FPI, FieldEvent::FpiFault(fpi), 0);
        }
    }

    fn crew_for(&self, line: u32) -> String {
        self.grid
            .spatial()
            .nearest_crews(self.point_on(line), 1)
            .first()
            .map_or_else(
                || FALLBACK_CREW.to_owned(),
                |&(crew, _)| self.grid.crews[crew as usize].id.to_string(),
            )
    }

    /// Emits a sustained fault's whole story; returns the offset at which all is normal.
    fn emit_fault(
        &mut self,
        line: u32,
        candidate: &Candidate,
        plan: Option<&fudian_grid::RestorationPlan>,
        t0: u64,
    ) -> u64 {
        let device = candidate.device;
        let customers = &candidate.customers;
        self.scada_opened(device, OpenCause::Trip, t0);
        self.indicators(device, line, candidate.upstream_bus, t0);
        self.last_gasps(customers, t0, LAST_GASP_SPREAD_MS);
        self.calls(customers, line, t0);

        let crew = self.crew_for(line);
        let step = ms(self.options.switching_step).max(1);
        let mut t = t0 + ms(self.options.crew_after);
        self.crew_report(&crew, CrewReportKind::Arrived, "到达现场", t);

        let mut opened_by_crew = Vec::new();
        let mut closed_ties = Vec::new();
        let mut reclosed = false;
        let mut restored_by_switching: Vec<u32> = Vec::new();
        if let Some(plan) = plan {
            for &switch in &plan.isolating_switches {
                if switch != device && self.topology.is_closed(switch) {
                    t += step;
                    self.crew_switching(&crew, switch, SwitchState::Open, t);
                    opened_by_crew.push(switch);
                }
            }
            let by_ties: HashSet<u32> = plan
                .close_switches
                .iter()
                .flat_map(|tie| tie.customers.iter().copied())
                .collect();
            if plan.reclose == Some(device) {
                t += step;
                self.scada_closed(device, self.close_cause(device), t);
                reclosed = true;
                let back: Vec<u32> = plan
                    .restored
                    .iter()
                    .copied()
                    .filter(|c| !by_ties.contains(c))
                    .collect();
                self.power_restored(&back, t);
                restored_by_switching.extend(back);
            }
            for tie in &plan.close_switches {
                t += step;
                self.crew_switching(&crew, tie.switch, SwitchState::Closed, t);
                closed_ties.push(tie.switch);
                self.power_restored(&tie.customers, t);
                restored_by_switching.extend_from_slice(&tie.customers);
            }
        }

        t = (t + step).max(t0 + ms(self.options.repair_after));
        self.crew_report(&crew, CrewReportKind::Repaired, "故障已修复", t);
        // Back to the normal state: close the isolation (a brief closed loop through the
        // tie), open the ties, re-close the device if it is still open.
        for switch in opened_by_crew {
            t += step;
            self.crew_switching(&crew, switch, SwitchState::Closed, t);
        }
        for tie in closed_ties {
            t += step;
            self.crew_switching(&crew, tie, SwitchState::Open, t);
        }
        if !reclosed {
            t += step;
            self.scada_closed(device, self.close_cause(device), t);
        }
        let already: HashSet<u32> = restored_by_switching.iter().copied().collect();
        let rest: Vec<u32> = customers
            .iter()
            .copied()
            .filter(|c| !already.contains(c))
            .collect();
        self.power_restored(&rest, t);

        self.faults.push(TruthFault {
            faulted_element: self.id_of(line),
            protective_device: self.id_of(device),
            customers: self.grid.customer_ids(customers),
            start: self.at(t0),
            start_offset_ms: t0,
            restored_offset_ms: t + RESTORED_SPREAD_MS,
            restored_by_switching: self.grid.customer_ids(&restored_by_switching),
            crew,
        });
        t + RESTORED_SPREAD_MS + self.options.reorder_ms
    }

    fn close_cause(&self, device: u32) -> CloseCause {
        if self.grid.branch(device).remote_controlled {
            CloseCause::Remote
        } else {
            CloseCause::Manual
        }
    }

    /// Emits a trip reclosed within seconds; returns the offset at which it is over.
    fn emit_momentary(&mut self, device: u32, t0: u64) -> u64 {
        let customers = self.topology.outage_if_opened(device).customers.to_vec();
        let reclose = t0
            + self
                .rng
                .random_range(200..=ms(self.options.momentary_reclose_max));
        self.scada_opened(device, OpenCause::Trip, t0);
        self.last_gasps(&customers, t0, (reclose - t0).min(1_000));
        self.scada_closed(device, CloseCause::Reclose, reclose);
        self.power_restored(&customers, reclose);
        self.momentaries.push(TruthMomentary {
            device: self.id_of(device),
            customers: self.grid.customer_ids(&customers),
            start: self.at(t0),
            start_offset_ms: t0,
            reclosed_offset_ms: reclose,
        });
        t0 + ms(self.options.momentary_threshold)
    }
}

/// Counts the messages of each routing key (for progress lines and tests).
pub fn count_by_type(events: &[TimedEvent]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        *counts.entry(event.wire.routing_key.clone()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
