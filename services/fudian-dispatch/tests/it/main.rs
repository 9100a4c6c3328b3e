//! The dispatch service end to end: through the real RabbitMQ and PostgreSQL (and the
//! embedded bus and store where it is cheap), from `outage.*` and `crew.report` events
//! and API calls to the stored work orders and the `fudian.dispatch` events.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use fudian_dispatch::{
    DispatchState, LiveCrew, Skill, greedy_first_come, optimal_assignment, total_weighted_arrival,
};
use fudian_events::common::DeviceKind;
use fudian_events::dispatch::{AssignedBy, DispatchEvent, EtrSource};
use fudian_events::envelope::now_shanghai;
use fudian_events::field::CrewReportKind;
use fudian_events::ids::WorkOrderId;
use fudian_events::outage::{IncidentSnapshot, PriorityHints};
use rand::{Rng, SeedableRng};
use serde_json::json;

use support::{
    ALL_SKILLS, Backend, Harness, TestCrew, grid_of, in_cell, on_shift, shift_from, snapshot,
    test_grid, time,
};

fn etrs_of(events: &[DispatchEvent], incident: &str) -> Vec<fudian_events::dispatch::EtrChanged> {
    events
        .iter()
        .filter_map(|e| match e {
            DispatchEvent::EtrChanged(etr) if etr.incident.as_str() == incident => {
                Some(etr.clone())
            }
            _ => None,
        })
        .collect()
}

async fn own_cell_crew_is_sent(backend: Backend) {
    // OWN is at the far corner of cell 0; NEAR, of cell 1, is much closer to the fault.
    let grid = grid_of(&[
        TestCrew {
            id: "OWN",
            cell: 0,
            at: in_cell(0, 0.05, 0.05),
            skills: ALL_SKILLS,
            shift: on_shift(),
        },
        TestCrew {
            id: "NEAR",
            cell: 1,
            at: in_cell(1, 0.05, 0.5),
            skills: ALL_SKILLS,
            shift: on_shift(),
        },
    ]);
    let harness = Harness::new(backend, grid).await;
    let service = harness.start().await;
    harness
        .detect(snapshot(
            "INC-1",
            in_cell(0, 0.95, 0.5),
            DeviceKind::Line,
            120,
            0,
        ))
        .await;
    let order = service
        .wait_order("INC-1", |o| o["state"] == "assigned")
        .await;
    assert_eq!(order["id"], "WO-INC-1");
    assert_eq!(order["crew"], "OWN", "{order:#}");
    assert_eq!(order["rule"], "own_cell");
    assert_eq!(order["cell"], "CELL-00");
    for field in ["priority", "arrival_due", "etr"] {
        assert!(!order[field].is_null(), "{field} missing: {order:#}");
    }
    harness
        .wait_published(|events| {
            events.iter().any(|e| matches!(e, DispatchEvent::WorkOrderCreated(c) if c.incident.as_str() == "INC-1"))
                && events.iter().any(|e| matches!(e, DispatchEvent::WorkOrderAssigned(a)
                    if a.crew.as_str() == "OWN" && a.assigned_by == AssignedBy::Auto))
        })
        .await;
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_in_a_cell_with_a_free_crew_gets_that_crew_on_rabbitmq_and_postgres() {
    own_cell_crew_is_sent(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_in_a_cell_with_a_free_crew_gets_that_crew_embedded() {
    own_cell_crew_is_sent(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_sample_grid_an_incident_gets_a_crew_of_its_own_cell() {
    let grid = support::sample_grid();
    let now = now_shanghai();
    // A transformer fault at the base of a crew that can repair it, on shift for 3 hours
    // more, whose base lies in its own cell.
    let crews = LiveCrew::all_from_grid(&grid).unwrap();
    let crew = crews
        .iter()
        .find(|c| {
            c.has_skill(Skill::Transformer)
                && c.shift_seconds_left(now).is_some_and(|s| s >= 3 * 3600)
                && grid.spatial().cell_at(c.position).map(|h| h.cell) == Some(c.home_cell)
        })
        .expect("a transformer crew on shift in its own cell");
    let cell = grid.cells[crew.home_cell as usize].id.to_string();
    let at = crew.position;
    let harness = Harness::new(Backend::Postgres, grid).await;
    let service = harness.start().await;
    harness
        .detect(snapshot("SAMPLE-1", at, DeviceKind::Transformer, 40, 0))
        .await;
    let order = service
        .wait_order("SAMPLE-1", |o| o["state"] == "assigned")
        .await;
    assert_eq!(order["cell"], cell.as_str());
    assert_eq!(order["rule"], "own_cell", "{order:#}");
    let (_, crews) = service.get("/v1/crews").await;
    let assigned = crews["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == order["crew"])
        .unwrap();
    assert_eq!(assigned["home_cell"], cell.as_str());
    assert_eq!(assigned["work_order"], "WO-SAMPLE-1");
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_in_a_cell_without_a_free_crew_gets_the_nearest_skilled_free_crew() {
    let fault = in_cell(0, 0.5, 0.5);
    let grid = grid_of(&[
        // Cell 0's own crew went off shift half an hour ago.
        TestCrew {
            id: "OWN-OFF",
            cell: 0,
            at: in_cell(0, 0.5, 0.6),
            skills: ALL_SKILLS,
            shift: shift_from(-9 * 60, -30),
        },
        // Closest, but cannot repair a transformer.
        TestCrew {
            id: "NEAR-LINE",
            cell: 1,
            at: in_cell(1, 0.05, 0.5),
            skills: &["line", "cable"],
            shift: on_shift(),
        },
        TestCrew {
            id: "FAR-SKILLED",
            cell: 4,
            at: in_cell(4, 0.5, 0.5),
            skills: &["line", "transformer"],
            shift: on_shift(),
        },
        TestCrew {
            id: "NEAR-SKILLED",
            cell: 5,
            at: in_cell(5, 0.5, 0.3),
            skills: &["transformer"],
            shift: on_shift(),
        },
    ]);
    let harness = Harness::new(Backend::Postgres, grid).await;
    let service = harness.start().await;
    harness
        .detect(snapshot("INC-T", fault, DeviceKind::Transformer, 60, 0))
        .await;
    let order = service
        .wait_order("INC-T", |o| o["state"] == "assigned")
        .await;
    assert_eq!(order["skill"], "transformer");
    assert_eq!(order["crew"], "NEAR-SKILLED", "{order:#}");
    assert_eq!(order["rule"], "nearest");
    let (_, crews) = service.get("/v1/crews").await;
    let off = crews["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "OWN-OFF")
        .unwrap()
        .clone();
    assert_eq!(off["state"], "off_shift");
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crew_whose_shift_ends_before_it_could_arrive_and_work_an_hour_is_not_sent() {
    let grid = grid_of(&[
        // On shift, in the incident's own cell, at the fault, but done in 40 minutes.
        TestCrew {
            id: "ENDING",
            cell: 0,
            at: in_cell(0, 0.5, 0.5),
            skills: ALL_SKILLS,
            shift: shift_from(-8 * 60, 40),
        },
        TestCrew {
            id: "NEIGHBOUR",
            cell: 1,
            at: in_cell(1, 0.5, 0.5),
            skills: ALL_SKILLS,
            shift: on_shift(),
        },
    ]);
    let harness = Harness::new(Backend::Postgres, grid).await;
    let service = harness.start().await;
    harness
        .detect(snapshot(
            "INC-S",
            in_cell(0, 0.5, 0.5),
            DeviceKind::Line,
            30,
            0,
        ))
        .await;
    let order = service
        .wait_order("INC-S", |o| o["state"] == "assigned")
        .await;
    assert_eq!(order["crew"], "NEIGHBOUR", "{order:#}");
    let (_, crews) = service.get("/v1/crews").await;
    let ending = crews["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ENDING")
        .unwrap()
        .clone();
    assert_eq!(ending["state"], "available", "still on shift: {ending}");
    assert!(ending["work_order"].is_null());
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_300_incidents_over_60_crews_is_optimised_and_beats_first_come() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let crews: Vec<_> = (0..60)
        .map(|i| {
            let cell = i % 20;
            let mut skills = vec!["line".to_owned()];
            for skill in ["cable", "live_line", "transformer"] {
                if rng.random_bool(0.4) {
                    skills.push(skill.to_owned());
                }
            }
            let at = in_cell(cell, rng.random_range(0.1..0.9), rng.random_range(0.1..0.9));
            (format!("CREW-{i:02}"), cell, at, skills, on_shift())
        })
        .collect();
    let grid = test_grid(crews);
    let kinds = [
        DeviceKind::Line,
        DeviceKind::Fuse,
        DeviceKind::Transformer,
        DeviceKind::Breaker,
    ];
    let snapshots: Vec<IncidentSnapshot> = (0..300)
        .map(|i| {
            let cell = rng.random_range(0..20);
            let at = in_cell(cell, rng.random_range(0.0..1.0), rng.random_range(0.0..1.0));
            let kind = kinds[rng.random_range(0..kinds.len())];
            let mut s = snapshot(
                &format!("STORM-{i:03}"),
                at,
                kind,
                rng.random_range(1..3000),
                rng.random_range(0..30),
            );
            s.priority = PriorityHints {
                wire_down: rng.random_bool(0.03),
                hazard: rng.random_bool(0.03),
            };
            s.counts.critical_customers = u32::from(rng.random_bool(0.05));
            s
        })
        .collect();
    let harness = Harness::new(Backend::Postgres, std::sync::Arc::clone(&grid)).await;
    let service = harness.start().await;
    for s in &snapshots {
        harness.detect(s.clone()).await;
    }
    harness.wait_processed(300).await;
    let orders = service.orders("").await;
    assert_eq!(orders.len(), 300);

    // The same input in the core: orders in arrival order, crews at their bases.
    let now = now_shanghai();
    let mut state = DispatchState::from_grid(&grid, harness.config.clone()).unwrap();
    for (i, s) in snapshots.iter().enumerate() {
        let at = now + chrono::Duration::milliseconds(i as i64);
        state
            .open_order(WorkOrderId::new(format!("WO-{}", s.incident)), s, &grid, at)
            .unwrap();
    }
    let unserved = u64::from(harness.config.unserved_seconds());
    let service_total: u64 = orders
        .iter()
        .map(|o| {
            let weight = o["weight"].as_u64().unwrap();
            let travel = if o["crew"].is_null() {
                unserved
            } else {
                o["travel_seconds"].as_u64().unwrap()
            };
            weight * travel
        })
        .sum();
    let greedy_total = total_weighted_arrival(&state, &greedy_first_come(&state, now));
    let optimal_total = total_weighted_arrival(&state, &optimal_assignment(&state, now));
    println!(
        "storm of 300 incidents over 60 crews, total priority-weighted arrival (weight x s): \
         service (optimiser) {service_total}, greedy first-come {greedy_total}, \
         core optimiser {optimal_total}"
    );
    let assigned: Vec<_> = orders.iter().filter(|o| !o["crew"].is_null()).collect();
    assert_eq!(assigned.len(), 60, "every crew is used");
    assert!(assigned.iter().all(|o| o["rule"] == "optimised"));
    assert_eq!(service_total, optimal_total);
    assert!(
        service_total < greedy_total,
        "optimiser {service_total} does not beat greedy {greedy_total}"
    );
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etr_updates_follow_crew_reports_and_move_by_fifteen_minutes_or_not_at_all() {
    let fault = in_cell(0, 0.5, 0.5);
    // About 11 km north of the fault: some 29 minutes' drive.
    let grid = grid_of(&[TestCrew {
        id: "FAR",
        cell: 0,
        at: [fault[0], fault[1] + 0.1],
        skills: ALL_SKILLS,
        shift: on_shift(),
    }]);
    let harness = Harness::new(Backend::Postgres, grid).await;
    let service = harness.start().await;
    harness
        .detect(snapshot("INC-E", fault, DeviceKind::Line, 80, 0))
        .await;
    harness
        .wait_published(|events| !etrs_of(events, "INC-E").is_empty())
        .await;
    let first = etrs_of(&harness.published(), "INC-E")[0].clone();
    assert_eq!(first.source, EtrSource::Model);
    assert_eq!(first.previous_etr, None);

    // The crew arrives at once, half an hour before the model expected it.
    harness
        .crew_report("FAR", Some("INC-E"), CrewReportKind::Arrived)
        .await;
    harness
        .wait_published(|events| etrs_of(events, "INC-E").len() >= 2)
        .await;
    let second = etrs_of(&harness.published(), "INC-E")[1].clone();
    assert_eq!(second.source, EtrSource::Model);
    assert_eq!(second.previous_etr, Some(first.etr));
    assert!(
        first.etr - second.etr >= chrono::Duration::minutes(15),
        "{first:?} {second:?}"
    );
    let order = service
        .wait_order("INC-E", |o| o["state"] == "on_site")
        .await;
    assert_eq!(order["limit"], "met");

    // The crew's own estimate: ten minutes later is not worth telling customers...
    let (status, body) = service
        .post(
            "/v1/workorders/WO-INC-E/status",
            json!({"status": "on_site", "etr": (second.etr + chrono::Duration::minutes(10)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["etr_source"], "crew");
    // ...an hour later is.
    let crew_etr = second.etr + chrono::Duration::minutes(60);
    let (status, body) = service
        .post(
            "/v1/workorders/WO-INC-E/status",
            json!({"status": "on_site", "etr": crew_etr.to_rfc3339(), "note": "pole replaced"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    harness
        .wait_published(|events| etrs_of(events, "INC-E").len() >= 3)
        .await;
    // Ticks run every 200 ms: the model must not overwrite the crew's estimate.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    harness.drain().await;
    let etrs = etrs_of(&harness.published(), "INC-E");
    assert_eq!(etrs.len(), 3, "{etrs:#?}");
    assert_eq!(etrs[2].source, EtrSource::Crew);
    assert_eq!(etrs[2].etr, crew_etr);
    assert_eq!(etrs[2].previous_etr, Some(second.etr));
    let (_, order) = service.get("/v1/workorders/WO-INC-E").await;
    assert_eq!(order["etr_source"], "crew");
    assert_eq!(time(&order["etr"]), crew_etr);
    assert_eq!(order["note"], "pole replaced");
    service.stop().await;
    harness.finish().await;
}

async fn restart_loses_no_work_order(backend: Backend) {
    let grid = grid_of(&[
        TestCrew {
            id: "A",
            cell: 0,
            at: in_cell(0, 0.5, 0.5),
            skills: ALL_SKILLS,
            shift: on_shift(),
        },
        TestCrew {
            id: "B",
            cell: 1,
            at: in_cell(1, 0.5, 0.5),
            skills: ALL_SKILLS,
            shift: on_shift(),
        },
        TestCrew {
            id: "C",
            cell: 2,
            at: in_cell(2, 0.5, 0.5),
            skills: ALL_SKILLS,
            shift: on_shift(),
        },
    ]);
    let harness = Harness::new(backend, grid).await;
    let service = harness.start().await;
    for cell in 0..4 {
        harness
            .detect(snapshot(
                &format!("R-{cell}"),
                in_cell(cell, 0.4, 0.4),
                DeviceKind::Line,
                50 + cell as u32,
                0,
            ))
            .await;
    }
    harness.wait_processed(4).await;
    let order = service.wait_order("R-0", |o| !o["crew"].is_null()).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let (status, body) = service
        .post(
            &format!("/v1/workorders/{id}/status"),
            json!({"status": "en_route"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = service
        .post("/v1/crews/C/position", json!({"lon": 118.61, "lat": 37.45}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let summary = |orders: Vec<serde_json::Value>| -> Vec<String> {
        let mut rows: Vec<String> = orders
            .iter()
            .map(|o| {
                format!(
                    "{} {} {} {} {} {}",
                    o["id"], o["incident"], o["state"], o["crew"], o["priority"], o["arrival_due"]
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let crews_of = |body: serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {} {}", c["id"], c["activity"], c["position"]))
            .collect()
    };
    let before = summary(service.orders("").await);
    let crews_before = crews_of(service.get("/v1/crews").await.1);
    assert_eq!(before.len(), 4);
    service.stop().await;

    let service = harness.start().await;
    assert_eq!(summary(service.orders("").await), before);
    assert_eq!(crews_of(service.get("/v1/crews").await.1), crews_before);
    assert!(crews_before.iter().any(|c| c.contains("en_route")));
    // The restored order goes on where it stood.
    let (status, body) = service
        .post(
            &format!("/v1/workorders/{id}/status"),
            json!({"status": "on_site"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "on_site");
    harness
        .detect(snapshot(
            "R-9",
            in_cell(9, 0.5, 0.5),
            DeviceKind::Line,
            10,
            0,
        ))
        .await;
    harness.wait_processed(5).await;
    assert_eq!(service.orders("").await.len(), 5);
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_no_work_order_on_rabbitmq_and_postgres() {
    restart_loses_no_work_order(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_no_work_order_embedded() {
    restart_loses_no_work_order(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_event_and_a_report_of_an_unknown_crew_are_dead_lettered_with_their_reason() {
    let grid = grid_of(&[TestCrew {
        id: "A",
        cell: 0,
        at: in_cell(0, 0.5, 0.5),
        skills: ALL_SKILLS,
        shift: on_shift(),
    }]);
    let harness = Harness::new(Backend::Postgres, grid).await;
    let service = harness.start().await;
    harness
        .publish_raw(
            &harness.config.exchanges.outage,
            "outage.detected",
            b"{not json",
        )
        .await;
    harness
        .crew_report("GHOST", Some("INC-X"), CrewReportKind::Arrived)
        .await;
    let dead = harness.dead_letters(2).await;
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
        reasons.iter().any(|r| r.contains("unknown crew `GHOST`")),
        "{reasons:?}"
    );
    // The service goes on with good events.
    harness
        .detect(snapshot(
            "INC-OK",
            in_cell(0, 0.5, 0.5),
            DeviceKind::Line,
            5,
            0,
        ))
        .await;
    service.wait_order("INC-OK", |o| o["crew"] == "A").await;
    service.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_assigns_by_hand_takes_status_and_positions_and_names_what_is_wrong() {
    let grid = grid_of(&[
        TestCrew {
            id: "A",
            cell: 0,
            at: in_cell(0, 0.5, 0.5),
            skills: &["line", "transformer"],
            shift: on_shift(),
        },
        TestCrew {
            id: "B",
            cell: 1,
            at: in_cell(1, 0.5, 0.5),
            skills: &["line"],
            shift: on_shift(),
        },
    ]);
    let harness = Harness::new(Backend::Embedded, grid).await;
    let service = harness.start().await;
    harness
        .detect(snapshot(
            "X1",
            in_cell(0, 0.3, 0.3),
            DeviceKind::Line,
            10,
            0,
        ))
        .await;
    // Fuses need live-line work, which no crew here does: these wait.
    harness
        .detect(snapshot(
            "X2",
            in_cell(2, 0.5, 0.5),
            DeviceKind::Fuse,
            10,
            120,
        ))
        .await;
    harness
        .detect(snapshot(
            "X3",
            in_cell(3, 0.5, 0.5),
            DeviceKind::Fuse,
            10,
            38,
        ))
        .await;
    harness.wait_processed(3).await;
    let order = service.wait_order("X1", |o| o["crew"] == "A").await;
    assert_eq!(order["state"], "assigned");

    let (status, board) = service.get("/v1/board").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(board["breached"][0]["id"], "WO-X2", "{board:#}");
    assert_eq!(board["at_risk"][0]["id"], "WO-X3", "{board:#}");

    for (path, needle) in [
        ("/v1/workorders?state=bogus", "bogus"),
        ("/v1/workorders?color=red", "color"),
        ("/v1/workorders?limit=0", "limit"),
    ] {
        let (status, body) = service.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    let (status, body) = service.get("/v1/workorders/WO-NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("WO-NOPE"),
        "{body}"
    );
    let pending = service.orders("&state=pending").await;
    assert_eq!(pending.len(), 2);

    let assign = "/v1/workorders/WO-X1/assign";
    let (status, body) = service.post(assign, json!({"crew": "NOPE"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("NOPE"), "{body}");
    let (status, _) = service.post_raw(assign, "{".to_owned()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = service.post(assign, json!({"crew": "B", "by": "me"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("by"), "{body}");
    let (status, body) = service
        .post("/v1/workorders/WO-NOPE/assign", json!({"crew": "B"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A dispatcher moves X1 to B; the plan leaves it there.
    let (status, body) = service.post(assign, json!({"crew": "B"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["crew"], "B");
    assert_eq!(body["pinned"], true);
    assert_eq!(body["rule"], "manual");
    harness
        .wait_published(|events| {
            events.iter().any(|e| {
                matches!(e, DispatchEvent::WorkOrderAssigned(a)
                if a.crew.as_str() == "B" && a.assigned_by == AssignedBy::Dispatcher
                    && a.previous_crew.as_ref().map(|c| c.as_str()) == Some("A"))
            })
        })
        .await;
    let (status, body) = service
        .post("/v1/workorders/WO-X2/assign", json!({"crew": "A"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("live_line"),
        "{body}"
    );

    let status_path = "/v1/workorders/WO-X1/status";
    let (status, body) = service.post(status_path, json!({"status": "closed"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = service
        .post(
            status_path,
            json!({"status": "on_site", "etr": "2000-01-01T00:00:00+08:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("past"), "{body}");
    let (status, body) = service
        .post("/v1/workorders/WO-X2/status", json!({"status": "on_site"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = service
        .post(
            "/v1/workorders/WO-NOPE/status",
            json!({"status": "on_site"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = service
        .post(status_path, json!({"status": "en_route"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "en_route");
    let (status, body) = service.post(assign, json!({"crew": "A"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("en_route"),
        "{body}"
    );

    // Positions: GCJ-02 is stored as WGS84.
    let wgs = [118.512, 37.431];
    let gcj = fudian_grid::gcj02::wgs84_to_gcj02(wgs);
    let (status, body) = service
        .post(
            "/v1/crews/A/position",
            json!({"lon": gcj[0], "lat": gcj[1], "crs": "GCJ-02"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        (body["position"]["lon"].as_f64().unwrap() - wgs[0]).abs() < 1e-5,
        "{body}"
    );
    assert!(
        (body["position"]["lat"].as_f64().unwrap() - wgs[1]).abs() < 1e-5,
        "{body}"
    );
    let (status, _) = service
        .post(
            "/v1/crews/NOPE/position",
            json!({"lon": 118.5, "lat": 37.4}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = service
        .post("/v1/crews/A/position", json!({"lon": 118.5, "lat": 200.0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (_, crews) = service.get("/v1/crews").await;
    let b = crews["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "B")
        .unwrap()
        .clone();
    assert_eq!(
        (b["state"].as_str(), b["work_order"].as_str()),
        (Some("en_route"), Some("WO-X1"))
    );
    let (_, cells) = service.get("/v1/cells").await;
    let cells = cells["items"].as_array().unwrap();
    assert_eq!(cells.len(), 20);
    assert_eq!(cells[0]["crews"], json!(["A"]));
    let (status, document) = service.get("/v1/dispatch/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["paths"]["/v1/board"].is_object());
    service.stop().await;
    harness.finish().await;
}
