//! The one error type of the planner core.

use crate::core::job::JobState;

/// Everything the planner core refuses, with what was wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum PlannerError {
    #[error("job {job}: {field} is invalid: {reason}")]
    InvalidJob {
        job: String,
        field: &'static str,
        reason: String,
    },
    #[error(
        "job {job}: element {element} is not a line, transformer, switch or bus (with a line or transformer) of the grid"
    )]
    UnknownElement { job: String, element: String },
    #[error("job {job}: cannot {action} a job that is {state:?}")]
    InvalidTransition {
        job: String,
        state: JobState,
        action: &'static str,
    },
    #[error("job {job}: {what} needs a reason")]
    ReasonRequired { job: String, what: &'static str },
    #[error("job {job}: assessment is for job {assessed}")]
    AssessmentMismatch { job: String, assessed: String },
    #[error(
        "job {job}: {needed} customer-hours exceed the {remaining} left in area {area}; approve with an override reason"
    )]
    OverBudget {
        job: String,
        area: String,
        needed: f64,
        remaining: f64,
    },
    #[error("area {area} has no budget")]
    UnknownArea { area: String },
    #[error("job {job}: date {date} is outside its window {earliest}..={latest}")]
    OutsideWindow {
        job: String,
        date: chrono::NaiveDate,
        earliest: chrono::NaiveDate,
        latest: chrono::NaiveDate,
    },
    #[error("budget: {0}")]
    Reliability(#[from] fudian_reliability::ReliabilityError),
}

pub type Result<T, E = PlannerError> = std::result::Result<T, E>;
