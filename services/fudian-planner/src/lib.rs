//! The planner service of fudian (预算式停电管理: 先算后停、能转必转、能带不停、一停多用):
//! planned-outage jobs from request to completion, each assessed before anyone opens a
//! switch and charged to a live customer-hour budget; bundling and scheduling proposals;
//! reliability indices and reports against the targets. It publishes `fudian.planned`
//! (notify tells customers, the outage service records planned interruptions) and
//! consumes `fudian.outage` (actual unplanned interruptions consume the budgets).
//!
//! It is not the outage service (it plans on the grid's normal state) nor the notifier.
//!
//! Parts: `core` (the pure logic: job state machine, assessment, budget, bundles,
//! schedule), `service` (the core made durable: one store transaction per change with its
//! event in the outbox), `handlers` (the `fudian.outage` consumer), `store` (all SQL),
//! `http` (the API and its OpenAPI document), `config`, `error`.
//!
//! [`start`] wires it on given dependencies and returns its router and tasks (what
//! `fudian up` merges with the other services); [`run`] also serves it on a listener.

pub mod config;
pub mod core;
mod error;
pub mod handlers;
mod http;
pub mod service;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use fudian_bus::{Bus, ExchangeSpec};
use fudian_grid::Grid;
use fudian_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::config::{ExchangeNames, PlannerConfig};
pub use crate::core::assess::{
    AssessContext, Assessment, Assessor, TransferCapacity, TransferChoice, WorkMode,
};
pub use crate::core::budget::{AreaBudget, BudgetCheck, BudgetLedger};
pub use crate::core::bundle::{Bundle, propose_bundles};
pub use crate::core::job::{Job, JobRequest, JobState, Transition, WorkKind};
pub use crate::core::schedule::{
    Schedule, ScheduleComparison, ScheduleJob, ScheduleOptions, compare_schedules,
    schedule_first_come, schedule_optimised,
};
pub use crate::service::Planner;
pub use error::{ApiError, PlannerError, Result, ServiceError};
pub use http::router;

/// What the planner runs on.
#[derive(Debug, Clone)]
pub struct Deps {
    pub bus: Bus,
    pub store: Store,
    pub grid: Arc<Grid>,
}

/// A started planner: its API and its background tasks.
#[derive(Debug)]
pub struct Running {
    /// The `/v1/planned/...` routes (no health routes: `run` and `fudian up` add those).
    pub router: axum::Router,
    /// The `fudian.outage` consumer; closed, so `tasks.wait()` returns once it finished
    /// its in-flight deliveries after `shutdown`.
    pub tasks: TaskTracker,
}

/// Migrates the store, declares the exchanges and the queue, indexes the grid and starts
/// consuming `fudian.outage` until `shutdown`.
pub async fn start(
    config: PlannerConfig,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    config.validate()?;
    deps.store
        .migrate()
        .await
        .context("failed to migrate the store")?;
    let exchanges = [
        ExchangeSpec::topic(config.exchanges.planned.clone()),
        ExchangeSpec::topic(config.exchanges.outage.clone()),
    ];
    let queue = handlers::outage::queue_spec(&config);
    deps.bus
        .declare(&exchanges, std::slice::from_ref(&queue))
        .await
        .context("failed to declare the planner topology")?;
    let grid = Arc::clone(&deps.grid);
    let store = deps.store.clone();
    let planner_config = config.clone();
    // Indexing a city grid takes a moment: off the async workers.
    let planner = Arc::new(
        tokio::task::spawn_blocking(move || Planner::new(grid, store, planner_config))
            .await
            .context("failed to index the grid for the planner")?,
    );
    let tasks = TaskTracker::new();
    {
        let planner = Arc::clone(&planner);
        let bus = deps.bus.clone();
        tasks.spawn(async move { consume(bus, queue, planner, shutdown).await });
    }
    tasks.close();
    tracing::info!(queue = %config.queue, "planner service started");
    Ok(Running {
        router: http::router(planner),
        tasks,
    })
}

/// [`start`], then serves the API with `/healthz`, `/readyz` and `/metrics` on `listener`
/// until `shutdown`, and waits for the tasks.
pub async fn run(
    config: PlannerConfig,
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
        .context("failed to serve the planner api")?;
    running.tasks.wait().await;
    Ok(())
}

/// Consumes `fudian.outage` events until shutdown (a broken consumer is restarted by the
/// bus).
async fn consume(
    bus: Bus,
    queue: fudian_bus::QueueSpec,
    planner: Arc<Planner>,
    shutdown: CancellationToken,
) {
    let handler = move |delivery| handlers::outage::handle(Arc::clone(&planner), delivery);
    bus.consume_until_shutdown(&queue, handler, shutdown).await;
    tracing::info!("planner service stopped");
}
