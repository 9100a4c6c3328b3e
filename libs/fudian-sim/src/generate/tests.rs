//! Tests of scenario generation against the sample grid.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use fudian_events::field::{self, CrewReportKind, FieldEvent};
use fudian_grid::gcj02::gcj02_to_wgs84;
use fudian_grid::load::{haversine_m, load_package};

use super::*;
use crate::truth::{ReportedIncident, score};

fn sample_grid() -> &'static Grid {
    static GRID: OnceLock<Grid> = OnceLock::new();
    GRID.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/grids/mv-oberrhein");
        load_package(&dir).unwrap()
    })
}

fn start() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-26T14:00:00+08:00").unwrap()
}

fn simulate(options: &SimOptions) -> Simulation {
    generate(sample_grid(), options, start()).unwrap()
}

fn decoded(event: &TimedEvent) -> Envelope<FieldEvent> {
    field::decode(&event.wire.body)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", event.wire.routing_key))
}

fn busy_options() -> SimOptions {
    SimOptions {
        seed: 7,
        faults: 12,
        share_callers: 0.6,
        share_gcj02_only: 0.5,
        share_wire_down: 0.2,
        share_momentary: 0.5,
        duplicate_share: 0.2,
        ..SimOptions::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_does_not() {
    let one = simulate(&busy_options());
    let two = simulate(&busy_options());
    assert_eq!(one.events, two.events);
    assert_eq!(one.truth, two.truth);
    let other = simulate(&SimOptions {
        seed: 8,
        ..busy_options()
    });
    assert_ne!(one.truth.faults, other.truth.faults);
}

#[test]
fn every_event_decodes_as_a_field_event_and_goes_out_in_send_order() {
    let simulation = simulate(&busy_options());
    assert!(simulation.events.len() > 100, "{}", simulation.events.len());
    for pair in simulation.events.windows(2) {
        assert!(pair[0].at_offset_ms <= pair[1].at_offset_ms);
    }
    for event in &simulation.events {
        let envelope = decoded(event);
        assert_eq!(event.wire.exchange, field::EXCHANGE);
        assert_eq!(event.wire.routing_key, envelope.event_type());
        assert_eq!(event.wire.message_id, envelope.id.to_string());
        assert!(event.at_offset_ms >= event.occurred_offset_ms);
        assert_eq!(
            envelope.occurred_at,
            start() + TimeDelta::milliseconds(event.occurred_offset_ms as i64)
        );
    }
}

#[test]
fn the_truth_customers_are_what_fault_on_says_for_the_faulted_line() {
    let grid = sample_grid();
    let topology = Topology::new(grid);
    let simulation = simulate(&busy_options());
    assert_eq!(simulation.truth.faults.len(), 12);
    for fault in &simulation.truth.faults {
        let line = grid.branch_index(&fault.faulted_element).unwrap();
        assert_eq!(grid.branch(line).kind, BranchKind::Line);
        let outcome = topology.fault_on(line);
        let device = outcome.protective_device.unwrap();
        assert_eq!(fault.protective_device, grid.branch(device).id.as_ref());
        assert_eq!(fault.customers, grid.customer_ids(&outcome.customers_out));
        assert!(!fault.customers.is_empty());
    }
}

#[test]
fn every_trip_names_a_protective_device_and_every_fault_has_its_trip() {
    let grid = sample_grid();
    let simulation = simulate(&busy_options());
    let mut trips: Vec<(String, u64)> = Vec::new();
    for event in &simulation.events {
        if let FieldEvent::ScadaSwitchOpened(opened) = decoded(event).event {
            assert_eq!(opened.cause, field::OpenCause::Trip);
            let branch = grid.branch_index(opened.device.as_str()).unwrap();
            assert!(
                grid.branch(branch).is_protective(),
                "{}",
                opened.device.as_str()
            );
            trips.push((opened.device.into_string(), event.occurred_offset_ms));
        }
    }
    for fault in &simulation.truth.faults {
        assert!(
            trips.contains(&(fault.protective_device.clone(), fault.start_offset_ms)),
            "no trip of {} at {}",
            fault.protective_device,
            fault.start_offset_ms
        );
    }
}

#[test]
fn gcj02_call_locations_convert_back_within_a_metre_of_a_customer_out() {
    let grid = sample_grid();
    let simulation = simulate(&busy_options());
    let out: std::collections::HashSet<&str> = simulation
        .truth
        .faults
        .iter()
        .flat_map(|f| f.customers.iter().map(String::as_str))
        .collect();
    let mut located = 0;
    for event in &simulation.events {
        let FieldEvent::CallTrouble(call) = decoded(event).event else {
            continue;
        };
        let (Some(location), None) = (call.location, &call.customer) else {
            continue;
        };
        assert_eq!(location.crs, field::Crs::Gcj02);
        let wgs = gcj02_to_wgs84([location.lon, location.lat]);
        let near = grid.spatial().customers_within(wgs, 1.0);
        assert!(
            near.iter()
                .any(|&c| out.contains(grid.customer(c).id.as_ref())),
            "no customer out within 1 m of {wgs:?}"
        );
        let nearest = near
            .iter()
            .map(|&c| haversine_m(wgs, grid.customer(c).position))
            .fold(f64::INFINITY, f64::min);
        assert!(nearest < 1.0, "{nearest}");
        located += 1;
    }
    assert!(located > 0, "no GCJ-02-only call was generated");
}

#[test]
fn wire_down_calls_point_at_the_faulted_line() {
    let grid = sample_grid();
    let simulation = simulate(&busy_options());
    let mut wire_down = 0;
    for event in &simulation.events {
        let FieldEvent::CallTrouble(call) = decoded(event).event else {
            continue;
        };
        if call.kind != field::TroubleKind::WireDown {
            continue;
        }
        let location = call.location.unwrap();
        let hit = grid
            .spatial()
            .nearest_segment(gcj02_to_wgs84([location.lon, location.lat]))
            .unwrap();
        assert!(hit.metres < 1.0, "{}", hit.metres);
        wire_down += 1;
    }
    assert!(wire_down > 0);
}

#[test]
fn duplicates_share_an_id_and_a_body() {
    let simulation = simulate(&busy_options());
    let mut by_id: HashMap<&str, Vec<&TimedEvent>> = HashMap::new();
    for event in &simulation.events {
        by_id.entry(&event.wire.message_id).or_default().push(event);
    }
    let duplicated: Vec<&Vec<&TimedEvent>> = by_id.values().filter(|v| v.len() > 1).collect();
    assert!(!duplicated.is_empty());
    for copies in duplicated {
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[0].wire, copies[1].wire);
    }
    let none = simulate(&SimOptions {
        duplicate_share: 0.0,
        ..busy_options()
    });
    let ids: std::collections::HashSet<&str> = none
        .events
        .iter()
        .map(|e| e.wire.message_id.as_str())
        .collect();
    assert_eq!(ids.len(), none.events.len());
}

#[test]
fn some_messages_arrive_in_another_order_than_they_happened() {
    let simulation = simulate(&busy_options());
    let swapped = simulation
        .events
        .windows(2)
        .filter(|pair| pair[0].occurred_offset_ms > pair[1].occurred_offset_ms)
        .count();
    assert!(swapped > 0);
    let in_order = simulate(&SimOptions {
        reorder_ms: 0,
        share_late: 0.0,
        duplicate_share: 0.0,
        ..busy_options()
    });
    assert!(
        in_order
            .events
            .windows(2)
            .all(|pair| pair[0].occurred_offset_ms <= pair[1].occurred_offset_ms)
    );
}

#[test]
fn momentary_meters_report_power_back_within_the_threshold() {
    let options = busy_options();
    let simulation = simulate(&options);
    assert_eq!(simulation.truth.momentaries.len(), 6);
    let mut restored: HashMap<String, Vec<u64>> = HashMap::new();
    for event in &simulation.events {
        if let FieldEvent::AmiPowerRestored(back) = decoded(event).event {
            restored
                .entry(back.meter.into_string())
                .or_default()
                .push(event.occurred_offset_ms);
        }
    }
    let threshold = ms(options.momentary_threshold);
    for momentary in &simulation.truth.momentaries {
        assert!(momentary.reclosed_offset_ms - momentary.start_offset_ms <= 3_000);
        for customer in &momentary.customers {
            let times = &restored[customer];
            assert!(
                times.iter().any(|&t| t >= momentary.start_offset_ms
                    && t - momentary.start_offset_ms < threshold),
                "{customer} not back within the threshold"
            );
        }
    }
}

#[test]
fn fault_current_is_seen_between_the_device_and_the_fault_only() {
    let grid = sample_grid();
    let topology = Topology::new(grid);
    let simulation = simulate(&SimOptions {
        duplicate_share: 0.0,
        share_momentary: 0.0,
        ..busy_options()
    });
    let mut indications: BTreeMap<bool, usize> = BTreeMap::new();
    for event in &simulation.events {
        if let FieldEvent::FpiFault(fpi) = decoded(event).event {
            *indications.entry(fpi.fault_current).or_default() += 1;
        }
    }
    assert!(
        indications[&true] > 0 && indications[&false] > 0,
        "{indications:?}"
    );
    // With one fault only, the indicators are exactly those of its zone.
    let single = simulate(&SimOptions {
        faults: 1,
        share_momentary: 0.0,
        duplicate_share: 0.0,
        ..busy_options()
    });
    let fault = &single.truth.faults[0];
    let line = grid.branch_index(&fault.faulted_element).unwrap();
    let [from, to] = topology.branch_ends(line);
    let path_from = |bus| topology.upstream_path(bus).unwrap().branches;
    let path = if path_from(from).first() == Some(&line) {
        path_from(to)
    } else {
        path_from(from)
    };
    let device = grid.branch_index(&fault.protective_device).unwrap();
    let expected: Vec<String> = path
        .iter()
        .take_while(|&&b| b != device)
        .filter(|&&b| grid.branch(b).is_switch())
        .map(|&b| grid.branch(b).id.to_string())
        .collect();
    let mut seen: Vec<String> = Vec::new();
    for event in &single.events {
        let FieldEvent::FpiFault(fpi) = decoded(event).event else {
            continue;
        };
        if fpi.fault_current {
            seen.push(fpi.device.into_string());
        } else {
            // No fault current: the indicator sits beyond the fault.
            let switch = grid.branch_index(fpi.device.as_str()).unwrap();
            let [a, b] = topology.branch_ends(switch);
            assert!(
                path_from(a).contains(&line) || path_from(b).contains(&line),
                "{} is not beyond the fault",
                fpi.device.as_str()
            );
        }
    }
    seen.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(seen, expected_sorted);
}

#[test]
fn every_customer_out_gets_power_back_and_the_crew_reports_the_repair() {
    let simulation = simulate(&busy_options());
    let mut restored: HashMap<String, Vec<u64>> = HashMap::new();
    let mut repaired = 0;
    let mut switching = 0;
    let mut seen = std::collections::HashSet::new();
    for event in &simulation.events {
        if !seen.insert(&event.wire.message_id) {
            continue;
        }
        match decoded(event).event {
            FieldEvent::AmiPowerRestored(back) => restored
                .entry(back.meter.into_string())
                .or_default()
                .push(event.occurred_offset_ms),
            FieldEvent::CrewReport(report) => match report.kind {
                CrewReportKind::Repaired => repaired += 1,
                CrewReportKind::Switching { .. } => switching += 1,
                _ => {}
            },
            _ => {}
        }
    }
    assert_eq!(repaired, simulation.truth.faults.len());
    assert!(switching > 0);
    for fault in &simulation.truth.faults {
        for customer in &fault.customers {
            assert!(
                restored[customer]
                    .iter()
                    .any(|&t| t > fault.start_offset_ms && t <= fault.restored_offset_ms),
                "{customer} of {} never got power back",
                fault.faulted_element
            );
        }
        assert!(
            fault
                .restored_by_switching
                .iter()
                .all(|c| fault.customers.contains(c))
        );
    }
}

#[test]
fn a_storm_keeps_every_fault_and_never_overlaps_two_on_one_device() {
    let simulation = simulate(&SimOptions {
        faults: 20,
        storm_per_minute: Some(10.0),
        ..busy_options()
    });
    let faults = &simulation.truth.faults;
    assert_eq!(faults.len(), 20);
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            if a.protective_device == b.protective_device {
                assert!(
                    b.start_offset_ms > a.restored_offset_ms
                        || a.start_offset_ms > b.restored_offset_ms
                );
            }
        }
    }
}

#[test]
fn the_last_gasps_lost_share_is_honoured() {
    let all = simulate(&SimOptions {
        share_last_gasp_lost: 0.0,
        duplicate_share: 0.0,
        share_momentary: 0.0,
        ..busy_options()
    });
    let none = simulate(&SimOptions {
        share_last_gasp_lost: 1.0,
        duplicate_share: 0.0,
        share_momentary: 0.0,
        ..busy_options()
    });
    let gasps = |s: &Simulation| count_by_type(&s.events).get("ami.last_gasp").copied();
    let out: usize = all.truth.faults.iter().map(|f| f.customers.len()).sum();
    assert_eq!(gasps(&all), Some(out));
    assert_eq!(gasps(&none), None);
}

#[test]
fn perfect_incidents_score_one_and_half_of_them_score_their_share_of_recall() {
    let simulation = simulate(&busy_options());
    let truth = &simulation.truth;
    let perfect: Vec<ReportedIncident> = truth
        .faults
        .iter()
        .map(|f| ReportedIncident {
            device: Some(f.protective_device.clone()),
            customers: f.customers.clone(),
        })
        .collect();
    let full = score(truth, &perfect);
    assert_eq!(full.faults, truth.faults.len());
    assert_eq!(
        (full.device_share, full.precision, full.recall),
        (1.0, 1.0, 1.0)
    );
    let half = &perfect[..perfect.len() / 2];
    let kept: usize = half.iter().map(|i| i.customers.len()).sum();
    let total: usize = perfect.iter().map(|i| i.customers.len()).sum();
    let partial = score(truth, half);
    assert_eq!(partial.devices_found, half.len());
    assert_eq!(partial.precision, 1.0);
    assert!((partial.recall - kept as f64 / total as f64).abs() < 1e-12);
}

#[test]
fn zero_faults_on_a_grid_still_works_and_options_are_checked() {
    let simulation = simulate(&SimOptions {
        faults: 0,
        ..SimOptions::default()
    });
    assert!(simulation.truth.faults.is_empty());
    assert!(simulation.events.is_empty());
    let error = generate(
        sample_grid(),
        &SimOptions {
            duplicate_share: -0.1,
            ..SimOptions::default()
        },
        start(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("duplicate_share"), "{error}");
}

#[test]
fn a_storm_on_a_generated_city_trips_fuses_and_reclosers_with_the_right_customers() {
    let dir = tempfile::tempdir().unwrap();
    let options = fudian_grid::generate::GenerateOptions {
        customers: 4_000,
        feeders: 12,
        seed: 3,
    };
    fudian_grid::generate::generate(&options, dir.path(), &mut |_, _| {}).unwrap();
    let grid = load_package(dir.path()).unwrap();
    let topology = Topology::new(&grid);
    let simulation = generate(
        &grid,
        &SimOptions {
            faults: 40,
            storm_per_minute: Some(20.0),
            ..busy_options()
        },
        start(),
    )
    .unwrap();
    assert_eq!(simulation.truth.faults.len(), 40);
    let mut devices = std::collections::BTreeSet::new();
    for fault in &simulation.truth.faults {
        let line = grid.branch_index(&fault.faulted_element).unwrap();
        let outcome = topology.fault_on(line);
        let device = outcome.protective_device.unwrap();
        assert_eq!(fault.customers, grid.customer_ids(&outcome.customers_out));
        devices.insert(grid.branch(device).device.unwrap().as_str());
    }
    assert!(devices.len() >= 2, "only {devices:?} tripped");
    for event in &simulation.events {
        decoded(event);
    }
}

#[test]
fn late_last_gasps_arrive_long_after_they_happened() {
    let options = SimOptions {
        share_late: 1.0,
        duplicate_share: 0.0,
        ..busy_options()
    };
    let simulation = simulate(&options);
    let latest = simulation
        .events
        .iter()
        .filter(|e| e.wire.routing_key == field::AMI_LAST_GASP)
        .map(|e| e.at_offset_ms - e.occurred_offset_ms)
        .max()
        .unwrap();
    assert!(latest > options.reorder_ms, "{latest}");
    assert!(latest <= options.reorder_ms + ms(options.late_delay));
}

#[test]
fn the_demo_preset_finishes_within_half_an_hour_on_the_sample_grid() {
    let simulation = simulate(&SimOptions::demo(1));
    let last = simulation.events.last().unwrap().at_offset_ms;
    assert!(last < 30 * 60_000, "{last}");
    let mut player = simulation.player(1.0);
    let first_minute = player.due(std::time::Duration::from_secs(60)).len();
    assert!(first_minute > 0 && first_minute < simulation.events.len());
}
