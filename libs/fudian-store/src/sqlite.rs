//! The embedded store's connection setup: one SQLite file per schema in the data
//! directory, ATTACHed on every connection under the schema's name so the services'
//! `schema.table` SQL reads the same on SQLite as on PostgreSQL.
//!
//! Rollback-journal mode (TRUNCATE), not WAL: a service's transaction spans its own
//! schema file and `platform.db` (inbox, outbox), and SQLite commits such a transaction
//! atomically across attached files only with a rollback journal and its super-journal;
//! in WAL mode a crash in the middle of the commit could keep one file's half
//! (<https://www.sqlite.org/lang_attach.html>). The price is that readers wait for a
//! committing writer, which the busy timeout covers at the embedded store's scale.

use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, SqlitePool};

use crate::{StoreConfig, StoreError};

/// Every schema a migration may write to. A new service adds its schema here (and its
/// tables in `migrations/sqlite/`); SQLite cannot ATTACH from inside a migration.
pub const SCHEMAS: &[&str] = &["platform", "outage", "dispatch", "notify", "planner"];

/// The main database file: holds only sqlx's migration ledger.
const MAIN_FILE: &str = "fudian.db";

pub(crate) async fn connect(config: &StoreConfig, dir: &Path) -> Result<SqlitePool, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let attachments: Arc<Vec<(&'static str, String)>> = Arc::new(
        SCHEMAS
            .iter()
            .map(|schema| {
                let file = dir.join(format!("{schema}.db"));
                file.to_str()
                    .map(|path| (*schema, path.to_owned()))
                    .ok_or_else(|| StoreError::InvalidUrl {
                        reason: format!("data directory {} is not valid UTF-8", dir.display()),
                    })
            })
            .collect::<Result<_, _>>()?,
    );
    let options = SqliteConnectOptions::new()
        .filename(dir.join(MAIN_FILE))
        .create_if_missing(true)
        // See the module doc: a rollback journal keeps multi-file commits atomic; FULL
        // syncs the super-journal so that holds across power loss too.
        .journal_mode(SqliteJournalMode::Truncate)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(config.busy_timeout)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .after_connect(move |connection, _meta| {
            let attachments = Arc::clone(&attachments);
            Box::pin(async move {
                for (schema, path) in attachments.iter() {
                    // The schema name is one of our constants, never input: safe to format.
                    sqlx::query(&format!("ATTACH DATABASE ? AS {schema}"))
                        .bind(path)
                        .execute(&mut *connection)
                        .await?;
                    connection
                        .execute(
                            format!(
                                "PRAGMA {schema}.journal_mode = TRUNCATE; PRAGMA {schema}.synchronous = FULL;"
                            )
                            .as_str(),
                        )
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}
