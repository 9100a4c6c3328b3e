//! Test fixtures: the mv-oberrhein sample grid and its independent references.

use std::path::PathBuf;

use fudian_grid::{Grid, Topology, load_package};

pub(crate) fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/grids/mv-oberrhein")
}

pub(crate) fn oberrhein() -> (Grid, Topology) {
    let grid = load_package(&package_dir()).unwrap();
    let topology = Topology::new(&grid);
    (grid, topology)
}

pub(crate) fn references() -> serde_json::Value {
    let text = std::fs::read_to_string(package_dir().join("references.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}
