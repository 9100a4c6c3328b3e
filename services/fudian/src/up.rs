//! `fudian up` (every service in one process) and `fudian serve NAME` (one service):
//! connect the platform, start the services, serve every API on one port, and on
//! SIGINT/SIGTERM stop consuming, finish in-flight work, flush the outbox and close.

use std::path::PathBuf;

use anyhow::Context;
use axum::Router;
use clap::{Args, ValueEnum};
use fudian_bootstrap::health::{self, Readiness};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::AppConfig;
use crate::platform::{self, Platform};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Grid package directory (default: `grid` from configuration, else the embedded
    /// sample grid).
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// A TOML configuration file layered over the embedded defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also run the field simulator in-process, so incidents come and go by themselves.
    #[arg(long)]
    pub demo: bool,
}

/// The services `fudian serve` can run on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceName {
    /// 故障研判: switch states, incidents, affected customers.
    Outage,
    /// 网格化抢修: work orders, crews, arrival limits, restoration times.
    Dispatch,
    /// 预算式停电: planned jobs, their assessment, budgets, reliability reports.
    Planner,
    /// 主动推送: outage, progress, restoration and planned notices to customers.
    Notify,
}

impl ServiceName {
    /// Every service, in start order (`fudian up`).
    pub const ALL: [Self; 4] = [Self::Outage, Self::Dispatch, Self::Planner, Self::Notify];
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service to run.
    pub service: ServiceName,
    #[command(flatten)]
    pub up: UpArgs,
}

/// Runs `services` in this process until a shutdown signal.
pub async fn run(args: UpArgs, services: &[ServiceName]) -> anyhow::Result<()> {
    let config = AppConfig::load(args.config.as_deref())?;
    let telemetry = fudian_bootstrap::telemetry::init("fudian", &config.telemetry)?;
    let result = run_with(&config, &args, services).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "fudian stopped with an error");
    }
    telemetry.shutdown();
    result
}

async fn run_with(
    config: &AppConfig,
    args: &UpArgs,
    services: &[ServiceName],
) -> anyhow::Result<()> {
    let metrics = health::install_metrics()?;
    let shutdown = fudian_bootstrap::shutdown::token_on_signal();
    let grid_dir = platform::grid_dir(config, args.grid.as_deref())?;
    let grid = platform::load_grid(&grid_dir)?;
    let platform = platform::connect(config, grid).await?;

    let relay_shutdown = CancellationToken::new();
    let relay = platform::outbox_relay(config, &platform);
    let relay_task = {
        let relay_shutdown = relay_shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) = relay.run(relay_shutdown).await {
                tracing::error!(%error, "outbox relay stopped");
            }
        })
    };
    let tasks = TaskTracker::new();

    let service_shutdown = shutdown.child_token();
    let mut router = Router::new();
    for service in services {
        router = router
            .merge(start_service(*service, config, &platform, &service_shutdown, &tasks).await?);
    }
    if args.demo {
        tasks.spawn(crate::demo::feed(
            platform.bus.clone(),
            platform.grid.clone(),
            service_shutdown.clone(),
        ));
    }

    let readiness = readiness(&platform);
    let app = router
        .merge(health::router(readiness, Some(metrics)))
        .merge(grid_summary_router(&platform));
    let addr = config.http_socket_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr} (FUDIAN_HTTP_ADDR)"))?;
    tracing::info!(http.addr = %addr, services = ?services, "fudian is up");
    let server_shutdown = shutdown.clone();
    // The customer lookup limits callers per IP address: the router needs their address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
    .await
    .context("http server failed")?;

    // Consumers stop and finish in-flight deliveries first, then the relay drains the
    // outbox they filled, then the connections close.
    service_shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    relay_shutdown.cancel();
    if let Err(error) = relay_task.await {
        tracing::error!(%error, "outbox relay task failed");
    }
    platform.bus.close().await;
    platform.store.close().await;
    tracing::info!("fudian stopped cleanly");
    Ok(())
}

async fn start_service(
    service: ServiceName,
    config: &AppConfig,
    platform: &Platform,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<Router> {
    let (router, service_tasks) = match service {
        ServiceName::Outage => {
            let deps = fudian_outage::Deps {
                bus: platform.bus.clone(),
                store: platform.store.clone(),
                grid: platform.grid.clone(),
            };
            let running = fudian_outage::start(config.outage.clone(), deps, shutdown.clone())
                .await
                .context("failed to start the outage service")?;
            (running.router, running.tasks)
        }
        ServiceName::Dispatch => {
            let deps = fudian_dispatch::Deps {
                bus: platform.bus.clone(),
                store: platform.store.clone(),
                grid: platform.grid.clone(),
            };
            let running = fudian_dispatch::start(config.dispatch.clone(), deps, shutdown.clone())
                .await
                .context("failed to start the dispatch service")?;
            (running.router, running.tasks)
        }
        ServiceName::Planner => {
            let deps = fudian_planner::Deps {
                bus: platform.bus.clone(),
                store: platform.store.clone(),
                grid: platform.grid.clone(),
            };
            let running = fudian_planner::start(config.planner.clone(), deps, shutdown.clone())
                .await
                .context("failed to start the planner service")?;
            (running.router, running.tasks)
        }
        ServiceName::Notify => {
            let deps = fudian_notify::Deps {
                bus: platform.bus.clone(),
                store: platform.store.clone(),
                grid: platform.grid.clone(),
            };
            let running = fudian_notify::start(config.notify.clone(), deps, shutdown.clone())
                .await
                .context("failed to start the notify service")?;
            (running.router, running.tasks)
        }
    };
    tasks.spawn(async move { service_tasks.wait().await });
    Ok(router)
}

fn readiness(platform: &Platform) -> Readiness {
    let store = platform.store.clone();
    Readiness::default().with_check("store", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })
}

/// `GET /v1/grid`: what the suite is running on.
fn grid_summary_router(platform: &Platform) -> Router {
    let grid = platform.grid.clone();
    let summary = serde_json::json!({
        "buses": grid.buses.len(),
        "sources": grid.sources.len(),
        "branches": grid.branches.len(),
        "customers": grid.customers.len(),
        "public_transformers": grid.public_transformer_count(),
        "cells": grid.cells.len(),
        "crews": grid.crews.len(),
    });
    Router::new().route(
        "/v1/grid",
        axum::routing::get(move || {
            let summary = summary.clone();
            async move { axum::Json(summary) }
        }),
    )
}
