//! Every message fudian sends or receives, versioned, with its exchange and routing key.
//!
//! Pure data: no async, no broker code. `wire` is the byte-level message the bus and the
//! outbox move around.

pub mod wire;
