//! Work orders: opened from an `outage.detected` snapshot with a priority and a required
//! skill, moved through their lifecycle (assigned → en route → on site → repaired →
//! closed), and watched against the area class's on-site time limit.

use chrono::{DateTime, Duration, FixedOffset};
use fudian_events::common::{AreaClass, Device, DeviceKind};
use fudian_events::dispatch::{WorkOrderPriority, WorkOrderStatus};
use fudian_events::ids::{IncidentId, WorkOrderId};
use fudian_events::outage::{IncidentSnapshot, OutageCause, PriorityHints};
use fudian_grid::{Grid, LonLat};

use crate::core::config::{DispatchConfig, area_class_of};
use crate::core::crew::Skill;
use crate::core::error::DispatchError;

/// Priority weights. Each tier outweighs everything below it put together, so a wire
/// down always comes first, then any other hazard, then critical customers, then the
/// number of customers out, then the area class.
const WIRE_DOWN_WEIGHT: u32 = 4000;
const HAZARD_WEIGHT: u32 = 2000;
const CRITICAL_CUSTOMER_WEIGHT: u32 = 200;
const CRITICAL_CUSTOMERS_COUNTED: u32 = 5;
/// One point per ten customers out, up to this many points.
const CUSTOMER_POINTS_MAX: u32 = 900;

fn area_class_weight(class: AreaClass) -> u32 {
    match class {
        AreaClass::Core => 40,
        AreaClass::Urban => 30,
        AreaClass::Town => 20,
        AreaClass::Rural => 10,
    }
}

/// The priority class of an incident and its weight for the optimiser (at least 1).
///
/// Emergency: a wire down, another hazard, or critical customers out. Urgent: any other
/// incident with customers out. Normal: nobody out (e.g. a switching job).
pub fn priority_of(
    hints: PriorityHints,
    critical_customers_out: u32,
    customers_out: u32,
    class: AreaClass,
) -> (WorkOrderPriority, u32) {
    let mut weight = 1 + area_class_weight(class);
    weight += customers_out.div_ceil(10).min(CUSTOMER_POINTS_MAX);
    weight += critical_customers_out.min(CRITICAL_CUSTOMERS_COUNTED) * CRITICAL_CUSTOMER_WEIGHT;
    if hints.hazard {
        weight += HAZARD_WEIGHT;
    }
    if hints.wire_down {
        weight += WIRE_DOWN_WEIGHT;
    }
    let priority = if hints.wire_down || hints.hazard || critical_customers_out > 0 {
        WorkOrderPriority::Emergency
    } else if customers_out > 0 {
        WorkOrderPriority::Urgent
    } else {
        WorkOrderPriority::Normal
    };
    (priority, weight)
}

/// The skill a crew needs for an order, first rule that applies:
///
/// 1. a wire down → `line` (a fallen conductor is overhead-line work);
/// 2. a transformer → `transformer`;
/// 3. a line → `cable` in the city core (cabled), else `line` (overhead);
/// 4. a switching cause (manual, remote, planned) on any other device → `line`: the crew
///    only operates the switch;
/// 5. a fault (or unknown cause) at a fuse, disconnector, sectionalizer or load-break
///    switch → `live_line`: pole-mounted gear is replaced live so the rest of the feeder
///    stays on;
/// 6. a breaker, recloser or bus (the fault is somewhere downstream and must be patrolled)
///    → `cable` in the city core, else `line`.
pub fn required_skill(
    device: DeviceKind,
    cause: Option<OutageCause>,
    class: AreaClass,
    hints: PriorityHints,
) -> Skill {
    let cabled = class == AreaClass::Core;
    let overhead_or_cable = if cabled { Skill::Cable } else { Skill::Line };
    if hints.wire_down {
        return Skill::Line;
    }
    match device {
        DeviceKind::Transformer => Skill::Transformer,
        DeviceKind::Line => overhead_or_cable,
        _ if matches!(
            cause,
            Some(
                OutageCause::ManualSwitching | OutageCause::RemoteSwitching | OutageCause::Planned
            )
        ) =>
        {
            Skill::Line
        }
        DeviceKind::Fuse
        | DeviceKind::Disconnector
        | DeviceKind::Sectionalizer
        | DeviceKind::LoadBreakSwitch => Skill::LiveLine,
        DeviceKind::Breaker | DeviceKind::Recloser | DeviceKind::Bus => overhead_or_cable,
    }
}

/// Where a work order stands: the event statuses plus `Pending` (no crew yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStage {
    Pending,
    Assigned,
    EnRoute,
    OnSite,
    Repaired,
    Closed,
    Cancelled,
}

impl OrderStage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Assigned,
        Self::EnRoute,
        Self::OnSite,
        Self::Repaired,
        Self::Closed,
        Self::Cancelled,
    ];

    /// The stage's name in the API and the store (`en_route`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Assigned => "assigned",
            Self::EnRoute => "en_route",
            Self::OnSite => "on_site",
            Self::Repaired => "repaired",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|stage| stage.as_str() == text)
    }

    /// Whether a crew may still be taken off the order (it has not set out).
    pub fn is_replannable(self) -> bool {
        matches!(self, Self::Pending | Self::Assigned)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Closed | Self::Cancelled)
    }
}

/// The order against its on-site time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitState {
    /// No crew on site yet, and the limit is further away than the at-risk margin.
    OnTime,
    /// No crew on site yet, and the limit is within the at-risk margin.
    AtRisk,
    /// The limit passed before a crew got there.
    Breached,
    /// A crew got there in time.
    Met,
}

impl LimitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::AtRisk => "at_risk",
            Self::Breached => "breached",
            Self::Met => "met",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::OnTime, Self::AtRisk, Self::Breached, Self::Met]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A repair work order.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkOrder {
    pub id: WorkOrderId,
    pub incident: IncidentId,
    /// The responsible repair cell (grid index).
    pub cell: u32,
    pub area_class: AreaClass,
    pub device: Device,
    pub cause: Option<OutageCause>,
    pub skill: Skill,
    pub priority: WorkOrderPriority,
    /// The optimiser's weight: larger is more urgent.
    pub weight: u32,
    /// Where to go, WGS84.
    pub location: LonLat,
    pub customers_out: u32,
    pub started_at: DateTime<FixedOffset>,
    /// When the order was opened; first-come order for the baseline.
    pub created_at: DateTime<FixedOffset>,
    /// The on-site time limit.
    pub arrival_due_by: DateTime<FixedOffset>,
    pub stage: OrderStage,
    /// Index of the assigned crew in the dispatch state.
    pub crew: Option<usize>,
    pub on_site_at: Option<DateTime<FixedOffset>>,
    pub repaired_at: Option<DateTime<FixedOffset>>,
    /// The incident has all its customers back (the order closes once repaired).
    pub incident_restored: bool,
    /// A dispatcher chose the crew: re-planning leaves the order and its crew alone.
    pub pinned: bool,
}

impl WorkOrder {
    /// Opens an order for an incident snapshot: the cell holding (or nearest to) its
    /// location is responsible; priority and skill follow [`priority_of`] and
    /// [`required_skill`].
    pub fn from_snapshot(
        id: WorkOrderId,
        snapshot: &IncidentSnapshot,
        grid: &Grid,
        config: &DispatchConfig,
        now: DateTime<FixedOffset>,
    ) -> Result<Self, DispatchError> {
        let location = [snapshot.location.lon, snapshot.location.lat];
        if !(location[0].is_finite() && location[1].is_finite()) {
            return Err(DispatchError::BadLocation {
                incident: snapshot.incident.to_string(),
                lon: location[0],
                lat: location[1],
            });
        }
        let hit = grid
            .spatial()
            .cell_at(location)
            .ok_or_else(|| DispatchError::NoCells {
                incident: snapshot.incident.to_string(),
            })?;
        let cell = grid
            .cells
            .get(hit.cell as usize)
            .ok_or(DispatchError::NoSuchIndex {
                what: "cell",
                index: hit.cell as usize,
            })?;
        let area_class = area_class_of(cell.area_class);
        let customers_out = snapshot.counts.customers;
        let critical = snapshot
            .counts
            .critical_customers
            .max(u32::try_from(snapshot.critical_customers_out.len()).unwrap_or(u32::MAX));
        let (priority, weight) =
            priority_of(snapshot.priority, critical, customers_out, area_class);
        let skill = required_skill(
            snapshot.device.kind,
            snapshot.cause,
            area_class,
            snapshot.priority,
        );
        Ok(Self {
            id,
            incident: snapshot.incident.clone(),
            cell: hit.cell,
            area_class,
            device: snapshot.device.clone(),
            cause: snapshot.cause,
            skill,
            priority,
            weight,
            location,
            customers_out,
            started_at: snapshot.started_at,
            created_at: now,
            arrival_due_by: snapshot.started_at
                + Duration::minutes(i64::from(config.arrival_limit_minutes.get(area_class))),
            stage: OrderStage::Pending,
            crew: None,
            on_site_at: None,
            repaired_at: None,
            incident_restored: false,
            pinned: false,
        })
    }

    /// Where the order stands against its on-site limit at `now`.
    pub fn limit_state(&self, now: DateTime<FixedOffset>, config: &DispatchConfig) -> LimitState {
        if let Some(arrived) = self.on_site_at {
            return if arrived <= self.arrival_due_by {
                LimitState::Met
            } else {
                LimitState::Breached
            };
        }
        let margin = Duration::minutes(i64::from(config.at_risk_margin_minutes));
        if now >= self.arrival_due_by {
            LimitState::Breached
        } else if now >= self.arrival_due_by - margin {
            LimitState::AtRisk
        } else {
            LimitState::OnTime
        }
    }

    /// Assigns (or reassigns) a crew; only before the crew sets out.
    pub fn assign(&mut self, crew: usize) -> Result<(), DispatchError> {
        if !self.stage.is_replannable() {
            return Err(self.invalid(WorkOrderStatus::Assigned));
        }
        self.crew = Some(crew);
        self.stage = OrderStage::Assigned;
        Ok(())
    }

    /// Moves the order on. Allowed: assigned → en route → on site → repaired → closed,
    /// and cancelled from any open stage; `assigned` is reached through [`Self::assign`],
    /// which names the crew. A repaired order whose incident already
    /// restored closes at once. Closing needs the incident restored.
    pub fn advance(
        &mut self,
        to: WorkOrderStatus,
        now: DateTime<FixedOffset>,
    ) -> Result<(), DispatchError> {
        use OrderStage as S;
        use WorkOrderStatus as W;
        let next = match (self.stage, to) {
            (S::Assigned, W::EnRoute) => S::EnRoute,
            (S::EnRoute, W::OnSite) => {
                self.on_site_at = Some(now);
                S::OnSite
            }
            (S::OnSite, W::Repaired) => {
                self.repaired_at = Some(now);
                if self.incident_restored {
                    S::Closed
                } else {
                    S::Repaired
                }
            }
            (S::Repaired, W::Closed) if self.incident_restored => S::Closed,
            (stage, W::Cancelled) if !stage.is_finished() => S::Cancelled,
            _ => return Err(self.invalid(to)),
        };
        self.stage = next;
        Ok(())
    }

    /// The incident has all customers back: a repaired order closes; an unrepaired one
    /// stays open (the fault is still there) and closes once repaired.
    pub fn incident_restored(&mut self) {
        self.incident_restored = true;
        if self.stage == OrderStage::Repaired {
            self.stage = OrderStage::Closed;
        }
    }

    fn invalid(&self, to: WorkOrderStatus) -> DispatchError {
        DispatchError::InvalidTransition {
            work_order: self.id.to_string(),
            from: self.stage,
            to,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fudian_events::common::GeoPoint;
    use fudian_events::ids::ElementId;

    pub(crate) fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    /// A hand-made order at `location` in cell `cell`, started at `started`.
    pub(crate) fn order(
        id: &str,
        cell: u32,
        class: AreaClass,
        skill: Skill,
        weight: u32,
        location: LonLat,
        started: DateTime<FixedOffset>,
    ) -> WorkOrder {
        WorkOrder {
            id: WorkOrderId::new(id),
            incident: IncidentId::new(format!("INC-{id}")),
            cell,
            area_class: class,
            device: Device {
                id: ElementId::new("L1"),
                kind: DeviceKind::Line,
            },
            cause: Some(OutageCause::Fault),
            skill,
            priority: WorkOrderPriority::Urgent,
            weight,
            location,
            customers_out: 10,
            started_at: started,
            created_at: started,
            arrival_due_by: started
                + Duration::minutes(i64::from(
                    DispatchConfig::default().arrival_limit_minutes.get(class),
                )),
            stage: OrderStage::Pending,
            crew: None,
            on_site_at: None,
            repaired_at: None,
            incident_restored: false,
            pinned: false,
        }
    }

    fn urban_order() -> WorkOrder {
        order(
            "W1",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            at("2026-11-26T10:00:00+08:00"),
        )
    }

    #[test]
    fn a_wire_down_outranks_critical_customers_and_a_whole_town_out() {
        let wire = PriorityHints {
            wire_down: true,
            hazard: false,
        };
        let (class, wire_weight) = priority_of(wire, 0, 1, AreaClass::Rural);
        let (_, big_weight) = priority_of(PriorityHints::default(), 50, 100_000, AreaClass::Core);
        assert_eq!(class, WorkOrderPriority::Emergency);
        assert!(wire_weight > big_weight, "{wire_weight} <= {big_weight}");
    }

    #[test]
    fn more_customers_out_weigh_more_and_nobody_out_is_normal() {
        let none = PriorityHints::default();
        let (_, few) = priority_of(none, 0, 10, AreaClass::Urban);
        let (urgent, many) = priority_of(none, 0, 1000, AreaClass::Urban);
        assert!(many > few);
        assert_eq!(urgent, WorkOrderPriority::Urgent);
        assert_eq!(
            priority_of(none, 0, 0, AreaClass::Urban).0,
            WorkOrderPriority::Normal
        );
    }

    #[test]
    fn skills_follow_the_documented_mapping() {
        let none = PriorityHints::default();
        let fault = Some(OutageCause::Fault);
        let wire = PriorityHints {
            wire_down: true,
            hazard: false,
        };
        let cases = [
            (
                DeviceKind::Transformer,
                fault,
                AreaClass::Rural,
                none,
                Skill::Transformer,
            ),
            (DeviceKind::Line, fault, AreaClass::Core, none, Skill::Cable),
            (DeviceKind::Line, fault, AreaClass::Rural, none, Skill::Line),
            (
                DeviceKind::Fuse,
                fault,
                AreaClass::Town,
                none,
                Skill::LiveLine,
            ),
            (
                DeviceKind::Fuse,
                Some(OutageCause::ManualSwitching),
                AreaClass::Town,
                none,
                Skill::Line,
            ),
            (
                DeviceKind::Breaker,
                None,
                AreaClass::Core,
                none,
                Skill::Cable,
            ),
            (
                DeviceKind::Transformer,
                fault,
                AreaClass::Core,
                wire,
                Skill::Line,
            ),
        ];
        for (device, cause, class, hints, skill) in cases {
            assert_eq!(
                required_skill(device, cause, class, hints),
                skill,
                "{device:?} {cause:?} {class:?}"
            );
        }
    }

    #[test]
    fn an_order_goes_assigned_en_route_on_site_repaired_and_closes_when_restored() {
        let mut order = urban_order();
        let now = at("2026-11-26T10:20:00+08:00");
        order.assign(3).unwrap();
        order.advance(WorkOrderStatus::EnRoute, now).unwrap();
        order.advance(WorkOrderStatus::OnSite, now).unwrap();
        order.advance(WorkOrderStatus::Repaired, now).unwrap();
        assert_eq!(order.stage, OrderStage::Repaired);
        order.incident_restored();
        assert_eq!(order.stage, OrderStage::Closed);
        assert_eq!(order.on_site_at, Some(now));
    }

    #[test]
    fn skipping_a_stage_or_reassigning_a_crew_on_its_way_is_a_typed_error() {
        let mut order = urban_order();
        let now = at("2026-11-26T10:20:00+08:00");
        let error = order.advance(WorkOrderStatus::OnSite, now).unwrap_err();
        assert!(matches!(
            error,
            DispatchError::InvalidTransition {
                from: OrderStage::Pending,
                to: WorkOrderStatus::OnSite,
                ..
            }
        ));
        order.assign(1).unwrap();
        order.advance(WorkOrderStatus::EnRoute, now).unwrap();
        assert!(order.assign(2).is_err());
        assert!(order.advance(WorkOrderStatus::Closed, now).is_err());
        assert_eq!(order.crew, Some(1));
    }

    #[test]
    fn an_order_is_at_risk_ten_minutes_before_its_limit_and_breached_at_it() {
        let order = urban_order();
        let config = DispatchConfig::default();
        // Urban: 45 minutes from 10:00.
        assert_eq!(
            order.limit_state(at("2026-11-26T10:34:59+08:00"), &config),
            LimitState::OnTime
        );
        assert_eq!(
            order.limit_state(at("2026-11-26T10:35:00+08:00"), &config),
            LimitState::AtRisk
        );
        assert_eq!(
            order.limit_state(at("2026-11-26T10:44:59+08:00"), &config),
            LimitState::AtRisk
        );
        assert_eq!(
            order.limit_state(at("2026-11-26T10:45:00+08:00"), &config),
            LimitState::Breached
        );
    }

    #[test]
    fn arriving_in_time_meets_the_limit_for_good() {
        let mut order = urban_order();
        order.assign(0).unwrap();
        order
            .advance(WorkOrderStatus::EnRoute, at("2026-11-26T10:05:00+08:00"))
            .unwrap();
        order
            .advance(WorkOrderStatus::OnSite, at("2026-11-26T10:40:00+08:00"))
            .unwrap();
        let config = DispatchConfig::default();
        assert_eq!(
            order.limit_state(at("2026-11-26T12:00:00+08:00"), &config),
            LimitState::Met
        );
    }

    #[test]
    fn an_order_from_a_sample_grid_snapshot_gets_its_cell_limit_and_skill() {
        let grid = sample_grid();
        let crew = &grid.crews[0];
        let snapshot = snapshot_at("INC-1", crew.position, DeviceKind::Transformer);
        let config = DispatchConfig::default();
        let now = snapshot.started_at;
        let order =
            WorkOrder::from_snapshot(WorkOrderId::new("W1"), &snapshot, &grid, &config, now)
                .unwrap();
        let cell = grid.spatial().cell_at(crew.position).unwrap().cell;
        assert_eq!(order.cell, cell);
        assert_eq!(order.skill, Skill::Transformer);
        let limit = config.arrival_limit_minutes.get(order.area_class);
        assert_eq!(
            order.arrival_due_by - order.started_at,
            Duration::minutes(i64::from(limit))
        );
    }

    pub(crate) fn sample_grid() -> Grid {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/grids/mv-oberrhein");
        let dir = if dir.exists() {
            dir
        } else {
            std::path::PathBuf::from("/work/shared/grids/mv-oberrhein")
        };
        fudian_grid::load_package(&dir).unwrap()
    }

    pub(crate) fn snapshot_at(
        incident: &str,
        location: LonLat,
        kind: DeviceKind,
    ) -> IncidentSnapshot {
        IncidentSnapshot {
            incident: IncidentId::new(incident),
            revision: 1,
            state: fudian_events::outage::IncidentState::Confirmed,
            device: Device {
                id: ElementId::new("T1"),
                kind,
            },
            feeder: None,
            fault_section: None,
            cause: Some(OutageCause::Fault),
            started_at: at("2026-11-26T10:00:00+08:00"),
            counts: fudian_events::common::AffectedCounts {
                customers: 40,
                ..Default::default()
            },
            customers_out: Vec::new(),
            critical_customers_out: Vec::new(),
            etr: at("2026-11-26T14:00:00+08:00"),
            location: GeoPoint {
                lon: location[0],
                lat: location[1],
            },
            priority: PriorityHints::default(),
        }
    }
}
