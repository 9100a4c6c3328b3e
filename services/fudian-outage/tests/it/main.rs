//! The outage service end to end: the real RabbitMQ and PostgreSQL (or the in-process bus
//! and SQLite), the sample grid mv-oberrhein, events in through the bus, results checked
//! through the API, the store and what it published.
//!
//! Each test has its own database and its own exchange and queue prefix, so tests run in
//! parallel without stealing each other's messages. Environment: `FUDIAN_TEST_AMQP_URL`
//! (default `amqp://guest:guest@127.0.0.1:5672/%2f`), `FUDIAN_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, used to create and drop the test databases).

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use chrono::Duration as Span;
use fudian_events::field::{
    AmiLastGasp, AmiPingResult, AmiPowerRestored, CloseCause, CrewReport, CrewReportKind,
    FieldEvent, ScadaSwitchClosed, ScadaSwitchOpened, SwitchState,
};
use fudian_events::outage::OutageEvent;
use fudian_outage::OutageConfig;
use support::{Backend, Harness, sorted};

fn trip(device: &str) -> FieldEvent {
    FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
        device: device.into(),
        cause: fudian_events::field::OpenCause::Trip,
    })
}

fn close(device: &str, cause: CloseCause) -> FieldEvent {
    FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed {
        device: device.into(),
        cause,
    })
}

fn gasp(meter: &str) -> FieldEvent {
    FieldEvent::AmiLastGasp(AmiLastGasp {
        meter: meter.into(),
    })
}

fn power_back(meter: &str) -> FieldEvent {
    FieldEvent::AmiPowerRestored(AmiPowerRestored {
        meter: meter.into(),
    })
}

fn crew(incident: &str, kind: CrewReportKind) -> FieldEvent {
    FieldEvent::CrewReport(CrewReport {
        crew: "CREW-1".into(),
        incident: Some(incident.into()),
        kind,
        text: String::new(),
    })
}

async fn a_trip_is_detected_published_and_listed_with_exactly_its_customers(backend: Backend) {
    let h = Harness::new(backend, OutageConfig::default()).await;
    let service = h.start().await;
    let (device, customers) = h.protective_devices()[0].clone();

    h.publish(trip(&device), h.base()).await;

    let detected = h
        .wait_for_published(|e| matches!(e, OutageEvent::Detected(_)))
        .await;
    let OutageEvent::Detected(snapshot) = &detected else {
        unreachable!()
    };
    assert_eq!(snapshot.device.id.as_str(), device);
    assert_eq!(
        sorted(snapshot.customers_out.iter().map(|c| c.as_str().to_owned())),
        customers
    );

    let (status, list) = service.get("/v1/incidents?state=active").await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["device"], device.as_str());
    assert_eq!(items[0]["state"], "confirmed");
    assert_eq!(items[0]["customers_out"], customers.len());
    let id = items[0]["id"].as_str().unwrap().to_owned();

    let listed = service.all_customers(&id, 7).await;
    assert_eq!(listed, customers, "paginated customers of {id}");

    let (status, detail) = service.get(&format!("/v1/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["snapshot"]["incident"], id.as_str());

    let (status, customer) = service
        .get(&format!("/v1/customers/{}/status", customers[0]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(customer["supplied"], false);
    assert_eq!(customer["incident"], id.as_str());
    assert!(customer["estimated_restoration"].is_string(), "{customer}");

    let (status, _) = service.get("/v1/incidents/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = service.get("/v1/customers/NOPE/status").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = service.get("/v1/incidents?state=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("sideways"));

    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn a_breaker_trip_is_detected_with_exactly_the_customers_of_outage_if_opened() {
    a_trip_is_detected_published_and_listed_with_exactly_its_customers(Backend::Postgres).await;
}

#[tokio::test]
async fn the_embedded_mode_detects_a_trip_on_the_in_process_bus_and_sqlite() {
    a_trip_is_detected_published_and_listed_with_exactly_its_customers(Backend::Embedded).await;
}

/// 停电报备: a call from a customer inside a known incident is answered with its status,
/// for the 95598 agent; a lone call elsewhere is answered as being checked.
#[tokio::test]
async fn a_call_inside_a_known_incident_is_answered_with_its_status_for_the_agent() {
    let mut config = OutageConfig::default();
    config.rules.normal.hold_secs = 1;
    let h = Harness::new(Backend::Postgres, config).await;
    let _service = h.start().await;
    let (device, customers) = h.protective_devices()[0].clone();
    h.publish(trip(&device), h.now()).await;
    let detected = h
        .wait_for_published(|e| matches!(e, OutageEvent::Detected(_)))
        .await;
    let call = |id: &str, customer: &str| {
        FieldEvent::CallTrouble(fudian_events::field::CallTrouble {
            call_id: id.into(),
            customer: Some(customer.into()),
            location: None,
            kind: fudian_events::field::TroubleKind::NoPower,
            text: "家里没电了".to_owned(),
        })
    };
    h.publish(call("95598-1", &customers[0]), h.now()).await;
    let answer = h.wait_for_call_answer("95598-1").await;
    assert_eq!(answer.incident.as_ref(), Some(detected.incident()));
    assert!(answer.etr.is_some() && answer.started_at.is_some());
    assert!(answer.message.contains("抢修"), "{}", answer.message);

    let lit = h
        .grid
        .customers
        .iter()
        .map(|c| c.id.as_ref().to_owned())
        .find(|c| !customers.contains(c))
        .unwrap();
    // A lone call elsewhere is a predicted outage until a meter ping confirms it.
    h.publish(call("95598-2", &lit), h.now()).await;
    let answer = h.wait_for_call_answer("95598-2").await;
    assert_ne!(answer.incident.as_ref(), Some(detected.incident()));
    assert_eq!(
        answer.state,
        Some(fudian_events::outage::IncidentState::Predicted)
    );
    assert!(answer.message.contains("正在核实"), "{}", answer.message);
}

#[tokio::test]
async fn last_gasps_roll_up_into_a_predicted_incident() {
    let mut config = OutageConfig::default();
    config.rules.normal.hold_secs = 1;
    let h = Harness::new(Backend::Postgres, config).await;
    let service = h.start().await;
    let customers = h.neighbours(3);
    for meter in &customers {
        h.publish(gasp(meter), h.now()).await;
    }
    // After the hold the evidence is judged: every meter heard is in a predicted incident
    // (how far it rolls up is the engine's, tested beside it).
    let started = std::time::Instant::now();
    let id = loop {
        let (status, list) = service.get("/v1/incidents?state=predicted").await;
        assert_eq!(status, StatusCode::OK);
        let items = list["items"].as_array().unwrap().clone();
        let mut covered = std::collections::BTreeSet::new();
        for item in &items {
            let id = item["id"].as_str().unwrap();
            covered.extend(service.all_customers(id, 100).await);
        }
        if customers.iter().all(|m| covered.contains(m)) {
            break items[0]["id"].as_str().unwrap().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let detected = h
        .wait_for_published(|e| matches!(e, OutageEvent::Detected(_)))
        .await;
    let OutageEvent::Detected(snapshot) = detected else {
        unreachable!()
    };
    assert_eq!(
        snapshot.state,
        fudian_events::outage::IncidentState::Predicted
    );
    let (_, detail) = service.get(&format!("/v1/incidents/{id}")).await;
    let evidence = detail["evidence"].as_array().unwrap();
    assert!(
        evidence.is_empty() || evidence.iter().all(|e| e["kind"] == "last_gasp"),
        "{detail}"
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn a_short_interruption_seen_by_one_meter_is_a_momentary_record_not_an_incident() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    let service = h.start().await;
    let meter = h.neighbours(1).remove(0);
    let at = h.now() - Span::seconds(60);
    h.publish(gasp(&meter), at).await;
    h.publish(power_back(&meter), at + Span::seconds(20)).await;
    h.wait_processed(2).await;
    let records = h.interruptions().await;
    assert_eq!(
        records,
        vec![(None, meter.clone(), Some("momentary".to_owned()))]
    );
    let (_, list) = service.get("/v1/incidents").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn a_customer_still_out_after_restoration_gets_a_nested_incident() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    let service = h.start().await;
    let (device, customers) = h.protective_devices()[0].clone();
    let t = h.now() - Span::seconds(3600);
    h.publish(trip(&device), t).await;
    h.wait_processed(1).await;
    let parent = service.active_ids().await.remove(0);
    h.publish(close(&device, CloseCause::Manual), t + Span::seconds(1800))
        .await;
    h.wait_for_published(|e| matches!(e, OutageEvent::Restored(r) if !r.partial))
        .await;
    h.publish(
        crew(&parent, CrewReportKind::StillOut),
        t + Span::seconds(1900),
    )
    .await;
    // The second ping request is the one asked for the crew's report.
    let ping = h.wait_for_ping(2).await;
    let meter = ping.meters[0].as_str().to_owned();
    assert!(customers.contains(&meter));
    h.publish(
        FieldEvent::AmiPingResult(AmiPingResult {
            meter: meter.as_str().into(),
            energized: false,
            request_id: ping.request_id.clone(),
        }),
        t + Span::seconds(1910),
    )
    .await;
    let nested = h
        .wait_for_published(
            |e| matches!(e, OutageEvent::Detected(s) if s.incident.as_str() != parent),
        )
        .await;
    let OutageEvent::Detected(nested) = nested else {
        unreachable!()
    };
    assert!(
        nested.customers_out.iter().any(|c| c.as_str() == meter),
        "{nested:?}"
    );
    let records: Vec<_> = h
        .interruptions()
        .await
        .into_iter()
        .filter(|(_, c, _)| *c == meter)
        .collect();
    assert_eq!(
        records.len(),
        1,
        "one record for {meter}, moved to the nested incident: {records:?}"
    );
    assert_eq!(records[0].0.as_deref(), Some(nested.incident.as_str()));
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn switching_restores_part_of_an_incident_and_the_rest_later() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    let service = h.start().await;
    let (protective, switch, below) = h.switch_below_protective();
    let t = h.now() - Span::seconds(3600);
    h.publish(trip(&protective), t).await;
    h.wait_processed(1).await;
    let id = service.active_ids().await.remove(0);
    let isolate = CrewReportKind::Switching {
        device: switch.as_str().into(),
        state: SwitchState::Open,
    };
    h.publish(crew(&id, isolate), t + Span::seconds(600)).await;
    h.publish(
        close(&protective, CloseCause::Remote),
        t + Span::seconds(900),
    )
    .await;
    h.wait_processed(3).await;
    let (_, detail) = service.get(&format!("/v1/incidents/{id}")).await;
    assert_eq!(detail["state"], "confirmed", "{detail}");
    assert_eq!(detail["customers_out"], below.len());
    let reclose = CrewReportKind::Switching {
        device: switch.as_str().into(),
        state: SwitchState::Closed,
    };
    h.publish(crew(&id, reclose), t + Span::seconds(1200)).await;
    h.wait_processed(4).await;
    let (_, detail) = service.get(&format!("/v1/incidents/{id}")).await;
    assert_eq!(detail["state"], "restored", "{detail}");
    assert_eq!(detail["customers_out"], 0);
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn malformed_json_and_unknown_devices_are_dead_lettered_with_their_reason() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    let service = h.start().await;
    h.publish_raw("scada.switch.opened", b"{not json".to_vec())
        .await;
    h.publish(trip("NO-SUCH-SWITCH"), h.now()).await;
    let (device, _) = h.protective_devices()[0].clone();
    h.publish(trip(&device), h.now()).await;
    h.wait_for_published(|e| matches!(e, OutageEvent::Detected(_)))
        .await;
    let dead = h.dead_letters(2).await;
    let reasons: Vec<&str> = dead
        .iter()
        .map(|m| m.headers[fudian_bus::ERROR_HEADER].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("undecodable field event")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unknown element `NO-SUCH-SWITCH`")),
        "{reasons:?}"
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn manual_switching_through_the_api_goes_through_the_bus_and_is_applied() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    let service = h.start().await;
    let (device, customers) = h.protective_devices()[0].clone();
    let (status, body) = service
        .post(
            "/v1/switching",
            serde_json::json!({"device": device, "state": "open"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let detected = h
        .wait_for_published(|e| matches!(e, OutageEvent::Detected(_)))
        .await;
    assert_eq!(
        sorted(
            detected
                .incident_customers()
                .iter()
                .map(|c| c.as_str().to_owned())
        ),
        customers
    );
    let (status, body) = service
        .post(
            "/v1/switching",
            serde_json::json!({"device": "NOPE", "state": "open"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("NOPE"), "{body}");
    let (status, _) = service
        .post(
            "/v1/switching",
            serde_json::json!({"device": device, "state": "ajar"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    service.stop().await;
    h.finish().await;
}

/// A stream of trips, closes and momentaries (some events sent twice), with the times they
/// happened.
fn stream(h: &Harness) -> Vec<(FieldEvent, chrono::DateTime<chrono::FixedOffset>, bool)> {
    let devices = h.switches();
    let meters = h.neighbours(2);
    let base = h.now() - Span::hours(24);
    let mut events = Vec::new();
    for (i, device) in devices.iter().take(50).enumerate() {
        let t = base + Span::seconds(i as i64 * 1000);
        events.push((trip(device), t, i % 4 == 0));
        let cause = if i % 3 == 0 {
            CloseCause::Reclose
        } else {
            CloseCause::Manual
        };
        let back = if i % 3 == 0 { 30 } else { 700 };
        events.push((close(device, cause), t + Span::seconds(back), i % 5 == 0));
        let meter = &meters[i % meters.len()];
        events.push((gasp(meter), t + Span::seconds(800), false));
        events.push((power_back(meter), t + Span::seconds(820), i % 2 == 0));
    }
    events
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_stream_loses_and_duplicates_nothing() {
    restart_in_the_middle_of_a_stream(Backend::Postgres).await;
}

#[tokio::test]
async fn the_embedded_mode_survives_a_restart_in_the_middle_of_a_stream() {
    restart_in_the_middle_of_a_stream(Backend::Embedded).await;
}

async fn restart_in_the_middle_of_a_stream(backend: Backend) {
    let mut config = OutageConfig {
        batch_size: 3,
        prefetch: 6,
        ..OutageConfig::default()
    };
    // The stream happened hours ago: with the normal hold, whether a gasp is released
    // before its meter's power-back arrives would depend on the wall-clock timer, so the
    // two runs could differ for a reason that is not the restart.
    config.rules.normal.hold_secs = 200_000;

    // Without restart.
    let reference = Harness::new(backend, config.clone()).await;
    let events = stream(&reference);
    let distinct = events.len();
    reference.declare_queue().await;
    reference.publish_stream(&events).await;
    let service = reference.start().await;
    reference.wait_processed(distinct).await;
    service.stop().await;
    let expected = reference.outcome().await;

    // With a restart after about a third: the whole stream waits in the queue first.
    let h = Harness::new(backend, config).await;
    h.declare_queue().await;
    h.publish_stream(&events).await;
    let first = h.start().await;
    h.wait_processed(distinct / 3).await;
    first.stop().await;
    let processed_at_stop = h.processed().await;
    let second = h.start().await;
    h.wait_processed(distinct).await;
    // Let redeliveries of duplicates settle before comparing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.stop().await;
    let got = h.outcome().await;
    eprintln!("restarted after {processed_at_stop} of {distinct} events");

    assert!(
        processed_at_stop < distinct,
        "the restart came after the whole stream ({processed_at_stop} of {distinct})"
    );
    // Every distinct event took effect exactly once, and nothing was published twice.
    assert_eq!(h.processed().await, distinct);
    assert!(
        got.published.values().all(|&n| n == 1),
        "published twice: {:?}",
        got.published
    );
    assert!(!expected.incidents.is_empty());
    match backend {
        // The in-process bus hands back the deliveries it had in flight in their order, so
        // the restarted run must judge exactly like the uninterrupted one.
        Backend::Embedded => {
            assert_eq!(got.incidents, expected.incidents);
            assert_eq!(got.interruptions, expected.interruptions);
            assert_eq!(got.published, expected.published);
        }
        // RabbitMQ's quorum queues put the deliveries returned at the stop at the back of
        // the queue, so the second service sees a few events later than the first would
        // have: a meter's power-back may now come before its last gasp and make one more
        // (or one fewer) predicted incident on a device that also tripped. Which devices
        // had incidents, and how each ended, does not depend on arrival order.
        Backend::Postgres => {
            let tripped: std::collections::BTreeSet<String> = events
                .iter()
                .filter_map(|(event, _, _)| match event {
                    FieldEvent::ScadaSwitchOpened(opened) => Some(opened.device.to_string()),
                    _ => None,
                })
                .collect();
            let trip_incidents = |outcome: &support::Outcome| {
                outcome
                    .incidents
                    .iter()
                    .filter(|(_, _, device, _, _)| tripped.contains(device))
                    .map(|(_, state, device, out, _)| (state.clone(), device.clone(), *out))
                    .collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(trip_incidents(&got), trip_incidents(&expected));
        }
    }
    reference.finish().await;
    h.finish().await;
}

#[tokio::test]
async fn the_engine_replays_its_journal_to_the_same_state_after_a_crash() {
    replay_after_a_crash(OutageConfig::default()).await;
}

/// With no dedup window the engine forgets every event id: a redelivery is caught by the
/// inbox alone (the careful path).
#[tokio::test]
async fn a_redelivery_the_engine_forgot_is_caught_by_the_inbox() {
    let mut config = OutageConfig::default();
    config.rules.dedup_capacity = 0;
    replay_after_a_crash(config).await;
}

async fn replay_after_a_crash(config: OutageConfig) {
    let h = Harness::new(Backend::Postgres, config).await;
    let runtime = h.runtime().await;
    let devices = h.protective_devices();
    let base = h.now() - Span::hours(1);
    let mut deliveries = Vec::new();
    for (i, (device, _)) in devices.iter().take(4).enumerate() {
        deliveries.push(h.delivery(trip(device), base + Span::seconds(i as i64)));
    }
    // A switch opened and closed again: a redelivered opening would apply again if
    // neither the engine nor the inbox caught it.
    let switch = h
        .switches()
        .into_iter()
        .rfind(|s| devices.iter().all(|(d, _)| d != s))
        .unwrap();
    let branch = h.grid.branch_index(&switch).unwrap();
    deliveries.push(h.delivery(trip(&switch), base + Span::seconds(10)));
    deliveries.push(h.delivery(close(&switch, CloseCause::Manual), base + Span::seconds(20)));
    let outcomes = runtime.handle_batch(deliveries[..3].to_vec()).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    runtime.snapshot().await.unwrap();
    let outcomes = runtime.handle_batch(deliveries[3..].to_vec()).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    runtime.tick().await.unwrap();
    let before = runtime.read(|e| e.incidents()).await;
    drop(runtime);

    let reopened = h.runtime().await;
    let after = reopened.read(|e| e.incidents()).await;
    assert_eq!(after, before);
    assert!(before.len() >= 3);
    // A redelivery after the crash is recognised and changes nothing.
    let outcomes = reopened.handle_batch(deliveries.clone()).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(reopened.read(|e| e.incidents()).await, before);
    assert!(reopened.read(|e| e.topology().is_closed(branch)).await);
    let fresh = h.runtime().await;
    assert_eq!(fresh.read(|e| e.incidents()).await, before);
    assert!(fresh.read(|e| e.topology().is_closed(branch)).await);
    h.finish().await;
}

trait IncidentCustomers {
    fn incident_customers(&self) -> Vec<fudian_events::ids::CustomerId>;
}

impl IncidentCustomers for OutageEvent {
    fn incident_customers(&self) -> Vec<fudian_events::ids::CustomerId> {
        match self {
            OutageEvent::Detected(s) | OutageEvent::Updated(s) => s.customers_out.clone(),
            _ => Vec::new(),
        }
    }
}

/// Not a correctness test: how fast the consumer applies switching events on PostgreSQL
/// (`cargo test -p fudian-outage --test it --release -- --ignored --nocapture`).
#[tokio::test]
#[ignore = "measurement"]
async fn consumer_throughput_on_postgres() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    h.declare_queue().await;
    let switches = h.switches();
    let base = h.now() - Span::hours(24);
    let mut events = Vec::new();
    for round in 0..5i64 {
        for (i, device) in switches.iter().enumerate() {
            let t = base + Span::seconds(round * 10_000 + i as i64 * 10);
            events.push((trip(device), t, false));
            events.push((
                close(device, CloseCause::Manual),
                t + Span::seconds(5),
                false,
            ));
        }
    }
    h.publish_stream(&events).await;
    let started = std::time::Instant::now();
    let service = h.start().await;
    h.wait_processed(events.len()).await;
    let elapsed = started.elapsed();
    eprintln!(
        "{} events in {:.2} s: {:.0} events/s",
        events.len(),
        elapsed.as_secs_f64(),
        events.len() as f64 / elapsed.as_secs_f64()
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test]
async fn a_transaction_failing_after_the_engine_moved_rebuilds_it_so_the_retry_applies_once() {
    let h = Harness::new(Backend::Postgres, OutageConfig::default()).await;
    let runtime = h.runtime().await;
    let switches = h.switches();
    let base = h.now() - Span::hours(1);
    let first = h.delivery(trip(&switches[0]), base);
    let second = h.delivery(trip(&switches[switches.len() - 1]), base + Span::seconds(1));
    let outcomes = runtime.handle_batch(vec![first]).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let pool = h.store.as_postgres().unwrap();
    // Every journal insert now fails, after the engine applied the event.
    sqlx::query("ALTER TABLE outage.journal ADD CONSTRAINT refuse CHECK (false) NOT VALID")
        .execute(pool)
        .await
        .unwrap();
    let outcomes = runtime.handle_batch(vec![second.clone()]).await;
    assert!(
        matches!(outcomes[0], Err(fudian_bus::HandlerError::Transient(_))),
        "{outcomes:?}"
    );
    sqlx::query("ALTER TABLE outage.journal DROP CONSTRAINT refuse")
        .execute(pool)
        .await
        .unwrap();
    let outcomes = runtime.handle_batch(vec![second]).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let incidents = runtime.read(|e| e.incidents()).await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let reopened = h.runtime().await;
    assert_eq!(reopened.read(|e| e.incidents()).await, incidents);
    h.finish().await;
}

/// The simulator's traffic on the sample grid (trips, indicators, last gasps lost, late and
/// reordered, calls, momentaries, duplicates, switching and repairs), published through
/// RabbitMQ all at once, scored against its ground truth from what the service stored.
#[tokio::test]
async fn the_simulators_faults_are_found_with_their_customers_through_rabbitmq_and_postgresql() {
    let mut config = OutageConfig::default();
    // Predictions are released after the hold: keep the test short.
    config.rules.normal.hold_secs = 2;
    let h = Harness::new(Backend::Postgres, config).await;
    h.declare_queue().await;
    let options = fudian_sim::SimOptions {
        seed: 5,
        faults: 12,
        ..fudian_sim::SimOptions::default()
    };
    let simulation = fudian_sim::generate(&h.grid, &options, h.now()).unwrap();
    let distinct: std::collections::HashSet<String> = simulation
        .events
        .iter()
        .map(|e| e.wire.message_id.clone())
        .collect();
    for event in &simulation.events {
        let mut wire = event.wire.clone();
        wire.exchange.clone_from(&h.config.exchanges.field);
        h.bus.publish(wire).await.unwrap();
    }
    let service = h.start().await;
    let started = std::time::Instant::now();
    loop {
        let dead = h.bus.dead_letters(&h.config.queue, 100_000).await.unwrap();
        if h.processed().await + dead.len() >= distinct.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {} events handled",
            h.processed().await,
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The last held evidence is released by the timer.
    tokio::time::sleep(Duration::from_secs(4)).await;
    service.stop().await;

    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT i.id, i.device, r.customer_id FROM outage.incidents i \
         JOIN outage.interruptions r ON r.incident_id = i.id \
         WHERE i.state <> 'cancelled' AND r.kind IS DISTINCT FROM 'momentary'",
    )
    .fetch_all(h.store.as_postgres().unwrap())
    .await
    .unwrap();
    let mut incidents: std::collections::BTreeMap<String, fudian_sim::ReportedIncident> =
        Default::default();
    for (id, device, customer) in rows {
        incidents
            .entry(id)
            .or_insert_with(|| fudian_sim::ReportedIncident {
                device: Some(device),
                customers: Vec::new(),
            })
            .customers
            .push(customer);
    }
    let incidents: Vec<_> = incidents.into_values().collect();
    let score = fudian_sim::score(&simulation.truth, &incidents);
    eprintln!("{score:?} over {} incidents", incidents.len());
    if std::env::var_os("FUDIAN_TEST_DEBUG").is_some() {
        for fault in &simulation.truth.faults {
            let truth: std::collections::BTreeSet<&str> =
                fault.customers.iter().map(String::as_str).collect();
            for incident in &incidents {
                let got: std::collections::BTreeSet<&str> =
                    incident.customers.iter().map(String::as_str).collect();
                if incident.device.as_deref() == Some(fault.protective_device.as_str())
                    || !got.is_disjoint(&truth)
                {
                    eprintln!(
                        "fault {} on {} ({} customers, by switching {}): incident on {:?} has {}; missing {:?}, extra {:?}",
                        fault.faulted_element,
                        fault.protective_device,
                        truth.len(),
                        fault.restored_by_switching.len(),
                        incident.device,
                        got.len(),
                        truth.difference(&got).take(5).collect::<Vec<_>>(),
                        got.difference(&truth).take(5).collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    assert!(score.faults >= 10, "{score:?}");
    assert_eq!(score.devices_found, score.faults, "{score:?}");
    assert!(score.precision >= 0.99, "{score:?}");
    assert!(score.recall >= 0.99, "{score:?}");
    h.finish().await;
}
