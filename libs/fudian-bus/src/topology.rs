//! The whole broker topology in one place: the fudian exchanges, the per-consumer queue
//! layout (main queue, delay queues, dead-letter exchange and queue) and the one function that
//! declares it on RabbitMQ. Every option carries the reason it is set.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::BusError;

/// Field events from SCADA, fault indicators, meters, trouble calls and crews.
pub const FIELD_EXCHANGE: &str = "fudian.field";
/// Incidents detected, updated, restored, cancelled.
pub const OUTAGE_EXCHANGE: &str = "fudian.outage";
/// Work orders and restoration time estimates.
pub const DISPATCH_EXCHANGE: &str = "fudian.dispatch";
/// Planned outages.
pub const PLANNED_EXCHANGE: &str = "fudian.planned";

/// RabbitMQ's quorum queues redeliver a message at most this often (return to the queue after
/// a consumer died) before dead-lettering it: it stops a message that kills its consumer from
/// looping forever. The default from 4.0 on; set explicitly so 3.x behaves the same.
pub const DELIVERY_LIMIT: i64 = 20;

/// A durable topic exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSpec {
    /// Exchange name, e.g. `fudian.field`.
    pub name: String,
}

impl ExchangeSpec {
    /// A durable topic exchange with this name.
    pub fn topic(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// The four fudian exchanges, optionally prefixed (tests use a random prefix per run).
    pub fn fudian(prefix: &str) -> Vec<Self> {
        [
            FIELD_EXCHANGE,
            OUTAGE_EXCHANGE,
            DISPATCH_EXCHANGE,
            PLANNED_EXCHANGE,
        ]
        .into_iter()
        .map(|name| Self::topic(format!("{prefix}{name}")))
        .collect()
    }
}

/// One durable quorum queue, for one consuming service and purpose, with its bindings and
/// retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue name, e.g. `outage.field-events`.
    pub name: String,
    /// `(exchange, routing key pattern)` pairs; patterns use `*` (one word) and `#` (any words).
    pub bindings: Vec<(String, String)>,
    /// Deliveries handed out but not yet acknowledged, at most.
    pub prefetch: u16,
    /// Tries in all (first delivery included) before a transiently failing message is
    /// dead-lettered.
    pub max_attempts: u32,
    /// Delay before retry 1, 2, ...; the last one repeats.
    pub retry_delays: Vec<Duration>,
}

impl QueueSpec {
    /// A queue with prefetch 200, 5 attempts and delays of 1 s, 10 s, 1 min, 5 min.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bindings: Vec::new(),
            prefetch: 200,
            max_attempts: 5,
            retry_delays: [1, 10, 60, 300]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }

    /// Adds a binding.
    pub fn bind(mut self, exchange: impl Into<String>, pattern: impl Into<String>) -> Self {
        self.bindings.push((exchange.into(), pattern.into()));
        self
    }

    /// Sets the prefetch.
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// Sets the number of tries before dead-lettering.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the retry delays.
    pub fn retry_delays(mut self, retry_delays: Vec<Duration>) -> Self {
        self.retry_delays = retry_delays;
        self
    }

    /// The dead-letter queue: `<queue>.dlq`.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.name)
    }

    /// The dead-letter exchange of this queue: `<queue>.dlx`.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.name)
    }

    /// The delay queue for a retry delay: `<queue>.retry.<ms>ms`. The delay is in the name so
    /// that changing the delays declares new queues instead of conflicting with old ones.
    pub fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.retry.{}ms", self.name, delay.as_millis())
    }

    /// The delay before retry number `retry` (1-based); the last delay repeats.
    pub fn delay_before_retry(&self, retry: u32) -> Duration {
        let index = usize::try_from(retry.saturating_sub(1)).unwrap_or(usize::MAX);
        self.retry_delays
            .get(index)
            .or(self.retry_delays.last())
            .copied()
            .unwrap_or_default()
    }

    /// Checks the spec can be declared.
    pub fn validate(&self) -> Result<(), BusError> {
        let what = || format!("queue spec {}", self.name);
        if self.name.is_empty() {
            return Err(BusError::invalid("queue spec", "name is empty"));
        }
        // The longest derived name must fit an AMQP short string (255 bytes).
        if self.name.len() > 200 {
            return Err(BusError::invalid(what(), "name longer than 200 bytes"));
        }
        if self.prefetch == 0 {
            return Err(BusError::invalid(what(), "prefetch is 0"));
        }
        if self.max_attempts == 0 {
            return Err(BusError::invalid(what(), "max_attempts is 0"));
        }
        if self.max_attempts > 1 && self.retry_delays.is_empty() {
            return Err(BusError::invalid(
                what(),
                "retry_delays is empty but max_attempts allows retries",
            ));
        }
        if let Some((exchange, pattern)) = self
            .bindings
            .iter()
            .find(|(exchange, pattern)| exchange.is_empty() || pattern.len() > 255)
        {
            return Err(BusError::invalid(
                what(),
                format!(
                    "binding ({exchange:?}, {pattern:?}) needs a named exchange and a pattern of at most 255 bytes"
                ),
            ));
        }
        Ok(())
    }

    /// The distinct retry delays, each with its own delay queue.
    pub(crate) fn distinct_delays(&self) -> Vec<Duration> {
        let mut delays = self.retry_delays.clone();
        delays.sort();
        delays.dedup();
        delays
    }
}

fn short(value: &str) -> Result<ShortString, BusError> {
    ShortString::try_new(value).map_err(|_| BusError::invalid(value, "longer than 255 bytes"))
}

fn long(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Arguments shared by every quorum queue we declare.
fn quorum_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    // Replicated, durable, and about twice as fast as classic queues here (limits.md).
    arguments.insert("x-queue-type".into(), long("quorum"));
    arguments
}

/// Declares exchanges, then queues with their delay queues, dead-letter exchange and queue,
/// then bindings. Declarations are idempotent, so this runs on every (re)connect.
pub(crate) async fn declare(
    channel: &Channel,
    exchanges: &[ExchangeSpec],
    queues: &[QueueSpec],
) -> Result<(), BusError> {
    let durable_exchange = ExchangeDeclareOptions {
        // Survive a broker restart: bindings of durable queues need it.
        durable: true,
        // Services come and go; the exchange must not vanish with the last binding.
        auto_delete: false,
        ..ExchangeDeclareOptions::default()
    };
    let durable_queue = QueueDeclareOptions {
        // Messages are persistent; the queue must outlive a broker restart too.
        durable: true,
        // Competing consumers from several replicas share the queue.
        exclusive: false,
        // An idle service must not lose its queue (and the messages meant for it).
        auto_delete: false,
        ..QueueDeclareOptions::default()
    };
    for exchange in exchanges {
        channel
            .exchange_declare(
                short(&exchange.name)?,
                // Routing keys are event types (`scada.switch.opened`); consumers pick by pattern.
                ExchangeKind::Topic,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
    }
    for queue in queues {
        queue.validate()?;
        let dlx = queue.dead_letter_exchange();
        let dlq = queue.dead_letter_queue();
        channel
            .exchange_declare(
                short(&dlx)?,
                // Everything this queue dead-letters lands in its DLQ, whatever the routing key,
                // so the original routing key is kept.
                ExchangeKind::Fanout,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
        // The DLQ is kept until an operator looks at it: no TTL, no limit, no DLX of its own.
        channel
            .queue_declare(short(&dlq)?, durable_queue, quorum_arguments())
            .await?;
        channel
            .queue_bind(
                short(&dlq)?,
                short(&dlx)?,
                short("")?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let mut main = quorum_arguments();
        // Messages the broker itself gives up on (delivery limit) still end up in the DLQ.
        main.insert("x-dead-letter-exchange".into(), long(&dlx));
        // A message that crashes its consumer is not redelivered forever (RabbitMQ 4 default).
        main.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        // Broker-side dead-lettering waits for the DLQ to confirm instead of dropping on failure.
        main.insert("x-dead-letter-strategy".into(), long("at-least-once"));
        // Required by at-least-once dead-lettering; no length limit is set, so it never rejects.
        main.insert("x-overflow".into(), long("reject-publish"));
        channel
            .queue_declare(short(&queue.name)?, durable_queue, main)
            .await?;

        for delay in queue.distinct_delays() {
            let mut delayed = quorum_arguments();
            let ttl_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            // The delay: a retried message waits here until its TTL expires...
            delayed.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl_ms));
            // ...then is dead-lettered through the default exchange...
            delayed.insert("x-dead-letter-exchange".into(), long(""));
            // ...straight back to the main queue (no re-routing to other consumers' queues).
            delayed.insert("x-dead-letter-routing-key".into(), long(&queue.name));
            // The expiry hop must not lose the message.
            delayed.insert("x-dead-letter-strategy".into(), long("at-least-once"));
            // Required by at-least-once dead-lettering.
            delayed.insert("x-overflow".into(), long("reject-publish"));
            channel
                .queue_declare(short(&queue.retry_queue(delay))?, durable_queue, delayed)
                .await?;
        }

        for (exchange, pattern) in &queue.bindings {
            channel
                .queue_bind(
                    short(&queue.name)?,
                    short(exchange)?,
                    short(pattern)?,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_retry_delay_repeats_for_later_retries() {
        let spec = QueueSpec::new("q")
            .retry_delays(vec![Duration::from_millis(100), Duration::from_millis(500)]);
        assert_eq!(spec.delay_before_retry(1), Duration::from_millis(100));
        assert_eq!(spec.delay_before_retry(2), Duration::from_millis(500));
        assert_eq!(spec.delay_before_retry(7), Duration::from_millis(500));
    }

    #[test]
    fn a_spec_allowing_retries_without_delays_is_rejected() {
        let spec = QueueSpec::new("q").max_attempts(3).retry_delays(vec![]);
        let error = spec.validate().unwrap_err();
        assert!(error.to_string().contains("retry_delays"), "{error}");
    }

    #[test]
    fn derived_names_follow_the_queue_name() {
        let spec = QueueSpec::new("outage.field-events");
        assert_eq!(spec.dead_letter_queue(), "outage.field-events.dlq");
        assert_eq!(
            spec.retry_queue(Duration::from_secs(1)),
            "outage.field-events.retry.1000ms"
        );
        assert_eq!(ExchangeSpec::fudian("").len(), 4);
    }
}
