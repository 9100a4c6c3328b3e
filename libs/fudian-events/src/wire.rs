//! The byte-level message that the bus publishes and the outbox stores: an exchange, a
//! routing key, the AMQP `message_id`, string headers (trace context, retry attempt,
//! dead-letter reason) and the JSON body.

use std::collections::BTreeMap;

/// One message as it travels on the wire, independent of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    /// Topic exchange the message is published to, e.g. `fudian.field`.
    pub exchange: String,
    /// Routing key, equal to the event type, e.g. `scada.switch.opened`.
    pub routing_key: String,
    /// The event id, carried as the AMQP `message_id` property.
    pub message_id: String,
    /// String headers: `traceparent`, `x-fudian-attempt`, `x-fudian-error`, ...
    pub headers: BTreeMap<String, String>,
    /// UTF-8 JSON body (`content_type` is always `application/json`).
    pub body: Vec<u8>,
}
