//! The sample grid answers every scenario of `references.json` (computed independently
//! with pandapower) exactly.

use fudian_grid::{Topology, load_package};
use serde_json::Value;

use crate::sample_dir;

fn references() -> Value {
    let text = std::fs::read_to_string(sample_dir().join("references.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sample_package_loads_with_the_reference_counts() {
    let grid = load_package(&sample_dir()).unwrap();
    let refs = references();
    assert_eq!(
        grid.buses.len() as u64,
        refs["counts"]["buses"].as_u64().unwrap()
    );
    assert_eq!(
        grid.sources.len() as u64,
        refs["counts"]["sources"].as_u64().unwrap()
    );
    assert_eq!(grid.customers.len(), 147);
    assert_eq!(grid.branches.len(), 181 + 322 + 2);
    assert_eq!(grid.cells.len(), 36);
    assert_eq!(grid.crews.len(), 69);
    let topology = Topology::new(&grid);
    assert_eq!(
        topology.energized_customer_count() as u64,
        refs["base_case"]["energized"].as_u64().unwrap()
    );
    assert_eq!(
        grid.customer_ids(&topology.unsupplied_customers()),
        ids(&refs["base_case"]["unsupplied"])
    );
}

#[test]
fn every_open_element_reference_agrees() {
    let grid = load_package(&sample_dir()).unwrap();
    let topology = Topology::new(&grid);
    let refs = references();
    let cases = refs["open_element"].as_object().unwrap();
    assert_eq!(cases.len(), 200);
    let mut wrong = Vec::new();
    for (id, expected) in cases {
        let branch = grid.branch_index(id).unwrap();
        let got = grid.customer_ids(topology.outage_if_opened(branch).customers);
        let naive = grid.customer_ids(&topology.naive_outage_if_opened(branch));
        assert_eq!(got, naive, "index and naive BFS disagree on {id}");
        if got != ids(expected) {
            wrong.push(id.clone());
        }
    }
    assert!(wrong.is_empty(), "open_element disagrees on {wrong:?}");
}

#[test]
fn every_fault_on_reference_agrees() {
    let grid = load_package(&sample_dir()).unwrap();
    let topology = Topology::new(&grid);
    let refs = references();
    let cases = refs["fault_on"].as_object().unwrap();
    let mut wrong = Vec::new();
    for (id, expected) in cases {
        let fault = topology.fault_on(grid.branch_index(id).unwrap());
        let device = fault
            .protective_device
            .map(|d| grid.branch(d).id.to_string());
        if device.as_deref() != expected["protective_device"].as_str()
            || grid.customer_ids(&fault.customers_out) != ids(&expected["customers_out"])
        {
            wrong.push(id.clone());
        }
    }
    assert!(wrong.is_empty(), "fault_on disagrees on {wrong:?}");
}

#[test]
fn every_isolate_restore_reference_agrees() {
    let grid = load_package(&sample_dir()).unwrap();
    let topology = Topology::new(&grid);
    let refs = references();
    let cases = refs["isolate_restore"].as_object().unwrap();
    let mut wrong = Vec::new();
    for (id, expected) in cases {
        let plan = topology.restoration_plan(grid.branch_index(id).unwrap());
        let switches: Vec<String> = plan
            .isolating_switches
            .iter()
            .map(|&s| grid.branch(s).id.to_string())
            .collect();
        if switches != ids(&expected["isolating_switches"])
            || grid.customer_ids(&plan.stay_out()) != ids(&expected["stay_out"])
        {
            wrong.push((id.clone(), switches, grid.customer_ids(&plan.stay_out())));
        }
    }
    assert!(wrong.is_empty(), "isolate_restore disagrees on {wrong:?}");
}

#[test]
fn batch_answers_match_the_references_section_by_section() {
    let grid = load_package(&sample_dir()).unwrap();
    let topology = Topology::new(&grid);
    let refs = references();
    let answers = fudian_grid::batch::answer(&grid, &topology, &refs);
    for section in [
        "open_element",
        "fault_on",
        "isolate_restore",
        "base_case",
        "validation",
        "counts",
    ] {
        assert_eq!(answers[section], refs[section], "section {section} differs");
    }
    // Everything answered or copied: the whole documents agree.
    assert_eq!(answers, refs);
}

#[test]
fn unchecked_capacity_is_said_when_the_sample_has_no_peaks() {
    let grid = load_package(&sample_dir()).unwrap();
    let topology = Topology::new(&grid);
    let plan = topology.restoration_plan(grid.branch_index("L11").unwrap());
    assert!(!plan.stay_out_unreachable.is_empty() || !plan.close_switches.is_empty());
    for closing in &plan.close_switches {
        assert!(matches!(
            closing.capacity,
            fudian_grid::CapacityCheck::Unchecked { .. }
        ));
    }
}
