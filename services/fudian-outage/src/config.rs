//! The outage service's configuration: the engine's rules, the queue it consumes, the
//! exchange names (the contract names by default; tests prefix them), batching, the tick
//! and the snapshot interval. Plain serde data with defaults, checked by `validate`.

use std::time::Duration;

use fudian_bus::{FIELD_EXCHANGE, OUTAGE_EXCHANGE, PLANNED_EXCHANGE};
use serde::{Deserialize, Serialize};

use crate::engine::Rules;

/// Everything the outage service can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutageConfig {
    /// The engine's rules (hold windows, roll-up thresholds, momentary limit, ETR table).
    /// Used when the service starts without a snapshot; a restored engine keeps the rules
    /// it was snapshotted with.
    pub rules: Rules,
    /// The one quorum queue the service consumes field and planned events from.
    pub queue: String,
    /// Exchange names.
    pub exchanges: ExchangeNames,
    /// Deliveries in flight at most (the queue's prefetch).
    pub prefetch: u16,
    /// Events applied per store transaction at most.
    pub batch_size: usize,
    /// How long a batch waits for more deliveries after its first one (milliseconds).
    pub batch_wait_ms: u64,
    /// Tries of a transiently failing event before it is dead-lettered.
    pub max_attempts: u32,
    /// Delays before retry 1, 2, ... (milliseconds; the last one repeats).
    pub retry_delays_ms: Vec<u64>,
    /// How often the engine's timers run (milliseconds).
    pub tick_interval_ms: u64,
    /// How often the engine state is snapshotted and the journal trimmed (seconds).
    pub snapshot_interval_secs: u64,
    /// The consumer name in the store's inbox.
    pub consumer: String,
    /// The `source` of the events this service publishes.
    pub producer: String,
}

/// The topic exchanges the service uses; the contract names unless a test prefixes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeNames {
    pub field: String,
    pub planned: String,
    pub outage: String,
}

impl Default for ExchangeNames {
    fn default() -> Self {
        Self::prefixed("")
    }
}

impl ExchangeNames {
    /// The contract names with `prefix` in front (tests isolate themselves this way).
    pub fn prefixed(prefix: &str) -> Self {
        Self {
            field: format!("{prefix}{FIELD_EXCHANGE}"),
            planned: format!("{prefix}{PLANNED_EXCHANGE}"),
            outage: format!("{prefix}{OUTAGE_EXCHANGE}"),
        }
    }
}

impl Default for OutageConfig {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            queue: "outage.events".to_owned(),
            exchanges: ExchangeNames::default(),
            // Measured in the storm benchmark: batches of 500 carry the consumer to the
            // broker's pace (200 left it at 0.40-0.50 of the raw ceiling).
            prefetch: 1_000,
            batch_size: 500,
            batch_wait_ms: 20,
            max_attempts: 5,
            retry_delays_ms: vec![1_000, 10_000, 60_000, 300_000],
            tick_interval_ms: 1_000,
            snapshot_interval_secs: 300,
            consumer: "outage".to_owned(),
            producer: "fudian-outage".to_owned(),
        }
    }
}

/// A configuration value that cannot work, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outage.{key}: {reason}")]
pub struct InvalidConfig {
    pub key: &'static str,
    pub reason: &'static str,
}

impl OutageConfig {
    /// Checks the values that would break the service at run time.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let fail = |key, reason| Err(InvalidConfig { key, reason });
        if self.queue.trim().is_empty() {
            return fail("queue", "must not be empty");
        }
        if self.prefetch == 0 {
            return fail("prefetch", "must be at least 1");
        }
        if self.batch_size == 0 {
            return fail("batch_size", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return fail("max_attempts", "must be at least 1");
        }
        if self.tick_interval_ms == 0 {
            return fail("tick_interval_ms", "must be at least 1");
        }
        if self.snapshot_interval_secs == 0 {
            return fail("snapshot_interval_secs", "must be at least 1");
        }
        if self.consumer.trim().is_empty() {
            return fail("consumer", "must not be empty");
        }
        Ok(())
    }

    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    pub fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.tick_interval_ms)
    }

    pub fn snapshot_interval(&self) -> Duration {
        Duration::from_secs(self.snapshot_interval_secs)
    }

    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_delays_ms
            .iter()
            .copied()
            .map(Duration::from_millis)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_the_contract_exchange_names_and_are_valid() {
        let config = OutageConfig::default();
        assert_eq!(config.exchanges.field, "fudian.field");
        assert_eq!(config.exchanges.outage, "fudian.outage");
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn a_zero_batch_size_is_refused_by_its_key() {
        let config = OutageConfig {
            batch_size: 0,
            ..OutageConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert_eq!(error.to_string(), "outage.batch_size: must be at least 1");
    }

    #[test]
    fn a_partial_toml_like_document_keeps_the_other_defaults() {
        let config: OutageConfig =
            serde_json::from_str(r#"{"queue": "q1", "rules": {"momentary_secs": 60}}"#).unwrap();
        assert_eq!(config.queue, "q1");
        assert_eq!(config.rules.momentary_secs, 60);
        assert_eq!(config.batch_size, OutageConfig::default().batch_size);
    }
}
