//! The outage service of fudian (故障智能研判): it owns switch states, energization,
//! incidents and customer interruption records, fed by the field events of `fudian.field`
//! and publishing on `fudian.outage`.
//!
//! For now only its pure decision core is here: `engine`, a deterministic state machine
//! (`handle(input, now)`, `tick(now)` → effects) whose state can be snapshotted and
//! restored. The wiring (store, bus consumer, HTTP API) is built on top of it.

pub mod engine;
