//! The storm benchmark of issue 4, through the real RabbitMQ and PostgreSQL: a simulated
//! storm (`fudian-sim`: 200 faults, about 150,000 last gasps and 20,000 calls, with
//! momentaries, duplicates, reordering, crew switching and repairs) on the 1.5M-customer
//! generated grid, published as fast as the broker takes it while the outage service
//! consumes it. Reports events/s beside the raw broker ceiling measured in the same run
//! (`fudian_bus::ceiling`, publish and consume together, as in `shared/limits.md`), and the
//! simulator's scores: share of tripped devices found, precision and recall of the
//! affected customers (from the service's interruption records that are not momentary:
//! the truth's faults are the sustained ones, and a reclosed trip is recorded as momentary).
//!
//! Run: `cargo bench -p fudian-outage --bench storm`. The grid comes from
//! `FUDIAN_STORM_GRID` (default `data/city-1.5m`, made by `cargo run --release -p fudian --
//! grid generate --customers 1500000 --feeders 1000 --seed 7 --out data/city-1.5m`).
//! `FUDIAN_STORM_FAULTS`, `FUDIAN_STORM_CALLERS` (share of affected customers who call) and
//! `FUDIAN_BENCH_MESSAGES` (for the ceiling) resize it.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fudian_bus::ceiling::{RawTopology, raw_publish_consume};
use fudian_bus::{Bus, ExchangeSpec, RabbitConfig, WireMessage};
use fudian_outage::{Deps, ExchangeNames, OutageConfig};
use fudian_sim::{ReportedIncident, SimOptions, generate, score};
use fudian_store::{RelayConfig, Store, StoreConfig};
use fudian_testkit::BusSink;
use futures::StreamExt;
use sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn database_url(database: &str) -> String {
    fudian_testkit::url_with_database(&fudian_testkit::admin_url(), database)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let amqp = std::env::var("FUDIAN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let grid_dir = std::env::var("FUDIAN_STORM_GRID").map_or_else(
        |_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/city-1.5m")),
        PathBuf::from,
    );
    if !grid_dir.join("network.geojson").exists() {
        bail!(
            "no grid package at {} (set FUDIAN_STORM_GRID, or generate it: cargo run --release \
             -p fudian -- grid generate --customers 1500000 --feeders 1000 --seed 7 --out \
             data/city-1.5m)",
            grid_dir.display()
        );
    }
    let started = Instant::now();
    let grid = Arc::new(
        fudian_grid::load_package(&grid_dir)
            .with_context(|| format!("loading {}", grid_dir.display()))?,
    );
    println!(
        "grid {}: {} customers, {} branches, loaded in {:.1} s",
        grid_dir.display(),
        grid.customers.len(),
        grid.branches.len(),
        started.elapsed().as_secs_f64()
    );

    let options = SimOptions {
        seed: env_or("FUDIAN_STORM_SEED", 11),
        faults: env_or("FUDIAN_STORM_FAULTS", 200),
        storm_per_minute: Some(env_or("FUDIAN_STORM_PER_MINUTE", 20.0)),
        share_callers: env_or("FUDIAN_STORM_CALLERS", 0.13),
        ..SimOptions::default()
    };
    let simulation = generate(&grid, &options, fudian_events::now_shanghai())?;
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &simulation.events {
        *by_type.entry(event.wire.routing_key.as_str()).or_default() += 1;
    }
    let total = simulation.events.len();
    let distinct: HashSet<&str> = simulation
        .events
        .iter()
        .map(|e| e.wire.message_id.as_str())
        .collect();
    println!(
        "storm: {} faults ({} momentary trips), {total} messages ({} distinct ids): {by_type:?}",
        simulation.truth.faults.len(),
        simulation.truth.momentaries.len(),
        distinct.len()
    );

    // The broker's ceiling first, on a quiet broker, in the same run.
    let ceiling_messages = env_or("FUDIAN_BENCH_MESSAGES", 200_000usize);
    let ceiling = raw_publish_consume(&amqp, ceiling_messages, RawTopology::Plain)
        .await
        .context("measuring the raw broker ceiling")?;
    println!("raw broker ceiling (publish and consume together): {ceiling:.0} msg/s");

    // A database and exchange names of its own.
    let run = uuid::Uuid::now_v7().simple().to_string();
    let database = format!("fudian_storm_{}", &run[20..]);
    let mut admin = sqlx::PgConnection::connect(&database_url("test")).await?;
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await?;
    let store = Store::connect(StoreConfig::new(database_url(&database).as_str())).await?;
    let bus = Bus::connect_rabbit(&amqp, RabbitConfig::default()).await?;
    let prefix = format!("storm{}.", &run[20..]);
    let mut config = OutageConfig {
        queue: format!("{prefix}outage.events"),
        exchanges: ExchangeNames::prefixed(&prefix),
        ..OutageConfig::default()
    };
    config.rules.storm_mode = true;
    config.batch_size = env_or("FUDIAN_STORM_BATCH", config.batch_size);
    config.prefetch = env_or("FUDIAN_STORM_PREFETCH", config.prefetch);
    let consumer = config.consumer.clone();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let running = fudian_outage::start(
        config.clone(),
        Deps {
            bus: bus.clone(),
            store: store.clone(),
            grid: Arc::clone(&grid),
        },
        shutdown.clone(),
    )
    .await?;
    println!(
        "outage service started in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // What the service publishes goes out through the relay, as in production.
    // The AMI head-end takes the ping requests, and someone listens to the incidents: the
    // relay's messages are routable, as in production.
    let listeners = [
        fudian_bus::QueueSpec::new(format!("{prefix}ami-headend"))
            .bind(&config.exchanges.field, "ami.ping_request"),
        fudian_bus::QueueSpec::new(format!("{prefix}incidents"))
            .bind(&config.exchanges.outage, "#"),
    ];
    bus.declare(
        &[
            ExchangeSpec::topic(&config.exchanges.field),
            ExchangeSpec::topic(&config.exchanges.outage),
        ],
        &listeners,
    )
    .await?;
    let relay = store.outbox_relay(BusSink(bus.clone()), RelayConfig::default());
    let relay_stop = CancellationToken::new();
    let relay_task = {
        let stop = relay_stop.clone();
        tokio::spawn(async move { relay.run(stop).await })
    };

    let messages: Vec<WireMessage> = simulation
        .events
        .iter()
        .map(|event| {
            let mut wire = event.wire.clone();
            wire.exchange = format!("{prefix}{}", wire.exchange);
            wire
        })
        .collect();
    let started = Instant::now();
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let batches: Vec<Vec<WireMessage>> =
                messages.chunks(250).map(<[WireMessage]>::to_vec).collect();
            let mut publishing = futures::stream::iter(batches)
                .map(|batch| bus.publish_batch(batch))
                .buffered(4);
            while let Some(published) = publishing.next().await {
                published?;
            }
            anyhow::Ok(())
        })
    };
    publisher.await??;
    let published_in = started.elapsed().as_secs_f64();

    // Done when every distinct event id is in the inbox or dead-lettered; the consumer's
    // last progress marks the end.
    let pool = store
        .as_postgres()
        .context("the benchmark runs on PostgreSQL")?;
    let mut last = (0i64, Instant::now());
    let (handled, dead, consumed_in) = loop {
        let handled: i64 =
            sqlx::query_scalar("SELECT count(*) FROM platform.inbox WHERE consumer = $1")
                .bind(&consumer)
                .fetch_one(pool)
                .await?;
        if handled != last.0 {
            last = (handled, Instant::now());
        }
        let idle = last.1.elapsed();
        let done_at = (last.1 - started).as_secs_f64();
        if handled as usize >= distinct.len() {
            break (handled, 0, done_at);
        }
        if idle > Duration::from_secs(5) {
            let dead = bus.dead_letters(&config.queue, 1_000_000).await?.len();
            if handled as usize + dead >= distinct.len() {
                break (handled, dead, done_at);
            }
            if idle > Duration::from_secs(120) {
                bail!(
                    "stalled: {handled} handled + {dead} dead-lettered of {}",
                    distinct.len()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rate = total as f64 / consumed_in;
    println!(
        "published {total} messages in {published_in:.1} s; all consumed after {consumed_in:.1} s: \
         {rate:.0} events/s = {:.2} of the raw ceiling (goal >= 0.50); {handled} applied, {dead} \
         dead-lettered",
        rate / ceiling
    );

    if dead > 0 {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for letter in bus.dead_letters(&config.queue, 1_000_000).await? {
            let reason = letter
                .headers
                .get(fudian_bus::ERROR_HEADER)
                .map_or("?", String::as_str);
            // Ids and numbers differ per letter; the reason's shape is what matters.
            let shape: String = reason
                .split(['`', '\''])
                .enumerate()
                .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
                .collect::<String>()
                .split(' ')
                .map(|word| {
                    if word.starts_with(|c: char| c.is_ascii_digit()) {
                        "…"
                    } else {
                        word
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            *reasons
                .entry(format!("{} {shape}", letter.routing_key))
                .or_default() += 1;
        }
        println!("dead letters by reason: {reasons:#?}");
    }

    // Let the hold windows and timers settle, then score the interruption records.
    let settle = Duration::from_secs(env_or(
        "FUDIAN_STORM_SETTLE_SECS",
        u64::from(config.rules.storm.hold_secs) + 10,
    ));
    tokio::time::sleep(settle).await;
    let rows = sqlx::query(
        "SELECT i.id, i.device, r.customer_id FROM outage.incidents i \
         JOIN outage.interruptions r ON r.incident_id = i.id \
         WHERE i.state <> 'cancelled' AND r.kind IS DISTINCT FROM 'momentary'",
    )
    .fetch_all(pool)
    .await?;
    let mut incidents: BTreeMap<String, ReportedIncident> = BTreeMap::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let device: String = row.try_get(1)?;
        let customer: String = row.try_get(2)?;
        incidents
            .entry(id)
            .or_insert_with(|| ReportedIncident {
                device: Some(device),
                customers: Vec::new(),
            })
            .customers
            .push(customer);
    }
    let incidents: Vec<ReportedIncident> = incidents.into_values().collect();
    let scores = score(&simulation.truth, &incidents);
    println!(
        "scores: {} of {} tripped devices found ({:.3}, goal 1), precision {:.4}, recall {:.4} \
         (goal >= 0.99) over {} incidents",
        scores.devices_found,
        scores.faults,
        scores.device_share,
        scores.precision,
        scores.recall,
        incidents.len()
    );

    shutdown.cancel();
    running.tasks.wait().await;
    relay_stop.cancel();
    relay_task.await??;
    bus.delete_queue(&fudian_bus::QueueSpec::new(config.queue.clone()))
        .await
        .ok();
    for listener in &listeners {
        bus.delete_queue(listener).await.ok();
    }
    for exchange in [
        &config.exchanges.field,
        &config.exchanges.planned,
        &config.exchanges.outage,
    ] {
        bus.delete_exchange(exchange).await.ok();
    }
    bus.close().await;
    store.close().await;
    if std::env::var_os("FUDIAN_STORM_KEEP").is_some() {
        std::fs::write(
            format!("/tmp/{database}.truth.json"),
            simulation.truth.to_json(),
        )?;
        println!("kept database {database}; truth in /tmp/{database}.truth.json");
    } else {
        sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}
