//! Frequent and repeat outages (频繁停电, 重复停电) per customer and per 台区 under
//! configurable counting rules with warning levels, and single outages that last too
//! long (by default more than 24 h).
//!
//! Only sustained interruptions count (longer than `Options::dlt_short_at_most_secs`,
//! the DL/T 836 短时停电 bound) and only those that start in the period.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ReliabilityError, Result};
use crate::model::{
    AreaClass, Caliber, CustomerId, Interruption, Options, Period, TransformerId, millis_to_hours,
};
use crate::units::{UnitInterruption, unit_interruptions};

/// Which interruptions a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountScope {
    All,
    /// 预安排停电 only.
    Planned,
    /// 故障停电 only.
    Unplanned,
}

/// "`breach_at` or more interruptions of `scope` within `window_days`", with an earlier
/// warning at `warn_at`. "More than 5 in a year" is `breach_at: 6` over a one-year period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatRule {
    /// Names the rule in findings.
    pub id: String,
    pub scope: CountScope,
    /// Sliding window: interruptions whose starts lie less than this many days apart.
    /// `None` counts over the whole period.
    pub window_days: Option<u32>,
    /// Count at which a warning is raised; must be below `breach_at`.
    pub warn_at: Option<u32>,
    /// Count at which the rule is breached; at least 1.
    pub breach_at: u32,
}

/// The rules and the long-outage limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatPolicy {
    pub rules: Vec<RepeatRule>,
    /// A single outage longer than this many hours is reported. Default 24.
    pub long_outage_over_hours: u32,
}

impl Default for RepeatPolicy {
    /// More than 5 in the period (warning at 4), 3 within any 60 days (warning at 2),
    /// 3 planned in the period (warning at 2), and single outages over 24 h.
    fn default() -> Self {
        let rule = |id: &str, scope, window_days, warn_at, breach_at| RepeatRule {
            id: id.to_owned(),
            scope,
            window_days,
            warn_at: Some(warn_at),
            breach_at,
        };
        Self {
            rules: vec![
                rule("more_than_5_in_period", CountScope::All, None, 4, 6),
                rule("3_within_60_days", CountScope::All, Some(60), 2, 3),
                rule("3_planned_in_period", CountScope::Planned, None, 2, 3),
            ],
            long_outage_over_hours: 24,
        }
    }
}

impl RepeatPolicy {
    fn validate(&self) -> Result<()> {
        let invalid = |name, reason: String| Err(ReliabilityError::InvalidOption { name, reason });
        for rule in &self.rules {
            if rule.breach_at == 0 {
                return invalid("breach_at", format!("rule {} breaches at 0", rule.id));
            }
            if let Some(warn_at) = rule.warn_at
                && (warn_at == 0 || warn_at >= rule.breach_at)
            {
                return invalid(
                    "warn_at",
                    format!(
                        "rule {} warns at {warn_at}, which is not between 1 and its breach_at {}",
                        rule.id, rule.breach_at
                    ),
                );
            }
            if rule.window_days == Some(0) {
                return invalid("window_days", format!("rule {} has a zero window", rule.id));
            }
        }
        Ok(())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Warning,
    Breach,
}

/// Who a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    Customer(CustomerId),
    /// A 台区, interrupted when its transformer loses supply.
    Transformer(TransformerId),
}

/// A rule that reached its warning or breach count for one subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatFinding {
    pub subject: Subject,
    pub area_class: AreaClass,
    pub rule_id: String,
    pub level: AlertLevel,
    /// The largest count over any window of the rule.
    pub count: u32,
    /// Start of the first and of the last interruption in that window.
    pub first_start: DateTime<Utc>,
    pub last_start: DateTime<Utc>,
}

/// A single outage longer than the policy's limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongOutage {
    pub subject: Subject,
    pub area_class: AreaClass,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Full length, not clipped to the period (an outage is as long as it was).
    pub hours: f64,
}

/// Findings per customer and per 台区, in subject order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatReport {
    pub findings: Vec<RepeatFinding>,
    pub long_outages: Vec<LongOutage>,
}

/// Applies `policy` to every customer and every transformer over `period`.
pub fn repeat_outages(
    records: &[Interruption],
    period: &Period,
    policy: &RepeatPolicy,
    options: &Options,
) -> Result<RepeatReport> {
    policy.validate()?;
    let mut report = RepeatReport {
        findings: Vec::new(),
        long_outages: Vec::new(),
    };
    for caliber in [Caliber::LowVoltage, Caliber::MediumVoltage] {
        let mut units = unit_interruptions(records, period, caliber)?;
        units.sort_by(|a, b| (&a.unit, a.start).cmp(&(&b.unit, b.start)));
        let subject = |unit: &UnitInterruption| match caliber {
            Caliber::LowVoltage => Subject::Customer(CustomerId(unit.unit.clone())),
            Caliber::MediumVoltage => Subject::Transformer(TransformerId(unit.unit.clone())),
        };
        let long_limit = TimeDelta::hours(i64::from(policy.long_outage_over_hours));
        for unit in &units {
            if unit.end - unit.start > long_limit {
                report.long_outages.push(LongOutage {
                    subject: subject(unit),
                    area_class: unit.area,
                    start: unit.start,
                    end: unit.end,
                    hours: millis_to_hours(unit.full_millis),
                });
            }
        }
        let counted: Vec<&UnitInterruption> = units
            .iter()
            .filter(|unit| {
                unit.starts_in_period && unit.longer_than(options.dlt_short_at_most_millis())
            })
            .collect();
        for same_unit in counted.chunk_by(|a, b| a.unit == b.unit) {
            for rule in &policy.rules {
                if let Some(finding) = apply_rule(rule, same_unit) {
                    let first = same_unit[0];
                    report.findings.push(RepeatFinding {
                        subject: subject(first),
                        area_class: first.area,
                        rule_id: rule.id.clone(),
                        level: finding.level,
                        count: finding.count,
                        first_start: finding.first_start,
                        last_start: finding.last_start,
                    });
                }
            }
        }
    }
    Ok(report)
}

struct Hit {
    level: AlertLevel,
    count: u32,
    first_start: DateTime<Utc>,
    last_start: DateTime<Utc>,
}

/// The fullest window of `rule` over one unit's interruptions (sorted by start).
fn apply_rule(rule: &RepeatRule, interruptions: &[&UnitInterruption]) -> Option<Hit> {
    let starts: Vec<DateTime<Utc>> = interruptions
        .iter()
        .filter(|unit| match rule.scope {
            CountScope::All => true,
            CountScope::Planned => unit.planned,
            CountScope::Unplanned => !unit.planned,
        })
        .map(|unit| unit.start)
        .collect();
    let window = rule
        .window_days
        .map(|days| TimeDelta::days(i64::from(days)));
    let mut best: Option<(usize, usize)> = None;
    let mut first = 0;
    for last in 0..starts.len() {
        if let Some(window) = window {
            while starts[last] - starts[first] >= window {
                first += 1;
            }
        }
        if best.is_none_or(|(a, b)| last - first > b - a) {
            best = Some((first, last));
        }
    }
    let (first, last) = best?;
    let count = u32::try_from(last - first + 1).unwrap_or(u32::MAX);
    let level = if count >= rule.breach_at {
        AlertLevel::Breach
    } else if rule.warn_at.is_some_and(|warn_at| count >= warn_at) {
        AlertLevel::Warning
    } else {
        return None;
    };
    Some(Hit {
        level,
        count,
        first_start: starts[first],
        last_start: starts[last],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CauseClass;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn off(customer: &str, start: &str, planned: bool) -> Interruption {
        Interruption {
            customer_id: CustomerId(customer.to_owned()),
            transformer_id: None,
            area_class: AreaClass::Rural,
            start: at(start),
            end: at(start) + TimeDelta::hours(1),
            planned,
            cause_class: CauseClass::Internal,
        }
    }

    fn year() -> Period {
        Period::new(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")).unwrap()
    }

    fn policy(rule: RepeatRule) -> RepeatPolicy {
        RepeatPolicy {
            rules: vec![rule],
            long_outage_over_hours: 24,
        }
    }

    #[test]
    fn three_starts_spanning_exactly_sixty_days_are_not_within_sixty_days() {
        let rule = RepeatRule {
            id: "3_in_60".to_owned(),
            scope: CountScope::All,
            window_days: Some(60),
            warn_at: None,
            breach_at: 3,
        };
        // 2026-03-01 + 60 d = 2026-04-30: the window is half-open, so only 2 fit.
        let records = [
            off("a", "2026-03-01T08:00:00Z", false),
            off("a", "2026-03-20T08:00:00Z", false),
            off("a", "2026-04-30T08:00:00Z", false),
        ];
        let report = repeat_outages(
            &records,
            &year(),
            &policy(rule.clone()),
            &Options::default(),
        )
        .unwrap();
        assert!(report.findings.is_empty());
        // one minute earlier and all three are inside
        let mut records = records;
        records[2].start = at("2026-04-30T07:59:00Z");
        let report = repeat_outages(&records, &year(), &policy(rule), &Options::default()).unwrap();
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].level, AlertLevel::Breach);
        assert_eq!(report.findings[0].count, 3);
    }

    #[test]
    fn planned_scope_ignores_fault_outages() {
        let rule = RepeatRule {
            id: "planned".to_owned(),
            scope: CountScope::Planned,
            window_days: None,
            warn_at: Some(1),
            breach_at: 2,
        };
        let records = [
            off("a", "2026-03-01T08:00:00Z", true),
            off("a", "2026-05-01T08:00:00Z", false),
            off("a", "2026-07-01T08:00:00Z", false),
        ];
        let report = repeat_outages(&records, &year(), &policy(rule), &Options::default()).unwrap();
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].level, AlertLevel::Warning);
        assert_eq!(report.findings[0].count, 1);
    }

    #[test]
    fn a_warning_level_at_or_above_the_breach_level_is_refused() {
        let rule = RepeatRule {
            id: "odd".to_owned(),
            scope: CountScope::All,
            window_days: None,
            warn_at: Some(3),
            breach_at: 3,
        };
        let error = repeat_outages(&[], &year(), &policy(rule), &Options::default()).unwrap_err();
        assert!(matches!(
            error,
            ReliabilityError::InvalidOption {
                name: "warn_at",
                ..
            }
        ));
    }
}
