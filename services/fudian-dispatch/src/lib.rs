//! The dispatch service (网格化主动抢修): opens repair work orders for incidents, assigns
//! crews (grid cell first, then the nearest skilled crew; an optimiser over every pending
//! order in a storm), tracks the on-site time limit and estimates restoration times.
//!
//! For now its pure core only: no I/O, no async. The service wiring (bus, store, HTTP)
//! comes later and calls into [`core`].

pub mod core;

pub use crate::core::assign::{
    Assignment, AssignmentRule, DispatchState, greedy_first_come, optimal_assignment, replan,
    total_weighted_arrival,
};
pub use crate::core::config::{
    ArrivalLimits, DispatchConfig, PerAreaClass, RepairRule, Speeds, area_class_of,
};
pub use crate::core::crew::{CrewActivity, CrewState, LiveCrew, Skill, local_minute};
pub use crate::core::error::DispatchError;
pub use crate::core::etr::{
    CurrentEtr, EtrDecision, PUBLISH_THRESHOLD, QueuedEstimate, RepairHistory, decide_model_etr,
    model_etr, queue_estimates, should_publish, should_publish_beyond,
};
pub use crate::core::events::{assigned_event, created_event, etr_event, status_event};
pub use crate::core::order::{LimitState, OrderStage, WorkOrder, priority_of, required_skill};
