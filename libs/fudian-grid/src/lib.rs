//! The grid model of fudian: loads a grid package (see `shared/grid-format.md`) and
//! answers topology and spatial questions about it.
//!
//! Pure: no async, no I/O beyond reading (and, for the generator, writing) package files.
//!
//! Parts:
//! - `model`, `load`: the package as typed, validated data (every error reported);
//! - `topology`: energization, open/fault/restore questions and incremental switching;
//! - `spatial`, `gcj02`: the R-tree indexes and WGS84 <-> GCJ-02 conversion;
//! - `generate`: a deterministic city-sized synthetic package.
