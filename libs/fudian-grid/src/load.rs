//! Reads a grid package folder (format v1, `shared/grid-format.md`) into a [`Grid`],
//! collecting every problem instead of stopping at the first.
//!
//! `network.geojson` is deserialized straight into lenient typed structs (a wrong type in
//! a property becomes a located problem, not a parse failure); the CSV files are read as
//! byte records with columns found by header name.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{GridError, Location, PackageProblem};
use crate::model::{
    AreaClass, Branch, BranchKind, Bus, Cell, Channel, Crew, Customer, Grid, GridParts, IdMap,
    LonLat, Shift, Source, SwitchDevice, index,
};

const NETWORK: &str = "network.geojson";
const CUSTOMERS: &str = "customers.csv";
const CELLS: &str = "cells.geojson";
const CREWS: &str = "crews.csv";

/// The loading steps, reported to a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStage {
    Network,
    Customers,
    Cells,
    Crews,
    Index,
}

impl LoadStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network.geojson",
            Self::Customers => "customers.csv",
            Self::Cells => "cells.geojson",
            Self::Crews => "crews.csv",
            Self::Index => "indexes",
        }
    }
}

/// Loads and validates the package in `dir`.
pub fn load_package(dir: &Path) -> Result<Grid, GridError> {
    load_package_with_progress(dir, &mut |_| {})
}

/// Like [`load_package`], calling `progress` as each step starts.
pub fn load_package_with_progress(
    dir: &Path,
    progress: &mut dyn FnMut(LoadStage),
) -> Result<Grid, GridError> {
    let mut problems = Problems::default();
    progress(LoadStage::Network);
    let network_bytes = read_required(dir, NETWORK)?;
    let network = parse_network(&network_bytes, &mut problems);
    drop(network_bytes);

    progress(LoadStage::Customers);
    let customer_bytes = read_required(dir, CUSTOMERS)?;
    let (customers, customer_index) =
        parse_customers(&customer_bytes, &network.bus_ids, &mut problems);
    drop(customer_bytes);

    progress(LoadStage::Cells);
    let cells = match read_optional(dir, CELLS)? {
        Some(bytes) => parse_cells(&bytes, &mut problems),
        None => Vec::new(),
    };
    progress(LoadStage::Crews);
    let crews = match read_optional(dir, CREWS)? {
        Some(bytes) => parse_crews(&bytes, &cells, &mut problems),
        None => Vec::new(),
    };

    if !problems.list.is_empty() {
        return Err(GridError::Invalid {
            dir: dir.to_path_buf(),
            problems: problems.list,
        });
    }
    progress(LoadStage::Index);
    Grid::assemble(
        GridParts {
            buses: network.buses,
            sources: network.sources,
            branches: network.branches,
            customers,
            cells,
            crews,
        },
        Some(customer_index),
    )
}

fn read_required(dir: &Path, name: &str) -> Result<Vec<u8>, GridError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| GridError::Io { path, source })
}

fn read_optional(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, GridError> {
    let path: PathBuf = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(GridError::Io { path, source }),
    }
}

#[derive(Default)]
struct Problems {
    list: Vec<PackageProblem>,
}

impl Problems {
    fn push(&mut self, file: &'static str, location: Location, message: impl Into<String>) {
        self.list.push(PackageProblem {
            file,
            location,
            message: message.into(),
        });
    }
}

// ---------------------------------------------------------------------------------------
// Lenient JSON values: a wrong type is remembered, not fatal.

/// A JSON scalar property, whatever its type.
#[derive(Debug)]
enum Scalar {
    Num(f64),
    Bool(bool),
    Str(Box<str>),
    Other(&'static str),
}

impl Scalar {
    fn describe(&self) -> String {
        match self {
            Self::Num(n) => format!("the number {n}"),
            Self::Bool(b) => format!("the boolean {b}"),
            Self::Str(s) => format!("the string {s:?}"),
            Self::Other(what) => (*what).to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object"))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// GeoJSON coordinates of any nesting depth.
#[derive(Debug)]
enum Coords {
    Num(f64),
    List(Vec<Coords>),
    Bad,
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CoordsVisitor;
        impl<'de> Visitor<'de> for CoordsVisitor {
            type Value = Coords;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("GeoJSON coordinates")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Coords, E> {
                Ok(Coords::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Coords, E> {
                Ok(Coords::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coords, E> {
                Ok(Coords::Num(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Coords, E> {
                Ok(Coords::Bad)
            }
            fn visit_str<E>(self, _: &str) -> Result<Coords, E> {
                Ok(Coords::Bad)
            }
            fn visit_unit<E>(self) -> Result<Coords, E> {
                Ok(Coords::Bad)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Coords, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(item) = seq.next_element::<Coords>()? {
                    items.push(item);
                }
                Ok(Coords::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Coords, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Coords::Bad)
            }
        }
        deserializer.deserialize_any(CoordsVisitor)
    }
}

impl Coords {
    fn position(&self) -> Option<LonLat> {
        match self {
            Self::List(items) if items.len() >= 2 => match (&items[0], &items[1]) {
                (Self::Num(lon), Self::Num(lat)) if valid_lon_lat(*lon, *lat) => Some([*lon, *lat]),
                _ => None,
            },
            _ => None,
        }
    }

    fn positions(&self) -> Option<Vec<LonLat>> {
        match self {
            Self::List(items) => items.iter().map(Self::position).collect(),
            _ => None,
        }
    }

    fn polygon(&self) -> Option<geo::Polygon<f64>> {
        let Self::List(rings) = self else { return None };
        let mut rings = rings.iter().map(|ring| {
            ring.positions()
                .filter(|points| points.len() >= 4)
                .map(|points| {
                    geo::LineString::from(
                        points.into_iter().map(|[x, y]| (x, y)).collect::<Vec<_>>(),
                    )
                })
        });
        let exterior = rings.next()??;
        let interiors = rings.collect::<Option<Vec<_>>>()?;
        Some(geo::Polygon::new(exterior, interiors))
    }
}

fn valid_lon_lat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

#[derive(Deserialize)]
struct RawCollection {
    #[serde(rename = "type")]
    kind: Option<Scalar>,
    features: Option<Vec<RawFeature>>,
}

#[derive(Deserialize)]
struct RawFeature {
    #[serde(default)]
    properties: Option<RawProps>,
    #[serde(default)]
    geometry: Option<RawGeometry>,
}

#[derive(Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: Option<Scalar>,
    coordinates: Option<Coords>,
}

/// Every property the format knows; unknown ones are skipped by serde.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProps {
    id: Option<Scalar>,
    kind: Option<Scalar>,
    name: Option<Scalar>,
    voltage_kv: Option<Scalar>,
    bus: Option<Scalar>,
    from_bus: Option<Scalar>,
    to_bus: Option<Scalar>,
    length_m: Option<Scalar>,
    in_service: Option<Scalar>,
    rated_kva: Option<Scalar>,
    device: Option<Scalar>,
    normal_open: Option<Scalar>,
    remote_controlled: Option<Scalar>,
    area_class: Option<Scalar>,
}

/// Reports problems of one feature with its location.
struct FeatureCheck<'a> {
    file: &'static str,
    index: usize,
    id: Option<&'a str>,
    problems: &'a mut Problems,
}

impl FeatureCheck<'_> {
    fn problem(&mut self, message: impl Into<String>) {
        let location = Location::Feature {
            index: self.index,
            id: self.id.map(str::to_string),
        };
        self.problems.push(self.file, location, message);
    }

    fn required_number(&mut self, name: &str, value: Option<&Scalar>) -> Option<f64> {
        match value {
            None => {
                self.problem(format!("missing property {name}"));
                None
            }
            Some(v) => self.number(name, Some(v)),
        }
    }

    /// An optional finite, non-negative number.
    fn number(&mut self, name: &str, value: Option<&Scalar>) -> Option<f64> {
        match value? {
            Scalar::Num(n) if n.is_finite() && *n >= 0.0 => Some(*n),
            other => {
                self.problem(format!(
                    "{name} must be a non-negative number, found {}",
                    other.describe()
                ));
                None
            }
        }
    }

    fn flag(&mut self, name: &str, value: Option<&Scalar>, default: bool) -> bool {
        match value {
            None => default,
            Some(Scalar::Bool(b)) => *b,
            Some(other) => {
                self.problem(format!(
                    "{name} must be true or false, found {}",
                    other.describe()
                ));
                default
            }
        }
    }

    fn text(&mut self, name: &str, value: Option<&Scalar>) -> Option<Box<str>> {
        match value? {
            Scalar::Str(s) => Some(s.clone()),
            other => {
                self.problem(format!(
                    "{name} must be a string, found {}",
                    other.describe()
                ));
                None
            }
        }
    }

    fn bus_ref(&mut self, name: &str, value: Option<&Scalar>, bus_ids: &IdMap<u32>) -> Option<u32> {
        match value {
            None => {
                self.problem(format!("missing property {name}"));
                None
            }
            Some(Scalar::Str(id)) => {
                let found = bus_ids.get(id).copied();
                if found.is_none() {
                    self.problem(format!("{name} refers to missing bus {id}"));
                }
                found
            }
            Some(other) => {
                self.problem(format!(
                    "{name} must be a bus id string, found {}",
                    other.describe()
                ));
                None
            }
        }
    }

    fn geometry_kind<'g>(
        &mut self,
        geometry: Option<&'g RawGeometry>,
    ) -> Option<(&'g str, &'g Coords)> {
        let Some(geometry) = geometry else {
            self.problem("missing geometry");
            return None;
        };
        match (&geometry.kind, &geometry.coordinates) {
            (Some(Scalar::Str(kind)), Some(coords)) => Some((kind, coords)),
            _ => {
                self.problem("geometry needs a type and coordinates");
                None
            }
        }
    }

    fn point(&mut self, geometry: Option<&RawGeometry>) -> Option<LonLat> {
        let (kind, coords) = self.geometry_kind(geometry)?;
        if kind != "Point" {
            self.problem(format!("geometry must be a Point, found {kind}"));
            return None;
        }
        let position = coords.position();
        if position.is_none() {
            self.problem("Point coordinates must be [lon, lat] within WGS84 bounds");
        }
        position
    }

    fn line_string(&mut self, geometry: Option<&RawGeometry>) -> Option<Vec<LonLat>> {
        let (kind, coords) = self.geometry_kind(geometry)?;
        if kind != "LineString" {
            self.problem(format!("geometry must be a LineString, found {kind}"));
            return None;
        }
        let points = coords.positions().filter(|p| p.len() >= 2);
        if points.is_none() {
            self.problem("LineString coordinates must be two or more [lon, lat] positions");
        }
        points
    }

    fn point_or_line(&mut self, geometry: Option<&RawGeometry>) -> Option<Vec<LonLat>> {
        let (kind, _) = self.geometry_kind(geometry)?;
        if kind == "LineString" {
            self.line_string(geometry)
        } else if kind == "Point" {
            self.point(geometry).map(|p| vec![p])
        } else {
            self.problem(format!(
                "geometry must be a Point or LineString, found {kind}"
            ));
            None
        }
    }
}

fn parse_collection(bytes: &[u8], file: &'static str, problems: &mut Problems) -> Vec<RawFeature> {
    match serde_json::from_slice::<RawCollection>(bytes) {
        Ok(RawCollection { kind, features }) => {
            if !matches!(&kind, Some(Scalar::Str(k)) if &**k == "FeatureCollection") {
                problems.push(file, Location::File, "type must be FeatureCollection");
            }
            features.unwrap_or_else(|| {
                problems.push(file, Location::File, "missing features array");
                Vec::new()
            })
        }
        Err(e) => {
            problems.push(file, Location::File, format!("not valid GeoJSON: {e}"));
            Vec::new()
        }
    }
}

struct Network {
    buses: Vec<Bus>,
    sources: Vec<Source>,
    branches: Vec<Branch>,
    bus_ids: IdMap<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FeatureKind {
    Bus,
    Source,
    Line,
    Switch,
    Transformer,
}

fn parse_network(bytes: &[u8], problems: &mut Problems) -> Network {
    let features = parse_collection(bytes, NETWORK, problems);
    // Pass 1: ids, kinds, duplicates and the bus numbering (references may point forward).
    let mut first_seen: HashMap<&str, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(features.len(), Default::default());
    let mut kinds: Vec<Option<FeatureKind>> = Vec::with_capacity(features.len());
    let mut bus_ids: IdMap<u32> = IdMap::default();
    for (i, feature) in features.iter().enumerate() {
        let props = feature.properties.as_ref();
        let id = match props.and_then(|p| p.id.as_ref()) {
            Some(Scalar::Str(id)) if !id.is_empty() => Some(&**id),
            Some(other) => {
                problems.push(
                    NETWORK,
                    Location::Feature { index: i, id: None },
                    format!("id must be a non-empty string, found {}", other.describe()),
                );
                None
            }
            None => {
                problems.push(
                    NETWORK,
                    Location::Feature { index: i, id: None },
                    "missing properties.id",
                );
                None
            }
        };
        let location = || Location::Feature {
            index: i,
            id: id.map(str::to_string),
        };
        let kind = match props.and_then(|p| p.kind.as_ref()) {
            Some(Scalar::Str(k)) => match &**k {
                "bus" => Some(FeatureKind::Bus),
                "source" => Some(FeatureKind::Source),
                "line" => Some(FeatureKind::Line),
                "switch" => Some(FeatureKind::Switch),
                "transformer" => Some(FeatureKind::Transformer),
                other => {
                    problems.push(NETWORK, location(), format!("unknown kind {other:?}"));
                    None
                }
            },
            Some(other) => {
                problems.push(
                    NETWORK,
                    location(),
                    format!("kind must be a string, found {}", other.describe()),
                );
                None
            }
            None => {
                problems.push(NETWORK, location(), "missing properties.kind");
                None
            }
        };
        let mut duplicate = false;
        if let Some(id) = id {
            if let Some(&first) = first_seen.get(id) {
                problems.push(
                    NETWORK,
                    location(),
                    format!("duplicate id (first used by feature #{first})"),
                );
                duplicate = true;
            } else {
                first_seen.insert(id, i);
            }
        }
        if let (Some(id), Some(FeatureKind::Bus), false) = (id, kind, duplicate) {
            let n = index(bus_ids.len());
            bus_ids.insert(id.into(), n);
        }
        kinds.push(if duplicate { None } else { kind });
    }
    drop(first_seen);

    // Pass 2: properties and geometry of each kind.
    let mut buses = Vec::with_capacity(bus_ids.len());
    let mut sources = Vec::new();
    let mut branches = Vec::with_capacity(features.len().saturating_sub(bus_ids.len()));
    let empty = RawProps::default();
    for (i, (feature, kind)) in features.iter().zip(&kinds).enumerate() {
        let Some(kind) = *kind else { continue };
        let props = feature.properties.as_ref().unwrap_or(&empty);
        let Some(Scalar::Str(id)) = &props.id else {
            continue;
        };
        let mut check = FeatureCheck {
            file: NETWORK,
            index: i,
            id: Some(id),
            problems,
        };
        let name = check.text("name", props.name.as_ref());
        let geometry = feature.geometry.as_ref();
        match kind {
            FeatureKind::Bus => {
                let voltage_kv = check.required_number("voltage_kv", props.voltage_kv.as_ref());
                let position = check.point(geometry);
                buses.push(Bus {
                    id: id.clone(),
                    voltage_kv: voltage_kv.unwrap_or(f64::NAN),
                    name,
                    position: position.unwrap_or([f64::NAN; 2]),
                });
            }
            FeatureKind::Source => {
                let bus = check.bus_ref("bus", props.bus.as_ref(), &bus_ids);
                let position = check.point(geometry);
                if let (Some(bus), Some(position)) = (bus, position) {
                    sources.push(Source {
                        id: id.clone(),
                        bus,
                        name,
                        position,
                    });
                }
            }
            FeatureKind::Line | FeatureKind::Switch | FeatureKind::Transformer => {
                let from_bus = check.bus_ref("from_bus", props.from_bus.as_ref(), &bus_ids);
                let to_bus = check.bus_ref("to_bus", props.to_bus.as_ref(), &bus_ids);
                let in_service = check.flag("in_service", props.in_service.as_ref(), true);
                let (branch_kind, device, rated_kva, geometry) = match kind {
                    FeatureKind::Line => (
                        BranchKind::Line,
                        None,
                        check.number("rated_kva", props.rated_kva.as_ref()),
                        check.line_string(geometry),
                    ),
                    FeatureKind::Switch => {
                        let device = match props.device.as_ref() {
                            Some(Scalar::Str(d)) => {
                                let device = SwitchDevice::parse(d);
                                if device.is_none() {
                                    check.problem(format!("unknown device {d:?}"));
                                }
                                device
                            }
                            Some(other) => {
                                check.problem(format!(
                                    "device must be a string, found {}",
                                    other.describe()
                                ));
                                None
                            }
                            None => {
                                check.problem("missing property device");
                                None
                            }
                        };
                        (
                            BranchKind::Switch,
                            device,
                            check.number("rated_kva", props.rated_kva.as_ref()),
                            check.point_or_line(geometry),
                        )
                    }
                    _ => (
                        BranchKind::Transformer,
                        None,
                        check.required_number("rated_kva", props.rated_kva.as_ref()),
                        check.point(geometry).map(|p| vec![p]),
                    ),
                };
                let normal_open = check.flag("normal_open", props.normal_open.as_ref(), false);
                let remote_controlled =
                    check.flag("remote_controlled", props.remote_controlled.as_ref(), false);
                let length_m = match (
                    branch_kind,
                    check.number("length_m", props.length_m.as_ref()),
                ) {
                    (_, Some(length)) => Some(length),
                    (BranchKind::Line, None) => geometry.as_deref().map(geodesic_length_m),
                    _ => None,
                };
                if let (Some(from_bus), Some(to_bus), Some(geometry)) = (from_bus, to_bus, geometry)
                {
                    if branch_kind == BranchKind::Switch && device.is_none() {
                        continue;
                    }
                    branches.push(Branch {
                        id: id.clone(),
                        kind: branch_kind,
                        device,
                        from_bus,
                        to_bus,
                        in_service,
                        normal_open,
                        remote_controlled,
                        rated_kva,
                        length_m,
                        name,
                        geometry: geometry.into_boxed_slice(),
                    });
                }
            }
        }
    }
    Network {
        buses,
        sources,
        branches,
        bus_ids,
    }
}

/// Great-circle length of a polyline in metres.
pub fn geodesic_length_m(points: &[LonLat]) -> f64 {
    points.windows(2).map(|w| haversine_m(w[0], w[1])).sum()
}

/// Great-circle distance between two WGS84 positions in metres.
pub fn haversine_m(a: LonLat, b: LonLat) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

// ---------------------------------------------------------------------------------------
// CSV files.

/// Column positions by header name; `None` when the column is absent.
struct Columns {
    positions: HashMap<String, usize>,
}

impl Columns {
    fn new(headers: &csv::ByteRecord) -> Self {
        let positions = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (String::from_utf8_lossy(h).trim().to_string(), i))
            .collect();
        Self { positions }
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    fn require(&self, name: &str, file: &'static str, problems: &mut Problems) -> Option<usize> {
        let found = self.get(name);
        if found.is_none() {
            problems.push(
                file,
                Location::Line(1),
                format!("missing required column {name}"),
            );
        }
        found
    }
}

/// Reports problems of one CSV row with its line number.
struct RowCheck<'a> {
    file: &'static str,
    line: u64,
    record: &'a csv::ByteRecord,
    problems: &'a mut Problems,
    ok: bool,
}

impl<'a> RowCheck<'a> {
    fn problem(&mut self, message: impl Into<String>) {
        self.ok = false;
        self.problems
            .push(self.file, Location::Line(self.line), message);
    }

    /// The trimmed text of a column; empty and absent read as `None`.
    fn field(&mut self, column: Option<usize>, name: &str) -> Option<&'a str> {
        let record: &'a csv::ByteRecord = self.record;
        let bytes = record.get(column?)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(text.trim()).filter(|t| !t.is_empty()),
            Err(_) => {
                self.problem(format!("{name} is not valid UTF-8"));
                None
            }
        }
    }

    fn required(&mut self, column: Option<usize>, name: &str) -> Option<&'a str> {
        column?;
        let value = self.field(column, name);
        if value.is_none() {
            self.problem(format!("missing {name}"));
        }
        value
    }

    fn number(&mut self, column: Option<usize>, name: &str) -> Option<f64> {
        let text = self.field(column, name)?;
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                let message = format!("{name} must be a number, found {text:?}");
                self.problem(message);
                None
            }
        }
    }

    fn position(&mut self, lon: Option<usize>, lat: Option<usize>) -> Option<LonLat> {
        let lon_value = self.required(lon, "lon");
        let lat_value = self.required(lat, "lat");
        let (lon_text, lat_text) = (lon_value?, lat_value?);
        match (lon_text.parse::<f64>(), lat_text.parse::<f64>()) {
            (Ok(x), Ok(y)) if valid_lon_lat(x, y) => Some([x, y]),
            _ => {
                self.problem(format!(
                    "lon/lat must be WGS84 degrees, found {lon_text:?}/{lat_text:?}"
                ));
                None
            }
        }
    }

    fn area_class(&mut self, column: Option<usize>) -> Option<AreaClass> {
        let text = self.required(column, "area_class")?;
        let area = AreaClass::parse(text);
        if area.is_none() {
            let message = format!("area_class must be core, urban, town or rural, found {text:?}");
            self.problem(message);
        }
        area
    }
}

fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes)
}

fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Column positions of `customers.csv`.
#[derive(Clone, Copy)]
struct CustomerColumns {
    id: Option<usize>,
    bus: Option<usize>,
    lon: Option<usize>,
    lat: Option<usize>,
    area: Option<usize>,
    name: Option<usize>,
    phone: Option<usize>,
    openid: Option<usize>,
    channels: Option<usize>,
    critical: Option<usize>,
    peak: Option<usize>,
}

/// What one chunk of customer rows gave: valid customers with their lines, problems, and
/// the ids of refused rows (still checked for duplicates).
#[derive(Default)]
struct CustomerChunk {
    customers: Vec<Customer>,
    lines: Vec<u64>,
    problems: Problems,
    refused_ids: Vec<(Box<str>, u64)>,
}

/// Below this size customers are parsed on one thread.
const PARALLEL_CSV_BYTES: usize = 4 << 20;

fn parse_customers(
    bytes: &[u8],
    bus_ids: &IdMap<u32>,
    problems: &mut Problems,
) -> (Vec<Customer>, IdMap<u32>) {
    let mut reader = csv_reader(bytes);
    let columns = match reader.byte_headers() {
        Ok(headers) => Columns::new(headers),
        Err(e) => {
            problems.push(CUSTOMERS, Location::File, format!("unreadable header: {e}"));
            return (Vec::new(), IdMap::default());
        }
    };
    let columns = CustomerColumns {
        id: columns.require("id", CUSTOMERS, problems),
        bus: columns.require("bus", CUSTOMERS, problems),
        lon: columns.require("lon", CUSTOMERS, problems),
        lat: columns.require("lat", CUSTOMERS, problems),
        area: columns.require("area_class", CUSTOMERS, problems),
        name: columns.get("name"),
        phone: columns.get("phone"),
        openid: columns.get("wechat_openid"),
        channels: columns.get("channels"),
        critical: columns.get("critical"),
        peak: columns.get("peak_kw"),
    };
    if [
        columns.id,
        columns.bus,
        columns.lon,
        columns.lat,
        columns.area,
    ]
    .iter()
    .any(Option::is_none)
    {
        return (Vec::new(), IdMap::default());
    }
    // The body starts after the header's line; it is cut in two at a row boundary and the
    // halves are parsed on two threads.
    let body_start = reader.position().byte() as usize;
    let body = bytes.get(body_start..).unwrap_or_default();
    let header_lines = reader.position().line().saturating_sub(1);
    let split = if body.len() >= PARALLEL_CSV_BYTES {
        row_boundary_near_middle(body)
    } else {
        body.len()
    };
    let (first, second) = body.split_at(split);
    let second_first_line = header_lines + 1 + first.iter().filter(|&&b| b == b'\n').count() as u64;
    let (mut one, two) = std::thread::scope(|scope| {
        let two = scope.spawn(|| parse_customer_rows(second, second_first_line, columns, bus_ids));
        let one = parse_customer_rows(first, header_lines + 1, columns, bus_ids);
        (
            one,
            two.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    });
    one.customers.extend(two.customers);
    one.lines.extend(two.lines);
    one.problems.list.extend(two.problems.list);
    one.refused_ids.extend(two.refused_ids);
    let CustomerChunk {
        customers,
        lines,
        problems: mut found,
        refused_ids,
    } = one;

    let mut ids: IdMap<u32> = IdMap::with_capacity_and_hasher(customers.len(), Default::default());
    for (i, customer) in customers.iter().enumerate() {
        if let Some(&first) = ids.get(&customer.id) {
            let first_line = lines[first as usize];
            found.push(
                CUSTOMERS,
                Location::Line(lines[i]),
                format!(
                    "duplicate customer id {} (first on line {first_line})",
                    customer.id
                ),
            );
        } else {
            ids.insert(customer.id.clone(), index(i));
        }
    }
    for (id, line) in refused_ids {
        if let Some(&first) = ids.get(&id) {
            let first_line = lines[first as usize];
            found.push(
                CUSTOMERS,
                Location::Line(line),
                format!("duplicate customer id {id} (first on line {first_line})"),
            );
        }
    }
    found.list.sort_by_key(|p| match p.location {
        Location::Line(line) => line,
        _ => 0,
    });
    problems.list.extend(found.list);
    (customers, ids)
}

/// A position just after a newline near the middle of `body` that is not inside a quoted
/// field (an even number of quotes precede it).
fn row_boundary_near_middle(body: &[u8]) -> usize {
    let middle = body.len() / 2;
    let mut quotes = body[..middle].iter().filter(|&&b| b == b'"').count();
    for (i, &byte) in body.iter().enumerate().skip(middle) {
        if byte == b'"' {
            quotes += 1;
        } else if byte == b'\n' && quotes % 2 == 0 {
            return i + 1;
        }
    }
    body.len()
}

/// Parses header-less customer rows; `first_line` is the file line of the first byte.
fn parse_customer_rows(
    bytes: &[u8],
    first_line: u64,
    columns: CustomerColumns,
    bus_ids: &IdMap<u32>,
) -> CustomerChunk {
    let mut chunk = CustomerChunk {
        // Rough row count for one allocation: ~100 bytes per row.
        customers: Vec::with_capacity(bytes.len() / 100 + 16),
        lines: Vec::with_capacity(bytes.len() / 100 + 16),
        ..CustomerChunk::default()
    };
    let problems = &mut chunk.problems;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() + first_line - 1);
                problems.push(
                    CUSTOMERS,
                    Location::Line(line),
                    format!("unreadable row: {e}"),
                );
                if e.is_io_error() {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line() + first_line - 1);
        let mut row = RowCheck {
            file: CUSTOMERS,
            line,
            record: &record,
            problems,
            ok: true,
        };
        let id: Option<Box<str>> = row.required(columns.id, "id").map(Into::into);
        let bus = match row.required(columns.bus, "bus") {
            Some(bus_id) => {
                let bus = bus_ids.get(bus_id).copied();
                if bus.is_none() {
                    row.problem(format!("bus refers to missing bus {bus_id}"));
                }
                bus
            }
            None => None,
        };
        let position = row.position(columns.lon, columns.lat);
        let area_class = row.area_class(columns.area);
        let name = row.field(columns.name, "name").map(Into::into);
        let phone: Option<Box<str>> = row.field(columns.phone, "phone").map(Into::into);
        if let Some(phone) = phone.as_deref().filter(|p| !is_e164(p)) {
            row.problem(format!(
                "phone must be E.164 like +8613800000000, found {phone:?}"
            ));
        }
        let wechat_openid = row.field(columns.openid, "wechat_openid").map(Into::into);
        let mut channels = Vec::new();
        if let Some(text) = row.field(columns.channels, "channels") {
            for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                match Channel::parse(part) {
                    Some(channel) => channels.push(channel),
                    None => row.problem(format!("unknown channel {part:?} (wechat, sms or app)")),
                }
            }
        }
        let critical = match row.field(columns.critical, "critical") {
            None => false,
            Some(t) if t.eq_ignore_ascii_case("true") => true,
            Some(t) if t.eq_ignore_ascii_case("false") => false,
            Some(t) => {
                row.problem(format!("critical must be true or false, found {t:?}"));
                false
            }
        };
        let peak_kw = row.number(columns.peak, "peak_kw");
        if peak_kw.is_some_and(|p| p < 0.0) {
            row.problem("peak_kw must not be negative");
        }
        match (row.ok, id, bus, position, area_class) {
            (true, Some(id), Some(bus), Some(position), Some(area_class)) => {
                chunk.lines.push(line);
                chunk.customers.push(Customer {
                    id,
                    bus,
                    position,
                    area_class,
                    name,
                    phone,
                    wechat_openid,
                    channels: channels.into_boxed_slice(),
                    critical,
                    peak_kw,
                });
            }
            (_, Some(id), ..) => chunk.refused_ids.push((id, line)),
            _ => {}
        }
    }
    chunk
}

fn parse_cells(bytes: &[u8], problems: &mut Problems) -> Vec<Cell> {
    let features = parse_collection(bytes, CELLS, problems);
    let mut cells = Vec::with_capacity(features.len());
    let mut seen: HashMap<Box<str>, usize> = HashMap::new();
    let empty = RawProps::default();
    for (i, feature) in features.iter().enumerate() {
        let props = feature.properties.as_ref().unwrap_or(&empty);
        let id = match &props.id {
            Some(Scalar::Str(id)) if !id.is_empty() => Some(id.clone()),
            _ => None,
        };
        let mut check = FeatureCheck {
            file: CELLS,
            index: i,
            id: id.as_deref(),
            problems,
        };
        let Some(id) = id.clone() else {
            check.problem("missing string properties.id");
            continue;
        };
        if let Some(first) = seen.get(&id) {
            check.problem(format!("duplicate id (first used by feature #{first})"));
            continue;
        }
        seen.insert(id.clone(), i);
        let name = check.text("name", props.name.as_ref());
        let area_class = match props.area_class.as_ref() {
            Some(Scalar::Str(text)) => {
                let area = AreaClass::parse(text);
                if area.is_none() {
                    check.problem(format!(
                        "area_class must be core, urban, town or rural, found {text:?}"
                    ));
                }
                area
            }
            Some(other) => {
                check.problem(format!(
                    "area_class must be a string, found {}",
                    other.describe()
                ));
                None
            }
            None => {
                check.problem("missing property area_class");
                None
            }
        };
        let geometry = match check.geometry_kind(feature.geometry.as_ref()) {
            Some(("Polygon", coords)) => coords.polygon().map(|p| geo::MultiPolygon::new(vec![p])),
            Some(("MultiPolygon", Coords::List(polygons))) => polygons
                .iter()
                .map(Coords::polygon)
                .collect::<Option<Vec<_>>>()
                .map(geo::MultiPolygon::new),
            Some((kind, _)) if kind != "MultiPolygon" => {
                check.problem(format!(
                    "geometry must be a Polygon or MultiPolygon, found {kind}"
                ));
                continue;
            }
            Some(_) => None,
            None => continue,
        };
        if geometry.is_none() {
            check
                .problem("polygon rings must be closed lists of four or more [lon, lat] positions");
        }
        if let (Some(area_class), Some(geometry)) = (area_class, geometry) {
            cells.push(Cell {
                id,
                name,
                area_class,
                geometry,
            });
        }
    }
    cells
}

fn parse_crews(bytes: &[u8], cells: &[Cell], problems: &mut Problems) -> Vec<Crew> {
    let cell_ids: HashMap<&str, u32> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (&*c.id, index(i)))
        .collect();
    let mut reader = csv_reader(bytes);
    let columns = match reader.byte_headers() {
        Ok(headers) => Columns::new(headers),
        Err(e) => {
            problems.push(CREWS, Location::File, format!("unreadable header: {e}"));
            return Vec::new();
        }
    };
    let required = ["id", "home_cell", "lon", "lat", "size", "skills", "shift"]
        .map(|name| columns.require(name, CREWS, problems));
    if required.iter().any(Option::is_none) {
        return Vec::new();
    }
    let [
        id_col,
        cell_col,
        lon_col,
        lat_col,
        size_col,
        skills_col,
        shift_col,
    ] = required;
    let mut crews = Vec::new();
    let mut seen: HashMap<Box<str>, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                problems.push(CREWS, Location::Line(line), format!("unreadable row: {e}"));
                if e.is_io_error() {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        let mut row = RowCheck {
            file: CREWS,
            line,
            record: &record,
            problems,
            ok: true,
        };
        let id: Option<Box<str>> = row.required(id_col, "id").map(Into::into);
        if let Some(id) = &id {
            if let Some(first) = seen.get(id) {
                row.problem(format!("duplicate crew id {id} (first on line {first})"));
            } else {
                seen.insert(id.clone(), line);
            }
        }
        let home_cell = match row.required(cell_col, "home_cell").map(str::to_string) {
            Some(cell) => {
                let found = cell_ids.get(cell.as_str()).copied();
                if found.is_none() {
                    row.problem(format!("home_cell refers to unknown cell {cell}"));
                }
                found
            }
            None => None,
        };
        let position = row.position(lon_col, lat_col);
        let size = match row.required(size_col, "size").map(str::to_string) {
            Some(text) => match text.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    row.problem(format!(
                        "size must be a positive whole number, found {text:?}"
                    ));
                    None
                }
            },
            None => None,
        };
        let skills: Box<[Box<str>]> = row
            .field(skills_col, "skills")
            .map(|t| {
                t.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Into::into)
                    .collect()
            })
            .unwrap_or_default();
        let shift = match row.required(shift_col, "shift").map(str::to_string) {
            Some(text) => {
                let shift = Shift::parse(&text);
                if shift.is_none() {
                    row.problem(format!("shift must be HH:MM-HH:MM, found {text:?}"));
                }
                shift
            }
            None => None,
        };
        if let (true, Some(id), Some(home_cell), Some(position), Some(size), Some(shift)) =
            (row.ok, id, home_cell, position, size, shift)
        {
            crews.push(Crew {
                id,
                home_cell,
                position,
                size,
                skills,
                shift,
            });
        }
    }
    crews
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus_ids() -> IdMap<u32> {
        let mut ids = IdMap::default();
        ids.insert("B1".into(), 0);
        ids
    }

    #[test]
    fn a_big_customer_file_parsed_in_two_halves_keeps_file_line_numbers() {
        let rows = 150_000;
        let mut text = String::from("id,bus,lon,lat,area_class,name\n");
        for i in 0..rows {
            // A quoted name with a newline shifts physical lines; the parity check keeps
            // the split out of it.
            let name = if i % 1000 == 7 {
                "\"two\nlines\""
            } else {
                "plain"
            };
            text.push_str(&format!("C{i},B1,118.5,37.4,urban,{name}\n"));
        }
        // Duplicate of C3 and a bad area class, both near the end (second half).
        text.push_str("C3,B1,118.5,37.4,urban,x\n");
        text.push_str("C999999,B1,118.5,37.4,mars,x\n");
        assert!(text.len() > PARALLEL_CSV_BYTES);
        let physical_lines = 1 + rows + rows / 1000;
        let mut problems = Problems::default();
        let (customers, ids) = parse_customers(text.as_bytes(), &bus_ids(), &mut problems);
        assert_eq!(customers.len(), rows + 1);
        assert_eq!(ids.len(), rows);
        assert_eq!(ids.get("C12345").copied(), Some(12345));
        assert_eq!(customers[7].name.as_deref(), Some("two\nlines"));
        let text: Vec<String> = problems.list.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                format!(
                    "customers.csv line {}: duplicate customer id C3 (first on line 5)",
                    physical_lines + 1
                ),
                format!(
                    "customers.csv line {}: area_class must be core, urban, town or rural, found \"mars\"",
                    physical_lines + 2
                ),
            ]
        );
    }
}
