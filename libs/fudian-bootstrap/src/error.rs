//! The error type of the bootstrap crate.

/// Everything that can go wrong while starting up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// A configuration value is missing, of the wrong type or out of range; the message
    /// names the key and where it came from (default, file or environment).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Telemetry could not be set up (exporter, subscriber already installed, ...).
    #[error("telemetry setup failed: {0}")]
    Telemetry(String),
    /// The Prometheus recorder could not be installed.
    #[error("metrics setup failed: {0}")]
    Metrics(String),
}
