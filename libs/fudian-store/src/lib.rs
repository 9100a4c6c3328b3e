//! fudian's store: the connection pool, the embedded migrations, the inbox (idempotent
//! consumption) and the transactional outbox with its relay, on PostgreSQL or on an
//! embedded SQLite data directory behind one API.
//!
//! It holds no service logic: services own their tables and SQL and reach the open
//! transaction through [`Tx::as_postgres`] / [`Tx::as_sqlite`]. It does not depend on the
//! bus either: the relay publishes through the [`OutboxSink`] trait.
//!
//! Parts: `config` (URL and pool size), `sqlite` (one attached file per schema),
//! `tx` (inbox mark, enqueue, commit), `outbox` (the outbox SQL), `relay` (workers),
//! `error`.
//!
//! ```no_run
//! # async fn demo(message: fudian_events::wire::WireMessage) -> Result<(), fudian_store::StoreError> {
//! let store = fudian_store::Store::connect("sqlite://./data").await?;
//! store.migrate().await?;
//! let mut tx = store.begin().await?;
//! if tx.mark_processed("outage", &message.message_id).await? {
//!     // ... the service's own SQL through tx.as_postgres() / tx.as_sqlite() ...
//!     tx.enqueue(&message).await?;
//! }
//! tx.commit().await?;
//! # Ok(()) }
//! ```

mod config;
mod error;
mod outbox;
mod relay;
mod sqlite;
mod tx;

use std::sync::Arc;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, SqlitePool};
use tokio::sync::{Mutex, watch};

pub use config::StoreConfig;
pub use error::{SinkError, StoreError};
pub use relay::{OutboxRelay, OutboxSink, RelayConfig};
pub use sqlite::SCHEMAS as SQLITE_SCHEMAS;
pub use tx::Tx;

/// The migrations for each backend, embedded at build time from the top-level
/// `migrations/` folder.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The database behind a [`Store`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A connected store. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Bumped after every local commit that enqueued, to wake this process's relay.
    outbox_signal: Arc<watch::Sender<u64>>,
    /// Serialises relaying on SQLite (single worker, `flush` from another task).
    sqlite_relay: Mutex<()>,
}

impl Store {
    /// Connects to `postgres://...` or opens (creating it if needed) the embedded data
    /// directory of `sqlite://<dir>`. Does not migrate: call [`Store::migrate`].
    pub async fn connect(config: impl Into<StoreConfig>) -> Result<Self, StoreError> {
        let config = config.into();
        let backend = match config.location()? {
            config::Location::Postgres(options) => Backend::Postgres(
                PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.acquire_timeout)
                    .connect_with(*options)
                    .await?,
            ),
            config::Location::SqliteDir(dir) => {
                Backend::Sqlite(sqlite::connect(&config, &dir).await?)
            }
        };
        Ok(Self {
            backend,
            shared: Arc::new(Shared {
                outbox_signal: Arc::new(watch::Sender::new(0)),
                sqlite_relay: Mutex::new(()),
            }),
        })
    }

    /// Applies the pending embedded migrations (idempotent; concurrent callers on
    /// PostgreSQL are serialised by sqlx's advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Starts a transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a read-then-write transaction never fails on upgrade.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let signal = Arc::clone(&self.shared.outbox_signal);
        Ok(match &self.backend {
            Backend::Postgres(pool) => Tx::postgres(pool.begin().await?, signal),
            Backend::Sqlite(pool) => Tx::sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, signal),
        })
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            // Touches an attached file too, so a missing attachment shows up here.
            Backend::Sqlite(pool) => {
                sqlx::query("SELECT count(*) FROM platform.sqlite_schema")
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Committed outbox rows not yet relayed (rows claimed by an in-flight batch count
    /// until it commits).
    pub async fn outbox_pending(&self) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT count(*) FROM platform.outbox";
        let count: i64 = match &self.backend {
            Backend::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
            Backend::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// A relay publishing this store's outbox to `sink`; start it with
    /// [`OutboxRelay::run`], drain with [`OutboxRelay::flush`].
    pub fn outbox_relay<S: OutboxSink>(&self, sink: S, config: RelayConfig) -> OutboxRelay<S> {
        OutboxRelay::new(self.clone(), sink, config)
    }

    /// Closes the pool, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The PostgreSQL pool, for a service's queries outside a [`Tx`].
    pub fn as_postgres(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            Backend::Sqlite(_) => None,
        }
    }

    /// The SQLite pool (every connection has the schemas attached).
    pub fn as_sqlite(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(pool) => Some(pool),
            Backend::Postgres(_) => None,
        }
    }

    pub(crate) fn outbox_signal(&self) -> &Arc<watch::Sender<u64>> {
        &self.shared.outbox_signal
    }

    pub(crate) fn sqlite_relay_lock(&self) -> &Mutex<()> {
        &self.shared.sqlite_relay
    }
}
