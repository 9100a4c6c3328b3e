//! A service's unit of work: its own SQL (through `as_postgres`/`as_sqlite`), the inbox
//! mark and the outbox rows, committed or rolled back together.

use std::sync::Arc;

use fudian_events::wire::WireMessage;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use tokio::sync::watch;

use crate::{StoreError, outbox};

/// An open transaction. Dropping it without [`Tx::commit`] rolls it back.
#[derive(Debug)]
pub struct Tx {
    inner: TxInner,
    enqueued: usize,
    outbox_signal: Arc<watch::Sender<u64>>,
}

#[derive(Debug)]
enum TxInner {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

impl Tx {
    pub(crate) fn postgres(
        transaction: Transaction<'static, Postgres>,
        outbox_signal: Arc<watch::Sender<u64>>,
    ) -> Self {
        Self {
            inner: TxInner::Postgres(transaction),
            enqueued: 0,
            outbox_signal,
        }
    }

    pub(crate) fn sqlite(
        transaction: Transaction<'static, Sqlite>,
        outbox_signal: Arc<watch::Sender<u64>>,
    ) -> Self {
        Self {
            inner: TxInner::Sqlite(transaction),
            enqueued: 0,
            outbox_signal,
        }
    }

    /// Records that `consumer` processed `event_id`. Returns `true` the first time and
    /// `false` if it was already recorded (a redelivery: skip the effect). The mark only
    /// sticks if this transaction commits.
    pub async fn mark_processed(
        &mut self,
        consumer: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        const SQL_PG: &str = "INSERT INTO platform.inbox (consumer, event_id) VALUES ($1, $2) \
                              ON CONFLICT DO NOTHING";
        const SQL_SQLITE: &str = "INSERT INTO platform.inbox (consumer, event_id) VALUES (?, ?) \
                                  ON CONFLICT DO NOTHING";
        let inserted = match &mut self.inner {
            TxInner::Postgres(tx) => sqlx::query(SQL_PG)
                .bind(consumer)
                .bind(event_id)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            TxInner::Sqlite(tx) => sqlx::query(SQL_SQLITE)
                .bind(consumer)
                .bind(event_id)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        };
        Ok(inserted == 1)
    }

    /// [`Self::mark_processed`] for many events in one statement (PostgreSQL) — a consumer
    /// that marks one row per event pays a round trip each. Returns, per id in order, `true`
    /// the first time it is recorded; an id repeated within `event_ids` is `true` once.
    pub async fn mark_processed_all(
        &mut self,
        consumer: &str,
        event_ids: &[&str],
    ) -> Result<Vec<bool>, StoreError> {
        match &mut self.inner {
            TxInner::Postgres(tx) => {
                let inserted: Vec<String> = sqlx::query_scalar(
                    "INSERT INTO platform.inbox (consumer, event_id) \
                     SELECT $1, id FROM UNNEST($2::text[]) AS ids (id) \
                     ON CONFLICT DO NOTHING RETURNING event_id",
                )
                .bind(consumer)
                .bind(event_ids)
                .fetch_all(&mut **tx)
                .await?;
                let mut fresh: std::collections::HashSet<String> = inserted.into_iter().collect();
                Ok(event_ids.iter().map(|id| fresh.remove(*id)).collect())
            }
            TxInner::Sqlite(_) => {
                let mut marks = Vec::with_capacity(event_ids.len());
                for id in event_ids {
                    marks.push(self.mark_processed(consumer, id).await?);
                }
                Ok(marks)
            }
        }
    }

    /// Adds `message` to the outbox; the relay publishes it after this transaction
    /// commits. Headers (`traceparent`, ...) are stored and published unchanged.
    pub async fn enqueue(&mut self, message: &WireMessage) -> Result<(), StoreError> {
        self.enqueue_all(std::slice::from_ref(message)).await
    }

    /// Adds several messages in order (batched into multi-row inserts on PostgreSQL).
    pub async fn enqueue_all(&mut self, messages: &[WireMessage]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        match &mut self.inner {
            TxInner::Postgres(tx) => outbox::enqueue_postgres(tx, messages).await?,
            TxInner::Sqlite(tx) => outbox::enqueue_sqlite(tx, messages).await?,
        }
        self.enqueued += messages.len();
        metrics::counter!("fudian_outbox_enqueued_total").increment(messages.len() as u64);
        Ok(())
    }

    /// Commits, then wakes this process's relay if anything was enqueued (other
    /// processes hear PostgreSQL's NOTIFY).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Postgres(tx) => tx.commit().await?,
            TxInner::Sqlite(tx) => tx.commit().await?,
        }
        if self.enqueued > 0 {
            self.outbox_signal
                .send_modify(|generation| *generation += 1);
        }
        Ok(())
    }

    /// Rolls back explicitly (dropping the `Tx` does the same, without waiting).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Postgres(tx) => tx.rollback().await?,
            TxInner::Sqlite(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// The PostgreSQL connection of this transaction, for the service's own SQL;
    /// `None` on the embedded store.
    pub fn as_postgres(&mut self) -> Option<&mut PgConnection> {
        match &mut self.inner {
            TxInner::Postgres(tx) => Some(&mut **tx),
            TxInner::Sqlite(_) => None,
        }
    }

    /// The SQLite connection of this transaction (`schema.table` names work: each schema
    /// is an attached file); `None` on PostgreSQL.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => Some(&mut **tx),
            TxInner::Postgres(_) => None,
        }
    }
}
