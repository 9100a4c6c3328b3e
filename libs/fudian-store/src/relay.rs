//! The outbox relay: workers that claim committed outbox rows in batches, hand each batch
//! to an [`OutboxSink`] (the bus, with publisher confirms) and delete the rows only once
//! the sink confirmed. At-least-once: a failure leaves the rows for the next attempt.
//!
//! PostgreSQL runs several workers that claim with `FOR UPDATE SKIP LOCKED` and hold the
//! claim's transaction open while publishing; the embedded store runs one worker.
//! Workers wake on LISTEN/NOTIFY (and on local commits), with a poll interval fallback.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fudian_events::wire::WireMessage;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::outbox::{self, OutboxRow};
use crate::{Backend, SinkError, Store, StoreError};

/// Where the relay publishes: implemented for the bus by the binary, and by test doubles.
pub trait OutboxSink: Send + Sync + 'static {
    /// Publish every message, in order, and return only when the broker confirmed all of
    /// them. An error means none of them count as sent: the whole batch is retried.
    fn publish_batch(
        &self,
        messages: Vec<WireMessage>,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Concurrent workers on PostgreSQL; the embedded store always uses one.
    pub workers: usize,
    /// Rows claimed, published and deleted per transaction.
    pub batch_size: u32,
    /// Fallback scan interval when no notification arrives.
    pub poll_interval: Duration,
    /// Upper bound of the exponential pause after a failed batch.
    pub max_backoff: Duration,
    /// Whether [`OutboxRelay::run`] drains the outbox (like [`OutboxRelay::flush`]) after
    /// shutdown, before it returns.
    pub drain_on_shutdown: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            batch_size: 200,
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            drain_on_shutdown: true,
        }
    }
}

/// A relay bound to a store and a sink. Cheap to clone: clones share the sink.
pub struct OutboxRelay<S> {
    core: Arc<Core<S>>,
}

impl<S> Clone for OutboxRelay<S> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

struct Core<S> {
    store: Store,
    sink: S,
    config: RelayConfig,
}

impl<S: OutboxSink> OutboxRelay<S> {
    pub fn new(store: Store, sink: S, config: RelayConfig) -> Self {
        Self {
            core: Arc::new(Core {
                store,
                sink,
                config,
            }),
        }
    }

    /// The sink this relay publishes to.
    pub fn sink(&self) -> &S {
        &self.core.sink
    }

    /// The number of workers `run` starts: the configured count on PostgreSQL, one on the
    /// embedded store (SQLite has a single writer and no SKIP LOCKED).
    pub fn worker_count(&self) -> usize {
        match self.core.store.backend() {
            Backend::Postgres(_) => self.core.config.workers.max(1),
            Backend::Sqlite(_) => 1,
        }
    }

    /// Relays until `shutdown` is cancelled. Then workers stop claiming, in-flight batches
    /// finish, and (with `drain_on_shutdown`) the remaining rows are flushed. Sink and
    /// database failures are logged and retried with backoff, never returned; the result is
    /// an error only if a worker panicked or the final drain failed.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let stop = shutdown.child_token();
        let mut tasks = JoinSet::new();
        for worker in 0..self.worker_count() {
            let relay = self.clone();
            let stop = stop.clone();
            tasks.spawn(async move { relay.work(worker, stop).await });
        }
        if let Backend::Postgres(pool) = self.core.store.backend() {
            tasks.spawn(listen_for_notifications(
                pool.clone(),
                Arc::clone(self.core.store.outbox_signal()),
                stop.clone(),
            ));
        }
        tracing::info!(
            outbox.workers = self.worker_count(),
            outbox.batch_size = self.core.config.batch_size,
            "outbox relay started"
        );
        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                stop.cancel();
                failure.get_or_insert(StoreError::Worker(error));
            }
        }
        if let Some(error) = failure {
            return Err(error);
        }
        if self.core.config.drain_on_shutdown {
            let drained = self.flush().await?;
            tracing::info!(outbox.drained = drained, "outbox relay drained at shutdown");
        }
        tracing::info!("outbox relay stopped");
        Ok(())
    }

    /// Publishes batches until the outbox is empty (waiting for batches other workers
    /// have in flight) and returns how many messages this call published. Stops at the
    /// first sink or database error. Rows committed meanwhile are drained too.
    pub async fn flush(&self) -> Result<u64, StoreError> {
        let mut published = 0_u64;
        loop {
            let relayed = self.relay_batch().await?;
            published += relayed as u64;
            if relayed == 0 {
                if self.core.store.outbox_pending().await? == 0 {
                    return Ok(published);
                }
                // Rows locked by another worker's in-flight batch: let it finish.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// Claims one batch, publishes it and deletes it. Returns the number of messages
    /// published (0 when nothing was claimable).
    pub async fn relay_batch(&self) -> Result<usize, StoreError> {
        let started = Instant::now();
        let limit = self.core.config.batch_size.max(1);
        let relayed = match self.core.store.backend() {
            Backend::Postgres(pool) => self.relay_postgres_batch(pool, limit).await,
            Backend::Sqlite(pool) => {
                // One relayer at a time per process: the range delete relies on it.
                let _only_relayer = self.core.store.sqlite_relay_lock().lock().await;
                let rows = {
                    let mut connection = pool.acquire().await?;
                    outbox::peek_sqlite(&mut connection, limit).await?
                };
                match (
                    rows.first().map(|row| row.id),
                    rows.last().map(|row| row.id),
                ) {
                    (Some(first), Some(last)) => {
                        let count = rows.len();
                        self.publish(rows).await?;
                        let mut connection = pool.acquire().await?;
                        outbox::delete_sqlite_range(&mut connection, first, last).await?;
                        Ok(count)
                    }
                    _ => Ok(0),
                }
            }
        };
        if let Ok(count) = relayed
            && count > 0
        {
            metrics::counter!("fudian_outbox_published_total").increment(count as u64);
            metrics::histogram!("fudian_outbox_batch_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        relayed
    }

    async fn relay_postgres_batch(&self, pool: &PgPool, limit: u32) -> Result<usize, StoreError> {
        // Asynchronous commit for the relay's own deletions: a crash can only undo a
        // deletion, and the rows then go out again, which at-least-once already allows.
        // It spares one WAL flush per batch; the services' enqueues stay synchronous.
        let mut transaction = pool
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await?;
        let rows = outbox::claim_postgres(&mut transaction, limit).await?;
        if rows.is_empty() {
            transaction.rollback().await?;
            return Ok(0);
        }
        let count = rows.len();
        if let Err(error) = self.publish(rows).await {
            // Put the rows back now rather than when the connection is reused.
            if let Err(rollback_error) = transaction.rollback().await {
                tracing::debug!(error = %rollback_error, "outbox rollback after sink failure failed");
            }
            return Err(error);
        }
        // A failed commit after a confirmed publish means these go out again: at-least-once.
        transaction.commit().await?;
        Ok(count)
    }

    async fn publish(&self, rows: Vec<OutboxRow>) -> Result<(), StoreError> {
        let messages = rows.into_iter().map(|row| row.message).collect();
        self.core
            .sink
            .publish_batch(messages)
            .await
            .map_err(|error| {
                metrics::counter!("fudian_outbox_sink_failures_total").increment(1);
                StoreError::from(error)
            })
    }

    async fn work(&self, worker: usize, stop: CancellationToken) {
        let config = &self.core.config;
        let mut wake = self.core.store.outbox_signal().subscribe();
        let mut backoff = config.poll_interval.min(Duration::from_millis(100));
        while !stop.is_cancelled() {
            // Mark the current generation seen before claiming, so a commit that lands
            // during the claim still wakes us afterwards.
            wake.borrow_and_update();
            // Not raced against `stop`: an in-flight batch always finishes.
            match self.relay_batch().await {
                Ok(count) if count == config.batch_size.max(1) as usize => {
                    backoff = config.poll_interval.min(Duration::from_millis(100));
                }
                Ok(_) => {
                    backoff = config.poll_interval.min(Duration::from_millis(100));
                    tokio::select! {
                        () = stop.cancelled() => {}
                        changed = wake.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(config.poll_interval).await;
                            }
                        }
                        () = tokio::time::sleep(config.poll_interval) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        outbox.worker = worker,
                        error = %error,
                        retry_in_ms = backoff.as_millis() as u64,
                        "outbox batch failed; its rows stay pending"
                    );
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
    }
}

/// Bumps the local wake signal on every NOTIFY from any process, reconnecting as needed.
async fn listen_for_notifications(
    pool: PgPool,
    signal: Arc<watch::Sender<u64>>,
    stop: CancellationToken,
) {
    let wake = || signal.send_modify(|generation| *generation += 1);
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = tokio::select! {
            () = stop.cancelled() => return,
            connected = listen(&pool) => connected,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64,
                    "outbox relay cannot LISTEN; polling meanwhile");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Rows may have been committed while nobody listened.
        wake();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                received = listener.recv() => match received {
                    Ok(_) => wake(),
                    Err(error) => {
                        tracing::warn!(error = %error, "outbox LISTEN connection lost; reconnecting");
                        break;
                    }
                },
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(outbox::NOTIFY_CHANNEL).await?;
    Ok(listener)
}
