//! Unit tests of the topology index and the restoration planner on hand-made feeders.

use super::*;
use crate::model::{AreaClass, Branch, Bus, Customer, GridParts, Source};

/// Builds a grid from `(id, kind, device, from, to, normal_open, rated_kva)` branches over
/// buses `0..bus_count`, sources on `source_buses`, and `(bus, peak_kw)` customers.
type BranchSpec = (
    &'static str,
    BranchKind,
    Option<SwitchDevice>,
    u32,
    u32,
    bool,
    Option<f64>,
);

fn grid(
    bus_count: u32,
    source_buses: &[u32],
    branches: &[BranchSpec],
    customers: &[(u32, Option<f64>)],
) -> Grid {
    Grid::from_parts(parts(bus_count, source_buses, branches, customers)).unwrap()
}

fn parts(
    bus_count: u32,
    source_buses: &[u32],
    branches: &[BranchSpec],
    customers: &[(u32, Option<f64>)],
) -> GridParts {
    let mut parts = GridParts::default();
    for i in 0..bus_count {
        parts.buses.push(Bus {
            id: format!("B{i}").into(),
            voltage_kv: 10.0,
            name: None,
            position: [118.0 + f64::from(i) * 0.001, 37.0],
        });
    }
    for (i, &bus) in source_buses.iter().enumerate() {
        parts.sources.push(Source {
            id: format!("SRC{i}").into(),
            bus,
            name: None,
            position: [118.0, 37.0],
        });
    }
    for &(id, kind, device, from_bus, to_bus, normal_open, rated_kva) in branches {
        parts.branches.push(Branch {
            id: id.into(),
            kind,
            device,
            from_bus,
            to_bus,
            in_service: true,
            normal_open,
            remote_controlled: false,
            rated_kva,
            length_m: None,
            name: None,
            geometry: Box::new([[118.0, 37.0]]),
        });
    }
    for (i, &(bus, peak_kw)) in customers.iter().enumerate() {
        parts.customers.push(Customer {
            id: format!("C{i}").into(),
            bus,
            position: [118.0, 37.0],
            area_class: AreaClass::Urban,
            name: None,
            phone: None,
            wechat_openid: None,
            channels: Box::new([]),
            critical: false,
            peak_kw,
        });
    }
    parts
}

const LINE: BranchKind = BranchKind::Line;
const SWITCH: BranchKind = BranchKind::Switch;
const BREAKER: Option<SwitchDevice> = Some(SwitchDevice::Breaker);
const LBS: Option<SwitchDevice> = Some(SwitchDevice::LoadBreakSwitch);

/// Two feeders joined by a tie:
/// SRC0-B0 =CB1= B1 -L1- B2 =S2= B3 -L3- B4 =TIE= B5 -L5- B6 =CB2= B7-SRC1
fn two_feeders(tie_rating: Option<f64>, peak: Option<f64>) -> Grid {
    grid(
        8,
        &[0, 7],
        &[
            ("CB1", SWITCH, BREAKER, 0, 1, false, Some(1000.0)),
            ("L1", LINE, None, 1, 2, false, None),
            ("S2", SWITCH, LBS, 2, 3, false, None),
            ("L3", LINE, None, 3, 4, false, None),
            ("TIE", SWITCH, LBS, 4, 5, true, tie_rating),
            ("L5", LINE, None, 5, 6, false, None),
            ("CB2", SWITCH, BREAKER, 7, 6, false, Some(1000.0)),
        ],
        &[
            (1, peak),
            (2, peak),
            (3, peak),
            (4, peak),
            (5, peak),
            (6, peak),
        ],
    )
}

fn branch(grid: &Grid, id: &str) -> u32 {
    grid.branch_index(id).unwrap()
}

#[test]
fn a_fault_is_cleared_by_the_first_breaker_toward_the_source() {
    let grid = two_feeders(None, None);
    let topology = Topology::new(&grid);
    let fault = topology.fault_on(branch(&grid, "L3"));
    assert_eq!(fault.protective_device, Some(branch(&grid, "CB1")));
    assert_eq!(
        grid.customer_ids(&fault.customers_out),
        ["C0", "C1", "C2", "C3"]
    );
    assert_eq!(fault.users_out, 4);
}

#[test]
fn a_fault_on_a_breaker_is_cleared_above_it_and_without_one_the_island_goes_dark() {
    let grid = two_feeders(None, None);
    let topology = Topology::new(&grid);
    let fault = topology.fault_on(branch(&grid, "CB1"));
    assert_eq!(fault.protective_device, None);
    assert_eq!(fault.customers_out.len(), 4);
}

#[test]
fn upstream_path_and_feeder_walk_to_the_source() {
    let grid = two_feeders(None, None);
    let topology = Topology::new(&grid);
    let path = topology.upstream_path(4).unwrap();
    let ids: Vec<&str> = path.branches.iter().map(|&b| &*grid.branch(b).id).collect();
    assert_eq!(ids, ["L3", "S2", "L1", "CB1"]);
    assert_eq!(path.buses, [4, 3, 2, 1, 0]);
    assert_eq!(path.source, 0);
    assert_eq!(topology.feeder_of(4), Some(branch(&grid, "CB1")));
    assert_eq!(topology.feeder_of(5), Some(branch(&grid, "CB2")));
}

#[test]
fn restoration_isolates_the_section_and_closes_the_tie_when_it_fits() {
    let grid = two_feeders(Some(500.0), Some(100.0));
    let topology = Topology::new(&grid);
    let plan = topology.restoration_plan(branch(&grid, "L1"));
    assert_eq!(
        plan.isolating_switches,
        [branch(&grid, "CB1"), branch(&grid, "S2")]
    );
    assert_eq!(plan.reclose, None);
    assert_eq!(plan.close_switches.len(), 1);
    assert_eq!(plan.close_switches[0].switch, branch(&grid, "TIE"));
    assert_eq!(plan.close_switches[0].transferred_kw, Some(200.0));
    assert_eq!(plan.close_switches[0].capacity, CapacityCheck::Checked);
    assert_eq!(grid.customer_ids(&plan.restored), ["C2", "C3"]);
    assert_eq!(grid.customer_ids(&plan.stay_out_faulted), ["C0", "C1"]);
    assert!(plan.stay_out_unreachable.is_empty());
    assert_eq!(plan.capacity, CapacityCheck::Checked);
}

#[test]
fn restoration_refuses_a_tie_that_would_overload_the_receiving_breaker() {
    // The receiving feeder already carries 200 kW; 200 more exceeds a 300 kVA breaker.
    let mut grid = two_feeders(None, Some(100.0));
    let cb2 = branch(&grid, "CB2");
    grid.branches[cb2 as usize].rated_kva = Some(300.0);
    let topology = Topology::new(&grid);
    let plan = topology.restoration_plan(branch(&grid, "L1"));
    assert!(plan.close_switches.is_empty());
    assert_eq!(plan.refused_switches.len(), 1);
    assert!(matches!(plan.capacity, CapacityCheck::Violated { branch, .. } if branch == cb2));
    assert_eq!(grid.customer_ids(&plan.stay_out_unreachable), ["C2", "C3"]);
}

#[test]
fn restoration_without_peaks_closes_the_tie_but_says_it_is_unchecked() {
    let grid = two_feeders(Some(500.0), None);
    let topology = Topology::new(&grid);
    let plan = topology.restoration_plan(branch(&grid, "L1"));
    assert_eq!(plan.close_switches.len(), 1);
    assert!(matches!(plan.capacity, CapacityCheck::Unchecked { .. }));
    assert_eq!(grid.customer_ids(&plan.restored), ["C2", "C3"]);
}

#[test]
fn closing_the_tie_meshes_the_feeders_and_no_single_opening_loses_anyone_in_the_loop() {
    let grid = two_feeders(None, None);
    let mut topology = Topology::new(&grid);
    assert_eq!(topology.island_count(), 2);
    let change = topology.apply(Operation::Close(branch(&grid, "TIE")));
    assert!(change.lost.is_empty() && change.restored.is_empty());
    assert_eq!(topology.island_count(), 1);
    for id in ["CB1", "L1", "S2", "L3", "TIE", "L5", "CB2"] {
        assert_eq!(
            topology
                .outage_if_opened(branch(&grid, id))
                .customer_count(),
            0,
            "{id}"
        );
    }
    let change = topology.apply(Operation::Open(branch(&grid, "CB1")));
    assert!(change.lost.is_empty());
    assert_eq!(
        topology
            .outage_if_opened(branch(&grid, "CB2"))
            .customer_count(),
        6
    );
}

#[test]
fn taking_a_line_out_and_back_reports_lost_then_restored_customers() {
    let grid = two_feeders(None, None);
    let mut topology = Topology::new(&grid);
    let l3 = branch(&grid, "L3");
    let change = topology.apply(Operation::OutOfService(l3));
    assert_eq!(grid.customer_ids(&change.lost), ["C3"]);
    assert!(!topology.is_energized(4));
    let change = topology.apply(Operation::Close(l3));
    assert!(
        change.restored.is_empty(),
        "closing does not return a line to service"
    );
    let change = topology.apply(Operation::IntoService(l3));
    assert_eq!(grid.customer_ids(&change.restored), ["C3"]);
}

#[test]
fn a_public_transformer_counts_as_one_user_and_medium_voltage_customers_count_each() {
    // B0 -L0- B1 -T1- B2 (0.4 kV, three customers) ; B1 has one MV customer.
    let mut parts = parts(
        3,
        &[0],
        &[
            ("L0", LINE, None, 0, 1, false, None),
            (
                "T1",
                BranchKind::Transformer,
                None,
                1,
                2,
                false,
                Some(400.0),
            ),
        ],
        &[(1, None), (2, None), (2, None), (2, None)],
    );
    parts.buses[2].voltage_kv = 0.4;
    let grid = Grid::from_parts(parts).unwrap();
    assert!(grid.is_public_transformer(branch(&grid, "T1")));
    let topology = Topology::new(&grid);
    let lost = topology.outage_if_opened(branch(&grid, "L0"));
    assert_eq!((lost.customer_count(), lost.users), (4, 2));
    let lost = topology.outage_if_opened(branch(&grid, "T1"));
    assert_eq!((lost.customer_count(), lost.users), (3, 1));
}
