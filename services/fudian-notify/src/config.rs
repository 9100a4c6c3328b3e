//! The notify service's configuration: where the templates are, the notice rules (quiet
//! hours, merge window, ETR threshold, per-customer limit), delivery retries, the sender
//! pool, the providers, the queue and exchanges it consumes, and the public URLs. Plain
//! serde data whose defaults work with no file at all (templates from the crate's folder
//! or the embedded copy, every notice to the local sink); checked by `validate`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveTime;
use fudian_bus::{DISPATCH_EXCHANGE, OUTAGE_EXCHANGE, PLANNED_EXCHANGE};
use secrecy::SecretString;
use serde::Deserialize;

use crate::send::ProvidersConfig;

/// Everything the notify service can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The template folder (`wechat/`, `sms/`, `app/`); empty: the crate's `templates`
    /// folder when it exists on this machine, else the copy embedded in the binary.
    pub templates_dir: Option<PathBuf>,
    /// When notices may go and how they are merged and limited.
    pub rules: NoticeRules,
    /// Retries of a failed send.
    pub retry: RetryPolicy,
    /// The sender pool.
    pub sender: SenderSettings,
    /// Provider endpoints and credentials; none configured: every notice goes to the local
    /// sink (kept and shown by the API, marked as sent to no provider).
    pub providers: ProvidersConfig,
    /// Public base URL of the detail pages the notices link to (`{base}/n/{delivery id}`).
    pub detail_base_url: String,
    /// Area named in outage notices when the incident's location lies in no named cell.
    pub default_area: String,
    /// The 【signature】 SMS providers add, used to count characters and segments.
    pub sms_signature: String,
    /// WeChat callback token (the server-configuration token of the Official Account);
    /// empty: the WeChat callback endpoint refuses every request.
    pub wechat_callback_token: SecretString,
    /// Lookups per client IP per minute on `/v1/lookup` and the detail pages.
    pub lookup_per_minute: u32,
    /// The one quorum queue the service consumes outage, dispatch and planned events from.
    pub queue: String,
    /// Exchange names.
    pub exchanges: ExchangeNames,
    /// Deliveries in flight at most (the queue's prefetch).
    pub prefetch: u16,
    /// Events planned per store transaction at most.
    pub batch_size: usize,
    /// How long a batch waits for more deliveries after its first one (milliseconds).
    pub batch_wait_ms: u64,
    /// Tries of a transiently failing event before it is dead-lettered.
    pub max_attempts: u32,
    /// Delays before event retry 1, 2, ... (milliseconds; the last one repeats).
    pub retry_delays_ms: Vec<u64>,
    /// The consumer name in the store's inbox.
    pub consumer: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            templates_dir: None,
            rules: NoticeRules::default(),
            retry: RetryPolicy::default(),
            sender: SenderSettings::default(),
            providers: ProvidersConfig::default(),
            detail_base_url: "http://127.0.0.1:8080".to_owned(),
            default_area: "您所在区域".to_owned(),
            sms_signature: "国网供电".to_owned(),
            wechat_callback_token: SecretString::from(String::new()),
            lookup_per_minute: 30,
            queue: "notify.events".to_owned(),
            exchanges: ExchangeNames::default(),
            prefetch: 300,
            batch_size: 50,
            batch_wait_ms: 20,
            max_attempts: 5,
            retry_delays_ms: vec![1_000, 10_000, 60_000, 300_000],
            consumer: "notify".to_owned(),
        }
    }
}

/// The topic exchanges the service consumes; the contract names unless a test prefixes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeNames {
    pub outage: String,
    pub dispatch: String,
    pub planned: String,
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
            outage: format!("{prefix}{OUTAGE_EXCHANGE}"),
            dispatch: format!("{prefix}{DISPATCH_EXCHANGE}"),
            planned: format!("{prefix}{PLANNED_EXCHANGE}"),
        }
    }
}

/// The notice rules of issue 5, as data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeRules {
    /// Quiet hours start, local time (`22:00`): non-urgent notices wait for the end.
    pub quiet_start: NaiveTime,
    /// Quiet hours end, local time (`07:00`).
    pub quiet_end: NaiveTime,
    /// The time zone quiet hours are in (IANA name).
    pub time_zone: String,
    /// Notices one customer gets per rolling hour at most (restoration always goes).
    pub per_customer_per_hour: u32,
    /// Update notices (ETR changed, crew arrived, repair progress) wait this long for
    /// later updates of the same incident, which replace them (seconds).
    pub merge_window_secs: u64,
    /// An ETR change smaller than this is not told (minutes).
    pub etr_min_change_mins: i64,
    /// At most one ETR notice per customer per this many minutes.
    pub etr_min_interval_mins: i64,
    /// A notice over the per-customer limit that must still go waits this long (seconds).
    pub limit_postpone_secs: u64,
}

impl Default for NoticeRules {
    fn default() -> Self {
        Self {
            quiet_start: NaiveTime::from_hms_opt(22, 0, 0).unwrap_or_default(),
            quiet_end: NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default(),
            time_zone: "Asia/Shanghai".to_owned(),
            per_customer_per_hour: 6,
            merge_window_secs: 120,
            etr_min_change_mins: 30,
            etr_min_interval_mins: 30,
            limit_postpone_secs: 900,
        }
    }
}

impl NoticeRules {
    /// The configured zone; `validate` has checked it parses.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone
            .parse()
            .unwrap_or(fudian_events::envelope::TIME_ZONE)
    }
}

/// Growing delays with jitter, persisted with each delivery (attempt, next attempt time).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Sends of one delivery on one channel at most before it fails (or falls back).
    pub max_attempts: u32,
    /// Delay before the first retry (milliseconds); doubled per attempt.
    pub base_delay_ms: u64,
    /// Longest delay (milliseconds).
    pub max_delay_ms: u64,
    /// Random share added or taken off each delay (0.2 = ±20%), so retries of a burst
    /// do not hit the provider in step.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay_ms: 5_000,
            max_delay_ms: 3_600_000,
            jitter: 0.2,
        }
    }
}

/// The pool that claims due deliveries and sends them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderSettings {
    /// Workers on PostgreSQL (SQLite always runs one).
    pub workers: usize,
    /// Deliveries claimed per store round trip.
    pub claim_batch: usize,
    /// How long a claim holds before another worker may take the delivery over
    /// (seconds). Must stay well below WeChat's 10-minute `client_msg_id` window, so a
    /// takeover after a crash is de-duplicated by WeChat.
    pub lease_secs: u64,
    /// How often an idle worker looks for due deliveries (milliseconds).
    pub poll_interval_ms: u64,
    /// How long an SMS whose request went unanswered (the sender died, or it timed out)
    /// waits for the provider's receipt before it is sent again (seconds). Receipts
    /// usually come within a minute; Alibaba pushes again at 1, 5 and 10 minutes.
    pub receipt_window_secs: u64,
    /// Finished deliveries (sent, delivered, failed, suppressed) are kept this many days
    /// after their last change, as the record of who was told what and when; then purged.
    pub retention_days: u32,
    /// Receipts are remembered this many hours to ignore the providers' re-pushes.
    pub receipt_retention_hours: u32,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            claim_batch: 500,
            lease_secs: 60,
            poll_interval_ms: 200,
            receipt_window_secs: 900,
            retention_days: 400,
            receipt_retention_hours: 48,
        }
    }
}

/// A configuration value that cannot work, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notify.{key}: {reason}")]
pub struct InvalidConfig {
    pub key: &'static str,
    pub reason: &'static str,
}

impl NotifyConfig {
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
        if self.consumer.trim().is_empty() {
            return fail("consumer", "must not be empty");
        }
        if self.rules.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return fail("rules.time_zone", "is not an IANA time zone name");
        }
        if self.rules.per_customer_per_hour == 0 {
            return fail("rules.per_customer_per_hour", "must be at least 1");
        }
        if self.retry.max_attempts == 0 {
            return fail("retry.max_attempts", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.retry.jitter) {
            return fail("retry.jitter", "must be at least 0 and below 1");
        }
        if self.retry.base_delay_ms == 0 || self.retry.max_delay_ms < self.retry.base_delay_ms {
            return fail(
                "retry.base_delay_ms",
                "must be at least 1 and at most retry.max_delay_ms",
            );
        }
        if self.sender.workers == 0 {
            return fail("sender.workers", "must be at least 1");
        }
        if self.sender.claim_batch == 0 {
            return fail("sender.claim_batch", "must be at least 1");
        }
        if self.sender.lease_secs == 0 || self.sender.lease_secs >= 600 {
            return fail(
                "sender.lease_secs",
                "must be between 1 and 599 (below WeChat's 10-minute client_msg_id window)",
            );
        }
        if self.sender.receipt_window_secs == 0 || self.sender.receipt_window_secs > 86_400 {
            return fail(
                "sender.receipt_window_secs",
                "must be between 1 and 86400 (a day)",
            );
        }
        if self.sender.retention_days == 0 {
            return fail("sender.retention_days", "must be at least 1");
        }
        if u64::from(self.sender.receipt_retention_hours) * 3_600
            < 2 * self.sender.receipt_window_secs
        {
            return fail(
                "sender.receipt_retention_hours",
                "must cover twice sender.receipt_window_secs (receipts settle unanswered sms)",
            );
        }
        let base = self.detail_base_url.as_str();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return fail("detail_base_url", "must start with http:// or https://");
        }
        if self.lookup_per_minute == 0 {
            return fail("lookup_per_minute", "must be at least 1");
        }
        Ok(())
    }

    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_delays_ms
            .iter()
            .copied()
            .map(Duration::from_millis)
            .collect()
    }

    /// The detail page of a delivery.
    pub fn detail_url(&self, delivery_id: &str) -> String {
        format!(
            "{}/n/{delivery_id}",
            self.detail_base_url.trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_the_contract_exchanges() {
        let config = NotifyConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.exchanges.outage, "fudian.outage");
        assert_eq!(config.rules.quiet_start.to_string(), "22:00:00");
        assert_eq!(config.rules.tz(), chrono_tz::Asia::Shanghai);
    }

    #[test]
    fn a_partial_document_keeps_the_other_defaults() {
        let config: NotifyConfig = serde_json::from_str(
            r#"{"rules": {"quiet_start": "23:30:00", "merge_window_secs": 5}, "sender": {"workers": 2}}"#,
        )
        .unwrap();
        assert_eq!(config.rules.merge_window_secs, 5);
        assert_eq!(config.rules.etr_min_change_mins, 30);
        assert_eq!(config.sender.workers, 2);
        assert_eq!(config.sender.claim_batch, 500);
    }

    #[test]
    fn a_lease_longer_than_the_wechat_dedup_window_is_refused_by_its_key() {
        let config = NotifyConfig {
            sender: SenderSettings {
                lease_secs: 900,
                ..SenderSettings::default()
            },
            ..NotifyConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert!(
            error.to_string().starts_with("notify.sender.lease_secs"),
            "{error}"
        );
    }

    #[test]
    fn receipts_must_be_kept_longer_than_unanswered_sms_wait_for_them() {
        let mut config = NotifyConfig::default();
        config.sender.receipt_window_secs = 0;
        assert_eq!(
            config.validate().unwrap_err().key,
            "sender.receipt_window_secs"
        );
        config.sender.receipt_window_secs = 86_400;
        config.sender.receipt_retention_hours = 24;
        assert_eq!(
            config.validate().unwrap_err().key,
            "sender.receipt_retention_hours"
        );
        config.sender.receipt_retention_hours = 48;
        config.sender.retention_days = 0;
        assert_eq!(config.validate().unwrap_err().key, "sender.retention_days");
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        let mut config = NotifyConfig::default();
        config.rules.time_zone = "Mars/Olympus".into();
        assert_eq!(config.validate().unwrap_err().key, "rules.time_zone");
    }
}
