//! Test fixtures for the notify service: a harness per test (its own PostgreSQL database
//! or SQLite data directory, its own exchange and queue prefix, optionally the provider
//! stubs), a generated grid whose customers have phones, openids and channel orders,
//! event builders, and readers of what the service stored and what the stubs accepted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, FixedOffset, TimeDelta};
use fudian_bus::{Bus, ExchangeSpec, WireMessage};
use fudian_events::common::{AffectedCounts, Device, DeviceKind, GeoPoint};
use fudian_events::envelope::{Envelope, Event, now_shanghai};
use fudian_events::ids::{CustomerId, IncidentId};
use fudian_events::outage::{
    IncidentSnapshot, IncidentState, OutageCause, OutageEvent, OutageRestored, PriorityHints,
};
use fudian_grid::Grid;
use fudian_notify::stub::{AcceptedMessage, Stubs, template_ids};
use fudian_notify::{Deps, ExchangeNames, NotifyConfig, Running};
use fudian_store::Store;
pub use fudian_testkit::Backend;
use fudian_testkit::{Provisioned, Scratch};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub const WAIT: Duration = Duration::from_secs(120);

/// A generated city grid with `customers` accounts (cached per size for the test binary).
pub fn grid(customers: u64) -> Arc<Grid> {
    static GRIDS: OnceLock<Mutex<HashMap<u64, Arc<Grid>>>> = OnceLock::new();
    let grids = GRIDS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut grids = grids.lock().unwrap();
    grids
        .entry(customers)
        .or_insert_with(|| {
            let dir = tempfile::tempdir().unwrap();
            let options = fudian_grid::generate::GenerateOptions {
                customers,
                feeders: 4,
                seed: 7,
            };
            fudian_grid::generate::generate(&options, dir.path(), &mut |_, _| {}).unwrap();
            Arc::new(fudian_grid::load_package(dir.path()).unwrap())
        })
        .clone()
}

/// `n` non-critical customers with a channel.
pub fn ordinary(grid: &Grid, n: usize) -> Vec<String> {
    grid.customers
        .iter()
        .filter(|c| !c.critical && !c.channels.is_empty())
        .take(n)
        .map(|c| c.id.to_string())
        .collect()
}

/// Customer ids of the grid, in file order.
pub fn customer_ids(grid: &Grid) -> Vec<String> {
    grid.customers.iter().map(|c| c.id.to_string()).collect()
}

/// A non-critical customer whose channel order starts with `first` and includes SMS (the
/// generator lists a channel only when the customer has its address).
pub fn customer_preferring(grid: &Grid, first: fudian_grid::Channel, skip: usize) -> String {
    grid.customers
        .iter()
        .filter(|c| {
            !c.critical
                && c.channels.first() == Some(&first)
                && c.channels.contains(&fudian_grid::Channel::Sms)
        })
        .nth(skip)
        .map(|c| c.id.to_string())
        .unwrap()
}

/// How many "outage detected" notices a customer should get: one on the preferred
/// channel, one per channel for a critical customer, none without any channel.
pub fn expected_notices(grid: &Grid, customer: &str) -> usize {
    let c = grid.customer(grid.customer_index(customer).unwrap());
    match (c.channels.is_empty(), c.critical) {
        (true, _) => 0,
        (false, true) => c.channels.len(),
        (false, false) => 1,
    }
}

pub fn openid(grid: &Grid, customer: &str) -> String {
    let c = grid.customer(grid.customer_index(customer).unwrap());
    c.wechat_openid.as_deref().unwrap().to_owned()
}

pub struct Harness {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
    pub config: NotifyConfig,
    pub database_url: Option<String>,
    prefix: String,
    scratch: Scratch,
}

/// A delivery row as the tests look at it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub customer_id: String,
    pub subject_id: String,
    pub kind: String,
    pub state: String,
    pub channel: Option<String>,
    pub provider: Option<String>,
    pub attempt: i32,
    pub answer: Option<String>,
    pub next_attempt_at: i64,
    pub critical: bool,
}

impl Harness {
    pub async fn new(backend: Backend, grid: Arc<Grid>, mut config: NotifyConfig) -> Self {
        let prefix = fudian_testkit::unique_prefix();
        config.exchanges = ExchangeNames::prefixed(&prefix);
        config.queue = format!("{prefix}notify.events");
        // Tests do not wait for idle polling.
        config.sender.poll_interval_ms = 50;
        let Provisioned {
            bus,
            store,
            scratch,
            database_url,
        } = fudian_testkit::provision(backend).await;
        bus.declare(&ExchangeSpec::fudian(&prefix), &[])
            .await
            .unwrap();
        Self {
            bus,
            store,
            grid,
            config,
            database_url,
            prefix,
            scratch,
        }
    }

    pub async fn start(&self) -> Service {
        self.start_with(self.config.clone()).await
    }

    pub async fn start_with(&self, config: NotifyConfig) -> Service {
        let shutdown = CancellationToken::new();
        let deps = Deps {
            bus: self.bus.clone(),
            store: self.store.clone(),
            grid: Arc::clone(&self.grid),
        };
        let Running { router, tasks, .. } = fudian_notify::start(config, deps, shutdown.clone())
            .await
            .unwrap();
        Service {
            router,
            tasks,
            shutdown,
        }
    }

    fn wire<E: Event>(&self, exchange: &str, event: E) -> WireMessage {
        let mut wire = Envelope::new("test", event).to_wire();
        wire.exchange = exchange.to_owned();
        wire
    }

    pub async fn publish_outage(&self, event: OutageEvent) {
        let wire = self.wire(&self.config.exchanges.outage, event);
        self.bus.publish(wire).await.unwrap();
    }

    pub async fn publish_dispatch(&self, event: fudian_events::DispatchEvent) {
        let wire = self.wire(&self.config.exchanges.dispatch, event);
        self.bus.publish(wire).await.unwrap();
    }

    pub async fn publish_planned(&self, event: fudian_events::PlannedEvent) {
        let wire = self.wire(&self.config.exchanges.planned, event);
        self.bus.publish(wire).await.unwrap();
    }

    pub async fn rows(&self) -> Vec<Row> {
        const SQL: &str = "SELECT customer_id, subject_id, kind, state, channel, provider, \
                           attempt, answer, next_attempt_at, critical FROM notify.deliveries \
                           ORDER BY created_at, id";
        if let Some(pool) = self.store.as_postgres() {
            sqlx::query_as(SQL).fetch_all(pool).await.unwrap()
        } else {
            sqlx::query_as(SQL)
                .fetch_all(self.store.as_sqlite().unwrap())
                .await
                .unwrap()
        }
    }

    /// Polls the delivery rows until `done` holds.
    pub async fn wait_rows(&self, what: &str, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
        let started = Instant::now();
        loop {
            let rows = self.rows().await;
            if done(&rows) {
                return rows;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what}; states: {:?}",
                states(&rows)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn finish(self) {
        let queue = fudian_notify::handlers::events::queue_spec(&self.config);
        let _ = self.bus.delete_queue(&queue).await;
        for exchange in ExchangeSpec::fudian(&self.prefix) {
            let _ = self.bus.delete_exchange(&exchange.name).await;
        }
        self.bus.close().await;
        self.store.close().await;
        self.scratch.remove().await;
    }
}

/// Count of rows per (kind, state).
pub fn states(rows: &[Row]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts
            .entry((row.kind.clone(), row.state.clone()))
            .or_insert(0) += 1;
    }
    counts
}

/// Whether every row of `kind` is final (neither queued nor being sent) and there are `n`.
pub fn settled(rows: &[Row], kind: &str, n: usize) -> bool {
    let of_kind: Vec<&Row> = rows.iter().filter(|r| r.kind == kind).collect();
    of_kind.len() == n
        && of_kind
            .iter()
            .all(|r| r.state != "queued" && r.state != "sending")
}

/// A started notify service.
pub struct Service {
    router: axum::Router,
    tasks: tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
}

impl Service {
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let (status, body) = self
            .call(Request::get(path).body(Body::empty()).unwrap())
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn put(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let request = Request::put(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, body) = self.call(request).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Also serves the API on a local port (for callers outside the test, such as the
    /// stubs pushing receipts) until the service stops; returns its base URL.
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = self
            .router
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
        });
        base
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

pub fn at(offset_minutes: i64) -> DateTime<FixedOffset> {
    now_shanghai() + TimeDelta::minutes(offset_minutes)
}

pub fn ids(customers: &[String]) -> Vec<CustomerId> {
    customers
        .iter()
        .map(|c| CustomerId::new(c.as_str()))
        .collect()
}

pub fn snapshot(
    incident: &str,
    revision: u32,
    customers: &[String],
    critical: &[String],
    etr: DateTime<FixedOffset>,
) -> IncidentSnapshot {
    IncidentSnapshot {
        incident: IncidentId::new(incident),
        revision,
        state: IncidentState::Confirmed,
        device: Device {
            id: "SW-1".into(),
            kind: DeviceKind::Breaker,
        },
        feeder: None,
        fault_section: None,
        cause: Some(OutageCause::Fault),
        started_at: at(-5),
        counts: AffectedCounts::default(),
        customers_out: ids(customers),
        critical_customers_out: ids(critical),
        etr,
        location: GeoPoint {
            lon: 118.67,
            lat: 37.45,
        },
        priority: PriorityHints::default(),
    }
}

pub fn detected(incident: &str, customers: &[String], etr: DateTime<FixedOffset>) -> OutageEvent {
    OutageEvent::Detected(snapshot(incident, 1, customers, &[], etr))
}

pub fn restored(incident: &str, customers: &[String], partial: bool) -> OutageEvent {
    OutageEvent::Restored(OutageRestored {
        incident: IncidentId::new(incident),
        revision: 9,
        state: if partial {
            IncidentState::Confirmed
        } else {
            IncidentState::Restored
        },
        device: Device {
            id: "SW-1".into(),
            kind: DeviceKind::Breaker,
        },
        started_at: at(-5),
        restored_at: at(0),
        partial,
        method: None,
        restored_counts: AffectedCounts::default(),
        customers_restored: ids(customers),
        still_out_counts: AffectedCounts::default(),
        customers_still_out: Vec::new(),
    })
}

/// What the stubs accepted, as (customer, kind) → the messages, across all four stubs.
pub fn accepted_by_customer(
    stubs: &Stubs,
    grid: &Grid,
) -> BTreeMap<(String, String), Vec<AcceptedMessage>> {
    let by_phone: HashMap<&str, &str> = grid
        .customers
        .iter()
        .filter_map(|c| Some((c.phone.as_deref()?, &*c.id)))
        .collect();
    let by_openid: HashMap<&str, &str> = grid
        .customers
        .iter()
        .filter_map(|c| Some((c.wechat_openid.as_deref()?, &*c.id)))
        .collect();
    let kinds = |provider: &str| -> HashMap<String, String> {
        template_ids(provider)
            .into_iter()
            .map(|(kind, id)| (id, kind))
            .collect()
    };
    let (wechat_kinds, tencent_kinds, aliyun_kinds) =
        (kinds("wechat"), kinds("tencent_sms"), kinds("aliyun_sms"));
    let mut found: BTreeMap<(String, String), Vec<AcceptedMessage>> = BTreeMap::new();
    let all = stubs
        .wechat
        .accepted()
        .into_iter()
        .chain(stubs.tencent.accepted())
        .chain(stubs.aliyun.accepted())
        .chain(stubs.app.accepted());
    for message in all {
        let (customer, kind) = match message.provider {
            "wechat" => (
                by_openid
                    .get(message.address.as_str())
                    .map(|c| c.to_string()),
                wechat_kinds.get(&message.template_id).cloned(),
            ),
            "tencent_sms" => (
                by_phone
                    .get(message.address.as_str())
                    .map(|c| c.to_string()),
                tencent_kinds.get(&message.template_id).cloned(),
            ),
            "aliyun_sms" => (
                by_phone
                    .get(message.address.as_str())
                    .map(|c| c.to_string()),
                aliyun_kinds.get(&message.template_id).cloned(),
            ),
            _ => (
                Some(message.address.clone()),
                Some(message.template_id.trim_start_matches("notice.").to_owned()),
            ),
        };
        let key = (
            customer.unwrap_or_else(|| format!("? {}", message.address)),
            kind.unwrap_or_else(|| format!("? {}", message.template_id)),
        );
        found.entry(key).or_default().push(message);
    }
    found
}

/// Every provider pointed at the stubs, with generous HTTP timeouts: on a loaded 2-core
/// machine a 2-second timeout would leave SMS waiting for receipts the tests do not push.
pub fn stub_config(stubs: &Stubs) -> NotifyConfig {
    let mut providers = stubs.providers_config();
    let slow = |http: &mut fudian_notify::send::HttpSettings| {
        http.timeout_ms = 30_000;
        http.connect_timeout_ms = 10_000;
    };
    if let Some(p) = providers.wechat.as_mut() {
        slow(&mut p.http);
    }
    if let Some(p) = providers.tencent_sms.as_mut() {
        slow(&mut p.http);
    }
    if let Some(p) = providers.aliyun_sms.as_mut() {
        slow(&mut p.http);
    }
    if let Some(p) = providers.app.as_mut() {
        slow(&mut p.http);
    }
    NotifyConfig {
        providers,
        ..NotifyConfig::default()
    }
}
