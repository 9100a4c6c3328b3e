//! Outbox relay throughput on PostgreSQL (`cargo bench -p fudian-store`).
//!
//! Enqueues N rows (batched), then relays them with 1 and 4 workers into (a) a no-op sink,
//! the store's own ceiling (at 100 rows per batch this is the outbox claim rate that
//! `limits.md` lists), and (b) the real RabbitMQ with publisher confirms through a minimal
//! lapin publisher defined here (the store must not depend on the bus). The raw broker
//! ceiling (confirms, 1,000 in flight, same messages) is measured in the same run.
//!
//! Environment: `FUDIAN_TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test;
//! a fresh database is created and dropped), `FUDIAN_BENCH_AMQP_URL` (default
//! amqp://guest:guest@127.0.0.1:5672/%2f), `FUDIAN_BENCH_MESSAGES` (200000),
//! `FUDIAN_BENCH_RUNS` (3; medians are reported).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fudian_events::wire::WireMessage;
use fudian_store::{OutboxSink, RelayConfig, SinkError, Store, StoreConfig};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

const BODY_BYTES: usize = 300;
const ENQUEUE_ROWS_PER_TX: usize = 1_000;
const RAW_WINDOW: usize = 1_000;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name} must be a number, got {value:?}")),
        Err(_) => Ok(default),
    }
}

/// A 300-byte JSON body, a traceparent and an id, routed to the bench queue.
fn bench_message(sequence: usize, queue: &str) -> WireMessage {
    let mut body = format!(r#"{{"sequence":{sequence},"feeder":"F-12","pad":""#).into_bytes();
    body.resize(BODY_BYTES - 2, b'x');
    body.extend_from_slice(br#""}"#);
    WireMessage {
        exchange: String::new(),
        routing_key: queue.to_owned(),
        message_id: format!("bench-{sequence:08}"),
        headers: BTreeMap::from([(
            "traceparent".to_owned(),
            format!("00-{sequence:032x}-{:016x}-01", sequence + 1),
        )]),
        body,
    }
}

/// Counts what it is given and does nothing else: the store's ceiling.
#[derive(Clone, Default)]
struct NoopSink {
    published: Arc<AtomicU64>,
}

impl OutboxSink for NoopSink {
    async fn publish_batch(&self, messages: Vec<WireMessage>) -> Result<(), SinkError> {
        self.published
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Minimal lapin publisher: one confirm-mode channel per worker, every message of a
/// batch published back to back (pipelined), then all confirms awaited.
#[derive(Clone)]
struct RabbitSink {
    channels: Arc<Vec<Channel>>,
    next_channel: Arc<AtomicUsize>,
    published: Arc<AtomicU64>,
}

fn amqp_properties(message: &WireMessage) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (key, value) in &message.headers {
        headers.insert(
            ShortString::from(key.as_str()),
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    BasicProperties::default()
        .with_delivery_mode(2) // persistent
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(message.message_id.as_str()))
        .with_headers(headers)
}

async fn publish(
    channel: &Channel,
    message: &WireMessage,
) -> lapin::Result<lapin::PublisherConfirm> {
    channel
        .basic_publish(
            ShortString::from(message.exchange.as_str()),
            ShortString::from(message.routing_key.as_str()),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &message.body,
            amqp_properties(message),
        )
        .await
}

fn check_confirmation(confirmation: lapin::Confirmation) -> Result<(), SinkError> {
    if !confirmation.is_ack() {
        return Err(SinkError::new("broker nacked a message"));
    }
    if confirmation.take_message().is_some() {
        return Err(SinkError::new("broker returned an unroutable message"));
    }
    Ok(())
}

impl OutboxSink for RabbitSink {
    async fn publish_batch(&self, messages: Vec<WireMessage>) -> Result<(), SinkError> {
        let index = self.next_channel.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        let channel = &self.channels[index];
        let mut confirms = Vec::with_capacity(messages.len());
        for message in &messages {
            confirms.push(publish(channel, message).await.map_err(SinkError::new)?);
        }
        for confirmation in futures::future::try_join_all(confirms)
            .await
            .map_err(SinkError::new)?
        {
            check_confirmation(confirmation)?;
        }
        self.published
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

async fn confirm_channel(connection: &Connection) -> anyhow::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Publishes `count` messages with confirms, at most `RAW_WINDOW` unconfirmed.
async fn raw_broker_ceiling(
    connection: &Connection,
    queue: &str,
    count: usize,
) -> anyhow::Result<f64> {
    let channel = confirm_channel(connection).await?;
    let messages: Vec<WireMessage> = (0..count).map(|i| bench_message(i, queue)).collect();
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for message in &messages {
        if in_flight.len() >= RAW_WINDOW
            && let Some(confirmation) = in_flight.next().await
        {
            check_confirmation(confirmation?)?;
        }
        in_flight.push(publish(&channel, message).await?);
    }
    while let Some(confirmation) = in_flight.next().await {
        check_confirmation(confirmation?)?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    channel.close(200, ShortString::from("done")).await?;
    Ok(rate)
}

/// Enqueues `count` rows in transactions of `ENQUEUE_ROWS_PER_TX`; returns rows/s.
async fn enqueue(store: &Store, queue: &str, count: usize) -> anyhow::Result<f64> {
    let messages: Vec<WireMessage> = (0..count).map(|i| bench_message(i, queue)).collect();
    let started = Instant::now();
    for chunk in messages.chunks(ENQUEUE_ROWS_PER_TX) {
        let mut tx = store.begin().await?;
        tx.enqueue_all(chunk).await?;
        tx.commit().await?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Runs the relay until `published` reaches `count`; returns messages/s.
async fn relay<S: OutboxSink>(
    store: &Store,
    sink: S,
    published: &AtomicU64,
    workers: usize,
    batch_size: u32,
    count: usize,
) -> anyhow::Result<f64> {
    published.store(0, Ordering::Relaxed);
    let relay = store.outbox_relay(
        sink,
        RelayConfig {
            workers,
            batch_size,
            poll_interval: Duration::from_millis(100),
            ..RelayConfig::default()
        },
    );
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    let deadline = started + Duration::from_secs(600);
    while published.load(Ordering::Relaxed) < count as u64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "relay did not finish in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    running.await??;
    anyhow::ensure!(
        store.outbox_pending().await? == 0,
        "outbox not empty after the relay"
    );
    Ok(count as f64 / elapsed.as_secs_f64())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn url_with_database(base: &str, database: &str) -> String {
    let (address, query) = base
        .split_once('?')
        .map_or((base, None), |(a, q)| (a, Some(q)));
    let scheme_end = address.find("://").map_or(0, |index| index + 3);
    let host_part = address[scheme_end..]
        .find('/')
        .map_or(address, |slash| &address[..scheme_end + slash]);
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

struct Scenario {
    name: &'static str,
    broker: bool,
    workers: usize,
    batch: u32,
    rates: Vec<f64>,
    /// Each run's rate divided by the same run's raw broker ceiling.
    ratios: Vec<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count = env_number("FUDIAN_BENCH_MESSAGES", 200_000)?;
    let runs = env_number("FUDIAN_BENCH_RUNS", 3)?.max(1);
    let admin_url = env_or(
        "FUDIAN_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let amqp_url = env_or(
        "FUDIAN_BENCH_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    );
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let database = format!("fudian_bench_{suffix}");
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .context("PostgreSQL is not reachable")?;
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await?;
    let outcome = bench(
        &url_with_database(&admin_url, &database),
        &amqp_url,
        &suffix,
        count,
        runs,
    )
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    outcome
}

async fn bench(
    database_url: &str,
    amqp_url: &str,
    suffix: &str,
    count: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let store = Store::connect(StoreConfig {
        max_connections: 10,
        ..StoreConfig::new(database_url)
    })
    .await?;
    store.migrate().await?;
    let pool = store
        .as_postgres()
        .context("bench needs PostgreSQL")?
        .clone();
    let pg_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;

    let amqp = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .context("RabbitMQ is not reachable")?;
    let queue = format!("fudian-bench-{suffix}");
    let admin_channel = amqp.create_channel().await?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    admin_channel
        .queue_declare(
            ShortString::from(queue.as_str()),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await?;

    let published = Arc::new(AtomicU64::new(0));
    let noop = NoopSink {
        published: Arc::clone(&published),
    };
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(confirm_channel(&amqp).await?);
    }
    let rabbit = RabbitSink {
        channels: Arc::new(channels),
        next_channel: Arc::new(AtomicUsize::new(0)),
        published: Arc::clone(&published),
    };

    let mut scenarios = vec![
        Scenario {
            name: "no-op sink (claim rate)",
            broker: false,
            workers: 1,
            batch: 100,
            rates: vec![],
            ratios: vec![],
        },
        Scenario {
            name: "no-op sink (claim rate)",
            broker: false,
            workers: 4,
            batch: 100,
            rates: vec![],
            ratios: vec![],
        },
        Scenario {
            name: "no-op sink",
            broker: false,
            workers: 1,
            batch: 500,
            rates: vec![],
            ratios: vec![],
        },
        Scenario {
            name: "no-op sink",
            broker: false,
            workers: 4,
            batch: 500,
            rates: vec![],
            ratios: vec![],
        },
        Scenario {
            name: "RabbitMQ quorum, confirms",
            broker: true,
            workers: 1,
            batch: 500,
            rates: vec![],
            ratios: vec![],
        },
        Scenario {
            name: "RabbitMQ quorum, confirms",
            broker: true,
            workers: 4,
            batch: 500,
            rates: vec![],
            ratios: vec![],
        },
    ];
    let mut raw_rates = Vec::new();
    let mut enqueue_rates = Vec::new();
    for run in 1..=runs {
        let raw = raw_broker_ceiling(&amqp, &queue, count).await?;
        admin_channel
            .queue_purge(
                ShortString::from(queue.as_str()),
                QueuePurgeOptions::default(),
            )
            .await?;
        println!("run {run}: raw broker ceiling {raw:.0}/s");
        raw_rates.push(raw);
        for scenario in &mut scenarios {
            let enqueue_rate = enqueue(&store, &queue, count).await?;
            enqueue_rates.push(enqueue_rate);
            let rate = if scenario.broker {
                relay(
                    &store,
                    rabbit.clone(),
                    &published,
                    scenario.workers,
                    scenario.batch,
                    count,
                )
                .await?
            } else {
                relay(
                    &store,
                    noop.clone(),
                    &published,
                    scenario.workers,
                    scenario.batch,
                    count,
                )
                .await?
            };
            if scenario.broker {
                admin_channel
                    .queue_purge(
                        ShortString::from(queue.as_str()),
                        QueuePurgeOptions::default(),
                    )
                    .await?;
            }
            // Keep every scenario on a table without the last one's dead rows.
            sqlx::query("VACUUM (ANALYZE) platform.outbox")
                .execute(&pool)
                .await?;
            println!(
                "run {run}: enqueue {enqueue_rate:.0} rows/s; relay {} workers={} batch={}: {rate:.0}/s",
                scenario.name, scenario.workers, scenario.batch
            );
            scenario.rates.push(rate);
            scenario.ratios.push(rate / raw);
        }
    }
    admin_channel
        .queue_delete(
            ShortString::from(queue.as_str()),
            QueueDeleteOptions::default(),
        )
        .await?;
    amqp.close(200, ShortString::from("bench done")).await?;
    store.close().await;

    let raw = median(&mut raw_rates);
    println!();
    println!(
        "PostgreSQL {pg_version}, {count} messages of {BODY_BYTES} bytes, median of {runs} run(s)"
    );
    println!();
    println!("| scenario | workers | batch | messages/s | vs raw broker (per-run ratio) |");
    println!("|---|---:|---:|---:|---:|");
    println!("| raw broker ceiling (confirms, {RAW_WINDOW} in flight) | - | - | {raw:.0} | 100% |");
    for scenario in &mut scenarios {
        let rate = median(&mut scenario.rates);
        println!(
            "| relay, {} | {} | {} | {rate:.0} | {:.0}% |",
            scenario.name,
            scenario.workers,
            scenario.batch,
            100.0 * median(&mut scenario.ratios)
        );
    }
    println!(
        "| enqueue ({ENQUEUE_ROWS_PER_TX} rows per transaction, UNNEST) | 1 | - | {:.0} | - |",
        median(&mut enqueue_rates)
    );
    Ok(())
}
