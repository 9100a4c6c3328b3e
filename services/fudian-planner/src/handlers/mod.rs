//! Consumers: `outage` (incidents of `fudian.outage`, for live budget consumption).

pub mod outage;
