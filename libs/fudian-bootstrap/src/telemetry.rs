//! Logs and traces: `tracing` to stdout (human or JSON), and OpenTelemetry spans
//! exported by OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Always installs the W3C trace-context propagator, so the bus can carry
//! `traceparent` in AMQP headers even when nothing is exported.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::BootstrapError;

/// What to log and where to send traces.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetryConfig {
    /// `tracing` filter directive, e.g. `info,fudian=debug`; `RUST_LOG` wins when set.
    pub log_filter: String,
    /// One JSON object per line instead of human-readable text.
    pub log_json: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".to_owned(),
            log_json: false,
        }
    }
}

/// Keeps the exporter alive; call [`TelemetryGuard::shutdown`] before exiting so the
/// last spans are flushed.
#[must_use = "dropping the guard without shutdown loses the last spans"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported (an OTLP endpoint was configured).
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("telemetry shutdown failed: {error}");
        }
    }
}

/// Installs the global subscriber and propagator for `service_name`.
pub fn init(
    service_name: &str,
    config: &TelemetryConfig,
) -> Result<TelemetryGuard, BootstrapError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_filter))
        .map_err(|e| BootstrapError::Telemetry(format!("bad log filter: {e}")))?;

    let provider = if otlp_endpoint_configured() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| BootstrapError::Telemetry(e.to_string()))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_owned())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Some(provider)
    } else {
        None
    };
    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service_name.to_owned())));

    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let result = if config.log_json {
        registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    result.map_err(|e| BootstrapError::Telemetry(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

fn otlp_endpoint_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}
