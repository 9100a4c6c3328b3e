//! Every message fudian sends or receives, versioned, with its exchange and routing key.
//!
//! Pure data: no async, no broker code. Parts:
//! - `envelope`: the envelope all messages share, `encode` / `decode` / `to_wire`;
//! - one module per topic exchange, each with its event enum, payload types, routing key
//!   consts and a `decode`: `field` (the utility's systems, an external contract),
//!   `outage` (and `call`, the answers to trouble calls on the same exchange), `dispatch`,
//!   `planned` (fudian's own);
//! - `ids` and `common`: id newtypes and payload parts shared across exchanges;
//! - `examples`: one example envelope of every event type;
//! - `asyncapi`: the AsyncAPI 3.0 document, generated from these types;
//! - `wire`: the byte-level message that the bus publishes and the outbox stores.

#[macro_use]
mod macros;

pub mod asyncapi;
pub mod call;
pub mod common;
pub mod dispatch;
pub mod envelope;
pub mod error;
pub mod examples;
pub mod field;
pub mod ids;
pub mod outage;
pub mod planned;
pub mod wire;

pub use asyncapi::asyncapi_document;
pub use call::CallEvent;
pub use dispatch::DispatchEvent;
pub use envelope::{
    Direction, Envelope, Event, EventSpec, TIME_ZONE, decode, encode, now_shanghai, to_wire,
};
pub use error::DecodeError;
pub use field::FieldEvent;
pub use outage::OutageEvent;
pub use planned::PlannedEvent;
pub use wire::WireMessage;

/// The four topic exchanges (durable), in the order of the flow: field, outage, dispatch,
/// planned.
pub const EXCHANGES: [&str; 4] = [
    field::EXCHANGE,
    outage::EXCHANGE,
    dispatch::EXCHANGE,
    planned::EXCHANGE,
];
