//! Engine tests on a small hand-made feeder (two sources, a breaker, a recloser, two fuses,
//! four transformers and a tie), plus a storm benchmark on a generated city grid.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset};
use fudian_events::envelope::Envelope;
use fudian_events::field::*;
use fudian_events::outage::{
    CancelReason, IncidentSnapshot, IncidentState, OutageCause, OutageEvent, RestorationMethod,
};
use fudian_grid::topology::Topology;
use fudian_grid::{
    AreaClass, Branch, BranchKind, Bus, Customer, Grid, GridParts, Source, SwitchDevice,
};
use proptest::prelude::*;

use super::*;

const BUSES: [(&str, f64); 15] = [
    ("B0", 10.0),
    ("B1", 10.0),
    ("B2", 10.0),
    ("B3", 10.0),
    ("B4", 10.0),
    ("B5", 10.0),
    ("B6", 0.4),
    ("B7", 10.0),
    ("B8", 0.4),
    ("B9", 10.0),
    ("B10", 10.0),
    ("B11", 0.4),
    ("B12", 10.0),
    ("B13", 0.4),
    ("B14", 10.0),
];

fn position(bus: usize) -> [f64; 2] {
    [
        118.60 + 0.004 * bus as f64,
        37.45 + 0.002 * (bus % 3) as f64,
    ]
}

fn branch(id: &str, kind: BranchKind, device: Option<SwitchDevice>, from: u32, to: u32) -> Branch {
    Branch {
        id: id.into(),
        kind,
        device,
        from_bus: from,
        to_bus: to,
        in_service: true,
        normal_open: false,
        remote_controlled: false,
        rated_kva: (kind == BranchKind::Transformer).then_some(400.0),
        length_m: None,
        name: None,
        geometry: vec![position(from as usize), position(to as usize)].into(),
    }
}

/// S1 ─ BRK ─ B1 ─ L1 ─ REC ─ B3 ─ L2 ─ B4 ─ F1 ─ T1 (C01-C04)
///                                      └─ F2 ─ T2 (C05-C08)
///                            B3 ─ L3 ─ SW ─ B10 ─ T3 (C09-C12), B10 ─ TIE (open) ─ S2
///             B1 ─ L4 ─ T4 (C13-C14)
fn test_grid() -> Arc<Grid> {
    use BranchKind::*;
    use SwitchDevice::*;
    let mut parts = GridParts::default();
    for (i, (id, kv)) in BUSES.iter().enumerate() {
        parts.buses.push(Bus {
            id: (*id).into(),
            voltage_kv: *kv,
            name: None,
            position: position(i),
        });
    }
    parts.sources.push(Source {
        id: "S1".into(),
        bus: 0,
        name: None,
        position: position(0),
    });
    parts.sources.push(Source {
        id: "S2".into(),
        bus: 14,
        name: None,
        position: position(14),
    });
    parts.branches = vec![
        branch("BRK", Switch, Some(Breaker), 0, 1),
        branch("L1", Line, None, 1, 2),
        branch("REC", Switch, Some(Recloser), 2, 3),
        branch("L2", Line, None, 3, 4),
        branch("F1", Switch, Some(Fuse), 4, 5),
        branch("T1", Transformer, None, 5, 6),
        branch("F2", Switch, Some(Fuse), 4, 7),
        branch("T2", Transformer, None, 7, 8),
        branch("L3", Line, None, 3, 9),
        branch("SW", Switch, Some(LoadBreakSwitch), 9, 10),
        branch("T3", Transformer, None, 10, 11),
        branch("L4", Line, None, 1, 12),
        branch("T4", Transformer, None, 12, 13),
        Branch {
            normal_open: true,
            ..branch("TIE", Switch, Some(LoadBreakSwitch), 10, 14)
        },
    ];
    let lv_of = |n: usize| match n {
        1..=4 => 6,
        5..=8 => 8,
        9..=12 => 11,
        _ => 13,
    };
    for n in 1..=14 {
        let bus = lv_of(n);
        let [lon, lat] = position(bus);
        parts.customers.push(Customer {
            id: format!("C{n:02}").into(),
            bus: bus as u32,
            position: [lon + 0.0003 * (n % 4) as f64, lat + 0.0004],
            area_class: if n <= 8 {
                AreaClass::Urban
            } else {
                AreaClass::Rural
            },
            name: None,
            phone: None,
            wechat_openid: None,
            channels: Box::new([]),
            critical: n == 9,
            peak_kw: None,
        });
    }
    Arc::new(Grid::from_parts(parts).unwrap())
}

fn t0() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-26T14:00:00+08:00").unwrap()
}

fn at(secs: i64) -> DateTime<FixedOffset> {
    t0() + Duration::seconds(secs)
}

fn field(event: FieldEvent, secs: i64) -> Envelope<FieldEvent> {
    Envelope::new("test", event).occurred(at(secs))
}

fn trip(device: &str) -> FieldEvent {
    FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
        device: device.into(),
        cause: OpenCause::Trip,
    })
}

fn close(device: &str, cause: CloseCause) -> FieldEvent {
    FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed {
        device: device.into(),
        cause,
    })
}

fn gasp(meter: &str) -> FieldEvent {
    FieldEvent::AmiLastGasp(AmiLastGasp {
        meter: meter.into(),
    })
}

fn power_back(meter: &str) -> FieldEvent {
    FieldEvent::AmiPowerRestored(AmiPowerRestored {
        meter: meter.into(),
    })
}

fn crew(incident: Option<&str>, kind: CrewReportKind) -> FieldEvent {
    FieldEvent::CrewReport(CrewReport {
        crew: "CREW-1".into(),
        incident: incident.map(Into::into),
        kind,
        text: String::new(),
    })
}

fn engine() -> Engine {
    Engine::new(test_grid(), Rules::default())
}

/// Feeds an event occurring at `secs`, processed at the same moment.
fn feed(engine: &mut Engine, event: FieldEvent, secs: i64) -> Vec<Effect> {
    engine
        .handle(Input::Field(&field(event, secs)), at(secs))
        .unwrap()
}

fn published(effects: &[Effect]) -> Vec<&OutageEvent> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Publish(p) = e {
                Some(p)
            } else {
                None
            }
        })
        .collect()
}

fn snapshots(effects: &[Effect]) -> Vec<&IncidentSnapshot> {
    published(effects)
        .into_iter()
        .filter_map(|e| match e {
            OutageEvent::Detected(s) | OutageEvent::Updated(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn ids(list: &[fudian_events::ids::CustomerId]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_trip_makes_a_confirmed_incident_with_exactly_the_customers_of_outage_if_opened() {
    let grid = test_grid();
    let rec = grid.branch_index("REC").unwrap();
    let expected = grid.customer_ids(Topology::new(&grid).outage_if_opened(rec).customers);
    let mut engine = Engine::new(grid, Rules::default());
    let effects = feed(&mut engine, trip("REC"), 0);
    let detected = match published(&effects).as_slice() {
        [OutageEvent::Detected(s)] => (*s).clone(),
        other => panic!("expected one detected event, got {other:?}"),
    };
    assert_eq!(detected.state, IncidentState::Confirmed);
    assert_eq!(detected.cause, Some(OutageCause::Fault));
    assert_eq!(detected.device.id.as_str(), "REC");
    assert_eq!(detected.feeder.as_ref().map(|f| f.as_str()), Some("BRK"));
    assert_eq!(ids(&detected.customers_out), expected);
    assert_eq!(detected.counts.customers, 12);
    assert_eq!(detected.counts.low_voltage_customers, 12);
    assert_eq!(detected.counts.public_transformers, 3);
    assert_eq!(detected.counts.customers_by_area_class.urban, 8);
    assert_eq!(ids(&detected.critical_customers_out), names(&["C09"]));
    // Urban base 120 min, recloser extra 0.
    assert_eq!(detected.etr, at(120 * 60));
    let started: Vec<String> = effects
        .iter()
        .filter_map(|e| {
            if let Effect::InterruptionStarted(s) = e {
                Some(ids(&s.customers))
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(started, expected);
}

#[test]
fn a_manual_opening_that_darkens_customers_is_a_switching_incident_and_planned_in_its_window() {
    let mut engine = engine();
    let effects = feed(
        &mut engine,
        FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
            device: "SW".into(),
            cause: OpenCause::Remote,
        }),
        0,
    );
    assert_eq!(
        snapshots(&effects)[0].cause,
        Some(OutageCause::RemoteSwitching)
    );
    assert_eq!(
        ids(&snapshots(&effects)[0].customers_out),
        names(&["C09", "C10", "C11", "C12"])
    );
}

#[test]
fn last_gasps_roll_up_to_the_transformer_fuse_and_then_to_the_recloser_over_three_devices() {
    let mut engine = engine();
    for meter in ["C01", "C02", "C03"] {
        assert!(feed(&mut engine, gasp(meter), 0).is_empty());
    }
    assert!(engine.tick(at(10)).is_empty(), "held for the window");
    let effects = engine.tick(at(31));
    let first = snapshots(&effects)[0].clone();
    assert_eq!(first.state, IncidentState::Predicted);
    assert_eq!(first.device.id.as_str(), "F1", "T1's fuse feeds only T1");
    assert_eq!(
        ids(&first.customers_out),
        names(&["C01", "C02", "C03", "C04"])
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::PingRequest(_))));

    // Two gasps under T2: F2 feeds nothing else, so it is the likelier open device.
    feed(&mut engine, gasp("C05"), 60);
    feed(&mut engine, gasp("C06"), 60);
    let effects = engine.tick(at(91));
    let second = snapshots(&effects)[0].clone();
    assert_eq!(second.device.id.as_str(), "F2");

    // A third device below the recloser crosses its device threshold: one incident there.
    feed(&mut engine, gasp("C09"), 120);
    feed(&mut engine, gasp("C10"), 120);
    let effects = engine.tick(at(151));
    let moved = snapshots(&effects).last().map(|s| (*s).clone()).unwrap();
    assert_eq!(moved.device.id.as_str(), "REC");
    assert_eq!(
        moved.incident, first.incident,
        "the oldest prediction survives"
    );
    assert_eq!(moved.customers_out.len(), 12);
    assert_eq!(moved.started_at, at(0));
    assert!(published(&effects).iter().any(|e| matches!(e,
        OutageEvent::Cancelled(c) if c.incident == second.incident && c.reason == CancelReason::Merged
            && c.merged_into.as_ref() == Some(&first.incident))));
    assert_eq!(engine.incidents().len(), 1);
}

#[test]
fn one_last_gasp_is_a_single_service_prediction_checked_by_a_ping() {
    let mut engine = engine();
    feed(&mut engine, gasp("C13"), 0);
    let effects = engine.tick(at(30));
    let snapshot = snapshots(&effects)[0].clone();
    assert_eq!(ids(&snapshot.customers_out), names(&["C13"]));
    let Some(Effect::PingRequest(ping)) =
        effects.iter().find(|e| matches!(e, Effect::PingRequest(_)))
    else {
        panic!("no ping in {effects:?}");
    };
    assert_eq!(ping.meters, vec!["C13".into()]);
    // The meter answers it is on: the prediction is cancelled and its record voided.
    let answer = FieldEvent::AmiPingResult(AmiPingResult {
        meter: "C13".into(),
        energized: true,
        request_id: ping.request_id.clone(),
    });
    let effects = feed(&mut engine, answer, 40);
    assert!(
        published(&effects).iter().any(
            |e| matches!(e, OutageEvent::Cancelled(c) if c.reason == CancelReason::NotConfirmed)
        )
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::InterruptionVoided(_)))
    );
    assert!(engine.incidents().is_empty());
}

#[test]
fn a_failed_ping_confirms_a_prediction() {
    let mut engine = engine();
    feed(&mut engine, gasp("C13"), 0);
    let effects = engine.tick(at(30));
    let Some(Effect::PingRequest(ping)) =
        effects.iter().find(|e| matches!(e, Effect::PingRequest(_)))
    else {
        panic!("no ping");
    };
    let answer = FieldEvent::AmiPingResult(AmiPingResult {
        meter: "C13".into(),
        energized: false,
        request_id: ping.request_id.clone(),
    });
    let effects = feed(&mut engine, answer, 40);
    assert_eq!(snapshots(&effects)[0].state, IncidentState::Confirmed);
}

#[test]
fn a_last_gasp_followed_by_power_within_five_minutes_is_a_momentary_record_not_an_incident() {
    let mut engine = engine();
    feed(&mut engine, gasp("C13"), 0);
    let effects = feed(&mut engine, power_back("C13"), 20);
    assert!(matches!(effects.as_slice(),
        [Effect::MeterInterruption(m)] if m.kind == InterruptionKind::Momentary && m.customer.as_str() == "C13"));
    assert!(engine.tick(at(60)).is_empty());
    assert!(engine.incidents().is_empty());
}

#[test]
fn a_prediction_made_only_of_momentary_interruptions_is_cancelled() {
    let mut engine = engine();
    feed(&mut engine, gasp("C13"), 0);
    feed(&mut engine, gasp("C14"), 0);
    let effects = engine.tick(at(30));
    assert_eq!(snapshots(&effects)[0].device.id.as_str(), "T4");
    feed(&mut engine, power_back("C13"), 100);
    let effects = feed(&mut engine, power_back("C14"), 120);
    assert!(
        published(&effects).iter().any(
            |e| matches!(e, OutageEvent::Cancelled(c) if c.reason == CancelReason::NotConfirmed)
        )
    );
    let ended: Vec<InterruptionKind> = effects
        .iter()
        .filter_map(|e| {
            if let Effect::InterruptionEnded(r) = e {
                Some(r.kind)
            } else {
                None
            }
        })
        .collect();
    assert!(!ended.is_empty() && ended.iter().all(|k| k.is_momentary()));
    assert!(engine.incidents().is_empty());
}

/// Applies record effects: (customer, incident) → (start, end).
type Record = (DateTime<FixedOffset>, Option<DateTime<FixedOffset>>);

#[derive(Default)]
struct Ledger {
    records: HashMap<(String, String), Record>,
}

impl Ledger {
    fn apply(&mut self, effects: &[Effect]) {
        for effect in effects {
            match effect {
                Effect::InterruptionStarted(s) => {
                    for c in &s.customers {
                        let old = self.records.insert(
                            (c.to_string(), s.incident.to_string()),
                            (s.started_at, None),
                        );
                        assert!(old.is_none(), "two records for {c} in {}", s.incident);
                    }
                }
                Effect::InterruptionEnded(e) => {
                    for c in &e.customers {
                        let record = self
                            .records
                            .get_mut(&(c.to_string(), e.incident.to_string()))
                            .unwrap();
                        assert_eq!(record.0, e.started_at);
                        record.1 = Some(e.ended_at);
                    }
                }
                Effect::InterruptionTransferred(t) => {
                    for c in &t.customers {
                        let (start, _) = self
                            .records
                            .remove(&(c.to_string(), t.from.to_string()))
                            .unwrap();
                        self.records
                            .insert((c.to_string(), t.to.to_string()), (start, None));
                    }
                }
                Effect::InterruptionVoided(v) => {
                    for c in &v.customers {
                        self.records
                            .remove(&(c.to_string(), v.incident.to_string()));
                    }
                }
                _ => {}
            }
        }
    }

    fn minutes_of(&self, customer: &str) -> i64 {
        self.records
            .iter()
            .filter(|((c, _), _)| c == customer)
            .map(|(_, (start, end))| (end.unwrap() - *start).num_minutes())
            .sum()
    }
}

#[test]
fn a_customer_still_out_after_restoration_gets_a_nested_incident_backdated_and_counted_once() {
    let mut engine = engine();
    let mut ledger = Ledger::default();
    let effects = feed(&mut engine, trip("REC"), 0);
    let parent = snapshots(&effects)[0].incident.clone();
    ledger.apply(&effects);
    let effects = feed(&mut engine, close("REC", CloseCause::Manual), 3600);
    ledger.apply(&effects);
    assert!(
        published(&effects)
            .iter()
            .any(|e| matches!(e, OutageEvent::Restored(r) if !r.partial))
    );
    let Some(Effect::PingRequest(after)) =
        effects.iter().find(|e| matches!(e, Effect::PingRequest(_)))
    else {
        panic!("no ping after restoration");
    };
    assert!(after.meters.contains(&"C05".into()));

    // The crew says some are still out: their meters are asked again.
    let effects = feed(
        &mut engine,
        crew(Some(parent.as_str()), CrewReportKind::StillOut),
        3700,
    );
    let Some(Effect::PingRequest(ping)) =
        effects.iter().find(|e| matches!(e, Effect::PingRequest(_)))
    else {
        panic!("no ping for still out: {effects:?}");
    };
    let answer = FieldEvent::AmiPingResult(AmiPingResult {
        meter: "C05".into(),
        energized: false,
        request_id: ping.request_id.clone(),
    });
    let effects = feed(&mut engine, answer, 3720);
    ledger.apply(&effects);
    let nested = snapshots(&effects)[0].clone();
    assert_ne!(nested.incident, parent);
    assert_eq!(nested.started_at, at(0), "backdated to the original start");
    assert_eq!(ids(&nested.customers_out), names(&["C05"]));
    assert_eq!(nested.device.id.as_str(), "T2");
    assert_eq!(
        engine.incident(nested.incident.as_str()).unwrap().parent,
        Some(parent.clone())
    );

    // The crew fixes it: one record, from the trip to the repair, under the nested incident.
    let effects = feed(
        &mut engine,
        crew(Some(nested.incident.as_str()), CrewReportKind::Repaired),
        7200,
    );
    ledger.apply(&effects);
    assert!(published(&effects).iter().any(|e| matches!(e,
        OutageEvent::Restored(r) if r.method == Some(RestorationMethod::Repair))));
    assert_eq!(ledger.minutes_of("C05"), 120);
    assert_eq!(ledger.records.keys().filter(|(c, _)| c == "C05").count(), 1);
    assert_eq!(ledger.minutes_of("C06"), 60);
}

#[test]
fn a_last_gasp_soon_after_restoration_is_a_nested_outage() {
    let mut engine = engine();
    feed(&mut engine, trip("BRK"), 0);
    feed(&mut engine, close("BRK", CloseCause::Manual), 1800);
    let held = feed(&mut engine, gasp("C13"), 1830);
    assert!(published(&held).is_empty(), "held like any last gasp");
    let effects = engine.tick(at(1830 + 600));
    let nested = snapshots(&effects)[0].clone();
    assert_eq!(nested.started_at, at(0));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::InterruptionTransferred(_)))
    );
}

#[test]
fn a_late_last_gasp_from_before_the_restoration_is_not_a_nested_outage() {
    let mut engine = engine();
    feed(&mut engine, trip("BRK"), 0);
    feed(&mut engine, close("BRK", CloseCause::Reclose), 1);
    // The gasp happened during the trip; the head-end delivers it after the reclose.
    let late = engine
        .handle(Input::Field(&field(gasp("C13"), 0)), at(3))
        .unwrap();
    assert!(published(&late).is_empty(), "no incident from stale news");
    assert!(
        late.iter().all(|e| matches!(e, Effect::Ignored(_))),
        "{late:?}"
    );
    assert!(
        engine
            .tick(at(600))
            .iter()
            .all(|e| !matches!(e, Effect::Publish(_)))
    );
}

#[test]
fn a_late_last_gasp_overtaken_by_its_power_restored_is_late_news_not_out_of_order() {
    let mut engine = engine();
    feed(&mut engine, trip("BRK"), 0);
    feed(&mut engine, close("BRK", CloseCause::Reclose), 1);
    feed(&mut engine, power_back("C13"), 1);
    let late = engine
        .handle(Input::Field(&field(gasp("C13"), 0)), at(3))
        .unwrap();
    assert!(
        late.iter().all(|e| matches!(e, Effect::Ignored(_))),
        "{late:?}"
    );
}

#[test]
fn a_meters_last_gasp_overtaken_by_its_power_restored_is_recorded_as_a_blip_not_dead_lettered() {
    let mut engine = engine();
    // No incident: the meter blinked, and the head-end delivered the restore first.
    let effects = feed(&mut engine, power_back("C13"), 20);
    assert!(
        effects.iter().all(|e| matches!(e, Effect::Ignored(_))),
        "{effects:?}"
    );
    let late = engine
        .handle(Input::Field(&field(gasp("C13"), 0)), at(25))
        .unwrap();
    assert!(
        matches!(late.as_slice(),
        [Effect::MeterInterruption(m)] if m.kind == InterruptionKind::Momentary
            && m.customer.as_str() == "C13" && m.started_at == at(0) && m.ended_at == at(20)),
        "{late:?}"
    );
    assert!(engine.tick(at(90)).is_empty());
    assert!(engine.incidents().is_empty());
    // Recorded once: another copy of it is late news, as any stale meter message.
    let again = engine
        .handle(Input::Field(&field(gasp("C13"), 0)), at(95))
        .unwrap();
    assert!(
        matches!(again.as_slice(), [Effect::Ignored(i)] if i.reason.contains("late news")),
        "{again:?}"
    );
}

#[test]
fn a_power_restored_older_than_the_meters_last_gasp_is_late_news_and_the_gasp_stands() {
    let mut engine = engine();
    feed(&mut engine, gasp("C13"), 10);
    let stale = engine
        .handle(Input::Field(&field(power_back("C13"), 5)), at(12))
        .unwrap();
    assert!(
        matches!(stale.as_slice(), [Effect::Ignored(i)] if i.reason.contains("late news")),
        "{stale:?}"
    );
    // The held gasp is untouched: power coming back later still ends it as a blip.
    let effects = feed(&mut engine, power_back("C13"), 30);
    assert!(
        matches!(effects.as_slice(), [Effect::MeterInterruption(m)] if m.started_at == at(10)),
        "{effects:?}"
    );
}

#[test]
fn an_old_snapshot_without_orphan_restores_still_loads() {
    let engine = engine();
    let mut json = serde_json::to_value(engine.snapshot()).unwrap();
    json.as_object_mut().unwrap().remove("orphan_restores");
    let state: EngineState = serde_json::from_value(json).unwrap();
    assert!(state.orphan_restores.is_empty());
}

#[test]
fn switching_restores_part_of_an_incident_and_the_tie_the_rest() {
    let mut engine = engine();
    let effects = feed(&mut engine, trip("REC"), 0);
    let id = snapshots(&effects)[0].incident.clone();
    let isolate = crew(
        Some(id.as_str()),
        CrewReportKind::Switching {
            device: "SW".into(),
            state: SwitchState::Open,
        },
    );
    let effects = feed(&mut engine, isolate, 600);
    assert!(
        published(&effects).is_empty(),
        "opening inside a dark area darkens nobody new"
    );
    let effects = feed(&mut engine, close("REC", CloseCause::Remote), 900);
    let restored = published(&effects)
        .into_iter()
        .find_map(|e| {
            if let OutageEvent::Restored(r) = e {
                Some(r.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert!(restored.partial);
    assert_eq!(restored.state, IncidentState::Confirmed);
    assert_eq!(restored.method, Some(RestorationMethod::Switching));
    assert_eq!(
        ids(&restored.customers_restored),
        names(&["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08"])
    );
    assert_eq!(
        ids(&restored.customers_still_out),
        names(&["C09", "C10", "C11", "C12"])
    );
    assert_eq!(restored.still_out_counts.critical_customers, 1);
    let tie = crew(
        Some(id.as_str()),
        CrewReportKind::Switching {
            device: "TIE".into(),
            state: SwitchState::Closed,
        },
    );
    let effects = feed(&mut engine, tie, 1200);
    let rest = published(&effects)
        .into_iter()
        .find_map(|e| {
            if let OutageEvent::Restored(r) = e {
                Some(r.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert!(!rest.partial);
    assert_eq!(rest.state, IncidentState::Restored);
    assert!(engine.incidents().is_empty());
}

#[test]
fn fault_indicators_narrow_the_fault_to_a_section() {
    let mut engine = engine();
    // One indicator reports before the trip arrives, one after.
    let fpi = |device: &str, fault_current: bool| {
        FieldEvent::FpiFault(FpiFault {
            device: device.into(),
            fault_current,
        })
    };
    assert!(feed(&mut engine, fpi("L2", false), 0).is_empty());
    let effects = feed(&mut engine, trip("REC"), 1);
    let section = |effects: &[Effect]| -> Vec<String> {
        snapshots(effects)[0]
            .fault_section
            .clone()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        section(&effects),
        names(&["L2", "L3", "SW", "T3"]),
        "L2 clean: not below its indicator"
    );
    let effects = feed(&mut engine, fpi("L3", true), 2);
    assert_eq!(section(&effects), names(&["L3", "SW", "T3"]));
}

#[test]
fn a_gcj02_located_wire_down_call_is_placed_attached_and_answered() {
    let grid = test_grid();
    let wgs = grid.customer(grid.customer_index("C13").unwrap()).position;
    let gcj = fudian_grid::gcj02::wgs84_to_gcj02(wgs);
    let mut engine = Engine::new(grid, Rules::default());
    let effects = feed(&mut engine, trip("BRK"), 0);
    let incident = snapshots(&effects)[0].incident.clone();
    let call = FieldEvent::CallTrouble(CallTrouble {
        call_id: "95598-1".into(),
        customer: None,
        location: Some(CallLocation {
            lon: gcj[0],
            lat: gcj[1],
            crs: Crs::Gcj02,
        }),
        kind: TroubleKind::WireDown,
        text: "电线掉在路上".into(),
    });
    let effects = feed(&mut engine, call, 60);
    assert!(effects.iter().any(|e| matches!(e,
        Effect::EvidenceAttached(a) if a.customer.as_ref().map(|c| c.as_str()) == Some("C13"))));
    let updated = snapshots(&effects)[0].clone();
    assert!(updated.priority.wire_down);
    assert!(effects.iter().any(|e| matches!(e,
        Effect::CallAnswered(a) if a.incident.as_ref() == Some(&incident) && a.state == Some(IncidentState::Confirmed)
            && a.etr == Some(updated.etr))));
}

#[test]
fn a_held_hazard_call_raises_the_priority_of_the_prediction_it_makes() {
    let mut engine = engine();
    let call = FieldEvent::CallTrouble(CallTrouble {
        call_id: "95598-2".into(),
        customer: Some("C13".into()),
        location: None,
        kind: TroubleKind::Other,
        text: "变压器冒烟".into(),
    });
    assert!(feed(&mut engine, call, 0).is_empty());
    let effects = engine.tick(at(30));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CallAnswered(a) if a.incident.is_some()))
    );
    assert_eq!(engine.incidents().len(), 1);
}

#[test]
fn bad_input_gets_an_error_naming_what_is_wrong() {
    let mut engine = engine();
    let unknown = engine
        .handle(Input::Field(&field(trip("NOPE"), 0)), at(0))
        .unwrap_err();
    assert_eq!(unknown, EngineError::UnknownElement("NOPE".into()));
    let not_switch = engine
        .handle(Input::Field(&field(trip("L1"), 0)), at(0))
        .unwrap_err();
    assert_eq!(not_switch.to_string(), "element `L1` is not a switch");
    let early_close = engine
        .handle(
            Input::Field(&field(close("REC", CloseCause::Reclose), 0)),
            at(0),
        )
        .unwrap_err();
    assert!(
        early_close.is_transient(),
        "a close before its trip may be retried"
    );
    let event = field(trip("REC"), 100);
    engine.handle(Input::Field(&event), at(100)).unwrap();
    assert!(matches!(
        engine.handle(Input::Field(&event), at(100)),
        Err(EngineError::Duplicate(_))
    ));
    let stale = engine
        .handle(
            Input::Field(&field(close("REC", CloseCause::Manual), 50)),
            at(101),
        )
        .unwrap_err();
    assert!(matches!(stale, EngineError::OutOfOrder { .. }), "{stale}");
    let meter = engine
        .handle(Input::Field(&field(gasp("C99"), 0)), at(101))
        .unwrap_err();
    assert_eq!(meter.to_string(), "unknown customer `C99`");
    let ping = FieldEvent::AmiPingResult(AmiPingResult {
        meter: "C01".into(),
        energized: true,
        request_id: "x".into(),
    });
    assert!(matches!(
        engine.handle(Input::Field(&field(ping, 0)), at(101)),
        Err(EngineError::UnknownPingRequest(_))
    ));
    let nowhere = FieldEvent::CallTrouble(CallTrouble {
        call_id: "c".into(),
        customer: None,
        location: Some(CallLocation {
            lon: 10.0,
            lat: 50.0,
            crs: Crs::Wgs84,
        }),
        kind: TroubleKind::NoPower,
        text: String::new(),
    });
    assert!(matches!(
        engine.handle(Input::Field(&field(nowhere, 0)), at(101)),
        Err(EngineError::CallNotPlaced { .. })
    ));
    let crew_unknown = engine.handle(
        Input::Field(&field(crew(Some("INC-9"), CrewReportKind::Arrived), 0)),
        at(101),
    );
    assert_eq!(
        crew_unknown,
        Err(EngineError::UnknownIncident("INC-9".into()))
    );
    // Errors left the state as it was: still one incident of 12 customers.
    assert_eq!(engine.incidents().len(), 1);
    assert_eq!(engine.incidents()[0].customers_out.len(), 12);
}

/// A scripted day: the same inputs and ticks for two engines.
fn script() -> Vec<(i64, Option<FieldEvent>)> {
    vec![
        (0, Some(gasp("C01"))),
        (0, Some(gasp("C02"))),
        (5, Some(gasp("C13"))),
        (10, None),
        // snapshot taken here in the test
        (40, None),
        (50, Some(trip("REC"))),
        (60, Some(gasp("C05"))),
        (95, None),
        (200, Some(close("REC", CloseCause::Reclose))),
        (230, None),
        (400, Some(power_back("C13"))),
    ]
}

#[test]
fn a_restored_snapshot_behaves_exactly_like_the_engine_it_was_taken_from() {
    let grid = test_grid();
    let mut original = Engine::new(Arc::clone(&grid), Rules::default());
    let steps = script();
    let envelopes: Vec<(i64, Option<Envelope<FieldEvent>>)> = steps
        .into_iter()
        .map(|(s, e)| (s, e.map(|e| field(e, s))))
        .collect();
    let run = |engine: &mut Engine, steps: &[(i64, Option<Envelope<FieldEvent>>)]| -> Vec<Effect> {
        let mut all = Vec::new();
        for (secs, envelope) in steps {
            match envelope {
                Some(e) => all.extend(engine.handle(Input::Field(e), at(*secs)).unwrap()),
                None => all.extend(engine.tick(at(*secs))),
            }
        }
        all
    };
    run(&mut original, &envelopes[..4]);
    let json = serde_json::to_string(&original.snapshot()).unwrap();
    let state: EngineState = serde_json::from_str(&json).unwrap();
    assert_eq!(state, original.snapshot());
    let mut restored = Engine::restore(Arc::clone(&grid), state).unwrap();
    let a = run(&mut original, &envelopes[4..]);
    let b = run(&mut restored, &envelopes[4..]);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(original.snapshot(), restored.snapshot());
    // A duplicate from before the snapshot is still refused after the restore.
    let Some(first) = &envelopes[0].1 else {
        panic!()
    };
    assert!(matches!(
        restored.handle(Input::Field(first), at(500)),
        Err(EngineError::Duplicate(_))
    ));
}

#[test]
fn a_snapshot_of_another_grid_is_refused() {
    let engine = engine();
    let mut parts_grid = GridParts::default();
    parts_grid.buses.push(Bus {
        id: "X".into(),
        voltage_kv: 10.0,
        name: None,
        position: [118.6, 37.4],
    });
    let other = Arc::new(Grid::from_parts(parts_grid).unwrap());
    assert!(matches!(
        Engine::restore(other, engine.snapshot()),
        Err(EngineError::GridMismatch(_))
    ));
}

/// Every dark customer is in exactly one active incident, no energized one in any.
fn check_invariant(engine: &Engine) -> Result<(), TestCaseError> {
    let grid = engine.grid();
    let mut count: BTreeMap<String, u32> = BTreeMap::new();
    for incident in engine.incidents() {
        for c in incident.customers_out {
            *count.entry(c).or_default() += 1;
        }
    }
    for customer in &grid.customers {
        let n = count.get(customer.id.as_ref()).copied().unwrap_or(0);
        let dark = !engine.topology().is_energized(customer.bus);
        prop_assert_eq!(
            n,
            u32::from(dark),
            "customer {} dark={} in {} incidents",
            customer.id,
            dark,
            n
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn after_any_trips_and_closes_every_dark_customer_is_in_exactly_one_incident(
        steps in prop::collection::vec((0usize..14, 0u8..3), 1..40)
    ) {
        let mut engine = engine();
        let switches: Vec<u32> = (0..engine.grid().branches.len() as u32)
            .filter(|&b| engine.grid().branch(b).is_switch())
            .collect();
        for (i, (pick, how)) in steps.into_iter().enumerate() {
            let b = switches[pick % switches.len()];
            let id = engine.grid().branch(b).id.to_string();
            let event = if engine.topology().is_closed(b) {
                let cause = [OpenCause::Trip, OpenCause::Manual, OpenCause::Remote][how as usize];
                FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened { device: id.as_str().into(), cause })
            } else {
                let cause = [CloseCause::Reclose, CloseCause::Manual, CloseCause::Remote][how as usize];
                FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed { device: id.as_str().into(), cause })
            };
            let secs = i as i64 * 10;
            engine.handle(Input::Field(&field(event, secs)), at(secs)).unwrap();
            check_invariant(&engine)?;
        }
    }
}

#[test]
fn a_scada_opening_confirms_the_prediction_it_explains_and_keeps_its_id() {
    let mut engine = engine();
    feed(&mut engine, gasp("C09"), 0);
    feed(&mut engine, gasp("C10"), 0);
    let effects = engine.tick(at(30));
    let predicted = snapshots(&effects)[0].clone();
    assert_eq!(predicted.device.id.as_str(), "T3");
    let effects = feed(&mut engine, trip("REC"), 40);
    let confirmed = snapshots(&effects)[0].clone();
    assert_eq!(confirmed.incident, predicted.incident);
    assert_eq!(confirmed.state, IncidentState::Confirmed);
    assert_eq!(confirmed.device.id.as_str(), "REC");
    assert_eq!(confirmed.customers_out.len(), 12);
    assert_eq!(
        confirmed.started_at,
        at(0),
        "the earliest evidence is the start"
    );
    assert_eq!(engine.incidents().len(), 1);
}

#[test]
fn switching_in_a_planned_jobs_window_is_recorded_as_planned() {
    use fudian_events::common::{AffectedCounts, TimeWindow};
    use fudian_events::planned::{NoticeDeadlines, PlannedApproved, PlannedEvent};
    let mut engine = engine();
    let approved = PlannedEvent::Approved(PlannedApproved {
        job: "PJ-1".into(),
        revision: 1,
        elements: vec!["SW".into()],
        work: "更换开关".into(),
        window: TimeWindow {
            start: at(3600),
            end: at(4 * 3600),
        },
        area: "测试".into(),
        counts: AffectedCounts::default(),
        customers: Vec::new(),
        critical_customers: Vec::new(),
        notice: NoticeDeadlines {
            notify_by: at(0),
            critical_notify_by: at(0),
            remind_at: at(0),
        },
    });
    engine
        .handle(Input::Planned(&Envelope::new("planner", approved)), at(0))
        .unwrap();
    let opening = FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
        device: "SW".into(),
        cause: OpenCause::Manual,
    });
    let effects = feed(&mut engine, opening, 3600);
    assert_eq!(snapshots(&effects)[0].cause, Some(OutageCause::Planned));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::InterruptionStarted(s) if s.planned))
    );
    let effects = feed(&mut engine, close("SW", CloseCause::Manual), 3 * 3600);
    assert!(effects.iter().any(|e| matches!(e, Effect::InterruptionEnded(r) if r.planned && r.kind == InterruptionKind::Sustained)));
}

#[test]
fn storm_mode_holds_evidence_longer() {
    let mut engine = engine();
    engine.set_storm_mode(true);
    feed(&mut engine, gasp("C13"), 0);
    assert!(engine.tick(at(60)).is_empty(), "the storm window is 90 s");
    assert_eq!(engine.held_count(), 1);
    assert!(!engine.tick(at(90)).is_empty());
    assert_eq!(engine.held_count(), 0);
}

#[test]
fn a_reclose_within_five_minutes_ends_the_records_as_momentary() {
    let mut engine = engine();
    feed(&mut engine, trip("BRK"), 0);
    let effects = feed(&mut engine, close("BRK", CloseCause::Reclose), 2);
    let restored = published(&effects)
        .into_iter()
        .find_map(|e| {
            if let OutageEvent::Restored(r) = e {
                Some(r.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(restored.method, Some(RestorationMethod::Reclose));
    assert!(effects.iter().all(
        |e| !matches!(e, Effect::InterruptionEnded(r) if r.kind != InterruptionKind::Momentary)
    ));
}

/// A storm on a city grid: `FUDIAN_STORM_GRID=/path/to/package cargo test -p fudian-outage
/// --release -- --ignored storm --nocapture` (default: `data/city-1.5m` of the workspace).
#[test]
#[ignore = "needs a generated city grid; run in release"]
fn storm_of_150k_last_gasps_and_20k_calls_runs_at_tens_of_thousands_of_events_per_second() {
    let dir = std::env::var("FUDIAN_STORM_GRID")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/city-1.5m").into());
    let started = std::time::Instant::now();
    let grid = Arc::new(fudian_grid::load_package(std::path::Path::new(&dir)).unwrap());
    eprintln!(
        "loaded {} customers in {:.1} s",
        grid.customers.len(),
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let mut engine = Engine::new(Arc::clone(&grid), Rules::default());
    engine.set_storm_mode(true);
    eprintln!("engine built in {:.1} s", started.elapsed().as_secs_f64());

    // Whole low-voltage buses go out, picked by a fixed xorshift stream.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut by_bus: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, c) in grid.customers.iter().enumerate() {
        by_bus.entry(c.bus).or_default().push(i as u32);
    }
    let mut buses: Vec<u32> = by_bus.keys().copied().collect();
    buses.sort_unstable();
    let mut out: Vec<u32> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    while out.len() < 150_000 {
        let bus = buses[(next() % buses.len() as u64) as usize];
        if taken.insert(bus) {
            out.extend(&by_bus[&bus]);
        }
    }
    out.truncate(150_000);
    let mut events: Vec<(i64, FieldEvent)> = Vec::with_capacity(170_000);
    for &c in &out {
        let secs = (next() % 1800) as i64;
        events.push((secs, gasp(&grid.customers[c as usize].id)));
    }
    for n in 0..20_000u32 {
        let c = out[(next() % out.len() as u64) as usize];
        let secs = (next() % 1800) as i64 + 60;
        events.push((
            secs,
            FieldEvent::CallTrouble(CallTrouble {
                call_id: format!("95598-{n}").into(),
                customer: Some(grid.customers[c as usize].id.as_ref().into()),
                location: None,
                kind: if n.is_multiple_of(50) {
                    TroubleKind::WireDown
                } else {
                    TroubleKind::NoPower
                },
                text: String::new(),
            }),
        ));
    }
    events.sort_by_key(|(s, _)| *s);
    let envelopes: Vec<(i64, Envelope<FieldEvent>)> =
        events.into_iter().map(|(s, e)| (s, field(e, s))).collect();

    let started = std::time::Instant::now();
    let mut effects = 0usize;
    let mut last_tick = -1;
    for (secs, envelope) in &envelopes {
        if *secs != last_tick {
            effects += engine.tick(at(*secs)).len();
            last_tick = *secs;
        }
        effects += engine
            .handle(Input::Field(envelope), at(*secs))
            .unwrap()
            .len();
    }
    effects += engine.tick(at(4000)).len();
    let elapsed = started.elapsed().as_secs_f64();
    let rate = envelopes.len() as f64 / elapsed;
    let out_now: usize = engine
        .incidents()
        .iter()
        .map(|i| i.customers_out.len())
        .sum();
    eprintln!(
        "{} events in {elapsed:.2} s: {rate:.0} events/s, {effects} effects, {} incidents, {out_now} customers out",
        envelopes.len(),
        engine.incidents().len()
    );
    assert!(out_now >= 150_000, "every customer heard from is out");
    let started = std::time::Instant::now();
    let json = serde_json::to_vec(&engine.snapshot()).unwrap();
    let state: EngineState = serde_json::from_slice(&json).unwrap();
    let restored = Engine::restore(Arc::clone(&grid), state).unwrap();
    eprintln!(
        "snapshot of {} MB saved and restored in {:.2} s",
        json.len() / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(restored.incidents().len(), engine.incidents().len());
    assert!(rate > 10_000.0, "{rate:.0} events/s");
}

#[test]
fn on_the_sample_grid_every_trip_and_close_round_trips_to_no_incident() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/grids/mv-oberrhein"
    );
    let Ok(grid) = fudian_grid::load_package(std::path::Path::new(dir)) else {
        panic!("sample grid missing at {dir}");
    };
    let grid = Arc::new(grid);
    let reference = Topology::new(&grid);
    let mut engine = Engine::new(Arc::clone(&grid), Rules::default());
    let mut secs = 0;
    for b in 0..grid.branches.len() as u32 {
        let branch = grid.branch(b);
        if !branch.is_protective() || !engine.topology().is_closed(b) {
            continue;
        }
        let expected = grid.customer_ids(reference.outage_if_opened(b).customers);
        let effects = feed(&mut engine, trip(&branch.id), secs);
        let got = snapshots(&effects)
            .first()
            .map(|s| ids(&s.customers_out))
            .unwrap_or_default();
        assert_eq!(got, expected, "trip of {}", branch.id);
        feed(
            &mut engine,
            close(&branch.id, CloseCause::Reclose),
            secs + 1,
        );
        assert!(
            engine.incidents().is_empty(),
            "after reclosing {}",
            branch.id
        );
        secs += 10;
    }
    assert!(secs > 0, "the sample grid has protective devices");
}

/// The engine's incremental lookups equal the ones a restore rebuilds from its state.
fn check_indexes_match_a_rebuild(engine: &Engine) -> Result<(), TestCaseError> {
    let rebuilt = Engine::restore(Arc::clone(engine.grid()), engine.snapshot()).unwrap();
    prop_assert_eq!(&engine.index.incident_of, &rebuilt.index.incident_of);
    prop_assert_eq!(&engine.index.by_id, &rebuilt.index.by_id);
    prop_assert_eq!(&engine.index.predicted_at, &rebuilt.index.predicted_at);
    prop_assert_eq!(&engine.index.registered, &rebuilt.index.registered);
    let counters = |e: &Engine| -> BTreeMap<u32, (u32, u32)> {
        e.index
            .below
            .iter()
            .filter(|(_, b)| b.fresh_devices + b.fresh_heard > 0)
            .map(|(&d, b)| (d, (b.fresh_devices, b.fresh_heard)))
            .collect()
    };
    prop_assert_eq!(counters(engine), counters(&rebuilt));
    let mut seen = std::collections::HashSet::new();
    for incident in engine.state.incidents.values() {
        prop_assert!(
            !incident.customers.is_empty(),
            "empty active incident {}",
            incident.id
        );
        for c in incident.customers.keys() {
            prop_assert!(seen.insert(*c), "customer {} in two incidents", c);
        }
        for c in &incident.heard {
            prop_assert!(
                incident.customers.contains_key(c),
                "heard {} not out in {}",
                c,
                incident.id
            );
        }
    }
    for customer in &engine.grid().customers {
        if !engine.topology().is_energized(customer.bus) {
            prop_assert!(
                engine.incident_of_customer(&customer.id).is_some(),
                "dark {} in no incident",
                customer.id
            );
        }
    }
    Ok(())
}

/// One random input of the mixed proptest.
fn mixed_event(
    engine: &Engine,
    kind: u8,
    pick: usize,
    last_ping: &Option<(String, Vec<String>)>,
) -> Option<FieldEvent> {
    let grid = engine.grid();
    let customer = grid.customers[pick % grid.customers.len()].id.to_string();
    let switches: Vec<u32> = (0..grid.branches.len() as u32)
        .filter(|&b| grid.branch(b).is_switch())
        .collect();
    let b = switches[pick % switches.len()];
    let device: fudian_events::ids::ElementId = grid.branch(b).id.as_ref().into();
    Some(match kind {
        0 | 1 => gasp(&customer),
        2 => power_back(&customer),
        3 if engine.topology().is_closed(b) => FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
            device,
            cause: OpenCause::Trip,
        }),
        3 => FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed {
            device,
            cause: CloseCause::Manual,
        }),
        4 => FieldEvent::CallTrouble(CallTrouble {
            call_id: format!("call-{pick}").into(),
            customer: Some(customer.as_str().into()),
            location: None,
            kind: TroubleKind::NoPower,
            text: String::new(),
        }),
        5 => {
            let (request, meters) = last_ping.as_ref()?;
            FieldEvent::AmiPingResult(AmiPingResult {
                meter: meters[pick % meters.len()].as_str().into(),
                energized: pick.is_multiple_of(2),
                request_id: request.as_str().into(),
            })
        }
        6 => {
            let incident = engine.incidents().into_iter().nth(pick % 3)?;
            let kind = [
                CrewReportKind::Arrived,
                CrewReportKind::Repaired,
                CrewReportKind::StillOut,
            ][pick % 3]
                .clone();
            crew(Some(incident.id.as_str()), kind)
        }
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn any_mix_of_field_events_keeps_the_bookkeeping_consistent_and_never_panics(
        steps in prop::collection::vec((0u8..8, 0usize..1000, 0i64..120), 1..60)
    ) {
        let mut engine = engine();
        let mut secs = 0;
        let mut last_ping: Option<(String, Vec<String>)> = None;
        for (kind, pick, gap) in steps {
            secs += gap;
            let effects = match mixed_event(&engine, kind, pick, &last_ping) {
                // Errors (stale meter events, already answered pings) are fine: no panic,
                // state unchanged.
                Some(event) => engine.handle(Input::Field(&field(event, secs)), at(secs)).unwrap_or_default(),
                None => engine.tick(at(secs)),
            };
            for effect in &effects {
                if let Effect::PingRequest(p) = effect {
                    last_ping = Some((p.request_id.to_string(), p.meters.iter().map(ToString::to_string).collect()));
                }
            }
            check_indexes_match_a_rebuild(&engine)?;
        }
    }
}

#[test]
fn predictions_older_than_the_time_separation_do_not_pull_new_evidence_up() {
    let mut engine = engine();
    for meter in ["C01", "C02"] {
        feed(&mut engine, gasp(meter), 0);
    }
    engine.tick(at(30));
    for meter in ["C05", "C06"] {
        feed(&mut engine, gasp(meter), 60);
    }
    engine.tick(at(90));
    // Twenty minutes later (separation: 15): a new outage, not a third device under REC.
    engine.tick(at(1200));
    for meter in ["C09", "C10"] {
        feed(&mut engine, gasp(meter), 1200);
    }
    let effects = engine.tick(at(1230));
    assert_eq!(snapshots(&effects)[0].device.id.as_str(), "T3");
    assert_eq!(engine.incidents().len(), 3);
}
