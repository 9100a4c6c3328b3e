//! Answers a file of scenarios shaped like `references.json` (grid-package-references/1)
//! in the same shape, so answers and references compare key by key.
//!
//! Sections answered: `counts`, `base_case`, `validation`, `open_element`, `fault_on`,
//! `isolate_restore`; an element id the package does not have gets `{"error": ...}`.
//! Keys that describe how the references were made (`format`, `origin`, `notes`, ...) and
//! counts the package cannot know (`pandapower_buses`) are copied through unchanged, so a
//! diff of answers against references shows only disagreements.

use serde_json::{Map, Value, json};

use crate::model::{BranchKind, Grid};
use crate::topology::Topology;

/// Sections of one scenario per element id.
const SCENARIO_SECTIONS: [&str; 3] = ["open_element", "fault_on", "isolate_restore"];

/// Top-level keys this module answers (all others are copied through).
const ANSWERED: [&str; 6] = [
    "counts",
    "base_case",
    "validation",
    "open_element",
    "fault_on",
    "isolate_restore",
];

/// Independent loops of the conducting network (edges - buses + components).
fn independent_loops(topology: &Topology) -> usize {
    let mut parent: Vec<u32> = (0..topology.bus_count() as u32).collect();
    fn root(parent: &mut [u32], mut bus: u32) -> u32 {
        while parent[bus as usize] != bus {
            let up = parent[parent[bus as usize] as usize];
            parent[bus as usize] = up;
            bus = up;
        }
        bus
    }
    let mut loops = 0;
    for branch in 0..topology.branch_count() as u32 {
        if topology.is_conducting(branch) {
            let [a, b] = topology.branch_ends(branch);
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            if ra == rb {
                loops += 1;
            } else {
                parent[ra as usize] = rb;
            }
        }
    }
    loops
}

/// Answers one scenario of a section for one branch.
type Answerer = fn(&Grid, &Topology, u32) -> Value;

/// Answers every scenario of `scenarios` against the present state of `topology`.
pub fn answer(grid: &Grid, topology: &Topology, scenarios: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(all) = scenarios {
        for (key, value) in all {
            if !ANSWERED.contains(&key.as_str()) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(Value::Object(counts)) = scenarios.get("counts") {
        let branches = |kind: BranchKind| grid.branches.iter().filter(|b| b.kind == kind).count();
        let mut answer = Map::new();
        for (key, given) in counts {
            let value = match key.as_str() {
                "buses" => json!(grid.buses.len()),
                "sources" => json!(grid.sources.len()),
                "branches" => json!(grid.branches.len()),
                "lines" => json!(branches(BranchKind::Line)),
                "switches" => json!(branches(BranchKind::Switch)),
                "transformers" => json!(branches(BranchKind::Transformer)),
                "normally_open_switches" => {
                    json!(
                        grid.branches
                            .iter()
                            .filter(|b| b.is_switch() && b.normal_open)
                            .count()
                    )
                }
                "protective_switches" => {
                    json!(grid.branches.iter().filter(|b| b.is_protective()).count())
                }
                "customers" => json!(grid.customers.len()),
                "cells" => json!(grid.cells.len()),
                "crews" => json!(grid.crews.len()),
                "normal_state_loops" => json!(independent_loops(topology)),
                "scenarios" => {
                    let mut sizes = Map::new();
                    for section in SCENARIO_SECTIONS {
                        if let Some(Value::Object(items)) = scenarios.get(section) {
                            sizes.insert(section.into(), json!(items.len()));
                        }
                    }
                    Value::Object(sizes)
                }
                _ => given.clone(),
            };
            answer.insert(key.clone(), value);
        }
        out.insert("counts".into(), Value::Object(answer));
    }
    if scenarios.get("base_case").is_some() {
        let unsupplied = grid.customer_ids(&topology.unsupplied_customers());
        out.insert(
            "base_case".into(),
            json!({
                "customers": grid.customers.len(),
                "energized": topology.energized_customer_count(),
                "unsupplied": unsupplied,
            }),
        );
    }
    if scenarios.get("validation").is_some() {
        // A grid that loaded has passed validation.
        out.insert(
            "validation".into(),
            json!({"ok": true, "errors": [], "error_count": 0}),
        );
    }
    let sections: [(&str, Answerer); 3] = [
        ("open_element", |grid, topology, branch| {
            json!(grid.customer_ids(topology.outage_if_opened(branch).customers))
        }),
        ("fault_on", |grid, topology, branch| {
            let fault = topology.fault_on(branch);
            json!({
                "protective_device": fault.protective_device.map(|d| grid.branch(d).id.to_string()),
                "customers_out": grid.customer_ids(&fault.customers_out),
            })
        }),
        ("isolate_restore", |grid, topology, branch| {
            let plan = topology.restoration_plan(branch);
            let switches: Vec<&str> = plan
                .isolating_switches
                .iter()
                .map(|&s| &*grid.branch(s).id)
                .collect();
            json!({
                "stay_out": grid.customer_ids(&plan.stay_out()),
                "isolating_switches": switches,
            })
        }),
    ];
    for (section, answer_one) in sections {
        let Some(Value::Object(items)) = scenarios.get(section) else {
            continue;
        };
        let mut answers = Map::new();
        for id in items.keys() {
            let value = match grid.branch_index(id) {
                Some(branch) => answer_one(grid, topology, branch),
                None => json!({"error": format!("unknown element {id}")}),
            };
            answers.insert(id.clone(), value);
        }
        out.insert(section.into(), Value::Object(answers));
    }
    Value::Object(out)
}
