//! The platform one process stands on: configuration, telemetry, the grid, the bus and
//! the store, connected from `AppConfig`, and the outbox relay that joins the last two.
//!
//! Embedded (no `FUDIAN_AMQP_URL` / `FUDIAN_DATABASE_URL`): the in-process bus and SQLite
//! under `data_dir`. Production: RabbitMQ and PostgreSQL. Either way the same code runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fudian_bus::{Bus, BusError, ExchangeSpec, RabbitConfig, WireMessage};
use fudian_grid::model::Grid;
use fudian_store::{OutboxRelay, OutboxSink, RelayConfig, SinkError, Store, StoreConfig};

use crate::config::AppConfig;

/// The sample grid compiled into the binary, so `fudian up` needs nothing on disk.
const SAMPLE_GRID: [(&str, &str); 4] = [
    (
        "network.geojson",
        include_str!("../../../examples/grids/mv-oberrhein/network.geojson"),
    ),
    (
        "customers.csv",
        include_str!("../../../examples/grids/mv-oberrhein/customers.csv"),
    ),
    (
        "cells.geojson",
        include_str!("../../../examples/grids/mv-oberrhein/cells.geojson"),
    ),
    (
        "crews.csv",
        include_str!("../../../examples/grids/mv-oberrhein/crews.csv"),
    ),
];

/// Connected platform parts, cheap to clone.
#[derive(Clone)]
pub struct Platform {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
}

/// Publishes outbox rows through the bus, with publisher confirms.
///
/// An event no queue is bound to yet (say `outage.detected` before any dispatch or notify
/// service was ever deployed, or a meter ping with no head-end adapter) comes back
/// unroutable because every publish is `mandatory`. Holding it in the outbox would stall
/// every later row behind it forever, so it is counted and logged instead: once a consumer
/// has declared its durable queue, its events wait there even while it is down.
pub struct BusSink(pub Bus);

impl OutboxSink for BusSink {
    async fn publish_batch(&self, messages: Vec<WireMessage>) -> Result<(), SinkError> {
        match self.0.publish_batch(messages.clone()).await {
            Err(BusError::Unroutable { .. }) => {}
            other => return other.map_err(SinkError::new),
        }
        // Some message had no queue: publish one by one (at-least-once allows the
        // repeats) and let only the unroutable ones go.
        for message in messages {
            match self.0.publish(message).await {
                Ok(()) => {}
                Err(BusError::Unroutable {
                    exchange,
                    routing_key,
                    ..
                }) => {
                    metrics::counter!(
                        "fudian_outbox_unrouted_total",
                        "exchange" => exchange.clone(),
                        "routing_key" => routing_key.clone()
                    )
                    .increment(1);
                    tracing::debug!(
                        bus.exchange = %exchange,
                        bus.routing_key = %routing_key,
                        "no queue is bound for this event yet; dropped from the outbox"
                    );
                }
                Err(error) => return Err(SinkError::new(error)),
            }
        }
        Ok(())
    }
}

/// Where the grid comes from: `--grid`, else `grid` from configuration, else the
/// embedded sample written under `data_dir`.
pub fn grid_dir(config: &AppConfig, cli_grid: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = cli_grid {
        return Ok(dir.to_path_buf());
    }
    if !config.grid.trim().is_empty() {
        return Ok(PathBuf::from(config.grid.trim()));
    }
    let dir = config.data_dir.join("sample-grid");
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for (name, text) in SAMPLE_GRID {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(dir)
}

pub fn load_grid(dir: &Path) -> anyhow::Result<Arc<Grid>> {
    let started = std::time::Instant::now();
    let grid = fudian_grid::load::load_package(dir)
        .with_context(|| format!("grid package {} was refused", dir.display()))?;
    tracing::info!(
        grid.dir = %dir.display(),
        grid.buses = grid.buses.len(),
        grid.branches = grid.branches.len(),
        grid.customers = grid.customers.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "grid loaded"
    );
    Ok(Arc::new(grid))
}

/// Connects the bus and the store, runs the migrations and declares the exchanges.
pub async fn connect(config: &AppConfig, grid: Arc<Grid>) -> anyhow::Result<Platform> {
    let bus = match config.amqp() {
        Some(url) => {
            tracing::info!("bus: RabbitMQ");
            Bus::connect_rabbit(url, RabbitConfig::default())
                .await
                .context("failed to connect to RabbitMQ (FUDIAN_AMQP_URL)")?
        }
        None => {
            tracing::info!("bus: in-process (embedded mode; set FUDIAN_AMQP_URL for RabbitMQ)");
            Bus::in_process()
        }
    };
    let store_url = match config.database() {
        Some(url) => {
            tracing::info!("store: PostgreSQL");
            url.to_owned()
        }
        None => {
            let dir = config.data_dir.join("store");
            tracing::info!(
                store.dir = %dir.display(),
                "store: embedded SQLite (set FUDIAN_DATABASE_URL for PostgreSQL)"
            );
            format!("sqlite://{}", dir.display())
        }
    };
    let mut store_config = StoreConfig::new(store_url);
    store_config.max_connections = config.store.max_connections;
    let store = Store::connect(store_config)
        .await
        .context("failed to open the store (FUDIAN_DATABASE_URL)")?;
    store.migrate().await.context("failed to run migrations")?;
    bus.declare(&ExchangeSpec::fudian(""), &[])
        .await
        .context("failed to declare the exchanges")?;
    Ok(Platform { bus, store, grid })
}

/// The relay that moves committed outbox rows to the bus.
pub fn outbox_relay(config: &AppConfig, platform: &Platform) -> OutboxRelay<BusSink> {
    platform.store.outbox_relay(
        BusSink(platform.bus.clone()),
        RelayConfig {
            workers: config.outbox.workers,
            batch_size: u32::try_from(config.outbox.batch).unwrap_or(u32::MAX),
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            drain_on_shutdown: true,
        },
    )
}
