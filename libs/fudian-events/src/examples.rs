//! One example envelope of every event type, with fixed ids and times: shown in the
//! AsyncAPI document, snapshotted, and handy for other crates' tests (the bus and store
//! contract tests, service handlers).

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use crate::call::{CallAnswer, CallEvent};
use crate::common::{AffectedCounts, AreaClassCounts, Device, DeviceKind, GeoPoint, TimeWindow};
use crate::dispatch::{
    AssignedBy, DispatchEvent, EtrChanged, EtrSource, WorkOrderAssigned, WorkOrderCreated,
    WorkOrderPriority, WorkOrderStatus, WorkOrderStatusChanged,
};
use crate::field::{
    AmiLastGasp, AmiPingRequest, AmiPingResult, AmiPowerRestored, CallLocation, CallTrouble,
    CloseCause, CrewReport, CrewReportKind, Crs, FieldEvent, FpiFault, OpenCause,
    ScadaSwitchClosed, ScadaSwitchOpened, SwitchState, TroubleKind,
};
use crate::ids::{
    CallId, CellId, CrewId, CustomerId, ElementId, EventId, IncidentId, PingRequestId,
    PlannedJobId, WorkOrderId,
};
use crate::outage::{
    CancelReason, IncidentSnapshot, IncidentState, OutageCancelled, OutageCause, OutageEvent,
    OutageRestored, PriorityHints, RestorationMethod,
};
use crate::planned::{
    NoticeDeadlines, PlannedApproved, PlannedCancelled, PlannedCompleted, PlannedEvent,
    PlannedStarted,
};
use crate::{Envelope, Event};

/// A time from a literal in this file (every one is valid RFC 3339; the snapshots would
/// show the epoch if one were not).
fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_default()
}

fn envelope<E: Event>(n: u128, producer: &str, event: E) -> Envelope<E> {
    Envelope {
        id: EventId(Uuid::from_u128(0x0193a1f2_7c3e_7b1a_9a53_000000000000 + n)),
        occurred_at: at("2026-11-26T14:03:11.250+08:00"),
        producer: producer.into(),
        correlation_id: (n > 100).then(|| "0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01".into()),
        event,
    }
}

fn customers(ids: &[&str]) -> Vec<CustomerId> {
    ids.iter().copied().map(CustomerId::from).collect()
}

fn counts() -> AffectedCounts {
    AffectedCounts {
        customers: 3,
        customers_by_area_class: AreaClassCounts {
            core: 0,
            urban: 2,
            town: 1,
            rural: 0,
        },
        low_voltage_customers: 3,
        public_transformers: 1,
        critical_customers: 1,
    }
}

fn snapshot(revision: u32, state: IncidentState) -> IncidentSnapshot {
    IncidentSnapshot {
        incident: "INC-20261126-0007".into(),
        revision,
        state,
        device: Device {
            id: "S12".into(),
            kind: DeviceKind::Recloser,
        },
        feeder: Some("B1".into()),
        fault_section: (revision > 1).then(|| vec!["L31".into(), "L32".into()]),
        cause: Some(OutageCause::Fault),
        started_at: at("2026-11-26T14:03:11.250+08:00"),
        counts: counts(),
        customers_out: customers(&["C1001", "C1002", "C1003"]),
        critical_customers_out: customers(&["C1003"]),
        etr: at("2026-11-26T17:03:00+08:00"),
        location: GeoPoint {
            lon: 118.674_21,
            lat: 37.433_95,
        },
        priority: PriorityHints {
            wire_down: revision > 1,
            hazard: false,
        },
    }
}

fn window() -> TimeWindow {
    TimeWindow {
        start: at("2026-12-05T08:00:00+08:00"),
        end: at("2026-12-05T16:00:00+08:00"),
    }
}

/// One example of every `fudian.field` event type.
pub fn field() -> Vec<Envelope<FieldEvent>> {
    vec![
        envelope(
            1,
            "scada-dongying",
            FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
                device: "S12".into(),
                cause: OpenCause::Trip,
            }),
        ),
        envelope(
            2,
            "scada-dongying",
            FieldEvent::ScadaSwitchClosed(ScadaSwitchClosed {
                device: "S12".into(),
                cause: CloseCause::Reclose,
            }),
        ),
        envelope(
            3,
            "fpi-master",
            FieldEvent::FpiFault(FpiFault {
                device: "L31".into(),
                fault_current: true,
            }),
        ),
        envelope(
            4,
            "ami-headend",
            FieldEvent::AmiLastGasp(AmiLastGasp {
                meter: "C1001".into(),
            }),
        ),
        envelope(
            5,
            "ami-headend",
            FieldEvent::AmiPowerRestored(AmiPowerRestored {
                meter: "C1001".into(),
            }),
        ),
        envelope(
            6,
            "ami-headend",
            FieldEvent::AmiPingResult(AmiPingResult {
                meter: "C1001".into(),
                energized: false,
                request_id: PingRequestId::new("0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9eff"),
            }),
        ),
        envelope(
            107,
            "fudian-outage",
            FieldEvent::AmiPingRequest(AmiPingRequest {
                request_id: PingRequestId::new("0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9eff"),
                meters: customers(&["C1001", "C1002"]),
            }),
        ),
        envelope(
            8,
            "callcenter-95598",
            FieldEvent::CallTrouble(CallTrouble {
                call_id: CallId::new("95598-20261126-000123"),
                customer: Some("C1002".into()),
                location: Some(CallLocation {
                    lon: 118.68,
                    lat: 37.44,
                    crs: Crs::Gcj02,
                }),
                kind: TroubleKind::WireDown,
                text: "电线掉在路上".to_owned(),
            }),
        ),
        envelope(
            9,
            "crew-app",
            FieldEvent::CrewReport(CrewReport {
                crew: CrewId::new("CREW-03"),
                incident: Some(IncidentId::new("INC-20261126-0007")),
                kind: CrewReportKind::Switching {
                    device: ElementId::new("S14"),
                    state: SwitchState::Open,
                },
                text: "isolated L32".to_owned(),
            }),
        ),
    ]
}

/// One example of every `fudian.outage` event type.
pub fn outage() -> Vec<Envelope<OutageEvent>> {
    vec![
        envelope(
            111,
            "fudian-outage",
            OutageEvent::Detected(snapshot(1, IncidentState::Confirmed)),
        ),
        envelope(
            112,
            "fudian-outage",
            OutageEvent::Updated(snapshot(2, IncidentState::Confirmed)),
        ),
        envelope(
            113,
            "fudian-outage",
            OutageEvent::Restored(OutageRestored {
                incident: "INC-20261126-0007".into(),
                revision: 3,
                state: IncidentState::Confirmed,
                device: Device {
                    id: "S12".into(),
                    kind: DeviceKind::Recloser,
                },
                started_at: at("2026-11-26T14:03:11.250+08:00"),
                restored_at: at("2026-11-26T14:41:00+08:00"),
                partial: true,
                method: Some(RestorationMethod::Switching),
                restored_counts: AffectedCounts {
                    customers: 2,
                    customers_by_area_class: AreaClassCounts {
                        urban: 2,
                        ..AreaClassCounts::default()
                    },
                    low_voltage_customers: 2,
                    public_transformers: 0,
                    critical_customers: 1,
                },
                customers_restored: customers(&["C1001", "C1003"]),
                still_out_counts: AffectedCounts {
                    customers: 1,
                    customers_by_area_class: AreaClassCounts {
                        town: 1,
                        ..AreaClassCounts::default()
                    },
                    low_voltage_customers: 1,
                    public_transformers: 1,
                    critical_customers: 0,
                },
                customers_still_out: customers(&["C1002"]),
            }),
        ),
        envelope(
            114,
            "fudian-outage",
            OutageEvent::Cancelled(OutageCancelled {
                incident: "INC-20261126-0008".into(),
                revision: 2,
                state: IncidentState::Cancelled,
                reason: CancelReason::Merged,
                merged_into: Some("INC-20261126-0007".into()),
                customers: customers(&["C1002"]),
                note: None,
            }),
        ),
    ]
}

/// One example of every `fudian.dispatch` event type.
/// Every `fudian.outage` call answer.
pub fn call() -> Vec<Envelope<CallEvent>> {
    vec![envelope(
        150,
        "fudian-outage",
        CallEvent::Answered(CallAnswer {
            call_id: "95598-20261126-000123".into(),
            incident: Some("INC-20261126-0007".into()),
            state: Some(IncidentState::Confirmed),
            started_at: Some(at("2026-11-26T14:03:11.250+08:00")),
            etr: Some(at("2026-11-26T17:03:00+08:00")),
            message: "您所在区域因故障停电，已于14:03报修，抢修人员正在处理，预计17:03恢复供电。"
                .to_owned(),
        }),
    )]
}

pub fn dispatch() -> Vec<Envelope<DispatchEvent>> {
    vec![
        envelope(
            121,
            "fudian-dispatch",
            DispatchEvent::WorkOrderCreated(WorkOrderCreated {
                work_order: WorkOrderId::new("WO-0042"),
                incident: "INC-20261126-0007".into(),
                cell: CellId::new("CELL-DY-07"),
                area_class: crate::common::AreaClass::Urban,
                priority: WorkOrderPriority::Emergency,
                device: Device {
                    id: "S12".into(),
                    kind: DeviceKind::Recloser,
                },
                location: GeoPoint {
                    lon: 118.674_21,
                    lat: 37.433_95,
                },
                repair_due_by: at("2026-11-26T17:03:11.250+08:00"),
                customers_out: 3,
            }),
        ),
        envelope(
            122,
            "fudian-dispatch",
            DispatchEvent::WorkOrderAssigned(WorkOrderAssigned {
                work_order: WorkOrderId::new("WO-0042"),
                incident: "INC-20261126-0007".into(),
                crew: CrewId::new("CREW-03"),
                previous_crew: None,
                assigned_by: AssignedBy::Auto,
                eta: Some(at("2026-11-26T14:35:00+08:00")),
            }),
        ),
        envelope(
            123,
            "fudian-dispatch",
            DispatchEvent::WorkOrderStatus(WorkOrderStatusChanged {
                work_order: WorkOrderId::new("WO-0042"),
                incident: "INC-20261126-0007".into(),
                crew: Some(CrewId::new("CREW-03")),
                status: WorkOrderStatus::OnSite,
                note: Some("arrived".to_owned()),
            }),
        ),
        envelope(
            124,
            "fudian-dispatch",
            DispatchEvent::EtrChanged(EtrChanged {
                incident: "INC-20261126-0007".into(),
                work_order: Some(WorkOrderId::new("WO-0042")),
                etr: at("2026-11-26T16:30:00+08:00"),
                previous_etr: Some(at("2026-11-26T17:03:00+08:00")),
                source: EtrSource::Crew,
                reason: "crew on site: one span of conductor to replace".to_owned(),
            }),
        ),
    ]
}

/// One example of every `fudian.planned` event type.
pub fn planned() -> Vec<Envelope<PlannedEvent>> {
    let job = PlannedJobId::new("PJ-2026-0193");
    vec![
        envelope(
            131,
            "fudian-planner",
            PlannedEvent::Approved(PlannedApproved {
                job: job.clone(),
                revision: 1,
                elements: vec!["S20".into(), "T7".into()],
                work: "更换7号配变".to_owned(),
                window: window(),
                area: "东营区西城街道胜利社区".to_owned(),
                counts: counts(),
                customers: customers(&["C2001", "C2002", "C2003"]),
                critical_customers: customers(&["C2003"]),
                notice: NoticeDeadlines {
                    notify_by: at("2026-11-28T08:00:00+08:00"),
                    critical_notify_by: at("2026-11-27T08:00:00+08:00"),
                    remind_at: at("2026-12-04T18:00:00+08:00"),
                },
            }),
        ),
        envelope(
            132,
            "fudian-planner",
            PlannedEvent::Started(PlannedStarted {
                job: job.clone(),
                window: window(),
                started_at: at("2026-12-05T08:02:00+08:00"),
                customers: customers(&["C2001", "C2002", "C2003"]),
            }),
        ),
        envelope(
            133,
            "fudian-planner",
            PlannedEvent::Completed(PlannedCompleted {
                job: job.clone(),
                window: window(),
                completed_at: at("2026-12-05T15:40:00+08:00"),
                customers: customers(&["C2001", "C2002", "C2003"]),
            }),
        ),
        envelope(
            134,
            "fudian-planner",
            PlannedEvent::Cancelled(PlannedCancelled {
                job,
                window: window(),
                reason: "天气原因".to_owned(),
                customers: customers(&["C2001", "C2002", "C2003"]),
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::{decode, to_wire};

    fn covers_catalog<E: Event>(samples: &[Envelope<E>]) {
        let sampled: BTreeSet<&str> = samples.iter().map(Envelope::event_type).collect();
        let catalog: BTreeSet<&str> = E::CATALOG.iter().map(|spec| spec.event_type).collect();
        assert_eq!(
            sampled,
            catalog,
            "samples must cover every type of {}",
            E::EXCHANGE
        );
    }

    fn round_trips<E: Event + PartialEq + std::fmt::Debug>(samples: Vec<Envelope<E>>) {
        for sample in samples {
            let body = sample.to_json();
            let decoded: Envelope<E> = decode(&body)
                .unwrap_or_else(|error| panic!("{} does not decode: {error}", sample.event_type()));
            assert_eq!(decoded, sample);
        }
    }

    fn routes_by_type<E: Event>(samples: &[Envelope<E>]) {
        for sample in samples {
            let wire = to_wire(sample);
            let body: Value = serde_json::from_slice(&wire.body).unwrap();
            assert_eq!(wire.exchange, E::EXCHANGE);
            assert_eq!(Some(wire.routing_key.as_str()), body["type"].as_str());
            assert_eq!(wire.message_id, body["id"].as_str().unwrap());
            let spec = E::CATALOG
                .iter()
                .find(|spec| spec.event_type == wire.routing_key)
                .unwrap();
            assert_eq!(spec.exchange, wire.exchange);
            assert_eq!(body["version"], spec.version);
        }
    }

    fn snapshots<E: Event>(samples: &[Envelope<E>]) {
        for sample in samples {
            // The envelope itself, not a `Value`, so the snapshot keeps the wire's key order.
            insta::assert_json_snapshot!(sample.event_type(), sample);
        }
    }

    #[test]
    fn no_example_time_fell_back_to_the_epoch() {
        let bodies: Vec<Vec<u8>> = field()
            .iter()
            .map(Envelope::to_json)
            .chain(outage().iter().map(Envelope::to_json))
            .chain(dispatch().iter().map(Envelope::to_json))
            .chain(planned().iter().map(Envelope::to_json))
            .chain(call().iter().map(Envelope::to_json))
            .collect();
        for body in bodies {
            let text = String::from_utf8(body).unwrap();
            assert!(!text.contains("1970-01-01"), "{text}");
        }
    }

    #[test]
    fn samples_cover_every_event_type() {
        covers_catalog(&field());
        covers_catalog(&outage());
        covers_catalog(&call());
        covers_catalog(&dispatch());
        covers_catalog(&planned());
    }

    #[test]
    fn every_event_type_round_trips_through_json() {
        round_trips(field());
        round_trips(outage());
        round_trips(call());
        round_trips(dispatch());
        round_trips(planned());
    }

    #[test]
    fn routing_key_of_every_variant_is_its_type_on_its_exchange() {
        routes_by_type(&field());
        routes_by_type(&outage());
        routes_by_type(&call());
        routes_by_type(&dispatch());
        routes_by_type(&planned());
    }

    #[test]
    fn wire_json_of_every_event_type_matches_its_snapshot() {
        snapshots(&field());
        snapshots(&outage());
        snapshots(&call());
        snapshots(&dispatch());
        snapshots(&planned());
    }
}
