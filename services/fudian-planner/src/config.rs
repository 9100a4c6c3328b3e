//! The planner service's configuration: budget targets and policy, notice lead times,
//! scheduling limits, repeat-outage rules, the queue it consumes `fudian.outage` with and
//! the exchange names (the contract names by default; tests prefix them). Plain serde
//! data with working defaults, checked by `validate`.

use std::collections::BTreeMap;
use std::time::Duration;

use fudian_bus::{OUTAGE_EXCHANGE, PLANNED_EXCHANGE};
use fudian_reliability::{BudgetPolicy, RepeatPolicy};
use serde::{Deserialize, Serialize};

/// Everything the planner service can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// Budgets: targets per area class (core 1.8 h, urban 4 h, town 7 h, rural 10 h per
    /// customer and year), 8 % under last year, the stricter of the two, half for
    /// pre-arranged work.
    pub budget: BudgetPolicy,
    /// Last year's actual 停电时户数 per area class (`core`, `urban`, `town`, `rural`),
    /// when known: the "8 % under last year" basis needs it.
    pub last_year_customer_hours: BTreeMap<String, f64>,
    /// Customers must be told at least this many days before a planned outage.
    pub notice_lead_days: u32,
    /// Critical customers must be told this many days before.
    pub critical_notice_lead_days: u32,
    /// The reminder goes out this many hours before the start.
    pub reminder_hours_before: u32,
    /// Planned work starts at this hour (Asia/Shanghai) on its day.
    pub work_start_hour: u32,
    /// Jobs one crew can do on one day.
    pub crew_jobs_per_day: u32,
    /// Days with a planned outage one customer may have in a year.
    pub max_planned_outages_per_customer: u32,
    /// Interruptions in a year from which a customer counts as a frequent-outage customer
    /// in assessments (频繁停电: more than 5 a year by default).
    pub frequent_outage_threshold: u32,
    /// The rules of the frequent-outage list and the weekly report.
    pub repeat: RepeatPolicy,
    /// Local-search passes of the schedule optimiser.
    pub schedule_passes: u32,
    /// The one queue the planner consumes `fudian.outage` from.
    pub queue: String,
    pub exchanges: ExchangeNames,
    pub prefetch: u16,
    /// Tries of a transiently failing event before it is dead-lettered.
    pub max_attempts: u32,
    /// Delays before retry 1, 2, ... (milliseconds; the last one repeats).
    pub retry_delays_ms: Vec<u64>,
    /// The consumer name in the store's inbox.
    pub consumer: String,
    /// The `source` of the events this service publishes.
    pub producer: String,
}

/// The topic exchanges the planner uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeNames {
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
            planned: format!("{prefix}{PLANNED_EXCHANGE}"),
            outage: format!("{prefix}{OUTAGE_EXCHANGE}"),
        }
    }
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            budget: BudgetPolicy::default(),
            last_year_customer_hours: BTreeMap::new(),
            notice_lead_days: 7,
            critical_notice_lead_days: 10,
            reminder_hours_before: 24,
            work_start_hour: 8,
            crew_jobs_per_day: 1,
            max_planned_outages_per_customer: 3,
            frequent_outage_threshold: 6,
            repeat: RepeatPolicy::default(),
            schedule_passes: 4,
            queue: "planner.outage-events".to_owned(),
            exchanges: ExchangeNames::default(),
            prefetch: 50,
            max_attempts: 5,
            retry_delays_ms: vec![1_000, 10_000, 60_000],
            consumer: "planner".to_owned(),
            producer: "fudian-planner".to_owned(),
        }
    }
}

/// A configuration value that cannot work, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("planner.{key}: {reason}")]
pub struct InvalidConfig {
    pub key: &'static str,
    pub reason: String,
}

impl PlannerConfig {
    /// Checks the values that would break the service at run time.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let fail = |key, reason: &str| {
            Err(InvalidConfig {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.queue.trim().is_empty() {
            return fail("queue", "must not be empty");
        }
        if self.consumer.trim().is_empty() {
            return fail("consumer", "must not be empty");
        }
        if self.prefetch == 0 {
            return fail("prefetch", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return fail("max_attempts", "must be at least 1");
        }
        if self.crew_jobs_per_day == 0 {
            return fail("crew_jobs_per_day", "must be at least 1");
        }
        if self.work_start_hour > 23 {
            return fail("work_start_hour", "must be an hour of the day (0 to 23)");
        }
        if self.critical_notice_lead_days < self.notice_lead_days {
            return fail(
                "critical_notice_lead_days",
                "must not be shorter than notice_lead_days",
            );
        }
        for (area, hours) in &self.last_year_customer_hours {
            if fudian_grid::AreaClass::parse(area).is_none() {
                return Err(InvalidConfig {
                    key: "last_year_customer_hours",
                    reason: format!("`{area}` is not one of core, urban, town, rural"),
                });
            }
            if !(hours.is_finite() && *hours >= 0.0) {
                return Err(InvalidConfig {
                    key: "last_year_customer_hours",
                    reason: format!("{area}: {hours} is not a number of hours at or above zero"),
                });
            }
        }
        let targets = self.budget.targets;
        for hours in [targets.core, targets.urban, targets.town, targets.rural] {
            if !(hours.is_finite() && hours >= 0.0) {
                return fail(
                    "budget.targets",
                    "every target must be hours at or above zero",
                );
            }
        }
        if !(0.0..=1.0).contains(&self.budget.planned_share) {
            return fail("budget.planned_share", "must be between 0 and 1");
        }
        if !(0.0..1.0).contains(&self.budget.reduction_vs_last_year) {
            return fail("budget.reduction_vs_last_year", "must be in [0, 1)");
        }
        Ok(())
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
    fn defaults_are_valid_and_use_the_contract_names_and_the_targets() {
        let config = PlannerConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.exchanges.planned, "fudian.planned");
        assert_eq!(config.exchanges.outage, "fudian.outage");
        assert_eq!(config.budget.targets.core, 1.8);
        assert_eq!(config.budget.targets.rural, 10.0);
        assert_eq!(config.budget.reduction_vs_last_year, 0.08);
        assert_eq!(config.notice_lead_days, 7);
    }

    #[test]
    fn a_partial_document_keeps_the_other_defaults() {
        let config: PlannerConfig = serde_json::from_str(
            r#"{"notice_lead_days": 9, "critical_notice_lead_days": 12,
                "last_year_customer_hours": {"urban": 1200.5}}"#,
        )
        .unwrap();
        assert_eq!(config.notice_lead_days, 9);
        assert_eq!(config.crew_jobs_per_day, 1);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn an_unknown_area_in_last_year_is_refused_by_its_key() {
        let mut config = PlannerConfig::default();
        config
            .last_year_customer_hours
            .insert("suburb".into(), 10.0);
        let error = config.validate().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("planner.last_year_customer_hours"),
            "{error}"
        );
    }
}
