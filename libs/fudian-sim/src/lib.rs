//! fudian-sim: realistic field traffic for a grid package, with its ground truth.
//!
//! Pure: no async, no broker. Parts:
//! - `options`: [`SimOptions`], the knobs (rates, shares of lost/late/duplicate messages);
//! - `generate`: [`generate`] turns a grid and options into a [`Simulation`], the
//!   `fudian.field` messages of faults, momentary trips, calls, crew switching and repairs,
//!   each with the time to send it;
//! - `truth`: [`GroundTruth`] (what really failed) and [`score`] of reported incidents;
//! - `player`: [`Player`] hands out the events due by an elapsed time, for pacing.

pub mod error;
pub mod generate;
pub mod options;
pub mod player;
pub mod truth;

pub use error::SimError;
pub use generate::{Simulation, TimedEvent, count_by_type, generate};
pub use options::SimOptions;
pub use player::Player;
pub use truth::{GroundTruth, ReportedIncident, Score, TruthFault, TruthMomentary, score};
