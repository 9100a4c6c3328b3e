//! Throughput of fudian-bus against the raw ceiling, measured in the same run: 200,000
//! persistent 300-byte JSON messages through a quorum queue, published and consumed together.
//!
//! (a) raw lapin exactly as limits.md: publisher confirms with up to 1,000 in flight; manual
//!     acks, prefetch 1,000, `ack(multiple)` every 100;
//! (a2) the same raw client with the bus's broker topology (topic exchange, mandatory, the
//!     quorum queue arguments of topology.rs), to separate broker cost from client cost;
//! (b) fudian-bus: `publish_batch` (4 batches of 250 in flight) and `consume_batch` (batches
//!     of 100, one `ack(multiple)` each, prefetch 1,000).
//!
//! Run with `cargo bench -p fudian-bus`; `FUDIAN_BENCH_MESSAGES` and `FUDIAN_BENCH_RUNS`
//! shrink or grow it, `FUDIAN_TEST_AMQP_URL` points it at another broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use fudian_bus::ceiling::{RawTopology, body, raw_publish_consume};
use fudian_bus::{
    Bus, CancellationToken, Delivery, ExchangeSpec, QueueSpec, RabbitConfig, WireMessage,
};
use futures::StreamExt;

const IN_FLIGHT: usize = 1_000;
const PREFETCH: u16 = 1_000;
const ACK_EVERY: usize = 100;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn run_id() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("bench-{}", &id[20..])
}

async fn bus(url: &str, total: usize) -> anyhow::Result<f64> {
    let prefix = run_id();
    let bus = Bus::connect_rabbit(url, RabbitConfig::default()).await?;
    let exchange = format!("{prefix}.fudian.field");
    let spec = QueueSpec::new(format!("{prefix}.bus"))
        // Consumers bind the event types they handle; an exact key is the common case.
        .bind(&exchange, "scada.switch.opened")
        .prefetch(PREFETCH);
    bus.declare(
        &[ExchangeSpec::topic(&exchange)],
        std::slice::from_ref(&spec),
    )
    .await?;

    let received = Arc::new(AtomicUsize::new(0));
    let all_received = Arc::new(tokio::sync::Notify::new());
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let consuming = {
        let (bus, spec, received, all_received, shutdown) = (
            bus.clone(),
            spec.clone(),
            received.clone(),
            all_received.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            bus.consume_batch(
                &spec,
                ACK_EVERY,
                Duration::from_millis(5),
                move |batch: Vec<Delivery>| {
                    let (received, all_received) = (received.clone(), all_received.clone());
                    async move {
                        let outcomes = vec![Ok(()); batch.len()];
                        if received.fetch_add(batch.len(), Ordering::SeqCst) + batch.len() >= total
                        {
                            all_received.notify_one();
                        }
                        outcomes
                    }
                },
                shutdown,
            )
            .await
        })
    };
    let concurrency = env_number("FUDIAN_BENCH_PUBLISH_CONCURRENCY", 4).max(1);
    let chunk = env_number("FUDIAN_BENCH_PUBLISH_BATCH", IN_FLIGHT / concurrency).max(1);
    let batches = (0..total).step_by(chunk).map(|first| {
        (first..(first + chunk).min(total))
            .map(|i| WireMessage {
                exchange: exchange.clone(),
                routing_key: "scada.switch.opened".into(),
                message_id: format!("m-{i}"),
                headers: Default::default(),
                body: body(i),
            })
            .collect::<Vec<_>>()
    });
    let mut publishing = futures::stream::iter(batches)
        .map(|batch| bus.publish_batch(batch))
        .buffer_unordered(concurrency);
    while let Some(published) = publishing.next().await {
        published?;
    }
    all_received.notified().await;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    consuming.await??;
    bus.delete_queue(&spec).await?;
    bus.delete_exchange(&exchange).await?;
    bus.close().await;
    Ok(rate)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("FUDIAN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let total = env_number("FUDIAN_BENCH_MESSAGES", 200_000);
    let runs = env_number("FUDIAN_BENCH_RUNS", 3).max(1);
    println!("{total} persistent 300-byte messages, quorum queue, publish and consume together");
    let (mut raw_rates, mut topology_rates, mut bus_rates) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let raw_rate = raw_publish_consume(&url, total, RawTopology::Plain)
            .await
            .context("raw lapin run")?;
        let topology_rate = raw_publish_consume(&url, total, RawTopology::LikeTheBus)
            .await
            .context("raw lapin run with the bus topology")?;
        let bus_rate = bus(&url, total).await.context("fudian-bus run")?;
        println!(
            "run {run}: raw {raw_rate:>6.0} msg/s | raw with bus topology {topology_rate:>6.0} msg/s | fudian-bus {bus_rate:>6.0} msg/s | bus/raw {:.2}",
            bus_rate / raw_rate
        );
        raw_rates.push(raw_rate);
        topology_rates.push(topology_rate);
        bus_rates.push(bus_rate);
    }
    let raw_median = median(&mut raw_rates);
    let topology_median = median(&mut topology_rates);
    let bus_median = median(&mut bus_rates);
    println!(
        "median of {runs}: raw ceiling {raw_median:.0} msg/s, raw with bus topology {topology_median:.0} msg/s, fudian-bus {bus_median:.0} msg/s"
    );
    println!(
        "ratio bus/raw {:.2} (goal >= 0.80), bus/raw-with-bus-topology {:.2}",
        bus_median / raw_median,
        bus_median / topology_median
    );
    Ok(())
}
