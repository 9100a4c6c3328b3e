//! The consumer of `dispatch.events`: incident events (`fudian.outage`: detected, updated,
//! restored, cancelled) and crew reports (`fudian.field`: `crew.report`) in one queue, so
//! the plan sees them in one order. Decoding lives here; applying a batch under the model
//! lock is the runtime's.

use std::sync::Arc;

use fudian_bus::{BatchHandler, Delivery, HandlerError, QueueSpec, WireMessage};
use fudian_events::envelope::Envelope;
use fudian_events::field::{self, FieldEvent};
use fudian_events::ids::EventId;
use fudian_events::outage::{self, OutageEvent};

use crate::core::config::{DispatchConfig, ExchangeNames};
use crate::runtime::Runtime;

/// The incident events dispatch consumes.
pub const OUTAGE_BINDINGS: [&str; 4] = [
    outage::OUTAGE_DETECTED,
    outage::OUTAGE_UPDATED,
    outage::OUTAGE_RESTORED,
    outage::OUTAGE_CANCELLED,
];

/// The queue, its bindings and its retry policy.
pub fn queue_spec(config: &DispatchConfig) -> QueueSpec {
    let mut spec = QueueSpec::new(config.queue.clone())
        .prefetch(config.prefetch)
        .max_attempts(config.max_attempts)
        .retry_delays(config.retry_delays());
    for key in OUTAGE_BINDINGS {
        spec = spec.bind(config.exchanges.outage.clone(), key);
    }
    // Only crew reports: switching they report reaches the outage service on its own queue.
    spec.bind(config.exchanges.field.clone(), field::CREW_REPORT)
}

/// A decoded delivery.
#[derive(Debug, Clone)]
pub enum Decoded {
    Outage(Envelope<OutageEvent>),
    Field(Envelope<FieldEvent>),
}

impl Decoded {
    pub fn id(&self) -> EventId {
        match self {
            Self::Outage(envelope) => envelope.id,
            Self::Field(envelope) => envelope.id,
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Outage(envelope) => envelope.event_type(),
            Self::Field(envelope) => envelope.event_type(),
        }
    }
}

/// Decodes a delivery by the exchange it was published to; the error is the dead-letter
/// reason.
pub fn decode(exchanges: &ExchangeNames, message: &WireMessage) -> Result<Decoded, String> {
    if message.exchange == exchanges.field {
        field::decode(&message.body)
            .map(Decoded::Field)
            .map_err(|error| format!("undecodable field event: {error}"))
    } else {
        outage::decode(&message.body)
            .map(Decoded::Outage)
            .map_err(|error| format!("undecodable outage event: {error}"))
    }
}

/// The batch handler given to the bus.
#[derive(Clone)]
pub struct DispatchEvents {
    pub runtime: Arc<Runtime>,
}

impl BatchHandler for DispatchEvents {
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
        let error = decode(&names, &message("fudian.outage", "{not json")).unwrap_err();
        assert!(error.starts_with("undecodable outage event"), "{error}");
        let error = decode(&names, &message("fudian.field", "[]")).unwrap_err();
        assert!(error.starts_with("undecodable field event"), "{error}");
    }

    #[test]
    fn the_queue_binds_the_four_incident_events_and_crew_reports_only() {
        let spec = queue_spec(&DispatchConfig::default());
        assert_eq!(spec.bindings.len(), 5);
        assert!(
            spec.bindings
                .contains(&("fudian.field".to_owned(), "crew.report".to_owned()))
        );
        assert!(spec.bindings.iter().all(|(_, key)| key != "outage.etr"));
    }
}
