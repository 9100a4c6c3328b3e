//! Test fixtures: a harness per test (its own database or data directory, its own
//! exchange and queue prefix, an outbox relay, an observer of what the service publishes)
//! and a started service with helpers to call its API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use fudian_bus::{Bus, Delivery, ExchangeSpec, QueueSpec, WireMessage};
use fudian_events::envelope::{Envelope, now_shanghai};
use fudian_events::field::{AmiPingRequest, FieldEvent};
use fudian_events::outage::OutageEvent;
use fudian_grid::Grid;
use fudian_grid::topology::Topology;
use fudian_outage::{Deps, ExchangeNames, OutageConfig, Running, Runtime};
use fudian_store::Store;
pub use fudian_testkit::Backend;
use fudian_testkit::{Provisioned, Recorded, Scratch};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

pub fn grid() -> Arc<Grid> {
    static GRID: OnceLock<Arc<Grid>> = OnceLock::new();
    GRID.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let in_repo = manifest.join("../../examples/grids/mv-oberrhein");
        let shared = manifest.join("../../../shared/grids/mv-oberrhein");
        let dir = if in_repo.exists() { in_repo } else { shared };
        Arc::new(fudian_grid::load_package(&dir).unwrap())
    })
    .clone()
}

pub fn sorted(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids
}

/// What a run left behind, without wall-clock times.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// (id, state, device, customers out, revision).
    pub incidents: Vec<(String, String, String, i64, i64)>,
    /// (incident, customer, kind).
    pub interruptions: BTreeSet<(Option<String>, String, Option<String>)>,
    /// Published outage events by (incident, revision, type), with how often each was seen.
    pub published: BTreeMap<(String, u32, String), usize>,
}

pub struct Harness {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
    pub config: OutageConfig,
    base: DateTime<FixedOffset>,
    observed: Recorded,
    observer: QueueSpec,
    stop: CancellationToken,
    background: Vec<tokio::task::JoinHandle<()>>,
    scratch: Scratch,
}

impl Harness {
    pub async fn new(backend: Backend, mut config: OutageConfig) -> Self {
        let prefix = fudian_testkit::unique_prefix();
        config.exchanges = ExchangeNames::prefixed(&prefix);
        config.queue = format!("{prefix}outage.events");
        let Provisioned {
            bus,
            store,
            scratch,
            ..
        } = fudian_testkit::provision(backend).await;
        bus.declare(&ExchangeSpec::fudian(&prefix), &[])
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let observer = QueueSpec::new(format!("{prefix}observer"))
            .bind(config.exchanges.outage.clone(), "#")
            .bind(config.exchanges.field.clone(), "ami.ping_request");
        let (observed, recorder) =
            fudian_testkit::spawn_recorder(&bus, &observer, stop.clone()).await;
        let background = vec![
            recorder,
            fudian_testkit::spawn_relay(&store, &bus, stop.clone()),
        ];
        Self {
            bus,
            store,
            grid: grid(),
            config,
            base: now_shanghai(),
            observed,
            observer,
            stop,
            background,
            scratch,
        }
    }

    pub fn base(&self) -> DateTime<FixedOffset> {
        self.base
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        now_shanghai()
    }

    pub async fn start(&self) -> Service {
        let shutdown = CancellationToken::new();
        let deps = Deps {
            bus: self.bus.clone(),
            store: self.store.clone(),
            grid: Arc::clone(&self.grid),
        };
        let Running { router, tasks } =
            fudian_outage::start(self.config.clone(), deps, shutdown.clone())
                .await
                .unwrap();
        Service {
            router,
            tasks,
            shutdown,
        }
    }

    /// Declares the service's queue, so events published before it starts wait there.
    pub async fn declare_queue(&self) {
        let queue = fudian_outage::handlers::field::queue_spec(&self.config);
        self.bus
            .declare(&[], std::slice::from_ref(&queue))
            .await
            .unwrap();
    }

    pub async fn runtime(&self) -> Runtime {
        Runtime::open(
            Arc::clone(&self.grid),
            self.store.clone(),
            self.config.clone(),
        )
        .await
        .unwrap()
    }

    fn wire(&self, envelope: &Envelope<FieldEvent>) -> WireMessage {
        let mut wire = envelope.to_wire();
        wire.exchange.clone_from(&self.config.exchanges.field);
        wire
    }

    pub fn delivery(&self, event: FieldEvent, at: DateTime<FixedOffset>) -> Delivery {
        Delivery {
            message: self.wire(&Envelope::new("test", event).occurred(at)),
            redelivered: false,
            attempt: 1,
            queue: self.config.queue.clone(),
            span: tracing::Span::none(),
        }
    }

    pub async fn publish(&self, event: FieldEvent, at: DateTime<FixedOffset>) {
        let envelope = Envelope::new("test", event).occurred(at);
        self.bus.publish(self.wire(&envelope)).await.unwrap();
    }

    /// Publishes every event (those flagged twice, with the same id).
    pub async fn publish_stream(&self, events: &[(FieldEvent, DateTime<FixedOffset>, bool)]) {
        for (event, at, twice) in events {
            let envelope = Envelope::new("test", event.clone()).occurred(*at);
            let wire = self.wire(&envelope);
            self.bus.publish(wire.clone()).await.unwrap();
            if *twice {
                self.bus.publish(wire).await.unwrap();
            }
        }
    }

    pub async fn publish_raw(&self, routing_key: &str, body: Vec<u8>) {
        self.bus
            .publish(WireMessage {
                exchange: self.config.exchanges.field.clone(),
                routing_key: routing_key.to_owned(),
                message_id: uuid::Uuid::now_v7().to_string(),
                headers: BTreeMap::new(),
                body,
            })
            .await
            .unwrap();
    }

    fn published_events(&self) -> Vec<OutageEvent> {
        self.observed
            .lock()
            .unwrap()
            .iter()
            .filter(|m| {
                m.exchange == self.config.exchanges.outage && m.routing_key.starts_with("outage.")
            })
            .map(|m| fudian_events::outage::decode(&m.body).unwrap().event)
            .collect()
    }

    pub async fn wait_for_published(&self, wanted: impl Fn(&OutageEvent) -> bool) -> OutageEvent {
        let started = Instant::now();
        loop {
            if let Some(event) = self.published_events().into_iter().find(|e| wanted(e)) {
                return event;
            }
            assert!(
                started.elapsed() < WAIT,
                "not published; seen {:?}",
                self.published_events()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The answer published for trouble call `call_id`.
    pub async fn wait_for_call_answer(&self, call_id: &str) -> fudian_events::call::CallAnswer {
        let started = Instant::now();
        loop {
            let answers: Vec<fudian_events::call::CallAnswer> = self
                .observed
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m.routing_key == fudian_events::call::CALL_ANSWERED)
                .map(|m| {
                    let fudian_events::call::CallEvent::Answered(answer) =
                        fudian_events::call::decode(&m.body).unwrap().event;
                    answer
                })
                .collect();
            if let Some(answer) = answers.into_iter().find(|a| a.call_id.as_str() == call_id) {
                return answer;
            }
            assert!(started.elapsed() < WAIT, "call {call_id} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `n`th ping request published (1-based).
    pub async fn wait_for_ping(&self, n: usize) -> AmiPingRequest {
        let started = Instant::now();
        loop {
            let pings: Vec<AmiPingRequest> = self
                .observed
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m.exchange == self.config.exchanges.field)
                .filter_map(
                    |m| match fudian_events::field::decode(&m.body).unwrap().event {
                        FieldEvent::AmiPingRequest(request) => Some(request),
                        _ => None,
                    },
                )
                .collect();
            if let Some(ping) = pings.get(n - 1) {
                return ping.clone();
            }
            assert!(started.elapsed() < WAIT, "only {} pings", pings.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Events the service recorded as processed (its inbox rows).
    pub async fn processed(&self) -> usize {
        fudian_testkit::processed(&self.store, &self.config.consumer).await
    }

    pub async fn wait_processed(&self, n: usize) {
        fudian_testkit::wait_processed(&self.store, &self.config.consumer, n, WAIT).await;
    }

    /// (incident, customer, kind) of every interruption record.
    pub async fn interruptions(&self) -> Vec<(Option<String>, String, Option<String>)> {
        const SQL: &str = "SELECT incident_id, customer_id, kind FROM outage.interruptions \
                           ORDER BY customer_id, incident_id";
        if let Some(pool) = self.store.as_postgres() {
            sqlx::query_as(SQL).fetch_all(pool).await.unwrap()
        } else {
            sqlx::query_as(SQL)
                .fetch_all(self.store.as_sqlite().unwrap())
                .await
                .unwrap()
        }
    }

    pub async fn outcome(&self) -> Outcome {
        // Give the relay time to publish the last rows.
        let started = Instant::now();
        while self.store.outbox_pending().await.unwrap() > 0 {
            assert!(started.elapsed() < WAIT, "outbox not drained");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        const SQL: &str = "SELECT id, state, device, customers_out, revision \
                           FROM outage.incidents ORDER BY id";
        let incidents = if let Some(pool) = self.store.as_postgres() {
            sqlx::query_as(SQL).fetch_all(pool).await.unwrap()
        } else {
            sqlx::query_as(SQL)
                .fetch_all(self.store.as_sqlite().unwrap())
                .await
                .unwrap()
        };
        let mut published = BTreeMap::new();
        for event in self.published_events() {
            let key = (
                event.incident().as_str().to_owned(),
                event.revision(),
                fudian_events::Event::event_type(&event).to_owned(),
            );
            *published.entry(key).or_insert(0) += 1;
        }
        Outcome {
            incidents,
            interruptions: self.interruptions().await.into_iter().collect(),
            published,
        }
    }

    pub async fn dead_letters(&self, n: usize) -> Vec<WireMessage> {
        let started = Instant::now();
        loop {
            let dead = self.bus.dead_letters(&self.config.queue, 10).await.unwrap();
            if dead.len() >= n {
                return dead;
            }
            assert!(started.elapsed() < WAIT, "only {} dead letters", dead.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Closed protective devices whose opening darkens customers, with those customers.
    pub fn protective_devices(&self) -> Vec<(String, Vec<String>)> {
        let topology = Topology::new(&self.grid);
        (0..self.grid.branches.len() as u32)
            .filter(|&b| self.grid.branch(b).is_protective() && topology.is_closed(b))
            .map(|b| {
                (
                    self.grid.branch(b).id.to_string(),
                    sorted(
                        self.grid
                            .customer_ids(topology.outage_if_opened(b).customers),
                    ),
                )
            })
            .filter(|(_, customers)| !customers.is_empty())
            .collect()
    }

    /// Every closed switch whose opening darkens customers.
    pub fn switches(&self) -> Vec<String> {
        let topology = Topology::new(&self.grid);
        (0..self.grid.branches.len() as u32)
            .filter(|&b| self.grid.branch(b).is_switch() && topology.is_closed(b))
            .filter(|&b| !topology.outage_if_opened(b).customers.is_empty())
            .map(|b| self.grid.branch(b).id.to_string())
            .collect()
    }

    /// `n` customers fed through one switch: the closed switch with the fewest customers
    /// below it, at least `n` (the sample grid is medium voltage: no public transformers).
    pub fn neighbours(&self, n: usize) -> Vec<String> {
        let topology = Topology::new(&self.grid);
        (0..self.grid.branches.len() as u32)
            .filter(|&b| self.grid.branch(b).is_switch() && topology.is_closed(b))
            .map(|b| {
                sorted(
                    self.grid
                        .customer_ids(topology.outage_if_opened(b).customers),
                )
            })
            .filter(|customers| customers.len() >= n)
            .min_by_key(Vec::len)
            .map(|customers| customers[..n].to_vec())
            .unwrap()
    }

    /// A protective device, a switch below it and the customers below that switch (fewer
    /// than the protective device's).
    pub fn switch_below_protective(&self) -> (String, String, Vec<String>) {
        let topology = Topology::new(&self.grid);
        for (device, customers) in self.protective_devices() {
            let all: BTreeSet<&String> = customers.iter().collect();
            for s in 0..self.grid.branches.len() as u32 {
                let branch = self.grid.branch(s);
                if !branch.is_switch() || !topology.is_closed(s) || *branch.id == *device {
                    continue;
                }
                let below = sorted(
                    self.grid
                        .customer_ids(topology.outage_if_opened(s).customers),
                );
                if !below.is_empty()
                    && below.len() < customers.len()
                    && below.iter().all(|c| all.contains(c))
                {
                    return (device, branch.id.to_string(), below);
                }
            }
        }
        panic!("no switch below a protective device in the sample grid");
    }

    pub async fn finish(self) {
        self.stop.cancel();
        for task in self.background {
            task.await.unwrap();
        }
        let queue = fudian_outage::handlers::field::queue_spec(&self.config);
        let _ = self.bus.delete_queue(&queue).await;
        let _ = self.bus.delete_queue(&self.observer).await;
        for exchange in [
            &self.config.exchanges.field,
            &self.config.exchanges.planned,
            &self.config.exchanges.outage,
        ] {
            let _ = self.bus.delete_exchange(exchange).await;
        }
        self.bus.close().await;
        self.store.close().await;
        self.scratch.remove().await;
    }
}

/// A started outage service.
pub struct Service {
    router: axum::Router,
    tasks: tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
}

impl Service {
    pub async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let (status, body) = fudian_testkit::get(&self.router, path).await;
        (status, fudian_testkit::json(&body))
    }

    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let (status, body) = fudian_testkit::post(&self.router, path, body.to_string()).await;
        (status, fudian_testkit::json(&body))
    }

    /// Every customer of an incident, walking the pages.
    pub async fn all_customers(&self, incident: &str, page: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(after) => {
                    format!("/v1/incidents/{incident}/customers?limit={page}&after={after}")
                }
                None => format!("/v1/incidents/{incident}/customers?limit={page}"),
            };
            let (status, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let items = body["items"].as_array().unwrap();
            assert!(items.len() <= page);
            ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            match body["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    pub async fn active_ids(&self) -> Vec<String> {
        let (_, body) = self.get("/v1/incidents?state=active").await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Cancels the service and waits for its tasks (final snapshot included).
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}
