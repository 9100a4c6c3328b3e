//! Annual 停电时户数 (customer-hours of interruption) budgets per area: from the per-customer
//! target of the area class or from last year's actual, split into a pre-arranged
//! (planned) and a fault share, and what is left once actual and scheduled outages are
//! counted.

use serde::{Deserialize, Serialize};

use crate::dlt836::Dlt836Indices;
use crate::error::{ReliabilityError, Result};
use crate::model::AreaClass;

/// Target interruption hours per customer per year, by area class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AreaTargets {
    pub core: f64,
    pub urban: f64,
    pub town: f64,
    pub rural: f64,
}

impl Default for AreaTargets {
    /// Core 1.8 h, urban 4 h, town 7 h, rural 10 h per customer per year.
    fn default() -> Self {
        Self {
            core: 1.8,
            urban: 4.0,
            town: 7.0,
            rural: 10.0,
        }
    }
}

impl AreaTargets {
    pub fn hours_for(&self, area: AreaClass) -> f64 {
        match area {
            AreaClass::Core => self.core,
            AreaClass::Urban => self.urban,
            AreaClass::Town => self.town,
            AreaClass::Rural => self.rural,
        }
    }
}

/// Which figure becomes the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetBasis {
    /// Target hours × users.
    Target,
    /// Last year's actual reduced by `reduction_vs_last_year`.
    LastYear,
    /// The smaller of the two; the target alone when last year is unknown.
    Stricter,
}

impl BudgetBasis {
    fn name(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::LastYear => "last_year",
            Self::Stricter => "stricter",
        }
    }
}

/// How budgets are set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetPolicy {
    pub targets: AreaTargets,
    /// Fraction below last year's actual (0.08: 8 % under). In [0, 1).
    pub reduction_vs_last_year: f64,
    pub basis: BudgetBasis,
    /// Fraction of the budget reserved for pre-arranged (planned) outages; the rest is
    /// the fault share. In [0, 1].
    pub planned_share: f64,
}

impl Default for BudgetPolicy {
    /// Default targets, 8 % under last year, the stricter of the two, half for planned work.
    fn default() -> Self {
        Self {
            targets: AreaTargets::default(),
            reduction_vs_last_year: 0.08,
            basis: BudgetBasis::Stricter,
            planned_share: 0.5,
        }
    }
}

/// One area's annual budget, in customer-hours (停电时户数).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    pub area_class: AreaClass,
    pub users: u64,
    /// Target hours per customer × users.
    pub target_based: f64,
    /// Last year's actual × (1 − reduction), when last year is known.
    pub last_year_based: Option<f64>,
    /// `Target` or `LastYear`: the figure that became the budget.
    pub basis_used: BudgetBasis,
    pub total: f64,
    pub planned: f64,
    pub fault: f64,
}

/// What has used or will use the budget, in customer-hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Consumption {
    /// Pre-arranged outages that already happened.
    pub actual_planned: f64,
    /// Fault outages that already happened.
    pub actual_fault: f64,
    /// Pre-arranged outages approved but not yet carried out.
    pub scheduled_planned: f64,
}

impl Consumption {
    /// The actuals of a DL/T 836 low-voltage report, plus what is scheduled.
    pub fn from_actuals(actual: &Dlt836Indices, scheduled_planned: f64) -> Self {
        Self {
            actual_planned: actual.planned_user_hours,
            actual_fault: actual.fault_user_hours,
            scheduled_planned,
        }
    }
}

/// Budget against consumption (consumption = actual + scheduled); remaining may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetStatus {
    pub consumed: f64,
    pub remaining: f64,
    pub planned_consumed: f64,
    pub planned_remaining: f64,
    pub fault_consumed: f64,
    pub fault_remaining: f64,
    pub over_budget: bool,
}

fn check_fraction(name: &'static str, value: f64, upper_inclusive: bool) -> Result<()> {
    let within = value >= 0.0 && (value < 1.0 || (upper_inclusive && value == 1.0));
    if within {
        Ok(())
    } else {
        let range = if upper_inclusive { "[0, 1]" } else { "[0, 1)" };
        Err(ReliabilityError::InvalidOption {
            name,
            reason: format!("{value} is not in {range}"),
        })
    }
}

fn check_hours(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ReliabilityError::InvalidOption {
            name,
            reason: format!("{value} is not a finite number of hours at or above zero"),
        })
    }
}

/// The annual budget of an area with `users` low-voltage customers.
///
/// `last_year_actual` is last year's 停电时户数 of the same area (customer-hours).
pub fn annual_budget(
    area_class: AreaClass,
    users: u64,
    last_year_actual: Option<f64>,
    policy: &BudgetPolicy,
) -> Result<Budget> {
    check_fraction(
        "reduction_vs_last_year",
        policy.reduction_vs_last_year,
        false,
    )?;
    check_fraction("planned_share", policy.planned_share, true)?;
    let target_hours = policy.targets.hours_for(area_class);
    check_hours("targets", target_hours)?;
    if let Some(actual) = last_year_actual {
        check_hours("last_year_actual", actual)?;
    }
    let target_based = target_hours * users as f64;
    let last_year_based =
        last_year_actual.map(|actual| actual * (1.0 - policy.reduction_vs_last_year));
    let (basis_used, total) = match (policy.basis, last_year_based) {
        (BudgetBasis::Target, _) | (BudgetBasis::Stricter, None) => {
            (BudgetBasis::Target, target_based)
        }
        (BudgetBasis::LastYear, Some(last)) => (BudgetBasis::LastYear, last),
        (BudgetBasis::Stricter, Some(last)) if last < target_based => (BudgetBasis::LastYear, last),
        (BudgetBasis::Stricter, Some(_)) => (BudgetBasis::Target, target_based),
        (BudgetBasis::LastYear, None) => {
            return Err(ReliabilityError::MissingLastYear {
                basis: policy.basis.name(),
            });
        }
    };
    let planned = total * policy.planned_share;
    Ok(Budget {
        area_class,
        users,
        target_based,
        last_year_based,
        basis_used,
        total,
        planned,
        fault: total - planned,
    })
}

impl Budget {
    /// Consumption = actual (planned + fault) + scheduled planned; remaining = budget − consumption.
    pub fn status(&self, consumption: &Consumption) -> Result<BudgetStatus> {
        check_hours("actual_planned", consumption.actual_planned)?;
        check_hours("actual_fault", consumption.actual_fault)?;
        check_hours("scheduled_planned", consumption.scheduled_planned)?;
        let planned_consumed = consumption.actual_planned + consumption.scheduled_planned;
        let fault_consumed = consumption.actual_fault;
        let consumed = planned_consumed + fault_consumed;
        Ok(BudgetStatus {
            consumed,
            remaining: self.total - consumed,
            planned_consumed,
            planned_remaining: self.planned - planned_consumed,
            fault_consumed,
            fault_remaining: self.fault - fault_consumed,
            over_budget: consumed > self.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    #[test]
    fn stricter_basis_takes_eight_percent_under_last_year_when_that_is_lower() {
        // urban target: 4 h × 1000 = 4000; last year 3500 × (1 − 0.08) = 3220 < 4000.
        // planned share 0.6: planned 3220 × 0.6 = 1932, fault 3220 − 1932 = 1288.
        let policy = BudgetPolicy {
            planned_share: 0.6,
            ..BudgetPolicy::default()
        };
        let budget = annual_budget(AreaClass::Urban, 1000, Some(3500.0), &policy).unwrap();
        assert!((budget.target_based - 4000.0).abs() < EPS);
        assert!((budget.last_year_based.unwrap() - 3220.0).abs() < EPS);
        assert_eq!(budget.basis_used, BudgetBasis::LastYear);
        assert!((budget.total - 3220.0).abs() < EPS);
        assert!((budget.planned - 1932.0).abs() < EPS);
        assert!((budget.fault - 1288.0).abs() < EPS);

        // consumed = (1000 planned + 800 scheduled) + 500 fault = 2300; remaining 920;
        // planned remaining 1932 − 1800 = 132; fault remaining 1288 − 500 = 788.
        let status = budget
            .status(&Consumption {
                actual_planned: 1000.0,
                actual_fault: 500.0,
                scheduled_planned: 800.0,
            })
            .unwrap();
        assert!((status.consumed - 2300.0).abs() < EPS);
        assert!((status.remaining - 920.0).abs() < EPS);
        assert!((status.planned_remaining - 132.0).abs() < EPS);
        assert!((status.fault_remaining - 788.0).abs() < EPS);
        assert!(!status.over_budget);
    }

    #[test]
    fn stricter_basis_keeps_the_target_when_last_year_was_worse() {
        // rural: 10 h × 200 = 2000; last year 3000 × 0.92 = 2760 > 2000.
        let budget = annual_budget(
            AreaClass::Rural,
            200,
            Some(3000.0),
            &BudgetPolicy::default(),
        )
        .unwrap();
        assert_eq!(budget.basis_used, BudgetBasis::Target);
        assert!((budget.total - 2000.0).abs() < EPS);
        assert!((budget.planned - 1000.0).abs() < EPS);
    }

    #[test]
    fn core_target_is_one_point_eight_hours_per_customer() {
        let policy = BudgetPolicy {
            basis: BudgetBasis::Target,
            ..BudgetPolicy::default()
        };
        let budget = annual_budget(AreaClass::Core, 500, Some(1.0), &policy).unwrap();
        assert!((budget.total - 900.0).abs() < EPS);
    }

    #[test]
    fn last_year_basis_without_last_year_is_an_error() {
        let policy = BudgetPolicy {
            basis: BudgetBasis::LastYear,
            ..BudgetPolicy::default()
        };
        assert_eq!(
            annual_budget(AreaClass::Town, 10, None, &policy),
            Err(ReliabilityError::MissingLastYear { basis: "last_year" })
        );
    }

    #[test]
    fn overspending_shows_negative_remaining_and_the_flag() {
        let policy = BudgetPolicy {
            basis: BudgetBasis::Target,
            ..BudgetPolicy::default()
        };
        // town: 7 h × 10 = 70; consumed 50 + 30 + 0 = 80; remaining −10.
        let budget = annual_budget(AreaClass::Town, 10, None, &policy).unwrap();
        let status = budget
            .status(&Consumption {
                actual_planned: 50.0,
                actual_fault: 30.0,
                scheduled_planned: 0.0,
            })
            .unwrap();
        assert!((status.remaining + 10.0).abs() < EPS);
        assert!(status.over_budget);
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        let policy = BudgetPolicy {
            planned_share: 1.5,
            ..BudgetPolicy::default()
        };
        assert!(matches!(
            annual_budget(AreaClass::Urban, 1, None, &policy),
            Err(ReliabilityError::InvalidOption {
                name: "planned_share",
                ..
            })
        ));
        let policy = BudgetPolicy {
            reduction_vs_last_year: f64::NAN,
            ..BudgetPolicy::default()
        };
        assert!(annual_budget(AreaClass::Urban, 1, None, &policy).is_err());
    }
}
