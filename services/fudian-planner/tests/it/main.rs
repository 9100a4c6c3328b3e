//! The planner service end to end: the real RabbitMQ and PostgreSQL (one test also on the
//! in-process bus and SQLite), the sample grid mv-oberrhein, requests through the API,
//! planned events read from a test queue bound to `fudian.planned`, incidents published
//! on `fudian.outage`.
//!
//! Each test has its own database and its own exchange and queue prefix, so tests run in
//! parallel without stealing each other's messages. Environment: `FUDIAN_TEST_AMQP_URL`
//! (default `amqp://guest:guest@127.0.0.1:5672/%2f`), `FUDIAN_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, used to create and drop the test databases).

mod support;

use axum::http::StatusCode;
use chrono::{Days, NaiveDate, TimeDelta};
use fudian_events::common::{AffectedCounts, Device, DeviceKind, GeoPoint};
use fudian_events::envelope::{Envelope, now_shanghai};
use fudian_events::ids::{CustomerId, IncidentId};
use fudian_events::outage::{
    IncidentSnapshot, IncidentState, OutageCause, OutageEvent, OutageRestored, PriorityHints,
    RestorationMethod,
};
use fudian_events::planned::PlannedEvent;
use fudian_grid::{BranchKind, Grid, Topology};
use fudian_planner::{AssessContext, Assessor, JobRequest, PlannerConfig, TransferChoice};
use serde_json::{Value, json};
use support::{Backend, Harness, Service, references};

const HOURS: f64 = 4.0;

fn job(elements: &[&str], hours: f64) -> Value {
    json!({
        "elements": elements,
        "work": "replace the insulators",
        "duration_hours": hours,
        "earliest": "2026-12-01",
        "latest": "2026-12-20",
        "live_line_possible": false,
    })
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// What de-energizing the section of `branch` takes out without transfer (the reference
/// semantics: customers energized before and not after opening its boundary switches).
fn out_without_transfer(topology: &Topology, branch: u32) -> Vec<u32> {
    let section = topology.fault_section(branch);
    let mut out: Vec<u32> = section
        .buses
        .iter()
        .filter(|&&bus| topology.is_energized(bus))
        .flat_map(|&bus| topology.customers_at(bus).iter().copied())
        .collect();
    for &switch in &section.boundary_switches {
        out.extend_from_slice(topology.outage_if_opened(switch).customers);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Customers the restoration plan of `branch` picks up through its ties (those with
/// supply now), and the ties.
fn saved_by_transfer(grid: &Grid, topology: &Topology, branch: u32) -> (Vec<u32>, Vec<u32>) {
    let plan = topology.restoration_plan(branch);
    let mut saved: Vec<u32> = plan
        .close_switches
        .iter()
        .flat_map(|c| c.customers.iter().copied())
        .filter(|&c| topology.is_energized(grid.customer(c).bus))
        .collect();
    saved.sort_unstable();
    saved.dedup();
    (
        saved,
        plan.close_switches.iter().map(|c| c.switch).collect(),
    )
}

#[tokio::test]
async fn an_assessment_gives_the_reference_customers_and_customer_hours() {
    let h = Harness::new(Backend::Postgres, PlannerConfig::default()).await;
    let service = h.start().await;
    let topology = Topology::new(&h.grid);
    let references = references();
    let scenarios = references["isolate_restore"].as_object().unwrap();
    let mut checked = 0;
    for (line, expected) in scenarios.iter().take(12) {
        let id = service.create_job(job(&[line], HOURS)).await;
        let (status, assessment) = service
            .get(&format!("/v1/planned/jobs/{id}/assessment"))
            .await;
        assert_eq!(status, StatusCode::OK, "{assessment}");
        // With transfer: exactly the customers the reference leaves out.
        let stay_out = strings(&expected["stay_out"]);
        assert_eq!(
            sorted(strings(&assessment["customer_ids"])),
            stay_out,
            "line {line}"
        );
        assert_eq!(assessment["customers_out_with_transfer"], stay_out.len());
        assert_eq!(
            assessment["customer_hours_with_transfer"].as_f64().unwrap(),
            stay_out.len() as f64 * HOURS
        );
        // Without transfer: what opening the section's switches takes out.
        let branch = h.grid.branch_index(line).unwrap();
        let out = out_without_transfer(&topology, branch);
        assert_eq!(assessment["customers_out"], out.len(), "line {line}");
        assert_eq!(
            assessment["customer_hours"].as_f64().unwrap(),
            out.len() as f64 * HOURS
        );
        // The sample grid is medium voltage: each customer is its own user in the 台区
        // caliber.
        assert_eq!(
            assessment["transformer_hours"].as_f64().unwrap(),
            out.len() as f64 * HOURS
        );
        let isolating = strings(&expected["isolating_switches"]);
        for switch in strings(&assessment["switches"]["open"]) {
            assert!(isolating.contains(&switch), "line {line} opens {switch}");
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} scenarios");
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn transfer_lowers_the_customer_hours_exactly_by_the_customers_the_plan_saves() {
    let h = Harness::new(Backend::Postgres, PlannerConfig::default()).await;
    let service = h.start().await;
    let topology = Topology::new(&h.grid);
    let mut with_savings = 0;
    for branch in 0..h.grid.branches.len() as u32 {
        let line = h.grid.branch(branch);
        if line.kind != BranchKind::Line || !topology.is_conducting(branch) {
            continue;
        }
        let (saved, ties) = saved_by_transfer(&h.grid, &topology, branch);
        if saved.is_empty() {
            continue;
        }
        let id = service.create_job(job(&[&line.id], HOURS)).await;
        let (_, assessment) = service
            .get(&format!("/v1/planned/jobs/{id}/assessment"))
            .await;
        let out = assessment["customers_out"].as_u64().unwrap() as usize;
        let with = assessment["customers_out_with_transfer"].as_u64().unwrap() as usize;
        assert_eq!(out - with, saved.len(), "line {}", line.id);
        let hours = assessment["customer_hours"].as_f64().unwrap();
        let hours_with = assessment["customer_hours_with_transfer"].as_f64().unwrap();
        assert_eq!(hours - hours_with, saved.len() as f64 * HOURS);
        let tie_ids: Vec<String> = sorted(
            ties.iter()
                .map(|&t| h.grid.branch(t).id.to_string())
                .collect(),
        );
        assert_eq!(sorted(strings(&assessment["switches"]["close"])), tie_ids);
        with_savings += 1;
        if with_savings == 5 {
            break;
        }
    }
    assert!(with_savings > 0, "no line whose outage a tie can shorten");

    // Declining the transfer needs a reason and charges the whole section.
    let (_, jobs) = service.get("/v1/planned/jobs").await;
    let id = jobs["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = service
        .post(
            &format!("/v1/planned/jobs/{id}/assess"),
            json!({"decline_transfer_reason": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = service
        .post(
            &format!("/v1/planned/jobs/{id}/assess"),
            json!({"decline_transfer_reason": "the tie's feeder is under maintenance"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let assessment = &body["assessment"];
    assert_eq!(assessment["mode"], "outage_without_transfer");
    assert_eq!(
        assessment["charged_customer_hours"],
        assessment["customer_hours"]
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn bundling_two_nested_jobs_counts_each_customer_once() {
    let h = Harness::new(Backend::Postgres, PlannerConfig::default()).await;
    let service = h.start().await;
    // Find two lines whose outages nest, with the planner's own assessor.
    let topology = Topology::new(&h.grid);
    let assessor = Assessor::new(&h.grid, &topology);
    let decline = TransferChoice::Decline {
        reason: "compare raw sections".into(),
    };
    let lines: Vec<String> = h
        .grid
        .branches
        .iter()
        .filter(|b| b.kind == BranchKind::Line)
        .map(|b| b.id.to_string())
        .collect();
    let outs: Vec<Vec<u32>> = lines
        .iter()
        .map(|line| {
            let request: JobRequest = serde_json::from_value(json!({
                "id": "probe", "elements": [line], "work": "maintenance",
                "duration_hours": HOURS, "earliest": "2026-12-01", "latest": "2026-12-20",
                "crew": "c", "live_line_possible": false, "requester": "t", "area": "urban",
            }))
            .unwrap();
            assessor
                .assess(&request, &AssessContext::default(), &decline)
                .unwrap()
                .customers
        })
        .collect();
    let (big, small) = (0..lines.len())
        .flat_map(|a| (0..lines.len()).map(move |b| (a, b)))
        .find(|&(a, b)| {
            a != b
                && outs[b].len() >= 2
                && outs[a].len() > outs[b].len()
                && outs[b].iter().all(|c| outs[a].binary_search(c).is_ok())
        })
        .expect("nested sections on the sample grid");

    let mut ids = Vec::new();
    for index in [big, small] {
        let mut body = job(&[&lines[index]], HOURS);
        body["decline_transfer_reason"] = json!("compare raw sections");
        ids.push(service.create_job(body).await);
    }
    let (status, bundles) = service.get("/v1/planned/bundles").await;
    assert_eq!(status, StatusCode::OK);
    let items = bundles["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{bundles}");
    let bundle = &items[0];
    assert_eq!(sorted(strings(&bundle["jobs"])), sorted(ids));
    assert_eq!(bundle["customers"], outs[big].len());
    assert_eq!(
        bundle["bundled_customer_hours"].as_f64().unwrap(),
        outs[big].len() as f64 * HOURS
    );
    assert_eq!(
        bundle["separate_customer_hours"].as_f64().unwrap(),
        (outs[big].len() + outs[small].len()) as f64 * HOURS
    );
    assert_eq!(
        bundle["saving_customer_hours"].as_f64().unwrap(),
        outs[small].len() as f64 * HOURS
    );
    service.stop().await;
    h.finish().await;
}

/// A line whose outage takes out at least one customer (with transfer), the fewest.
fn small_line(h: &Harness) -> (String, usize) {
    let topology = Topology::new(&h.grid);
    let mut best: Option<(String, usize)> = None;
    for branch in 0..h.grid.branches.len() as u32 {
        let line = h.grid.branch(branch);
        if line.kind != BranchKind::Line || !topology.is_conducting(branch) {
            continue;
        }
        let n = topology.restoration_plan(branch).stay_out().len();
        if n > 0 && best.as_ref().is_none_or(|(_, m)| n < *m) {
            best = Some((line.id.to_string(), n));
        }
    }
    best.unwrap()
}

#[tokio::test]
async fn a_job_that_would_overrun_its_budget_is_refused_unless_overridden_with_a_reason() {
    let mut config = PlannerConfig::default();
    // A budget of a few seconds per customer: any real outage overruns it.
    config.budget.targets = fudian_reliability::AreaTargets {
        core: 0.001,
        urban: 0.001,
        town: 0.001,
        rural: 0.001,
    };
    let h = Harness::new(Backend::Postgres, config).await;
    let service = h.start().await;
    let (line, customers) = small_line(&h);
    let id = service.create_job(job(&[&line], HOURS)).await;
    let (_, created) = service.get(&format!("/v1/planned/jobs/{id}")).await;
    assert!(
        created["assessment"]["budget_remaining_after"]
            .as_f64()
            .unwrap()
            < 0.0,
        "{created}"
    );

    let (status, body) = service
        .post(&format!("/v1/planned/jobs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let reason = body["error"].as_str().unwrap();
    assert!(reason.contains("exceed"), "{reason}");
    assert!(reason.contains("override"), "{reason}");
    let (_, after) = service.get(&format!("/v1/planned/jobs/{id}")).await;
    assert_eq!(after["state"], "assessed");

    let (status, _) = service
        .post(
            &format!("/v1/planned/jobs/{id}/approve"),
            json!({"override_reason": " "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, approved) = service
        .post(
            &format!("/v1/planned/jobs/{id}/approve"),
            json!({"override_reason": "substation safety order"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["budget"]["fits"], false);
    assert_eq!(approved["budget"]["overridden"], "substation safety order");

    let (_, event) = h
        .wait_for_planned(|e| matches!(e, PlannedEvent::Approved(a) if a.job.as_str() == id))
        .await;
    let PlannedEvent::Approved(announced) = event.event else {
        unreachable!()
    };
    assert_eq!(announced.customers.len(), customers);
    assert_eq!(announced.counts.customers as usize, customers);

    // The budgets now show the charge.
    let (_, budgets) = service.get("/v1/planned/budgets?year=2026").await;
    let scheduled: f64 = budgets["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["consumption"]["scheduled_planned"].as_f64().unwrap())
        .sum();
    assert_eq!(scheduled, customers as f64 * HOURS);
    service.stop().await;
    h.finish().await;
}

async fn an_approved_job_is_announced_on_the_planned_exchange_through_its_whole_life(
    backend: Backend,
) {
    let h = Harness::new(backend, PlannerConfig::default()).await;
    let service = h.start().await;
    let (line, customers) = small_line(&h);
    let id = service.create_job(job(&[&line], 1.0)).await;

    let (status, approved) = service
        .post(&format!("/v1/planned/jobs/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    let (wire, envelope) = h
        .wait_for_planned(|e| matches!(e, PlannedEvent::Approved(a) if a.job.as_str() == id))
        .await;
    assert_eq!(wire.exchange, h.config.exchanges.planned);
    assert_eq!(wire.routing_key, "planned.approved");
    let PlannedEvent::Approved(first) = envelope.event else {
        unreachable!()
    };
    assert_eq!(first.revision, 1);
    assert_eq!(first.customers.len(), customers);
    assert_eq!(first.work, "replace the insulators");
    // The area in words is the grid cells the customers are in.
    let cells: Vec<String> = h
        .grid
        .cells
        .iter()
        .map(|c| c.name.as_deref().unwrap_or(&c.id).to_owned())
        .collect();
    assert!(
        first
            .area
            .split('、')
            .all(|name| cells.iter().any(|c| c == name)),
        "{}",
        first.area
    );
    // Customers are told at least seven days ahead; reminded the day before.
    assert_eq!(
        first.notice.notify_by,
        first.window.start - TimeDelta::days(7)
    );
    assert_eq!(
        first.notice.remind_at,
        first.window.start - TimeDelta::hours(24)
    );
    assert!(first.notice.notify_by.date_naive() >= now_shanghai().date_naive());

    // Too early to give notice: refused, naming the first possible day.
    let tomorrow = now_shanghai().date_naive() + Days::new(1);
    let (status, body) = service
        .post(
            &format!("/v1/planned/jobs/{id}/schedule"),
            json!({"date": tomorrow}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let day = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
    let (status, body) = service
        .post(
            &format!("/v1/planned/jobs/{id}/schedule"),
            json!({"date": day}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "scheduled");
    let (_, envelope) = h
        .wait_for_planned(|e| matches!(e, PlannedEvent::Approved(a) if a.revision == 2))
        .await;
    let PlannedEvent::Approved(second) = envelope.event else {
        unreachable!()
    };
    assert_eq!(second.window.start.date_naive(), day);

    let (status, _) = service
        .post(&format!("/v1/planned/jobs/{id}/start"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    h.wait_for_planned(|e| matches!(e, PlannedEvent::Started(s) if s.customers.len() == customers))
        .await;
    let (status, done) = service
        .post(&format!("/v1/planned/jobs/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "completed");
    h.wait_for_planned(|e| matches!(e, PlannedEvent::Completed(c) if c.job.as_str() == id))
        .await;
    assert_eq!(
        h.interruption_count(&format!("job:{id}")).await,
        customers as i64
    );
    // A completed job cannot be cancelled; an approved one can, and customers hear it.
    let (status, _) = service
        .post(
            &format!("/v1/planned/jobs/{id}/cancel"),
            json!({"reason": "too late"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let other = service.create_job(job(&[&line], 1.0)).await;
    service
        .post(&format!("/v1/planned/jobs/{other}/approve"), json!({}))
        .await;
    let (status, _) = service
        .post(&format!("/v1/planned/jobs/{other}/cancel"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a cancellation needs a reason"
    );
    let (status, body) = service
        .post(
            &format!("/v1/planned/jobs/{other}/cancel"),
            json!({"reason": "merged into the spring outage"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.wait_for_planned(|e| {
        matches!(e, PlannedEvent::Cancelled(c) if c.job.as_str() == other
            && c.reason == "merged into the spring outage")
    })
    .await;
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn an_approved_job_reaches_the_planned_exchange_and_walks_to_completion() {
    an_approved_job_is_announced_on_the_planned_exchange_through_its_whole_life(Backend::Postgres)
        .await;
}

#[tokio::test]
async fn the_embedded_mode_announces_jobs_on_the_in_process_bus_and_sqlite() {
    an_approved_job_is_announced_on_the_planned_exchange_through_its_whole_life(Backend::Embedded)
        .await;
}

#[tokio::test]
async fn unknown_elements_and_bad_requests_are_refused_naming_what_is_wrong() {
    let h = Harness::new(Backend::Postgres, PlannerConfig::default()).await;
    let service = h.start().await;
    let (status, body) = service
        .post("/v1/planned/jobs", job(&["L12", "NOPE-1", "NOPE-2"], HOURS))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("NOPE-1") && error.contains("NOPE-2"),
        "{error}"
    );
    assert!(!error.contains("L12,"), "{error}");

    let mut reversed = job(&["L12"], HOURS);
    reversed["latest"] = json!("2026-11-01");
    let (status, body) = service.post("/v1/planned/jobs", reversed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("latest"), "{body}");

    let (status, body) = service
        .post("/v1/planned/jobs", json!({"elements": ["L12"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("missing field"),
        "{body}"
    );

    let (status, _) = service.get("/v1/planned/jobs/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = service.get("/v1/planned/jobs?state=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("sideways"));
    let (status, document) = service.get("/v1/planned/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["paths"]["/v1/planned/jobs"]["post"].is_object());
    service.stop().await;
    h.finish().await;
}

fn snapshot(incident: &str, cause: OutageCause, customers: &[String]) -> IncidentSnapshot {
    let started = now_shanghai() - TimeDelta::hours(3);
    IncidentSnapshot {
        incident: IncidentId::new(incident),
        revision: 1,
        state: IncidentState::Confirmed,
        device: Device {
            id: "S1".into(),
            kind: DeviceKind::Breaker,
        },
        feeder: None,
        fault_section: None,
        cause: Some(cause),
        started_at: started,
        counts: AffectedCounts::default(),
        customers_out: customers
            .iter()
            .map(|c| CustomerId::new(c.clone()))
            .collect(),
        critical_customers_out: Vec::new(),
        etr: started + TimeDelta::hours(4),
        location: GeoPoint {
            lon: 8.0,
            lat: 48.0,
        },
        priority: PriorityHints::default(),
    }
}

fn restored(incident: &str, customers: &[String], hours: i64) -> OutageRestored {
    let started = now_shanghai() - TimeDelta::hours(3);
    OutageRestored {
        incident: IncidentId::new(incident),
        revision: 2,
        state: IncidentState::Restored,
        device: Device {
            id: "S1".into(),
            kind: DeviceKind::Breaker,
        },
        started_at: started,
        restored_at: started + TimeDelta::hours(hours),
        partial: false,
        method: Some(RestorationMethod::Repair),
        restored_counts: AffectedCounts::default(),
        customers_restored: customers
            .iter()
            .map(|c| CustomerId::new(c.clone()))
            .collect(),
        still_out_counts: AffectedCounts::default(),
        customers_still_out: Vec::new(),
    }
}

async fn actual_fault(service: &Service) -> f64 {
    let year = chrono::Datelike::year(&now_shanghai());
    let (_, budgets) = service
        .get(&format!("/v1/planned/budgets?year={year}"))
        .await;
    budgets["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["consumption"]["actual_fault"].as_f64().unwrap())
        .sum()
}

async fn restored_incidents_consume_the_fault_budget_once(backend: Backend) {
    let h = Harness::new(backend, PlannerConfig::default()).await;
    let service = h.start().await;
    let customers: Vec<String> = h.grid.customers[..3]
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let fault = Envelope::new(
        "test",
        OutageEvent::Detected(snapshot("I-1", OutageCause::Fault, &customers)),
    );
    let back = Envelope::new(
        "test",
        OutageEvent::Restored(restored("I-1", &customers, 2)),
    );
    h.publish_outage(&fault).await;
    h.publish_outage(&back).await;
    // The same restoration again (a redelivery): counted once.
    h.publish_outage(&back).await;
    // Planned switching is the planner's own business: not a fault.
    let planned = Envelope::new(
        "test",
        OutageEvent::Detected(snapshot("I-2", OutageCause::Planned, &customers)),
    );
    h.publish_outage(&planned).await;
    h.publish_outage(&Envelope::new(
        "test",
        OutageEvent::Restored(restored("I-2", &customers, 1)),
    ))
    .await;
    h.wait_processed(4).await;
    assert_eq!(actual_fault(&service).await, 6.0);
    assert_eq!(h.interruption_count("incident:I-1").await, 3);
    assert_eq!(h.interruption_count("incident:I-2").await, 0);

    h.publish_raw_outage("outage.restored", b"{not json").await;
    h.publish_outage(&Envelope::new(
        "test",
        OutageEvent::Restored(restored("I-3", &customers, -1)),
    ))
    .await;
    let dead = h.dead_letters(2).await;
    let reasons: Vec<&str> = dead
        .iter()
        .map(|m| m.headers[fudian_bus::ERROR_HEADER].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("undecodable outage event")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("before it started")),
        "{reasons:?}"
    );
    assert_eq!(actual_fault(&service).await, 6.0);

    // The recorded interruptions feed the indices (JSON and CSV).
    let (status, indices) = service.get("/v1/planned/reliability").await;
    assert_eq!(status, StatusCode::OK, "{indices}");
    assert_eq!(
        indices["dlt836"]["low_voltage"]["total"]["all"]["user_hours"]
            .as_f64()
            .unwrap(),
        6.0
    );
    let (status, csv) = service.get_text("/v1/planned/reliability?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.starts_with("standard,caliber,area,variant,index,value"),
        "{csv}"
    );
    assert!(
        csv.contains("dlt836,low_voltage,total,1,user_hours,6"),
        "{csv}"
    );
    let (status, weekly) = service.get("/v1/planned/reports/weekly").await;
    assert_eq!(status, StatusCode::OK, "{weekly}");
    let this_week: f64 = weekly["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["this_week_customer_hours"].as_f64().unwrap())
        .sum();
    assert_eq!(this_week, 6.0);
    let (status, frequent) = service.get("/v1/planned/frequent-outages").await;
    assert_eq!(status, StatusCode::OK, "{frequent}");
    assert!(frequent["findings"].is_array());
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn restored_incidents_consume_the_fault_budget_once_and_bad_events_are_dead_lettered() {
    restored_incidents_consume_the_fault_budget_once(Backend::Postgres).await;
}

#[tokio::test]
async fn the_embedded_mode_consumes_incidents_from_the_in_process_bus_into_sqlite() {
    restored_incidents_consume_the_fault_budget_once(Backend::Embedded).await;
}

/// The hand-worked data set of fudian-reliability's tests (10 customers on 3 transformers,
/// one year, 7 events), as the API takes it.
fn hand_worked() -> Value {
    let customers = |t: &str| -> &'static [&'static str] {
        match t {
            "T1" => &["c01", "c02", "c03", "c04"],
            "T2" => &["c05", "c06", "c07"],
            _ => &["c08", "c09", "c10"],
        }
    };
    let area = |t: &str| if t == "T3" { "rural" } else { "urban" };
    let mut records = Vec::new();
    let mut event = |t: &str, start: &str, minutes: i64, planned: bool, cause: &str| {
        let start: chrono::DateTime<chrono::Utc> = start.parse().unwrap();
        for c in customers(t) {
            records.push(json!({
                "customer_id": c, "transformer_id": t, "area_class": area(t),
                "start": start, "end": start + TimeDelta::minutes(minutes),
                "planned": planned, "cause_class": cause,
            }));
        }
    };
    event("T1", "2026-03-10T08:00:00Z", 120, false, "internal");
    event("T2", "2026-04-05T12:00:00Z", 2, false, "internal");
    event("T3", "2026-06-01T00:00:00Z", 180, false, "external");
    event("T2", "2026-07-15T09:00:00Z", 240, true, "internal");
    event("T1", "2026-08-20T22:00:00Z", 360, false, "internal");
    event("T3", "2026-08-20T22:00:00Z", 360, false, "internal");
    event("T2", "2026-12-31T20:00:00Z", 360, false, "supply_shortage");
    records.push(json!({
        "customer_id": "c02", "transformer_id": null, "area_class": "urban",
        "start": "2026-09-01T10:00:00Z", "end": "2026-09-01T11:30:00Z",
        "planned": false, "cause_class": "internal",
    }));
    json!({
        "period": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        "population": {
            "low_voltage": {"urban": 7, "rural": 3},
            "transformers": {"urban": 2, "rural": 1},
        },
        "interruptions": records,
    })
}

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap();
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "expected {expected}, got {actual}"
    );
}

#[tokio::test]
async fn reliability_indices_over_the_api_match_the_hand_worked_data_set_in_both_calibers() {
    let h = Harness::new(Backend::Postgres, PlannerConfig::default()).await;
    let service = h.start().await;
    let (status, body) = service.post("/v1/planned/reliability", hand_worked()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Low voltage: 84.5 customer-hours, 21 interruptions over 10 customers and 8760 h.
    let lv = &body["dlt836"]["low_voltage"]["total"];
    close(&lv["all"]["user_hours"], 84.5);
    assert_eq!(lv["all"]["user_interruptions"], 21);
    close(&lv["all"]["rs_percent"], 99.903_538_812_785_38);
    close(&lv["all"]["aihc_hours"], 8.45);
    close(&lv["all"]["aitc"], 2.1);
    close(&lv["excluding_external"]["aihc_hours"], 7.55);
    close(&lv["excluding_supply_shortage"]["aihc_hours"], 7.25);
    close(
        &body["dlt836"]["low_voltage"]["by_area"]["urban"]["all"]["aihc_hours"],
        8.214_285_714_285_714,
    );
    // Medium voltage (台区): 25 transformer-hours, 6 interruptions over 3 transformers.
    let mv = &body["dlt836"]["medium_voltage"]["total"];
    close(&mv["all"]["user_hours"], 25.0);
    assert_eq!(mv["all"]["user_interruptions"], 6);
    close(&mv["all"]["rs_percent"], 99.904_870_624_048_7);
    close(&mv["all"]["aihc_hours"], 25.0 / 3.0);
    close(
        &mv["excluding_external"]["rs_percent"],
        99.916_286_149_162_86,
    );
    close(&mv["excluding_supply_shortage"]["aihc_hours"], 7.0);
    close(
        &body["dlt836"]["medium_voltage"]["by_area"]["rural"]["all"]["aihc_hours"],
        9.0,
    );
    assert!(body["ieee1366"]["low_voltage"]["all_days"]["total"]["saifi"].is_number());

    let (status, csv) = service
        .post_text("/v1/planned/reliability?format=csv", hand_worked())
        .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(
        csv.contains("dlt836,low_voltage,total,1,aihc_hours,8.45"),
        "{csv}"
    );
    assert!(
        csv.contains("dlt836,medium_voltage,rural,1,aihc_hours,9"),
        "{csv}"
    );
    let (status, body) = service
        .post("/v1/planned/reliability?format=nope", hand_worked())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn a_schedule_proposal_is_never_worse_than_first_come_and_is_kept() {
    let h = Harness::new(Backend::Postgres, PlannerConfig::default()).await;
    let service = h.start().await;
    let topology = Topology::new(&h.grid);
    let mut created = 0;
    for branch in 0..h.grid.branches.len() as u32 {
        let line = h.grid.branch(branch);
        if line.kind != BranchKind::Line || topology.restoration_plan(branch).stay_out().is_empty()
        {
            continue;
        }
        service
            .create_job(job(&[&line.id], 2.0 + f64::from(branch % 5)))
            .await;
        created += 1;
        if created == 8 {
            break;
        }
    }
    let (status, missing) = service.get("/v1/planned/schedule").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    let (status, proposal) = service.post("/v1/planned/schedule", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{proposal}");
    assert_eq!(proposal["jobs"].as_array().unwrap().len(), created);
    let optimised = proposal["optimised"]["total_customer_hours"]
        .as_f64()
        .unwrap();
    let first_come = proposal["first_come"]["total_customer_hours"]
        .as_f64()
        .unwrap();
    assert!(optimised <= first_come + 1e-9, "{proposal}");
    assert!(optimised >= proposal["optimised"]["lower_bound"].as_f64().unwrap() - 1e-9);
    let (status, kept) = service.get("/v1/planned/schedule").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept, proposal);
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn run_serves_the_api_with_health_routes_until_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::new(Backend::Embedded, PlannerConfig::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let deps = fudian_planner::Deps {
        bus: h.bus.clone(),
        store: h.store.clone(),
        grid: h.grid.clone(),
    };
    let server = tokio::spawn(fudian_planner::run(
        h.config.clone(),
        deps,
        listener,
        shutdown.clone(),
    ));
    let get = |path: &'static str| async move {
        let started = std::time::Instant::now();
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(address).await {
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).await.unwrap();
                return response;
            }
            assert!(started.elapsed() < support::WAIT, "server never listened");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let health = get("/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let budgets = get("/v1/planned/budgets?year=2026").await;
    assert!(budgets.starts_with("HTTP/1.1 200"), "{budgets}");
    assert!(budgets.contains("\"rural\""), "{budgets}");
    shutdown.cancel();
    server.await.unwrap().unwrap();
    h.finish().await;
}
