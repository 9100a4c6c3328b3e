//! The `fudian.dispatch` payloads the core's decisions turn into, so the service wiring
//! only has to publish them.

use chrono::{DateTime, FixedOffset};
use fudian_events::common::GeoPoint;
use fudian_events::dispatch::{
    AssignedBy, EtrChanged, EtrSource, WorkOrderAssigned, WorkOrderCreated, WorkOrderStatus,
    WorkOrderStatusChanged,
};
use fudian_events::ids::{CellId, CrewId};
use fudian_grid::Grid;

use crate::core::assign::{Assignment, DispatchState};
use crate::core::error::DispatchError;
use crate::core::etr::EtrDecision;
use crate::core::order::{OrderStage, WorkOrder};

/// `workorder.created` for an order; `repair_due_by` is its on-site limit (到达时限).
pub fn created_event(order: &WorkOrder, grid: &Grid) -> Result<WorkOrderCreated, DispatchError> {
    let cell = grid
        .cells
        .get(order.cell as usize)
        .ok_or(DispatchError::NoSuchIndex {
            what: "cell",
            index: order.cell as usize,
        })?;
    Ok(WorkOrderCreated {
        work_order: order.id.clone(),
        incident: order.incident.clone(),
        cell: CellId::new(cell.id.to_string()),
        area_class: order.area_class,
        priority: order.priority,
        device: order.device.clone(),
        location: GeoPoint {
            lon: order.location[0],
            lat: order.location[1],
        },
        repair_due_by: order.arrival_due_by,
        customers_out: order.customers_out,
    })
}

/// `workorder.assigned` for a planned assignment, naming the crew it replaces if any.
pub fn assigned_event(
    state: &DispatchState,
    assignment: &Assignment,
    previous_crew: Option<usize>,
) -> Result<WorkOrderAssigned, DispatchError> {
    let order = state
        .orders
        .get(assignment.order)
        .ok_or(DispatchError::NoSuchIndex {
            what: "work order",
            index: assignment.order,
        })?;
    let crew_id = |index: usize| {
        state
            .crews
            .get(index)
            .map(|c| CrewId::new(c.id.to_string()))
            .ok_or(DispatchError::NoSuchIndex {
                what: "crew",
                index,
            })
    };
    Ok(WorkOrderAssigned {
        work_order: order.id.clone(),
        incident: order.incident.clone(),
        crew: crew_id(assignment.crew)?,
        previous_crew: previous_crew.map(crew_id).transpose()?,
        assigned_by: AssignedBy::Auto,
        eta: Some(assignment.eta),
    })
}

/// `workorder.status` for an order's current stage; None while it is still pending.
pub fn status_event(
    state: &DispatchState,
    order: &WorkOrder,
    note: Option<String>,
) -> Option<WorkOrderStatusChanged> {
    let status = match order.stage {
        OrderStage::Pending => return None,
        OrderStage::Assigned => WorkOrderStatus::Assigned,
        OrderStage::EnRoute => WorkOrderStatus::EnRoute,
        OrderStage::OnSite => WorkOrderStatus::OnSite,
        OrderStage::Repaired => WorkOrderStatus::Repaired,
        OrderStage::Closed => WorkOrderStatus::Closed,
        OrderStage::Cancelled => WorkOrderStatus::Cancelled,
    };
    Some(WorkOrderStatusChanged {
        work_order: order.id.clone(),
        incident: order.incident.clone(),
        crew: order
            .crew
            .and_then(|c| state.crews.get(c))
            .map(|c| CrewId::new(c.id.to_string())),
        status,
        note,
    })
}

/// `outage.etr` for a model decision to publish; None for any other decision.
pub fn etr_event(
    order: &WorkOrder,
    decision: EtrDecision,
    reason: impl Into<String>,
) -> Option<EtrChanged> {
    let EtrDecision::Publish { etr, previous } = decision else {
        return None;
    };
    Some(model_etr_changed(order, etr, previous, reason.into()))
}

fn model_etr_changed(
    order: &WorkOrder,
    etr: DateTime<FixedOffset>,
    previous_etr: Option<DateTime<FixedOffset>>,
    reason: String,
) -> EtrChanged {
    EtrChanged {
        incident: order.incident.clone(),
        work_order: Some(order.id.clone()),
        etr,
        previous_etr,
        source: EtrSource::Model,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::assign::replan;
    use crate::core::config::DispatchConfig;
    use crate::core::order::tests::{at, sample_grid, snapshot_at};
    use fudian_events::common::DeviceKind;
    use fudian_events::ids::WorkOrderId;

    #[test]
    fn a_sample_grid_order_becomes_created_assigned_and_status_payloads_naming_its_cell_and_crew() {
        let grid = sample_grid();
        let mut state = DispatchState::from_grid(&grid, DispatchConfig::default()).unwrap();
        let now = at("2026-11-26T10:00:00+08:00");
        let crew = &grid.crews[0];
        let snapshot = snapshot_at("INC-9", crew.position, DeviceKind::Line);
        let index = state
            .open_order(WorkOrderId::new("W9"), &snapshot, &grid, now)
            .unwrap();
        let created = created_event(&state.orders[index], &grid).unwrap();
        assert_eq!(
            created.cell.as_str(),
            &*grid.cells[state.orders[index].cell as usize].id
        );
        assert_eq!(created.repair_due_by, state.orders[index].arrival_due_by);
        assert!(status_event(&state, &state.orders[index], None).is_none());

        let plan = replan(&state, now);
        let assigned = assigned_event(&state, &plan[0], None).unwrap();
        assert_eq!(assigned.crew.as_str(), &*state.crews[plan[0].crew].id);
        assert_eq!(assigned.eta, Some(plan[0].eta));
        state.apply(&plan).unwrap();
        let status = status_event(&state, &state.orders[index], None).unwrap();
        assert_eq!(status.status, WorkOrderStatus::Assigned);
    }

    #[test]
    fn only_a_publish_decision_becomes_an_etr_event() {
        let order = crate::core::order::tests::order(
            "W",
            0,
            fudian_events::common::AreaClass::Urban,
            crate::core::crew::Skill::Line,
            10,
            [118.5, 37.4],
            at("2026-11-26T10:00:00+08:00"),
        );
        let etr = at("2026-11-26T13:00:00+08:00");
        let event = etr_event(
            &order,
            EtrDecision::Publish {
                etr,
                previous: None,
            },
            "crew assigned",
        )
        .unwrap();
        assert_eq!((event.etr, event.source), (etr, EtrSource::Model));
        assert!(etr_event(&order, EtrDecision::KeepHumanEstimate, "x").is_none());
    }
}
