//! The pure core of dispatch: configuration, live crews, work orders and their lifecycle,
//! assignment (rule-based, optimised, greedy baseline) and restoration-time estimates.

pub mod assign;
pub mod config;
pub mod crew;
pub mod error;
pub mod etr;
pub mod events;
pub mod order;
