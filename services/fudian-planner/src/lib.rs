//! The planner service of fudian (预算式停电管理: 先算后停、能转必转、能带不停、一停多用);
//! for now its pure core, without the bus, the store or the HTTP API.
//!
//! Parts (all under `core`):
//! - `job`: a planned job and its state machine (draft → assessed → approved / rejected →
//!   scheduled → started → completed / cancelled);
//! - `assess`: 先算后停 and 能转必转 and 能带不停: what a job takes out, with and without
//!   transfer, in both calibers;
//! - `budget`: the per-area customer-hour budget check that gates approval;
//! - `bundle`: 一停多用, jobs proposed as one outage;
//! - `schedule`: dates for pending jobs minimising customer-hours, beside first-come.

pub mod core;
mod error;

pub use crate::core::assess::{
    AssessContext, Assessment, Assessor, TransferCapacity, TransferChoice, WorkMode,
};
pub use crate::core::budget::{AreaBudget, BudgetCheck, BudgetLedger};
pub use crate::core::bundle::{Bundle, propose_bundles};
pub use crate::core::job::{Job, JobRequest, JobState, Transition, WorkKind};
pub use crate::core::schedule::{
    Schedule, ScheduleComparison, ScheduleJob, ScheduleOptions, compare_schedules,
    schedule_first_come, schedule_optimised,
};
pub use error::{PlannerError, Result};
