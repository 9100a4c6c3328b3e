//! Where the store lives and how big its pool is: `postgres://...` for PostgreSQL,
//! `sqlite://<data dir>` for the embedded store (one SQLite file per schema in that dir).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use crate::StoreError;

/// Connection settings. Build with [`StoreConfig::new`] (or `From<&str>`) and adjust fields.
#[derive(Clone)]
pub struct StoreConfig {
    /// `postgres://user@host:port/db` or `sqlite://<data dir>` (the directory is created).
    pub url: String,
    /// Pool size. The relay holds one connection per worker while a batch is in flight,
    /// plus one for LISTEN on PostgreSQL.
    pub max_connections: u32,
    /// How long `begin()` and friends wait for a free connection before a transient error.
    pub acquire_timeout: Duration,
    /// Embedded store only: how long a writer waits for SQLite's write lock.
    pub busy_timeout: Duration,
}

impl StoreConfig {
    /// Defaults: 10 connections, 5 s acquire timeout, 5 s SQLite busy timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }

    pub(crate) fn location(&self) -> Result<Location, StoreError> {
        Location::parse(&self.url)
    }
}

impl From<&str> for StoreConfig {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for StoreConfig {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

// The URL may carry a password: never print it.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split_once(':').map_or("?", |(scheme, _)| scheme);
        formatter
            .debug_struct("StoreConfig")
            .field("url", &format_args!("{scheme}:<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
}

/// A parsed [`StoreConfig::url`].
#[derive(Debug)]
pub(crate) enum Location {
    Postgres(Box<PgConnectOptions>),
    SqliteDir(PathBuf),
}

impl Location {
    fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl { reason };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|error| invalid(format!("bad postgres url: {error}")))?;
            return Ok(Self::Postgres(Box::new(options)));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
            return Err(invalid(format!(
                "unknown scheme {scheme:?}: expected postgres://... or sqlite://<data dir>"
            )));
        };
        let dir = rest.strip_prefix("//").unwrap_or(rest);
        if dir.is_empty() {
            return Err(invalid("sqlite url names no data directory".into()));
        }
        if dir.contains('?') || dir.starts_with(":memory:") {
            return Err(invalid(format!(
                "sqlite url must be a plain data directory, got {dir:?} \
                 (no query parameters, no in-memory database: every connection must see the same files)"
            )));
        }
        Ok(Self::SqliteDir(PathBuf::from(dir)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn postgres_urls_select_postgres() {
        let location = Location::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert!(matches!(location, Location::Postgres(_)));
        let location = Location::parse("postgresql://u:p@db/fudian").unwrap();
        assert!(matches!(location, Location::Postgres(_)));
    }

    #[test]
    fn sqlite_urls_name_a_data_directory() {
        let location = Location::parse("sqlite://./data/fudian").unwrap();
        assert!(matches!(location, Location::SqliteDir(dir) if dir == Path::new("./data/fudian")));
        let location = Location::parse("sqlite:///var/lib/fudian").unwrap();
        assert!(
            matches!(location, Location::SqliteDir(dir) if dir == Path::new("/var/lib/fudian"))
        );
    }

    #[test]
    fn unknown_schemes_and_in_memory_sqlite_are_rejected_with_a_reason() {
        let error = Location::parse("mysql://localhost/db").unwrap_err();
        assert!(
            error.to_string().contains("unknown scheme \"mysql\""),
            "{error}"
        );
        let error = Location::parse("sqlite::memory:").unwrap_err();
        assert!(error.to_string().contains("in-memory"), "{error}");
        let error = Location::parse("sqlite://").unwrap_err();
        assert!(error.to_string().contains("no data directory"), "{error}");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = StoreConfig::new("postgres://fudian:hunter2@db/fudian");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres:<redacted>"), "{printed}");
    }
}
