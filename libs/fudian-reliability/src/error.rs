//! The one error type of `fudian-reliability`.

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::{AreaClass, Caliber};

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReliabilityError {
    /// A period must have a positive length.
    #[error("period end {end} is not after its start {start}")]
    EmptyPeriod {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// An interruption record (by its position in the input) ends before it starts.
    #[error(
        "interruption #{index} of customer {customer} ends at {end} before it starts at {start}"
    )]
    InterruptionEndsBeforeStart {
        index: usize,
        customer: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// The population of a caliber (over all areas) is zero, so no average exists.
    #[error("no {caliber} users in the population")]
    ZeroUsers { caliber: Caliber },
    /// Records name more distinct users of an area than its population holds.
    #[error(
        "{caliber} population of area {area} is {population} but {seen} distinct users are interrupted"
    )]
    PopulationTooSmall {
        caliber: Caliber,
        area: AreaClass,
        population: u64,
        seen: u64,
    },
    /// The same customer or transformer appears under two area classes.
    #[error("{unit} appears under area classes {first} and {second}")]
    InconsistentAreaClass {
        unit: String,
        first: AreaClass,
        second: AreaClass,
    },
    /// Two records of one customer overlap in time: a customer is off or on, never off twice.
    #[error("customer {customer} has overlapping interruptions #{first} and #{second}")]
    OverlappingInterruptions {
        customer: String,
        first: usize,
        second: usize,
    },
    /// Overlapping records of one transformer disagree on planned or cause, so the
    /// transformer-level interruption they form has no single classification.
    #[error(
        "transformer {transformer} has overlapping records #{first} and #{second} with different planned or cause"
    )]
    ConflictingTransformerRecords {
        transformer: String,
        first: usize,
        second: usize,
    },
    /// A line of a daily-SAIDI CSV could not be read (lines are 1-based).
    #[error("daily saidi csv line {line}: {reason}")]
    BadCsvLine { line: u64, reason: String },
    /// The same date appears twice in a daily-SAIDI history.
    #[error("daily saidi csv line {line}: date {date} already given")]
    DuplicateDate { line: u64, date: NaiveDate },
    /// The 2.5β method needs a sample standard deviation, so at least two positive days.
    #[error(
        "daily saidi history has {positive_days} days with saidi above zero, at least 2 are needed"
    )]
    InsufficientHistory { positive_days: usize },
    /// A configuration value is out of range.
    #[error("invalid option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    /// The budget basis asks for last year's actual but none was given.
    #[error("budget basis {basis} needs last year's actual customer-hours but none was given")]
    MissingLastYear { basis: &'static str },
}

/// Result alias of this crate.
pub type Result<T, E = ReliabilityError> = std::result::Result<T, E>;
