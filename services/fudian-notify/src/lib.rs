//! fudian-notify: the customer-notification service of fudian (主动推送). It tells every
//! affected customer first, over WeChat, SMS and the app, exactly once, in Chinese:
//! outage detected, ETR changed, crew arrived, repair progress, restored, and planned
//! outage advance notice, reminder, start and end.
//!
//! It is not the outage detector nor the dispatcher: it consumes their events
//! (`fudian.outage`, `fudian.dispatch`, `fudian.planned`) and owns subscriptions
//! (preferences), notices and deliveries.
//!
//! The pure core:
//! - [`providers`]: request builders, signatures, response and receipt parsing for
//!   Tencent Cloud SMS, Alibaba Cloud SMS, WeChat template messages and app webhooks.
//! - [`classify`]: the outcome and error classes every provider maps its codes onto.
//! - [`templates`]: notice templates in Chinese, loaded from a folder operations can edit
//!   without a rebuild, rendered per channel.
//! - [`plan`]: who gets which notice on which channel when, and what to do after a
//!   provider's answer (quiet hours, merging, ETR rules, limits, retries, fallback).
//! - [`error`]: the core's error type.
//!
//! The service around it: [`send`] (provider HTTP clients), `handlers` (the consumer that
//! plans notices into delivery rows in one transaction with the inbox mark), [`worker`]
//! (the sender pool: claim, send, record), [`store`] (all SQL), `http` (the API),
//! [`config`], [`runtime`] (shared state), [`service_error`].
//!
//! [`start`] wires it on given dependencies and returns its router and tasks (what
//! `fudian up` merges with the other services); [`run`] also serves it on a listener.

pub mod classify;
pub mod config;
pub mod error;
pub mod handlers;
mod http;
pub mod plan;
pub mod providers;
pub mod runtime;
pub mod send;
pub mod service_error;
pub mod store;
#[cfg(feature = "stub")]
pub mod stub;
pub mod templates;
pub mod worker;

pub use classify::{DeliveryOutcome, ErrorClass, ProviderFailure, ReceiptStatus};
pub use config::{ExchangeNames, NotifyConfig};
pub use error::Error;
pub use http::router;

use std::sync::Arc;

use anyhow::Context;
use fudian_bus::{Bus, ExchangeSpec};
use fudian_grid::Grid;
use fudian_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runtime::Runtime;

/// What the notify service runs on.
#[derive(Debug, Clone)]
pub struct Deps {
    pub bus: Bus,
    pub store: Store,
    /// The customers' contact data (phone, WeChat openid, channel order, critical) and
    /// the repair cells that name areas.
    pub grid: Arc<Grid>,
}

/// A started notify service: its API and its background tasks.
#[derive(Debug)]
pub struct Running {
    /// The routes (no health routes: `run` and `fudian up` add those).
    pub router: axum::Router,
    /// The consumer, the sender workers and the lease recovery; closed, so
    /// `tasks.wait()` returns once they finished after `shutdown`.
    pub tasks: TaskTracker,
    /// The shared state (store, templates, configuration), for tests and `fudian up`.
    pub runtime: Arc<Runtime>,
}

/// Checks the configuration, loads the templates, builds the provider senders, migrates
/// the store, declares the exchanges and the queue, and starts consuming and sending until
/// `shutdown`.
pub async fn start(
    config: NotifyConfig,
    deps: Deps,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    config.validate()?;
    let templates = runtime::load_templates(config.templates_dir.as_deref())?;
    let senders = send::build_senders(&config.providers)
        .context("failed to configure the notice providers")?;
    deps.store
        .migrate()
        .await
        .context("failed to migrate the store")?;
    let exchanges = [
        ExchangeSpec::topic(config.exchanges.outage.clone()),
        ExchangeSpec::topic(config.exchanges.dispatch.clone()),
        ExchangeSpec::topic(config.exchanges.planned.clone()),
    ];
    let queue = handlers::events::queue_spec(&config);
    deps.bus
        .declare(&exchanges, std::slice::from_ref(&queue))
        .await
        .context("failed to declare the notify topology")?;
    if senders.is_empty() {
        tracing::info!("no notice provider configured: notices go to the local sink");
    }
    let runtime = Arc::new(Runtime::new(
        config.clone(),
        deps.store.clone(),
        Arc::clone(&deps.grid),
        templates,
    ));
    let tasks = TaskTracker::new();
    // The senders first: if they cannot start, nothing is consuming yet.
    worker::spawn(Arc::clone(&runtime), senders, &tasks, shutdown.clone())
        .await
        .context("failed to start the notice senders")?;
    {
        let runtime = Arc::clone(&runtime);
        let bus = deps.bus.clone();
        tasks.spawn(async move { consume(bus, queue, runtime, shutdown).await });
    }
    tasks.close();
    tracing::info!(queue = %config.queue, "notify service started");
    Ok(Running {
        router: http::router(Arc::clone(&runtime)),
        tasks,
        runtime,
    })
}

/// [`start`], then serves the API with `/healthz`, `/readyz` and `/metrics` on `listener`
/// (recording client addresses for the lookup's rate limit) until `shutdown`, and waits
/// for the tasks.
pub async fn run(
    config: NotifyConfig,
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
        .context("failed to serve the notify api")?;
    running.tasks.wait().await;
    Ok(())
}

/// Consumes `notify.events` until shutdown (a broken consumer is restarted by the bus).
async fn consume(
    bus: Bus,
    queue: fudian_bus::QueueSpec,
    runtime: Arc<Runtime>,
    shutdown: CancellationToken,
) {
    let config = runtime.config.clone();
    let handler = handlers::events::Events { runtime };
    bus.consume_batch_until_shutdown(
        &queue,
        config.batch_size,
        config.batch_wait(),
        handler,
        shutdown,
    )
    .await;
    tracing::info!("notify consumer stopped");
}
