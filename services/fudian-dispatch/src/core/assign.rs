//! Assignment of crews to work orders.
//!
//! Normal times follow grid responsibility: each pending order, most urgent first, gets a
//! free skilled crew of its own cell, else the free skilled crew that arrives soonest. In
//! a storm (more pending orders than free crews) every pending order is planned at once
//! by a min-cost assignment (Kuhn–Munkres) of priority-weighted arrival times, so a crew
//! is not spent on whichever order happened to come first. [`greedy_first_come`] is the
//! baseline the optimiser is measured against with [`total_weighted_arrival`].

use chrono::{DateTime, Duration, FixedOffset};
use fudian_events::ids::WorkOrderId;
use fudian_events::outage::IncidentSnapshot;
use fudian_grid::Grid;
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use crate::core::config::DispatchConfig;
use crate::core::crew::{CrewActivity, LiveCrew};
use crate::core::error::DispatchError;
use crate::core::etr::RepairHistory;
use crate::core::order::{LimitState, OrderStage, WorkOrder};

/// A crew free at planning time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FreeCrew {
    index: usize,
    shift_seconds_left: u32,
}

/// How an assignment was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentRule {
    /// A crew of the order's own cell (grid responsibility).
    OwnCell,
    /// The skilled free crew arriving soonest, from another cell.
    Nearest,
    /// The storm optimiser over every pending order.
    Optimised,
    /// The first-come greedy baseline.
    FirstCome,
}

/// A crew for an order: indices into [`DispatchState`]'s vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub order: usize,
    pub crew: usize,
    pub travel_seconds: u32,
    pub eta: DateTime<FixedOffset>,
    pub rule: AssignmentRule,
}

/// What dispatch knows: its settings, the crews, the work orders and the repair history.
#[derive(Debug, Clone)]
pub struct DispatchState {
    pub config: DispatchConfig,
    pub crews: Vec<LiveCrew>,
    pub orders: Vec<WorkOrder>,
    pub history: RepairHistory,
}

impl DispatchState {
    /// A state with the grid's crews, all available at their bases, and no orders.
    pub fn from_grid(grid: &Grid, config: DispatchConfig) -> Result<Self, DispatchError> {
        config.validate()?;
        Ok(Self {
            crews: LiveCrew::all_from_grid(grid)?,
            orders: Vec::new(),
            history: RepairHistory::default(),
            config,
        })
    }

    /// Opens a work order for an incident snapshot and returns its index.
    pub fn open_order(
        &mut self,
        id: WorkOrderId,
        snapshot: &IncidentSnapshot,
        grid: &Grid,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, DispatchError> {
        let order = WorkOrder::from_snapshot(id, snapshot, grid, &self.config, now)?;
        self.orders.push(order);
        Ok(self.orders.len() - 1)
    }

    /// Applies a plan from [`replan`]: planned orders get their crews, replannable orders
    /// left out of the plan go back to pending. Returns `(order, previous crew)` for every
    /// order whose crew changed, for `workorder.assigned` events.
    pub fn apply(
        &mut self,
        plan: &[Assignment],
    ) -> Result<Vec<(usize, Option<usize>)>, DispatchError> {
        for assignment in plan {
            if assignment.order >= self.orders.len() {
                return Err(DispatchError::NoSuchIndex {
                    what: "work order",
                    index: assignment.order,
                });
            }
            if assignment.crew >= self.crews.len() {
                return Err(DispatchError::NoSuchIndex {
                    what: "crew",
                    index: assignment.crew,
                });
            }
        }
        let mut planned = vec![None; self.orders.len()];
        for assignment in plan {
            planned[assignment.order] = Some(assignment.crew);
        }
        let mut changed = Vec::new();
        for (index, order) in self.orders.iter_mut().enumerate() {
            if !order.stage.is_replannable() || order.pinned {
                continue;
            }
            let previous = order.crew;
            match planned[index] {
                Some(crew) => order.assign(crew)?,
                None => {
                    order.crew = None;
                    order.stage = OrderStage::Pending;
                }
            }
            if order.crew != previous {
                changed.push((index, previous));
            }
        }
        Ok(changed)
    }

    /// Moves an order on and keeps its crew's activity in step; a repair frees the crew
    /// where it stands and adds its time on site to the history.
    pub fn advance(
        &mut self,
        order: usize,
        to: fudian_events::dispatch::WorkOrderStatus,
        now: DateTime<FixedOffset>,
    ) -> Result<(), DispatchError> {
        use fudian_events::dispatch::WorkOrderStatus as W;
        let work_order = self
            .orders
            .get_mut(order)
            .ok_or(DispatchError::NoSuchIndex {
                what: "work order",
                index: order,
            })?;
        let previous = work_order.stage;
        work_order.advance(to, now)?;
        let Some(crew) = work_order.crew.and_then(|c| self.crews.get_mut(c)) else {
            return Ok(());
        };
        // A crew merely planned onto a cancelled order may be out on another one.
        if to == W::Cancelled && !matches!(previous, OrderStage::EnRoute | OrderStage::OnSite) {
            return Ok(());
        }
        match to {
            W::EnRoute => crew.activity = CrewActivity::EnRoute,
            W::OnSite => {
                crew.activity = CrewActivity::OnSite;
                crew.position = work_order.location;
            }
            W::Repaired | W::Cancelled => {
                crew.activity = CrewActivity::Available;
                if let (Some(on_site), Some(repaired)) =
                    (work_order.on_site_at, work_order.repaired_at)
                {
                    let minutes = (repaired - on_site).num_minutes().max(0);
                    self.history.record(
                        work_order.device.kind,
                        work_order.cause,
                        u32::try_from(minutes).unwrap_or(u32::MAX),
                        self.config.history_window,
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Open orders not yet reached by a crew that are at risk of, or past, their on-site
    /// limit at `now`, for alerts.
    pub fn late_orders(&self, now: DateTime<FixedOffset>) -> Vec<(usize, LimitState)> {
        self.orders
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.stage.is_finished() && o.on_site_at.is_none())
            .map(|(i, o)| (i, o.limit_state(now, &self.config)))
            .filter(|(_, state)| matches!(state, LimitState::AtRisk | LimitState::Breached))
            .collect()
    }

    /// Orders that may still be (re)planned, most urgent first, then first come.
    fn replannable_orders(&self) -> Vec<usize> {
        let mut orders: Vec<usize> = (0..self.orders.len())
            .filter(|&i| self.orders[i].stage.is_replannable() && !self.orders[i].pinned)
            .collect();
        orders.sort_by(|&a, &b| {
            let (a_order, b_order) = (&self.orders[a], &self.orders[b]);
            b_order
                .weight
                .cmp(&a_order.weight)
                .then(a_order.created_at.cmp(&b_order.created_at))
                .then(a.cmp(&b))
        });
        orders
    }

    /// Crews on shift and not out on an order, with the seconds their shifts have left
    /// (worked out once per plan: the time-zone conversion is the costly part).
    fn free_crews(&self, now: DateTime<FixedOffset>) -> Vec<FreeCrew> {
        let held = self.pinned_crews();
        (0..self.crews.len())
            .filter(|&c| self.crews[c].activity == CrewActivity::Available && !held[c])
            .filter_map(|c| {
                Some(FreeCrew {
                    index: c,
                    shift_seconds_left: self.crews[c].shift_seconds_left(now)?,
                })
            })
            .collect()
    }

    /// Crews a dispatcher pinned to an order they have not set out for yet: not free.
    fn pinned_crews(&self) -> Vec<bool> {
        let mut held = vec![false; self.crews.len()];
        for order in &self.orders {
            if order.pinned
                && order.stage == OrderStage::Assigned
                && let Some(slot) = order.crew.and_then(|c| held.get_mut(c))
            {
                *slot = true;
            }
        }
        held
    }

    /// Travel seconds of a free crew to `order`, or None when it lacks the skill, its
    /// shift ends before arrival plus the minimum working time, or the drive is longer
    /// than the unserved cost ([`DispatchConfig::unserved_minutes`]).
    fn feasible_travel(&self, order: usize, crew: FreeCrew) -> Option<u32> {
        let (order, live) = (&self.orders[order], &self.crews[crew.index]);
        if !live.has_skill(order.skill) {
            return None;
        }
        let travel = self
            .config
            .travel_seconds(live.position, order.location, order.area_class);
        let needed = u64::from(travel) + u64::from(self.config.min_working_minutes) * 60;
        (travel < self.config.unserved_seconds() && u64::from(crew.shift_seconds_left) >= needed)
            .then_some(travel)
    }

    fn assignment(
        &self,
        order: usize,
        crew: usize,
        travel_seconds: u32,
        now: DateTime<FixedOffset>,
        rule: AssignmentRule,
    ) -> Assignment {
        Assignment {
            order,
            crew,
            travel_seconds,
            eta: now + Duration::seconds(i64::from(travel_seconds)),
            rule,
        }
    }
}

/// Plans every replannable order (pending, or assigned but not yet en route) over the
/// free crews at `now`. Call it when an order arrives, a crew frees up, or a crew reports
/// back on shift; apply the answer with [`DispatchState::apply`].
pub fn replan(state: &DispatchState, now: DateTime<FixedOffset>) -> Vec<Assignment> {
    let orders = state.replannable_orders();
    let crews = state.free_crews(now);
    if orders.len() > crews.len() {
        optimise(state, &orders, &crews, now)
    } else {
        by_responsibility(state, &orders, &crews, now)
    }
}

/// The optimiser over every replannable order and free crew whatever their numbers (the
/// storm path of [`replan`], offered alone for comparisons and benchmarks).
pub fn optimal_assignment(state: &DispatchState, now: DateTime<FixedOffset>) -> Vec<Assignment> {
    optimise(
        state,
        &state.replannable_orders(),
        &state.free_crews(now),
        now,
    )
}

/// Most urgent first: an own-cell crew if one can go, else the soonest arrival.
fn by_responsibility(
    state: &DispatchState,
    orders: &[usize],
    crews: &[FreeCrew],
    now: DateTime<FixedOffset>,
) -> Vec<Assignment> {
    let mut taken = vec![false; state.crews.len()];
    let mut plan = Vec::with_capacity(orders.len());
    for &order in orders {
        let cell = state.orders[order].cell;
        // Key: not own cell (false first), then travel, then crew index for determinism.
        let best = crews
            .iter()
            .filter(|c| !taken[c.index])
            .filter_map(|&c| {
                let travel = state.feasible_travel(order, c)?;
                Some((state.crews[c.index].home_cell != cell, travel, c.index))
            })
            .min();
        if let Some((foreign, travel, crew)) = best {
            taken[crew] = true;
            let rule = if foreign {
                AssignmentRule::Nearest
            } else {
                AssignmentRule::OwnCell
            };
            plan.push(state.assignment(order, crew, travel, now, rule));
        }
    }
    plan
}

/// Max-benefit matching where serving order `o` with crew `c` is worth
/// `weight(o) * (unserved - travel(o, c))`: maximising it minimises
/// [`total_weighted_arrival`]. The smaller side is the rows (Kuhn–Munkres wants rows <=
/// columns), so a rectangular problem needs no padding; infeasible pairs are worth 0 and
/// dropped after solving.
fn optimise(
    state: &DispatchState,
    orders: &[usize],
    crews: &[FreeCrew],
    now: DateTime<FixedOffset>,
) -> Vec<Assignment> {
    if orders.is_empty() || crews.is_empty() {
        return Vec::new();
    }
    let travel: Vec<Option<u32>> = orders
        .iter()
        .flat_map(|&o| crews.iter().map(move |&c| (o, c)))
        .map(|(o, c)| state.feasible_travel(o, c))
        .collect();
    let unserved = state.config.unserved_seconds();
    let benefit = |oi: usize, ci: usize| -> i64 {
        travel[oi * crews.len() + ci].map_or(0, |t| {
            i64::from(state.orders[orders[oi]].weight) * i64::from(unserved - t)
        })
    };
    let crews_are_rows = crews.len() <= orders.len();
    let matrix = if crews_are_rows {
        Matrix::from_fn(crews.len(), orders.len(), |(ci, oi)| benefit(oi, ci))
    } else {
        Matrix::from_fn(orders.len(), crews.len(), |(oi, ci)| benefit(oi, ci))
    };
    let (_, columns) = kuhn_munkres(&matrix);
    let mut plan: Vec<Assignment> = columns
        .into_iter()
        .enumerate()
        .map(|(row, column)| {
            if crews_are_rows {
                (column, row)
            } else {
                (row, column)
            }
        })
        .filter_map(|(oi, ci)| {
            let travel = travel[oi * crews.len() + ci]?;
            Some(state.assignment(
                orders[oi],
                crews[ci].index,
                travel,
                now,
                AssignmentRule::Optimised,
            ))
        })
        .collect();
    plan.sort_by_key(|a| a.order);
    plan
}

/// The baseline: replannable orders in the order they came, each taking the free skilled
/// crew that arrives soonest, until crews run out.
pub fn greedy_first_come(state: &DispatchState, now: DateTime<FixedOffset>) -> Vec<Assignment> {
    let mut orders: Vec<usize> = (0..state.orders.len())
        .filter(|&i| state.orders[i].stage.is_replannable() && !state.orders[i].pinned)
        .collect();
    orders.sort_by_key(|&i| (state.orders[i].created_at, i));
    let crews = state.free_crews(now);
    let mut taken = vec![false; state.crews.len()];
    let mut plan = Vec::new();
    for order in orders {
        let best = crews
            .iter()
            .filter(|c| !taken[c.index])
            .filter_map(|&c| Some((state.feasible_travel(order, c)?, c.index)))
            .min();
        if let Some((travel, crew)) = best {
            taken[crew] = true;
            plan.push(state.assignment(order, crew, travel, now, AssignmentRule::FirstCome));
        }
    }
    plan
}

/// The total priority-weighted arrival time of a plan, in weight × seconds, over every
/// replannable order of the state: `weight × travel` for a planned order, `weight ×`
/// the unserved cost ([`DispatchConfig::unserved_minutes`]) for one left without a crew.
/// Lower is better.
pub fn total_weighted_arrival(state: &DispatchState, plan: &[Assignment]) -> u64 {
    let mut travel: Vec<Option<u32>> = vec![None; state.orders.len()];
    for assignment in plan {
        if let Some(slot) = travel.get_mut(assignment.order) {
            *slot = Some(assignment.travel_seconds);
        }
    }
    let unserved = state.config.unserved_seconds();
    state
        .orders
        .iter()
        .zip(travel)
        .filter(|(order, _)| order.stage.is_replannable() && !order.pinned)
        .map(|(order, travel)| u64::from(order.weight) * u64::from(travel.unwrap_or(unserved)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crew::{CrewState, Skill};
    use crate::core::order::tests::{at, order, sample_grid, snapshot_at};
    use fudian_events::common::{AreaClass, DeviceKind};
    use fudian_events::dispatch::WorkOrderStatus;
    use fudian_grid::Shift;
    use rand::{Rng, SeedableRng};

    fn day() -> Shift {
        Shift::parse("08:00-20:00").unwrap()
    }

    fn state(crews: Vec<LiveCrew>, orders: Vec<WorkOrder>) -> DispatchState {
        DispatchState {
            config: DispatchConfig::default(),
            crews,
            orders,
            history: RepairHistory::default(),
        }
    }

    fn ten_am() -> DateTime<FixedOffset> {
        at("2026-11-26T10:00:00+08:00")
    }

    #[test]
    fn an_order_takes_its_own_cells_crew_even_when_another_is_closer() {
        let crews = vec![
            LiveCrew::new("NEAR", 1, &[Skill::Line], day(), [118.501, 37.4]),
            LiveCrew::new("OWN", 0, &[Skill::Line], day(), [118.53, 37.4]),
        ];
        let orders = vec![order(
            "W1",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            ten_am(),
        )];
        let plan = replan(&state(crews, orders), ten_am());
        assert_eq!(plan.len(), 1);
        assert_eq!((plan[0].crew, plan[0].rule), (1, AssignmentRule::OwnCell));
    }

    #[test]
    fn without_a_skilled_crew_in_its_cell_an_order_takes_the_nearest_skilled_one() {
        let crews = vec![
            LiveCrew::new("OWN-NO-SKILL", 0, &[Skill::Cable], day(), [118.5, 37.4]),
            LiveCrew::new("FAR", 2, &[Skill::Line], day(), [118.6, 37.4]),
            LiveCrew::new("NEAR", 1, &[Skill::Line], day(), [118.52, 37.4]),
        ];
        let orders = vec![order(
            "W1",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            ten_am(),
        )];
        let plan = replan(&state(crews, orders), ten_am());
        assert_eq!((plan[0].crew, plan[0].rule), (2, AssignmentRule::Nearest));
    }

    #[test]
    fn a_crew_whose_shift_ends_before_it_could_arrive_and_work_is_not_sent() {
        // 19:10: the day crew has 50 minutes left, less than the 60-minute minimum.
        let now = at("2026-11-26T19:10:00+08:00");
        let crews = vec![
            LiveCrew::new("DAY", 0, &[Skill::Line], day(), [118.5, 37.4]),
            LiveCrew::new(
                "NIGHT",
                1,
                &[Skill::Line],
                Shift::parse("19:00-07:00").unwrap(),
                [118.6, 37.4],
            ),
        ];
        let orders = vec![order(
            "W1",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            now,
        )];
        let plan = replan(&state(crews.clone(), orders.clone()), now);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].crew, 1);
        // An hour earlier the day crew of the cell goes.
        let earlier = at("2026-11-26T18:00:00+08:00");
        assert_eq!(replan(&state(crews, orders), earlier)[0].crew, 0);
    }

    #[test]
    fn a_higher_priority_order_arriving_takes_the_only_crew_from_an_assigned_one() {
        let crews = vec![LiveCrew::new("C", 0, &[Skill::Line], day(), [118.5, 37.4])];
        let low = order(
            "LOW",
            0,
            AreaClass::Urban,
            Skill::Line,
            5,
            [118.51, 37.4],
            ten_am(),
        );
        let mut dispatch = state(crews, vec![low]);
        let plan = replan(&dispatch, ten_am());
        dispatch.apply(&plan).unwrap();
        assert_eq!(dispatch.orders[0].stage, OrderStage::Assigned);
        dispatch.orders.push(order(
            "HIGH",
            0,
            AreaClass::Urban,
            Skill::Line,
            4000,
            [118.52, 37.4],
            ten_am(),
        ));
        let plan = replan(&dispatch, ten_am());
        let changed = dispatch.apply(&plan).unwrap();
        assert_eq!(dispatch.orders[1].crew, Some(0));
        assert_eq!(dispatch.orders[0].stage, OrderStage::Pending);
        assert_eq!(changed, vec![(0, Some(0)), (1, None)]);
    }

    #[test]
    fn a_crew_on_its_way_is_not_replanned() {
        let crews = vec![LiveCrew::new("C", 0, &[Skill::Line], day(), [118.5, 37.4])];
        let low = order(
            "LOW",
            0,
            AreaClass::Urban,
            Skill::Line,
            5,
            [118.51, 37.4],
            ten_am(),
        );
        let mut dispatch = state(crews, vec![low]);
        let plan = replan(&dispatch, ten_am());
        dispatch.apply(&plan).unwrap();
        dispatch
            .advance(0, WorkOrderStatus::EnRoute, ten_am())
            .unwrap();
        dispatch.orders.push(order(
            "HIGH",
            0,
            AreaClass::Urban,
            Skill::Line,
            4000,
            [118.52, 37.4],
            ten_am(),
        ));
        assert!(replan(&dispatch, ten_am()).is_empty());
    }

    #[test]
    fn the_optimiser_weighs_a_heavier_order_over_a_first_come_lighter_one() {
        // One crew, two orders; the light one came first and is a bit nearer.
        let crews = vec![LiveCrew::new("C", 0, &[Skill::Line], day(), [118.5, 37.4])];
        let light = order(
            "LIGHT",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.51, 37.4],
            ten_am(),
        );
        let mut heavy = order(
            "HEAVY",
            0,
            AreaClass::Urban,
            Skill::Line,
            500,
            [118.52, 37.4],
            ten_am(),
        );
        heavy.created_at = ten_am() + Duration::minutes(1);
        let dispatch = state(crews, vec![light, heavy]);
        let optimised = replan(&dispatch, ten_am());
        let greedy = greedy_first_come(&dispatch, ten_am());
        assert_eq!(
            (optimised[0].order, optimised[0].rule),
            (1, AssignmentRule::Optimised)
        );
        assert_eq!(greedy[0].order, 0);
        assert!(
            total_weighted_arrival(&dispatch, &optimised)
                < total_weighted_arrival(&dispatch, &greedy)
        );
    }

    #[test]
    fn sample_grid_incident_in_a_cell_with_a_free_crew_gets_that_crew() {
        let grid = sample_grid();
        let mut dispatch = DispatchState::from_grid(&grid, DispatchConfig::default()).unwrap();
        let now = ten_am();
        // A day-shift crew whose base lies inside its own cell.
        let crew = grid
            .crews
            .iter()
            .find(|c| {
                c.shift == day()
                    && grid
                        .spatial()
                        .cell_at(c.position)
                        .is_some_and(|h| h.inside && h.cell == c.home_cell)
            })
            .unwrap();
        let skill = if crew.skills.iter().any(|s| &**s == "transformer") {
            DeviceKind::Transformer
        } else {
            DeviceKind::Fuse
        };
        let at_base = [crew.position[0] + 0.0005, crew.position[1]];
        let snapshot = snapshot_at("INC-1", at_base, skill);
        dispatch
            .open_order(WorkOrderId::new("W1"), &snapshot, &grid, now)
            .unwrap();
        let plan = replan(&dispatch, now);
        assert_eq!(plan.len(), 1);
        assert_eq!(dispatch.crews[plan[0].crew].home_cell, crew.home_cell);
        assert_eq!(plan[0].rule, AssignmentRule::OwnCell);
    }

    #[test]
    fn sample_grid_incident_in_a_cell_without_a_free_crew_gets_the_nearest_skilled_free_crew() {
        let grid = sample_grid();
        let mut dispatch = DispatchState::from_grid(&grid, DispatchConfig::default()).unwrap();
        let now = ten_am();
        // Every cell of the sample has crews, so keep this cell's crews busy elsewhere.
        let crew = &grid.crews[0];
        let cell = grid.spatial().cell_at(crew.position).unwrap().cell;
        for live in dispatch.crews.iter_mut().filter(|c| c.home_cell == cell) {
            live.activity = CrewActivity::EnRoute;
        }
        let snapshot = snapshot_at("INC-2", crew.position, DeviceKind::Transformer);
        let index = dispatch
            .open_order(WorkOrderId::new("W2"), &snapshot, &grid, now)
            .unwrap();
        let plan = replan(&dispatch, now);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].rule, AssignmentRule::Nearest);
        let chosen = &dispatch.crews[plan[0].crew];
        assert_ne!(chosen.home_cell, cell);
        assert!(chosen.has_skill(Skill::Transformer));
        assert_eq!(chosen.state_at(now), CrewState::Available);
        let best = dispatch
            .free_crews(now)
            .into_iter()
            .filter_map(|c| dispatch.feasible_travel(index, c))
            .min()
            .unwrap();
        assert_eq!(plan[0].travel_seconds, best);
    }

    #[test]
    fn a_storm_of_300_incidents_over_60_crews_is_optimised_no_worse_than_first_come() {
        let grid = sample_grid();
        let mut dispatch = DispatchState::from_grid(&grid, DispatchConfig::default()).unwrap();
        dispatch.crews.truncate(60);
        // Everyone on: a storm calls the night shift in.
        for crew in &mut dispatch.crews {
            crew.shift = Shift::parse("00:00-23:59").unwrap();
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let kinds = [
            DeviceKind::Line,
            DeviceKind::Transformer,
            DeviceKind::Fuse,
            DeviceKind::Breaker,
        ];
        let now = ten_am();
        for i in 0..300 {
            let customer = &grid.customers[rng.random_range(0..grid.customers.len())];
            let mut snapshot = snapshot_at(
                &format!("INC-{i}"),
                customer.position,
                kinds[i % kinds.len()],
            );
            snapshot.counts.customers = rng.random_range(1..2000);
            snapshot.priority.wire_down = rng.random_bool(0.05);
            let created = now - Duration::minutes(300 - i as i64);
            dispatch
                .open_order(WorkOrderId::new(format!("W{i}")), &snapshot, &grid, created)
                .unwrap();
        }
        let optimised = replan(&dispatch, now);
        let greedy = greedy_first_come(&dispatch, now);
        assert!(
            optimised
                .iter()
                .all(|a| a.rule == AssignmentRule::Optimised)
        );
        assert_eq!(optimised.len(), 60);
        let (total_opt, total_greedy) = (
            total_weighted_arrival(&dispatch, &optimised),
            total_weighted_arrival(&dispatch, &greedy),
        );
        println!("storm 300x60: optimiser {total_opt}, greedy first-come {total_greedy}");
        assert!(total_opt <= total_greedy, "{total_opt} > {total_greedy}");
        let mut crews: Vec<usize> = optimised.iter().map(|a| a.crew).collect();
        crews.sort_unstable();
        crews.dedup();
        assert_eq!(crews.len(), 60, "a crew was given two orders");
    }

    #[test]
    fn the_optimiser_with_fewer_orders_than_crews_still_beats_or_ties_first_come() {
        let crews = vec![
            LiveCrew::new("A", 0, &[Skill::Line], day(), [118.50, 37.4]),
            LiveCrew::new("B", 1, &[Skill::Line], day(), [118.60, 37.4]),
            LiveCrew::new("C", 2, &[Skill::Line], day(), [118.70, 37.4]),
        ];
        // First come sends A to the first order and B, further, to the second; the
        // optimiser sends A to the second (heavier, just as near) and B to the first.
        let first = order(
            "W1",
            0,
            AreaClass::Rural,
            Skill::Line,
            10,
            [118.55, 37.4],
            ten_am(),
        );
        let mut second = order(
            "W2",
            0,
            AreaClass::Rural,
            Skill::Line,
            100,
            [118.51, 37.4],
            ten_am(),
        );
        second.created_at = ten_am() + Duration::minutes(1);
        let dispatch = state(crews, vec![first, second]);
        let optimised = optimal_assignment(&dispatch, ten_am());
        let greedy = greedy_first_come(&dispatch, ten_am());
        assert_eq!(optimised.len(), 2);
        assert_eq!(optimised[1].crew, 0);
        assert!(
            total_weighted_arrival(&dispatch, &optimised)
                < total_weighted_arrival(&dispatch, &greedy)
        );
    }

    #[test]
    fn a_crew_freed_by_a_repair_is_replanned_onto_the_waiting_order_and_the_repair_is_learned() {
        let crews = vec![LiveCrew::new("C", 0, &[Skill::Line], day(), [118.5, 37.4])];
        let a = order(
            "A",
            0,
            AreaClass::Urban,
            Skill::Line,
            100,
            [118.5, 37.4],
            ten_am(),
        );
        let b = order(
            "B",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.52, 37.4],
            ten_am(),
        );
        let mut dispatch = state(crews, vec![a, b]);
        let plan = replan(&dispatch, ten_am());
        dispatch.apply(&plan).unwrap();
        assert_eq!(
            (dispatch.orders[0].crew, dispatch.orders[1].crew),
            (Some(0), None)
        );
        dispatch
            .advance(0, WorkOrderStatus::EnRoute, ten_am())
            .unwrap();
        assert!(
            replan(&dispatch, ten_am()).is_empty(),
            "no free crew while it drives"
        );
        let arrived = ten_am() + Duration::minutes(10);
        dispatch
            .advance(0, WorkOrderStatus::OnSite, arrived)
            .unwrap();
        let repaired = arrived + Duration::minutes(70);
        dispatch
            .advance(0, WorkOrderStatus::Repaired, repaired)
            .unwrap();
        assert_eq!(dispatch.crews[0].activity, CrewActivity::Available);
        let plan = replan(&dispatch, repaired);
        assert_eq!((plan.len(), plan[0].order, plan[0].crew), (1, 1, 0));
        let kind = dispatch.orders[0].device.kind;
        assert_eq!(
            dispatch.history.median(kind, dispatch.orders[0].cause, 1),
            Some(70)
        );
    }

    #[test]
    fn in_a_storm_wire_down_orders_are_served_before_ordinary_ones() {
        let crews: Vec<LiveCrew> = (0..3)
            .map(|i| {
                LiveCrew::new(
                    &format!("C{i}"),
                    i,
                    &[Skill::Line],
                    day(),
                    [118.5 + 0.01 * f64::from(i), 37.4],
                )
            })
            .collect();
        let mut orders = Vec::new();
        for i in 0..6u32 {
            // Ordinary orders right next to the crews, wire-down ones 10 km away.
            let (weight, lat) = if i % 2 == 0 {
                (30, 37.401)
            } else {
                (4030, 37.49)
            };
            orders.push(order(
                &format!("W{i}"),
                0,
                AreaClass::Rural,
                Skill::Line,
                weight,
                [118.5 + 0.01 * f64::from(i / 2), lat],
                ten_am(),
            ));
        }
        let dispatch = state(crews, orders);
        let plan = replan(&dispatch, ten_am());
        let mut served: Vec<usize> = plan.iter().map(|a| a.order).collect();
        served.sort_unstable();
        assert_eq!(served, vec![1, 3, 5]);
    }

    #[test]
    fn late_orders_lists_at_risk_and_breached_orders_but_not_those_reached_in_time() {
        let rural = order(
            "R",
            0,
            AreaClass::Rural,
            Skill::Line,
            10,
            [118.5, 37.4],
            ten_am(),
        );
        let urban = order(
            "U",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            ten_am(),
        );
        let mut reached = order(
            "D",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            ten_am(),
        );
        reached.on_site_at = Some(ten_am() + Duration::minutes(20));
        reached.stage = OrderStage::OnSite;
        let dispatch = state(Vec::new(), vec![rural, urban, reached]);
        // 10:40: urban (45 min) is at risk, rural (90 min) is on time.
        assert_eq!(
            dispatch.late_orders(ten_am() + Duration::minutes(40)),
            vec![(1, LimitState::AtRisk)]
        );
        // 11:25: urban breached, rural at risk (limit 11:30).
        assert_eq!(
            dispatch.late_orders(ten_am() + Duration::minutes(85)),
            vec![(0, LimitState::AtRisk), (1, LimitState::Breached)]
        );
    }
}
