//! Test fixtures: a harness per test (its own database or data directory, its own
//! exchange and queue prefix, an outbox relay, an observer of what the planner publishes
//! on `fudian.planned`) and a started service with helpers to call its API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use fudian_bus::{Bus, ExchangeSpec, QueueSpec, WireMessage};
use fudian_events::envelope::Envelope;
use fudian_events::outage::OutageEvent;
use fudian_events::planned::PlannedEvent;
use fudian_grid::Grid;
use fudian_planner::{Deps, ExchangeNames, PlannerConfig, Running};
use fudian_store::Store;
pub use fudian_testkit::Backend;
use fudian_testkit::{Provisioned, Recorded, Scratch};
use tokio_util::sync::CancellationToken;

/// Generous: these machines are small and shared.
pub const WAIT: Duration = Duration::from_secs(60);

/// The sample grid: `examples/grids/mv-oberrhein` in the repository, else the shared one.
pub fn grid_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_repo = manifest.join("../../examples/grids/mv-oberrhein");
    if in_repo.join("network.geojson").exists() {
        in_repo
    } else {
        manifest.join("../../../shared/grids/mv-oberrhein")
    }
}

pub fn grid() -> Arc<Grid> {
    static GRID: OnceLock<Arc<Grid>> = OnceLock::new();
    GRID.get_or_init(|| Arc::new(fudian_grid::load_package(&grid_dir()).unwrap()))
        .clone()
}

/// The independent references of the sample grid (only kept in `../shared`).
pub fn references() -> serde_json::Value {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = manifest.join("../../../shared/grids/mv-oberrhein/references.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub struct Harness {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
    pub config: PlannerConfig,
    observed: Recorded,
    observer: QueueSpec,
    stop: CancellationToken,
    background: Vec<tokio::task::JoinHandle<()>>,
    scratch: Scratch,
    prefix: String,
}

impl Harness {
    pub async fn new(backend: Backend, mut config: PlannerConfig) -> Self {
        let prefix = fudian_testkit::unique_prefix();
        config.exchanges = ExchangeNames::prefixed(&prefix);
        config.queue = format!("{prefix}planner.outage-events");
        // Retries come back quickly in tests.
        config.retry_delays_ms = vec![200];
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
        // A test queue bound to the planned exchange: what notify and outage would get.
        let observer = QueueSpec::new(format!("{prefix}observer"))
            .bind(config.exchanges.planned.clone(), "planned.#");
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
            observed,
            observer,
            stop,
            background,
            scratch,
            prefix,
        }
    }

    pub async fn start(&self) -> Service {
        let shutdown = CancellationToken::new();
        let deps = Deps {
            bus: self.bus.clone(),
            store: self.store.clone(),
            grid: Arc::clone(&self.grid),
        };
        let Running { router, tasks } =
            fudian_planner::start(self.config.clone(), deps, shutdown.clone())
                .await
                .unwrap();
        Service {
            router,
            tasks,
            shutdown,
        }
    }

    /// Planned events seen on the test queue, decoded, in arrival order.
    pub fn planned_events(&self) -> Vec<(WireMessage, Envelope<PlannedEvent>)> {
        self.observed
            .lock()
            .unwrap()
            .iter()
            .map(|m| (m.clone(), fudian_events::planned::decode(&m.body).unwrap()))
            .collect()
    }

    pub async fn wait_for_planned(
        &self,
        wanted: impl Fn(&PlannedEvent) -> bool,
    ) -> (WireMessage, Envelope<PlannedEvent>) {
        let started = Instant::now();
        loop {
            if let Some(found) = self
                .planned_events()
                .into_iter()
                .find(|(_, e)| wanted(&e.event))
            {
                return found;
            }
            assert!(
                started.elapsed() < WAIT,
                "not published; seen {:?}",
                self.planned_events()
                    .iter()
                    .map(|(m, _)| m.routing_key.clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn publish_outage(&self, envelope: &Envelope<OutageEvent>) {
        let mut wire = envelope.to_wire();
        wire.exchange.clone_from(&self.config.exchanges.outage);
        self.bus.publish(wire).await.unwrap();
    }

    pub async fn publish_raw_outage(&self, routing_key: &str, body: &[u8]) {
        self.bus
            .publish(WireMessage {
                exchange: self.config.exchanges.outage.clone(),
                routing_key: routing_key.to_owned(),
                message_id: uuid::Uuid::now_v7().to_string(),
                headers: BTreeMap::new(),
                body: body.to_vec(),
            })
            .await
            .unwrap();
    }

    pub async fn wait_processed(&self, n: usize) {
        fudian_testkit::wait_processed(&self.store, &self.config.consumer, n, WAIT).await;
    }

    /// Interruption records of one source (`incident:<id>` or `job:<id>`).
    pub async fn interruption_count(&self, source: &str) -> i64 {
        const SQL: &str = "SELECT count(*) FROM planner.interruptions WHERE source = $1";
        if let Some(pool) = self.store.as_postgres() {
            sqlx::query_scalar(SQL)
                .bind(source)
                .fetch_one(pool)
                .await
                .unwrap()
        } else {
            sqlx::query_scalar(SQL)
                .bind(source)
                .fetch_one(self.store.as_sqlite().unwrap())
                .await
                .unwrap()
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

    pub async fn finish(self) {
        self.stop.cancel();
        for task in self.background {
            task.await.unwrap();
        }
        let queue = fudian_planner::handlers::outage::queue_spec(&self.config);
        let _ = self.bus.delete_queue(&queue).await;
        let _ = self.bus.delete_queue(&self.observer).await;
        for exchange in ExchangeSpec::fudian(&self.prefix) {
            let _ = self.bus.delete_exchange(&exchange.name).await;
        }
        self.bus.close().await;
        self.store.close().await;
        self.scratch.remove().await;
    }
}

/// A started planner.
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

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let (status, body) = fudian_testkit::get(&self.router, path).await;
        (status, String::from_utf8(body).unwrap())
    }

    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let (status, body) = fudian_testkit::post(&self.router, path, body.to_string()).await;
        (status, fudian_testkit::json(&body))
    }

    pub async fn post_text(&self, path: &str, body: serde_json::Value) -> (StatusCode, String) {
        let (status, body) = fudian_testkit::post(&self.router, path, body.to_string()).await;
        (status, String::from_utf8(body).unwrap())
    }

    /// Creates a job and returns its id (asserting 201).
    pub async fn create_job(&self, body: serde_json::Value) -> String {
        let (status, created) = self.post("/v1/planned/jobs", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}
