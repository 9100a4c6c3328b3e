//! Integration tests of fudian-grid: the sample package against its independent
//! references, loader errors, and the incremental index against a naive recomputation.

mod incremental;
mod loader_errors;
mod references;

use std::path::PathBuf;

/// The sample package shipped in `shared/grids/mv-oberrhein`.
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/grids/mv-oberrhein")
}
