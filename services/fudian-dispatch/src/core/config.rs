//! Dispatch settings: arrival limits and travel speeds per area class, the repair-time
//! table, the ETR median window, the at-risk margin and the publish threshold, and the
//! service's plumbing (queue, exchange names, batching, retries, timer). Defaults
//! follow State Grid's service promise (45 min city, 90 min rural on site; about 3 h city,
//! 4 h rural to restore after arrival).

use fudian_events::common::{AreaClass, DeviceKind};
use fudian_events::outage::OutageCause;
use serde::Deserialize;

use crate::core::error::DispatchError;

/// One value per area class. `core`/`urban` are the city, `town`/`rural` the countryside;
/// a utility with remote areas sets their class (usually `rural`) to its own limit (2 h).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct PerAreaClass<T> {
    pub core: T,
    pub urban: T,
    pub town: T,
    pub rural: T,
}

impl<T: Copy> PerAreaClass<T> {
    pub fn get(&self, class: AreaClass) -> T {
        match class {
            AreaClass::Core => self.core,
            AreaClass::Urban => self.urban,
            AreaClass::Town => self.town,
            AreaClass::Rural => self.rural,
        }
    }
}

/// Every area class, for checks over all of them.
pub const ALL_AREA_CLASSES: [AreaClass; 4] = [
    AreaClass::Core,
    AreaClass::Urban,
    AreaClass::Town,
    AreaClass::Rural,
];

/// The event area class of a grid area class (the two crates name the same four).
pub fn area_class_of(class: fudian_grid::AreaClass) -> AreaClass {
    match class {
        fudian_grid::AreaClass::Core => AreaClass::Core,
        fudian_grid::AreaClass::Urban => AreaClass::Urban,
        fudian_grid::AreaClass::Town => AreaClass::Town,
        fudian_grid::AreaClass::Rural => AreaClass::Rural,
    }
}

/// Minutes from the incident's start until a crew must be on site (到达现场时限).
pub type ArrivalLimits = PerAreaClass<u32>;

/// Road speeds in km/h.
pub type Speeds = PerAreaClass<f64>;

/// A line of the repair-time table: minutes on site (assessment excluded) for orders that
/// match every field given. The first matching rule wins; `None` matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct RepairRule {
    pub device: Option<DeviceKind>,
    pub cause: Option<OutageCause>,
    pub area_class: Option<AreaClass>,
    pub minutes: u32,
}

/// The topic exchanges the service uses; the contract names unless a test prefixes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeNames {
    /// Incidents consumed (`outage.*`).
    pub outage: String,
    /// Crew reports consumed (`crew.report`).
    pub field: String,
    /// Where work orders and ETRs are published.
    pub dispatch: String,
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
            outage: format!("{prefix}{}", fudian_events::outage::EXCHANGE),
            field: format!("{prefix}{}", fudian_events::field::EXCHANGE),
            dispatch: format!("{prefix}{}", fudian_events::dispatch::EXCHANGE),
        }
    }
}

/// Everything the dispatch service can be told: the rules of the pure core, then the
/// service's plumbing. Every key has a working default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// On-site limits per area class, in minutes from the incident's start.
    pub arrival_limit_minutes: ArrivalLimits,
    /// An order is at risk this many minutes before its arrival limit.
    pub at_risk_margin_minutes: u32,
    /// Road distance over great-circle distance.
    pub road_factor: f64,
    /// Driving speed at the destination's area class.
    pub speed_kmh: Speeds,
    /// A crew is not sent if its shift ends before arrival plus this much work.
    pub min_working_minutes: u32,
    /// Assessment on arrival (查勘), added to every repair time.
    pub assessment_minutes: u32,
    /// The repair-time table, first match wins.
    pub repair_rules: Vec<RepairRule>,
    /// Repair minutes when no rule matches.
    pub default_repair_minutes: PerAreaClass<u32>,
    /// How many recent completed orders of a kind the median looks at.
    pub history_window: usize,
    /// Completed orders of a kind needed before their median replaces the table.
    pub history_min_samples: usize,
    /// An ETR change is published only when it moves by at least this much.
    pub publish_threshold_minutes: u32,
    /// What leaving an order without a crew costs the storm optimiser, as if its crew
    /// arrived after this long (times the order's weight). Longer than the longest arrival
    /// limit, so serving an order beats leaving it; crews further away than this are not
    /// sent. Smaller values also make the optimiser much faster (less tied contention).
    pub unserved_minutes: u32,
    /// The one quorum queue the service consumes incidents and crew reports from.
    pub queue: String,
    /// Exchange names.
    pub exchanges: ExchangeNames,
    /// Deliveries in flight at most (the queue's prefetch).
    pub prefetch: u16,
    /// Events applied per store transaction (and per re-plan) at most.
    pub batch_size: usize,
    /// How long a batch waits for more deliveries after its first one (milliseconds).
    pub batch_wait_ms: u64,
    /// Tries of a transiently failing event before it is dead-lettered.
    pub max_attempts: u32,
    /// Delays before retry 1, 2, ... (milliseconds; the last one repeats).
    pub retry_delays_ms: Vec<u64>,
    /// How often the timer flags late orders, re-plans (shifts start and end) and
    /// recomputes the queue ETRs (milliseconds).
    pub tick_interval_ms: u64,
    /// The consumer name in the store's inbox.
    pub consumer: String,
    /// The `source` of the events this service publishes.
    pub producer: String,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            arrival_limit_minutes: ArrivalLimits {
                core: 45,
                urban: 45,
                town: 90,
                rural: 90,
            },
            at_risk_margin_minutes: 10,
            road_factor: 1.3,
            speed_kmh: Speeds {
                core: 25.0,
                urban: 30.0,
                town: 40.0,
                rural: 50.0,
            },
            min_working_minutes: 60,
            assessment_minutes: 20,
            repair_rules: vec![
                RepairRule {
                    device: None,
                    cause: Some(OutageCause::RemoteSwitching),
                    area_class: None,
                    minutes: 10,
                },
                RepairRule {
                    device: None,
                    cause: Some(OutageCause::ManualSwitching),
                    area_class: None,
                    minutes: 20,
                },
                RepairRule {
                    device: Some(DeviceKind::Fuse),
                    cause: None,
                    area_class: None,
                    minutes: 40,
                },
            ],
            // With the assessment: 3 h in the city, 4 h in the countryside.
            default_repair_minutes: PerAreaClass {
                core: 160,
                urban: 160,
                town: 220,
                rural: 220,
            },
            history_window: 20,
            history_min_samples: 5,
            publish_threshold_minutes: 15,
            unserved_minutes: 180,
            queue: "dispatch.events".to_owned(),
            exchanges: ExchangeNames::default(),
            prefetch: 500,
            batch_size: 200,
            batch_wait_ms: 20,
            max_attempts: 5,
            retry_delays_ms: vec![1_000, 10_000, 60_000, 300_000],
            tick_interval_ms: 10_000,
            consumer: "dispatch".to_owned(),
            producer: "fudian-dispatch".to_owned(),
        }
    }
}

impl DispatchConfig {
    /// Refuses settings that would make travel or the median meaningless, naming the key.
    pub fn validate(&self) -> Result<(), DispatchError> {
        let bad = |key, reason: &str| {
            Err(DispatchError::BadConfig {
                key,
                reason: reason.to_owned(),
            })
        };
        if !(self.road_factor.is_finite() && self.road_factor >= 1.0) {
            return bad("road_factor", "must be a finite number of at least 1");
        }
        for class in ALL_AREA_CLASSES {
            let speed = self.speed_kmh.get(class);
            if !(speed.is_finite() && speed > 0.0) {
                return bad("speed_kmh", "every speed must be a positive number");
            }
        }
        if self.history_window == 0 || self.history_min_samples > self.history_window {
            return bad(
                "history_min_samples",
                "must not exceed history_window, which must be at least 1",
            );
        }
        if self.unserved_minutes == 0 || self.unserved_minutes > 24 * 60 {
            return bad("unserved_minutes", "must be between 1 and 1440");
        }
        if self.queue.trim().is_empty() {
            return bad("queue", "must not be empty");
        }
        if self.consumer.trim().is_empty() {
            return bad("consumer", "must not be empty");
        }
        if self.prefetch == 0 {
            return bad("prefetch", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1");
        }
        if self.tick_interval_ms == 0 {
            return bad("tick_interval_ms", "must be at least 1");
        }
        Ok(())
    }

    pub fn batch_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.batch_wait_ms)
    }

    pub fn tick_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.tick_interval_ms)
    }

    pub fn retry_delays(&self) -> Vec<std::time::Duration> {
        self.retry_delays_ms
            .iter()
            .copied()
            .map(std::time::Duration::from_millis)
            .collect()
    }

    /// [`Self::unserved_minutes`] in seconds.
    pub fn unserved_seconds(&self) -> u32 {
        self.unserved_minutes.saturating_mul(60)
    }

    /// Minutes on site (assessment plus repair) from the table.
    pub fn table_on_site_minutes(
        &self,
        device: DeviceKind,
        cause: Option<OutageCause>,
        class: AreaClass,
    ) -> u32 {
        let repair = self
            .repair_rules
            .iter()
            .find(|rule| {
                rule.device.is_none_or(|d| d == device)
                    && rule.cause.is_none_or(|c| Some(c) == cause)
                    && rule.area_class.is_none_or(|a| a == class)
            })
            .map_or(self.default_repair_minutes.get(class), |rule| rule.minutes);
        self.assessment_minutes.saturating_add(repair)
    }

    /// Seconds to drive between two WGS84 points into an area of class `class`.
    pub fn travel_seconds(&self, from: [f64; 2], to: [f64; 2], class: AreaClass) -> u32 {
        let metres = fudian_grid::load::haversine_m(from, to) * self.road_factor;
        let metres_per_second = self.speed_kmh.get(class) / 3.6;
        let seconds = (metres / metres_per_second).round();
        if seconds.is_finite() && seconds >= 0.0 {
            // Bounded by the Earth's circumference at any positive speed we accept.
            seconds.min(f64::from(u32::MAX)) as u32
        } else {
            u32::MAX
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_promise_45_minutes_in_the_city_and_90_in_the_countryside() {
        let config = DispatchConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.exchanges.outage, "fudian.outage");
        assert_eq!(config.exchanges.dispatch, "fudian.dispatch");
        assert_eq!(config.arrival_limit_minutes.get(AreaClass::Urban), 45);
        assert_eq!(config.arrival_limit_minutes.get(AreaClass::Rural), 90);
    }

    #[test]
    fn the_table_gives_about_three_hours_in_the_city_and_four_in_the_countryside() {
        let config = DispatchConfig::default();
        let fault = Some(OutageCause::Fault);
        assert_eq!(
            config.table_on_site_minutes(DeviceKind::Line, fault, AreaClass::Core),
            180
        );
        assert_eq!(
            config.table_on_site_minutes(DeviceKind::Transformer, fault, AreaClass::Rural),
            240
        );
        assert_eq!(
            config.table_on_site_minutes(
                DeviceKind::Breaker,
                Some(OutageCause::RemoteSwitching),
                AreaClass::Rural
            ),
            30
        );
    }

    #[test]
    fn ten_kilometres_at_thirty_kmh_with_no_detour_take_twenty_minutes() {
        let config = DispatchConfig {
            road_factor: 1.0,
            ..DispatchConfig::default()
        };
        // 0.1 degree of latitude is about 11.1 km.
        let seconds = config.travel_seconds([118.5, 37.4], [118.5, 37.49], AreaClass::Urban);
        let expected = 10_007.5 / (30.0 / 3.6);
        assert!((f64::from(seconds) - expected).abs() < 5.0, "{seconds}");
    }

    #[test]
    fn a_road_factor_below_one_is_refused_by_name() {
        let config = DispatchConfig {
            road_factor: 0.5,
            ..DispatchConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("road_factor"), "{error}");
    }

    #[test]
    fn a_config_file_may_override_some_keys_and_is_refused_on_an_unknown_one() {
        let text = r#"{
            "arrival_limit_minutes": {"core": 45, "urban": 45, "town": 90, "rural": 120},
            "repair_rules": [{"device": "transformer", "cause": null, "area_class": "rural", "minutes": 300}]
        }"#;
        let config: DispatchConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.arrival_limit_minutes.get(AreaClass::Rural), 120);
        assert_eq!(config.at_risk_margin_minutes, 10);
        assert_eq!(
            config.table_on_site_minutes(DeviceKind::Transformer, None, AreaClass::Rural),
            320
        );
        let error = serde_json::from_str::<DispatchConfig>(r#"{"road_factr": 1.2}"#).unwrap_err();
        assert!(error.to_string().contains("road_factr"), "{error}");
    }
}
