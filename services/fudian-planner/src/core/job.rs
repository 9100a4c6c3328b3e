//! A planned job (计划停电工作) and its state machine. Every transition is checked; the
//! ones that need a reason (rejection, cancellation, overrides) refuse an empty one.

use chrono::NaiveDate;
use fudian_events::ids::PlannedJobId;
use serde::{Deserialize, Serialize};

use crate::error::{PlannerError, Result};

/// The kind of work, which decides nothing here but is shown and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Maintenance,
    Replacement,
    NewConnection,
    Upgrade,
    Inspection,
    Other,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Draft,
    Assessed,
    Approved,
    Rejected,
    Scheduled,
    Started,
    Completed,
    Cancelled,
}

/// One recorded state change, with the reason when one was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: JobState,
    pub to: JobState,
    pub reason: Option<String>,
}

/// What a requester submits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    pub id: PlannedJobId,
    /// Ids of the lines, transformers or switches to work on.
    pub elements: Vec<String>,
    pub work: WorkKind,
    pub duration_hours: f64,
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub crew: String,
    pub live_line_possible: bool,
    pub requester: String,
    /// The budget area the job is charged to.
    pub area: String,
}

/// A job with its state, the date it is scheduled on and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub request: JobRequest,
    pub state: JobState,
    pub scheduled_on: Option<NaiveDate>,
    /// Customer-hours charged to the budget when approved.
    pub approved_customer_hours: Option<f64>,
    pub history: Vec<Transition>,
}

/// Refuses an empty reason; the trimmed reason otherwise.
pub(crate) fn require_reason(
    job: &PlannedJobId,
    what: &'static str,
    reason: &str,
) -> Result<String> {
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        Err(PlannerError::ReasonRequired {
            job: job.to_string(),
            what,
        })
    } else {
        Ok(trimmed.to_owned())
    }
}

impl JobRequest {
    /// Checks the request's own fields (not the grid: that is the assessor's job).
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &'static str, reason: String| PlannerError::InvalidJob {
            job: self.id.to_string(),
            field,
            reason,
        };
        if self.elements.is_empty() {
            return Err(invalid("elements", "no element to work on".into()));
        }
        if !(self.duration_hours.is_finite() && self.duration_hours > 0.0) {
            return Err(invalid(
                "duration_hours",
                format!("{} is not a positive number of hours", self.duration_hours),
            ));
        }
        if self.latest < self.earliest {
            return Err(invalid(
                "latest",
                format!("{} is before earliest {}", self.latest, self.earliest),
            ));
        }
        if self.crew.trim().is_empty() {
            return Err(invalid("crew", "empty".into()));
        }
        Ok(())
    }
}

impl Job {
    /// A new draft job from a valid request.
    pub fn new(request: JobRequest) -> Result<Self> {
        request.validate()?;
        Ok(Self {
            request,
            state: JobState::Draft,
            scheduled_on: None,
            approved_customer_hours: None,
            history: Vec::new(),
        })
    }

    pub fn id(&self) -> &PlannedJobId {
        &self.request.id
    }

    fn move_to(
        &mut self,
        allowed_from: &[JobState],
        to: JobState,
        action: &'static str,
        reason: Option<String>,
    ) -> Result<()> {
        if !allowed_from.contains(&self.state) {
            return Err(PlannerError::InvalidTransition {
                job: self.id().to_string(),
                state: self.state,
                action,
            });
        }
        self.history.push(Transition {
            from: self.state,
            to,
            reason,
        });
        self.state = to;
        Ok(())
    }

    /// Records that the job was assessed (again, if the grid or the job changed).
    pub fn mark_assessed(&mut self) -> Result<()> {
        self.move_to(
            &[JobState::Draft, JobState::Assessed],
            JobState::Assessed,
            "assess",
            None,
        )
    }

    /// Approves an assessed job charging `customer_hours`; the budget check is
    /// [`crate::BudgetLedger::approve`], which calls this.
    pub(crate) fn mark_approved(
        &mut self,
        customer_hours: f64,
        reason: Option<String>,
    ) -> Result<()> {
        self.move_to(&[JobState::Assessed], JobState::Approved, "approve", reason)?;
        self.approved_customer_hours = Some(customer_hours);
        Ok(())
    }

    pub fn reject(&mut self, reason: &str) -> Result<()> {
        let reason = require_reason(self.id(), "rejection", reason)?;
        self.move_to(
            &[JobState::Assessed],
            JobState::Rejected,
            "reject",
            Some(reason),
        )
    }

    /// Fixes the date of an approved (or re-schedules a scheduled) job inside its window.
    pub fn schedule(&mut self, date: NaiveDate) -> Result<()> {
        if date < self.request.earliest || date > self.request.latest {
            return Err(PlannerError::OutsideWindow {
                job: self.id().to_string(),
                date,
                earliest: self.request.earliest,
                latest: self.request.latest,
            });
        }
        self.move_to(
            &[JobState::Approved, JobState::Scheduled],
            JobState::Scheduled,
            "schedule",
            None,
        )?;
        self.scheduled_on = Some(date);
        Ok(())
    }

    pub fn start(&mut self) -> Result<()> {
        self.move_to(&[JobState::Scheduled], JobState::Started, "start", None)
    }

    pub fn complete(&mut self) -> Result<()> {
        self.move_to(&[JobState::Started], JobState::Completed, "complete", None)
    }

    /// Cancels a job that has not started.
    pub fn cancel(&mut self, reason: &str) -> Result<()> {
        let reason = require_reason(self.id(), "cancellation", reason)?;
        self.move_to(
            &[
                JobState::Draft,
                JobState::Assessed,
                JobState::Approved,
                JobState::Scheduled,
            ],
            JobState::Cancelled,
            "cancel",
            Some(reason),
        )
    }
}

#[cfg(test)]
pub(crate) fn sample_request(id: &str, elements: &[&str]) -> JobRequest {
    JobRequest {
        id: PlannedJobId::new(id),
        elements: elements.iter().map(|e| (*e).to_owned()).collect(),
        work: WorkKind::Maintenance,
        duration_hours: 4.0,
        earliest: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        latest: NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
        crew: "crew-1".into(),
        live_line_possible: false,
        requester: "工区A".into(),
        area: "east".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_walks_the_whole_happy_path() {
        let mut job = Job::new(sample_request("J1", &["L1"])).unwrap();
        job.mark_assessed().unwrap();
        job.mark_approved(12.0, None).unwrap();
        job.schedule(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap())
            .unwrap();
        job.start().unwrap();
        job.complete().unwrap();
        assert_eq!(job.state, JobState::Completed);
        assert_eq!(job.history.len(), 5);
        assert_eq!(job.approved_customer_hours, Some(12.0));
    }

    #[test]
    fn starting_a_draft_is_a_typed_error() {
        let mut job = Job::new(sample_request("J1", &["L1"])).unwrap();
        let error = job.start().unwrap_err();
        assert_eq!(
            error,
            PlannerError::InvalidTransition {
                job: "J1".into(),
                state: JobState::Draft,
                action: "start"
            }
        );
        assert_eq!(job.state, JobState::Draft);
    }

    #[test]
    fn rejection_and_cancellation_need_a_reason() {
        let mut job = Job::new(sample_request("J1", &["L1"])).unwrap();
        job.mark_assessed().unwrap();
        assert!(matches!(
            job.reject("  "),
            Err(PlannerError::ReasonRequired { .. })
        ));
        job.reject("section overlaps the spring fair").unwrap();
        assert_eq!(job.state, JobState::Rejected);
        assert!(job.cancel("no longer needed").is_err(), "rejected is final");
    }

    #[test]
    fn a_date_outside_the_window_is_refused() {
        let mut job = Job::new(sample_request("J1", &["L1"])).unwrap();
        job.mark_assessed().unwrap();
        job.mark_approved(1.0, None).unwrap();
        let late = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        assert!(matches!(
            job.schedule(late),
            Err(PlannerError::OutsideWindow { .. })
        ));
        assert_eq!(job.state, JobState::Approved);
    }

    #[test]
    fn a_request_with_a_reversed_window_is_invalid() {
        let mut request = sample_request("J1", &["L1"]);
        request.latest = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(matches!(
            Job::new(request),
            Err(PlannerError::InvalidJob {
                field: "latest",
                ..
            })
        ));
    }
}
