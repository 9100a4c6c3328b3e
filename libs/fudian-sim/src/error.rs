//! The one error type of the simulator.

/// What can go wrong when generating a simulation or reading a truth file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// An option is out of its range.
    #[error("option `{name}` is invalid: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    /// The grid has no line whose fault a protective device clears with customers behind it.
    #[error("the grid has no line whose fault a protective device clears with customers out")]
    NothingToFault,
    /// A truth file is not valid JSON of the expected shape.
    #[error("ground truth is not valid: {0}")]
    BadTruth(#[from] serde_json::Error),
}
