//! The pure planner logic: jobs, assessment, budgets, bundling and scheduling.

pub mod assess;
pub mod budget;
pub mod bundle;
pub mod job;
pub mod schedule;

#[cfg(test)]
pub(crate) mod fixture;
