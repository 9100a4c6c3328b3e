//! The reliability arithmetic of fudian's planner: DL/T 836 and IEEE 1366 indices,
//! Major Event Days, frequent and repeat outages, and customer-hour budgets.
//!
//! Pure: no async, no I/O; input is a slice of [`Interruption`] records, a [`Population`]
//! and a [`Period`], output plain serializable structs grouped by [`AreaClass`] and in total.
//!
//! Conventions shared by every index:
//! - the period is `[start, end)`; interruption time outside it is clipped away, and an
//!   interruption counts towards frequencies only in the period where it starts;
//! - momentary vs sustained (IEEE 1366) and 短时停电 (DL/T 836) are judged on the full,
//!   unclipped length;
//! - in the medium-voltage caliber each transformer (台区) is one user; customer records
//!   that carry its id and overlap form one transformer interruption.
//!
//! Parts:
//! - `model`: ids, records, period, population, options;
//! - `dlt836`: 停电时户数, RS, AIHC, AITC (-1, -2, -3) in both calibers;
//! - `ieee1366`: SAIFI, SAIDI, CAIDI, ASAI, MAIFI, MAIFI_E, CEMIn, CEMSMIn, with and
//!   without Major Event Days;
//! - `med`: the 2.5β threshold and the daily-SAIDI CSV history;
//! - `repeat`: frequent/repeat outages per customer and per 台区, and long outages;
//! - `budget`: annual customer-hour budgets and their consumption.

pub mod budget;
pub mod dlt836;
mod error;
pub mod ieee1366;
pub mod med;
mod model;
pub mod repeat;
mod units;

pub use budget::{
    AreaTargets, Budget, BudgetBasis, BudgetPolicy, BudgetStatus, Consumption, annual_budget,
};
pub use dlt836::{Dlt836Indices, Dlt836Report, Dlt836Variant, dlt836};
pub use error::{ReliabilityError, Result};
pub use ieee1366::{
    Ieee1366Indices, Ieee1366Report, Ieee1366Set, MajorEvents, daily_saidi, ieee1366,
    ieee1366_with_major_events,
};
pub use med::{DailySaidi, MedThreshold, parse_daily_saidi_csv, write_daily_saidi_csv};
pub use model::{
    AreaClass, Caliber, CauseClass, CustomerId, Interruption, Options, Period, Population,
    TransformerId,
};
pub use repeat::{
    AlertLevel, CountScope, LongOutage, RepeatFinding, RepeatPolicy, RepeatReport, RepeatRule,
    Subject, repeat_outages,
};
