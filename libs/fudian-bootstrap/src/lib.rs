//! Plain start-up functions that every fudian binary calls from `main`: layered
//! configuration, telemetry (tracing + OpenTelemetry), shutdown on signals, and the
//! health, readiness and metrics routes.
//!
//! Not a framework: no service trait, no macro, no shared context. Inline any of these
//! functions into `main.rs` and it still reads well.

pub mod config;
pub mod error;
pub mod health;
pub mod shutdown;
pub mod telemetry;

pub use error::BootstrapError;
