//! What the service does with each consumed message; one file per consumed queue.

pub mod events;
