//! The configuration of the `fudian` binary: the embedded `default.toml`, an optional
//! file, then `FUDIAN_...` environment variables (see `fudian_bootstrap::config`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fudian_bootstrap::telemetry::TelemetryConfig;
use serde::Deserialize;

/// The commented defaults, compiled in so `fudian up` needs no file.
pub const DEFAULTS: &str = include_str!("../default.toml");

/// Everything `fudian up` and `fudian serve` read at start.
#[derive(Debug, Clone, Deserialize)]
pub struct AppConfig {
    pub http_addr: String,
    pub grid: String,
    pub data_dir: PathBuf,
    pub amqp_url: String,
    pub database_url: String,
    pub bus: BusConfig,
    pub store: StoreConfig,
    pub outbox: OutboxConfig,
    pub telemetry: TelemetryConfig,
    /// The outage service: queue, batch size, engine rules (see `fudian_outage::OutageConfig`).
    #[serde(default)]
    pub outage: fudian_outage::OutageConfig,
    /// The dispatch service: cells, crews, arrival limits, ETR table (see
    /// `fudian_dispatch::DispatchConfig`).
    #[serde(default)]
    pub dispatch: fudian_dispatch::DispatchConfig,
    /// The planner service: area targets, notice lead, crew capacity (see
    /// `fudian_planner::PlannerConfig`).
    #[serde(default)]
    pub planner: fudian_planner::PlannerConfig,
    /// The notify service: providers and their credentials, templates, quiet hours, rate
    /// limits (see `fudian_notify::NotifyConfig`).
    #[serde(default)]
    pub notify: fudian_notify::NotifyConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BusConfig {
    pub prefetch: u16,
    pub max_attempts: u32,
    pub retry_delays_ms: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreConfig {
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutboxConfig {
    pub workers: usize,
    pub batch: usize,
}

impl AppConfig {
    /// Loads and validates; every bad key is named.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let config: Self = fudian_bootstrap::config::load(DEFAULTS, file)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.http_socket_addr()?;
        if self.bus.prefetch == 0 {
            bail!("bus.prefetch must be at least 1");
        }
        if self.bus.max_attempts == 0 {
            bail!("bus.max_attempts must be at least 1");
        }
        if self.bus.retry_delays_ms.is_empty() {
            bail!("bus.retry_delays_ms must list at least one delay");
        }
        if self.outbox.workers == 0 || self.outbox.batch == 0 {
            bail!("outbox.workers and outbox.batch must be at least 1");
        }
        self.outage
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if self.store.max_connections == 0 {
            bail!("store.max_connections must be at least 1");
        }
        Ok(())
    }

    pub fn http_socket_addr(&self) -> anyhow::Result<SocketAddr> {
        self.http_addr
            .parse()
            .with_context(|| format!("http_addr {:?} is not a socket address", self.http_addr))
    }

    /// Whether this process runs on RabbitMQ and PostgreSQL or embedded.
    pub fn amqp(&self) -> Option<&str> {
        Some(self.amqp_url.trim()).filter(|s| !s.is_empty())
    }

    pub fn database(&self) -> Option<&str> {
        Some(self.database_url.trim()).filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_defaults_are_valid_and_embedded_mode() {
        let config: AppConfig = fudian_bootstrap::config::load(DEFAULTS, None).unwrap();
        config.validate().unwrap();
        assert_eq!(config.http_addr, "127.0.0.1:8080");
        assert!(config.amqp().is_none());
        assert!(config.database().is_none());
    }

    /// README.md documents the notice providers with a configuration example: it must load
    /// and build every provider, or the documentation lies.
    #[test]
    fn the_readme_provider_example_loads_and_builds_every_provider() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[notify]")
            .expect("the example is in README.md")
            + 8;
        let end = start + readme[start..].find("```").expect("the example ends");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notify.toml");
        std::fs::write(&file, &readme[start..end]).unwrap();
        let config: AppConfig = fudian_bootstrap::config::load(DEFAULTS, Some(&file)).unwrap();
        config.notify.validate().unwrap();
        let providers = &config.notify.providers;
        assert!(providers.wechat.is_some() && providers.app.is_some());
        assert!(providers.tencent_sms.is_some() && providers.aliyun_sms.is_some());
        fudian_notify::send::build_senders(providers).unwrap();
    }
}
