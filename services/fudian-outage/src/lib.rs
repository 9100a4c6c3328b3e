//! The outage service of fudian (故障智能研判): it owns switch states, energization,
//! incidents and customer interruption records, fed by the field events of `fudian.field`
//! (and planned outages of `fudian.planned`) and publishing on `fudian.outage`.
//!
//! It is not the dispatcher (work orders, crews) nor the notifier: it decides what is out,
//! why and since when, and tells them.
//!
//! Parts: `engine` (the pure, deterministic decision core), `runtime` (the engine made
//! durable: inbox, journal, snapshots, replay, timers), `handlers` (the consumer of
//! `outage.events`), `store` (all SQL), `http` (the API), `config`, `error`.
//!
//! [`start`] wires it on given dependencies and returns its router and tasks (what
//! `fudian up` merges with the other services); [`run`] also serves it on a listener.

pub mod config;
pub mod engine;
pub mod error;
pub mod handlers;
mod http;
pub mod runtime;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use fudian_bus::{Bus, ExchangeSpec};
use fudian_grid::Grid;
use fudian_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{ExchangeNames, OutageConfig};
pub use http::router;
pub use runtime::Runtime;

/// What the outage service runs on.
#[derive(Debug, Clone)]
pub struct Deps {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
}

/// A started outage service: its API and its background tasks.
#[derive(Debug)]
pub struct Running {
    /// The `/v1/...` routes (no health routes: `run` and `fudian up` add those).
    pub router: axum::Router,
    /// The consumer, timer and snapshot tasks; closed, so `tasks.wait()` returns once they
    /// finished after `shutdown` (in-flight batch applied, final snapshot written).
    pub tasks: TaskTracker,
}

/// Migrates the store, declares the exchanges and the queue, rebuilds the engine (latest
/// snapshot plus journal) and starts consuming, ticking and snapshotting until `shutdown`.
pub async fn start(
    config: OutageConfig,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    config.validate()?;
    deps.store
        .migrate()
        .await
        .context("failed to migrate the store")?;
    let exchanges = [
        ExchangeSpec::topic(config.exchanges.field.clone()),
        ExchangeSpec::topic(config.exchanges.planned.clone()),
        ExchangeSpec::topic(config.exchanges.outage.clone()),
    ];
    let queue = handlers::field::queue_spec(&config);
    deps.bus
        .declare(&exchanges, std::slice::from_ref(&queue))
        .await
        .context("failed to declare the outage topology")?;
    let runtime = Arc::new(
        Runtime::open(Arc::clone(&deps.grid), deps.store.clone(), config.clone())
            .await
            .context("failed to restore the outage engine")?,
    );

    let tasks = TaskTracker::new();
    let consumer = {
        let runtime = Arc::clone(&runtime);
        let bus = deps.bus.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move { consume(bus, queue, runtime, shutdown).await })
    };
    tasks.spawn(timers(Arc::clone(&runtime), consumer, shutdown));
    tasks.close();
    tracing::info!(queue = %config.queue, "outage service started");
    Ok(Running {
        router: http::router(runtime),
        tasks,
    })
}

/// [`start`], then serves the API with `/healthz`, `/readyz` and `/metrics` on `listener`
/// until `shutdown`, and waits for the tasks.
pub async fn run(
    config: OutageConfig,
    deps: Deps,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = deps.store.clone();
    let running = start(config, deps, shutdown.clone()).await?;
    let readiness = fudian_bootstrap::health::Readiness::default().with_check("store", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|error| error.to_string()) }
    });
    fudian_bootstrap::health::serve(running.router, readiness, listener, shutdown)
        .await
        .context("failed to serve the outage api")?;
    running.tasks.wait().await;
    Ok(())
}

/// Consumes `outage.events` until shutdown (a broken consumer is restarted by the bus).
async fn consume(
    bus: Bus,
    queue: fudian_bus::QueueSpec,
    runtime: Arc<Runtime>,
    shutdown: CancellationToken,
) {
    let config = runtime.config().clone();
    let handler = handlers::field::FieldEvents { runtime };
    bus.consume_batch_until_shutdown(
        &queue,
        config.batch_size,
        config.batch_wait(),
        handler,
        shutdown,
    )
    .await;
}

/// Ticks the engine and snapshots it; at shutdown, waits for the consumer to finish its
/// in-flight batch, then writes a last snapshot.
async fn timers(
    runtime: Arc<Runtime>,
    consumer: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
) {
    let config = runtime.config().clone();
    let mut tick = tokio::time::interval(config.tick_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut snapshot = tokio::time::interval(config.snapshot_interval());
    snapshot.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick of an interval fires at once; a snapshot right after a restore
    // would only repeat the one just read.
    snapshot.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(error) = runtime.tick().await {
                    tracing::warn!(error = %error, "outage timers failed, retrying on the next tick");
                }
            }
            _ = snapshot.tick() => {
                if let Err(error) = runtime.snapshot().await {
                    tracing::warn!(error = %error, "outage snapshot failed");
                }
            }
        }
    }
    if let Err(error) = consumer.await {
        tracing::error!(error = %error, "outage consumer task failed");
    }
    if let Err(error) = runtime.snapshot().await {
        tracing::warn!(error = %error, "final outage snapshot failed; the journal covers it");
    }
    tracing::info!("outage service stopped");
}
