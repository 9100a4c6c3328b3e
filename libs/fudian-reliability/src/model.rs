//! The input model: interruption records, the statistics period, the user population and
//! the options shared by every index.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ReliabilityError, Result};

/// A low-voltage customer (低压用户), by the id the outage service gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub String);

/// A public distribution transformer (公用配变, one 台区).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransformerId(pub String);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TransformerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Supply-area class (供电区域), as in the grid package's `area_class`: the event contract's
/// type, so reports, budgets and events name classes alike.
pub use fudian_events::common::AreaClass;

/// Why supply was lost, as far as the DL/T 836 variants care.
///
/// DL/T 836 splits 停电性质 into 故障停电 and 预安排停电; the -2 indices leave out
/// 外部影响 ([`CauseClass::External`]) and the -3 indices leave out 系统电源不足限电
/// ([`CauseClass::SupplyShortage`]). Everything else is [`CauseClass::Internal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CauseClass {
    /// Inside the utility's own supply system (faults, maintenance, ...).
    Internal,
    /// 外部影响: caused outside the supply system (third-party damage, upstream grid, ...).
    External,
    /// 系统电源不足限电: load shedding for lack of generation.
    SupplyShortage,
}

/// Which users an index counts (DL/T 836 evaluates both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Caliber {
    /// 低压用户: every low-voltage customer is one user.
    LowVoltage,
    /// 中压用户: every public distribution transformer (台区) is one user, interrupted when
    /// the transformer loses supply.
    MediumVoltage,
}

impl fmt::Display for Caliber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LowVoltage => "low-voltage",
            Self::MediumVoltage => "medium-voltage",
        })
    }
}

/// One customer's loss of supply.
///
/// `transformer_id` is set when the customer lost supply because its transformer (台区)
/// did; such records also make up the medium-voltage caliber. It is `None` for an
/// interruption on the low-voltage side only (a service drop, a meter), which counts
/// for the customer but not for the transformer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interruption {
    pub customer_id: CustomerId,
    pub transformer_id: Option<TransformerId>,
    pub area_class: AreaClass,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// 预安排停电 (planned or temporary pre-arranged), as opposed to 故障停电.
    pub planned: bool,
    pub cause_class: CauseClass,
}

impl Interruption {
    /// Full length of the interruption, not clipped to any period.
    pub fn duration(&self) -> TimeDelta {
        self.end - self.start
    }
}

/// The statistics period (统计期间), half-open: `[start, end)`.
///
/// Interruptions are clipped to it: time outside the period is not counted, and an
/// interruption counts towards frequencies only in the period where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PeriodFields")]
pub struct Period {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[derive(Deserialize)]
struct PeriodFields {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TryFrom<PeriodFields> for Period {
    type Error = ReliabilityError;
    fn try_from(fields: PeriodFields) -> Result<Self> {
        Self::new(fields.start, fields.end)
    }
}

impl Period {
    /// A period; `end` must be after `start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self> {
        if end <= start {
            return Err(ReliabilityError::EmptyPeriod { start, end });
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Length in milliseconds (the unit every sum is kept in, so sums are exact).
    pub fn millis(&self) -> i64 {
        (self.end - self.start).num_milliseconds()
    }

    /// Length in hours (统计期间时间).
    pub fn hours(&self) -> f64 {
        millis_to_hours(self.millis())
    }

    /// Whether `at` lies in `[start, end)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// Milliseconds of `[start, end)` that fall inside the period.
    pub fn clipped_millis(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
        let from = start.max(self.start);
        let to = end.min(self.end);
        if to > from {
            (to - from).num_milliseconds()
        } else {
            0
        }
    }
}

/// Number of users per caliber and area class (the denominators of every index).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Population {
    /// Low-voltage customers per area class.
    pub low_voltage: BTreeMap<AreaClass, u64>,
    /// Public distribution transformers (台区) per area class.
    pub transformers: BTreeMap<AreaClass, u64>,
}

impl Population {
    /// Users of one caliber per area class.
    pub fn of(&self, caliber: Caliber) -> &BTreeMap<AreaClass, u64> {
        match caliber {
            Caliber::LowVoltage => &self.low_voltage,
            Caliber::MediumVoltage => &self.transformers,
        }
    }

    /// Users of one caliber over all areas.
    pub fn total(&self, caliber: Caliber) -> u64 {
        self.of(caliber).values().sum()
    }
}

/// Thresholds shared by the indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// IEEE 1366-2022 (momentary vs sustained interruption): an interruption shorter than this is momentary, otherwise
    /// sustained. Default 300 s (5 minutes).
    pub momentary_below_secs: u32,
    /// DL/T 836.1-2016 §2 (术语和定义, 短时停电): an interruption of at most this long is 短时停电 and is
    /// left out of the DL/T 836 indices and the repeat-outage counts. Default 180 s
    /// (3 minutes); set 0 to count every interruption.
    pub dlt_short_at_most_secs: u32,
    /// IEEE 1366-2022 (momentary interruption event): momentary interruptions of one
    /// customer that start within this long of the event's first one are one event, and an
    /// event followed within it by a sustained interruption is part of that interruption.
    /// Default 300 s (5 minutes).
    pub momentary_event_window_secs: u32,
    /// The n of the CEMIn and CEMSMIn values reported (IEEE 1366-2022). Default 1 to 5.
    pub cemi_n: Vec<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            momentary_below_secs: 300,
            dlt_short_at_most_secs: 180,
            momentary_event_window_secs: 300,
            cemi_n: vec![1, 2, 3, 4, 5],
        }
    }
}

impl Options {
    pub(crate) fn momentary_below_millis(&self) -> i64 {
        i64::from(self.momentary_below_secs) * 1000
    }

    pub(crate) fn momentary_event_window(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.momentary_event_window_secs))
    }

    pub(crate) fn dlt_short_at_most_millis(&self) -> i64 {
        i64::from(self.dlt_short_at_most_secs) * 1000
    }
}

pub(crate) const MILLIS_PER_HOUR: f64 = 3_600_000.0;
pub(crate) const MILLIS_PER_MINUTE: f64 = 60_000.0;

pub(crate) fn millis_to_hours(millis: i64) -> f64 {
    millis as f64 / MILLIS_PER_HOUR
}

pub(crate) fn millis_to_minutes(millis: i64) -> f64 {
    millis as f64 / MILLIS_PER_MINUTE
}
