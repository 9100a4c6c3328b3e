//! The engine's rules: hold windows, roll-up thresholds (a normal and a storm set), the
//! momentary threshold, ping limits, call placement radii and the default ETR table.
//! Plain serde data with defaults, so the service can load it from its configuration.

use fudian_events::common::{AreaClass, DeviceKind};
use serde::{Deserialize, Serialize};

/// When scattered evidence (last gasps, calls) becomes a predicted outage, and how far up
/// the network the prediction moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RollUpRules {
    /// How long a last gasp or call is held before it is rolled up, so that a burst of
    /// evidence of one outage is judged together (seconds).
    pub hold_secs: u32,
    /// Evidence further apart than this (seconds) is taken for separate outages: older
    /// predictions stop counting toward moving a new one up.
    pub time_separation_secs: u32,
    /// Customers heard below a transformer or switch before a single-customer prediction
    /// becomes one of that device.
    pub min_evidence_for_device: u32,
    /// Predicted devices below a protective device that move the prediction up to it.
    pub min_devices_to_move_up: u32,
    /// Customers heard below a protective device that, with `min_share_to_move_up`, move
    /// the prediction up to it.
    pub min_evidence_to_move_up: u32,
    /// Share (0..=1) of a protective device's customers heard that, with
    /// `min_evidence_to_move_up`, moves the prediction up to it.
    pub min_share_to_move_up: f64,
}

impl Default for RollUpRules {
    fn default() -> Self {
        Self::normal()
    }
}

impl RollUpRules {
    /// Fair weather: short hold, quick to group.
    pub fn normal() -> Self {
        Self {
            hold_secs: 30,
            time_separation_secs: 900,
            min_evidence_for_device: 2,
            min_devices_to_move_up: 3,
            min_evidence_to_move_up: 3,
            min_share_to_move_up: 0.5,
        }
    }

    /// Storms: many independent faults at once, so hold longer and ask for more evidence
    /// before blaming a bigger device.
    pub fn storm() -> Self {
        Self {
            hold_secs: 90,
            time_separation_secs: 600,
            min_evidence_for_device: 2,
            min_devices_to_move_up: 4,
            min_evidence_to_move_up: 6,
            min_share_to_move_up: 0.6,
        }
    }
}

/// Default estimated restoration time: a base per area class (repair time limits are set
/// per class) plus an addition per kind of device out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtrTable {
    pub core_minutes: u32,
    pub urban_minutes: u32,
    pub town_minutes: u32,
    pub rural_minutes: u32,
    /// Added when the device is a breaker or recloser (a feeder or a large section out).
    pub feeder_device_extra_minutes: u32,
    /// Added for a fuse, sectionalizer or other switch.
    pub switch_extra_minutes: u32,
    /// Added for a transformer (a replacement may be needed).
    pub transformer_extra_minutes: u32,
    /// Added for a line or a single customer's service.
    pub other_extra_minutes: u32,
}

impl Default for EtrTable {
    fn default() -> Self {
        Self {
            core_minutes: 90,
            urban_minutes: 120,
            town_minutes: 180,
            rural_minutes: 240,
            feeder_device_extra_minutes: 0,
            switch_extra_minutes: 30,
            transformer_extra_minutes: 60,
            other_extra_minutes: 30,
        }
    }
}

impl EtrTable {
    /// Minutes from the start of an outage of `kind` whose most demanding class is `class`.
    pub fn minutes(&self, class: AreaClass, kind: DeviceKind) -> u32 {
        let base = match class {
            AreaClass::Core => self.core_minutes,
            AreaClass::Urban => self.urban_minutes,
            AreaClass::Town => self.town_minutes,
            AreaClass::Rural => self.rural_minutes,
        };
        let extra = match kind {
            DeviceKind::Breaker | DeviceKind::Recloser => self.feeder_device_extra_minutes,
            DeviceKind::Fuse
            | DeviceKind::Sectionalizer
            | DeviceKind::LoadBreakSwitch
            | DeviceKind::Disconnector => self.switch_extra_minutes,
            DeviceKind::Transformer => self.transformer_extra_minutes,
            DeviceKind::Line | DeviceKind::Bus => self.other_extra_minutes,
        };
        base.saturating_add(extra)
    }
}

/// Every rule of the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// The roll-up rules in fair weather.
    pub normal: RollUpRules,
    /// The roll-up rules while storm mode is on.
    pub storm: RollUpRules,
    /// Start in storm mode (it can be switched at run time).
    pub storm_mode: bool,
    /// Interruptions up to this long are momentary (IEEE 1366: 5 minutes), seconds.
    pub momentary_secs: u32,
    /// A last gasp this soon after its customer's incident restored makes a nested outage
    /// rather than a new one (seconds).
    pub nested_last_gasp_secs: u32,
    /// How long restored customers are remembered for nested-outage callbacks (seconds).
    pub recent_restore_secs: u32,
    /// Unanswered pings are given up after this long (seconds).
    pub ping_timeout_secs: u32,
    /// At most this many meters per ping request.
    pub max_ping_meters: usize,
    /// A call location snaps to the nearest customer within this radius (metres)...
    pub call_customer_radius_m: f64,
    /// ...else to the nearest line within this one.
    pub call_line_radius_m: f64,
    /// Fault indicator reports older than this are not matched to a later trip (seconds).
    pub fpi_window_secs: u32,
    /// A planned job's switching counts as planned this long around its window (seconds).
    pub planned_slack_secs: u32,
    /// How many event ids are remembered to refuse duplicates.
    pub dedup_capacity: usize,
    /// Words in a call's text that mark a hazard (lowercase for Latin script).
    pub hazard_keywords: Vec<String>,
    /// The default ETR table.
    pub etr: EtrTable,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            normal: RollUpRules::normal(),
            storm: RollUpRules::storm(),
            storm_mode: false,
            momentary_secs: 300,
            nested_last_gasp_secs: 600,
            recent_restore_secs: 7200,
            ping_timeout_secs: 120,
            max_ping_meters: 50,
            call_customer_radius_m: 150.0,
            call_line_radius_m: 300.0,
            fpi_window_secs: 600,
            planned_slack_secs: 3600,
            dedup_capacity: 100_000,
            hazard_keywords: [
                "危险", "着火", "起火", "冒烟", "触电", "火花", "爆炸", "fire", "smoke", "spark",
                "hazard",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            etr: EtrTable::default(),
        }
    }
}

impl Rules {
    /// The roll-up rules in force.
    pub fn roll_up(&self, storm: bool) -> &RollUpRules {
        if storm { &self.storm } else { &self.normal }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storm_rules_hold_longer_and_ask_for_more_evidence() {
        let rules = Rules::default();
        assert!(rules.storm.hold_secs > rules.normal.hold_secs);
        assert!(rules.storm.min_devices_to_move_up > rules.normal.min_devices_to_move_up);
        assert_eq!(rules.roll_up(true), &rules.storm);
    }

    #[test]
    fn etr_adds_the_device_extra_to_the_area_base() {
        let table = EtrTable::default();
        assert_eq!(
            table.minutes(AreaClass::Urban, DeviceKind::Transformer),
            180
        );
        assert_eq!(table.minutes(AreaClass::Rural, DeviceKind::Breaker), 240);
    }
}
