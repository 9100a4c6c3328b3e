//! What the service does with each consumed message: `events` decodes the outage,
//! dispatch and planned events of its one queue and plans their notices.

pub mod events;
