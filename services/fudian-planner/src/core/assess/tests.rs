//! Assessment against the mv-oberrhein sample grid and pandapower's references.

use super::*;
use crate::core::fixture::{oberrhein, references};
use crate::core::job::sample_request;

fn ids(grid: &Grid, customers: &[u32]) -> Vec<String> {
    grid.customer_ids(customers)
}

#[test]
fn a_line_job_takes_out_what_opening_its_section_switches_takes_out() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let mut checked = 0;
    for branch in 0..grid.branches.len() as u32 {
        let line = grid.branch(branch);
        if line.kind != fudian_grid::BranchKind::Line || !topology.is_conducting(branch) {
            continue;
        }
        let job = sample_request("J", &[&line.id]);
        let assessment = assessor
            .assess(
                &job,
                &AssessContext::default(),
                &TransferChoice::UseTransfer,
            )
            .unwrap();
        let section = topology.fault_section(branch);
        let mut expected: Vec<u32> = section
            .buses
            .iter()
            .filter(|&&bus| topology.is_energized(bus))
            .flat_map(|&bus| topology.customers_at(bus).iter().copied())
            .collect();
        for &switch in &section.boundary_switches {
            expected.extend_from_slice(topology.outage_if_opened(switch).customers);
        }
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(
            assessment.customers_without_transfer, expected,
            "line {}",
            line.id
        );
        assert_eq!(assessment.customers_out, expected.len());
        assert_eq!(assessment.customer_hours, expected.len() as f64 * 4.0);
        assert_eq!(
            assessment.transformer_hours,
            f64::from(assessor.transformer_users(&expected)) * 4.0
        );
        checked += 1;
    }
    assert!(checked > 100, "only {checked} lines checked");
}

#[test]
fn the_customers_left_out_with_transfer_match_the_pandapower_references() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let references = references();
    let scenarios = references["isolate_restore"].as_object().unwrap();
    assert!(!scenarios.is_empty());
    for (line, expected) in scenarios {
        let job = sample_request("J", &[line]);
        let assessment = assessor
            .assess(
                &job,
                &AssessContext::default(),
                &TransferChoice::UseTransfer,
            )
            .unwrap();
        let stay_out: Vec<String> = expected["stay_out"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids(&grid, &assessment.customers), stay_out, "line {line}");
        assert_eq!(
            assessment.customer_hours_with_transfer,
            stay_out.len() as f64 * 4.0
        );
        let mut isolating: Vec<String> = expected["isolating_switches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        isolating.sort_unstable();
        let mut open = assessment.open_switches.clone();
        open.sort_unstable();
        assert!(
            open.iter().all(|s| isolating.contains(s)),
            "line {line}: opens {open:?}, reference isolates with {isolating:?}"
        );
    }
}

#[test]
fn transfer_lowers_the_customer_hours_by_exactly_the_customers_the_plan_saves() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let mut saw_a_saving = false;
    for branch in 0..grid.branches.len() as u32 {
        let line = grid.branch(branch);
        if line.kind != fudian_grid::BranchKind::Line || !topology.is_conducting(branch) {
            continue;
        }
        let job = sample_request("J", &[&line.id]);
        let assessment = assessor
            .assess(
                &job,
                &AssessContext::default(),
                &TransferChoice::UseTransfer,
            )
            .unwrap();
        let plan = topology.restoration_plan(branch);
        let mut saved: Vec<u32> = plan
            .close_switches
            .iter()
            .flat_map(|c| c.customers.iter().copied())
            .collect();
        saved.sort_unstable();
        saved.dedup();
        let saving = assessment.customer_hours - assessment.customer_hours_with_transfer;
        assert_eq!(saving, saved.len() as f64 * 4.0, "line {}", line.id);
        assert_eq!(
            assessment.charged_customer_hours,
            assessment.customer_hours_with_transfer
        );
        if saving > 0.0 {
            saw_a_saving = true;
            assert!(!assessment.close_switches.is_empty());
        }
    }
    assert!(
        saw_a_saving,
        "no line on the sample grid is helped by a tie"
    );
}

#[test]
fn declining_the_transfer_needs_a_reason_and_charges_the_full_outage() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let job = sample_request("J", &["L4"]);
    let refused = assessor.assess(
        &job,
        &AssessContext::default(),
        &TransferChoice::Decline { reason: " ".into() },
    );
    assert!(matches!(refused, Err(PlannerError::ReasonRequired { .. })));
    let declined = assessor
        .assess(
            &job,
            &AssessContext::default(),
            &TransferChoice::Decline {
                reason: "tie feeder under maintenance".into(),
            },
        )
        .unwrap();
    assert_eq!(declined.mode, WorkMode::OutageWithoutTransfer);
    assert_eq!(declined.charged_customer_hours, declined.customer_hours);
    assert!(declined.close_switches.is_empty());
    assert_eq!(declined.customers, declined.customers_without_transfer);
}

#[test]
fn live_line_work_takes_nobody_out_and_counts_the_outage_as_avoided() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let mut job = sample_request("J", &["L11"]);
    let outage = assessor
        .assess(
            &job,
            &AssessContext::default(),
            &TransferChoice::UseTransfer,
        )
        .unwrap();
    assert!(outage.customer_hours_with_transfer > 0.0);
    job.live_line_possible = true;
    let live = assessor
        .assess(
            &job,
            &AssessContext::default(),
            &TransferChoice::UseTransfer,
        )
        .unwrap();
    assert_eq!(live.mode, WorkMode::LiveLine);
    assert_eq!(live.customers_out, 0);
    assert_eq!(live.customer_hours, 0.0);
    assert_eq!(live.charged_customer_hours, 0.0);
    assert_eq!(
        live.avoided_customer_hours,
        outage.customer_hours_with_transfer
    );
    assert!(live.open_switches.is_empty());
}

#[test]
fn customers_at_the_threshold_minus_one_become_frequent_outage_customers() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let job = sample_request("J", &["L11"]);
    let mut counts = vec![0u32; grid.customers.len()];
    let outage = assessor
        .assess(
            &job,
            &AssessContext::default(),
            &TransferChoice::UseTransfer,
        )
        .unwrap();
    let first = outage.customers[0];
    counts[first as usize] = 2;
    let context = AssessContext {
        interruptions_this_year: &counts,
        frequent_threshold: 3,
        budget_remaining: Some(1000.0),
    };
    let assessment = assessor
        .assess(&job, &context, &TransferChoice::UseTransfer)
        .unwrap();
    assert_eq!(
        assessment.new_frequent_outage_customers,
        vec![grid.customer(first).id.to_string()]
    );
    assert_eq!(
        assessment.budget_remaining_after,
        Some(1000.0 - assessment.charged_customer_hours)
    );
}

#[test]
fn an_unknown_element_is_named_in_the_error() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let job = sample_request("J", &["L4", "NOPE"]);
    let error = assessor
        .assess(
            &job,
            &AssessContext::default(),
            &TransferChoice::UseTransfer,
        )
        .unwrap_err();
    assert_eq!(
        error,
        PlannerError::UnknownElement {
            job: "J".into(),
            element: "NOPE".into()
        }
    );
}

#[test]
fn the_shortcut_for_sections_with_nothing_below_agrees_with_the_restoration_plan() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    for branch in 0..grid.branches.len() as u32 {
        if !topology.is_conducting(branch) {
            continue;
        }
        let section = topology.fault_section(branch);
        let outage = assessor.section_outage(branch, &section);
        let plan = topology.restoration_plan(branch);
        assert_eq!(outage.with_transfer, plan.stay_out(), "branch {branch}");
    }
}

#[test]
fn assessing_many_jobs_at_once_gives_what_assessing_each_gives() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let jobs: Vec<JobRequest> = grid
        .branches
        .iter()
        .filter(|b| b.kind == fudian_grid::BranchKind::Line)
        .map(|b| sample_request(&format!("J-{}", b.id), &[&b.id]))
        .collect();
    let context = AssessContext::default();
    let many = assessor.assess_many(&jobs, &context, &TransferChoice::UseTransfer);
    assert_eq!(many.len(), jobs.len());
    for (job, batch) in jobs.iter().zip(many) {
        let single = assessor
            .assess(job, &context, &TransferChoice::UseTransfer)
            .unwrap();
        assert_eq!(batch.unwrap(), single);
    }
}

#[test]
fn a_job_on_a_bus_takes_out_the_section_of_that_bus() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let line = grid.branch(grid.branch_index("L11").unwrap());
    let bus = grid.bus(line.to_bus).id.to_string();
    let on_line = assessor
        .assess(
            &sample_request("J", &["L11"]),
            &AssessContext::default(),
            &TransferChoice::UseTransfer,
        )
        .unwrap();
    let on_bus = assessor
        .assess(
            &sample_request("J", &[&bus]),
            &AssessContext::default(),
            &TransferChoice::UseTransfer,
        )
        .unwrap();
    assert_eq!(on_bus.customers, on_line.customers);
    assert_eq!(on_bus.open_switches, on_line.open_switches);
}

#[test]
fn a_job_on_two_sections_takes_out_their_union_once() {
    let (grid, topology) = oberrhein();
    let assessor = Assessor::new(&grid, &topology);
    let assess = |elements: &[&str]| {
        assessor
            .assess(
                &sample_request("J", elements),
                &AssessContext::default(),
                &TransferChoice::UseTransfer,
            )
            .unwrap()
    };
    let (a, b, both) = (
        assess(&["L4"]),
        assess(&["L11"]),
        assess(&["L4", "L11", "L4"]),
    );
    let mut union = a.customers_without_transfer.clone();
    union.extend_from_slice(&b.customers_without_transfer);
    union.sort_unstable();
    union.dedup();
    assert_eq!(both.customers_without_transfer, union);
    assert_eq!(both.customer_hours, union.len() as f64 * 4.0);
}
