//! The grid package as typed, validated data: buses, sources, branches, customers, cells
//! and crews, each addressed by a dense `u32` index, with id lookups.

use std::collections::HashMap;

use crate::error::GridError;
use crate::spatial::{SpatialIndex, SpatialInput};

/// Id lookups: string keys with a fast non-cryptographic hash (ids are not adversarial).
pub type IdMap<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

/// A WGS84 longitude/latitude pair, in that order.
pub type LonLat = [f64; 2];

#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    pub id: Box<str>,
    pub voltage_kv: f64,
    pub name: Option<Box<str>>,
    pub position: LonLat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: Box<str>,
    pub bus: u32,
    pub name: Option<Box<str>>,
    pub position: LonLat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BranchKind {
    Line,
    Switch,
    Transformer,
}

impl BranchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Switch => "switch",
            Self::Transformer => "transformer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SwitchDevice {
    Breaker,
    Recloser,
    Sectionalizer,
    LoadBreakSwitch,
    Disconnector,
    Fuse,
}

impl SwitchDevice {
    pub const ALL: [Self; 6] = [
        Self::Breaker,
        Self::Recloser,
        Self::Sectionalizer,
        Self::LoadBreakSwitch,
        Self::Disconnector,
        Self::Fuse,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaker => "breaker",
            Self::Recloser => "recloser",
            Self::Sectionalizer => "sectionalizer",
            Self::LoadBreakSwitch => "load_break_switch",
            Self::Disconnector => "disconnector",
            Self::Fuse => "fuse",
        }
    }

    /// Breakers, reclosers and fuses open by themselves on a fault below them.
    pub fn is_protective(self) -> bool {
        matches!(self, Self::Breaker | Self::Recloser | Self::Fuse)
    }
}

/// A line, switch or transformer: anything that joins two buses.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub id: Box<str>,
    pub kind: BranchKind,
    /// Set for switches only.
    pub device: Option<SwitchDevice>,
    pub from_bus: u32,
    pub to_bus: u32,
    pub in_service: bool,
    pub normal_open: bool,
    pub remote_controlled: bool,
    pub rated_kva: Option<f64>,
    pub length_m: Option<f64>,
    pub name: Option<Box<str>>,
    /// The polyline of a line (or switch drawn as a line); one point for point features.
    pub geometry: Box<[LonLat]>,
}

impl Branch {
    pub fn is_switch(&self) -> bool {
        self.kind == BranchKind::Switch
    }

    pub fn is_protective(&self) -> bool {
        self.device.is_some_and(SwitchDevice::is_protective)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AreaClass {
    Core,
    Urban,
    Town,
    Rural,
}

impl AreaClass {
    pub const ALL: [Self; 4] = [Self::Core, Self::Urban, Self::Town, Self::Rural];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Urban => "urban",
            Self::Town => "town",
            Self::Rural => "rural",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Wechat,
    Sms,
    App,
}

impl Channel {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "wechat" => Some(Self::Wechat),
            "sms" => Some(Self::Sms),
            "app" => Some(Self::App),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: Box<str>,
    pub bus: u32,
    pub position: LonLat,
    pub area_class: AreaClass,
    pub name: Option<Box<str>>,
    pub phone: Option<Box<str>>,
    pub wechat_openid: Option<Box<str>>,
    pub channels: Box<[Channel]>,
    pub critical: bool,
    pub peak_kw: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub id: Box<str>,
    pub name: Option<Box<str>>,
    pub area_class: AreaClass,
    pub geometry: geo::MultiPolygon<f64>,
}

/// A crew's shift in minutes after local midnight (Asia/Shanghai); `end < start` crosses
/// midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub start_minute: u16,
    pub end_minute: u16,
}

impl Shift {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let (start, end) = text.split_once('-')?;
        Some(Self {
            start_minute: parse_hh_mm(start)?,
            end_minute: parse_hh_mm(end)?,
        })
    }

    pub fn crosses_midnight(self) -> bool {
        self.end_minute < self.start_minute
    }

    /// Whether the crew is on shift at `minute` after local midnight.
    pub fn covers(self, minute: u16) -> bool {
        if self.crosses_midnight() {
            minute >= self.start_minute || minute < self.end_minute
        } else {
            minute >= self.start_minute && minute < self.end_minute
        }
    }
}

fn parse_hh_mm(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Crew {
    pub id: Box<str>,
    pub home_cell: u32,
    pub position: LonLat,
    pub size: u32,
    pub skills: Box<[Box<str>]>,
    pub shift: Shift,
}

/// What a network id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementRef {
    Bus(u32),
    Source(u32),
    Branch(u32),
}

/// The parts of a package before the id maps are built.
#[derive(Debug, Default, Clone)]
pub struct GridParts {
    pub buses: Vec<Bus>,
    pub sources: Vec<Source>,
    pub branches: Vec<Branch>,
    pub customers: Vec<Customer>,
    pub cells: Vec<Cell>,
    pub crews: Vec<Crew>,
}

/// A loaded, validated grid package. Indices are positions in the public vectors.
#[derive(Debug)]
pub struct Grid {
    pub buses: Vec<Bus>,
    pub sources: Vec<Source>,
    pub branches: Vec<Branch>,
    pub customers: Vec<Customer>,
    pub cells: Vec<Cell>,
    pub crews: Vec<Crew>,
    elements: IdMap<ElementRef>,
    customer_index: IdMap<u32>,
    cell_index: IdMap<u32>,
    crew_index: IdMap<u32>,
    public_transformers: Vec<bool>,
    spatial: SpatialIndex,
}

impl Grid {
    /// Assembles a grid from parts whose indices are already consistent (the loader's job,
    /// or a test's) and builds its spatial index. Later duplicates of an id shadow earlier
    /// ones in the lookups.
    pub fn from_parts(parts: GridParts) -> Result<Self, GridError> {
        Self::assemble(parts, None)
    }

    /// [`Grid::from_parts`] reusing a customer id map the caller already built. The spatial
    /// index is bulk-loaded on a second thread while the id maps are built.
    pub(crate) fn assemble(
        parts: GridParts,
        customer_index: Option<IdMap<u32>>,
    ) -> Result<Self, GridError> {
        check_indices(&parts)?;
        let GridParts {
            buses,
            sources,
            branches,
            customers,
            cells,
            crews,
        } = parts;
        let spatial_input = SpatialInput {
            buses: buses.iter().map(|b| b.position).collect(),
            lines: branches
                .iter()
                .enumerate()
                .filter(|(_, b)| b.geometry.len() >= 2)
                .map(|(i, b)| (index(i), b.geometry.to_vec()))
                .collect(),
            customers: customers.iter().map(|c| c.position).collect(),
            cells: cells.iter().map(|c| c.geometry.clone()).collect(),
            crews: crews.iter().map(|c| c.position).collect(),
        };
        let (spatial, maps) = std::thread::scope(|scope| {
            let spatial = scope.spawn(|| SpatialIndex::build(spatial_input));
            let maps = Self::id_maps(
                &buses,
                &sources,
                &branches,
                &customers,
                &cells,
                &crews,
                customer_index,
            );
            let spatial = spatial
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (spatial, maps)
        });
        let spatial = spatial.map_err(|e| GridError::BadCoordinate {
            layer: e.layer,
            index: e.index,
        })?;
        let (elements, customer_index, cell_index, crew_index, public_transformers) = maps;
        Ok(Self {
            buses,
            sources,
            branches,
            customers,
            cells,
            crews,
            elements,
            customer_index,
            cell_index,
            crew_index,
            public_transformers,
            spatial,
        })
    }

    #[expect(
        clippy::type_complexity,
        reason = "a private tuple of the maps built together"
    )]
    fn id_maps(
        buses: &[Bus],
        sources: &[Source],
        branches: &[Branch],
        customers: &[Customer],
        cells: &[Cell],
        crews: &[Crew],
        customer_index: Option<IdMap<u32>>,
    ) -> (
        IdMap<ElementRef>,
        IdMap<u32>,
        IdMap<u32>,
        IdMap<u32>,
        Vec<bool>,
    ) {
        let mut elements = IdMap::with_capacity_and_hasher(
            buses.len() + sources.len() + branches.len(),
            Default::default(),
        );
        for (i, bus) in buses.iter().enumerate() {
            elements.insert(bus.id.clone(), ElementRef::Bus(index(i)));
        }
        for (i, source) in sources.iter().enumerate() {
            elements.insert(source.id.clone(), ElementRef::Source(index(i)));
        }
        for (i, branch) in branches.iter().enumerate() {
            elements.insert(branch.id.clone(), ElementRef::Branch(index(i)));
        }
        let customer_index =
            customer_index.unwrap_or_else(|| id_map(customers.iter().map(|c| &c.id)));
        let cell_index = id_map(cells.iter().map(|c| &c.id));
        let crew_index = id_map(crews.iter().map(|c| &c.id));
        let public_transformers = find_public_transformers(buses, branches, customers);
        (
            elements,
            customer_index,
            cell_index,
            crew_index,
            public_transformers,
        )
    }

    pub fn element(&self, id: &str) -> Option<ElementRef> {
        self.elements.get(id).copied()
    }

    pub fn bus_index(&self, id: &str) -> Option<u32> {
        match self.element(id)? {
            ElementRef::Bus(i) => Some(i),
            _ => None,
        }
    }

    pub fn branch_index(&self, id: &str) -> Option<u32> {
        match self.element(id)? {
            ElementRef::Branch(i) => Some(i),
            _ => None,
        }
    }

    pub fn source_index(&self, id: &str) -> Option<u32> {
        match self.element(id)? {
            ElementRef::Source(i) => Some(i),
            _ => None,
        }
    }

    pub fn customer_index(&self, id: &str) -> Option<u32> {
        self.customer_index.get(id).copied()
    }

    pub fn cell_index(&self, id: &str) -> Option<u32> {
        self.cell_index.get(id).copied()
    }

    pub fn crew_index(&self, id: &str) -> Option<u32> {
        self.crew_index.get(id).copied()
    }

    pub fn bus(&self, i: u32) -> &Bus {
        &self.buses[i as usize]
    }

    pub fn branch(&self, i: u32) -> &Branch {
        &self.branches[i as usize]
    }

    pub fn customer(&self, i: u32) -> &Customer {
        &self.customers[i as usize]
    }

    /// Customer ids of customer indices, sorted (the shape references use).
    pub fn customer_ids(&self, customers: &[u32]) -> Vec<String> {
        let mut ids: Vec<String> = customers
            .iter()
            .map(|&c| self.customer(c).id.to_string())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whether transformer `branch` is a public distribution transformer (台区): its
    /// low-voltage side is below 1 kV and customers hang below it.
    pub fn is_public_transformer(&self, branch: u32) -> bool {
        self.public_transformers
            .get(branch as usize)
            .copied()
            .unwrap_or(false)
    }

    pub fn public_transformer_count(&self) -> usize {
        self.public_transformers.iter().filter(|&&p| p).count()
    }

    /// The R-tree indexes over buses, line routes, customers, cells and crews; every index
    /// it answers is a position in this grid's vectors (line hits carry branch indices).
    pub fn spatial(&self) -> &SpatialIndex {
        &self.spatial
    }
}

/// Refuses parts whose indices point outside their vectors, so every later lookup is safe.
fn check_indices(parts: &GridParts) -> Result<(), GridError> {
    let buses = parts.buses.len();
    let bad = |what: String| Err(GridError::InconsistentParts(what));
    if let Some(s) = parts.sources.iter().find(|s| s.bus as usize >= buses) {
        return bad(format!("source {} names bus index {}", s.id, s.bus));
    }
    if let Some(b) = parts
        .branches
        .iter()
        .find(|b| b.from_bus as usize >= buses || b.to_bus as usize >= buses)
    {
        return bad(format!(
            "branch {} names bus indices {} and {}",
            b.id, b.from_bus, b.to_bus
        ));
    }
    if let Some(c) = parts.customers.iter().find(|c| c.bus as usize >= buses) {
        return bad(format!("customer {} names bus index {}", c.id, c.bus));
    }
    if let Some(c) = parts
        .crews
        .iter()
        .find(|c| c.home_cell as usize >= parts.cells.len())
    {
        return bad(format!("crew {} names cell index {}", c.id, c.home_cell));
    }
    Ok(())
}

/// A `usize` position as a `u32` index; packages stay far below 4 billion elements.
pub(crate) fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn id_map<'a>(ids: impl Iterator<Item = &'a Box<str>>) -> IdMap<u32> {
    let mut map = IdMap::with_capacity_and_hasher(ids.size_hint().0, Default::default());
    for (i, id) in ids.enumerate() {
        map.insert(id.clone(), index(i));
    }
    map
}

/// Low-voltage bus limit of a distribution transformer: above this the transformer feeds a
/// medium-voltage network (HV/MV) rather than a 台区.
const LOW_VOLTAGE_KV: f64 = 1.0;

/// Marks transformers whose LV side is low voltage and has customers below it, walking from
/// the LV bus through lines and switches (any state) but not through other transformers.
fn find_public_transformers(
    buses: &[Bus],
    branches: &[Branch],
    customers: &[Customer],
) -> Vec<bool> {
    let mut public = vec![false; branches.len()];
    let mut has_customers = vec![false; buses.len()];
    for customer in customers {
        if let Some(flag) = has_customers.get_mut(customer.bus as usize) {
            *flag = true;
        }
    }
    let mut adjacency: Vec<Vec<u32>> = vec![Vec::new(); buses.len()];
    for branch in branches {
        if branch.kind != BranchKind::Transformer {
            let (a, b) = (branch.from_bus as usize, branch.to_bus as usize);
            if a < buses.len() && b < buses.len() {
                adjacency[a].push(branch.to_bus);
                adjacency[b].push(branch.from_bus);
            }
        }
    }
    // Each LV region is walked once; transformers sharing a region share the answer.
    let mut region_of = vec![u32::MAX; buses.len()];
    let mut region_has_customers: Vec<bool> = Vec::new();
    let mut stack = Vec::new();
    for (i, branch) in branches.iter().enumerate() {
        if branch.kind != BranchKind::Transformer {
            continue;
        }
        let lv = branch.to_bus as usize;
        if lv >= buses.len() || buses[lv].voltage_kv >= LOW_VOLTAGE_KV {
            continue;
        }
        if region_of[lv] == u32::MAX {
            let region = index(region_has_customers.len());
            let mut any = false;
            region_of[lv] = region;
            stack.push(lv as u32);
            while let Some(bus) = stack.pop() {
                any |= has_customers[bus as usize];
                for &next in &adjacency[bus as usize] {
                    if region_of[next as usize] == u32::MAX {
                        region_of[next as usize] = region;
                        stack.push(next);
                    }
                }
            }
            region_has_customers.push(any);
        }
        public[i] = region_has_customers[region_of[lv] as usize];
    }
    public
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_across_midnight_covers_the_small_hours_but_not_noon() {
        let shift = Shift::parse("20:00-08:00").unwrap();
        assert!(shift.crosses_midnight());
        assert!(shift.covers(2 * 60));
        assert!(!shift.covers(12 * 60));
    }

    #[test]
    fn malformed_shifts_are_refused() {
        for text in ["8-20", "08:00", "24:00-08:00", "08:60-09:00", "08:00-9:00"] {
            assert_eq!(Shift::parse(text), None, "{text}");
        }
    }

    #[test]
    fn parts_naming_a_missing_bus_are_refused() {
        let parts = GridParts {
            sources: vec![Source {
                id: "SRC".into(),
                bus: 3,
                name: None,
                position: [118.0, 37.0],
            }],
            ..GridParts::default()
        };
        let error = Grid::from_parts(parts).unwrap_err();
        assert!(
            error.to_string().contains("source SRC names bus index 3"),
            "{error}"
        );
    }

    #[test]
    fn only_breakers_reclosers_and_fuses_are_protective() {
        let protective: Vec<&str> = SwitchDevice::ALL
            .into_iter()
            .filter(|d| d.is_protective())
            .map(SwitchDevice::as_str)
            .collect();
        assert_eq!(protective, ["breaker", "recloser", "fuse"]);
    }
}
