//! `fudian.field`: what SCADA, the fault-indicator master station, the AMI head-end, the
//! 95598 call center and the crew app publish, and the meter pings fudian sends back.
//!
//! This is the external contract of `shared/field-events.md`: these systems are not
//! fudian's, so names here never change; fields may only be added, as optional.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CallId, CrewId, CustomerId, ElementId, IncidentId, PingRequestId};

/// The topic exchange of field events.
pub const EXCHANGE: &str = "fudian.field";

event_enum! {
    /// Every event on `fudian.field`.
    pub enum FieldEvent on EXCHANGE {
        /// A switch opened, as seen by SCADA.
        ScadaSwitchOpened(ScadaSwitchOpened): SCADA_SWITCH_OPENED = "scada.switch.opened",
            version 1, Receive;
        /// A switch closed, as seen by SCADA.
        ScadaSwitchClosed(ScadaSwitchClosed): SCADA_SWITCH_CLOSED = "scada.switch.closed",
            version 1, Receive;
        /// A fault passage indicator reported (故障指示器).
        FpiFault(FpiFault): FPI_FAULT = "fpi.fault", version 1, Receive;
        /// A meter sent its last gasp: it lost supply.
        AmiLastGasp(AmiLastGasp): AMI_LAST_GASP = "ami.last_gasp", version 1, Receive;
        /// A meter reported that its supply is back.
        AmiPowerRestored(AmiPowerRestored): AMI_POWER_RESTORED = "ami.power_restored",
            version 1, Receive;
        /// The answer of one meter to a ping request.
        AmiPingResult(AmiPingResult): AMI_PING_RESULT = "ami.ping_result", version 1, Receive;
        /// fudian asks the AMI head-end to ping meters (published by fudian).
        AmiPingRequest(AmiPingRequest): AMI_PING_REQUEST = "ami.ping_request",
            version 1, Send;
        /// A trouble call to the 95598 call center.
        CallTrouble(CallTrouble): CALL_TROUBLE = "call.trouble", version 1, Receive;
        /// A report from a repair crew's app.
        CrewReport(CrewReport): CREW_REPORT = "crew.report", version 1, Receive;
    }
}

/// Payload of `scada.switch.opened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScadaSwitchOpened {
    /// Switch id in the grid package.
    pub device: ElementId,
    /// Why it opened.
    pub cause: OpenCause,
}

/// Why a switch opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenCause {
    /// Protection tripped it (a fault).
    Trip,
    /// Opened by hand on site.
    Manual,
    /// Opened by remote control.
    Remote,
}

/// Payload of `scada.switch.closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScadaSwitchClosed {
    /// Switch id in the grid package.
    pub device: ElementId,
    /// Why it closed.
    pub cause: CloseCause,
}

/// Why a switch closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseCause {
    /// Automatic reclosing.
    Reclose,
    /// Closed by hand on site.
    Manual,
    /// Closed by remote control.
    Remote,
}

/// Payload of `fpi.fault`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FpiFault {
    /// Switch or line id where the indicator sits.
    pub device: ElementId,
    /// Whether fault current passed the indicator.
    pub fault_current: bool,
}

/// Payload of `ami.last_gasp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AmiLastGasp {
    /// The meter, named by its customer id.
    pub meter: CustomerId,
}

/// Payload of `ami.power_restored`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AmiPowerRestored {
    /// The meter, named by its customer id.
    pub meter: CustomerId,
}

/// Payload of `ami.ping_result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AmiPingResult {
    /// The meter, named by its customer id.
    pub meter: CustomerId,
    /// Whether the meter has supply.
    pub energized: bool,
    /// The ping request this answers.
    pub request_id: PingRequestId,
}

/// Payload of `ami.ping_request` (fudian to the AMI head-end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AmiPingRequest {
    /// Echoed in every `ami.ping_result` that answers this request.
    pub request_id: PingRequestId,
    /// The meters to ping, by customer id.
    pub meters: Vec<CustomerId>,
}

/// Payload of `call.trouble`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallTrouble {
    /// The call center's id of the call.
    pub call_id: CallId,
    /// The caller's customer id, if the call center matched one.
    pub customer: Option<CustomerId>,
    /// Where the trouble is, if the caller gave a location.
    pub location: Option<CallLocation>,
    /// What the caller reports.
    pub kind: TroubleKind,
    /// The call taker's notes.
    pub text: String,
}

/// A location given in a call, in the coordinate system the call center uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallLocation {
    /// Longitude in degrees east.
    pub lon: f64,
    /// Latitude in degrees north.
    pub lat: f64,
    /// Coordinate reference system of `lon`/`lat`.
    pub crs: Crs,
}

/// A coordinate reference system used by the call center's maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Crs {
    /// WGS84 (EPSG:4326), as the grid package.
    #[serde(rename = "WGS84")]
    Wgs84,
    /// GCJ-02, the obfuscated datum of Chinese web maps (must be converted to WGS84).
    #[serde(rename = "GCJ-02")]
    Gcj02,
}

/// What a trouble call reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TroubleKind {
    /// No power at all.
    NoPower,
    /// Some phases or some appliances without power.
    PartialPower,
    /// A wire is down (a hazard).
    WireDown,
    /// Anything else.
    Other,
}

/// Payload of `crew.report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrewReport {
    /// The reporting crew.
    pub crew: CrewId,
    /// The incident the crew works on, if any.
    pub incident: Option<IncidentId>,
    /// What the crew reports (JSON `kind`, with `device` and `state` for `switching`).
    #[serde(flatten)]
    pub kind: CrewReportKind,
    /// The crew's notes.
    pub text: String,
}

/// What a crew reports; `switching` carries the switch and its new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CrewReportKind {
    /// The crew arrived on site.
    Arrived,
    /// The crew operated a switch by hand.
    Switching {
        /// Switch id in the grid package.
        device: ElementId,
        /// The switch's state after the operation.
        state: SwitchState,
    },
    /// The fault is repaired.
    Repaired,
    /// Customers are still out after the crew's work.
    StillOut,
}

/// The state of a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SwitchState {
    /// Open: no current flows.
    Open,
    /// Closed: current flows.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeError, Envelope};

    /// A body as the field systems send it, with the given type and payload.
    fn body(event_type: &str, payload: &str) -> String {
        format!(
            r#"{{"id": "0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01", "type": "{event_type}",
                "version": 1, "occurred_at": "2026-11-26T14:03:11.250+08:00",
                "source": "field-test", "payload": {payload}}}"#
        )
    }

    fn decoded(event_type: &str, payload: &str) -> FieldEvent {
        let envelope: Envelope<FieldEvent> = decode(body(event_type, payload).as_bytes())
            .unwrap_or_else(|error| panic!("{event_type} does not decode: {error}"));
        envelope.event
    }

    #[test]
    fn the_example_of_the_field_contract_decodes_exactly() {
        let example = r#"{
          "id": "0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01",
          "type": "scada.switch.opened",
          "version": 1,
          "occurred_at": "2026-11-26T14:03:11.250+08:00",
          "source": "scada-dongying",
          "payload": { "device": "S12", "cause": "trip" }
        }"#;
        let envelope = decode(example.as_bytes()).unwrap();
        assert_eq!(
            envelope.id.to_string(),
            "0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01"
        );
        assert_eq!(envelope.producer.as_str(), "scada-dongying");
        assert_eq!(
            envelope.occurred_at.to_rfc3339(),
            "2026-11-26T14:03:11.250+08:00"
        );
        assert_eq!(envelope.correlation_id, None);
        assert_eq!(
            envelope.event,
            FieldEvent::ScadaSwitchOpened(ScadaSwitchOpened {
                device: ElementId::new("S12"),
                cause: OpenCause::Trip,
            })
        );
    }

    #[test]
    fn every_row_of_the_field_contract_decodes() {
        for cause in ["trip", "manual", "remote"] {
            let payload = format!(r#"{{"device": "S12", "cause": "{cause}"}}"#);
            assert!(matches!(
                decoded(SCADA_SWITCH_OPENED, &payload),
                FieldEvent::ScadaSwitchOpened(_)
            ));
        }
        for cause in ["reclose", "manual", "remote"] {
            let payload = format!(r#"{{"device": "S12", "cause": "{cause}"}}"#);
            assert!(matches!(
                decoded(SCADA_SWITCH_CLOSED, &payload),
                FieldEvent::ScadaSwitchClosed(_)
            ));
        }
        assert_eq!(
            decoded(FPI_FAULT, r#"{"device": "L31", "fault_current": true}"#),
            FieldEvent::FpiFault(FpiFault {
                device: "L31".into(),
                fault_current: true
            })
        );
        assert_eq!(
            decoded(AMI_LAST_GASP, r#"{"meter": "C1001"}"#),
            FieldEvent::AmiLastGasp(AmiLastGasp {
                meter: "C1001".into()
            })
        );
        assert_eq!(
            decoded(AMI_POWER_RESTORED, r#"{"meter": "C1001"}"#),
            FieldEvent::AmiPowerRestored(AmiPowerRestored {
                meter: "C1001".into()
            })
        );
        assert_eq!(
            decoded(
                AMI_PING_RESULT,
                r#"{"meter": "C1001", "energized": false, "request_id": "r-1"}"#
            ),
            FieldEvent::AmiPingResult(AmiPingResult {
                meter: "C1001".into(),
                energized: false,
                request_id: "r-1".into(),
            })
        );
        assert_eq!(
            decoded(
                AMI_PING_REQUEST,
                r#"{"request_id": "r-1", "meters": ["C1001", "C1002"]}"#
            ),
            FieldEvent::AmiPingRequest(AmiPingRequest {
                request_id: "r-1".into(),
                meters: vec!["C1001".into(), "C1002".into()],
            })
        );
        for kind in ["no_power", "partial_power", "wire_down", "other"] {
            let payload = format!(
                r#"{{"call_id": "c-1", "customer": null, "location": null,
                    "kind": "{kind}", "text": "停电了"}}"#
            );
            assert!(matches!(
                decoded(CALL_TROUBLE, &payload),
                FieldEvent::CallTrouble(_)
            ));
        }
        for kind in ["arrived", "repaired", "still_out"] {
            let payload =
                format!(r#"{{"crew": "CREW-03", "incident": null, "kind": "{kind}", "text": ""}}"#);
            assert!(matches!(
                decoded(CREW_REPORT, &payload),
                FieldEvent::CrewReport(_)
            ));
        }
    }

    #[test]
    fn a_call_with_customer_and_gcj02_location_keeps_both() {
        let event = decoded(
            CALL_TROUBLE,
            r#"{"call_id": "c-1", "customer": "C1002",
                "location": {"lon": 118.68, "lat": 37.44, "crs": "GCJ-02"},
                "kind": "wire_down", "text": "电线掉在路上"}"#,
        );
        let FieldEvent::CallTrouble(call) = event else {
            panic!("not a call: {event:?}");
        };
        assert_eq!(call.customer, Some(CustomerId::new("C1002")));
        assert_eq!(call.location.map(|l| l.crs), Some(Crs::Gcj02));
        assert_eq!(call.kind, TroubleKind::WireDown);
        let wgs: Crs = serde_json::from_str(r#""WGS84""#).unwrap();
        assert_eq!(wgs, Crs::Wgs84);
    }

    #[test]
    fn a_crew_switching_report_carries_the_device_and_its_state() {
        let event = decoded(
            CREW_REPORT,
            r#"{"crew": "CREW-03", "incident": "INC-1", "kind": "switching",
                "device": "S14", "state": "open", "text": "isolated"}"#,
        );
        assert_eq!(
            event,
            FieldEvent::CrewReport(CrewReport {
                crew: "CREW-03".into(),
                incident: Some("INC-1".into()),
                kind: CrewReportKind::Switching {
                    device: "S14".into(),
                    state: SwitchState::Open
                },
                text: "isolated".to_owned(),
            })
        );
    }

    #[test]
    fn a_crew_switching_report_without_its_device_is_an_invalid_payload() {
        let error = decode(
            body(
                CREW_REPORT,
                r#"{"crew": "CREW-03", "incident": null, "kind": "switching",
                    "state": "open", "text": ""}"#,
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert!(
            matches!(&error, DecodeError::InvalidPayload { reason, .. } if reason.contains("device")),
            "{error}"
        );
    }

    #[test]
    fn unknown_and_duplicate_fields_are_tolerated() {
        let text = r#"{"id": "0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01", "type": "fpi.fault",
            "version": 1, "occurred_at": "2026-11-26T14:03:11+08:00", "source": "fpi",
            "priority": "high", "source": "fpi-master",
            "payload": {"device": "L31", "fault_current": false, "phase": "B",
                        "fault_current": true}}"#;
        let envelope = decode(text.as_bytes()).unwrap();
        // JSON leaves duplicates undefined; like most parsers, the last one wins.
        assert_eq!(envelope.producer.as_str(), "fpi-master");
        assert_eq!(
            envelope.event,
            FieldEvent::FpiFault(FpiFault {
                device: "L31".into(),
                fault_current: true
            })
        );
    }

    #[test]
    fn an_unknown_cause_is_rejected_naming_the_field() {
        let error = decode(
            body(
                SCADA_SWITCH_OPENED,
                r#"{"device": "S12", "cause": "explode"}"#,
            )
            .as_bytes(),
        )
        .unwrap_err();
        let DecodeError::InvalidPayload { path, reason, .. } = &error else {
            panic!("wrong error: {error}");
        };
        assert_eq!(path, "payload.cause");
        assert!(reason.contains("explode"), "{reason}");
        assert!(error.to_string().contains("payload.cause"), "{error}");
    }

    #[test]
    fn a_wrongly_typed_field_is_rejected_with_its_path() {
        let error =
            decode(body(FPI_FAULT, r#"{"device": "L31", "fault_current": "yes"}"#).as_bytes())
                .unwrap_err();
        assert!(
            matches!(&error, DecodeError::InvalidPayload { path, .. } if path == "payload.fault_current"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_payload_field_is_rejected_naming_it() {
        let error = decode(body(AMI_LAST_GASP, "{}").as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid payload of `ami.last_gasp` version 1 at `payload`: missing field `meter`"
        );
    }
}
