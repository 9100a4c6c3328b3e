//! What the service does with each consumed message; one file per consumed stream.

pub mod field;
