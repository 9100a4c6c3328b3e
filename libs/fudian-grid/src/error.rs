//! The one error type of `fudian-grid`, and the located problems a refused package lists.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GridError {
    #[error("failed to read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("grid package {dir} is invalid ({} problems):\n{}", .problems.len(), ProblemList(.problems))]
    Invalid {
        dir: PathBuf,
        problems: Vec<PackageProblem>,
    },
    #[error("unknown element {0}")]
    UnknownElement(String),
    #[error("unknown bus {0}")]
    UnknownBus(String),
    #[error("element {0} is not a switch")]
    NotASwitch(String),
    #[error("inconsistent grid parts: {0}")]
    InconsistentParts(String),
    #[error("non-finite coordinate in {layer} {index}")]
    BadCoordinate { layer: &'static str, index: usize },
}

/// Where in a package a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The whole file (missing file, bad header, not a FeatureCollection...).
    File,
    /// A GeoJSON feature: its position in `features` and its id when it has one.
    Feature { index: usize, id: Option<String> },
    /// A CSV line (1-based, the header is line 1).
    Line(u64),
}

/// One thing wrong with a package; the loader collects all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageProblem {
    pub file: &'static str,
    pub location: Location,
    pub message: String,
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File => write!(f, "{}: {}", self.file, self.message),
            Location::Feature {
                index,
                id: Some(id),
            } => {
                write!(f, "{} feature #{index} ({id}): {}", self.file, self.message)
            }
            Location::Feature { index, id: None } => {
                write!(f, "{} feature #{index}: {}", self.file, self.message)
            }
            Location::Line(line) => write!(f, "{} line {line}: {}", self.file, self.message),
        }
    }
}

struct ProblemList<'a>(&'a [PackageProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {problem}")?;
        }
        Ok(())
    }
}
