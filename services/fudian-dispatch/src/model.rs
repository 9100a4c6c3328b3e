//! The dispatch state as the service keeps it: the core's [`DispatchState`] plus what the
//! service tracks beside each order (incident revision, ETR and who set it, what was last
//! published, the arrival-limit flag, the plan's ETA), the id lookups, and the records
//! last written to the store, so each transaction writes only what changed.
//!
//! Pure: every operation takes `now` and pushes the `fudian.dispatch` events it causes
//! into `out`; the runtime persists them. Operations refused with a [`ModelError`] check
//! before they change anything, so a refusal needs no undo.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset};
use fudian_events::common::{AreaClass, Device, GeoPoint};
use fudian_events::dispatch::{
    AssignedBy, DispatchEvent, EtrChanged, EtrSource, WorkOrderAssigned, WorkOrderPriority,
    WorkOrderStatus,
};
use fudian_events::field::{CrewReport, CrewReportKind};
use fudian_events::ids::{CrewId, WorkOrderId};
use fudian_events::outage::{
    IncidentSnapshot, IncidentState, OutageCause, OutageEvent, RestorationMethod,
};
use fudian_grid::{Grid, LonLat};
use serde::{Deserialize, Serialize};

use crate::core::assign::{Assignment, AssignmentRule, DispatchState, replan};
use crate::core::config::DispatchConfig;
use crate::core::crew::{CrewActivity, CrewState, Skill};
use crate::core::error::DispatchError;
use crate::core::etr::{CurrentEtr, queue_estimates_after, should_publish_beyond};
use crate::core::events::{assigned_event, created_event, status_event};
use crate::core::order::{LimitState, OrderStage, WorkOrder};

/// Why an event or a request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("unknown crew `{0}`")]
    UnknownCrew(String),
    #[error("unknown work order `{0}`")]
    UnknownWorkOrder(String),
    #[error("crew `{crew}` has no open work order{}", incident.as_ref().map(|i| format!(" for incident `{i}`")).unwrap_or_default())]
    NoOrder {
        crew: String,
        incident: Option<String>,
    },
    /// The request does not fit the order's or the crew's state.
    #[error("{0}")]
    Conflict(String),
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Core(#[from] DispatchError),
}

/// A work order as stored (JSON in `dispatch.work_orders.record`) and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub id: String,
    pub incident: String,
    /// The highest incident revision applied.
    pub revision: u32,
    /// `pending`, `assigned`, `en_route`, `on_site`, `repaired`, `closed`, `cancelled`.
    pub state: String,
    pub priority: WorkOrderPriority,
    /// The optimiser's weight: larger is more urgent.
    pub weight: u32,
    /// The skill a crew needs: `line`, `cable`, `live_line`, `transformer`.
    pub skill: String,
    /// The responsible repair cell.
    pub cell: String,
    pub area_class: AreaClass,
    pub device: Device,
    pub cause: Option<OutageCause>,
    /// Where to go (WGS84).
    pub location: GeoPoint,
    pub customers_out: u32,
    pub started_at: DateTime<FixedOffset>,
    pub created_at: DateTime<FixedOffset>,
    /// The on-site time limit (到达现场时限).
    pub arrival_due: DateTime<FixedOffset>,
    /// `on_time`, `at_risk`, `breached` (no crew there yet) or `met`.
    pub limit: String,
    pub crew: Option<String>,
    /// A dispatcher (or the crew itself) chose the crew: re-planning leaves it.
    pub pinned: bool,
    pub assigned_by: Option<AssignedBy>,
    /// How the crew was chosen: `own_cell`, `nearest`, `optimised`, `manual`.
    pub rule: Option<String>,
    /// When the crew is expected on site.
    pub eta: Option<DateTime<FixedOffset>>,
    pub travel_seconds: Option<u32>,
    pub on_site_at: Option<DateTime<FixedOffset>>,
    pub repaired_at: Option<DateTime<FixedOffset>>,
    pub incident_restored: bool,
    /// The current estimated restoration time.
    pub etr: Option<DateTime<FixedOffset>>,
    pub etr_source: Option<EtrSource>,
    /// The ETR last published in `outage.etr`.
    pub published_etr: Option<DateTime<FixedOffset>>,
    pub note: Option<String>,
}

/// A crew's live state as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CrewRecord {
    pub id: String,
    pub activity: CrewActivity,
    pub position: LonLat,
}

/// What the service tracks beside a core order.
#[derive(Debug, Clone, Default, PartialEq)]
struct OrderExtra {
    revision: u32,
    limit: Option<LimitState>,
    assigned_by: Option<AssignedBy>,
    rule: Option<&'static str>,
    eta: Option<DateTime<FixedOffset>>,
    travel_seconds: Option<u32>,
    etr: Option<CurrentEtr>,
    published_etr: Option<DateTime<FixedOffset>>,
    note: Option<String>,
}

/// A crew as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CrewView {
    pub id: String,
    pub home_cell: String,
    pub skills: Vec<&'static str>,
    pub shift: String,
    pub size: u32,
    /// `available`, `en_route`, `on_site` or `off_shift`.
    pub state: &'static str,
    /// What the crew last reported doing, shift aside.
    pub activity: &'static str,
    /// Last known position, WGS84.
    pub position: GeoPoint,
    /// The order the crew is assigned to or working on.
    pub work_order: Option<String>,
}

/// A repair cell as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CellView {
    pub id: String,
    pub name: Option<String>,
    pub area_class: AreaClass,
    pub crews: Vec<String>,
    pub open_work_orders: usize,
}

/// The arrival-limit board.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub at: DateTime<FixedOffset>,
    pub at_risk: Vec<OrderRecord>,
    pub breached: Vec<OrderRecord>,
}

/// The service's dispatch state.
pub struct Model {
    grid: Arc<Grid>,
    state: DispatchState,
    extras: Vec<OrderExtra>,
    by_id: HashMap<String, usize>,
    by_incident: HashMap<String, usize>,
    crew_by_id: HashMap<String, usize>,
    /// Incidents whose orders finished and left memory: later events about them are late.
    finished_incidents: HashSet<String>,
    persisted_orders: HashMap<String, OrderRecord>,
    persisted_crews: Vec<CrewRecord>,
}

fn rule_name(rule: AssignmentRule) -> &'static str {
    match rule {
        AssignmentRule::OwnCell => "own_cell",
        AssignmentRule::Nearest => "nearest",
        AssignmentRule::Optimised => "optimised",
        AssignmentRule::FirstCome => "first_come",
    }
}

fn stored_rule(text: &str) -> Option<&'static str> {
    ["own_cell", "nearest", "optimised", "first_come", "manual"]
        .into_iter()
        .find(|rule| *rule == text)
}

fn stage_rank(stage: OrderStage) -> u8 {
    match stage {
        OrderStage::Pending => 0,
        OrderStage::Assigned => 1,
        OrderStage::EnRoute => 2,
        OrderStage::OnSite => 3,
        OrderStage::Repaired => 4,
        OrderStage::Closed => 5,
        OrderStage::Cancelled => 6,
    }
}

/// Whether a time moved by a minute or more: smaller drifts (an ETA that is `now` plus a
/// constant drive) are not worth a row write per batch.
fn moved(old: Option<DateTime<FixedOffset>>, new: DateTime<FixedOffset>) -> bool {
    old.is_none_or(|old| (new - old).abs() >= Duration::seconds(60))
}

impl Model {
    /// The grid's crews at their bases, available, and no orders.
    pub fn new(grid: Arc<Grid>, config: DispatchConfig) -> Result<Self, DispatchError> {
        let state = DispatchState::from_grid(&grid, config)?;
        let crew_by_id = state
            .crews
            .iter()
            .enumerate()
            .map(|(i, crew)| (crew.id.to_string(), i))
            .collect();
        let persisted_crews = state
            .crews
            .iter()
            .map(|crew| CrewRecord {
                id: crew.id.to_string(),
                activity: crew.activity,
                position: crew.position,
            })
            .collect();
        Ok(Self {
            grid,
            state,
            extras: Vec::new(),
            by_id: HashMap::new(),
            by_incident: HashMap::new(),
            crew_by_id,
            finished_incidents: HashSet::new(),
            persisted_orders: HashMap::new(),
            persisted_crews,
        })
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.state.config
    }

    pub fn state(&self) -> &DispatchState {
        &self.state
    }

    /// Puts back what the store holds: crews' live state, open orders, the incidents of
    /// finished ones, and the repair history (records with a repair time, oldest first).
    /// Returns a warning per row it could not use (e.g. a crew no longer in the package).
    pub fn restore(
        &mut self,
        crews: Vec<CrewRecord>,
        open: Vec<OrderRecord>,
        finished_incidents: Vec<String>,
        history: Vec<OrderRecord>,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        for record in crews {
            match self.crew_by_id.get(&record.id) {
                Some(&c) => {
                    self.state.crews[c].activity = record.activity;
                    self.state.crews[c].position = record.position;
                    self.persisted_crews[c] = record;
                }
                None => warnings.push(format!("crew {} is not in the grid package", record.id)),
            }
        }
        for record in open {
            match self.order_from_record(&record) {
                Ok((order, extra)) => {
                    let index = self.state.orders.len();
                    self.by_id.insert(record.id.clone(), index);
                    self.by_incident.insert(record.incident.clone(), index);
                    self.state.orders.push(order);
                    self.extras.push(extra);
                    let normalised = self.record(index);
                    self.persisted_orders.insert(record.id.clone(), normalised);
                }
                Err(reason) => warnings.push(format!("work order {}: {reason}", record.id)),
            }
        }
        self.finished_incidents.extend(finished_incidents);
        let window = self.state.config.history_window;
        for record in history {
            if let (Some(on_site), Some(repaired)) = (record.on_site_at, record.repaired_at) {
                let minutes = (repaired - on_site).num_minutes().max(0);
                self.state.history.record(
                    record.device.kind,
                    record.cause,
                    u32::try_from(minutes).unwrap_or(u32::MAX),
                    window,
                );
            }
        }
        warnings
    }

    fn order_from_record(&self, r: &OrderRecord) -> Result<(WorkOrder, OrderExtra), String> {
        let cell = self
            .grid
            .cell_index(&r.cell)
            .ok_or_else(|| format!("cell {} is not in the grid package", r.cell))?;
        let crew = match &r.crew {
            Some(id) => Some(
                *self
                    .crew_by_id
                    .get(id)
                    .ok_or_else(|| format!("crew {id} is not in the grid package"))?,
            ),
            None => None,
        };
        let skill = Skill::parse(&r.skill).ok_or_else(|| format!("unknown skill {}", r.skill))?;
        let stage =
            OrderStage::parse(&r.state).ok_or_else(|| format!("unknown state {}", r.state))?;
        let order = WorkOrder {
            id: WorkOrderId::new(r.id.clone()),
            incident: r.incident.as_str().into(),
            cell,
            area_class: r.area_class,
            device: r.device.clone(),
            cause: r.cause,
            skill,
            priority: r.priority,
            weight: r.weight,
            location: [r.location.lon, r.location.lat],
            customers_out: r.customers_out,
            started_at: r.started_at,
            created_at: r.created_at,
            arrival_due_by: r.arrival_due,
            stage,
            crew,
            on_site_at: r.on_site_at,
            repaired_at: r.repaired_at,
            incident_restored: r.incident_restored,
            pinned: r.pinned,
        };
        let extra = OrderExtra {
            revision: r.revision,
            limit: LimitState::parse(&r.limit),
            assigned_by: r.assigned_by,
            rule: r.rule.as_deref().and_then(stored_rule),
            eta: r.eta,
            travel_seconds: r.travel_seconds,
            etr: r
                .etr
                .zip(r.etr_source)
                .map(|(etr, source)| CurrentEtr { etr, source }),
            published_etr: r.published_etr,
            note: r.note.clone(),
        };
        Ok((order, extra))
    }

    /// The record of the order at `index`.
    pub fn record(&self, index: usize) -> OrderRecord {
        let order = &self.state.orders[index];
        let extra = &self.extras[index];
        OrderRecord {
            id: order.id.to_string(),
            incident: order.incident.to_string(),
            revision: extra.revision,
            state: order.stage.as_str().to_owned(),
            priority: order.priority,
            weight: order.weight,
            skill: order.skill.as_str().to_owned(),
            cell: self
                .grid
                .cells
                .get(order.cell as usize)
                .map(|cell| cell.id.to_string())
                .unwrap_or_default(),
            area_class: order.area_class,
            device: order.device.clone(),
            cause: order.cause,
            location: GeoPoint {
                lon: order.location[0],
                lat: order.location[1],
            },
            customers_out: order.customers_out,
            started_at: order.started_at,
            created_at: order.created_at,
            arrival_due: order.arrival_due_by,
            limit: extra
                .limit
                .unwrap_or(LimitState::OnTime)
                .as_str()
                .to_owned(),
            crew: order
                .crew
                .and_then(|c| self.state.crews.get(c))
                .map(|crew| crew.id.to_string()),
            pinned: order.pinned,
            assigned_by: extra.assigned_by,
            rule: extra.rule.map(str::to_owned),
            eta: extra.eta,
            travel_seconds: extra.travel_seconds,
            on_site_at: order.on_site_at,
            repaired_at: order.repaired_at,
            incident_restored: order.incident_restored,
            etr: extra.etr.map(|e| e.etr),
            etr_source: extra.etr.map(|e| e.source),
            published_etr: extra.published_etr,
            note: extra.note.clone(),
        }
    }

    /// The record of an order by id, if it is in memory (open orders are).
    pub fn order(&self, id: &str) -> Option<OrderRecord> {
        self.by_id.get(id).map(|&i| self.record(i))
    }

    /// Applies an incident event.
    pub fn apply_outage(
        &mut self,
        event: &OutageEvent,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        match event {
            OutageEvent::Detected(snapshot) | OutageEvent::Updated(snapshot) => {
                self.on_snapshot(snapshot, now, out)
            }
            OutageEvent::Restored(restored) => {
                let Some(i) = self.fresh_order(restored.incident.as_str(), restored.revision)
                else {
                    return Ok(());
                };
                self.extras[i].revision = restored.revision;
                self.state.orders[i].customers_out = restored.still_out_counts.customers;
                let stage = self.state.orders[i].stage;
                if restored.state != IncidentState::Restored || restored.partial {
                    return Ok(());
                }
                if restored.method == Some(RestorationMethod::Reclose) && stage.is_replannable() {
                    // A transient fault: the recloser cleared it, nothing to repair.
                    self.state.advance(i, WorkOrderStatus::Cancelled, now)?;
                    self.extras[i].note = Some("restored by reclosing: nothing to repair".into());
                } else {
                    self.state.orders[i].incident_restored();
                }
                self.push_status_if_moved(i, stage, out);
                Ok(())
            }
            OutageEvent::Cancelled(cancelled) => {
                let Some(i) = self.fresh_order(cancelled.incident.as_str(), cancelled.revision)
                else {
                    return Ok(());
                };
                self.extras[i].revision = cancelled.revision;
                let stage = self.state.orders[i].stage;
                self.state.advance(i, WorkOrderStatus::Cancelled, now)?;
                self.extras[i].note = Some(format!(
                    "incident cancelled ({})",
                    serde_json::to_value(cancelled.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ));
                self.push_status_if_moved(i, stage, out);
                Ok(())
            }
        }
    }

    /// The open order of an incident if `revision` is newer than what it has seen.
    fn fresh_order(&self, incident: &str, revision: u32) -> Option<usize> {
        let &i = self.by_incident.get(incident)?;
        (revision > self.extras[i].revision && !self.state.orders[i].stage.is_finished())
            .then_some(i)
    }

    fn push_status_if_moved(&self, i: usize, before: OrderStage, out: &mut Vec<DispatchEvent>) {
        let order = &self.state.orders[i];
        if order.stage != before
            && let Some(event) = status_event(&self.state, order, self.extras[i].note.clone())
        {
            out.push(DispatchEvent::WorkOrderStatus(event));
        }
    }

    fn on_snapshot(
        &mut self,
        snapshot: &IncidentSnapshot,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        let incident = snapshot.incident.as_str();
        if let Some(&i) = self.by_incident.get(incident) {
            if snapshot.revision <= self.extras[i].revision
                || self.state.orders[i].stage.is_finished()
            {
                return Ok(());
            }
            let id = self.state.orders[i].id.clone();
            let fresh =
                WorkOrder::from_snapshot(id, snapshot, &self.grid, &self.state.config, now)?;
            let order = &mut self.state.orders[i];
            order.customers_out = fresh.customers_out;
            order.priority = fresh.priority;
            order.weight = fresh.weight;
            order.device = fresh.device;
            order.cause = fresh.cause;
            if order.stage.is_replannable() {
                // The fault was located or moved: no crew has set out yet, so send the
                // right skill to the right place.
                order.skill = fresh.skill;
                order.location = fresh.location;
                order.cell = fresh.cell;
                order.area_class = fresh.area_class;
            }
            self.extras[i].revision = snapshot.revision;
            return Ok(());
        }
        if self.finished_incidents.contains(incident)
            || matches!(
                snapshot.state,
                IncidentState::Restored | IncidentState::Cancelled
            )
        {
            return Ok(());
        }
        let id = WorkOrderId::new(format!("WO-{incident}"));
        let order = WorkOrder::from_snapshot(id, snapshot, &self.grid, &self.state.config, now)?;
        out.push(DispatchEvent::WorkOrderCreated(created_event(
            &order, &self.grid,
        )?));
        let index = self.state.orders.len();
        self.by_id.insert(order.id.to_string(), index);
        self.by_incident.insert(incident.to_owned(), index);
        let limit = order.limit_state(now, &self.state.config);
        self.state.orders.push(order);
        self.extras.push(OrderExtra {
            revision: snapshot.revision,
            limit: Some(limit),
            ..OrderExtra::default()
        });
        Ok(())
    }

    /// Applies a crew's report: `arrived` and `repaired` move its order on; switching is
    /// the outage service's business and `still_out` changes nothing here.
    pub fn apply_crew_report(
        &mut self,
        report: &CrewReport,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        let crew = *self
            .crew_by_id
            .get(report.crew.as_str())
            .ok_or_else(|| ModelError::UnknownCrew(report.crew.to_string()))?;
        let target = match report.kind {
            CrewReportKind::Arrived => WorkOrderStatus::OnSite,
            CrewReportKind::Repaired => WorkOrderStatus::Repaired,
            CrewReportKind::Switching { .. } | CrewReportKind::StillOut => return Ok(()),
        };
        let no_order = || ModelError::NoOrder {
            crew: report.crew.to_string(),
            incident: report.incident.as_ref().map(ToString::to_string),
        };
        let i = match &report.incident {
            Some(incident) => *self
                .by_incident
                .get(incident.as_str())
                .ok_or_else(no_order)?,
            None => self.active_order_of(crew).ok_or_else(no_order)?,
        };
        let note = (!report.text.trim().is_empty()).then(|| report.text.clone());
        self.progress(i, Some(crew), target, note, now, out)
    }

    /// The order a crew is on: working on, driving to, or assigned.
    fn active_order_of(&self, crew: usize) -> Option<usize> {
        self.state
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                o.crew == Some(crew)
                    && matches!(
                        o.stage,
                        OrderStage::Assigned | OrderStage::EnRoute | OrderStage::OnSite
                    )
            })
            .max_by_key(|(_, o)| stage_rank(o.stage))
            .map(|(i, _)| i)
    }

    /// The order a crew is on or driving to (not merely planned), other than `except`.
    fn busy_with(&self, crew: usize, except: usize) -> Option<usize> {
        self.state.orders.iter().enumerate().position(|(i, o)| {
            i != except
                && o.crew == Some(crew)
                && (matches!(o.stage, OrderStage::EnRoute | OrderStage::OnSite)
                    || (o.pinned && o.stage == OrderStage::Assigned))
        })
    }

    /// Moves order `i` on to `target` (en route, on site, repaired), stepping through the
    /// stages between. `crew`, when given, is who reports: a crew taking up an order that
    /// no crew has set out for is pinned to it. Reaching a stage already passed is a no-op.
    fn progress(
        &mut self,
        i: usize,
        crew: Option<usize>,
        target: WorkOrderStatus,
        note: Option<String>,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        let target_stage = match target {
            WorkOrderStatus::EnRoute => OrderStage::EnRoute,
            WorkOrderStatus::OnSite => OrderStage::OnSite,
            WorkOrderStatus::Repaired => OrderStage::Repaired,
            other => {
                return Err(ModelError::Invalid(format!(
                    "status {} cannot be reported (en_route, on_site or repaired)",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                )));
            }
        };
        let order = &self.state.orders[i];
        let id = order.id.to_string();
        if order.stage == OrderStage::Cancelled {
            return Err(ModelError::Conflict(format!(
                "work order `{id}` is cancelled"
            )));
        }
        let crew_name = |c: usize| self.state.crews[c].id.to_string();
        let takes_over = match (crew, order.crew) {
            (Some(c), Some(current)) if c == current => None,
            (Some(c), previous) if order.stage.is_replannable() => {
                if let Some(other) = self.busy_with(c, i) {
                    return Err(ModelError::Conflict(format!(
                        "crew `{}` is on work order `{}`",
                        crew_name(c),
                        self.state.orders[other].id
                    )));
                }
                Some((c, previous))
            }
            (Some(c), Some(current)) => {
                return Err(ModelError::Conflict(format!(
                    "work order `{id}` is with crew `{}`, not `{}`",
                    crew_name(current),
                    crew_name(c)
                )));
            }
            (None, None) => {
                return Err(ModelError::Conflict(format!(
                    "work order `{id}` has no crew yet"
                )));
            }
            (None, Some(_)) | (Some(_), None) => None,
        };
        if stage_rank(self.state.orders[i].stage) >= stage_rank(target_stage) {
            // Already there (a repeated report): only a note is news.
            if note.is_some() {
                self.extras[i].note = note;
            }
            return Ok(());
        }
        if let Some((c, previous)) = takes_over {
            self.state.orders[i].assign(c)?;
            self.state.orders[i].pinned = true;
            let extra = &mut self.extras[i];
            extra.assigned_by = Some(AssignedBy::Dispatcher);
            extra.rule = Some("manual");
            extra.eta = None;
            extra.travel_seconds = None;
            let order = &self.state.orders[i];
            out.push(DispatchEvent::WorkOrderAssigned(WorkOrderAssigned {
                work_order: order.id.clone(),
                incident: order.incident.clone(),
                crew: CrewId::new(crew_name(c)),
                previous_crew: previous
                    .filter(|&p| p != c)
                    .map(|p| CrewId::new(crew_name(p))),
                assigned_by: AssignedBy::Dispatcher,
                eta: None,
            }));
        }
        if note.is_some() {
            self.extras[i].note = note;
        }
        for (step, status) in [
            (OrderStage::EnRoute, WorkOrderStatus::EnRoute),
            (OrderStage::OnSite, WorkOrderStatus::OnSite),
            (OrderStage::Repaired, WorkOrderStatus::Repaired),
        ] {
            if stage_rank(step) > stage_rank(target_stage) {
                break;
            }
            let before = self.state.orders[i].stage;
            if stage_rank(before) >= stage_rank(step) {
                continue;
            }
            self.state.advance(i, status, now)?;
            self.push_status_if_moved(i, before, out);
        }
        Ok(())
    }

    /// A dispatcher assigns (or reassigns) a crew; the order is pinned to it.
    pub fn assign_manually(
        &mut self,
        order_id: &str,
        crew_id: &str,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        let i = *self
            .by_id
            .get(order_id)
            .ok_or_else(|| ModelError::UnknownWorkOrder(order_id.to_owned()))?;
        let c = *self
            .crew_by_id
            .get(crew_id)
            .ok_or_else(|| ModelError::UnknownCrew(crew_id.to_owned()))?;
        let order = &self.state.orders[i];
        let crew = &self.state.crews[c];
        if !order.stage.is_replannable() {
            return Err(ModelError::Conflict(format!(
                "work order `{order_id}` is {}: a crew is only (re)assigned before it sets out",
                order.stage.as_str()
            )));
        }
        if order.crew == Some(c) && order.pinned {
            return Ok(());
        }
        let state = crew.state_at(now);
        if state != CrewState::Available {
            return Err(ModelError::Conflict(format!(
                "crew `{crew_id}` is {}",
                state.as_str()
            )));
        }
        if let Some(other) = self.busy_with(c, i) {
            return Err(ModelError::Conflict(format!(
                "crew `{crew_id}` is on work order `{}`",
                self.state.orders[other].id
            )));
        }
        if !crew.has_skill(order.skill) {
            return Err(ModelError::Conflict(format!(
                "crew `{crew_id}` lacks the skill `{}` work order `{order_id}` needs",
                order.skill.as_str()
            )));
        }
        let travel =
            self.state
                .config
                .travel_seconds(crew.position, order.location, order.area_class);
        let previous = order.crew;
        let eta = now + Duration::seconds(i64::from(travel));
        self.state.orders[i].assign(c)?;
        self.state.orders[i].pinned = true;
        let extra = &mut self.extras[i];
        extra.assigned_by = Some(AssignedBy::Dispatcher);
        extra.rule = Some("manual");
        extra.eta = Some(eta);
        extra.travel_seconds = Some(travel);
        let order = &self.state.orders[i];
        out.push(DispatchEvent::WorkOrderAssigned(WorkOrderAssigned {
            work_order: order.id.clone(),
            incident: order.incident.clone(),
            crew: CrewId::new(crew_id),
            previous_crew: previous
                .filter(|&p| p != c)
                .map(|p| CrewId::new(self.state.crews[p].id.to_string())),
            assigned_by: AssignedBy::Dispatcher,
            eta: Some(eta),
        }));
        Ok(())
    }

    /// The crew app moves its order on, optionally with its own ETR (never overwritten by
    /// the model; published when it moves by the threshold).
    pub fn set_status(
        &mut self,
        order_id: &str,
        status: WorkOrderStatus,
        etr: Option<DateTime<FixedOffset>>,
        note: Option<String>,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        let i = *self
            .by_id
            .get(order_id)
            .ok_or_else(|| ModelError::UnknownWorkOrder(order_id.to_owned()))?;
        if let Some(etr) = etr
            && etr < now
        {
            return Err(ModelError::Invalid(format!(
                "etr {} is in the past",
                etr.to_rfc3339()
            )));
        }
        self.progress(i, None, status, note, now, out)?;
        if let Some(etr) = etr {
            self.set_human_etr(i, etr, EtrSource::Crew, out);
        }
        Ok(())
    }

    fn set_human_etr(
        &mut self,
        i: usize,
        etr: DateTime<FixedOffset>,
        source: EtrSource,
        out: &mut Vec<DispatchEvent>,
    ) {
        let threshold = self.threshold();
        let order = &self.state.orders[i];
        let extra = &mut self.extras[i];
        extra.etr = Some(CurrentEtr { etr, source });
        if should_publish_beyond(extra.published_etr, etr, threshold) {
            out.push(DispatchEvent::EtrChanged(EtrChanged {
                incident: order.incident.clone(),
                work_order: Some(order.id.clone()),
                etr,
                previous_etr: extra.published_etr,
                source,
                reason: "estimate from the crew on the job".to_owned(),
            }));
            extra.published_etr = Some(etr);
        }
    }

    fn threshold(&self) -> Duration {
        Duration::minutes(i64::from(self.state.config.publish_threshold_minutes))
    }

    /// Records a crew's position (WGS84).
    pub fn report_position(&mut self, crew_id: &str, wgs84: LonLat) -> Result<(), ModelError> {
        let c = *self
            .crew_by_id
            .get(crew_id)
            .ok_or_else(|| ModelError::UnknownCrew(crew_id.to_owned()))?;
        let [lon, lat] = wgs84;
        let valid = lon.is_finite()
            && lat.is_finite()
            && (-180.0..=180.0).contains(&lon)
            && (-90.0..=90.0).contains(&lat);
        if !valid {
            return Err(ModelError::Invalid(format!(
                "position ({lon}, {lat}) is not a longitude and latitude in degrees"
            )));
        }
        self.state.crews[c].position = wgs84;
        Ok(())
    }

    /// Re-plans every order no crew has set out for, flags orders against their arrival
    /// limits, and recomputes the model ETRs (each crew's simulated queue), publishing
    /// those that moved by the threshold. Called after every batch, request and tick.
    pub fn plan(
        &mut self,
        now: DateTime<FixedOffset>,
        out: &mut Vec<DispatchEvent>,
    ) -> Result<(), ModelError> {
        let plan = replan(&self.state, now);
        let changed = self.state.apply(&plan)?;
        let mut planned: HashMap<usize, &Assignment> = HashMap::with_capacity(plan.len());
        for assignment in &plan {
            planned.insert(assignment.order, assignment);
            let extra = &mut self.extras[assignment.order];
            if moved(extra.eta, assignment.eta)
                || extra.travel_seconds != Some(assignment.travel_seconds)
            {
                extra.eta = Some(assignment.eta);
                extra.travel_seconds = Some(assignment.travel_seconds);
            }
            extra.rule = Some(rule_name(assignment.rule));
            extra.assigned_by = Some(AssignedBy::Auto);
        }
        for (order, previous) in changed {
            match planned.get(&order) {
                Some(assignment) => out.push(DispatchEvent::WorkOrderAssigned(assigned_event(
                    &self.state,
                    assignment,
                    previous,
                )?)),
                None => {
                    let extra = &mut self.extras[order];
                    extra.eta = None;
                    extra.travel_seconds = None;
                    extra.rule = None;
                    extra.assigned_by = None;
                }
            }
        }
        for (i, order) in self.state.orders.iter().enumerate() {
            if order.stage.is_finished() {
                continue;
            }
            let limit = order.limit_state(now, &self.state.config);
            let extra = &mut self.extras[i];
            if extra.limit != Some(limit) {
                if matches!(limit, LimitState::AtRisk | LimitState::Breached) {
                    tracing::warn!(
                        work_order.id = %order.id,
                        incident.id = %order.incident,
                        limit = limit.as_str(),
                        arrival_due = %order.arrival_due_by.to_rfc3339(),
                        "work order arrival limit"
                    );
                    metrics::counter!("fudian_dispatch_arrival_limit_total", "state" => limit.as_str())
                        .increment(1);
                }
                extra.limit = Some(limit);
            }
        }
        let threshold = self.threshold();
        for estimate in queue_estimates_after(&self.state, &plan, now) {
            let Some(etr) = estimate.etr else { continue };
            let order = &self.state.orders[estimate.order];
            if order.stage.is_finished() || order.stage == OrderStage::Repaired {
                continue;
            }
            let extra = &mut self.extras[estimate.order];
            if extra
                .etr
                .is_some_and(|current| current.source != EtrSource::Model)
            {
                continue;
            }
            if moved(extra.etr.map(|current| current.etr), etr) {
                extra.etr = Some(CurrentEtr {
                    etr,
                    source: EtrSource::Model,
                });
            }
            if should_publish_beyond(extra.published_etr, etr, threshold) {
                let reason = match order.stage {
                    OrderStage::Pending => "waiting for a free crew",
                    OrderStage::Assigned => "repair crew assigned",
                    OrderStage::EnRoute => "repair crew on its way",
                    _ => "repair crew on site",
                };
                out.push(DispatchEvent::EtrChanged(EtrChanged {
                    incident: order.incident.clone(),
                    work_order: Some(order.id.clone()),
                    etr,
                    previous_etr: extra.published_etr,
                    source: EtrSource::Model,
                    reason: reason.to_owned(),
                }));
                extra.published_etr = Some(etr);
            }
        }
        Ok(())
    }

    /// Records of orders that differ from what was last written, now taken as written.
    pub fn changed_orders(&mut self) -> Vec<OrderRecord> {
        let mut changed = Vec::new();
        for i in 0..self.state.orders.len() {
            let record = self.record(i);
            if self.persisted_orders.get(&record.id) != Some(&record) {
                self.persisted_orders
                    .insert(record.id.clone(), record.clone());
                changed.push(record);
            }
        }
        changed
    }

    /// Crews whose activity or position differ from what was last written.
    pub fn changed_crews(&mut self) -> Vec<CrewRecord> {
        let mut changed = Vec::new();
        for (crew, persisted) in self.state.crews.iter().zip(&mut self.persisted_crews) {
            if crew.activity != persisted.activity || crew.position != persisted.position {
                persisted.activity = crew.activity;
                persisted.position = crew.position;
                changed.push(persisted.clone());
            }
        }
        changed
    }

    /// Drops finished orders from memory (they are in the store); call after a commit.
    pub fn prune(&mut self) {
        if !self.state.orders.iter().any(|o| o.stage.is_finished()) {
            return;
        }
        let orders = std::mem::take(&mut self.state.orders);
        let extras = std::mem::take(&mut self.extras);
        self.by_id.clear();
        self.by_incident.clear();
        for (order, extra) in orders.into_iter().zip(extras) {
            if order.stage.is_finished() {
                self.persisted_orders.remove(order.id.as_str());
                self.finished_incidents.insert(order.incident.to_string());
                continue;
            }
            let index = self.state.orders.len();
            self.by_id.insert(order.id.to_string(), index);
            self.by_incident.insert(order.incident.to_string(), index);
            self.state.orders.push(order);
            self.extras.push(extra);
        }
    }

    pub fn open_orders(&self) -> usize {
        self.state
            .orders
            .iter()
            .filter(|o| !o.stage.is_finished())
            .count()
    }

    pub fn has_crew(&self, id: &str) -> bool {
        self.crew_by_id.contains_key(id)
    }

    /// Every crew with its state at `now`.
    pub fn crews(&self, now: DateTime<FixedOffset>) -> Vec<CrewView> {
        let mut current: HashMap<usize, usize> = HashMap::new();
        for (i, order) in self.state.orders.iter().enumerate() {
            if let Some(c) = order.crew
                && matches!(
                    order.stage,
                    OrderStage::Assigned | OrderStage::EnRoute | OrderStage::OnSite
                )
            {
                let entry = current.entry(c).or_insert(i);
                if stage_rank(order.stage) > stage_rank(self.state.orders[*entry].stage) {
                    *entry = i;
                }
            }
        }
        self.state
            .crews
            .iter()
            .enumerate()
            .map(|(c, crew)| {
                let shift = crew.shift;
                CrewView {
                    id: crew.id.to_string(),
                    home_cell: self
                        .grid
                        .cells
                        .get(crew.home_cell as usize)
                        .map(|cell| cell.id.to_string())
                        .unwrap_or_default(),
                    skills: crew.skills().into_iter().map(Skill::as_str).collect(),
                    shift: format!(
                        "{:02}:{:02}-{:02}:{:02}",
                        shift.start_minute / 60,
                        shift.start_minute % 60,
                        shift.end_minute / 60,
                        shift.end_minute % 60
                    ),
                    size: self.grid.crews.get(c).map_or(0, |g| g.size),
                    state: crew.state_at(now).as_str(),
                    activity: crew.activity.as_str(),
                    position: GeoPoint {
                        lon: crew.position[0],
                        lat: crew.position[1],
                    },
                    work_order: current
                        .get(&c)
                        .map(|&i| self.state.orders[i].id.to_string()),
                }
            })
            .collect()
    }

    /// Every repair cell with its crews and open orders.
    pub fn cells(&self) -> Vec<CellView> {
        let mut crews: Vec<Vec<String>> = vec![Vec::new(); self.grid.cells.len()];
        for crew in &self.state.crews {
            if let Some(list) = crews.get_mut(crew.home_cell as usize) {
                list.push(crew.id.to_string());
            }
        }
        let mut open = vec![0usize; self.grid.cells.len()];
        for order in &self.state.orders {
            if !order.stage.is_finished()
                && let Some(count) = open.get_mut(order.cell as usize)
            {
                *count += 1;
            }
        }
        self.grid
            .cells
            .iter()
            .zip(crews)
            .zip(open)
            .map(|((cell, crews), open)| CellView {
                id: cell.id.to_string(),
                name: cell.name.as_ref().map(ToString::to_string),
                area_class: crate::core::config::area_class_of(cell.area_class),
                crews,
                open_work_orders: open,
            })
            .collect()
    }

    /// Open orders no crew has reached yet that are at risk of, or past, their limit.
    pub fn board(&self, now: DateTime<FixedOffset>) -> Board {
        let mut board = Board {
            at: now,
            at_risk: Vec::new(),
            breached: Vec::new(),
        };
        for (i, state) in self.state.late_orders(now) {
            let mut record = self.record(i);
            record.limit = state.as_str().to_owned();
            match state {
                LimitState::Breached => board.breached.push(record),
                _ => board.at_risk.push(record),
            }
        }
        for list in [&mut board.at_risk, &mut board.breached] {
            list.sort_by(|a, b| {
                a.arrival_due
                    .cmp(&b.arrival_due)
                    .then(b.weight.cmp(&a.weight))
            });
        }
        board
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::order::tests::{at, sample_grid, snapshot_at};
    use fudian_events::common::{AffectedCounts, DeviceKind};
    use fudian_events::outage::{CancelReason, OutageCancelled, OutageRestored};

    fn ten_am() -> DateTime<FixedOffset> {
        at("2026-11-26T10:00:00+08:00")
    }

    /// A model on the sample grid and a transformer fault at the base of its first crew
    /// (a day crew that repairs transformers).
    fn model_with_incident(incident: &str) -> (Model, Vec<DispatchEvent>) {
        let grid = Arc::new(sample_grid());
        let at_base = grid.crews[0].position;
        let mut model = Model::new(grid, DispatchConfig::default()).unwrap();
        let mut out = Vec::new();
        let detected =
            OutageEvent::Detected(snapshot_at(incident, at_base, DeviceKind::Transformer));
        model.apply_outage(&detected, ten_am(), &mut out).unwrap();
        model.plan(ten_am(), &mut out).unwrap();
        (model, out)
    }

    fn restored(incident: &str, revision: u32, method: RestorationMethod) -> OutageEvent {
        OutageEvent::Restored(OutageRestored {
            incident: incident.into(),
            revision,
            state: IncidentState::Restored,
            device: Device {
                id: "T1".into(),
                kind: DeviceKind::Transformer,
            },
            started_at: ten_am(),
            restored_at: ten_am(),
            partial: false,
            method: Some(method),
            restored_counts: AffectedCounts::default(),
            customers_restored: Vec::new(),
            still_out_counts: AffectedCounts::default(),
            customers_still_out: Vec::new(),
        })
    }

    fn statuses(out: &[DispatchEvent]) -> Vec<WorkOrderStatus> {
        out.iter()
            .filter_map(|e| match e {
                DispatchEvent::WorkOrderStatus(s) => Some(s.status),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_detected_incident_opens_an_order_assigns_a_crew_and_publishes_an_etr() {
        let (model, out) = model_with_incident("I1");
        let order = model.order("WO-I1").unwrap();
        assert_eq!(order.state, "assigned");
        assert_eq!(order.skill, "transformer");
        assert!(order.crew.is_some());
        assert!(matches!(out[0], DispatchEvent::WorkOrderCreated(_)));
        assert!(
            out.iter()
                .any(|e| matches!(e, DispatchEvent::WorkOrderAssigned(_)))
        );
        assert!(out.iter().any(
            |e| matches!(e, DispatchEvent::EtrChanged(etr) if etr.source == EtrSource::Model)
        ));
    }

    #[test]
    fn a_reclose_cancels_an_order_no_crew_set_out_for_and_a_repaired_order_closes_on_restore() {
        let (mut model, _) = model_with_incident("I1");
        let mut out = Vec::new();
        model
            .apply_outage(
                &restored("I1", 2, RestorationMethod::Reclose),
                ten_am(),
                &mut out,
            )
            .unwrap();
        assert_eq!(model.order("WO-I1").unwrap().state, "cancelled");
        assert_eq!(statuses(&out), vec![WorkOrderStatus::Cancelled]);

        let (mut model, _) = model_with_incident("I2");
        let crew = model.order("WO-I2").unwrap().crew.unwrap();
        let mut out = Vec::new();
        for kind in [CrewReportKind::Arrived, CrewReportKind::Repaired] {
            let report = CrewReport {
                crew: crew.as_str().into(),
                incident: Some("I2".into()),
                kind,
                text: String::new(),
            };
            model
                .apply_crew_report(&report, ten_am(), &mut out)
                .unwrap();
        }
        assert_eq!(
            statuses(&out),
            vec![
                WorkOrderStatus::EnRoute,
                WorkOrderStatus::OnSite,
                WorkOrderStatus::Repaired
            ]
        );
        model
            .apply_outage(
                &restored("I2", 2, RestorationMethod::Repair),
                ten_am(),
                &mut out,
            )
            .unwrap();
        assert_eq!(model.order("WO-I2").unwrap().state, "closed");
        assert_eq!(statuses(&out).last(), Some(&WorkOrderStatus::Closed));
    }

    #[test]
    fn older_revisions_and_late_events_of_finished_incidents_change_nothing() {
        let (mut model, _) = model_with_incident("I1");
        let grid = Arc::clone(&model.grid);
        let at_base = grid.crews[0].position;
        let mut out = Vec::new();
        let mut update = snapshot_at("I1", at_base, DeviceKind::Transformer);
        update.revision = 3;
        update.counts.customers = 500;
        model
            .apply_outage(&OutageEvent::Updated(update.clone()), ten_am(), &mut out)
            .unwrap();
        update.revision = 2;
        update.counts.customers = 5;
        model
            .apply_outage(&OutageEvent::Updated(update), ten_am(), &mut out)
            .unwrap();
        assert_eq!(model.order("WO-I1").unwrap().customers_out, 500);

        let cancelled = OutageEvent::Cancelled(OutageCancelled {
            incident: "I1".into(),
            revision: 4,
            state: IncidentState::Cancelled,
            reason: CancelReason::NotConfirmed,
            merged_into: None,
            customers: Vec::new(),
            note: None,
        });
        model.apply_outage(&cancelled, ten_am(), &mut out).unwrap();
        model.prune();
        assert!(model.order("WO-I1").is_none());
        let mut out = Vec::new();
        let mut late = snapshot_at("I1", at_base, DeviceKind::Transformer);
        late.revision = 5;
        model
            .apply_outage(&OutageEvent::Detected(late), ten_am(), &mut out)
            .unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert!(model.order("WO-I1").is_none());
    }

    #[test]
    fn a_repeated_arrival_changes_nothing_and_another_crews_report_on_a_started_order_is_refused() {
        let (mut model, _) = model_with_incident("I1");
        let crew = model.order("WO-I1").unwrap().crew.unwrap();
        let report = |crew: &str| CrewReport {
            crew: crew.into(),
            incident: Some("I1".into()),
            kind: CrewReportKind::Arrived,
            text: String::new(),
        };
        let mut out = Vec::new();
        model
            .apply_crew_report(&report(&crew), ten_am(), &mut out)
            .unwrap();
        let mut again = Vec::new();
        model
            .apply_crew_report(&report(&crew), ten_am(), &mut again)
            .unwrap();
        assert!(again.is_empty());
        let other = model
            .state
            .crews
            .iter()
            .find(|c| *c.id != *crew)
            .unwrap()
            .id
            .to_string();
        let error = model
            .apply_crew_report(&report(&other), ten_am(), &mut again)
            .unwrap_err();
        assert!(matches!(error, ModelError::Conflict(_)), "{error}");
        assert!(error.to_string().contains(&crew), "{error}");
        let error = model
            .apply_crew_report(&report("GHOST"), ten_am(), &mut again)
            .unwrap_err();
        assert_eq!(error.to_string(), "unknown crew `GHOST`");
    }

    #[test]
    fn changed_records_are_reported_once() {
        let (mut model, _) = model_with_incident("I1");
        assert_eq!(model.changed_orders().len(), 1);
        assert!(model.changed_orders().is_empty());
        let first = model.state.crews[0].id.to_string();
        model.report_position(&first, [118.6, 37.5]).unwrap();
        assert_eq!(model.changed_crews().len(), 1);
        assert!(model.changed_crews().is_empty());
        assert!(model.report_position("GHOST", [118.6, 37.5]).is_err());
        assert!(matches!(
            model.report_position(&first, [f64::NAN, 37.5]),
            Err(ModelError::Invalid(_))
        ));
    }
}
