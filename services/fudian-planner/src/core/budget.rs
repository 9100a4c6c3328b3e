//! The budget gate of approval (预算式停电管理): each area has an annual customer-hour
//! budget (from `fudian-reliability`); approving a job charges its planned customer-hours
//! to the area, and a job that would overrun the planned part is refused unless the
//! approver overrides with a reason.

use std::collections::HashMap;

use fudian_reliability::{Budget, Consumption};
use serde::{Deserialize, Serialize};

use crate::core::assess::Assessment;
use crate::core::job::{Job, require_reason};
use crate::error::{PlannerError, Result};

/// One area's budget and what it has consumed so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaBudget {
    pub budget: Budget,
    pub consumption: Consumption,
}

/// The verdict of checking a job against its area's budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetCheck {
    pub area: String,
    pub needed: f64,
    /// Planned customer-hours left before the job.
    pub remaining_before: f64,
    pub remaining_after: f64,
    pub fits: bool,
    /// The override reason, when the job was approved over budget.
    pub overridden: Option<String>,
}

/// Budgets by area.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BudgetLedger {
    areas: HashMap<String, AreaBudget>,
}

impl BudgetLedger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, area: impl Into<String>, budget: Budget, consumption: Consumption) {
        self.areas.insert(
            area.into(),
            AreaBudget {
                budget,
                consumption,
            },
        );
    }

    pub fn area(&self, area: &str) -> Option<&AreaBudget> {
        self.areas.get(area)
    }

    /// Planned customer-hours left in `area`.
    pub fn remaining(&self, area: &str) -> Result<f64> {
        let entry = self
            .areas
            .get(area)
            .ok_or_else(|| PlannerError::UnknownArea {
                area: area.to_owned(),
            })?;
        Ok(entry.budget.status(&entry.consumption)?.planned_remaining)
    }

    /// Whether `customer_hours` fit in what is left of `area`'s planned budget.
    pub fn check(&self, area: &str, customer_hours: f64) -> Result<BudgetCheck> {
        let remaining_before = self.remaining(area)?;
        let remaining_after = remaining_before - customer_hours;
        Ok(BudgetCheck {
            area: area.to_owned(),
            needed: customer_hours,
            remaining_before,
            remaining_after,
            fits: remaining_after >= 0.0,
            overridden: None,
        })
    }

    /// Approves an assessed job and charges its customer-hours to its area. A job that
    /// would overrun the budget is refused unless `override_reason` says why it must go
    /// ahead anyway.
    pub fn approve(
        &mut self,
        job: &mut Job,
        assessment: &Assessment,
        override_reason: Option<&str>,
    ) -> Result<BudgetCheck> {
        if assessment.job != job.id().as_str() {
            return Err(PlannerError::AssessmentMismatch {
                job: job.id().to_string(),
                assessed: assessment.job.clone(),
            });
        }
        let area = job.request.area.clone();
        let mut check = self.check(&area, assessment.charged_customer_hours)?;
        let reason = override_reason
            .map(|reason| require_reason(job.id(), "a budget override", reason))
            .transpose()?;
        if !check.fits {
            match reason {
                Some(reason) => check.overridden = Some(reason),
                None => {
                    return Err(PlannerError::OverBudget {
                        job: job.id().to_string(),
                        area,
                        needed: check.needed,
                        remaining: check.remaining_before,
                    });
                }
            }
        }
        job.mark_approved(assessment.charged_customer_hours, check.overridden.clone())?;
        if let Some(entry) = self.areas.get_mut(&area) {
            entry.consumption.scheduled_planned += assessment.charged_customer_hours;
        }
        Ok(check)
    }
}

#[cfg(test)]
mod tests {
    use fudian_reliability::{AreaClass, AreaTargets, BudgetBasis, BudgetPolicy, annual_budget};

    use super::*;
    use crate::core::assess::{AssessContext, Assessor, TransferChoice};
    use crate::core::fixture::oberrhein;
    use crate::core::job::{JobState, sample_request};

    fn ledger_with_planned(planned_hours: f64) -> BudgetLedger {
        let policy = BudgetPolicy {
            targets: AreaTargets {
                core: 1.0,
                urban: 1.0,
                town: 1.0,
                rural: 1.0,
            },
            reduction_vs_last_year: 0.0,
            basis: BudgetBasis::Target,
            planned_share: 1.0,
        };
        let budget = annual_budget(AreaClass::Urban, planned_hours as u64, None, &policy).unwrap();
        let mut ledger = BudgetLedger::new();
        ledger.insert("east", budget, Consumption::default());
        ledger
    }

    fn assessed(line: &str) -> (Job, Assessment) {
        let (grid, topology) = oberrhein();
        let assessor = Assessor::new(&grid, &topology);
        let mut job = Job::new(sample_request("J1", &[line])).unwrap();
        let assessment = assessor
            .assess(
                &job.request,
                &AssessContext::default(),
                &TransferChoice::UseTransfer,
            )
            .unwrap();
        job.mark_assessed().unwrap();
        (job, assessment)
    }

    #[test]
    fn a_job_that_would_overrun_the_budget_is_refused() {
        let (mut job, assessment) = assessed("L11");
        assert!(assessment.charged_customer_hours > 10.0);
        let mut ledger = ledger_with_planned(10.0);
        let error = ledger.approve(&mut job, &assessment, None).unwrap_err();
        assert!(matches!(error, PlannerError::OverBudget { .. }), "{error}");
        assert_eq!(job.state, JobState::Assessed);
        assert_eq!(ledger.remaining("east").unwrap(), 10.0);
    }

    #[test]
    fn an_override_with_a_reason_approves_over_budget_and_charges_it() {
        let (mut job, assessment) = assessed("L11");
        let mut ledger = ledger_with_planned(10.0);
        assert!(matches!(
            ledger.approve(&mut job, &assessment, Some("")),
            Err(PlannerError::ReasonRequired { .. })
        ));
        let check = ledger
            .approve(&mut job, &assessment, Some("substation safety order"))
            .unwrap();
        assert!(!check.fits);
        assert_eq!(check.overridden.as_deref(), Some("substation safety order"));
        assert_eq!(job.state, JobState::Approved);
        assert_eq!(
            ledger.remaining("east").unwrap(),
            10.0 - assessment.charged_customer_hours
        );
    }

    #[test]
    fn a_job_within_budget_is_approved_and_charged() {
        let (mut job, assessment) = assessed("L11");
        let mut ledger = ledger_with_planned(1000.0);
        let check = ledger.approve(&mut job, &assessment, None).unwrap();
        assert!(check.fits);
        assert_eq!(
            job.approved_customer_hours,
            Some(assessment.charged_customer_hours)
        );
        assert_eq!(
            ledger.remaining("east").unwrap(),
            1000.0 - assessment.charged_customer_hours
        );
    }

    #[test]
    fn an_area_without_a_budget_is_an_error() {
        let ledger = BudgetLedger::new();
        assert_eq!(
            ledger.check("west", 1.0).unwrap_err(),
            PlannerError::UnknownArea {
                area: "west".into()
            }
        );
    }
}
