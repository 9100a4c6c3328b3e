//! Scheduler tests on hand-made and seeded random instances.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn date(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

fn job(
    id: &str,
    customers: std::ops::Range<u32>,
    window: (NaiveDate, NaiveDate),
    hours: f64,
) -> ScheduleJob {
    ScheduleJob {
        id: id.into(),
        earliest: window.0,
        latest: window.1,
        duration_hours: hours,
        crew: format!("crew-{id}"),
        customers: customers.collect(),
    }
}

/// Jobs on nested and overlapping ranges of customers of 60 feeders, with random windows and crews.
fn random_instance(seed: u64, jobs: usize) -> Vec<ScheduleJob> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..jobs)
        .map(|i| {
            let feeder = rng.random_range(0..60u32);
            let len = rng.random_range(1..800u32);
            let start = feeder * 2_000 + rng.random_range(0..2_000 - len);
            let earliest = date(1, 1) + chrono::Days::new(rng.random_range(0..300));
            let latest = earliest + chrono::Days::new(rng.random_range(7..60));
            ScheduleJob {
                id: format!("J{i}"),
                earliest,
                latest,
                duration_hours: f64::from(rng.random_range(2..9u32)),
                crew: format!("crew-{}", rng.random_range(0..20u32)),
                customers: (start..start + len).collect(),
            }
        })
        .collect()
}

fn assert_respects_limits(jobs: &[ScheduleJob], schedule: &Schedule, options: &ScheduleOptions) {
    let mut crew_days: HashMap<(&str, NaiveDate), u32> = HashMap::new();
    let mut customer_days: HashMap<u32, HashSet<NaiveDate>> = HashMap::new();
    for (job, date) in jobs.iter().zip(&schedule.dates) {
        let Some(date) = *date else { continue };
        assert!(
            job.earliest <= date && date <= job.latest,
            "{} off its window",
            job.id
        );
        *crew_days.entry((&job.crew, date)).or_insert(0) += 1;
        for &c in &job.customers {
            customer_days.entry(c).or_default().insert(date);
        }
    }
    assert!(crew_days.values().all(|&n| n <= options.crew_jobs_per_day));
    assert!(
        customer_days
            .values()
            .all(|days| days.len() as u32 <= options.max_outages_per_customer)
    );
}

#[test]
fn the_optimised_schedule_is_never_worse_than_first_come_on_a_random_instance() {
    let jobs = random_instance(7, 400);
    // A loose customer limit so both schedule every job and their totals compare.
    let options = ScheduleOptions {
        max_outages_per_customer: 100,
        ..ScheduleOptions::default()
    };
    let comparison = compare_schedules(&jobs, &options).unwrap();
    let (optimised, first_come) = (&comparison.optimised, &comparison.first_come);
    println!(
        "optimised {:.0} customer-hours ({} bundles, {} unscheduled), first-come {:.0} ({} bundles, {} unscheduled), lower bound {:.0}",
        optimised.total_customer_hours,
        optimised.bundles,
        optimised.unscheduled.len(),
        first_come.total_customer_hours,
        first_come.bundles,
        first_come.unscheduled.len(),
        optimised.lower_bound
    );
    assert!(optimised.unscheduled.is_empty() && first_come.unscheduled.is_empty());
    assert!(optimised.total_customer_hours <= first_come.total_customer_hours);
    assert!(optimised.total_customer_hours >= optimised.lower_bound);
    assert!(optimised.total_customer_hours <= optimised.separate_customer_hours);
    assert_respects_limits(&jobs, optimised, &options);
    assert_respects_limits(&jobs, first_come, &options);
}

#[test]
fn under_a_tight_customer_limit_the_optimiser_schedules_at_least_as_many_jobs() {
    let jobs = random_instance(11, 400);
    let options = ScheduleOptions::default();
    let comparison = compare_schedules(&jobs, &options).unwrap();
    let (optimised, first_come) = (&comparison.optimised, &comparison.first_come);
    println!(
        "limit {}: optimised {:.0} customer-hours with {} unscheduled, first-come {:.0} with {} unscheduled",
        options.max_outages_per_customer,
        optimised.total_customer_hours,
        optimised.unscheduled.len(),
        first_come.total_customer_hours,
        first_come.unscheduled.len()
    );
    assert!(optimised.unscheduled.len() <= first_come.unscheduled.len());
    if optimised.unscheduled.len() == first_come.unscheduled.len() {
        assert!(optimised.total_customer_hours <= first_come.total_customer_hours);
    }
    assert_respects_limits(&jobs, optimised, &options);
    assert_respects_limits(&jobs, first_come, &options);
}

#[test]
fn nested_jobs_with_a_common_day_share_one_outage() {
    let jobs = vec![
        job("small", 10..20, (date(3, 1), date(3, 5)), 2.0),
        job("big", 0..100, (date(3, 4), date(3, 9)), 4.0),
    ];
    let schedule = schedule_optimised(&jobs, &ScheduleOptions::default()).unwrap();
    assert_eq!(schedule.dates[0], schedule.dates[1]);
    assert_eq!(schedule.total_customer_hours, 100.0 * 4.0);
    assert_eq!(schedule.bundles, 1);
    let first_come = schedule_first_come(&jobs, &ScheduleOptions::default()).unwrap();
    assert_eq!(first_come.dates, vec![Some(date(3, 1)), Some(date(3, 4))]);
    assert_eq!(first_come.total_customer_hours, 10.0 * 2.0 + 100.0 * 4.0);
}

#[test]
fn a_customer_is_never_out_on_more_days_than_the_limit() {
    let jobs = vec![
        job("a", 0..5, (date(5, 1), date(5, 1)), 2.0),
        job("b", 0..5, (date(6, 1), date(6, 1)), 2.0),
        job("c", 3..9, (date(7, 1), date(7, 1)), 2.0),
    ];
    let options = ScheduleOptions {
        max_outages_per_customer: 2,
        ..ScheduleOptions::default()
    };
    let schedule = schedule_optimised(&jobs, &options).unwrap();
    assert_eq!(schedule.unscheduled.len(), 1);
    assert_respects_limits(&jobs, &schedule, &options);
}

#[test]
fn a_crew_does_no_more_jobs_a_day_than_it_can() {
    let mut jobs = vec![
        job("a", 0..5, (date(5, 1), date(5, 2)), 2.0),
        job("b", 10..15, (date(5, 1), date(5, 2)), 2.0),
        job("c", 20..25, (date(5, 1), date(5, 2)), 2.0),
    ];
    for job in &mut jobs {
        job.crew = "one".into();
    }
    let options = ScheduleOptions::default();
    let schedule = schedule_first_come(&jobs, &options).unwrap();
    assert_eq!(schedule.unscheduled, vec!["c".to_owned()]);
    assert_respects_limits(&jobs, &schedule, &options);
}

#[test]
fn a_job_with_a_reversed_window_is_refused() {
    let jobs = vec![job("a", 0..5, (date(5, 2), date(5, 1)), 2.0)];
    assert!(matches!(
        schedule_optimised(&jobs, &ScheduleOptions::default()),
        Err(PlannerError::InvalidJob {
            field: "latest",
            ..
        })
    ));
}
