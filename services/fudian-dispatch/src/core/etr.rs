//! Estimated restoration times (ETR): travel plus assessment plus repair, from the
//! configured table until enough orders of the same kind have completed, then from the
//! median of the recent ones; in a storm, from each crew's simulated queue. A crew's or a
//! dispatcher's estimate is never overwritten by the model, and a model change is only
//! published when it moves far enough to matter to customers.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, FixedOffset};
use fudian_events::common::DeviceKind;
use fudian_events::dispatch::EtrSource;
use fudian_events::outage::OutageCause;

use crate::core::assign::{Assignment, DispatchState, replan};
use crate::core::config::DispatchConfig;
use crate::core::crew::CrewState;
use crate::core::order::{OrderStage, WorkOrder};

/// The publish threshold of [`should_publish`]: customers are not told about smaller moves.
pub const PUBLISH_THRESHOLD: Duration = Duration::minutes(15);

/// Whether a new ETR differs enough from the published one to publish (always, when
/// nothing was published yet).
pub fn should_publish(previous: Option<DateTime<FixedOffset>>, new: DateTime<FixedOffset>) -> bool {
    should_publish_beyond(previous, new, PUBLISH_THRESHOLD)
}

/// [`should_publish`] with a threshold of choice (the configured one).
pub fn should_publish_beyond(
    previous: Option<DateTime<FixedOffset>>,
    new: DateTime<FixedOffset>,
    threshold: Duration,
) -> bool {
    previous.is_none_or(|previous| (new - previous).abs() >= threshold)
}

/// The ETR currently published for an order, and who set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentEtr {
    pub etr: DateTime<FixedOffset>,
    pub source: EtrSource,
}

/// What to do with a model estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtrDecision {
    /// Publish it (`outage.etr` with source `model`).
    Publish {
        etr: DateTime<FixedOffset>,
        previous: Option<DateTime<FixedOffset>>,
    },
    /// A crew or dispatcher set the current estimate: the model keeps out.
    KeepHumanEstimate,
    /// It moved less than the threshold.
    TooSmallAChange,
}

/// Decides whether a model estimate replaces the current one.
pub fn decide_model_etr(
    current: Option<CurrentEtr>,
    model: DateTime<FixedOffset>,
    config: &DispatchConfig,
) -> EtrDecision {
    if let Some(current) = current
        && current.source != EtrSource::Model
    {
        return EtrDecision::KeepHumanEstimate;
    }
    let previous = current.map(|c| c.etr);
    let threshold = Duration::minutes(i64::from(config.publish_threshold_minutes));
    if should_publish_beyond(previous, model, threshold) {
        EtrDecision::Publish {
            etr: model,
            previous,
        }
    } else {
        EtrDecision::TooSmallAChange
    }
}

/// Minutes on site (arrival to repaired) of recently completed orders, per device kind
/// and cause, newest last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairHistory {
    samples: HashMap<(DeviceKind, Option<OutageCause>), VecDeque<u32>>,
}

impl RepairHistory {
    /// Adds a completed order's minutes on site, keeping the last `window`.
    pub fn record(
        &mut self,
        device: DeviceKind,
        cause: Option<OutageCause>,
        minutes: u32,
        window: usize,
    ) {
        let samples = self.samples.entry((device, cause)).or_default();
        samples.push_back(minutes);
        while samples.len() > window.max(1) {
            samples.pop_front();
        }
    }

    /// The median of the recorded minutes once there are at least `min_samples`.
    pub fn median(
        &self,
        device: DeviceKind,
        cause: Option<OutageCause>,
        min_samples: usize,
    ) -> Option<u32> {
        let samples = self.samples.get(&(device, cause))?;
        if samples.is_empty() || samples.len() < min_samples {
            return None;
        }
        let mut sorted: Vec<u32> = samples.iter().copied().collect();
        sorted.sort_unstable();
        let middle = sorted.len() / 2;
        Some(if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            // Mean of the two middle values, rounded half up.
            (sorted[middle - 1] + sorted[middle]).div_ceil(2)
        })
    }

    /// Minutes on site for an order: the median of its kind if known, else the table.
    pub fn on_site_minutes(&self, order: &WorkOrder, config: &DispatchConfig) -> u32 {
        self.median(order.device.kind, order.cause, config.history_min_samples)
            .unwrap_or_else(|| {
                config.table_on_site_minutes(order.device.kind, order.cause, order.area_class)
            })
    }
}

/// The model's estimate for an order once the crew is on site at `arrival`.
pub fn model_etr(
    order: &WorkOrder,
    arrival: DateTime<FixedOffset>,
    history: &RepairHistory,
    config: &DispatchConfig,
) -> DateTime<FixedOffset> {
    arrival + Duration::minutes(i64::from(history.on_site_minutes(order, config)))
}

/// An order's place in the simulated queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedEstimate {
    pub order: usize,
    /// The crew that would do it; None when no crew can (skill, shift).
    pub crew: Option<usize>,
    /// Seconds the order waits for its crew to finish earlier work.
    pub wait_seconds: u32,
    pub arrival: Option<DateTime<FixedOffset>>,
    pub etr: Option<DateTime<FixedOffset>>,
}

/// Model ETRs for every open order, simulating each crew's queue: orders being worked
/// finish at their estimate, the current plan ([`replan`]) goes first, and the orders left
/// over, most urgent first, each go to the skilled crew that could arrive soonest after
/// finishing its earlier work (and whose shift still allows it then).
pub fn queue_estimates(state: &DispatchState, now: DateTime<FixedOffset>) -> Vec<QueuedEstimate> {
    queue_estimates_after(state, &replan(state, now), now)
}

/// [`queue_estimates`] with the current plan given (the one [`replan`] just made and
/// [`DispatchState::apply`] applied), so it is not worked out twice.
pub fn queue_estimates_after(
    state: &DispatchState,
    plan: &[Assignment],
    now: DateTime<FixedOffset>,
) -> Vec<QueuedEstimate> {
    let config = &state.config;
    let mut free_at: Vec<Option<DateTime<FixedOffset>>> = state
        .crews
        .iter()
        .map(|c| (c.state_at(now) == CrewState::Available).then_some(now))
        .collect();
    let mut position: Vec<[f64; 2]> = state.crews.iter().map(|c| c.position).collect();
    let mut estimates = Vec::new();
    let mut done = vec![false; state.orders.len()];

    for (index, order) in state.orders.iter().enumerate() {
        let Some(crew) = order.crew else { continue };
        let held = order.pinned && order.stage == OrderStage::Assigned;
        if !(held || matches!(order.stage, OrderStage::EnRoute | OrderStage::OnSite)) {
            continue;
        }
        let arrival = order.on_site_at.unwrap_or_else(|| {
            let travel =
                config.travel_seconds(state.crews[crew].position, order.location, order.area_class);
            now + Duration::seconds(i64::from(travel))
        });
        let etr = model_etr(order, arrival, &state.history, config).max(now);
        if let Some(slot) = free_at.get_mut(crew) {
            *slot = Some(etr);
            position[crew] = order.location;
        }
        done[index] = true;
        estimates.push(QueuedEstimate {
            order: index,
            crew: Some(crew),
            wait_seconds: 0,
            arrival: Some(arrival),
            etr: Some(etr),
        });
    }

    for assignment in plan {
        let order = &state.orders[assignment.order];
        let etr = model_etr(order, assignment.eta, &state.history, config);
        free_at[assignment.crew] = Some(etr);
        position[assignment.crew] = order.location;
        done[assignment.order] = true;
        estimates.push(QueuedEstimate {
            order: assignment.order,
            crew: Some(assignment.crew),
            wait_seconds: 0,
            arrival: Some(assignment.eta),
            etr: Some(etr),
        });
    }

    let mut waiting: Vec<usize> = (0..state.orders.len())
        .filter(|&i| !done[i] && state.orders[i].stage.is_replannable())
        .collect();
    waiting.sort_by(|&a, &b| {
        state.orders[b]
            .weight
            .cmp(&state.orders[a].weight)
            .then(state.orders[a].created_at.cmp(&state.orders[b].created_at))
            .then(a.cmp(&b))
    });
    for index in waiting {
        let order = &state.orders[index];
        let best = state
            .crews
            .iter()
            .enumerate()
            .filter(|(_, crew)| crew.has_skill(order.skill))
            .filter_map(|(c, crew)| {
                let start = free_at[c]?;
                let travel = config.travel_seconds(position[c], order.location, order.area_class);
                crew.can_take(start, travel, config.min_working_minutes)
                    .then(|| (start + Duration::seconds(i64::from(travel)), c, start))
            })
            .min();
        let estimate = match best {
            Some((arrival, crew, start)) => {
                let etr = model_etr(order, arrival, &state.history, config);
                free_at[crew] = Some(etr);
                position[crew] = order.location;
                QueuedEstimate {
                    order: index,
                    crew: Some(crew),
                    wait_seconds: u32::try_from((start - now).num_seconds().max(0))
                        .unwrap_or(u32::MAX),
                    arrival: Some(arrival),
                    etr: Some(etr),
                }
            }
            None => QueuedEstimate {
                order: index,
                crew: None,
                wait_seconds: 0,
                arrival: None,
                etr: None,
            },
        };
        estimates.push(estimate);
    }
    estimates.sort_by_key(|e| e.order);
    estimates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crew::{LiveCrew, Skill};
    use crate::core::order::tests::{at, order};
    use fudian_events::common::AreaClass;
    use fudian_grid::Shift;

    fn config() -> DispatchConfig {
        DispatchConfig::default()
    }

    #[test]
    fn an_etr_is_published_first_time_and_then_only_on_a_move_of_fifteen_minutes() {
        let base = at("2026-11-26T14:00:00+08:00");
        assert!(should_publish(None, base));
        assert!(!should_publish(Some(base), base + Duration::minutes(14)));
        assert!(!should_publish(
            Some(base),
            base - Duration::minutes(14) - Duration::seconds(59)
        ));
        assert!(should_publish(Some(base), base + Duration::minutes(15)));
        assert!(should_publish(Some(base), base - Duration::minutes(15)));
    }

    #[test]
    fn a_crew_or_dispatcher_etr_is_never_overwritten_by_the_model() {
        let base = at("2026-11-26T14:00:00+08:00");
        let far_later = base + Duration::hours(5);
        for source in [EtrSource::Crew, EtrSource::Dispatcher] {
            let current = Some(CurrentEtr { etr: base, source });
            assert_eq!(
                decide_model_etr(current, far_later, &config()),
                EtrDecision::KeepHumanEstimate
            );
        }
        let model = Some(CurrentEtr {
            etr: base,
            source: EtrSource::Model,
        });
        assert_eq!(
            decide_model_etr(model, far_later, &config()),
            EtrDecision::Publish {
                etr: far_later,
                previous: Some(base)
            }
        );
        assert_eq!(
            decide_model_etr(model, base + Duration::minutes(5), &config()),
            EtrDecision::TooSmallAChange
        );
    }

    #[test]
    fn the_median_of_recent_repairs_replaces_the_table_once_there_are_enough() {
        let config = config();
        let order = order(
            "W",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            at("2026-11-26T10:00:00+08:00"),
        );
        let mut history = RepairHistory::default();
        let kind = (order.device.kind, order.cause);
        assert_eq!(history.on_site_minutes(&order, &config), 180);
        for minutes in [60, 90, 75, 300] {
            history.record(kind.0, kind.1, minutes, config.history_window);
        }
        // Four samples, five needed: still the table.
        assert_eq!(history.on_site_minutes(&order, &config), 180);
        history.record(kind.0, kind.1, 80, config.history_window);
        // Sorted 60 75 80 90 300: the median is 80, untouched by the 300 outlier.
        assert_eq!(history.on_site_minutes(&order, &config), 80);
        let arrival = at("2026-11-26T10:30:00+08:00");
        assert_eq!(
            model_etr(&order, arrival, &history, &config),
            at("2026-11-26T11:50:00+08:00")
        );
    }

    #[test]
    fn the_median_looks_only_at_the_last_window_of_samples() {
        let mut history = RepairHistory::default();
        for minutes in [500, 500, 500, 10, 20, 30] {
            history.record(DeviceKind::Fuse, None, minutes, 3);
        }
        assert_eq!(history.median(DeviceKind::Fuse, None, 3), Some(20));
        assert_eq!(history.median(DeviceKind::Line, None, 1), None);
    }

    #[test]
    fn in_a_storm_an_order_waiting_for_a_busy_crew_gets_the_wait_in_its_etr() {
        let now = at("2026-11-26T10:00:00+08:00");
        let crews = vec![LiveCrew::new(
            "C",
            0,
            &[Skill::Line],
            Shift::parse("00:00-23:59").unwrap(),
            [118.5, 37.4],
        )];
        let first = order(
            "A",
            0,
            AreaClass::Urban,
            Skill::Line,
            100,
            [118.5, 37.4],
            now,
        );
        let second = order(
            "B",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            now,
        );
        let state = DispatchState {
            config: config(),
            crews,
            orders: vec![first, second],
            history: RepairHistory::default(),
        };
        let estimates = queue_estimates(&state, now);
        assert_eq!(estimates.len(), 2);
        // The heavier order goes first: on site at once, 180 minutes there.
        assert_eq!(estimates[0].etr, Some(now + Duration::minutes(180)));
        assert_eq!(estimates[1].wait_seconds, 180 * 60);
        assert_eq!(estimates[1].etr, Some(now + Duration::minutes(360)));
    }

    #[test]
    fn a_crew_on_its_way_finishes_its_order_before_its_next_one_in_the_queue() {
        let now = at("2026-11-26T10:00:00+08:00");
        let mut crew = LiveCrew::new(
            "C",
            0,
            &[Skill::Line],
            Shift::parse("00:00-23:59").unwrap(),
            [118.5, 37.4],
        );
        crew.activity = crate::core::crew::CrewActivity::OnSite;
        let mut working = order(
            "A",
            0,
            AreaClass::Urban,
            Skill::Line,
            100,
            [118.5, 37.4],
            now,
        );
        working.stage = OrderStage::OnSite;
        working.crew = Some(0);
        working.on_site_at = Some(now - Duration::minutes(60));
        let waiting = order(
            "B",
            0,
            AreaClass::Urban,
            Skill::Line,
            10,
            [118.5, 37.4],
            now,
        );
        let state = DispatchState {
            config: config(),
            crews: vec![crew],
            orders: vec![working, waiting],
            history: RepairHistory::default(),
        };
        let estimates = queue_estimates(&state, now);
        // On site since 09:00 for 180 minutes: done at 12:00, then B from 12:00 to 15:00.
        assert_eq!(estimates[0].etr, Some(at("2026-11-26T12:00:00+08:00")));
        assert_eq!(estimates[1].wait_seconds, 120 * 60);
        assert_eq!(estimates[1].etr, Some(at("2026-11-26T15:00:00+08:00")));
    }
}
