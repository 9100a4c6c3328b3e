//! The notify service end to end: the real RabbitMQ and PostgreSQL (one test also on the
//! embedded SQLite store), a generated grid of 5,000 customers with phones, openids and
//! channel orders, events in through the bus, results checked in the store, through the
//! API and in what the provider stubs accepted.
//!
//! Each test has its own database and its own exchange and queue prefix. Environment:
//! `FUDIAN_TEST_AMQP_URL`, `FUDIAN_TEST_DATABASE_URL` (see the outage service's tests).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeDelta, Timelike};
use fudian_events::DispatchEvent;
use fudian_events::PlannedEvent;
use fudian_events::common::{AffectedCounts, TimeWindow};
use fudian_events::dispatch::{EtrChanged, EtrSource, WorkOrderStatus, WorkOrderStatusChanged};
use fudian_events::ids::{CustomerId, IncidentId, PlannedJobId};
use fudian_events::outage::{CancelReason, IncidentState, OutageCancelled, OutageEvent};
use fudian_events::planned::{
    NoticeDeadlines, PlannedApproved, PlannedCancelled, PlannedCompleted, PlannedStarted,
};
use fudian_grid::{Channel as GridChannel, Grid};
use fudian_notify::NotifyConfig;
use fudian_notify::stub::Stubs;

use crate::support::{
    Backend, Harness, Row, accepted_by_customer, at, customer_ids, customer_preferring, detected,
    grid, ids, openid, ordinary, restored, settled, stub_config,
};

/// The channel a customer's notice should use: the first of the grid's order the customer
/// has an address for (the generator lists only those).
fn preferred(grid: &Grid, customer: &str) -> Option<&'static str> {
    let c = grid.customer(grid.customer_index(customer).unwrap());
    c.channels.first().map(|channel| match channel {
        GridChannel::Wechat => "wechat",
        GridChannel::Sms => "sms",
        GridChannel::App => "app",
    })
}

fn provider_of(channel: &str) -> &'static str {
    match channel {
        "wechat" => "wechat",
        "sms" => "tencent_sms",
        _ => "app",
    }
}

/// Checks one notice kind after a fan-out to every customer of the grid: ordinary
/// customers exactly one row and one accepted message, on their preferred channel;
/// critical customers one per channel; customers without a channel a suppressed row.
fn check_fan_out(grid: &Grid, rows: &[Row], stubs: &Stubs, kind: &str) {
    let accepted = accepted_by_customer(stubs, grid);
    let mut rows_by_customer: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.kind == kind) {
        rows_by_customer
            .entry(&row.customer_id)
            .or_default()
            .push(row);
    }
    let mut ordinary = 0;
    for customer in &grid.customers {
        let id = &*customer.id;
        let rows = &rows_by_customer[id];
        let messages = accepted
            .get(&(id.to_owned(), kind.to_owned()))
            .map_or(0, Vec::len);
        match preferred(grid, id) {
            None => {
                assert_eq!(rows.len(), 1, "{id}");
                assert_eq!(rows[0].state, "suppressed", "{id}");
                assert_eq!(messages, 0, "{id}");
            }
            Some(_) if customer.critical => {
                assert_eq!(
                    rows.len(),
                    customer.channels.len(),
                    "{id}: one row per channel"
                );
                assert_eq!(messages, customer.channels.len(), "{id}");
                assert!(
                    rows.iter().all(|r| r.state == "sent" && r.critical),
                    "{id}: {rows:?}"
                );
            }
            Some(channel) => {
                ordinary += 1;
                assert_eq!(rows.len(), 1, "{id}: exactly one {kind} row");
                let row = rows[0];
                assert_eq!(row.state, "sent", "{id}: {row:?}");
                assert_eq!(row.channel.as_deref(), Some(channel), "{id}");
                assert_eq!(row.provider.as_deref(), Some(provider_of(channel)), "{id}");
                assert_eq!(messages, 1, "{id}: exactly one {kind} message accepted");
            }
        }
    }
    assert!(ordinary > 4_000, "only {ordinary} ordinary customers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_5000_customers_sends_each_one_detected_and_one_restored_notice() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), stub_config(&stubs)).await;
    let service = h.start().await;
    let customers = customer_ids(&grid);
    assert_eq!(customers.len(), 5_000);

    h.publish_outage(detected("INC-5000", &customers, at(120)))
        .await;
    let rows = h
        .wait_rows("every detected notice", |rows| {
            let of_kind = rows.iter().filter(|r| r.kind == "outage_detected").count();
            of_kind >= 5_000 && settled(rows, "outage_detected", of_kind)
        })
        .await;
    check_fan_out(&grid, &rows, &stubs, "outage_detected");

    h.publish_outage(restored("INC-5000", &customers, false))
        .await;
    let rows = h
        .wait_rows("every restored notice", |rows| {
            let of_kind = rows.iter().filter(|r| r.kind == "restored").count();
            of_kind >= 5_000 && settled(rows, "restored", of_kind)
        })
        .await;
    check_fan_out(&grid, &rows, &stubs, "restored");
    // Nothing else went out.
    assert!(
        rows.iter()
            .all(|r| r.kind == "outage_detected" || r.kind == "restored")
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_unfollowed_the_wechat_account_gets_the_notice_by_sms() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), stub_config(&stubs)).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 0);
    stubs.wechat.fail_address(openid(&grid, &customer), "43004");

    h.publish_outage(detected("INC-FB", std::slice::from_ref(&customer), at(120)))
        .await;
    let rows = h
        .wait_rows("the detected notice", |rows| {
            settled(rows, "outage_detected", 1)
        })
        .await;
    let row = &rows[0];
    assert_eq!(row.state, "sent", "{row:?}");
    assert_eq!(row.channel.as_deref(), Some("sms"));
    assert_eq!(row.provider.as_deref(), Some("tencent_sms"));
    let accepted = accepted_by_customer(&stubs, &grid);
    let messages = &accepted[&(customer.clone(), "outage_detected".to_owned())];
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].provider, "tencent_sms");
    assert!(
        stubs.wechat.rejections().iter().any(|r| r.code == "43004"),
        "wechat was tried first"
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_daily_wechat_quota_sends_later_notices_straight_to_the_next_channel() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), stub_config(&stubs)).await;
    let service = h.start().await;
    let first = customer_preferring(&grid, GridChannel::Wechat, 20);
    let second = customer_preferring(&grid, GridChannel::Wechat, 21);
    stubs.wechat.fail_address(openid(&grid, &first), "45009");
    h.publish_outage(detected("INC-Q1", std::slice::from_ref(&first), at(120)))
        .await;
    let rows = h
        .wait_rows("the first notice", |rows| {
            settled(rows, "outage_detected", 1)
        })
        .await;
    assert_eq!(rows[0].channel.as_deref(), Some("sms"), "{:?}", rows[0]);
    let wechat_requests = stubs.wechat.requests();

    h.publish_outage(detected("INC-Q2", std::slice::from_ref(&second), at(120)))
        .await;
    let rows = h
        .wait_rows("the second notice", |rows| {
            settled(rows, "outage_detected", 2)
        })
        .await;
    let row = rows.iter().find(|r| r.customer_id == second).unwrap();
    assert_eq!(row.state, "sent");
    assert_eq!(row.channel.as_deref(), Some("sms"), "{row:?}");
    assert_eq!(
        stubs.wechat.requests(),
        wechat_requests,
        "wechat not asked again today"
    );

    // A restarted service remembers the stop.
    service.stop().await;
    let service = h.start().await;
    let third = customer_preferring(&grid, GridChannel::Wechat, 22);
    h.publish_outage(detected("INC-Q3", std::slice::from_ref(&third), at(120)))
        .await;
    let rows = h
        .wait_rows("the third notice", |rows| {
            settled(rows, "outage_detected", 3)
        })
        .await;
    let row = rows.iter().find(|r| r.customer_id == third).unwrap();
    assert_eq!(row.channel.as_deref(), Some("sms"), "{row:?}");
    assert_eq!(
        stubs.wechat.requests(),
        wechat_requests,
        "wechat not asked again after the restart"
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_provider_is_retried_with_growing_delay_until_it_accepts() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let mut config = stub_config(&stubs);
    config.retry.base_delay_ms = 200;
    config.retry.max_delay_ms = 1_000;
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 1);
    // Let the sender get its token first, then make the next three sends fail with -1.
    let warm = customer_preferring(&grid, GridChannel::Wechat, 2);
    h.publish_outage(detected("INC-WARM", std::slice::from_ref(&warm), at(120)))
        .await;
    h.wait_rows("the warm-up notice", |rows| {
        settled(rows, "outage_detected", 1)
    })
    .await;
    stubs.wechat.fail_next(3, "-1");

    h.publish_outage(detected(
        "INC-RETRY",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    let rows = h
        .wait_rows("the retried notice", |rows| {
            settled(rows, "outage_detected", 2)
        })
        .await;
    let row = rows.iter().find(|r| r.customer_id == customer).unwrap();
    assert_eq!(row.state, "sent", "{row:?}");
    assert_eq!(
        row.channel.as_deref(),
        Some("wechat"),
        "retried, not fallen back"
    );
    assert_eq!(row.attempt, 4, "three refusals, then accepted: {row:?}");
    let accepted = accepted_by_customer(&stubs, &grid);
    assert_eq!(
        accepted[&(customer.clone(), "outage_detected".to_owned())].len(),
        1
    );
    service.stop().await;
    h.finish().await;
}

fn approved(job: &str, customers: &[String], start_in_days: i64) -> PlannedEvent {
    let start = at(start_in_days * 24 * 60);
    PlannedEvent::Approved(PlannedApproved {
        job: PlannedJobId::new(job),
        revision: 1,
        elements: Vec::new(),
        work: "增容施工".into(),
        window: TimeWindow {
            start,
            end: start + TimeDelta::hours(6),
        },
        area: "东营区西城街道胜利社区".into(),
        counts: AffectedCounts::default(),
        customers: customers
            .iter()
            .map(|c| CustomerId::new(c.as_str()))
            .collect(),
        critical_customers: Vec::new(),
        notice: NoticeDeadlines {
            notify_by: start - TimeDelta::days(7),
            critical_notify_by: start - TimeDelta::days(10),
            remind_at: start - TimeDelta::days(1),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_hold_a_planned_advance_notice_but_never_an_outage_notice() {
    let grid = grid(5_000);
    let mut config = NotifyConfig::default();
    // Quiet hours around now, whatever the time of the run.
    let now = at(0);
    let start = now - TimeDelta::hours(1);
    let end = now + TimeDelta::hours(1);
    config.rules.quiet_start = start
        .time()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    config.rules.quiet_end = end
        .time()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customers = ordinary(&grid, 20);

    h.publish_planned(approved("PLN-QUIET", &customers, 9))
        .await;
    h.publish_outage(detected("INC-NIGHT", &customers, at(120)))
        .await;
    let rows = h
        .wait_rows(
            "the outage notices sent and the advance notices planned",
            |rows| {
                settled(rows, "outage_detected", 20)
                    && rows.iter().filter(|r| r.kind == "planned_advance").count() == 20
            },
        )
        .await;
    let quiet_end_ms = (end.with_second(0).unwrap().with_nanosecond(0).unwrap()).timestamp_millis();
    for row in rows.iter().filter(|r| r.kind == "planned_advance") {
        assert_eq!(row.state, "queued", "{row:?}");
        assert_eq!(
            row.next_attempt_at, quiet_end_ms,
            "held until quiet hours end"
        );
    }
    let reminders = rows.iter().filter(|r| r.kind == "planned_reminder").count();
    assert_eq!(reminders, 20, "the reminder is planned for the day before");
    assert!(
        rows.iter()
            .filter(|r| r.kind == "outage_detected")
            .all(|r| r.state == "sent" || r.state == "suppressed")
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_outage_is_announced_reminded_started_and_ended_and_a_cancelled_one_called_off() {
    a_planned_outage_is_announced_reminded_started_and_ended_and_a_cancelled_one_called_off_on(
        Backend::Postgres,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_outage_is_announced_reminded_started_and_ended_and_a_cancelled_one_called_off_embedded()
 {
    a_planned_outage_is_announced_reminded_started_and_ended_and_a_cancelled_one_called_off_on(
        Backend::Embedded,
    )
    .await;
}

async fn a_planned_outage_is_announced_reminded_started_and_ended_and_a_cancelled_one_called_off_on(
    backend: Backend,
) {
    let grid = grid(5_000);
    let mut config = NotifyConfig::default();
    // No quiet hours, so the test does not depend on the time it runs.
    config.rules.quiet_start = config.rules.quiet_end;
    let h = Harness::new(backend, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customers = ordinary(&grid, 5);
    let approved_event = approved("PLN-1", &customers, 9);
    let PlannedEvent::Approved(job) = &approved_event else {
        unreachable!()
    };
    let window = job.window;
    h.publish_planned(approved_event.clone()).await;
    h.publish_planned(approved("PLN-2", &customers, 12)).await;
    let rows = h
        .wait_rows("the advance notices", |rows| {
            settled(rows, "planned_advance", 10)
                && rows.iter().filter(|r| r.kind == "planned_reminder").count() == 10
        })
        .await;
    assert!(
        rows.iter()
            .filter(|r| r.kind == "planned_advance")
            .all(|r| r.state == "sent")
    );
    let day = TimeDelta::days(1).num_milliseconds();
    for reminder in rows.iter().filter(|r| r.kind == "planned_reminder") {
        assert_eq!(reminder.state, "queued");
        let start = if reminder.subject_id == "PLN-1" {
            9
        } else {
            12
        };
        let due = at(start * 24 * 60).timestamp_millis() - day;
        assert!(
            (reminder.next_attempt_at - due).abs() < 60_000,
            "{reminder:?}"
        );
    }

    h.publish_planned(PlannedEvent::Cancelled(PlannedCancelled {
        job: PlannedJobId::new("PLN-2"),
        window,
        reason: "天气原因".into(),
        customers: ids(&customers),
    }))
    .await;
    h.publish_planned(PlannedEvent::Started(PlannedStarted {
        job: PlannedJobId::new("PLN-1"),
        window,
        started_at: at(0),
        customers: ids(&customers),
    }))
    .await;
    h.wait_rows("the start notices", |rows| {
        settled(rows, "planned_start", 5)
    })
    .await;
    let (_, lookup) = service
        .get(&format!("/v1/lookup?account={}", customers[0]))
        .await;
    assert_eq!(lookup["outages"][0]["kind"], "planned", "{lookup}");
    assert_eq!(lookup["outages"][0]["cause"], "增容施工", "{lookup}");
    h.publish_planned(PlannedEvent::Completed(PlannedCompleted {
        job: PlannedJobId::new("PLN-1"),
        window,
        completed_at: at(1),
        customers: ids(&customers),
    }))
    .await;
    let rows = h
        .wait_rows("the end notices", |rows| settled(rows, "planned_end", 5))
        .await;
    // SMS has no planned_end template (carriers allow ~10 texts a day): SMS-only
    // customers get none, the others one.
    for row in rows.iter().filter(|r| r.kind == "planned_end") {
        let no_channel = row
            .answer
            .as_deref()
            .is_some_and(|a| a.contains("no usable channel"));
        assert!(row.state == "sent" || no_channel, "{row:?}");
    }
    assert!(
        rows.iter()
            .any(|r| r.kind == "planned_end" && r.state == "sent")
    );
    // Both jobs' reminders are off: one started, the other was cancelled.
    assert!(
        rows.iter()
            .filter(|r| r.kind == "planned_reminder")
            .all(|r| r.state == "suppressed"),
        "{rows:?}"
    );
    // Those told of the cancelled job hear it is off, once each.
    let rows = h
        .wait_rows("the cancellation notices", |rows| {
            settled(rows, "planned_cancelled", 5)
        })
        .await;
    let called_off: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == "planned_cancelled")
        .collect();
    assert!(
        called_off
            .iter()
            .all(|r| r.subject_id == "PLN-2" && r.state == "sent"),
        "{called_off:?}"
    );
    let (_, notices) = service
        .get(&format!("/v1/notices?customer={}", customers[0]))
        .await;
    let text = notices["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "planned_cancelled")
        .map(|n| n["text"].to_string())
        .unwrap();
    assert!(text.contains("取消"), "{text}");
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tencent_sms_receipt_marks_the_notice_delivered_and_its_repeat_is_ignored() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), stub_config(&stubs)).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Sms, 1);
    h.publish_outage(detected(
        "INC-SMS",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    h.wait_rows("the notice", |rows| settled(rows, "outage_detected", 1))
        .await;
    let (_, notices) = service
        .get(&format!("/v1/notices?customer={customer}"))
        .await;
    let item = &notices["items"][0];
    assert_eq!(item["provider"], "tencent_sms", "{notices}");
    assert!(item["segments"].as_i64().unwrap() >= 1, "{notices}");
    let serial = item["provider_message_id"].as_str().unwrap();
    let phone = grid
        .customer(grid.customer_index(&customer).unwrap())
        .phone
        .as_deref()
        .unwrap()
        .trim_start_matches("+86")
        .to_owned();
    let body = serde_json::json!([{
        "user_receive_time": "2026-11-27 10:00:00", "nationcode": "86", "mobile": phone,
        "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
        "sid": serial
    }]);
    for _ in 0..2 {
        let (status, answer) = service
            .call(
                Request::post("/v1/receipts/tencent")
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, r#"{"result":0,"errmsg":"OK"}"#);
    }
    assert_eq!(h.rows().await[0].state, "delivered");
    let (status, _) = service
        .call(
            Request::post("/v1/receipts/tencent")
                .body(Body::from("[{\"mobile\": 1}]"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    service.stop().await;
    h.finish().await;
}

fn on_site(incident: &str) -> DispatchEvent {
    DispatchEvent::WorkOrderStatus(WorkOrderStatusChanged {
        work_order: "WO-1".into(),
        incident: IncidentId::new(incident),
        crew: Some("CREW-1".into()),
        status: WorkOrderStatus::OnSite,
        note: None,
    })
}

fn etr(incident: &str, minutes: i64) -> DispatchEvent {
    DispatchEvent::EtrChanged(EtrChanged {
        incident: IncidentId::new(incident),
        work_order: None,
        etr: at(minutes),
        previous_etr: None,
        source: EtrSource::Crew,
        reason: "需更换受损电缆".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_within_the_merge_window_become_one_notice() {
    updates_within_the_merge_window_become_one_notice_on(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_within_the_merge_window_become_one_notice_embedded() {
    updates_within_the_merge_window_become_one_notice_on(Backend::Embedded).await;
}

async fn updates_within_the_merge_window_become_one_notice_on(backend: Backend) {
    let grid = grid(5_000);
    let mut config = NotifyConfig::default();
    config.rules.merge_window_secs = 3;
    let h = Harness::new(backend, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 3);
    h.publish_outage(detected(
        "INC-MERGE",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    h.wait_rows("the detected notice", |rows| {
        settled(rows, "outage_detected", 1)
    })
    .await;

    h.publish_dispatch(on_site("INC-MERGE")).await;
    h.publish_dispatch(etr("INC-MERGE", 240)).await;
    let rows = h
        .wait_rows("the merged update", |rows| {
            settled(rows, "etr_changed", 1) && settled(rows, "crew_arrived", 1)
        })
        .await;
    let crew = rows.iter().find(|r| r.kind == "crew_arrived").unwrap();
    let etr_row = rows.iter().find(|r| r.kind == "etr_changed").unwrap();
    assert_eq!(crew.state, "suppressed", "{crew:?}");
    assert!(
        crew.answer.as_deref().unwrap().contains("merged"),
        "{crew:?}"
    );
    assert_eq!(etr_row.state, "sent", "{etr_row:?}");
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_limit_holds_back_an_update_but_never_the_restoration() {
    the_hourly_limit_holds_back_an_update_but_never_the_restoration_on(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_limit_holds_back_an_update_but_never_the_restoration_embedded() {
    the_hourly_limit_holds_back_an_update_but_never_the_restoration_on(Backend::Embedded).await;
}

async fn the_hourly_limit_holds_back_an_update_but_never_the_restoration_on(backend: Backend) {
    let grid = grid(5_000);
    let mut config = NotifyConfig::default();
    config.rules.per_customer_per_hour = 1;
    config.rules.merge_window_secs = 0;
    let h = Harness::new(backend, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 22);
    h.publish_outage(detected(
        "INC-LIMIT",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    h.wait_rows("the detected notice", |rows| {
        settled(rows, "outage_detected", 1)
    })
    .await;
    h.publish_dispatch(on_site("INC-LIMIT")).await;
    let rows = h
        .wait_rows("the crew notice", |rows| settled(rows, "crew_arrived", 1))
        .await;
    let crew = rows.iter().find(|r| r.kind == "crew_arrived").unwrap();
    assert_eq!(crew.state, "suppressed", "{crew:?}");
    assert!(
        crew.answer.as_deref().unwrap().contains("hourly limit"),
        "{crew:?}"
    );
    h.publish_outage(restored(
        "INC-LIMIT",
        std::slice::from_ref(&customer),
        false,
    ))
    .await;
    let rows = h
        .wait_rows("the restored notice", |rows| settled(rows, "restored", 1))
        .await;
    assert_eq!(
        rows.iter().find(|r| r.kind == "restored").unwrap().state,
        "sent"
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etr_move_under_thirty_minutes_is_not_told_and_a_larger_one_is() {
    an_etr_move_under_thirty_minutes_is_not_told_and_a_larger_one_is_on(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etr_move_under_thirty_minutes_is_not_told_and_a_larger_one_is_embedded() {
    an_etr_move_under_thirty_minutes_is_not_told_and_a_larger_one_is_on(Backend::Embedded).await;
}

async fn an_etr_move_under_thirty_minutes_is_not_told_and_a_larger_one_is_on(backend: Backend) {
    let grid = grid(5_000);
    let mut config = NotifyConfig::default();
    config.rules.merge_window_secs = 0;
    let h = Harness::new(backend, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 4);
    h.publish_outage(detected(
        "INC-ETR",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    h.wait_rows("the detected notice", |rows| {
        settled(rows, "outage_detected", 1)
    })
    .await;

    h.publish_dispatch(etr("INC-ETR", 140)).await; // 20 minutes later: not told
    h.publish_dispatch(etr("INC-ETR", 190)).await; // 70 minutes later: told
    let rows = h
        .wait_rows("the etr notice", |rows| settled(rows, "etr_changed", 1))
        .await;
    let told = rows.iter().find(|r| r.kind == "etr_changed").unwrap();
    assert_eq!(told.state, "sent");
    // And a second move right after is held to 30 minutes after the first notice.
    h.publish_dispatch(etr("INC-ETR", 300)).await;
    let rows = h
        .wait_rows("the second etr notice planned", |rows| {
            rows.iter().filter(|r| r.kind == "etr_changed").count() == 2
        })
        .await;
    let second = rows.iter().rfind(|r| r.kind == "etr_changed").unwrap();
    assert_eq!(second.state, "queued", "{second:?}");
    assert!(
        second.next_attempt_at >= at(29).timestamp_millis(),
        "{second:?}"
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_out_channel_gets_nothing() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), stub_config(&stubs)).await;
    let service = h.start().await;
    let no_wechat = customer_preferring(&grid, GridChannel::Wechat, 5);
    let nothing = customer_preferring(&grid, GridChannel::Wechat, 6);

    let (status, body) = service
        .put(
            &format!("/v1/customers/{no_wechat}/preferences"),
            serde_json::json!({ "opted_out": ["wechat"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body["effective_channels"]
            .as_array()
            .unwrap()
            .contains(&"wechat".into()),
        "{body}"
    );
    let (status, _) = service
        .put(
            &format!("/v1/customers/{nothing}/preferences"),
            serde_json::json!({ "opted_out": ["wechat", "sms", "app"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = service
        .put(
            &format!("/v1/customers/{nothing}/preferences"),
            serde_json::json!({ "opted_out": ["fax"] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("opted_out[0]"),
        "{body}"
    );

    h.publish_outage(detected(
        "INC-OPT",
        &[no_wechat.clone(), nothing.clone()],
        at(120),
    ))
    .await;
    let rows = h
        .wait_rows("both notices", |rows| settled(rows, "outage_detected", 2))
        .await;
    let first = rows.iter().find(|r| r.customer_id == no_wechat).unwrap();
    assert_eq!(first.state, "sent");
    assert_eq!(first.channel.as_deref(), Some("sms"));
    let second = rows.iter().find(|r| r.customer_id == nothing).unwrap();
    assert_eq!(second.state, "suppressed", "{second:?}");
    assert!(
        stubs
            .wechat
            .accepted_for(&openid(&grid, &no_wechat))
            .is_empty()
    );
    assert!(
        stubs
            .wechat
            .accepted_for(&openid(&grid, &nothing))
            .is_empty()
    );
    let accepted = accepted_by_customer(&stubs, &grid);
    assert!(!accepted.contains_key(&(nothing.clone(), "outage_detected".to_owned())));
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_still_out_under_a_nested_outage_is_not_told_power_is_back() {
    a_customer_still_out_under_a_nested_outage_is_not_told_power_is_back_on(Backend::Postgres)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_still_out_under_a_nested_outage_is_not_told_power_is_back_embedded() {
    a_customer_still_out_under_a_nested_outage_is_not_told_power_is_back_on(Backend::Embedded)
        .await;
}

async fn a_customer_still_out_under_a_nested_outage_is_not_told_power_is_back_on(backend: Backend) {
    let grid = grid(5_000);
    let h = Harness::new(backend, Arc::clone(&grid), NotifyConfig::default()).await;
    let service = h.start().await;
    let customers: Vec<String> = (0..3)
        .map(|i| customer_preferring(&grid, GridChannel::Wechat, 10 + i))
        .collect();
    let nested = customers[1].clone();
    h.publish_outage(detected("INC-OUTER", &customers, at(120)))
        .await;
    h.wait_rows("outer detected", |rows| settled(rows, "outage_detected", 3))
        .await;
    h.publish_outage(detected(
        "INC-INNER",
        std::slice::from_ref(&nested),
        at(180),
    ))
    .await;
    h.wait_rows("inner detected", |rows| settled(rows, "outage_detected", 4))
        .await;

    h.publish_outage(restored("INC-OUTER", &customers, false))
        .await;
    let rows = h
        .wait_rows("restored notices", |rows| settled(rows, "restored", 2))
        .await;
    let told: HashSet<&str> = rows
        .iter()
        .filter(|r| r.kind == "restored")
        .map(|r| r.customer_id.as_str())
        .collect();
    assert!(!told.contains(nested.as_str()), "still out under INC-INNER");
    let (_, lookup) = service.get(&format!("/v1/lookup?account={nested}")).await;
    assert_eq!(lookup["out"], true, "{lookup}");
    assert_eq!(lookup["outages"][0]["reference"], "INC-INNER", "{lookup}");

    h.publish_outage(restored("INC-INNER", std::slice::from_ref(&nested), false))
        .await;
    let rows = h
        .wait_rows("the nested customer's restored notice", |rows| {
            settled(rows, "restored", 3)
        })
        .await;
    assert!(
        rows.iter().any(|r| r.kind == "restored"
            && r.customer_id == nested
            && r.subject_id == "INC-INNER")
    );
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_keeps_notices_in_the_local_sink_and_shows_them() {
    let grid = grid(5_000);
    let h = Harness::new(
        Backend::Embedded,
        Arc::clone(&grid),
        NotifyConfig::default(),
    )
    .await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 7);
    let others = vec![
        customer.clone(),
        customer_preferring(&grid, GridChannel::Sms, 0),
        customer_preferring(&grid, GridChannel::App, 0),
    ];
    h.publish_outage(detected("INC-SINK", &others, at(120)))
        .await;
    h.wait_rows("the notices", |rows| settled(rows, "outage_detected", 3))
        .await;

    let (status, body) = service
        .get(&format!("/v1/notices?customer={customer}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let item = &body["items"][0];
    assert_eq!(item["state"], "sent", "{body}");
    assert_eq!(
        item["provider"],
        serde_json::Value::Null,
        "local sink: {body}"
    );
    assert_eq!(item["channel"], "wechat");
    assert!(item["text"].as_str().unwrap().contains("恢复"), "{body}");
    let (status, _) = service.get("/v1/notices").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, lookup) = service.get(&format!("/v1/lookup?account={customer}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lookup["out"], true);
    assert_eq!(lookup["outages"][0]["reference"], "INC-SINK");
    assert_eq!(lookup["outages"][0]["cause"], "线路故障");
    let (status, page) = service
        .call(
            Request::get(format!("/n/{}", item["id"].as_str().unwrap()))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("预计恢复时间") && page.contains("INC-SINK"),
        "{page}"
    );

    // Receipts for messages this store never sent are answered and change nothing (the
    // SQL of both receipt paths runs on SQLite too).
    let receipts = [
        (
            "/v1/receipts/tencent",
            r#"[{"mobile":"13711112222","nationcode":"86","report_status":"FAIL","errmsg":"MK:0001","sid":"x"}]"#,
        ),
        (
            "/v1/receipts/aliyun",
            r#"[{"phone_number":"13711112222","success":true,"biz_id":"b","out_id":"o"}]"#,
        ),
    ];
    for (path, body) in receipts {
        let (status, _) = service
            .call(Request::post(path).body(Body::from(body)).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }

    h.publish_outage(restored("INC-SINK", &others, false)).await;
    h.wait_rows("restored", |rows| settled(rows, "restored", 3))
        .await;
    let (_, lookup) = service.get(&format!("/v1/lookup?account={customer}")).await;
    assert_eq!(lookup["out"], false, "{lookup}");
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_receipt_marks_the_notice_delivered_once_and_a_forged_one_is_refused() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let mut config = stub_config(&stubs);
    config.wechat_callback_token = secrecy::SecretString::from("callback-token".to_owned());
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 8);
    h.publish_outage(detected(
        "INC-RCPT",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    h.wait_rows("the notice", |rows| settled(rows, "outage_detected", 1))
        .await;
    let (_, notices) = service
        .get(&format!("/v1/notices?customer={customer}"))
        .await;
    let msgid = notices["items"][0]["provider_message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (timestamp, nonce) = ("1764200000", "n0nce");
    let signature =
        fudian_notify::providers::wechat::callback_signature("callback-token", timestamp, nonce);
    let query = format!("signature={signature}&timestamp={timestamp}&nonce={nonce}");
    let (status, echo) = service
        .call(
            Request::get(format!("/v1/receipts/wechat?{query}&echostr=hello"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!((status, echo.as_str()), (StatusCode::OK, "hello"));
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\
         <FromUserName><![CDATA[{}]]></FromUserName><CreateTime>1764200001</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\
         <MsgID>{msgid}</MsgID><Status><![CDATA[success]]></Status></xml>",
        openid(&grid, &customer)
    );
    for _ in 0..3 {
        let (status, body) = service
            .call(
                Request::post(format!("/v1/receipts/wechat?{query}"))
                    .body(Body::from(xml.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    }
    let rows = h.rows().await;
    assert_eq!(rows[0].state, "delivered", "{:?}", rows[0]);
    let (status, _) = service
        .call(
            Request::post(format!(
                "/v1/receipts/wechat?signature=0000&timestamp={timestamp}&nonce={nonce}"
            ))
            .body(Body::from(xml))
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_receipt_saying_the_user_blocked_us_sends_the_notice_by_sms() {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let mut config = stub_config(&stubs);
    config.wechat_callback_token = secrecy::SecretString::from("callback-token".to_owned());
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let customer = customer_preferring(&grid, GridChannel::Wechat, 9);
    h.publish_outage(detected(
        "INC-BLOCK",
        std::slice::from_ref(&customer),
        at(120),
    ))
    .await;
    h.wait_rows("the notice", |rows| settled(rows, "outage_detected", 1))
        .await;
    let (_, notices) = service
        .get(&format!("/v1/notices?customer={customer}"))
        .await;
    let msgid = notices["items"][0]["provider_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (timestamp, nonce) = ("1764200100", "n0nce2");
    let signature =
        fudian_notify::providers::wechat::callback_signature("callback-token", timestamp, nonce);
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\
         <FromUserName><![CDATA[{}]]></FromUserName><CreateTime>1764200101</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\
         <MsgID>{msgid}</MsgID><Status><![CDATA[failed:user block]]></Status></xml>",
        openid(&grid, &customer)
    );
    let (status, _) = service
        .call(
            Request::post(format!(
                "/v1/receipts/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}"
            ))
            .body(Body::from(xml))
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows = h
        .wait_rows("the notice sent again by sms", |rows| {
            rows[0].channel.as_deref() == Some("sms") && rows[0].state == "sent"
        })
        .await;
    assert_eq!(
        rows[0].provider.as_deref(),
        Some("tencent_sms"),
        "{:?}",
        rows[0]
    );
    let accepted = accepted_by_customer(&stubs, &grid);
    let messages = &accepted[&(customer.clone(), "outage_detected".to_owned())];
    let providers: Vec<&str> = messages.iter().map(|m| m.provider).collect();
    assert_eq!(providers, ["wechat", "tencent_sms"]);
    service.stop().await;
    h.finish().await;
}

/// The benchmark of issue 5: one feeder outage fanned out to 20,000 customers through the
/// real RabbitMQ and PostgreSQL into the provider stubs; prints the time from publishing
/// `outage.detected` until the stubs accepted every notice (median of runs), the same
/// fan-out into the local sink (the service's own ceiling: plan, claim, render, record),
/// and the platform outbox relay ceiling (no-op sink) measured in the same run.
/// `cargo test -p fudian-notify --release --test it -- --ignored --nocapture fan_out_benchmark`
/// (`FUDIAN_BENCH_CUSTOMERS`, default 20000; `FUDIAN_BENCH_RUNS`, default 3;
/// `FUDIAN_BENCH_WORKERS` and `FUDIAN_BENCH_CLAIM` override the sender pool's defaults).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn fan_out_benchmark() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let customers = env("FUDIAN_BENCH_CUSTOMERS", 20_000);
    let runs = env("FUDIAN_BENCH_RUNS", 3);
    let grid = grid(customers);
    let (mut stubbed, mut sunk, mut relay) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let (sent, secs, planned) = fan_out_once(&grid, true).await;
        eprintln!(
            "run {run}: stubs: {sent} notices in {secs:.2} s ({:.0}/s; planned in {planned:.2} s)",
            sent as f64 / secs
        );
        stubbed.push(sent as f64 / secs);
        let (sent, secs, planned) = fan_out_once(&grid, false).await;
        eprintln!(
            "run {run}: local sink: {sent} notices in {secs:.2} s ({:.0}/s; planned in {planned:.2} s)",
            sent as f64 / secs
        );
        sunk.push(sent as f64 / secs);
        let h = Harness::new(
            Backend::Postgres,
            Arc::clone(&grid),
            NotifyConfig::default(),
        )
        .await;
        relay.push(relay_ceiling(&h.store, 20_000).await);
        h.finish().await;
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (stubbed, sunk, relay) = (median(&mut stubbed), median(&mut sunk), median(&mut relay));
    eprintln!(
        "fan-out of {customers} customers, median of {runs}: {stubbed:.0} notices/s accepted by \
         the stubs; {sunk:.0} notices/s into the local sink; outbox relay ceiling (no-op sink, \
         4 flushers) {relay:.0} messages/s; stubs/relay {:.2}",
        stubbed / relay
    );
}

/// One fan-out on a fresh database; returns (notices to send, seconds until done, seconds
/// until planned).
async fn fan_out_once(grid: &Arc<Grid>, with_stubs: bool) -> (usize, f64, f64) {
    let stubs = Stubs::start().await.unwrap();
    let mut config = if with_stubs {
        stub_config(&stubs)
    } else {
        NotifyConfig::default()
    };
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    if let Some(workers) = env("FUDIAN_BENCH_WORKERS") {
        config.sender.workers = workers;
    }
    if let Some(claim) = env("FUDIAN_BENCH_CLAIM") {
        config.sender.claim_batch = claim;
    }
    let h = Harness::new(Backend::Postgres, Arc::clone(grid), config).await;
    let service = h.start().await;
    let ids = customer_ids(grid);
    let started = Instant::now();
    h.publish_outage(detected("INC-BENCH", &ids, at(120))).await;
    let pool = h.store.as_postgres().unwrap().clone();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            usize::try_from(n).unwrap()
        }
    };
    while count("SELECT count(*) FROM notify.deliveries").await < ids.len() {
        assert!(started.elapsed() < Duration::from_secs(600), "not planned");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let planned = started.elapsed().as_secs_f64();
    let to_send = count("SELECT count(*) FROM notify.deliveries WHERE state <> 'suppressed'").await;
    loop {
        let done = if with_stubs {
            stubs.accepted_count() >= to_send
        } else {
            count("SELECT count(*) FROM notify.deliveries WHERE state IN ('queued', 'sending')")
                .await
                == 0
        };
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not done in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    service.stop().await;
    h.finish().await;
    (to_send, secs, planned)
}

struct NoopSink(Arc<std::sync::atomic::AtomicU64>);

impl fudian_store::OutboxSink for NoopSink {
    async fn publish_batch(
        &self,
        messages: Vec<fudian_bus::WireMessage>,
    ) -> Result<(), fudian_store::SinkError> {
        self.0
            .fetch_add(messages.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

async fn relay_ceiling(store: &fudian_store::Store, count: usize) -> f64 {
    let messages: Vec<fudian_bus::WireMessage> = (0..count)
        .map(|i| fudian_bus::WireMessage {
            exchange: String::new(),
            routing_key: "bench".into(),
            message_id: format!("bench-{i:08}"),
            headers: BTreeMap::new(),
            body: vec![b'x'; 300],
        })
        .collect();
    for chunk in messages.chunks(1_000) {
        let mut tx = store.begin().await.unwrap();
        tx.enqueue_all(chunk).await.unwrap();
        tx.commit().await.unwrap();
    }
    let published = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let relay = store.outbox_relay(
        NoopSink(Arc::clone(&published)),
        fudian_store::RelayConfig {
            workers: 4,
            ..fudian_store::RelayConfig::default()
        },
    );
    let started = Instant::now();
    let workers = (0..4).map(|_| relay.flush());
    let relayed: u64 = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let elapsed = started.elapsed();
    assert_eq!(relayed, count as u64);
    count as f64 / elapsed.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_told_of_an_outage_that_was_none_hear_their_supply_is_normal() {
    let grid = grid(5_000);
    let h = Harness::new(
        Backend::Postgres,
        Arc::clone(&grid),
        NotifyConfig::default(),
    )
    .await;
    let service = h.start().await;
    let customers = ordinary(&grid, 20);
    let (told, merged) = customers.split_at(10);
    let cancelled = |incident: &str, reason, customers: &[String]| {
        OutageEvent::Cancelled(OutageCancelled {
            incident: IncidentId::new(incident),
            revision: 2,
            state: IncidentState::Cancelled,
            reason,
            merged_into: (reason == CancelReason::Merged).then(|| IncidentId::new("INC-OTHER")),
            customers: ids(customers),
            note: None,
        })
    };
    h.publish_outage(detected("INC-FALSE", told, at(120))).await;
    h.publish_outage(detected("INC-MERGED", merged, at(120)))
        .await;
    h.wait_rows("the outage notices", |rows| {
        settled(rows, "outage_detected", 20)
    })
    .await;
    // The merged one first: by the time the other's corrections are out, it was handled
    // (one queue, in order), and it must have planned none.
    h.publish_outage(cancelled("INC-MERGED", CancelReason::Merged, merged))
        .await;
    h.publish_outage(cancelled("INC-FALSE", CancelReason::NotConfirmed, told))
        .await;
    let rows = h
        .wait_rows("the corrections", |rows| {
            settled(rows, "outage_cancelled", 10)
        })
        .await;
    let corrections: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == "outage_cancelled")
        .collect();
    assert!(
        corrections
            .iter()
            .all(|r| r.subject_id == "INC-FALSE" && r.state == "sent"),
        "{corrections:?}"
    );
    let (_, notices) = service
        .get(&format!("/v1/notices?customer={}", told[0]))
        .await;
    assert!(notices.to_string().contains("供电正常"), "{notices}");
    service.stop().await;
    h.finish().await;
}
