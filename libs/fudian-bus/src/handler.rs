//! What a service sees of a consumed message: [`Delivery`], the [`Handler`] and
//! [`BatchHandler`] traits, and [`HandlerError`], which decides between retry and dead letter.

use std::future::Future;

use fudian_events::wire::WireMessage;

/// One consumed message, with the broker's bookkeeping translated into plain fields.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message as published (exchange and routing key are the original ones, also on retries).
    pub message: WireMessage,
    /// The broker delivered this message before and it was not acknowledged (a consumer died
    /// or the connection dropped): the effect may already have happened.
    pub redelivered: bool,
    /// 1 on the first try, then 2, 3, ... for each delayed retry (header `x-fudian-attempt`).
    pub attempt: u32,
    /// Queue the message came from.
    pub queue: String,
    /// Span of this delivery, a child of the publisher's span when the headers carry a
    /// `traceparent`. Single-message handlers already run inside it; batch handlers may enter it.
    pub span: tracing::Span,
}

/// Why a handler did not finish a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again later (database down, provider timeout): retried with growing delay
    /// up to the queue's `max_attempts`, then dead-lettered.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will never succeed (undecodable body, unknown schema version): dead-lettered at once.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl HandlerError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The reason text, stored in the dead letter's `x-fudian-error` header.
    pub fn reason(&self) -> &str {
        match self {
            Self::Transient(reason) | Self::Permanent(reason) => reason,
        }
    }
}

/// Handles one delivery at a time (several run concurrently, up to the queue's prefetch).
///
/// Return `Ok` only after the effect is durable (the database transaction committed): the
/// delivery is acknowledged right after.
pub trait Handler: Send + Sync + 'static {
    /// Process one delivery.
    fn handle(&self, delivery: Delivery) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn handle(&self, delivery: Delivery) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self(delivery)
    }
}

/// Handles deliveries in batches (one database transaction for many events).
///
/// Returns one outcome per delivery, in the same order. A result of the wrong length counts as
/// a transient failure of the whole batch.
pub trait BatchHandler: Send + Sync + 'static {
    /// Process a batch of deliveries.
    fn handle_batch(
        &self,
        deliveries: Vec<Delivery>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send;
}

impl<F, Fut> BatchHandler for F
where
    F: Fn(Vec<Delivery>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<(), HandlerError>>> + Send,
{
    fn handle_batch(
        &self,
        deliveries: Vec<Delivery>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send {
        self(deliveries)
    }
}
