//! The consumer of `outage.events`: field events (`fudian.field`) and planned-outage
//! events (`fudian.planned`) in one queue, so the engine sees them in one order. Decoding
//! lives here; applying a batch under the engine lock is the runtime's.

use std::sync::Arc;

use fudian_bus::{BatchHandler, Delivery, HandlerError, QueueSpec, WireMessage};
use fudian_events::envelope::Envelope;
use fudian_events::field::{self, FieldEvent};
use fudian_events::ids::EventId;
use fudian_events::planned::{self, PlannedEvent};

use crate::config::{ExchangeNames, OutageConfig};
use crate::engine::Input;
use crate::runtime::Runtime;
use crate::store::JournalKind;

/// The field event types the engine consumes (`scada.switch.*`: opened and closed). Not
/// `ami.ping_request`: this service publishes it.
pub const FIELD_BINDINGS: [&str; 7] = [
    "scada.switch.*",
    field::FPI_FAULT,
    field::AMI_LAST_GASP,
    field::AMI_POWER_RESTORED,
    field::AMI_PING_RESULT,
    field::CALL_TROUBLE,
    field::CREW_REPORT,
];

/// The queue, its bindings and its retry policy.
pub fn queue_spec(config: &OutageConfig) -> QueueSpec {
    let mut spec = QueueSpec::new(config.queue.clone())
        .prefetch(config.prefetch)
        .max_attempts(config.max_attempts)
        .retry_delays(config.retry_delays());
    for pattern in FIELD_BINDINGS {
        spec = spec.bind(config.exchanges.field.clone(), pattern);
    }
    spec.bind(config.exchanges.planned.clone(), "planned.*")
}

/// A decoded input of the engine.
#[derive(Debug, Clone)]
pub enum Decoded {
    Field(Envelope<FieldEvent>),
    Planned(Envelope<PlannedEvent>),
}

impl Decoded {
    pub fn input(&self) -> Input<'_> {
        match self {
            Self::Field(envelope) => Input::Field(envelope),
            Self::Planned(envelope) => Input::Planned(envelope),
        }
    }

    pub fn id(&self) -> EventId {
        match self {
            Self::Field(envelope) => envelope.id,
            Self::Planned(envelope) => envelope.id,
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Field(envelope) => envelope.event_type(),
            Self::Planned(envelope) => envelope.event_type(),
        }
    }

    /// When it happened in the field (or the planner).
    pub fn occurred_at(&self) -> chrono::DateTime<chrono::Utc> {
        match self {
            Self::Field(envelope) => envelope.occurred_at.to_utc(),
            Self::Planned(envelope) => envelope.occurred_at.to_utc(),
        }
    }

    pub fn journal_kind(&self) -> JournalKind {
        match self {
            Self::Field(_) => JournalKind::Field,
            Self::Planned(_) => JournalKind::Planned,
        }
    }

    /// The switch operation this event reports, as `(device, "open" | "closed")`.
    pub fn switching(&self) -> Option<(&str, &'static str)> {
        let Self::Field(envelope) = self else {
            return None;
        };
        match &envelope.event {
            FieldEvent::ScadaSwitchOpened(e) => Some((e.device.as_str(), "open")),
            FieldEvent::ScadaSwitchClosed(e) => Some((e.device.as_str(), "closed")),
            FieldEvent::CrewReport(report) => match &report.kind {
                field::CrewReportKind::Switching { device, state } => Some((
                    device.as_str(),
                    match state {
                        field::SwitchState::Open => "open",
                        field::SwitchState::Closed => "closed",
                    },
                )),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Decodes a delivery by the exchange it was published to; the error is the dead-letter
/// reason.
pub fn decode(exchanges: &ExchangeNames, message: &WireMessage) -> Result<Decoded, String> {
    let kind = if message.exchange == exchanges.planned {
        JournalKind::Planned
    } else {
        JournalKind::Field
    };
    decode_as(kind, &message.body)
}

/// Decodes a body as a field or planned event (also used to replay the journal).
pub fn decode_as(kind: JournalKind, body: &[u8]) -> Result<Decoded, String> {
    match kind {
        JournalKind::Planned => planned::decode(body)
            .map(Decoded::Planned)
            .map_err(|error| format!("undecodable planned event: {error}")),
        _ => field::decode(body)
            .map(Decoded::Field)
            .map_err(|error| format!("undecodable field event: {error}")),
    }
}

/// The batch handler given to the bus.
#[derive(Clone)]
pub struct FieldEvents {
    pub runtime: Arc<Runtime>,
}

impl BatchHandler for FieldEvents {
    fn handle_batch(
        &self,
        deliveries: Vec<Delivery>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send {
        let runtime = Arc::clone(&self.runtime);
        async move { runtime.handle_batch(deliveries).await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(exchange: &str, body: &str) -> WireMessage {
        WireMessage {
            exchange: exchange.to_owned(),
            routing_key: "x".to_owned(),
            message_id: "m".to_owned(),
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn malformed_json_is_refused_with_a_reason_naming_the_stream() {
        let names = ExchangeNames::default();
        let error = decode(&names, &message("fudian.field", "{not json")).unwrap_err();
        assert!(error.starts_with("undecodable field event"), "{error}");
    }

    #[test]
    fn a_field_event_decodes_into_a_switching() {
        let names = ExchangeNames::default();
        let body = r#"{"id":"0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01","type":"scada.switch.opened",
            "version":1,"occurred_at":"2026-11-26T14:03:11.250+08:00","source":"scada",
            "payload":{"device":"S12","cause":"trip"}}"#;
        let decoded = decode(&names, &message("fudian.field", body)).unwrap();
        assert_eq!(decoded.switching(), Some(("S12", "open")));
        assert_eq!(decoded.journal_kind(), JournalKind::Field);
    }

    #[test]
    fn the_queue_binds_neither_ping_requests_nor_other_exchanges() {
        let spec = queue_spec(&OutageConfig::default());
        assert!(
            spec.bindings
                .iter()
                .all(|(_, key)| key != "ami.ping_request")
        );
        assert!(
            spec.bindings
                .contains(&("fudian.planned".to_owned(), "planned.*".to_owned()))
        );
        assert_eq!(spec.bindings.len(), 8);
    }
}
