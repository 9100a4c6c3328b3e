//! Payload parts shared by several exchanges: points, devices, area classes, counts of
//! what an outage affects, time windows.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::ElementId;

/// A WGS84 longitude/latitude (EPSG:4326), as in the grid package.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeoPoint {
    /// Longitude in degrees east.
    pub lon: f64,
    /// Latitude in degrees north.
    pub lat: f64,
}

/// A grid element that an outage or a work order is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Device {
    /// Element id in the grid package.
    pub id: ElementId,
    /// What kind of element it is.
    pub kind: DeviceKind,
}

/// The kind of a grid element: the switch `device` kinds of `network.geojson`, or a line,
/// transformer or bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Circuit breaker (protective).
    Breaker,
    /// Recloser (protective).
    Recloser,
    /// Sectionalizer.
    Sectionalizer,
    /// Load-break switch (负荷开关).
    LoadBreakSwitch,
    /// Disconnector (隔离开关).
    Disconnector,
    /// Fuse (protective).
    Fuse,
    /// Overhead line or cable section.
    Line,
    /// Distribution transformer (配变).
    Transformer,
    /// Bus.
    Bus,
}

/// Area class of customers and cells (中心区/市区/城镇/农村): sets reliability targets and
/// repair time limits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AreaClass {
    /// City core (中心区).
    Core,
    /// Urban (市区).
    Urban,
    /// Town (城镇).
    Town,
    /// Rural (农村).
    Rural,
}

impl AreaClass {
    /// Every class, in report order.
    pub const ALL: [Self; 4] = [Self::Core, Self::Urban, Self::Town, Self::Rural];

    /// The wire name (`core`, `urban`, `town`, `rural`), as in the grid package.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Urban => "urban",
            Self::Town => "town",
            Self::Rural => "rural",
        }
    }

    /// The class of a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == text)
    }
}

impl std::fmt::Display for AreaClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count per area class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AreaClassCounts {
    /// Count in the city core.
    pub core: u32,
    /// Count in urban areas.
    pub urban: u32,
    /// Count in towns.
    pub town: u32,
    /// Count in rural areas.
    pub rural: u32,
}

impl AreaClassCounts {
    /// The count of one class.
    pub fn get(&self, class: AreaClass) -> u32 {
        match class {
            AreaClass::Core => self.core,
            AreaClass::Urban => self.urban,
            AreaClass::Town => self.town,
            AreaClass::Rural => self.rural,
        }
    }

    /// Adds `n` to one class.
    pub fn add(&mut self, class: AreaClass, n: u32) {
        let slot = match class {
            AreaClass::Core => &mut self.core,
            AreaClass::Urban => &mut self.urban,
            AreaClass::Town => &mut self.town,
            AreaClass::Rural => &mut self.rural,
        };
        *slot = slot.saturating_add(n);
    }

    /// The sum over all classes.
    pub fn total(&self) -> u32 {
        self.core
            .saturating_add(self.urban)
            .saturating_add(self.town)
            .saturating_add(self.rural)
    }
}

/// How much an outage (or a planned job) takes out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AffectedCounts {
    /// Customers without supply.
    pub customers: u32,
    /// The same customers per area class (sums to `customers`).
    pub customers_by_area_class: AreaClassCounts,
    /// Of them, customers supplied at low voltage (from a transformer's low-voltage bus).
    pub low_voltage_customers: u32,
    /// Public distribution transformers (公变台区) without supply.
    pub public_transformers: u32,
    /// Of the customers, critical ones (hospitals, life support, ...).
    pub critical_customers: u32,
}

/// A time window, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TimeWindow {
    /// Start, RFC 3339 with offset.
    pub start: DateTime<FixedOffset>,
    /// End, RFC 3339 with offset.
    pub end: DateTime<FixedOffset>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_class_counts_add_up_per_class_and_in_total() {
        let mut counts = AreaClassCounts::default();
        counts.add(AreaClass::Urban, 3);
        counts.add(AreaClass::Rural, 2);
        counts.add(AreaClass::Urban, 1);
        assert_eq!(counts.get(AreaClass::Urban), 4);
        assert_eq!(counts.get(AreaClass::Core), 0);
        assert_eq!(counts.total(), 6);
    }

    #[test]
    fn device_kinds_are_snake_case_on_the_wire() {
        let json = serde_json::to_string(&DeviceKind::LoadBreakSwitch).unwrap();
        assert_eq!(json, r#""load_break_switch""#);
    }
}
