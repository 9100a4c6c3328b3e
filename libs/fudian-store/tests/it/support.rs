//! Test fixtures: a fresh store per test (its own PostgreSQL database, or its own SQLite
//! data directory), always cleaned up, even when the test body panics; a recording sink;
//! message builders.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use fudian_events::wire::WireMessage;
use fudian_store::{OutboxSink, SinkError, Store, StoreConfig};
use futures::FutureExt as _;
use sqlx::Connection as _;

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Sqlite,
}

/// A migrated store on a location nobody else uses.
pub struct TestStore {
    pub kind: Kind,
    pub store: Store,
    /// The URL the store was opened with, to open a second store on the same data.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres {
        admin_url: String,
        database: String,
    },
    Sqlite(
        #[expect(dead_code, reason = "held so the directory lives as long as the test")]
        tempfile::TempDir,
    ),
}

impl TestStore {
    /// Another store instance on the same data (a second process, or a restart).
    pub async fn open_again(&self) -> anyhow::Result<Store> {
        let store = Store::connect(self.url.as_str()).await?;
        store.migrate().await?;
        Ok(store)
    }
}

/// Runs `body` on a fresh store of `kind`, drops the store's data afterwards and fails
/// the test if the body failed or panicked. PostgreSQL must be reachable: no skipping.
pub async fn run<F>(kind: Kind, body: F)
where
    F: AsyncFnOnce(&TestStore) -> anyhow::Result<()>,
{
    let test_store = match kind {
        Kind::Postgres => postgres().await,
        Kind::Sqlite => sqlite().await,
    }
    .expect("test store could not be set up");
    let outcome = AssertUnwindSafe(body(&test_store)).catch_unwind().await;
    test_store.store.close().await;
    if let Cleanup::Postgres {
        admin_url,
        database,
    } = &test_store.cleanup
    {
        drop_database(admin_url, database)
            .await
            .expect("test database could not be dropped");
    }
    match outcome {
        Ok(result) => result.expect("test body failed"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn admin_url() -> String {
    std::env::var("FUDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// `base` with its database name replaced by `database`.
fn url_with_database(base: &str, database: &str) -> String {
    let (address, query) = match base.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (base, None),
    };
    let scheme_end = address.find("://").map_or(0, |index| index + 3);
    let host_part = match address[scheme_end..].find('/') {
        Some(slash) => &address[..scheme_end + slash],
        None => address,
    };
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

async fn postgres() -> anyhow::Result<TestStore> {
    let admin_url = admin_url();
    let database = format!("fudian_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .with_context(|| "PostgreSQL is not reachable (set FUDIAN_TEST_DATABASE_URL)")?;
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .context("failed to create the test database")?;
    admin.close().await?;
    let url = url_with_database(&admin_url, &database);
    let store = Store::connect(StoreConfig::new(url.as_str())).await?;
    store.migrate().await?;
    Ok(TestStore {
        kind: Kind::Postgres,
        store,
        url,
        cleanup: Cleanup::Postgres {
            admin_url,
            database,
        },
    })
}

async fn drop_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

async fn sqlite() -> anyhow::Result<TestStore> {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}",
        dir.path()
            .join("data")
            .to_str()
            .context("temp dir is not UTF-8")?
    );
    let store = Store::connect(url.as_str()).await?;
    store.migrate().await?;
    Ok(TestStore {
        kind: Kind::Sqlite,
        store,
        url,
        cleanup: Cleanup::Sqlite(dir),
    })
}

/// Message number `sequence`: ids and a header encode the sequence so order can be checked.
pub fn message(sequence: usize) -> WireMessage {
    let headers = BTreeMap::from([
        (
            "traceparent".to_owned(),
            format!("00-{sequence:032x}-{:016x}-01", sequence + 1),
        ),
        ("x-fudian-attempt".to_owned(), "1".to_owned()),
    ]);
    WireMessage {
        exchange: "fudian.outage".to_owned(),
        routing_key: "outage.detected".to_owned(),
        message_id: format!("msg-{sequence:07}"),
        headers,
        body: format!(r#"{{"sequence":{sequence},"feeder":"F-12"}}"#).into_bytes(),
    }
}

/// The sequence number [`message`] encoded in the message id.
pub fn sequence_of(message: &WireMessage) -> usize {
    message
        .message_id
        .trim_start_matches("msg-")
        .parse()
        .expect("message id made by `message`")
}

/// Records every batch it is given; can be told to fail, and to take its time.
#[derive(Clone, Default)]
pub struct RecordingSink {
    batches: Arc<Mutex<Vec<Vec<WireMessage>>>>,
    failing: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    delay: Duration,
}

impl RecordingSink {
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn batches(&self) -> Vec<Vec<WireMessage>> {
        self.batches.lock().unwrap().clone()
    }

    pub fn delivered(&self) -> Vec<WireMessage> {
        self.batches().into_iter().flatten().collect()
    }

    /// The most batches that were being published at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

impl OutboxSink for RecordingSink {
    async fn publish_batch(&self, messages: Vec<WireMessage>) -> Result<(), SinkError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(SinkError::new("broker unreachable (test)"));
        }
        self.batches.lock().unwrap().push(messages);
        Ok(())
    }
}

/// Polls `condition` every 10 ms until it holds, or fails after `timeout`.
pub async fn eventually<F, Fut>(
    timeout: Duration,
    what: &str,
    mut condition: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await? {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn database_name_is_replaced_and_query_kept() {
    assert_eq!(
        url_with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        url_with_database("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(url_with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
