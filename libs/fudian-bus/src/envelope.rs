//! Backend-independent message handling: the `x-fudian-*` headers, the decision between ack,
//! delayed retry and dead letter, the W3C trace context in headers, and the bus metrics.
//! Both backends go through these functions so they behave the same.

use std::collections::BTreeMap;
use std::time::Duration;

use fudian_events::wire::WireMessage;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::handler::{Delivery, HandlerError};
use crate::topology::QueueSpec;

/// Try number of a delivery, 1-based.
pub const ATTEMPT_HEADER: &str = "x-fudian-attempt";
/// Why a message was dead-lettered.
pub const ERROR_HEADER: &str = "x-fudian-error";
/// Exchange the message was first published to (kept across retries and dead-lettering).
pub const EXCHANGE_HEADER: &str = "x-fudian-exchange";
/// Routing key the message was first published with.
pub const ROUTING_KEY_HEADER: &str = "x-fudian-routing-key";
/// Queue that dead-lettered the message.
pub const QUEUE_HEADER: &str = "x-fudian-queue";
/// W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// What to do with a delivery once its handler returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// Done: acknowledge.
    Ack,
    /// Publish `message` to the delay queue for `delay`, then acknowledge the original.
    Retry {
        delay: Duration,
        message: WireMessage,
    },
    /// Publish `message` to the dead-letter queue, then acknowledge the original.
    DeadLetter { message: WireMessage },
}

/// Decides the fate of `message` (as delivered, original exchange and routing key restored)
/// after try number `attempt` ended with `outcome`.
pub(crate) fn settle(
    spec: &QueueSpec,
    message: &WireMessage,
    attempt: u32,
    outcome: &Result<(), HandlerError>,
) -> Settlement {
    match outcome {
        Ok(()) => Settlement::Ack,
        Err(HandlerError::Transient(_)) if attempt < spec.max_attempts => {
            let mut retried = with_origin(message);
            retried
                .headers
                .insert(ATTEMPT_HEADER.into(), (attempt + 1).to_string());
            Settlement::Retry {
                delay: spec.delay_before_retry(attempt),
                message: retried,
            }
        }
        Err(error) => {
            let mut dead = with_origin(message);
            dead.headers
                .insert(ATTEMPT_HEADER.into(), attempt.to_string());
            dead.headers.insert(ERROR_HEADER.into(), error.to_string());
            dead.headers.insert(QUEUE_HEADER.into(), spec.name.clone());
            Settlement::DeadLetter { message: dead }
        }
    }
}

/// Copies the message, recording its original exchange and routing key in headers, since the
/// broker rewrites both on the way through delay and dead-letter queues.
fn with_origin(message: &WireMessage) -> WireMessage {
    let mut copy = message.clone();
    copy.headers
        .insert(EXCHANGE_HEADER.into(), message.exchange.clone());
    copy.headers
        .insert(ROUTING_KEY_HEADER.into(), message.routing_key.clone());
    copy
}

/// Restores the original exchange and routing key of a message coming back from a delay queue
/// and returns it with its attempt number. Dead letters keep their origin headers.
pub(crate) fn restore_origin(
    mut message: WireMessage,
    keep_origin_headers: bool,
) -> (WireMessage, u32) {
    let (exchange, routing_key) = if keep_origin_headers {
        (
            message.headers.get(EXCHANGE_HEADER).cloned(),
            message.headers.get(ROUTING_KEY_HEADER).cloned(),
        )
    } else {
        (
            message.headers.remove(EXCHANGE_HEADER),
            message.headers.remove(ROUTING_KEY_HEADER),
        )
    };
    if let Some(exchange) = exchange {
        message.exchange = exchange;
    }
    if let Some(routing_key) = routing_key {
        message.routing_key = routing_key;
    }
    let attempt = message
        .headers
        .get(ATTEMPT_HEADER)
        .and_then(|value| value.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    (message, attempt)
}

/// Builds the delivery handed to a handler, with its span parented on the publisher's trace.
pub(crate) fn delivery(
    queue: &str,
    message: WireMessage,
    redelivered: bool,
    attempt: u32,
) -> Delivery {
    let span = tracing::info_span!(
        "bus.deliver",
        messaging.destination = %queue,
        messaging.message.id = %message.message_id,
        messaging.routing_key = %message.routing_key,
        messaging.attempt = attempt,
        messaging.redelivered = redelivered,
    );
    if message.headers.contains_key(TRACEPARENT_HEADER) {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderReader(&message.headers))
        });
        // Fails only when no OpenTelemetry layer is installed: then there is no trace to join.
        let _ = span.set_parent(parent);
    }
    Delivery {
        message,
        redelivered,
        attempt,
        queue: queue.to_owned(),
        span,
    }
}

/// Puts the current span's W3C trace context into the headers, unless they already carry one
/// (the outbox relay passes the stored context of the original request through).
pub(crate) fn inject_trace_context(headers: &mut BTreeMap<String, String>) {
    if headers.contains_key(TRACEPARENT_HEADER) {
        return;
    }
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderMap(headers));
    });
}

struct HeaderMap<'a>(&'a mut BTreeMap<String, String>);

impl Injector for HeaderMap<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct HeaderReader<'a>(&'a BTreeMap<String, String>);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Counters, labelled by exchange or queue only (never by message content).
pub(crate) mod count {
    pub(crate) fn published(exchange: &str, count: u64) {
        metrics::counter!("fudian_bus_published_total", "exchange" => exchange.to_owned())
            .increment(count);
    }

    pub(crate) fn delivered(queue: &str, count: u64) {
        metrics::counter!("fudian_bus_delivered_total", "queue" => queue.to_owned())
            .increment(count);
    }

    pub(crate) fn acked(queue: &str, count: u64) {
        metrics::counter!("fudian_bus_acked_total", "queue" => queue.to_owned()).increment(count);
    }

    pub(crate) fn retried(queue: &str) {
        metrics::counter!("fudian_bus_retried_total", "queue" => queue.to_owned()).increment(1);
    }

    pub(crate) fn dead_lettered(queue: &str) {
        metrics::counter!("fudian_bus_dead_lettered_total", "queue" => queue.to_owned())
            .increment(1);
    }
}

/// Publishes of a batch grouped by exchange, so the counter is bumped once per exchange.
pub(crate) fn count_published<'a>(exchanges: impl Iterator<Item = &'a str>) {
    let mut per_exchange: BTreeMap<&str, u64> = BTreeMap::new();
    for exchange in exchanges {
        *per_exchange.entry(exchange).or_default() += 1;
    }
    for (exchange, count) in per_exchange {
        count::published(exchange, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> WireMessage {
        WireMessage {
            exchange: "fudian.field".into(),
            routing_key: "scada.switch.opened".into(),
            message_id: "m1".into(),
            headers: BTreeMap::new(),
            body: b"{}".to_vec(),
        }
    }

    fn spec() -> QueueSpec {
        QueueSpec::new("q")
            .max_attempts(3)
            .retry_delays(vec![Duration::from_millis(10), Duration::from_millis(20)])
    }

    #[test]
    fn a_transient_failure_below_max_attempts_is_retried_with_the_next_attempt_number() {
        let settlement = settle(
            &spec(),
            &message(),
            2,
            &Err(HandlerError::Transient("db down".into())),
        );
        let Settlement::Retry { delay, message } = settlement else {
            panic!("expected a retry, got {settlement:?}");
        };
        assert_eq!(delay, Duration::from_millis(20));
        assert_eq!(message.headers[ATTEMPT_HEADER], "3");
        let (restored, attempt) = restore_origin(message, false);
        assert_eq!(attempt, 3);
        assert_eq!(restored.routing_key, "scada.switch.opened");
        assert!(!restored.headers.contains_key(EXCHANGE_HEADER));
    }

    #[test]
    fn the_last_attempt_dead_letters_with_the_error_and_origin() {
        let settlement = settle(
            &spec(),
            &message(),
            3,
            &Err(HandlerError::Transient("db down".into())),
        );
        let Settlement::DeadLetter { message } = settlement else {
            panic!("expected a dead letter, got {settlement:?}");
        };
        assert_eq!(message.headers[ERROR_HEADER], "transient failure: db down");
        assert_eq!(message.headers[ATTEMPT_HEADER], "3");
        assert_eq!(message.headers[EXCHANGE_HEADER], "fudian.field");
        assert_eq!(message.headers[QUEUE_HEADER], "q");
    }

    #[test]
    fn a_permanent_failure_dead_letters_on_the_first_attempt() {
        let settlement = settle(
            &spec(),
            &message(),
            1,
            &Err(HandlerError::Permanent("bad json".into())),
        );
        assert!(matches!(settlement, Settlement::DeadLetter { .. }));
    }

    #[test]
    fn an_existing_traceparent_is_passed_through() {
        let mut headers =
            BTreeMap::from([(TRACEPARENT_HEADER.to_owned(), "00-stored-01".to_owned())]);
        inject_trace_context(&mut headers);
        assert_eq!(headers[TRACEPARENT_HEADER], "00-stored-01");
    }
}
