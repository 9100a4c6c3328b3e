//! The envelope every message shares, the `Event` trait that each exchange's enum
//! implements, and the byte-level `encode` / `decode` / `to_wire`.
//!
//! Decoding goes through a `serde_json::Value` first, field by field, so that each way a
//! body can be wrong (not JSON, no `id`, unknown type, unknown version, bad payload) is a
//! distinct `DecodeError` the consumer can dead-letter with.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::ids::{CorrelationId, EventId, Producer};
use crate::wire::WireMessage;

/// The utility's time zone: fudian's producers stamp times in it (always +08:00, no DST).
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// The current time in Asia/Shanghai, truncated to milliseconds (as the field systems
/// send it, and so it survives a round trip through PostgreSQL's microseconds unchanged).
pub fn now_shanghai() -> DateTime<FixedOffset> {
    Utc::now()
        .with_timezone(&TIME_ZONE)
        .fixed_offset()
        .trunc_subsecs(3)
}

/// One event with its metadata. The JSON form is
/// `{"id", "type", "version", "occurred_at", "source", "correlation_id"?, "payload"}`;
/// `type` and `version` come from `event`, so they cannot disagree with the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// Unique per event; the AMQP `message_id` and the consumers' idempotency key.
    pub id: EventId,
    /// When it happened (in the field, for field events), not when it was sent.
    pub occurred_at: DateTime<FixedOffset>,
    /// Who produced it (JSON `source`).
    pub producer: Producer,
    /// Optional id tying the events of one causal chain together.
    pub correlation_id: Option<CorrelationId>,
    /// The typed event: its variant is the `type`, its content the `payload`.
    pub event: E,
}

impl<E: Event> Envelope<E> {
    /// A new event from `producer`, with a fresh UUIDv7 id, stamped now in Asia/Shanghai.
    pub fn new(producer: impl Into<Producer>, event: E) -> Self {
        Self {
            id: EventId::new_v7(),
            occurred_at: now_shanghai(),
            producer: producer.into(),
            correlation_id: None,
            event,
        }
    }

    /// The same envelope with `occurred_at` set (for events about an earlier moment).
    #[must_use]
    pub fn occurred(mut self, at: DateTime<FixedOffset>) -> Self {
        self.occurred_at = at;
        self
    }

    /// The same envelope with a correlation id.
    #[must_use]
    pub fn correlated(mut self, correlation_id: impl Into<CorrelationId>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// The event type, which is also the routing key.
    pub fn event_type(&self) -> &'static str {
        self.event.event_type()
    }

    /// The schema version of the payload.
    pub fn version(&self) -> u32 {
        self.event.version()
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        encode(self)
    }

    /// The message ready for the bus or the outbox.
    pub fn to_wire(&self) -> WireMessage {
        to_wire(self)
    }
}

/// The event enum of one exchange. Implemented by the `event_enum!` macro for
/// `FieldEvent`, `OutageEvent`, `DispatchEvent` and `PlannedEvent`; not meant to be
/// implemented elsewhere.
pub trait Event: Sized {
    /// The topic exchange these events are published to.
    const EXCHANGE: &'static str;
    /// Every (type, version) this exchange carries, in declaration order.
    const CATALOG: &'static [EventSpec];

    /// The `type` of this event, equal to its routing key.
    fn event_type(&self) -> &'static str;

    /// The schema version of this event's payload.
    fn version(&self) -> u32;

    /// Writes the payload alone (the `payload` member of the envelope).
    fn serialize_payload<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Reads a payload of the given type and version; `None` if this exchange has no such
    /// (type, version). The error carries the path inside the payload.
    fn deserialize_payload(
        event_type: &str,
        version: u32,
        payload: Value,
    ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>>;
}

/// Who publishes an event type, seen from fudian (the AsyncAPI operation action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// fudian publishes it.
    Send,
    /// Another system publishes it and fudian consumes it.
    Receive,
}

/// The description of one event type on one exchange, for topology, docs and checks.
#[derive(Debug, Clone, Copy)]
pub struct EventSpec {
    /// The `type`, equal to the routing key.
    pub event_type: &'static str,
    /// The schema version this build writes and reads.
    pub version: u32,
    /// The topic exchange it travels on.
    pub exchange: &'static str,
    /// Whether fudian sends or receives it.
    pub direction: Direction,
    /// The variant's doc comment (one line per doc line).
    pub doc: &'static str,
    /// Adds the payload's JSON Schema to a generator and returns it or a `$ref` to it.
    pub payload_schema: fn(&mut SchemaGenerator) -> Schema,
}

impl EventSpec {
    /// The doc comment's first line: a one-line summary.
    pub fn summary(&self) -> &'static str {
        self.doc
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("")
    }
}

/// `payload_schema` for a payload type `T`.
pub(crate) fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

// The JSON shape of every message: used to write envelopes and to generate the
// envelope's JSON Schema (with `P = serde_json::Value`), so the two cannot drift.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Envelope")]
/// The envelope every fudian message shares. `type` is also the routing key.
pub(crate) struct WireEnvelope<'a, P> {
    /// Unique event id (UUID; fudian writes UUIDv7). Senders retry, so an id can arrive
    /// twice: consumers are idempotent on it.
    pub id: &'a EventId,
    /// Event type, equal to the AMQP routing key.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// Schema version of the payload; consumers dead-letter versions they do not know.
    pub version: u32,
    /// When it happened (in the field, for field events), RFC 3339 with offset; fudian
    /// stamps Asia/Shanghai time (+08:00). Events can arrive late and out of order.
    pub occurred_at: &'a DateTime<FixedOffset>,
    /// The producing system or service, e.g. `scada-dongying` or `fudian-outage`.
    #[serde(rename = "source")]
    pub producer: &'a Producer,
    /// Ties the events of one causal chain together (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<&'a CorrelationId>,
    /// The type-specific content.
    pub payload: P,
}

/// Serializes an event's payload through `Event::serialize_payload`.
struct PayloadOf<'a, E>(&'a E);

impl<E: Event> Serialize for PayloadOf<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}

impl<E: Event> Serialize for Envelope<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireEnvelope {
            id: &self.id,
            event_type: self.event.event_type(),
            version: self.event.version(),
            occurred_at: &self.occurred_at,
            producer: &self.producer,
            correlation_id: self.correlation_id.as_ref(),
            payload: PayloadOf(&self.event),
        }
        .serialize(serializer)
    }
}

/// The JSON body of an envelope.
pub fn encode<E: Event>(envelope: &Envelope<E>) -> Vec<u8> {
    // Payloads are plain structs of strings, numbers, booleans and lists (no maps with
    // non-string keys, and serde_json writes non-finite floats as null), so writing them
    // cannot fail; every variant is serialized in the tests.
    serde_json::to_vec(envelope).expect("event payloads always serialize to json")
}

/// The message for the bus or the outbox: `message_id` = event id, exchange and routing
/// key from the event type, no headers yet (the bus adds trace context).
pub fn to_wire<E: Event>(envelope: &Envelope<E>) -> WireMessage {
    WireMessage {
        exchange: E::EXCHANGE.to_owned(),
        routing_key: envelope.event_type().to_owned(),
        message_id: envelope.id.to_string(),
        headers: BTreeMap::new(),
        body: encode(envelope),
    }
}

/// Decodes a body as an event of exchange `E`. Unknown fields are ignored; the checks run
/// in this order: UTF-8, JSON object, `id`, `type`, `version`, known type, known version,
/// `occurred_at`, `source`, `correlation_id`, `payload`.
pub fn decode<E: Event>(body: &[u8]) -> Result<Envelope<E>, DecodeError> {
    let text = std::str::from_utf8(body).map_err(DecodeError::NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(DecodeError::NotJson)?;
    let Value::Object(mut fields) = value else {
        return Err(DecodeError::NotAnObject);
    };

    let id = required_str(&mut fields, "id")?;
    let id = id
        .parse::<EventId>()
        .map_err(|error| DecodeError::InvalidField {
            field: "id",
            reason: error.to_string(),
        })?;
    let event_type = required_str(&mut fields, "type")?;
    let version = match take_present(&mut fields, "version") {
        None => return Err(DecodeError::MissingField { field: "version" }),
        Some(value) => value.as_u64().ok_or_else(|| DecodeError::InvalidField {
            field: "version",
            reason: format!("expected a non-negative integer, found {value}"),
        })?,
    };

    let known: Vec<u32> = E::CATALOG
        .iter()
        .filter(|spec| spec.event_type == event_type)
        .map(|spec| spec.version)
        .collect();
    if known.is_empty() {
        return Err(DecodeError::UnknownType {
            exchange: E::EXCHANGE,
            event_type,
        });
    }
    let Some(version) = u32::try_from(version).ok().filter(|v| known.contains(v)) else {
        return Err(DecodeError::UnknownVersion {
            event_type,
            version,
            known,
        });
    };

    let occurred_at = required_str(&mut fields, "occurred_at")?;
    let occurred_at =
        DateTime::parse_from_rfc3339(&occurred_at).map_err(|error| DecodeError::InvalidField {
            field: "occurred_at",
            reason: format!("expected an rfc 3339 time with offset: {error}"),
        })?;
    let producer = Producer::new(required_str(&mut fields, "source")?);
    let correlation_id = match take_present(&mut fields, "correlation_id") {
        None => None,
        Some(Value::String(id)) => Some(CorrelationId::new(id)),
        Some(other) => {
            return Err(DecodeError::InvalidField {
                field: "correlation_id",
                reason: format!("expected a string, found {other}"),
            });
        }
    };
    let payload = take_present(&mut fields, "payload")
        .ok_or(DecodeError::MissingField { field: "payload" })?;

    let event = match E::deserialize_payload(&event_type, version, payload) {
        Some(Ok(event)) => event,
        Some(Err(error)) => {
            let path = error.path().to_string();
            return Err(DecodeError::InvalidPayload {
                event_type,
                version,
                // serde_path_to_error writes the root as ".".
                path: if path == "." {
                    "payload".to_owned()
                } else {
                    format!("payload.{path}")
                },
                reason: error.into_inner().to_string(),
            });
        }
        // Unreachable after the catalog check above, but the catalog and the match are
        // generated separately, so answer with the honest error rather than panic.
        None => {
            return Err(DecodeError::UnknownVersion {
                event_type,
                version: version.into(),
                known,
            });
        }
    };

    Ok(Envelope {
        id,
        occurred_at,
        producer,
        correlation_id,
        event,
    })
}

/// Removes a field, treating JSON `null` as absent.
fn take_present(fields: &mut Map<String, Value>, name: &str) -> Option<Value> {
    fields.remove(name).filter(|value| !value.is_null())
}

/// Removes a required string field.
fn required_str(
    fields: &mut Map<String, Value>,
    name: &'static str,
) -> Result<String, DecodeError> {
    match take_present(fields, name) {
        None => Err(DecodeError::MissingField { field: name }),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(DecodeError::InvalidField {
            field: name,
            reason: format!("expected a string, found {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{AmiLastGasp, FieldEvent};
    use crate::outage::OutageEvent;

    const GOOD: &str = r#"{"id": "0193a1f2-7c3e-7b1a-9a53-2f4f0c1d9e01", "type": "ami.last_gasp",
        "version": 1, "occurred_at": "2026-11-26T14:03:11.250+08:00", "source": "ami",
        "payload": {"meter": "C1001"}}"#;

    /// `GOOD` with one top-level field replaced (or removed, for `None`).
    fn with(field: &str, value: Option<Value>) -> Vec<u8> {
        let mut body: Value = serde_json::from_str(GOOD).unwrap();
        let object = body.as_object_mut().unwrap();
        match value {
            Some(value) => object.insert(field.to_owned(), value),
            None => object.remove(field),
        };
        serde_json::to_vec(&body).unwrap()
    }

    fn field_error(body: &[u8]) -> DecodeError {
        decode::<FieldEvent>(body).unwrap_err()
    }

    #[test]
    fn the_reference_body_decodes() {
        let envelope = decode::<FieldEvent>(GOOD.as_bytes()).unwrap();
        assert_eq!(
            envelope.event,
            FieldEvent::AmiLastGasp(AmiLastGasp {
                meter: "C1001".into()
            })
        );
    }

    #[test]
    fn version_2_is_rejected_naming_type_and_version() {
        let error = field_error(&with("version", Some(2.into())));
        assert!(
            matches!(&error, DecodeError::UnknownVersion { event_type, version: 2, known }
                if event_type == "ami.last_gasp" && known == &[1]),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "unknown schema version 2 of `ami.last_gasp` (this build knows [1])"
        );
    }

    #[test]
    fn each_missing_required_envelope_field_is_named() {
        for field in ["id", "type", "version", "occurred_at", "source", "payload"] {
            let error = field_error(&with(field, None));
            assert!(
                matches!(&error, DecodeError::MissingField { field: missing } if *missing == field),
                "{field}: {error:?}"
            );
            let error = field_error(&with(field, Some(Value::Null)));
            assert!(
                matches!(&error, DecodeError::MissingField { .. }),
                "{field}: {error:?}"
            );
        }
        assert_eq!(
            field_error(&with("id", None)).to_string(),
            "envelope lacks `id`"
        );
    }

    #[test]
    fn malformed_envelope_fields_are_named() {
        let cases = [
            ("id", Value::from("not-a-uuid")),
            ("id", Value::from(7)),
            ("version", Value::from("1")),
            ("version", Value::from(-1)),
            ("version", Value::from(1.5)),
            ("occurred_at", Value::from("2026-11-26T14:03:11")),
            ("occurred_at", Value::from("yesterday")),
            ("source", Value::from(12)),
            ("correlation_id", Value::from(12)),
        ];
        for (field, value) in cases {
            let error = field_error(&with(field, Some(value.clone())));
            assert!(
                matches!(&error, DecodeError::InvalidField { field: named, .. } if *named == field),
                "{field} = {value}: {error:?}"
            );
        }
    }

    #[test]
    fn bad_json_and_bad_utf8_are_told_apart() {
        assert!(matches!(field_error(b"{\"id\": "), DecodeError::NotJson(_)));
        assert!(matches!(
            field_error(b"\xff\xfe{}"),
            DecodeError::NotUtf8(_)
        ));
        assert!(matches!(field_error(b"[1, 2]"), DecodeError::NotAnObject));
        assert!(matches!(field_error(b""), DecodeError::NotJson(_)));
    }

    #[test]
    fn an_unknown_type_is_rejected_naming_type_and_exchange() {
        let error = field_error(&with("type", Some("scada.breaker.exploded".into())));
        assert_eq!(
            error.to_string(),
            "unknown event type `scada.breaker.exploded` on exchange fudian.field"
        );
    }

    #[test]
    fn a_type_of_another_exchange_is_unknown_here() {
        let error = decode::<OutageEvent>(GOOD.as_bytes()).unwrap_err();
        assert!(
            matches!(
                &error,
                DecodeError::UnknownType {
                    exchange: "fudian.outage",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_correlation_id_is_kept_and_a_null_one_is_none() {
        let envelope = decode::<FieldEvent>(&with("correlation_id", Some("c-7".into()))).unwrap();
        assert_eq!(envelope.correlation_id, Some(CorrelationId::new("c-7")));
        let envelope = decode::<FieldEvent>(&with("correlation_id", Some(Value::Null))).unwrap();
        assert_eq!(envelope.correlation_id, None);
    }

    #[test]
    fn new_envelopes_get_a_v7_id_and_shanghai_time() {
        let envelope = Envelope::new(
            "fudian-test",
            FieldEvent::AmiLastGasp(AmiLastGasp { meter: "C1".into() }),
        );
        assert_eq!(envelope.id.as_uuid().get_version_num(), 7);
        assert_eq!(envelope.occurred_at.offset().local_minus_utc(), 8 * 3600);
        assert_eq!(envelope.occurred_at.timestamp_subsec_nanos() % 1_000_000, 0);
        let body: Value = serde_json::from_slice(&envelope.to_json()).unwrap();
        assert!(body["occurred_at"].as_str().unwrap().ends_with("+08:00"));
        assert!(body.get("correlation_id").is_none());
    }

    #[test]
    fn to_wire_uses_the_event_id_and_the_type() {
        let envelope = Envelope::new(
            "fudian-test",
            FieldEvent::AmiLastGasp(AmiLastGasp { meter: "C1".into() }),
        )
        .correlated(EventId::new_v7());
        let wire = envelope.to_wire();
        assert_eq!(wire.exchange, "fudian.field");
        assert_eq!(wire.routing_key, "ami.last_gasp");
        assert_eq!(wire.message_id, envelope.id.to_string());
        assert!(wire.headers.is_empty());
        assert_eq!(decode::<FieldEvent>(&wire.body).unwrap(), envelope);
    }
}
