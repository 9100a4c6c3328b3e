//! Integration tests of `fudian-reliability` through its public API: one hand-worked data
//! set checked against every index, edge cases, and property tests.

mod dataset;
mod edge_cases;
mod hand_worked;
mod properties;
