//! fudian-bus: the message bus every service publishes to and consumes from.
//!
//! Two backends behind one type, [`Bus`]: RabbitMQ through lapin ([`RabbitBus`]: quorum
//! queues, publisher confirms, delayed retries through TTL queues, dead-letter queues,
//! reconnection) and an in-process broker with the same semantics ([`InProcessBus`], for the
//! embedded mode and fast tests). Services see [`WireMessage`], [`Delivery`], [`Handler`] and
//! [`BusError`], never lapin types. It is not the outbox (fudian-store) nor the event types
//! (fudian-events).
//!
//! Parts: `topology` (exchanges and queues, declared in one place), `handler` (what services
//! implement), `envelope` (retry/dead-letter decisions, trace context, metrics, shared by both
//! backends), `rabbit`, `in_process`.

pub mod ceiling;
mod envelope;
mod error;
mod handler;
mod in_process;
mod rabbit;
mod topology;

use std::time::Duration;

pub use envelope::{
    ATTEMPT_HEADER, ERROR_HEADER, EXCHANGE_HEADER, QUEUE_HEADER, ROUTING_KEY_HEADER,
    TRACEPARENT_HEADER,
};
pub use error::BusError;
pub use fudian_events::wire::WireMessage;
pub use handler::{BatchHandler, Delivery, Handler, HandlerError};
pub use in_process::InProcessBus;
pub use rabbit::{RabbitBus, RabbitConfig};
pub use tokio_util::sync::CancellationToken;
pub use topology::{
    DELIVERY_LIMIT, DISPATCH_EXCHANGE, ExchangeSpec, FIELD_EXCHANGE, OUTAGE_EXCHANGE,
    PLANNED_EXCHANGE, QueueSpec,
};

/// The bus a service is given: RabbitMQ in production, in-process in the embedded mode.
#[derive(Debug, Clone)]
pub enum Bus {
    /// RabbitMQ through lapin.
    Rabbit(RabbitBus),
    /// In-memory broker in this process.
    InProcess(InProcessBus),
}

impl Bus {
    /// Connects to RabbitMQ at `url` (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`); fails if
    /// the broker stays unreachable for the configured connect attempts.
    pub async fn connect_rabbit(url: &str, config: RabbitConfig) -> Result<Self, BusError> {
        Ok(Self::Rabbit(RabbitBus::connect(url, config).await?))
    }

    /// A fresh in-process bus.
    pub fn in_process() -> Self {
        Self::InProcess(InProcessBus::new())
    }

    /// Declares exchanges and queues (idempotent); RabbitMQ redeclares them after a reconnect.
    pub async fn declare(
        &self,
        exchanges: &[ExchangeSpec],
        queues: &[QueueSpec],
    ) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => bus.declare(exchanges, queues).await,
            Self::InProcess(bus) => bus.declare(exchanges, queues),
        }
    }

    /// Publishes one message and waits for the broker's confirm. The current span's trace
    /// context is added unless the headers carry a `traceparent` already.
    pub async fn publish(&self, message: WireMessage) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => bus.publish(message).await,
            Self::InProcess(bus) => bus.publish(message).await,
        }
    }

    /// Publishes all messages, then waits for all confirms (many in flight at once).
    /// `Ok` means every message was confirmed; messages unconfirmed when the connection dropped
    /// are published again (at-least-once). A permanent failure of one message (unroutable)
    /// does not stop the others: they are published and confirmed, and the first permanent
    /// error is returned. An undeclared exchange fails the whole batch before anything is sent.
    pub async fn publish_batch(&self, messages: Vec<WireMessage>) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => bus.publish_batch(messages).await,
            Self::InProcess(bus) => bus.publish_batch(messages).await,
        }
    }

    /// Declares `spec` and consumes its queue until `shutdown` is cancelled; then stops taking
    /// deliveries, lets in-flight handlers finish and returns. A delivery is acknowledged only
    /// after its handler returned `Ok`; transient errors are retried with the spec's delays,
    /// then dead-lettered; permanent errors are dead-lettered at once.
    pub async fn consume<H: Handler>(
        &self,
        spec: &QueueSpec,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => bus.consume(spec, handler, shutdown).await,
            Self::InProcess(bus) => bus.consume(spec, handler, shutdown).await,
        }
    }

    /// Like [`Bus::consume`], but hands the handler batches of up to `max_batch` deliveries
    /// (bounded by the prefetch), waiting at most `max_wait` after the first one.
    pub async fn consume_batch<H: BatchHandler>(
        &self,
        spec: &QueueSpec,
        max_batch: usize,
        max_wait: Duration,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => {
                bus.consume_batch(spec, max_batch, max_wait, handler, shutdown)
                    .await
            }
            Self::InProcess(bus) => {
                bus.consume_batch(spec, max_batch, max_wait, handler, shutdown)
                    .await
            }
        }
    }

    /// [`Bus::consume`] until `shutdown`, restarting a consumer that failed (the broker stayed
    /// away longer than the reconnection patience, a channel error) after a pause, so a
    /// service never stops consuming while it runs.
    pub async fn consume_until_shutdown<H: Handler + Clone>(
        &self,
        spec: &QueueSpec,
        handler: H,
        shutdown: CancellationToken,
    ) {
        restarting(spec, &shutdown, || {
            self.consume(spec, handler.clone(), shutdown.clone())
        })
        .await;
    }

    /// [`Bus::consume_batch`] until `shutdown`, restarting like [`Bus::consume_until_shutdown`].
    pub async fn consume_batch_until_shutdown<H: BatchHandler + Clone>(
        &self,
        spec: &QueueSpec,
        max_batch: usize,
        max_wait: Duration,
        handler: H,
        shutdown: CancellationToken,
    ) {
        restarting(spec, &shutdown, || {
            self.consume_batch(spec, max_batch, max_wait, handler.clone(), shutdown.clone())
        })
        .await;
    }

    /// Up to `max` dead letters of `queue`, oldest first, left in the DLQ. Their exchange and
    /// routing key are the original ones; headers carry `x-fudian-error`, `x-fudian-attempt`.
    pub async fn dead_letters(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<WireMessage>, BusError> {
        match self {
            Self::Rabbit(bus) => bus.dead_letters(queue, max).await,
            Self::InProcess(bus) => bus.dead_letters(queue, max).await,
        }
    }

    /// Deletes a queue with its delay queues, dead-letter exchange and DLQ (tests, admin).
    pub async fn delete_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => bus.delete_queue(spec).await,
            Self::InProcess(bus) => bus.delete_queue(spec).await,
        }
    }

    /// Deletes an exchange (tests, admin); its bindings go with it.
    pub async fn delete_exchange(&self, name: &str) -> Result<(), BusError> {
        match self {
            Self::Rabbit(bus) => bus.delete_exchange(name).await,
            Self::InProcess(bus) => bus.delete_exchange(name).await,
        }
    }

    /// Closes the bus: no more publishes; RabbitMQ connections are closed.
    pub async fn close(&self) {
        match self {
            Self::Rabbit(bus) => bus.close().await,
            Self::InProcess(bus) => bus.close().await,
        }
    }
}

/// A batch handler must return one outcome per delivery; anything else fails the whole batch
/// transiently (so it is retried rather than half-acknowledged).
pub(crate) fn check_batch_outcomes(
    outcomes: Vec<Result<(), HandlerError>>,
    deliveries: usize,
) -> Vec<Result<(), HandlerError>> {
    if outcomes.len() == deliveries {
        return outcomes;
    }
    let reason = format!(
        "batch handler returned {} outcomes for {deliveries} deliveries",
        outcomes.len()
    );
    tracing::error!(error = %reason, "batch handler broke its contract");
    vec![Err(HandlerError::Transient(reason)); deliveries]
}

/// Runs `consumer` until it ends cleanly or `shutdown`, starting it again a second after
/// each failure.
async fn restarting<F, Fut>(spec: &QueueSpec, shutdown: &CancellationToken, mut consumer: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), BusError>>,
{
    const PAUSE: Duration = Duration::from_secs(1);
    while !shutdown.is_cancelled() {
        match consumer().await {
            Ok(()) => break,
            Err(error) => {
                tracing::error!(error = %error, queue = %spec.name, "consumer stopped, restarting");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(PAUSE) => {}
                }
            }
        }
    }
}
