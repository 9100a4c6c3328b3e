//! The dispatch service (网格化主动抢修): opens repair work orders for incidents, assigns
//! crews (grid cell first, then the nearest skilled crew; an optimiser over every pending
//! order in a storm), tracks the on-site time limit and estimates restoration times.
//!
//! It is not the outage service (what is out and why) nor the notifier: it decides who
//! goes where and when power is likely back, and tells them on `fudian.dispatch`.
//!
//! Parts: `core` (the pure decision core: assignment, ETR, orders, crews), `model` (the
//! core plus what the service tracks per order; pure), `runtime` (the model made durable:
//! one store transaction per batch, request or tick), `handlers` (the consumer of
//! `dispatch.events`), `store` (all SQL), `http` (the API), `error`.
//!
//! [`start`] wires it on given dependencies and returns its router and tasks (what
//! `fudian up` merges with the other services); [`run`] also serves it on a listener.

pub mod core;
pub mod error;
pub mod handlers;
mod http;
pub mod model;
pub mod runtime;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use fudian_bus::{Bus, ExchangeSpec};
use fudian_grid::Grid;
use fudian_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::core::assign::{
    Assignment, AssignmentRule, DispatchState, greedy_first_come, optimal_assignment, replan,
    total_weighted_arrival,
};
pub use crate::core::config::{
    ArrivalLimits, DispatchConfig, ExchangeNames, PerAreaClass, RepairRule, Speeds, area_class_of,
};
pub use crate::core::crew::{CrewActivity, CrewState, LiveCrew, Skill, local_minute};
pub use crate::core::error::DispatchError;
pub use crate::core::etr::{
    CurrentEtr, EtrDecision, PUBLISH_THRESHOLD, QueuedEstimate, RepairHistory, decide_model_etr,
    model_etr, queue_estimates, queue_estimates_after, should_publish, should_publish_beyond,
};
pub use crate::core::events::{assigned_event, created_event, etr_event, status_event};
pub use crate::core::order::{LimitState, OrderStage, WorkOrder, priority_of, required_skill};
pub use http::router;
pub use runtime::Runtime;

/// What the dispatch service runs on.
#[derive(Debug, Clone)]
pub struct Deps {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
}

/// A started dispatch service: its API and its background tasks.
#[derive(Debug)]
pub struct Running {
    /// The `/v1/...` routes (no health routes: `run` and `fudian up` add those).
    pub router: axum::Router,
    /// The consumer and timer tasks; closed, so `tasks.wait()` returns once they finished
    /// after `shutdown` (in-flight batch applied).
    pub tasks: TaskTracker,
}

/// Migrates the store, declares the exchanges and the queue, restores the work orders and
/// crews from the store and starts consuming and ticking until `shutdown`.
pub async fn start(
    config: DispatchConfig,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    config
        .validate()
        .context("invalid dispatch configuration")?;
    deps.store
        .migrate()
        .await
        .context("failed to migrate the store")?;
    let exchanges = [
        ExchangeSpec::topic(config.exchanges.outage.clone()),
        ExchangeSpec::topic(config.exchanges.field.clone()),
        ExchangeSpec::topic(config.exchanges.dispatch.clone()),
    ];
    let queue = handlers::events::queue_spec(&config);
    deps.bus
        .declare(&exchanges, std::slice::from_ref(&queue))
        .await
        .context("failed to declare the dispatch topology")?;
    let runtime = Arc::new(
        Runtime::open(Arc::clone(&deps.grid), deps.store.clone(), config.clone())
            .await
            .context("failed to restore the dispatch state")?,
    );

    let tasks = TaskTracker::new();
    let consumer = {
        let runtime = Arc::clone(&runtime);
        let bus = deps.bus.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move { consume(bus, queue, runtime, shutdown).await })
    };
    tasks.spawn(timer(Arc::clone(&runtime), consumer, shutdown));
    tasks.close();
    tracing::info!(queue = %config.queue, "dispatch service started");
    Ok(Running {
        router: http::router(runtime),
        tasks,
    })
}

/// [`start`], then serves the API with `/healthz`, `/readyz` and `/metrics` on `listener`
/// until `shutdown`, and waits for the tasks.
pub async fn run(
    config: DispatchConfig,
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
        .context("failed to serve the dispatch api")?;
    running.tasks.wait().await;
    Ok(())
}

/// Consumes `dispatch.events` until shutdown (a broken consumer is restarted by the bus).
async fn consume(
    bus: Bus,
    queue: fudian_bus::QueueSpec,
    runtime: Arc<Runtime>,
    shutdown: CancellationToken,
) {
    let config = runtime.config().clone();
    let handler = handlers::events::DispatchEvents { runtime };
    bus.consume_batch_until_shutdown(
        &queue,
        config.batch_size,
        config.batch_wait(),
        handler,
        shutdown,
    )
    .await;
}

/// Ticks the model (arrival-limit flags, re-plan, queue ETRs); at shutdown, waits for the
/// consumer to finish its in-flight batch.
async fn timer(
    runtime: Arc<Runtime>,
    consumer: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(runtime.config().tick_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(error) = runtime.tick().await {
                    tracing::warn!(error = %error, "dispatch timer failed, retrying on the next tick");
                }
            }
        }
    }
    if let Err(error) = consumer.await {
        tracing::error!(error = %error, "dispatch consumer task failed");
    }
    tracing::info!("dispatch service stopped");
}
