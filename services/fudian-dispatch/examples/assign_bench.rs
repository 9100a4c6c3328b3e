//! Benchmark: 500 pending work orders over 300 free crews (a storm), placed at seeded
//! random positions over Dongying (lon 118.3–118.9, lat 37.2–37.7). Times the optimiser
//! ([`replan`]), the first-come baseline and the queue ETRs the service computes after each
//! plan, median of several runs, and prints both plans' total priority-weighted arrival
//! time.
//!
//! Run: `cargo run --release -p fudian-dispatch --example assign_bench`

use std::time::{Duration, Instant};

use chrono::DateTime;
use fudian_dispatch::{
    DispatchConfig, DispatchState, LiveCrew, OrderStage, RepairHistory, Skill, WorkOrder,
    greedy_first_come, priority_of, queue_estimates_after, replan, total_weighted_arrival,
};
use fudian_events::common::{AreaClass, Device, DeviceKind};
use fudian_events::ids::{ElementId, IncidentId, WorkOrderId};
use fudian_events::outage::{OutageCause, PriorityHints};
use fudian_grid::Shift;
use rand::{Rng, SeedableRng};

const ORDERS: usize = 500;
const CREWS: usize = 300;
const RUNS: usize = 9;

fn main() -> anyhow::Result<()> {
    let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00+08:00")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let position = |rng: &mut rand_chacha::ChaCha8Rng| {
        [rng.random_range(118.3..118.9), rng.random_range(37.2..37.7)]
    };
    let skills = [
        Skill::Line,
        Skill::Cable,
        Skill::LiveLine,
        Skill::Transformer,
    ];
    let all_day = Shift::parse("00:00-23:59").ok_or_else(|| anyhow::anyhow!("bad shift"))?;
    let crews: Vec<LiveCrew> = (0..CREWS)
        .map(|i| {
            let crew_skills: Vec<Skill> = skills
                .into_iter()
                .filter(|_| rng.random_bool(0.6))
                .chain([Skill::Line])
                .collect();
            let at = position(&mut rng);
            LiveCrew::new(
                &format!("CREW-{i:03}"),
                (i % 36) as u32,
                &crew_skills,
                all_day,
                at,
            )
        })
        .collect();
    let classes = [
        AreaClass::Core,
        AreaClass::Urban,
        AreaClass::Town,
        AreaClass::Rural,
    ];
    let kinds = [
        (DeviceKind::Line, Skill::Line),
        (DeviceKind::Line, Skill::Cable),
        (DeviceKind::Fuse, Skill::LiveLine),
        (DeviceKind::Transformer, Skill::Transformer),
    ];
    let config = DispatchConfig::default();
    let orders: Vec<WorkOrder> = (0..ORDERS)
        .map(|i| {
            let class = classes[rng.random_range(0..classes.len())];
            let (kind, skill) = kinds[rng.random_range(0..kinds.len())];
            let hints = PriorityHints {
                wire_down: rng.random_bool(0.03),
                hazard: rng.random_bool(0.03),
            };
            let customers_out = rng.random_range(1..3000);
            let critical = u32::from(rng.random_bool(0.05));
            let (priority, weight) = priority_of(hints, critical, customers_out, class);
            let started = now - chrono::Duration::minutes(rng.random_range(0..120));
            WorkOrder {
                id: WorkOrderId::new(format!("WO-{i:03}")),
                incident: IncidentId::new(format!("INC-{i:03}")),
                cell: (i % 36) as u32,
                area_class: class,
                device: Device {
                    id: ElementId::new(format!("E{i}")),
                    kind,
                },
                cause: Some(OutageCause::Fault),
                skill,
                priority,
                weight,
                location: position(&mut rng),
                customers_out,
                started_at: started,
                created_at: started,
                arrival_due_by: started
                    + chrono::Duration::minutes(i64::from(config.arrival_limit_minutes.get(class))),
                stage: OrderStage::Pending,
                crew: None,
                on_site_at: None,
                repaired_at: None,
                incident_restored: false,
                pinned: false,
            }
        })
        .collect();
    let state = DispatchState {
        config,
        crews,
        orders,
        history: RepairHistory::default(),
    };

    let (optimised, optimiser_time) = median_time(|| replan(&state, now));
    let (greedy, greedy_time) = median_time(|| greedy_first_come(&state, now));
    // What the service runs per batch on top of the plan: every open order's ETR from the
    // crews' simulated queues, given the plan.
    let (estimates, etr_time) = median_time(|| queue_estimates_after(&state, &optimised, now));
    let (total_opt, total_greedy) = (
        total_weighted_arrival(&state, &optimised),
        total_weighted_arrival(&state, &greedy),
    );
    println!("{ORDERS} pending orders over {CREWS} crews, median of {RUNS} runs:");
    println!(
        "  optimiser (kuhn_munkres): {:>8.2} ms, {} assigned, total weighted arrival {total_opt}",
        optimiser_time.as_secs_f64() * 1e3,
        optimised.len()
    );
    println!(
        "  greedy first-come:        {:>8.2} ms, {} assigned, total weighted arrival {total_greedy}",
        greedy_time.as_secs_f64() * 1e3,
        greedy.len()
    );
    println!(
        "  queue ETRs after the plan:  {:>8.2} ms, {} orders with an ETR",
        etr_time.as_secs_f64() * 1e3,
        estimates.iter().filter(|e| e.etr.is_some()).count()
    );
    println!(
        "  optimiser / greedy total: {:.3}",
        total_opt as f64 / total_greedy.max(1) as f64
    );
    Ok(())
}

/// Runs `work` [`RUNS`] times and returns its last answer and the median duration.
fn median_time<T>(mut work: impl FnMut() -> T) -> (T, Duration) {
    let mut times = Vec::with_capacity(RUNS);
    let mut answer = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        answer = Some(std::hint::black_box(work()));
        times.push(start.elapsed());
    }
    times.sort_unstable();
    match answer {
        Some(answer) => (answer, times[RUNS / 2]),
        None => unreachable!("RUNS is positive"),
    }
}
