//! A deterministic synthetic city package (grid-format v1), shaped like a Chinese city's
//! 10 kV network around Dongying: 110/35 kV substations whose 10 kV busbar sections are the
//! sources, feeders leaving through breakers, sectionalized trunks with reclosers on long
//! rural feeders, fused laterals, distribution transformers with their low-voltage customers,
//! normally-open ties between feeder ends, ~2 km repair cells and crews.
//!
//! Everything is streamed to buffered writers while it is generated (no document tree in
//! memory), and one ChaCha stream seeded from the options drives every choice, so the same
//! options always give the same bytes.

use std::collections::BTreeMap;
use std::f64::consts::{PI, TAU};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Number of customer accounts (rows of `customers.csv`), exactly.
    pub customers: u64,
    /// Number of 10 kV feeders, exactly (at least 1).
    pub feeders: u32,
    /// Seed of the random stream: same options, same bytes.
    pub seed: u64,
}

/// What was written, counted while writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GenerateSummary {
    pub substations: u32,
    /// 10 kV busbar sections, one `source` each.
    pub sources: u32,
    pub feeders: u32,
    pub buses: u64,
    pub lines: u64,
    /// Switch count per `device` value.
    pub switches_by_device: BTreeMap<&'static str, u64>,
    /// Switches with `normal_open: true` (feeder ties and busbar ties).
    pub normally_open: u64,
    pub remote_controlled: u64,
    pub transformers: u64,
    pub customers: u64,
    /// Customer count per `area_class` value.
    pub customers_by_area_class: BTreeMap<&'static str, u64>,
    pub critical_customers: u64,
    pub cells: u32,
    pub crews: u32,
    /// Size of the four files together.
    pub bytes_written: u64,
}

/// Writes `network.geojson`, `customers.csv`, `cells.geojson` and `crews.csv` into `out_dir`
/// (created if missing). `progress(done, total)` is called after each feeder with the number
/// of customers written so far.
pub fn generate(
    opts: &GenerateOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<GenerateSummary> {
    if opts.feeders == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "feeders must be at least 1",
        ));
    }
    fs::create_dir_all(out_dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let grid = CellGrid::new();
    let substations = plan_substations(&mut rng, opts.feeders);
    let feeders = plan_feeders(&mut rng, &substations, opts.customers);

    let mut net = NetWriter::create(&out_dir.join("network.geojson"))?;
    let mut customers = CustomerWriter::create(&out_dir.join("customers.csv"))?;

    for sub in &substations {
        write_substation(&mut net, sub)?;
    }
    let mut ends = Vec::with_capacity(feeders.len());
    let mut mids = Vec::with_capacity(feeders.len());
    for plan in &feeders {
        let mut builder = FeederBuilder {
            rng: &mut rng,
            net: &mut net,
            customers: &mut customers,
            grid: &grid,
            plan,
            params: plan.class.params(),
            line_no: 0,
            lateral_no: 0,
            transformer_no: 0,
        };
        let (end, mid) = builder.build()?;
        ends.push(end);
        mids.push(mid);
        progress(customers.written, opts.customers);
    }
    write_ties(&mut rng, &mut net, &ends, &mids)?;

    let mut summary = net.finish()?;
    summary.substations = count_u32(substations.len());
    summary.sources = substations.iter().map(|s| s.sections()).sum();
    summary.feeders = count_u32(feeders.len());
    summary.customers = customers.written;
    summary.critical_customers = customers.critical;
    for class in AreaClass::ALL {
        summary
            .customers_by_area_class
            .insert(class.as_str(), customers.by_class[class as usize]);
    }
    summary.bytes_written += customers.finish()?;
    let (cells, cell_bytes) = write_cells(&grid, &out_dir.join("cells.geojson"))?;
    summary.cells = cells;
    summary.bytes_written += cell_bytes;
    let (crews, crew_bytes) = write_crews(&mut rng, &grid, &out_dir.join("crews.csv"))?;
    summary.crews = crews;
    summary.bytes_written += crew_bytes;
    Ok(summary)
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------
// Geography

/// Dongying's centre; the package spans lon 118.3-118.9, lat 37.2-37.7.
const CENTRE: [f64; 2] = [118.60, 37.45];
const BOUNDS_MIN: [f64; 2] = [118.3, 37.2];
const BOUNDS_MAX: [f64; 2] = [118.9, 37.7];
/// Generated equipment stays this far (degrees) inside the bounds.
const MARGIN_DEG: f64 = 0.006;
/// Satellite towns: each is `town` within `TOWN_RADIUS_M`.
const TOWNS: [[f64; 2]; 3] = [[118.42, 37.58], [118.78, 37.30], [118.80, 37.60]];
const TOWN_RADIUS_M: f64 = 3_500.0;
const CORE_RADIUS_M: f64 = 3_000.0;
const URBAN_RADIUS_M: f64 = 8_000.0;
const SUBURB_RADIUS_M: f64 = 14_000.0;
const METRES_PER_DEG_LAT: f64 = 111_320.0;
const CELL_SIZE_M: f64 = 2_000.0;
const EARTH_RADIUS_M: f64 = 6_371_008.8;

fn metres_per_deg_lon(lat: f64) -> f64 {
    METRES_PER_DEG_LAT * lat.to_radians().cos()
}

/// Planar distance in a local frame; accurate to well under 1% at these scales.
fn planar_distance_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let mid_lat = (a[1] + b[1]) / 2.0;
    let dx = (b[0] - a[0]) * metres_per_deg_lon(mid_lat);
    let dy = (b[1] - a[1]) * METRES_PER_DEG_LAT;
    dx.hypot(dy)
}

fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// The point `dist_m` metres from `p` in direction `heading` (radians, counter-clockwise from east).
fn offset(p: [f64; 2], heading: f64, dist_m: f64) -> [f64; 2] {
    [
        p[0] + dist_m * heading.cos() / metres_per_deg_lon(p[1]),
        p[1] + dist_m * heading.sin() / METRES_PER_DEG_LAT,
    ]
}

fn heading_towards(from: [f64; 2], to: [f64; 2]) -> f64 {
    let dx = (to[0] - from[0]) * metres_per_deg_lon(from[1]);
    let dy = (to[1] - from[1]) * METRES_PER_DEG_LAT;
    dy.atan2(dx)
}

fn inside_margin(p: [f64; 2]) -> bool {
    (0..2).all(|i| p[i] > BOUNDS_MIN[i] + MARGIN_DEG && p[i] < BOUNDS_MAX[i] - MARGIN_DEG)
}

fn clamp_to_bounds(p: [f64; 2]) -> [f64; 2] {
    [
        p[0].clamp(BOUNDS_MIN[0], BOUNDS_MAX[0]),
        p[1].clamp(BOUNDS_MIN[1], BOUNDS_MAX[1]),
    ]
}

/// A step from `p` that stays inside the bounds: if `heading` would leave them, the step
/// turns towards the centre instead. Returns the new point and the heading taken.
fn step_inside(rng: &mut ChaCha8Rng, p: [f64; 2], heading: f64, dist_m: f64) -> ([f64; 2], f64) {
    let next = offset(p, heading, dist_m);
    if inside_margin(next) {
        return (next, heading);
    }
    let turned = heading_towards(p, CENTRE) + rng.random_range(-0.4..0.4);
    let next = offset(p, turned, dist_m);
    if inside_margin(next) {
        (next, turned)
    } else {
        (clamp_to_bounds(next), turned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AreaClass {
    Core = 0,
    Urban = 1,
    Town = 2,
    Rural = 3,
}

struct ClassParams {
    /// Typical trunk section length between trunk nodes.
    trunk_step_m: f64,
    trunk_nodes: (u32, u32),
    lateral_step_m: f64,
    /// Customers sit within this radius of their transformer.
    scatter_m: f64,
    /// Distribution transformer sizes (kVA) and their relative frequency.
    transformer_kva: &'static [(u32, u32)],
    /// Mean residential peak demand.
    residential_kw: f64,
    /// Relative number of customers per feeder.
    feeder_weight: f64,
    /// Share of sectionalizers and ties that are remote controlled (distribution automation).
    remote_share: f64,
    /// Cables follow streets (L-shaped routes); overhead lines run straighter.
    street_routes: bool,
    substation_kv: u32,
    busbar_sections: u32,
    feeders_per_section: (u32, u32),
    /// Feeder breaker rating: 500 A or 600 A at 10 kV.
    breaker_kva: &'static [u32],
    crews_per_cell: (u32, u32),
}

impl AreaClass {
    const ALL: [AreaClass; 4] = [Self::Core, Self::Urban, Self::Town, Self::Rural];

    fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Urban => "urban",
            Self::Town => "town",
            Self::Rural => "rural",
        }
    }

    fn at(p: [f64; 2]) -> Self {
        let d = planar_distance_m(CENTRE, p);
        if d < CORE_RADIUS_M {
            Self::Core
        } else if d < URBAN_RADIUS_M {
            Self::Urban
        } else if d < SUBURB_RADIUS_M
            || TOWNS
                .iter()
                .any(|t| planar_distance_m(*t, p) < TOWN_RADIUS_M)
        {
            Self::Town
        } else {
            Self::Rural
        }
    }

    fn params(self) -> &'static ClassParams {
        const CORE: ClassParams = ClassParams {
            trunk_step_m: 280.0,
            trunk_nodes: (5, 8),
            lateral_step_m: 120.0,
            scatter_m: 80.0,
            transformer_kva: &[(630, 3), (800, 4), (1000, 3), (1250, 2)],
            residential_kw: 2.2,
            feeder_weight: 1.3,
            remote_share: 0.8,
            street_routes: true,
            substation_kv: 110,
            busbar_sections: 2,
            feeders_per_section: (5, 8),
            breaker_kva: &[8660, 10392],
            crews_per_cell: (3, 3),
        };
        const URBAN: ClassParams = ClassParams {
            trunk_step_m: 450.0,
            trunk_nodes: (6, 9),
            lateral_step_m: 200.0,
            scatter_m: 130.0,
            transformer_kva: &[(400, 2), (500, 3), (630, 4), (800, 3), (1000, 1)],
            residential_kw: 2.5,
            feeder_weight: 1.2,
            remote_share: 0.6,
            street_routes: true,
            substation_kv: 110,
            busbar_sections: 2,
            feeders_per_section: (4, 7),
            breaker_kva: &[8660, 10392],
            crews_per_cell: (2, 3),
        };
        const TOWN: ClassParams = ClassParams {
            trunk_step_m: 800.0,
            trunk_nodes: (7, 11),
            lateral_step_m: 350.0,
            scatter_m: 220.0,
            transformer_kva: &[(200, 3), (315, 4), (400, 3), (500, 2), (630, 1)],
            residential_kw: 2.8,
            feeder_weight: 1.0,
            remote_share: 0.35,
            street_routes: false,
            substation_kv: 35,
            busbar_sections: 2,
            feeders_per_section: (3, 5),
            breaker_kva: &[8660],
            crews_per_cell: (2, 2),
        };
        const RURAL: ClassParams = ClassParams {
            trunk_step_m: 1_500.0,
            trunk_nodes: (9, 14),
            lateral_step_m: 600.0,
            scatter_m: 350.0,
            transformer_kva: &[(100, 2), (200, 5), (315, 3), (400, 1)],
            residential_kw: 3.0,
            feeder_weight: 0.7,
            remote_share: 0.2,
            street_routes: false,
            substation_kv: 35,
            busbar_sections: 1,
            feeders_per_section: (3, 6),
            breaker_kva: &[8660],
            // Rural cells share crews: one in every other cell.
            crews_per_cell: (0, 1),
        };
        match self {
            Self::Core => &CORE,
            Self::Urban => &URBAN,
            Self::Town => &TOWN,
            Self::Rural => &RURAL,
        }
    }
}

/// The ~2 km repair cells: a regular grid over the bounds.
struct CellGrid {
    cols: usize,
    rows: usize,
    dlon: f64,
    dlat: f64,
    classes: Vec<AreaClass>,
}

impl CellGrid {
    fn new() -> Self {
        let dlat = CELL_SIZE_M / METRES_PER_DEG_LAT;
        let dlon = CELL_SIZE_M / metres_per_deg_lon(CENTRE[1]);
        let cols = ((BOUNDS_MAX[0] - BOUNDS_MIN[0]) / dlon).ceil() as usize;
        let rows = ((BOUNDS_MAX[1] - BOUNDS_MIN[1]) / dlat).ceil() as usize;
        let mut grid = Self {
            cols,
            rows,
            dlon,
            dlat,
            classes: Vec::with_capacity(cols * rows),
        };
        for r in 0..rows {
            for c in 0..cols {
                let class = AreaClass::at(grid.centre(r, c));
                grid.classes.push(class);
            }
        }
        grid
    }

    fn origin(&self, r: usize, c: usize) -> [f64; 2] {
        [
            BOUNDS_MIN[0] + c as f64 * self.dlon,
            BOUNDS_MIN[1] + r as f64 * self.dlat,
        ]
    }

    fn centre(&self, r: usize, c: usize) -> [f64; 2] {
        let o = self.origin(r, c);
        [o[0] + self.dlon / 2.0, o[1] + self.dlat / 2.0]
    }

    /// The cell holding `p`, or the nearest one for points outside the grid.
    fn index_of(&self, p: [f64; 2]) -> usize {
        let c = ((p[0] - BOUNDS_MIN[0]) / self.dlon).floor();
        let r = ((p[1] - BOUNDS_MIN[1]) / self.dlat).floor();
        let c = (c.max(0.0) as usize).min(self.cols - 1);
        let r = (r.max(0.0) as usize).min(self.rows - 1);
        r * self.cols + c
    }

    fn class_at(&self, p: [f64; 2]) -> AreaClass {
        self.classes[self.index_of(p)]
    }
}

fn cell_id(r: usize, c: usize) -> String {
    format!("CELL-{r:02}-{c:02}")
}

// ---------------------------------------------------------------------------------------
// Planning

struct Substation {
    id: String,
    name: String,
    p: [f64; 2],
    class: AreaClass,
    /// Feeder count of each 10 kV busbar section.
    feeders_per_section: Vec<u32>,
}

impl Substation {
    fn sections(&self) -> u32 {
        count_u32(self.feeders_per_section.len())
    }

    fn section_bus(&self, section: usize) -> String {
        format!("{}-B{}", self.id, section + 1)
    }
}

const STATION_NAMES: &[&str] = &[
    "胜利",
    "东城",
    "西城",
    "黄河",
    "广利",
    "新区",
    "辛店",
    "史口",
    "牛庄",
    "六户",
    "龙居",
    "垦利",
    "永安",
    "胜坨",
    "郝家",
    "董集",
    "黄河口",
    "仙河",
    "孤岛",
    "河口",
    "义和",
    "新户",
    "广饶",
    "大王",
    "稻庄",
    "花官",
    "丁庄",
    "陈官",
    "石村",
    "李鹊",
    "西四",
    "东八",
    "南一",
    "北二",
    "海港",
    "滨海",
];

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn random_point_of_class(rng: &mut ChaCha8Rng, class: AreaClass) -> [f64; 2] {
    if class == AreaClass::Core {
        let r = CORE_RADIUS_M * 0.9 * rng.random::<f64>().sqrt();
        return offset(CENTRE, rng.random_range(0.0..TAU), r);
    }
    let mut p = CENTRE;
    for _ in 0..2_000 {
        p = [
            rng.random_range(BOUNDS_MIN[0] + 2.0 * MARGIN_DEG..BOUNDS_MAX[0] - 2.0 * MARGIN_DEG),
            rng.random_range(BOUNDS_MIN[1] + 2.0 * MARGIN_DEG..BOUNDS_MAX[1] - 2.0 * MARGIN_DEG),
        ];
        if AreaClass::at(p) == class {
            break;
        }
    }
    p
}

/// Substations, denser in the centre, each candidate site chosen as the best of several
/// (farthest from the stations already placed) so they spread like real ones.
fn plan_substations(rng: &mut ChaCha8Rng, feeders: u32) -> Vec<Substation> {
    let class_mix = [
        (AreaClass::Core, 18),
        (AreaClass::Urban, 37),
        (AreaClass::Town, 25),
        (AreaClass::Rural, 20),
    ];
    // Keep at least two substations when there are two feeders, so ties can cross stations.
    let per_station_cap = if feeders >= 2 { feeders.div_ceil(2) } else { 1 };
    let mut stations: Vec<Substation> = Vec::new();
    let mut assigned = 0u32;
    while assigned < feeders {
        let class = if stations.is_empty() {
            AreaClass::Core
        } else {
            pick_weighted(rng, &class_mix)
        };
        let mut best = CENTRE;
        let mut best_gap = -1.0;
        for _ in 0..12 {
            let p = random_point_of_class(rng, class);
            let gap = stations
                .iter()
                .map(|s| planar_distance_m(s.p, p))
                .fold(f64::INFINITY, f64::min);
            if gap > best_gap {
                best_gap = gap;
                best = p;
            }
        }
        let params = class.params();
        let mut per_section: Vec<u32> = (0..params.busbar_sections)
            .map(|_| rng.random_range(params.feeders_per_section.0..=params.feeders_per_section.1))
            .collect();
        let wanted: u32 = per_section.iter().sum();
        let mut total = wanted.min(feeders - assigned).min(per_station_cap);
        if total < wanted {
            // Trim evenly, keeping sections non-empty.
            let sections = per_section.len().min(total as usize).max(1);
            per_section.truncate(sections);
            let n = count_u32(sections);
            for (i, f) in per_section.iter_mut().enumerate() {
                *f = total / n + u32::from((count_u32(i)) < total % n);
            }
        }
        total = per_section.iter().sum();
        let number = stations.len() + 1;
        let base_name = STATION_NAMES[(number - 1) % STATION_NAMES.len()];
        let round = (number - 1) / STATION_NAMES.len();
        let name = if round == 0 {
            format!("{}kV{}站", params.substation_kv, base_name)
        } else {
            format!("{}kV{}{}站", params.substation_kv, base_name, round + 1)
        };
        stations.push(Substation {
            id: format!("SS{number:03}"),
            name,
            p: best,
            class,
            feeders_per_section: per_section,
        });
        assigned += total;
    }
    stations
}

struct FeederPlan {
    id: String,
    name: String,
    substation: usize,
    section_bus: String,
    origin: [f64; 2],
    heading: f64,
    class: AreaClass,
    customers: u64,
    breaker_kva: u32,
}

fn plan_feeders(rng: &mut ChaCha8Rng, stations: &[Substation], customers: u64) -> Vec<FeederPlan> {
    let mut plans = Vec::new();
    let mut weights = Vec::new();
    for (s, station) in stations.iter().enumerate() {
        let params = station.class.params();
        let count: u32 = station.feeders_per_section.iter().sum();
        let base = rng.random_range(0.0..TAU);
        let mut i = 0u32;
        for (section, n) in station.feeders_per_section.iter().enumerate() {
            for _ in 0..*n {
                let number = plans.len() + 1;
                let heading =
                    base + TAU * f64::from(i) / f64::from(count) + rng.random_range(-0.2..0.2);
                let short = &station.name[station.name.find("kV").map_or(0, |k| k + 2)..];
                let short = short.trim_end_matches('站');
                plans.push(FeederPlan {
                    id: format!("F{number:04}"),
                    name: format!("10kV{short}{:02}线", i + 1),
                    substation: s,
                    section_bus: station.section_bus(section),
                    origin: station.p,
                    heading,
                    class: station.class,
                    customers: 0,
                    breaker_kva: params.breaker_kva[rng.random_range(0..params.breaker_kva.len())],
                });
                weights.push(params.feeder_weight * rng.random_range(0.8..1.2));
                i += 1;
            }
        }
    }
    // Cumulative rounding: the budgets add up to `customers` exactly.
    let total_weight: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    let mut given = 0u64;
    let last = plans.len().saturating_sub(1);
    for (i, plan) in plans.iter_mut().enumerate() {
        cumulative += weights[i];
        let upto = if i == last {
            customers
        } else {
            ((customers as f64) * cumulative / total_weight).round() as u64
        };
        let upto = upto.clamp(given, customers);
        plan.customers = upto - given;
        given = upto;
    }
    plans
}

// ---------------------------------------------------------------------------------------
// Writing

/// Fixed-point decimal without going through float formatting (fast and byte-stable).
fn push_fixed(buf: &mut Vec<u8>, value: f64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    let scaled = (value.abs() * scale as f64).round() as u64;
    if value < 0.0 && scaled != 0 {
        buf.push(b'-');
    }
    push_u64(buf, scaled / scale);
    if decimals > 0 {
        buf.push(b'.');
        let frac = scaled % scale;
        let digits = push_u64_len(frac);
        for _ in digits..decimals {
            buf.push(b'0');
        }
        push_u64(buf, frac);
    }
}

fn push_u64_len(mut v: u64) -> u32 {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_lonlat(buf: &mut Vec<u8>, p: [f64; 2]) {
    buf.push(b'[');
    push_fixed(buf, p[0], 7);
    buf.push(b',');
    push_fixed(buf, p[1], 7);
    buf.push(b']');
}

/// Streams `network.geojson` one feature per line.
struct NetWriter {
    out: BufWriter<File>,
    line: Vec<u8>,
    bytes: u64,
    first: bool,
    summary: GenerateSummary,
}

/// One switch to write.
struct SwitchSpec<'a> {
    id: &'a str,
    from_bus: &'a str,
    to_bus: &'a str,
    device: &'static str,
    normal_open: bool,
    remote_controlled: bool,
    rated_kva: Option<u32>,
    name: Option<&'a str>,
    at: [f64; 2],
}

impl NetWriter {
    fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let header = b"{\"type\":\"FeatureCollection\",\"features\":[\n";
        out.write_all(header)?;
        Ok(Self {
            out,
            line: Vec::with_capacity(4096),
            bytes: header.len() as u64,
            first: true,
            summary: GenerateSummary::default(),
        })
    }

    fn begin(&mut self, id: &str, kind: &str) {
        self.line.clear();
        if !self.first {
            self.line.extend_from_slice(b",\n");
        }
        self.first = false;
        self.line
            .extend_from_slice(b"{\"type\":\"Feature\",\"properties\":{\"id\":\"");
        self.line.extend_from_slice(id.as_bytes());
        self.line.extend_from_slice(b"\",\"kind\":\"");
        self.line.extend_from_slice(kind.as_bytes());
        self.line.push(b'"');
    }

    fn prop_str(&mut self, key: &str, value: &str) {
        self.line.extend_from_slice(b",\"");
        self.line.extend_from_slice(key.as_bytes());
        self.line.extend_from_slice(b"\":\"");
        self.line.extend_from_slice(value.as_bytes());
        self.line.push(b'"');
    }

    fn prop_raw(&mut self, key: &str, value: &str) {
        self.line.extend_from_slice(b",\"");
        self.line.extend_from_slice(key.as_bytes());
        self.line.extend_from_slice(b"\":");
        self.line.extend_from_slice(value.as_bytes());
    }

    fn prop_u64(&mut self, key: &str, value: u64) {
        self.line.extend_from_slice(b",\"");
        self.line.extend_from_slice(key.as_bytes());
        self.line.extend_from_slice(b"\":");
        push_u64(&mut self.line, value);
    }

    fn end_point(&mut self, p: [f64; 2]) -> io::Result<()> {
        self.line
            .extend_from_slice(b"},\"geometry\":{\"type\":\"Point\",\"coordinates\":");
        push_lonlat(&mut self.line, p);
        self.line.extend_from_slice(b"}}");
        self.flush_line()
    }

    fn end_line_string(&mut self, coords: &[[f64; 2]]) -> io::Result<()> {
        self.line
            .extend_from_slice(b"},\"geometry\":{\"type\":\"LineString\",\"coordinates\":[");
        for (i, p) in coords.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            push_lonlat(&mut self.line, *p);
        }
        self.line.extend_from_slice(b"]}}");
        self.flush_line()
    }

    fn flush_line(&mut self) -> io::Result<()> {
        self.bytes += self.line.len() as u64;
        self.out.write_all(&self.line)
    }

    fn bus(
        &mut self,
        id: &str,
        voltage_kv: &str,
        p: [f64; 2],
        name: Option<&str>,
    ) -> io::Result<()> {
        self.begin(id, "bus");
        self.prop_raw("voltage_kv", voltage_kv);
        if let Some(name) = name {
            self.prop_str("name", name);
        }
        self.summary.buses += 1;
        self.end_point(p)
    }

    fn source(&mut self, id: &str, bus: &str, p: [f64; 2], name: &str) -> io::Result<()> {
        self.begin(id, "source");
        self.prop_str("bus", bus);
        self.prop_str("name", name);
        self.end_point(p)
    }

    /// A line with its route; `length_m` is the geodesic length of the route.
    fn line(
        &mut self,
        id: &str,
        from_bus: &str,
        to_bus: &str,
        coords: &[[f64; 2]],
        rated_kva: Option<u32>,
    ) -> io::Result<()> {
        let length: f64 = coords.windows(2).map(|w| haversine_m(w[0], w[1])).sum();
        self.begin(id, "line");
        self.prop_str("from_bus", from_bus);
        self.prop_str("to_bus", to_bus);
        self.line.extend_from_slice(b",\"length_m\":");
        push_fixed(&mut self.line, length, 1);
        if let Some(kva) = rated_kva {
            self.prop_u64("rated_kva", u64::from(kva));
        }
        self.summary.lines += 1;
        self.end_line_string(coords)
    }

    fn switch(&mut self, s: &SwitchSpec<'_>) -> io::Result<()> {
        self.begin(s.id, "switch");
        self.prop_str("from_bus", s.from_bus);
        self.prop_str("to_bus", s.to_bus);
        self.prop_str("device", s.device);
        self.prop_raw("normal_open", if s.normal_open { "true" } else { "false" });
        self.prop_raw(
            "remote_controlled",
            if s.remote_controlled { "true" } else { "false" },
        );
        if let Some(kva) = s.rated_kva {
            self.prop_u64("rated_kva", u64::from(kva));
        }
        if let Some(name) = s.name {
            self.prop_str("name", name);
        }
        *self.summary.switches_by_device.entry(s.device).or_default() += 1;
        self.summary.normally_open += u64::from(s.normal_open);
        self.summary.remote_controlled += u64::from(s.remote_controlled);
        self.end_point(s.at)
    }

    fn transformer(
        &mut self,
        id: &str,
        from_bus: &str,
        to_bus: &str,
        kva: u32,
        p: [f64; 2],
    ) -> io::Result<()> {
        self.begin(id, "transformer");
        self.prop_str("from_bus", from_bus);
        self.prop_str("to_bus", to_bus);
        self.prop_u64("rated_kva", u64::from(kva));
        self.summary.transformers += 1;
        self.end_point(p)
    }

    fn finish(mut self) -> io::Result<GenerateSummary> {
        let footer = b"\n]}\n";
        self.out.write_all(footer)?;
        self.out.flush()?;
        self.summary.bytes_written = self.bytes + footer.len() as u64;
        Ok(self.summary)
    }
}

fn write_substation(net: &mut NetWriter, sub: &Substation) -> io::Result<()> {
    let sections = sub.feeders_per_section.len();
    for section in 0..sections {
        let bus = sub.section_bus(section);
        // Sections sit a few metres apart inside the station.
        let p = offset(sub.p, 0.0, 8.0 * section as f64);
        let roman = ["I", "II", "III"][section.min(2)];
        net.bus(
            &bus,
            "10",
            p,
            Some(&format!("{} 10kV {}段母线", sub.name, roman)),
        )?;
        net.source(
            &format!("SRC-{}-{}", sub.id, section + 1),
            &bus,
            p,
            &format!("{} {}号主变", sub.name, section + 1),
        )?;
    }
    if sections == 2 {
        let id = format!("{}-BT", sub.id);
        let name = format!("{} 10kV母联", sub.name);
        net.switch(&SwitchSpec {
            id: &id,
            from_bus: &sub.section_bus(0),
            to_bus: &sub.section_bus(1),
            device: "breaker",
            normal_open: true,
            remote_controlled: true,
            rated_kva: Some(20_000),
            name: Some(&name),
            at: offset(sub.p, 0.0, 4.0),
        })?;
    }
    Ok(())
}

/// A feeder end that a tie switch may join.
struct FeederEnd {
    bus: String,
    p: [f64; 2],
    substation: usize,
    class: AreaClass,
}

/// Joins each feeder's far end to a neighbouring feeder's end through a normally-open
/// switch, preferring feeders of other substations (so a whole station can be backed up).
/// City feeders also get a second tie from the middle of the trunk to another station's
/// feeder nearby (the "multi-section, multi-tie" pattern of Chinese urban networks).
fn write_ties(
    rng: &mut ChaCha8Rng,
    net: &mut NetWriter,
    ends: &[FeederEnd],
    mids: &[Option<FeederEnd>],
) -> io::Result<()> {
    let n = ends.len();
    let mut tied = vec![false; n];
    let mut tie_no = 0u32;
    let score = |i: usize, j: usize| {
        let d = planar_distance_m(ends[i].p, ends[j].p);
        if ends[i].substation == ends[j].substation {
            d * 2.5 + 500.0
        } else {
            d
        }
    };
    for pass in 0..2 {
        for i in 0..n {
            if tied[i] {
                continue;
            }
            // First pass pairs untied ends; the second gives every remaining feeder a tie.
            let best = (0..n)
                .filter(|&j| j != i && (pass == 1 || !tied[j]))
                .min_by(|&a, &b| score(i, a).total_cmp(&score(i, b)));
            let Some(j) = best else { continue };
            if pass == 0 && planar_distance_m(ends[i].p, ends[j].p) > 6_000.0 {
                continue;
            }
            tied[i] = true;
            tied[j] = true;
            tie_no += 1;
            write_tie(rng, net, tie_no, &ends[i], &ends[j])?;
        }
    }
    let mut mid_tied = vec![false; n];
    for i in 0..n {
        let Some(a) = mids[i].as_ref().filter(|_| !mid_tied[i]) else {
            continue;
        };
        let best = (0..n)
            .filter(|&j| j != i && !mid_tied[j])
            .filter_map(|j| mids[j].as_ref().map(|b| (j, b)))
            .filter(|(_, b)| b.substation != a.substation)
            .map(|(j, b)| (j, planar_distance_m(a.p, b.p)))
            .filter(|(_, d)| *d <= 2_000.0)
            .min_by(|x, y| x.1.total_cmp(&y.1));
        let Some((j, _)) = best else { continue };
        let Some(b) = mids[j].as_ref() else { continue };
        mid_tied[i] = true;
        mid_tied[j] = true;
        tie_no += 1;
        write_tie(rng, net, tie_no, a, b)?;
    }
    Ok(())
}

fn write_tie(
    rng: &mut ChaCha8Rng,
    net: &mut NetWriter,
    no: u32,
    a: &FeederEnd,
    b: &FeederEnd,
) -> io::Result<()> {
    let id = format!("TIE{no:04}");
    let bus = format!("{id}-X");
    let at = offset(b.p, heading_towards(b.p, a.p), 5.0);
    net.bus(&bus, "10", at, None)?;
    let route = route(rng, a.p, at, a.class.params().street_routes);
    net.line(&format!("{id}-L"), &a.bus, &bus, &route, None)?;
    let name = format!("联络开关{no}");
    net.switch(&SwitchSpec {
        id: &id,
        from_bus: &bus,
        to_bus: &b.bus,
        device: "load_break_switch",
        normal_open: true,
        remote_controlled: rng.random_bool(a.class.params().remote_share.max(0.5)),
        rated_kva: None,
        name: Some(&name),
        at,
    })
}

/// A line's route from `a` to `b`: along two streets (an L) in the city, or nearly straight
/// with a couple of bends in the countryside.
fn route(rng: &mut ChaCha8Rng, a: [f64; 2], b: [f64; 2], street: bool) -> Vec<[f64; 2]> {
    if street && rng.random_bool(0.6) {
        let corner = if rng.random_bool(0.5) {
            [b[0], a[1]]
        } else {
            [a[0], b[1]]
        };
        return vec![a, corner, b];
    }
    let bends = rng.random_range(1..=2u32);
    let length = planar_distance_m(a, b);
    let heading = heading_towards(a, b);
    let mut coords = Vec::with_capacity(bends as usize + 2);
    coords.push(a);
    for k in 1..=bends {
        let t = f64::from(k) / f64::from(bends + 1);
        let along = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
        let side = rng.random_range(-0.06..0.06) * length;
        coords.push(offset(along, heading + PI / 2.0, side));
    }
    coords.push(b);
    coords
}

/// Streams `customers.csv`.
struct CustomerWriter {
    out: BufWriter<File>,
    line: Vec<u8>,
    bytes: u64,
    written: u64,
    critical: u64,
    by_class: [u64; 4],
}

const CUSTOMER_HEADER: &str =
    "id,bus,lon,lat,area_class,name,phone,wechat_openid,channels,critical,peak_kw\n";

impl CustomerWriter {
    fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(CUSTOMER_HEADER.as_bytes())?;
        Ok(Self {
            out,
            line: Vec::with_capacity(256),
            bytes: CUSTOMER_HEADER.len() as u64,
            written: 0,
            critical: 0,
            by_class: [0; 4],
        })
    }

    fn finish(mut self) -> io::Result<u64> {
        self.out.flush()?;
        Ok(self.bytes)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CustomerKind {
    Residential,
    Commercial,
    /// Hospital, water works or similar: critical, large demand.
    Facility,
    /// A home with life-support equipment: critical, residential demand.
    LifeSupport,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "于", "董", "袁", "崔", "薛", "丁", "孟", "田",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "志", "红", "建", "国", "海", "燕",
    "峰", "鹏", "辉", "波", "宁", "晨", "欣", "颖",
];
const SHOPS: &[&str] = &[
    "超市",
    "饭店",
    "药店",
    "理发店",
    "便利店",
    "五金店",
    "水果店",
    "面馆",
    "烟酒店",
    "快递站",
];
const FACILITIES: &[&str] = &[
    "人民医院",
    "中心医院",
    "中医院",
    "妇幼保健院",
    "社区卫生服务中心",
    "自来水厂",
    "污水处理厂",
    "消防救援站",
    "通信基站",
    "养老院",
];
const OPENID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct FeederBuilder<'a> {
    rng: &'a mut ChaCha8Rng,
    net: &'a mut NetWriter,
    customers: &'a mut CustomerWriter,
    grid: &'a CellGrid,
    plan: &'a FeederPlan,
    params: &'static ClassParams,
    line_no: u32,
    lateral_no: u32,
    transformer_no: u32,
}

/// One distribution transformer to place: size and customer count.
struct TransformerPlan {
    kva: u32,
    customers: u64,
    /// The first customer is a critical facility with its own demand.
    facility: bool,
}

impl FeederBuilder<'_> {
    fn next_line_id(&mut self) -> String {
        self.line_no += 1;
        format!("{}-L{:03}", self.plan.id, self.line_no)
    }

    /// Writes the feeder; returns its far end and, for city feeders, a mid-trunk tie point.
    fn build(&mut self) -> io::Result<(FeederEnd, Option<FeederEnd>)> {
        let plan = self.plan;
        let params = self.params;
        let transformers = self.plan_transformers();

        // Breaker in the station, cable out to the feeder head.
        let head_bus = format!("{}-H", plan.id);
        let head = offset(plan.origin, plan.heading, 40.0);
        self.net.bus(&head_bus, "10", head, None)?;
        self.net.switch(&SwitchSpec {
            id: &format!("{}-CB", plan.id),
            from_bus: &plan.section_bus,
            to_bus: &head_bus,
            device: "breaker",
            normal_open: false,
            remote_controlled: true,
            rated_kva: Some(plan.breaker_kva),
            name: Some(&plan.name),
            at: plan.origin,
        })?;

        let max_nodes = self
            .rng
            .random_range(params.trunk_nodes.0..=params.trunk_nodes.1);
        let nodes = max_nodes.min(count_u32(transformers.len()).max(2));
        let trunk_length_estimate = params.trunk_step_m * f64::from(nodes);
        let recloser_at = (plan.class == AreaClass::Rural || plan.class == AreaClass::Town)
            && trunk_length_estimate > 8_000.0;
        let recloser_node = nodes / 2 + 1;

        let mut prev_bus = head_bus;
        let mut prev = head;
        let mut heading = plan.heading;
        let mut next_transformer = 0usize;
        let trunk_kva = plan.breaker_kva;
        let city = matches!(plan.class, AreaClass::Core | AreaClass::Urban);
        let mid_node = if city && nodes >= 4 { nodes * 2 / 3 } else { 0 };
        let mut mid = None;
        for k in 1..=nodes {
            heading += self.rng.random_range(-0.35..0.35);
            let step = params.trunk_step_m * self.rng.random_range(0.7..1.3);
            let (p, taken) = step_inside(self.rng, prev, heading, step);
            heading = taken;
            let node_bus = format!("{}-N{k:02}", plan.id);
            self.net.bus(&node_bus, "10", p, None)?;

            let device = if recloser_at && k == recloser_node {
                Some("recloser")
            } else if k >= 2 && k % 3 == 0 {
                Some("load_break_switch")
            } else {
                None
            };
            let route = route(self.rng, prev, p, params.street_routes);
            let line_id = self.next_line_id();
            if let Some(device) = device {
                // The switch sits at the node, on its own short bus.
                let switch_bus = format!("{node_bus}S");
                self.net.bus(&switch_bus, "10", p, None)?;
                self.net
                    .line(&line_id, &prev_bus, &switch_bus, &route, Some(trunk_kva))?;
                let remote = device == "recloser" || self.rng.random_bool(params.remote_share);
                self.net.switch(&SwitchSpec {
                    id: &format!("{}-SW{k:02}", plan.id),
                    from_bus: &switch_bus,
                    to_bus: &node_bus,
                    device,
                    normal_open: false,
                    remote_controlled: remote,
                    rated_kva: None,
                    name: None,
                    at: p,
                })?;
            } else {
                self.net
                    .line(&line_id, &prev_bus, &node_bus, &route, Some(trunk_kva))?;
            }

            // This node's share of the transformers, split into laterals of 1-3.
            let share = transformers.len() * k as usize / nodes as usize - next_transformer;
            let mut side = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let mut left = share;
            while left > 0 {
                let take = self.rng.random_range(1..=3usize).min(left);
                let lateral = &transformers[next_transformer..next_transformer + take];
                self.lateral(&node_bus, p, heading + side * PI / 2.0, lateral)?;
                next_transformer += take;
                left -= take;
                side = -side;
            }
            if k == mid_node {
                mid = Some(FeederEnd {
                    bus: node_bus.clone(),
                    p,
                    substation: plan.substation,
                    class: plan.class,
                });
            }
            prev_bus = node_bus;
            prev = p;
        }
        let end = FeederEnd {
            bus: prev_bus,
            p: prev,
            substation: plan.substation,
            class: plan.class,
        };
        Ok((end, mid))
    }

    /// Transformers until the feeder's customer budget is used up (at least one).
    fn plan_transformers(&mut self) -> Vec<TransformerPlan> {
        let params = self.params;
        let mut left = self.plan.customers;
        let mut list = Vec::new();
        loop {
            let mut kva = pick_weighted(self.rng, params.transformer_kva);
            let facility = self.plan.class != AreaClass::Rural && self.rng.random_bool(0.01);
            if facility {
                kva = kva.max(800);
            }
            let load_factor = self.rng.random_range(0.5..0.8);
            let typical = (f64::from(kva) * load_factor / params.residential_kw).round() as u64;
            let count = typical.max(1).min(left);
            list.push(TransformerPlan {
                kva,
                customers: count,
                facility: facility && count > 0,
            });
            left -= count;
            if left == 0 {
                break;
            }
        }
        list
    }

    fn lateral(
        &mut self,
        node_bus: &str,
        node: [f64; 2],
        heading: f64,
        transformers: &[TransformerPlan],
    ) -> io::Result<()> {
        let plan = self.plan;
        let params = self.params;
        self.lateral_no += 1;
        let lateral_bus = format!("{}-LT{:02}", plan.id, self.lateral_no);
        self.net.bus(&lateral_bus, "10", node, None)?;
        self.net.switch(&SwitchSpec {
            id: &format!("{lateral_bus}-FU"),
            from_bus: node_bus,
            to_bus: &lateral_bus,
            device: "fuse",
            normal_open: false,
            remote_controlled: false,
            rated_kva: None,
            name: None,
            at: node,
        })?;
        let mut prev_bus = lateral_bus;
        let mut prev = node;
        let mut heading = heading;
        for (i, t) in transformers.iter().enumerate() {
            self.transformer_no += 1;
            let tid = format!("{}-T{:03}", plan.id, self.transformer_no);
            if i > 0 && self.rng.random_bool(0.3) {
                // A disconnector to isolate the far part of the lateral.
                let bus = format!("{tid}-D");
                self.net.bus(&bus, "10", prev, None)?;
                self.net.switch(&SwitchSpec {
                    id: &format!("{tid}-DS"),
                    from_bus: &prev_bus,
                    to_bus: &bus,
                    device: "disconnector",
                    normal_open: false,
                    remote_controlled: false,
                    rated_kva: None,
                    name: None,
                    at: prev,
                })?;
                prev_bus = bus;
            }
            heading += self.rng.random_range(-0.3..0.3);
            let step = params.lateral_step_m * self.rng.random_range(0.6..1.4);
            let (p, taken) = step_inside(self.rng, prev, heading, step);
            heading = taken;
            let hv_bus = format!("{tid}-H");
            self.net.bus(&hv_bus, "10", p, None)?;
            let route = route(self.rng, prev, p, params.street_routes);
            let line_id = self.next_line_id();
            self.net.line(&line_id, &prev_bus, &hv_bus, &route, None)?;
            let lv_bus = format!("{tid}-L");
            let lv = offset(p, heading, 6.0);
            self.net.bus(&lv_bus, "0.4", lv, None)?;
            self.net.transformer(&tid, &hv_bus, &lv_bus, t.kva, p)?;
            self.write_customers(&lv_bus, lv, t)?;
            prev_bus = hv_bus;
            prev = p;
        }
        Ok(())
    }

    fn write_customers(&mut self, bus: &str, at: [f64; 2], t: &TransformerPlan) -> io::Result<()> {
        let scatter = self.params.scatter_m;
        for i in 0..t.customers {
            let kind = if i == 0 && t.facility {
                CustomerKind::Facility
            } else {
                let x: f64 = self.rng.random();
                if x < 0.0008 {
                    CustomerKind::LifeSupport
                } else if x < 0.07 {
                    CustomerKind::Commercial
                } else {
                    CustomerKind::Residential
                }
            };
            let r = scatter * self.rng.random::<f64>().sqrt();
            let p = clamp_to_bounds(offset(at, self.rng.random_range(0.0..TAU), r));
            let class = self.grid.class_at(p);
            self.write_customer(bus, p, class, kind)?;
        }
        Ok(())
    }

    fn write_customer(
        &mut self,
        bus: &str,
        p: [f64; 2],
        class: AreaClass,
        kind: CustomerKind,
    ) -> io::Result<()> {
        let rng = &mut *self.rng;
        let c = &mut *self.customers;
        c.written += 1;
        c.by_class[class as usize] += 1;
        let line = &mut c.line;
        line.clear();
        line.push(b'C');
        let number = c.written;
        for _ in push_u64_len(number)..8 {
            line.push(b'0');
        }
        push_u64(line, number);
        line.push(b',');
        line.extend_from_slice(bus.as_bytes());
        line.push(b',');
        push_fixed(line, p[0], 7);
        line.push(b',');
        push_fixed(line, p[1], 7);
        line.push(b',');
        line.extend_from_slice(class.as_str().as_bytes());
        line.push(b',');

        // name
        let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
        match kind {
            CustomerKind::Facility => {
                line.extend_from_slice("东营市".as_bytes());
                line.extend_from_slice(
                    FACILITIES[rng.random_range(0..FACILITIES.len())].as_bytes(),
                );
                line.push(b'(');
                push_u64(line, number);
                line.push(b')');
            }
            CustomerKind::Commercial => {
                line.extend_from_slice(surname.as_bytes());
                line.extend_from_slice("记".as_bytes());
                line.extend_from_slice(SHOPS[rng.random_range(0..SHOPS.len())].as_bytes());
            }
            CustomerKind::Residential | CustomerKind::LifeSupport => {
                line.extend_from_slice(surname.as_bytes());
                for _ in 0..rng.random_range(1..=2) {
                    line.extend_from_slice(GIVEN[rng.random_range(0..GIVEN.len())].as_bytes());
                }
            }
        }
        line.push(b',');

        // phone: mobiles are near-universal; facilities always have a duty phone
        let has_phone = kind != CustomerKind::Residential || rng.random_bool(0.9);
        if has_phone {
            line.extend_from_slice(b"+861");
            line.push([b'3', b'5', b'7', b'8', b'9'][rng.random_range(0..5)]);
            let rest = rng.random_range(0..1_000_000_000u64);
            for _ in push_u64_len(rest)..9 {
                line.push(b'0');
            }
            push_u64(line, rest);
        }
        line.push(b',');

        let has_wechat = kind != CustomerKind::Facility && rng.random_bool(0.6);
        if has_wechat {
            line.push(b'o');
            for _ in 0..27 {
                line.push(OPENID_ALPHABET[rng.random_range(0..OPENID_ALPHABET.len())]);
            }
        }
        line.push(b',');

        let channels: &str = match (has_wechat, has_phone) {
            (true, true) => {
                ["wechat;sms", "wechat;sms;app", "app;wechat;sms"][rng.random_range(0..3)]
            }
            (true, false) => "wechat",
            (false, true) => ["sms", "sms;app"][rng.random_range(0..2)],
            (false, false) => "",
        };
        line.extend_from_slice(channels.as_bytes());
        line.push(b',');

        let critical = matches!(kind, CustomerKind::Facility | CustomerKind::LifeSupport);
        c.critical += u64::from(critical);
        line.extend_from_slice(if critical { b"true," } else { b"false," });

        let base = self.params.residential_kw;
        let peak_kw = match kind {
            CustomerKind::Residential | CustomerKind::LifeSupport => {
                // Skewed: most homes near the mean, a few large ones.
                let u: f64 = rng.random();
                base * (0.5 + 1.5 * u * u)
            }
            CustomerKind::Commercial => rng.random_range(8.0..60.0),
            CustomerKind::Facility => rng.random_range(150.0..600.0),
        };
        push_fixed(line, peak_kw, 1);
        line.push(b'\n');
        c.bytes += line.len() as u64;
        c.out.write_all(line)
    }
}

fn write_cells(grid: &CellGrid, path: &Path) -> io::Result<(u32, u64)> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[\n");
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            if r + c > 0 {
                buf.extend_from_slice(b",\n");
            }
            let class = grid.classes[r * grid.cols + c];
            buf.extend_from_slice(b"{\"type\":\"Feature\",\"properties\":{\"id\":\"");
            buf.extend_from_slice(cell_id(r, c).as_bytes());
            buf.extend_from_slice(b"\",\"name\":\"");
            buf.extend_from_slice(format!("网格{:02}-{:02}", r + 1, c + 1).as_bytes());
            buf.extend_from_slice(b"\",\"area_class\":\"");
            buf.extend_from_slice(class.as_str().as_bytes());
            buf.extend_from_slice(b"\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[");
            let [x0, y0] = grid.origin(r, c);
            let [x1, y1] = grid.origin(r + 1, c + 1);
            let ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
            for (i, p) in ring.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                push_lonlat(&mut buf, *p);
            }
            buf.extend_from_slice(b"]]}}");
        }
    }
    buf.extend_from_slice(b"\n]}\n");
    out.write_all(&buf)?;
    out.flush()?;
    Ok((count_u32(grid.rows * grid.cols), buf.len() as u64))
}

fn write_crews(rng: &mut ChaCha8Rng, grid: &CellGrid, path: &Path) -> io::Result<(u32, u64)> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut text = String::from("id,home_cell,lon,lat,size,skills,shift\n");
    let mut crews = 0u32;
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            let class = grid.classes[r * grid.cols + c];
            let (lo, hi) = class.params().crews_per_cell;
            let count = if class == AreaClass::Rural {
                u32::from((r + c) % 2 == 0)
            } else {
                rng.random_range(lo..=hi)
            };
            let city = matches!(class, AreaClass::Core | AreaClass::Urban);
            for k in 0..count {
                crews += 1;
                let o = grid.origin(r, c);
                let p = [
                    o[0] + grid.dlon * rng.random_range(0.2..0.8),
                    o[1] + grid.dlat * rng.random_range(0.2..0.8),
                ];
                let size = if city {
                    rng.random_range(3..=6u32)
                } else {
                    rng.random_range(2..=4u32)
                };
                let mut skills: Vec<&str> = Vec::with_capacity(4);
                if !city || rng.random_bool(0.6) {
                    skills.push("line");
                }
                if city || rng.random_bool(0.3) {
                    skills.push("cable");
                }
                if rng.random_bool(0.35) {
                    skills.push("live_line");
                }
                if rng.random_bool(0.55) {
                    skills.push("transformer");
                }
                // Day and night crews alternate; lone rural crews alternate between cells.
                let night = if count == 1 { c % 4 == 2 } else { k % 2 == 1 };
                let shift = if night { "20:00-08:00" } else { "08:00-20:00" };
                text.push_str(&format!(
                    "CREW-{crews:04},{},{:.7},{:.7},{size},{},{shift}\n",
                    cell_id(r, c),
                    p[0],
                    p[1],
                    skills.join(";")
                ));
            }
        }
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok((crews, text.len() as u64))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests unwrap on data they created")]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet, VecDeque};

    fn generated(customers: u64, feeders: u32, seed: u64) -> (tempfile::TempDir, GenerateSummary) {
        let dir = tempfile::tempdir().unwrap();
        let opts = GenerateOptions {
            customers,
            feeders,
            seed,
        };
        let mut calls = 0;
        let summary = generate(&opts, dir.path(), &mut |done, total| {
            assert!(done <= total);
            calls += 1;
        })
        .unwrap();
        assert_eq!(calls, feeders);
        (dir, summary)
    }

    fn small(seed: u64) -> (tempfile::TempDir, GenerateSummary) {
        generated(5_000, 10, seed)
    }

    fn read(dir: &Path, file: &str) -> Vec<u8> {
        fs::read(dir.join(file)).unwrap()
    }

    #[test]
    fn small_package_is_well_formed_radial_and_fully_energized() {
        let (dir, summary) = small(7);
        assert_well_formed(dir.path(), 5_000, 10, &summary);
    }

    #[test]
    fn degenerate_sizes_still_give_valid_packages() {
        for (customers, feeders) in [(0, 1), (3, 5), (1, 2)] {
            let (dir, summary) = generated(customers, feeders, 1);
            assert_well_formed(dir.path(), customers, feeders, &summary);
        }
    }

    /// Unique ids, valid references, every feeder radial and energized, every feeder tied,
    /// customers, cells and crews consistent.
    fn assert_well_formed(dir: &Path, customers: u64, feeders: u32, summary: &GenerateSummary) {
        let net: serde_json::Value = serde_json::from_slice(&read(dir, "network.geojson")).unwrap();
        let features = net["features"].as_array().unwrap();
        let mut ids = HashSet::new();
        let mut buses = HashSet::new();
        for f in features {
            let id = f["properties"]["id"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "duplicate id {id}");
            if f["properties"]["kind"] == "bus" {
                buses.insert(id);
            }
        }
        let mut adjacency: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut sources = Vec::new();
        let mut closed_branches = 0usize;
        let mut breakers = 0;
        for f in features {
            let props = &f["properties"];
            let geometry = f["geometry"]["type"].as_str().unwrap();
            match props["kind"].as_str().unwrap() {
                "bus" => assert_eq!(geometry, "Point"),
                "source" => {
                    let bus = props["bus"].as_str().unwrap();
                    assert!(buses.contains(bus), "source to missing bus {bus}");
                    sources.push(bus);
                }
                kind @ ("line" | "switch" | "transformer") => {
                    let from = props["from_bus"].as_str().unwrap();
                    let to = props["to_bus"].as_str().unwrap();
                    assert!(buses.contains(from) && buses.contains(to), "{props}");
                    if kind == "line" {
                        assert_eq!(geometry, "LineString");
                        assert!(props["length_m"].as_f64().unwrap() > 0.0);
                    }
                    if kind == "transformer" {
                        assert!(props["rated_kva"].as_f64().unwrap() >= 100.0);
                    }
                    if kind == "switch"
                        && props["device"] == "breaker"
                        && props["normal_open"] == false
                    {
                        breakers += 1;
                    }
                    if props["normal_open"] != true {
                        closed_branches += 1;
                        adjacency.entry(from).or_default().push(to);
                        adjacency.entry(to).or_default().push(from);
                    }
                }
                other => panic!("unexpected kind {other}"),
            }
        }
        assert_eq!(breakers, feeders, "one feeder breaker per feeder");
        // Every feeder has a tie, and every tie joins two different feeders.
        let feeder_of = |bus: &str| bus.split('-').next().unwrap().to_owned();
        let mut tie_sides: HashMap<String, Vec<String>> = HashMap::new();
        for f in features {
            let props = &f["properties"];
            let id = props["id"].as_str().unwrap();
            if let Some(tie) = id.strip_prefix("TIE") {
                let (tie, bus) = match tie.strip_suffix("-L") {
                    Some(tie) => (tie, props["from_bus"].as_str()),
                    None => (tie, props["to_bus"].as_str()),
                };
                if let Some(bus) = bus {
                    assert_eq!(props["normal_open"] == true, props["kind"] == "switch");
                    tie_sides
                        .entry(tie.to_owned())
                        .or_default()
                        .push(feeder_of(bus));
                }
            }
        }
        let mut tied_feeders = HashSet::new();
        for sides in tie_sides.values() {
            assert_eq!(sides.len(), 2);
            assert_ne!(sides[0], sides[1], "a tie joins two feeders");
            tied_feeders.extend(sides.iter().cloned());
        }
        if feeders >= 2 {
            assert_eq!(tied_feeders.len(), feeders as usize, "{tied_feeders:?}");
        }
        // A forest rooted at the sources: every bus reached once, edges = buses - roots.
        let mut seen: HashSet<&str> = HashSet::new();
        let mut queue: VecDeque<&str> = sources.iter().copied().collect();
        seen.extend(sources.iter().copied());
        while let Some(b) = queue.pop_front() {
            for n in adjacency.get(b).into_iter().flatten() {
                if seen.insert(n) {
                    queue.push_back(n);
                }
            }
        }
        assert_eq!(seen.len(), buses.len(), "every bus energized");
        assert_eq!(closed_branches, buses.len() - sources.len(), "radial");
        assert_eq!(summary.buses as usize, buses.len());
        assert_eq!(summary.sources as usize, sources.len());
        assert!(
            summary.normally_open >= u64::from(feeders / 2),
            "ties: {}",
            summary.normally_open
        );

        let mut csv = csv::Reader::from_path(dir.join("customers.csv")).unwrap();
        let headers = csv.headers().unwrap().clone();
        for col in [
            "id",
            "bus",
            "lon",
            "lat",
            "area_class",
            "phone",
            "peak_kw",
            "critical",
        ] {
            assert!(headers.iter().any(|h| h == col), "missing column {col}");
        }
        let mut count = 0;
        let mut customer_ids = HashSet::new();
        for row in csv.records() {
            let row = row.unwrap();
            count += 1;
            assert!(customer_ids.insert(row[0].to_owned()));
            assert!(buses.contains(&row[1]), "customer bus {}", &row[1]);
            let lon: f64 = row[2].parse().unwrap();
            let lat: f64 = row[3].parse().unwrap();
            assert!((118.3..=118.9).contains(&lon) && (37.2..=37.7).contains(&lat));
            assert!(["core", "urban", "town", "rural"].contains(&&row[4]));
            assert!(row[6].is_empty() || (row[6].starts_with("+861") && row[6].len() == 14));
            assert!(row[10].parse::<f64>().unwrap() > 0.0);
        }
        assert_eq!(count, customers);
        assert_eq!(summary.customers, customers);
        assert_eq!(
            summary.customers_by_area_class.values().sum::<u64>(),
            customers
        );

        let cells: serde_json::Value = serde_json::from_slice(&read(dir, "cells.geojson")).unwrap();
        let cell_ids: HashSet<&str> = cells["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(cell_ids.len(), summary.cells as usize);
        let mut crews = csv::Reader::from_path(dir.join("crews.csv")).unwrap();
        let mut crew_count = 0;
        for row in crews.records() {
            let row = row.unwrap();
            crew_count += 1;
            assert!(cell_ids.contains(&row[1]), "crew home cell {}", &row[1]);
            assert!(row[6].len() == 11 && row[6].as_bytes()[5] == b'-');
        }
        assert_eq!(crew_count, summary.crews);
    }

    #[test]
    fn same_seed_gives_identical_files_and_another_seed_differs() {
        let (a, _) = small(11);
        let (b, _) = small(11);
        let (c, _) = small(12);
        for file in [
            "network.geojson",
            "customers.csv",
            "cells.geojson",
            "crews.csv",
        ] {
            assert_eq!(read(a.path(), file), read(b.path(), file), "{file}");
        }
        assert_ne!(
            read(a.path(), "network.geojson"),
            read(c.path(), "network.geojson")
        );
        assert_ne!(
            read(a.path(), "customers.csv"),
            read(c.path(), "customers.csv")
        );
    }

    #[test]
    fn customer_density_falls_from_core_to_rural() {
        let (dir, summary) = generated(60_000, 60, 5);
        let grid = CellGrid::new();
        let mut cells_per_class = [0u64; 4];
        for class in &grid.classes {
            cells_per_class[*class as usize] += 1;
        }
        let density: Vec<f64> = AreaClass::ALL
            .iter()
            .map(|c| {
                summary.customers_by_area_class[c.as_str()] as f64
                    / cells_per_class[*c as usize] as f64
            })
            .collect();
        assert!(
            density[0] > density[1] && density[1] > density[2] && density[2] > density[3],
            "customers per cell, core to rural: {density:?}"
        );
        assert!(density[0] > 20.0 * density[3], "{density:?}");
        assert_eq!(summary.cells as usize, grid.classes.len());
        drop(dir);
    }

    #[test]
    fn zero_feeders_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let opts = GenerateOptions {
            customers: 10,
            feeders: 0,
            seed: 1,
        };
        let err = generate(&opts, dir.path(), &mut |_, _| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn fixed_point_formatting_matches_float_formatting() {
        for v in [
            0.0,
            1.5,
            -2.25,
            118.123_456_78,
            37.000_000_04,
            -0.000_000_04,
            12_345.05,
        ] {
            let mut buf = Vec::new();
            push_fixed(&mut buf, v, 7);
            let parsed: f64 = String::from_utf8(buf).unwrap().parse().unwrap();
            assert!((parsed - v).abs() <= 0.5e-7, "{v} -> {parsed}");
        }
        let mut buf = Vec::new();
        push_fixed(&mut buf, 3.05, 1);
        assert!(buf == b"3.1" || buf == b"3.0");
    }

    #[test]
    fn area_class_falls_with_distance_from_the_centre() {
        assert_eq!(AreaClass::at(CENTRE), AreaClass::Core);
        assert_eq!(
            AreaClass::at(offset(CENTRE, 0.0, 5_000.0)),
            AreaClass::Urban
        );
        assert_eq!(
            AreaClass::at(offset(CENTRE, 1.0, 11_000.0)),
            AreaClass::Town
        );
        assert_eq!(AreaClass::at(TOWNS[0]), AreaClass::Town);
        assert_eq!(AreaClass::at([118.33, 37.25]), AreaClass::Rural);
    }
}
