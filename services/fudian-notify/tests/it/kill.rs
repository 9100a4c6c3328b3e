//! The crash test of issue 5: the notify service runs in its own process (this test
//! binary started again on [`notify_service_child_process`], serving the service with
//! `fudian_notify::run` on a port, with the real RabbitMQ, PostgreSQL and the provider
//! stubs of the parent), is
//! killed with SIGKILL in the middle of a 5,000-customer fan-out, and is started again.
//! Every customer must then have exactly the notices they should: none missing, none
//! repeated, also for SMS, whose `SendSms` is not idempotent and is settled by the
//! receipts the stubs push to the service's receipt endpoints. Also here: an SMS whose
//! request timed out, settled by its receipt or sent again when none comes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fudian_grid::Channel as GridChannel;
use fudian_notify::send::HttpSettings;
use fudian_notify::stub::Stubs;
use fudian_notify::{Deps, NotifyConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{
    Backend, Harness, WAIT, accepted_by_customer, at, customer_ids, customer_preferring, detected,
    expected_notices, grid, stub_config,
};

/// Set in the child's environment: the path of its [`ChildSpec`].
const CHILD_ENV: &str = "FUDIAN_NOTIFY_KILL_CHILD";

/// What the child process runs on.
#[derive(Serialize, Deserialize)]
struct ChildSpec {
    database_url: String,
    amqp_url: String,
    http_addr: String,
    customers: u64,
    /// The notify configuration as an operator writes it (JSON of `[notify]`).
    config: serde_json::Value,
}

/// The service process: `cargo test` runs it as an ignored test that does nothing; the
/// kill test starts this binary on it with [`CHILD_ENV`] set, and it serves until killed.
#[test]
#[ignore = "the child process of the kill test, started by that test"]
fn notify_service_child_process() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec: ChildSpec = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let config: NotifyConfig = serde_json::from_value(spec.config).unwrap();
        let store = fudian_store::Store::connect(fudian_store::StoreConfig::new(
            spec.database_url.as_str(),
        ))
        .await
        .unwrap();
        let bus =
            fudian_bus::Bus::connect_rabbit(&spec.amqp_url, fudian_bus::RabbitConfig::default())
                .await
                .unwrap();
        let deps = Deps {
            bus,
            store,
            grid: grid(spec.customers),
        };
        let listener = tokio::net::TcpListener::bind(&spec.http_addr)
            .await
            .unwrap();
        fudian_notify::run(
            config,
            deps,
            listener,
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
    });
}

/// The running child; killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct ServiceProcess {
    child: Child,
}

impl ServiceProcess {
    /// Starts the child on `spec` and waits until its `/readyz` answers 200.
    async fn start(spec: &Path, base: &str, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill::notify_service_child_process",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, spec)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut process = Self { child };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success());
            if ready {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("the notify service process exited: {status}");
            }
            assert!(
                started.elapsed() < WAIT,
                "the notify service never got ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown of any kind, as when the machine loses the process.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A counter from the service's `/metrics` (0 when not there yet), summed over labels.
async fn counter(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Deliveries not finished yet: queued, being sent, or sent and waiting for their
/// receipt to settle them.
async fn unfinished(h: &Harness) -> i64 {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM notify.deliveries \
         WHERE state IN ('queued', 'sending') OR settle_by IS NOT NULL",
    )
    .fetch_one(h.store.as_postgres().unwrap())
    .await
    .unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_service_process_mid_fan_out_and_restarting_sends_every_missing_notice_once() {
    const CUSTOMERS: u64 = 5_000;
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(CUSTOMERS);
    let h = Harness::new(Backend::Postgres, Arc::clone(&grid), stub_config(&stubs)).await;
    let database_url = h.database_url.clone().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // As the SMS providers do: a receipt per number to our callback URL, pushed again
    // until it is taken (also while the service is down).
    stubs
        .tencent
        .push_receipts_to(format!("{base}/v1/receipts/tencent"));
    stubs
        .aliyun
        .push_receipts_to(format!("{base}/v1/receipts/aliyun"));
    let http = HttpSettings {
        timeout_ms: 30_000,
        connect_timeout_ms: 10_000,
        concurrency: 32,
    };
    let receipt_window_secs = 8;
    let config = json!({
        "queue": h.config.queue,
        "exchanges": {
            "outage": h.config.exchanges.outage,
            "dispatch": h.config.exchanges.dispatch,
            "planned": h.config.exchanges.planned,
        },
        "sender": {
            "claim_batch": 100,
            "lease_secs": 3,
            "poll_interval_ms": 50,
            "receipt_window_secs": receipt_window_secs,
        },
        "providers": stubs.providers_json(&http),
    });
    let scratch = tempfile::tempdir().unwrap();
    let spec_path = scratch.path().join("spec.json");
    let log: PathBuf = scratch.path().join("service.log");
    let spec = ChildSpec {
        database_url: database_url.clone(),
        amqp_url: fudian_testkit::amqp_url(),
        http_addr: format!("127.0.0.1:{port}"),
        customers: CUSTOMERS,
        config,
    };
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();

    // Every provider takes a request at once and answers it late, so at the kill requests
    // are in flight: sent at the provider, their answers never read.
    for stub in [&*stubs.wechat, &*stubs.tencent, &*stubs.aliyun, &*stubs.app] {
        stub.set_answer_delay(Duration::from_millis(150));
    }
    let service = ServiceProcess::start(&spec_path, &base, &log).await;
    let customers = customer_ids(&grid);
    h.publish_outage(detected("INC-SIGKILL", &customers, at(120)))
        .await;
    let started = Instant::now();
    while stubs.accepted_count() < 1_000 {
        assert!(started.elapsed() < WAIT, "the fan-out did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service.kill();
    let at_kill = stubs.accepted_count();
    assert!(
        at_kill < 4_500,
        "the kill came too late to test anything: {at_kill}"
    );
    for stub in [&*stubs.wechat, &*stubs.tencent, &*stubs.aliyun, &*stubs.app] {
        stub.set_answer_delay(Duration::ZERO);
    }

    let service = ServiceProcess::start(&spec_path, &base, &log).await;
    let started = Instant::now();
    let mut rows = Vec::new();
    loop {
        // Planned for everyone, nothing left to send or to settle, every receipt taken.
        let planned = rows
            .iter()
            .filter(|r: &&crate::support::Row| r.kind == "outage_detected")
            .count();
        if planned > 0
            && unfinished(&h).await == 0
            && stubs.tencent.receipts_pending() + stubs.aliyun.receipts_pending() == 0
        {
            break;
        }
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            started.elapsed() < WAIT,
            "the rest of the fan-out did not finish; service log:\n{log_text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        rows = h.rows().await;
    }
    let rows = h.rows().await;
    let accepted = accepted_by_customer(&stubs, &grid);
    let mut missing = Vec::new();
    let mut repeated = Vec::new();
    let mut expected_total = 0;
    for customer in &grid.customers {
        let id = &*customer.id;
        let messages = accepted
            .get(&(id.to_owned(), "outage_detected".to_owned()))
            .map_or(0, Vec::len);
        let expected = expected_notices(&grid, id);
        expected_total += expected;
        if messages < expected {
            missing.push(id.to_owned());
        }
        if messages > expected {
            repeated.push(id.to_owned());
        }
    }
    let unsettled = counter(&base, "fudian_notify_sms_uncertain_total").await as u64;
    let resent = counter(&base, "fudian_notify_sms_resent_total").await as u64;
    let recovered = counter(&base, "fudian_notify_claims_recovered_total").await as u64;
    eprintln!(
        "kill test: {at_kill} accepted before the SIGKILL, {} after; after the restart \
         {recovered} claims requeued, {unsettled} sms awaited their receipt, {resent} of them \
         sent again; {} delivery rows",
        stubs.accepted_count() - at_kill,
        rows.len()
    );
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert!(repeated.is_empty(), "repeated: {repeated:?}");
    assert_eq!(stubs.accepted_count(), expected_total);
    // The kill left requests in flight, so the restart had something to recover.
    assert!(recovered + unsettled > 0);
    service.kill();
    h.finish().await;
}

/// An SMS request that times out may have been sent: it waits for its receipt. With the
/// receipt it is settled (delivered) and never sent again; when no receipt comes within
/// `sender.receipt_window_secs` it is sent again. The SQL of both paths runs on both
/// backends.
async fn an_unanswered_sms_is_settled_by_its_receipt_or_sent_again(backend: Backend) {
    let stubs = Stubs::start().await.unwrap();
    let grid = grid(5_000);
    let mut config = stub_config(&stubs);
    config.sender.receipt_window_secs = 5;
    if let Some(tencent) = config.providers.tencent_sms.as_mut() {
        tencent.http.timeout_ms = 300;
    }
    let h = Harness::new(backend, Arc::clone(&grid), config).await;
    let service = h.start().await;
    let base = service.listen().await;
    // Tencent takes every request and answers after the sender gave up.
    stubs.tencent.set_answer_delay(Duration::from_millis(1_000));
    stubs
        .tencent
        .push_receipts_to(format!("{base}/v1/receipts/tencent"));
    let with_receipt = customer_preferring(&grid, GridChannel::Sms, 0);
    let phone_of = |customer: &str| {
        grid.customer(grid.customer_index(customer).unwrap())
            .phone
            .clone()
            .unwrap()
    };
    h.publish_outage(detected(
        "INC-RECEIPT",
        std::slice::from_ref(&with_receipt),
        at(120),
    ))
    .await;
    let rows = h
        .wait_rows("the receipt to settle the sms", |rows| {
            rows.iter().any(|r| r.state == "delivered")
        })
        .await;
    assert_eq!(rows[0].provider.as_deref(), Some("tencent_sms"));
    // Past the window: still one message, still delivered.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    assert_eq!(
        stubs.tencent.accepted_for(&phone_of(&with_receipt)).len(),
        1
    );
    assert_eq!(h.rows().await[0].state, "delivered");

    // The receipt is lost: after the window the SMS goes again (the one case it repeats).
    stubs.tencent.stop_pushing_receipts();
    stubs.tencent.set_answer_delay(Duration::ZERO);
    let without_receipt = customer_preferring(&grid, GridChannel::Sms, 1);
    stubs.tencent.set_answer_delay(Duration::from_millis(1_000));
    h.publish_outage(detected(
        "INC-NO-RECEIPT",
        std::slice::from_ref(&without_receipt),
        at(120),
    ))
    .await;
    let phone = phone_of(&without_receipt);
    let started = Instant::now();
    while stubs.tencent.accepted_for(&phone).len() < 2 {
        assert!(
            started.elapsed() < WAIT,
            "the unsettled sms was not sent again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stubs.tencent.set_answer_delay(Duration::ZERO);
    let rows = h
        .wait_rows("the second send to be recorded", |rows| {
            rows.iter().any(|r| {
                r.customer_id == without_receipt
                    && r.state == "sent"
                    && r.answer.as_deref().is_some_and(|a| a.contains("accepted"))
            })
        })
        .await;
    assert_eq!(rows.len(), 2);
    service.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_sms_is_settled_by_its_receipt_or_sent_again_on_postgresql() {
    an_unanswered_sms_is_settled_by_its_receipt_or_sent_again(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_sms_is_settled_by_its_receipt_or_sent_again_embedded() {
    an_unanswered_sms_is_settled_by_its_receipt_or_sent_again(Backend::Embedded).await;
}
