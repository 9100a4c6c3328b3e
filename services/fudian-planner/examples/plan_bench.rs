//! Planner benchmark: assesses 5,000 jobs on a generated grid and schedules a year of
//! 5,000 jobs, optimised beside first-come.
//!
//! `cargo run --release -p fudian-planner --example plan_bench -- [customers | package-dir]`
//! (default: a generated 200,000-customer grid in a temporary directory). A package
//! directory that does not exist yet is generated there first with the options of the
//! benchmark city (`fudian grid generate --customers 1500000 --feeders 1000 --seed 7`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use fudian_events::ids::PlannedJobId;
use fudian_grid::generate::{GenerateOptions, generate};
use fudian_grid::topology::LocalPlanner;
use fudian_grid::{BranchKind, Topology, load_package};
use fudian_planner::{
    AssessContext, Assessor, JobRequest, ScheduleJob, ScheduleOptions, TransferChoice, WorkKind,
    schedule_first_come, schedule_optimised,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const JOBS: usize = 5_000;

fn main() -> anyhow::Result<()> {
    let argument = std::env::args().nth(1).unwrap_or_else(|| "200000".into());
    let temporary = tempfile::tempdir()?;
    let dir = match argument.parse::<u64>() {
        Ok(customers) => {
            let started = Instant::now();
            let options = GenerateOptions {
                customers,
                feeders: u32::try_from((customers / 2_500).max(4))?,
                seed: 20_260_301,
            };
            generate(&options, temporary.path(), &mut |_, _| {})?;
            println!(
                "generated {customers} customers, {} feeders in {:.1} s",
                options.feeders,
                started.elapsed().as_secs_f64()
            );
            temporary.path().to_path_buf()
        }
        Err(_) => {
            let dir = PathBuf::from(argument);
            if !dir.join("network.geojson").exists() {
                let started = Instant::now();
                let options = GenerateOptions {
                    customers: 1_500_000,
                    feeders: 1_000,
                    seed: 7,
                };
                generate(&options, &dir, &mut |_, _| {})
                    .with_context(|| format!("generating {}", dir.display()))?;
                println!(
                    "generated the benchmark city in {} in {:.1} s",
                    dir.display(),
                    started.elapsed().as_secs_f64()
                );
            }
            dir
        }
    };
    let started = Instant::now();
    let grid = load_package(&dir).with_context(|| format!("loading {}", dir.display()))?;
    let topology = Topology::new(&grid);
    println!(
        "loaded {} buses, {} branches, {} customers in {:.1} s",
        grid.buses.len(),
        grid.branches.len(),
        grid.customers.len(),
        started.elapsed().as_secs_f64()
    );

    let lines: Vec<u32> = (0..u32::try_from(grid.branches.len())?)
        .filter(|&b| grid.branch(b).kind == BranchKind::Line && topology.is_conducting(b))
        .collect();
    anyhow::ensure!(!lines.is_empty(), "the grid has no conducting line");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let year = NaiveDate::from_ymd_opt(2027, 1, 1).context("date")?;
    let requests: Vec<JobRequest> = (0..JOBS)
        .map(|i| {
            let line = lines[rng.random_range(0..lines.len())];
            let earliest = year + chrono::Days::new(rng.random_range(0..330));
            JobRequest {
                id: PlannedJobId::new(format!("PJ{i:05}")),
                elements: vec![grid.branch(line).id.to_string()],
                work: WorkKind::Maintenance,
                duration_hours: f64::from(rng.random_range(2..=10u32)),
                earliest,
                latest: earliest + chrono::Days::new(rng.random_range(7..35)),
                crew: format!("crew-{}", rng.random_range(0..60u32)),
                live_line_possible: rng.random_bool(0.05),
                requester: "bench".into(),
                area: "city".into(),
            }
        })
        .collect();

    let started = Instant::now();
    let assessor = Assessor::new(&grid, &topology);
    let built = started.elapsed();
    let context = AssessContext::default();
    let assessments = assessor
        .assess_many(&requests, &context, &TransferChoice::UseTransfer)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let elapsed = started.elapsed();
    let customer_hours: f64 = assessments.iter().map(|a| a.customer_hours).sum();
    let with_transfer: f64 = assessments
        .iter()
        .map(|a| a.customer_hours_with_transfer)
        .sum();
    let avoided: f64 = assessments.iter().map(|a| a.avoided_customer_hours).sum();
    println!(
        "assessed {JOBS} jobs in {:.3} s ({:.3} s index, {:.0} µs/job): {customer_hours:.0} customer-hours without transfer, {with_transfer:.0} with, {avoided:.0} avoided live-line",
        elapsed.as_secs_f64(),
        built.as_secs_f64(),
        (elapsed - built).as_secs_f64() * 1e6 / JOBS as f64
    );

    compare_plans(&grid, &topology, &requests);

    let jobs: Vec<ScheduleJob> = requests
        .iter()
        .zip(&assessments)
        .map(|(job, assessment)| ScheduleJob::from_assessed(job, assessment))
        .collect();
    for options in [
        ScheduleOptions::default(),
        ScheduleOptions {
            max_outages_per_customer: u32::MAX,
            ..ScheduleOptions::default()
        },
    ] {
        println!(
            "schedule, at most {} planned outage days per customer, {} job(s) per crew and day:",
            options.max_outages_per_customer, options.crew_jobs_per_day
        );
        schedule_both(&jobs, &options)?;
    }
    Ok(())
}

/// The restoration plans of the jobs' sections, whole-grid against local, single-threaded,
/// in the same run: how many the local plan answers and what each costs.
fn compare_plans(grid: &fudian_grid::Grid, topology: &Topology, requests: &[JobRequest]) {
    let branches: Vec<u32> = requests
        .iter()
        .filter_map(|r| grid.branch_index(&r.elements[0]))
        .take(500)
        .collect();
    let local = LocalPlanner::new(topology);
    let started = Instant::now();
    let answered = branches
        .iter()
        .filter(|&&b| local.restoration_plan(b).is_some())
        .count();
    let local_time = started.elapsed();
    let started = Instant::now();
    let mut closings = 0usize;
    for &b in &branches {
        closings += topology.restoration_plan(b).close_switches.len();
    }
    let whole_time = started.elapsed();
    println!(
        "restoration plans of {} job sections, one thread: local {:.1} µs each ({answered} answered locally), whole-grid {:.1} µs each ({closings} tie closings)",
        branches.len(),
        local_time.as_secs_f64() * 1e6 / branches.len().max(1) as f64,
        whole_time.as_secs_f64() * 1e6 / branches.len().max(1) as f64,
    );
}

fn schedule_both(jobs: &[ScheduleJob], options: &ScheduleOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let first_come = schedule_first_come(jobs, options)?;
    let first_come_time = started.elapsed();
    let started = Instant::now();
    let optimised = schedule_optimised(jobs, options)?;
    let optimised_time = started.elapsed();
    println!(
        "first-come: {:.0} customer-hours, {} bundles, {} unscheduled in {:.3} s",
        first_come.total_customer_hours,
        first_come.bundles,
        first_come.unscheduled.len(),
        first_come_time.as_secs_f64()
    );
    println!(
        "optimised:  {:.0} customer-hours, {} bundles, {} unscheduled in {:.3} s (lower bound {:.0}, separate {:.0})",
        optimised.total_customer_hours,
        optimised.bundles,
        optimised.unscheduled.len(),
        optimised_time.as_secs_f64(),
        optimised.lower_bound,
        optimised.separate_customer_hours
    );
    Ok(())
}
