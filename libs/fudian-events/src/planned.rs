//! `fudian.planned`: the planner's planned outages (计划停电, 先算后停), for notify (the
//! advance notices) and the outage service (so the switching is not taken for a fault).

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AffectedCounts, TimeWindow};
use crate::ids::{CustomerId, ElementId, PlannedJobId};

/// The topic exchange of planned outage events.
pub const EXCHANGE: &str = "fudian.planned";

event_enum! {
    /// Every event on `fudian.planned`.
    pub enum PlannedEvent on EXCHANGE {
        /// A planned outage was approved (again, with a higher revision, if rescheduled).
        Approved(PlannedApproved): PLANNED_APPROVED = "planned.approved", version 1, Send;
        /// The planned switching took the customers out.
        Started(PlannedStarted): PLANNED_STARTED = "planned.started", version 1, Send;
        /// The work is done and the customers have supply again.
        Completed(PlannedCompleted): PLANNED_COMPLETED = "planned.completed", version 1, Send;
        /// The planned outage will not take place.
        Cancelled(PlannedCancelled): PLANNED_CANCELLED = "planned.cancelled", version 1, Send;
    }
}

impl PlannedEvent {
    /// The job the event is about.
    pub fn job(&self) -> &PlannedJobId {
        match self {
            Self::Approved(approved) => &approved.job,
            Self::Started(started) => &started.job,
            Self::Completed(completed) => &completed.job,
            Self::Cancelled(cancelled) => &cancelled.job,
        }
    }
}

/// When customers must have been told of a planned outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeDeadlines {
    /// Every affected customer must have had the notice by then (the rules ask for seven
    /// days ahead of the window).
    pub notify_by: DateTime<FixedOffset>,
    /// Critical customers must have had it by then (earlier, so they can arrange backup
    /// supply).
    pub critical_notify_by: DateTime<FixedOffset>,
    /// When to send the reminder (typically the day before).
    pub remind_at: DateTime<FixedOffset>,
}

/// Payload of `planned.approved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedApproved {
    /// The job.
    pub job: PlannedJobId,
    /// 1 when first approved, one more per reschedule.
    pub revision: u32,
    /// The elements the job takes out of service (switches to open, lines, transformers).
    pub elements: Vec<ElementId>,
    /// The work to be done, in words (shown in notices).
    pub work: String,
    /// When customers are out.
    pub window: TimeWindow,
    /// The area affected, in words (shown in notices), e.g. `东营区西城街道胜利社区`.
    pub area: String,
    /// How much the job takes out.
    pub counts: AffectedCounts,
    /// Every customer the job takes out.
    pub customers: Vec<CustomerId>,
    /// The critical customers among `customers`.
    pub critical_customers: Vec<CustomerId>,
    /// When the notices must go out.
    pub notice: NoticeDeadlines,
}

/// Payload of `planned.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStarted {
    /// The job.
    pub job: PlannedJobId,
    /// The approved window.
    pub window: TimeWindow,
    /// When the customers lost supply.
    pub started_at: DateTime<FixedOffset>,
    /// The customers out.
    pub customers: Vec<CustomerId>,
}

/// Payload of `planned.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedCompleted {
    /// The job.
    pub job: PlannedJobId,
    /// The approved window (a `completed_at` after its end is an overrun).
    pub window: TimeWindow,
    /// When the customers got supply back.
    pub completed_at: DateTime<FixedOffset>,
    /// The customers who got supply back.
    pub customers: Vec<CustomerId>,
}

/// Payload of `planned.cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedCancelled {
    /// The job.
    pub job: PlannedJobId,
    /// The window that was announced.
    pub window: TimeWindow,
    /// Why, in words (shown in the cancellation notice).
    pub reason: String,
    /// The customers who were told of the outage and must be told it is off.
    pub customers: Vec<CustomerId>,
}
