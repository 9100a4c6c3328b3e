//! The grid model of fudian: loads a grid package (see `shared/grid-format.md`) and
//! answers topology and spatial questions about it.
//!
//! Pure: no async, no I/O beyond reading (and, for the generator, writing) package files.
//!
//! Parts:
//! - `model`, `load`: the package as typed, validated data (every error reported);
//! - `topology`: energization, open/fault/restore questions and incremental switching;
//! - `batch`: answers a `references.json`-shaped scenario file in the same shape;
//! - `spatial`, `gcj02`: the R-tree indexes and WGS84 <-> GCJ-02 conversion;
//! - `generate`: a deterministic city-sized synthetic package.

pub mod batch;
pub mod error;
pub mod gcj02;
pub mod generate;
pub mod load;
pub mod model;
pub mod spatial;
pub mod topology;

pub use error::{GridError, Location, PackageProblem};
pub use load::{LoadStage, load_package, load_package_with_progress};
pub use model::{
    AreaClass, Branch, BranchKind, Bus, Cell, Channel, Crew, Customer, ElementRef, Grid, GridParts,
    LonLat, Shift, Source, SwitchDevice,
};
pub use topology::{
    Affected, CapacityCheck, FaultOutcome, FaultSection, Operation, RestorationPlan, SupplyChange,
    TieClosing, Topology, UpstreamPath,
};
