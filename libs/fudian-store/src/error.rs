//! The store's one error enum, and the error an outbox sink reports. Every error answers
//! `is_transient()` so callers can choose between a retry and a dead letter.

use std::error::Error as StdError;

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// Anything the store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The configured URL names no backend we know, or a malformed location.
    #[error("invalid store url: {reason}")]
    InvalidUrl { reason: String },
    /// The embedded store's data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A query, a connection or the pool failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An outbox row whose headers are not a JSON object of strings (written by hand?).
    #[error("outbox row {id} has malformed headers: {source}")]
    CorruptOutboxRow {
        id: i64,
        #[source]
        source: serde_json::Error,
    },
    /// The sink did not confirm a batch; its rows stay in the outbox.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A relay worker task panicked or was aborted.
    #[error("outbox relay worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed: lost connections, pool
    /// timeouts, serialization failures, deadlocks, a busy SQLite file, a sink failure.
    /// Constraint violations, bad SQL and bad configuration are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(error) => sqlx_error_is_transient(error),
            Self::Migrate(sqlx::migrate::MigrateError::Execute(error)) => {
                sqlx_error_is_transient(error)
            }
            Self::Sink(_) => true,
            Self::InvalidUrl { .. }
            | Self::DataDir { .. }
            | Self::Migrate(_)
            | Self::CorruptOutboxRow { .. }
            | Self::Worker(_) => false,
        }
    }
}

fn sqlx_error_is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database_error) => {
            if let Some(pg) = database_error.try_downcast_ref::<PgDatabaseError>() {
                postgres_code_is_transient(pg.code())
            } else if let Some(sqlite) = database_error.try_downcast_ref::<SqliteError>() {
                sqlite
                    .code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .is_some_and(sqlite_code_is_transient)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// SQLSTATE classes and codes worth a retry (PostgreSQL appendix A).
fn postgres_code_is_transient(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, ...)
        || matches!(
            code,
            "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "55P03" // lock_not_available
                | "57014" // query_canceled (statement timeout)
                | "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
        )
}

/// SQLite extended result codes: the low byte is the primary code.
fn sqlite_code_is_transient(extended_code: i32) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    matches!(extended_code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
}

/// An outbox sink could not publish (or have confirmed) a batch.
#[derive(Debug, thiserror::Error)]
#[error("outbox sink failed: {source}")]
pub struct SinkError {
    #[source]
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl SinkError {
    /// Wraps whatever the sink failed with (a broker error, a nack, a message).
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_and_io_errors_are_transient() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_transient());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(StoreError::from(sqlx::Error::Io(io)).is_transient());
    }

    #[test]
    fn missing_rows_and_bad_urls_are_permanent() {
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_transient());
        let bad_url = StoreError::InvalidUrl {
            reason: "unknown scheme".into(),
        };
        assert!(!bad_url.is_transient());
    }

    #[test]
    fn serialization_failures_and_lost_connections_are_transient_but_constraints_are_not() {
        assert!(postgres_code_is_transient("40001"));
        assert!(postgres_code_is_transient("40P01"));
        assert!(postgres_code_is_transient("08006"));
        assert!(!postgres_code_is_transient("23505"));
        assert!(!postgres_code_is_transient("42P01"));
    }

    #[test]
    fn busy_sqlite_files_are_transient_but_constraint_failures_are_not() {
        const SQLITE_BUSY_SNAPSHOT: i32 = 517;
        const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
        assert!(sqlite_code_is_transient(5));
        assert!(sqlite_code_is_transient(SQLITE_BUSY_SNAPSHOT));
        assert!(!sqlite_code_is_transient(SQLITE_CONSTRAINT_PRIMARYKEY));
    }

    #[test]
    fn sink_errors_keep_their_cause_in_the_message() {
        let error = StoreError::from(SinkError::new("broker nacked message 7"));
        assert_eq!(
            error.to_string(),
            "outbox sink failed: broker nacked message 7"
        );
        assert!(error.is_transient());
    }
}
