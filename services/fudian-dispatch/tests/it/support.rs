//! Test fixtures: small grids built here (cells and crews whose shifts are placed around
//! the current time, so a test passes at any hour), incident snapshots, a harness per test
//! (its own database or data directory, its own exchange and queue prefix, an outbox
//! relay, an observer of what the service publishes) and a started service with helpers
//! to call its API.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use fudian_bus::{Bus, ExchangeSpec, QueueSpec, WireMessage};
use fudian_dispatch::{DispatchConfig, ExchangeNames, Running, local_minute};
use fudian_events::common::{AffectedCounts, Device, DeviceKind, GeoPoint};
use fudian_events::dispatch::DispatchEvent;
use fudian_events::envelope::{Envelope, now_shanghai};
use fudian_events::field::{CrewReport, CrewReportKind, FieldEvent};
use fudian_events::ids::ElementId;
use fudian_events::outage::{
    IncidentSnapshot, IncidentState, OutageCause, OutageEvent, PriorityHints,
};
use fudian_grid::{AreaClass, Cell, Crew, Grid, GridParts, LonLat, Shift};
use fudian_store::Store;
pub use fudian_testkit::Backend;
use fudian_testkit::{Provisioned, Recorded, Scratch};
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(60);

/// The sample grid package (cells.geojson, crews.csv).
pub fn sample_grid() -> Arc<Grid> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_repo = manifest.join("../../examples/grids/mv-oberrhein");
    let shared = manifest.join("../../../shared/grids/mv-oberrhein");
    let dir = if in_repo.exists() { in_repo } else { shared };
    Arc::new(fudian_grid::load_package(&dir).unwrap())
}

/// The test grid's origin and cell size in degrees (about 1.8 by 2.2 km).
pub const ORIGIN: LonLat = [118.50, 37.40];
pub const CELL: f64 = 0.02;
pub const COLUMNS: usize = 5;
pub const ROWS: usize = 4;

/// The south-west corner of cell `index` (row-major, 5 columns, 4 rows).
pub fn cell_corner(index: usize) -> LonLat {
    let (row, column) = (index / COLUMNS, index % COLUMNS);
    [
        ORIGIN[0] + CELL * column as f64,
        ORIGIN[1] + CELL * row as f64,
    ]
}

/// A point of cell `index`, `fx`/`fy` of the way across it.
pub fn in_cell(index: usize, fx: f64, fy: f64) -> LonLat {
    let corner = cell_corner(index);
    [corner[0] + CELL * fx, corner[1] + CELL * fy]
}

/// A shift from `start` to `end` minutes relative to now (Shanghai clock; negative is
/// in the past).
pub fn shift_from(start: i32, end: i32) -> Shift {
    let minute = i32::from(local_minute(now_shanghai()));
    let at = |offset: i32| u16::try_from((minute + offset).rem_euclid(1440)).unwrap();
    Shift {
        start_minute: at(start),
        end_minute: at(end),
    }
}

/// On shift from an hour ago for the next eight hours.
pub fn on_shift() -> Shift {
    shift_from(-60, 8 * 60)
}

/// A crew of the test grid.
pub struct TestCrew {
    pub id: &'static str,
    pub cell: usize,
    pub at: LonLat,
    pub skills: &'static [&'static str],
    pub shift: Shift,
}

pub const ALL_SKILLS: &[&str] = &["line", "cable", "live_line", "transformer"];

/// 20 urban cells (`CELL-00` .. `CELL-19`, row-major) and the given crews.
pub fn test_grid(crews: Vec<(String, usize, LonLat, Vec<String>, Shift)>) -> Arc<Grid> {
    let cells = (0..COLUMNS * ROWS)
        .map(|index| {
            let [x, y] = cell_corner(index);
            let polygon = geo::Polygon::new(
                geo::LineString::from(vec![
                    (x, y),
                    (x + CELL, y),
                    (x + CELL, y + CELL),
                    (x, y + CELL),
                    (x, y),
                ]),
                vec![],
            );
            Cell {
                id: format!("CELL-{index:02}").into(),
                name: Some(format!("网格{index:02}").into()),
                area_class: AreaClass::Urban,
                geometry: geo::MultiPolygon::new(vec![polygon]),
            }
        })
        .collect();
    let crews = crews
        .into_iter()
        .map(|(id, cell, at, skills, shift)| Crew {
            id: id.into(),
            home_cell: cell as u32,
            position: at,
            size: 3,
            skills: skills.into_iter().map(Into::into).collect(),
            shift,
        })
        .collect();
    Arc::new(
        Grid::from_parts(GridParts {
            cells,
            crews,
            ..GridParts::default()
        })
        .unwrap(),
    )
}

/// [`test_grid`] from [`TestCrew`]s.
pub fn grid_of(crews: &[TestCrew]) -> Arc<Grid> {
    test_grid(
        crews
            .iter()
            .map(|c| {
                (
                    c.id.to_owned(),
                    c.cell,
                    c.at,
                    c.skills.iter().map(|s| (*s).to_owned()).collect(),
                    c.shift,
                )
            })
            .collect(),
    )
}

/// A confirmed incident at `at`, started `started_minutes_ago`, revision 1.
pub fn snapshot(
    incident: &str,
    at: LonLat,
    kind: DeviceKind,
    customers: u32,
    started_minutes_ago: i64,
) -> IncidentSnapshot {
    let now = now_shanghai();
    IncidentSnapshot {
        incident: incident.into(),
        revision: 1,
        state: IncidentState::Confirmed,
        device: Device {
            id: ElementId::new(format!("D-{incident}")),
            kind,
        },
        feeder: None,
        fault_section: None,
        cause: Some(OutageCause::Fault),
        started_at: now - chrono::Duration::minutes(started_minutes_ago),
        counts: AffectedCounts {
            customers,
            ..AffectedCounts::default()
        },
        customers_out: Vec::new(),
        critical_customers_out: Vec::new(),
        etr: now + chrono::Duration::hours(4),
        location: GeoPoint {
            lon: at[0],
            lat: at[1],
        },
        priority: PriorityHints::default(),
    }
}

pub struct Harness {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
    pub config: DispatchConfig,
    prefix: String,
    observed: Recorded,
    observer: QueueSpec,
    stop: CancellationToken,
    background: Vec<tokio::task::JoinHandle<()>>,
    scratch: Scratch,
}

impl Harness {
    pub async fn new(backend: Backend, grid: Arc<Grid>) -> Self {
        let config = DispatchConfig {
            tick_interval_ms: 200,
            ..DispatchConfig::default()
        };
        Self::with_config(backend, grid, config).await
    }

    pub async fn with_config(
        backend: Backend,
        grid: Arc<Grid>,
        mut config: DispatchConfig,
    ) -> Self {
        let prefix = fudian_testkit::unique_prefix();
        config.exchanges = ExchangeNames::prefixed(&prefix);
        config.queue = format!("{prefix}dispatch.events");
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
            .bind(config.exchanges.dispatch.clone(), "#");
        let (observed, recorder) =
            fudian_testkit::spawn_recorder(&bus, &observer, stop.clone()).await;
        let background = vec![
            recorder,
            fudian_testkit::spawn_relay(&store, &bus, stop.clone()),
        ];
        Self {
            bus,
            store,
            grid,
            config,
            prefix,
            observed,
            observer,
            stop,
            background,
            scratch,
        }
    }

    pub async fn start(&self) -> Service {
        let shutdown = CancellationToken::new();
        let deps = fudian_dispatch::Deps {
            bus: self.bus.clone(),
            store: self.store.clone(),
            grid: Arc::clone(&self.grid),
        };
        let Running { router, tasks } =
            fudian_dispatch::start(self.config.clone(), deps, shutdown.clone())
                .await
                .unwrap();
        Service {
            router,
            tasks,
            shutdown,
        }
    }

    pub async fn publish_outage(&self, event: OutageEvent) {
        let mut wire = Envelope::new("test-outage", event).to_wire();
        wire.exchange.clone_from(&self.config.exchanges.outage);
        self.bus.publish(wire).await.unwrap();
    }

    pub async fn detect(&self, snapshot: IncidentSnapshot) {
        self.publish_outage(OutageEvent::Detected(snapshot)).await;
    }

    pub async fn crew_report(&self, crew: &str, incident: Option<&str>, kind: CrewReportKind) {
        let report = FieldEvent::CrewReport(CrewReport {
            crew: crew.into(),
            incident: incident.map(Into::into),
            kind,
            text: String::new(),
        });
        let mut wire = Envelope::new("test-crew-app", report).to_wire();
        wire.exchange.clone_from(&self.config.exchanges.field);
        self.bus.publish(wire).await.unwrap();
    }

    pub async fn publish_raw(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        self.bus
            .publish(WireMessage {
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
                message_id: uuid::Uuid::now_v7().to_string(),
                headers: BTreeMap::new(),
                body: body.to_vec(),
            })
            .await
            .unwrap();
    }

    /// Every dispatch event published so far, in the order seen.
    pub fn published(&self) -> Vec<DispatchEvent> {
        self.observed
            .lock()
            .unwrap()
            .iter()
            .map(|m| fudian_events::dispatch::decode(&m.body).unwrap().event)
            .collect()
    }

    /// Waits until `wanted` holds for the published events.
    pub async fn wait_published(&self, wanted: impl Fn(&[DispatchEvent]) -> bool) {
        let started = Instant::now();
        loop {
            let events = self.published();
            if wanted(&events) {
                return;
            }
            assert!(started.elapsed() < WAIT, "not published; seen {events:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_processed(&self, n: usize) {
        fudian_testkit::wait_processed(&self.store, &self.config.consumer, n, WAIT).await;
    }

    /// Waits until the outbox is empty and the observer had time to see the last rows.
    pub async fn drain(&self) {
        let started = Instant::now();
        while self.store.outbox_pending().await.unwrap() > 0 {
            assert!(started.elapsed() < WAIT, "outbox not drained");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
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
        let queue = fudian_dispatch::handlers::events::queue_spec(&self.config);
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

/// A started dispatch service.
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
        self.post_raw(path, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: String) -> (StatusCode, serde_json::Value) {
        let (status, body) = fudian_testkit::post(&self.router, path, body).await;
        (status, fudian_testkit::json(&body))
    }

    /// Every work order, newest first.
    pub async fn orders(&self, query: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.get(&format!("/v1/workorders?limit=5000{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    /// Waits for the work order of `incident` to satisfy `wanted`, and returns it.
    pub async fn wait_order(
        &self,
        incident: &str,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let orders = self.orders(&format!("&incident={incident}")).await;
            if let Some(order) = orders.first()
                && wanted(order)
            {
                return order.clone();
            }
            assert!(
                started.elapsed() < WAIT,
                "work order of {incident} not as wanted: {orders:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Cancels the service and waits for its tasks.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

/// Parses an RFC 3339 time from a JSON value.
pub fn time(value: &serde_json::Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap()
}
