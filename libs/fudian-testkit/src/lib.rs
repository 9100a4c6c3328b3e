//! Fixtures shared by the services' integration tests (a dev-dependency only): each test
//! gets a platform of its own, either a fresh PostgreSQL database beside RabbitMQ (from
//! `FUDIAN_TEST_DATABASE_URL` and `FUDIAN_TEST_AMQP_URL`, defaulting to the local services)
//! or the embedded SQLite store in a temporary folder with the in-process bus; plus the
//! outbox relay onto that bus. Broker names are isolated by the prefix the test puts on
//! its exchanges and queues ([`unique_prefix`]).
//!
//! Test code: it panics with the reason when the local services are not there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fudian_bus::{Bus, Delivery, QueueSpec, RabbitConfig, WireMessage};
use fudian_store::{OutboxSink, RelayConfig, SinkError, Store, StoreConfig};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

/// Which platform a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// RabbitMQ and PostgreSQL.
    Postgres,
    /// The in-process bus and SQLite.
    Embedded,
}

/// The RabbitMQ the tests use.
pub fn amqp_url() -> String {
    std::env::var("FUDIAN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The PostgreSQL database tests connect to in order to create their own.
pub fn admin_url() -> String {
    std::env::var("FUDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `base` with its database name replaced by `database` (query kept).
pub fn url_with_database(base: &str, database: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (base, None),
    };
    let host_part = without_query
        .rsplit_once('/')
        .map_or(without_query, |(head, _)| head);
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

/// A prefix for a test's exchange and queue names, e.g. `t0193....`.
pub fn unique_prefix() -> String {
    format!("t{}.", uuid::Uuid::now_v7().simple())
}

/// What a test's platform leaves behind, removed by [`Scratch::remove`].
#[derive(Debug)]
pub enum Scratch {
    /// The test's own database.
    Postgres { database: String },
    /// The embedded store's folder (deleted when dropped).
    Embedded { _dir: tempfile::TempDir },
}

impl Scratch {
    /// Drops the test's database (close its pools first); the folder goes when dropped.
    pub async fn remove(self) {
        if let Self::Postgres { database } = self {
            let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

/// A test's bus and store, migrated.
#[derive(Debug)]
pub struct Provisioned {
    pub bus: Bus,
    pub store: Store,
    /// The database URL, on PostgreSQL (for tests that start a second process on it).
    pub database_url: Option<String>,
    pub scratch: Scratch,
}

/// Creates a database (or a folder) of the test's own and connects the bus and the store.
pub async fn provision(backend: Backend) -> Provisioned {
    let provisioned = match backend {
        Backend::Postgres => {
            let database = format!("fudian_test_{}", uuid::Uuid::now_v7().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {database}"))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
            let url = url_with_database(&admin_url(), &database);
            let store = Store::connect(StoreConfig::new(url.as_str()))
                .await
                .unwrap();
            let bus = Bus::connect_rabbit(&amqp_url(), RabbitConfig::default())
                .await
                .unwrap();
            Provisioned {
                bus,
                store,
                database_url: Some(url),
                scratch: Scratch::Postgres { database },
            }
        }
        Backend::Embedded => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().display());
            let store = Store::connect(StoreConfig::new(url.as_str()))
                .await
                .unwrap();
            Provisioned {
                bus: Bus::in_process(),
                store,
                database_url: None,
                scratch: Scratch::Embedded { _dir: dir },
            }
        }
    };
    provisioned.store.migrate().await.unwrap();
    provisioned
}

/// The outbox sink of the tests: publishes onto the bus as it is.
pub struct BusSink(pub Bus);

impl OutboxSink for BusSink {
    async fn publish_batch(&self, messages: Vec<WireMessage>) -> Result<(), SinkError> {
        self.0.publish_batch(messages).await.map_err(SinkError::new)
    }
}

/// Runs the outbox relay of `store` onto `bus` until `stop`, polling every 100 ms.
pub fn spawn_relay(
    store: &Store,
    bus: &Bus,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let relay = store.outbox_relay(
        BusSink(bus.clone()),
        RelayConfig {
            poll_interval: Duration::from_millis(100),
            ..RelayConfig::default()
        },
    );
    tokio::spawn(async move {
        relay.run(stop).await.unwrap();
    })
}

/// Messages a recorder has seen, in arrival order.
pub type Recorded = Arc<Mutex<Vec<WireMessage>>>;

/// Declares `spec` (a test's observer queue, bound where the service publishes) and records
/// every message that reaches it until `stop`.
pub async fn spawn_recorder(
    bus: &Bus,
    spec: &QueueSpec,
    stop: CancellationToken,
) -> (Recorded, tokio::task::JoinHandle<()>) {
    bus.declare(&[], std::slice::from_ref(spec)).await.unwrap();
    let recorded: Recorded = Arc::default();
    let task = {
        let (bus, spec, seen) = (bus.clone(), spec.clone(), Arc::clone(&recorded));
        tokio::spawn(async move {
            let handler = move |delivery: Delivery| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock().unwrap().push(delivery.message);
                    Ok(())
                }
            };
            bus.consume(&spec, handler, stop).await.unwrap();
        })
    };
    (recorded, task)
}

/// Events `consumer` recorded as processed (its inbox rows).
pub async fn processed(store: &Store, consumer: &str) -> usize {
    const SQL: &str = "SELECT count(*) FROM platform.inbox WHERE consumer = $1";
    let count: i64 = if let Some(pool) = store.as_postgres() {
        sqlx::query_scalar(SQL)
            .bind(consumer)
            .fetch_one(pool)
            .await
            .unwrap()
    } else {
        let pool = store.as_sqlite().unwrap();
        sqlx::query_scalar(SQL)
            .bind(consumer)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    usize::try_from(count).unwrap()
}

/// Waits until `consumer` processed at least `n` events, failing after `patience`.
pub async fn wait_processed(store: &Store, consumer: &str, n: usize, patience: Duration) {
    let started = std::time::Instant::now();
    loop {
        let done = processed(store, consumer).await;
        if done >= n {
            return;
        }
        assert!(started.elapsed() < patience, "only {done} of {n} processed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls a service's router in process (no socket): the status and the body.
pub async fn call(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, Vec<u8>) {
    use tower::ServiceExt;
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

/// `GET path` on a service's router.
pub async fn get(router: &axum::Router, path: &str) -> (axum::http::StatusCode, Vec<u8>) {
    let request = axum::http::Request::get(path)
        .body(axum::body::Body::empty())
        .unwrap();
    call(router, request).await
}

/// `POST path` with a JSON body on a service's router.
pub async fn post(
    router: &axum::Router,
    path: &str,
    json: String,
) -> (axum::http::StatusCode, Vec<u8>) {
    let request = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(json))
        .unwrap();
    call(router, request).await
}

/// A body as JSON, `null` when it is not JSON.
pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_and_query_kept() {
        assert_eq!(
            url_with_database("postgres://u@h:5432/test?sslmode=disable", "other"),
            "postgres://u@h:5432/other?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgres://u@h/test", "x"),
            "postgres://u@h/x"
        );
    }
}
