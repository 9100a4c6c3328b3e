//! The AsyncAPI 3.0 document of every fudian message, built from the Rust types: one
//! channel per (exchange, routing key), one operation per channel (`receive` for what the
//! field systems publish, `send` for what fudian publishes), one message per (type,
//! version) whose payload is the envelope with that type's payload schema (schemars,
//! JSON Schema draft-07 as AsyncAPI's Schema Object expects).
//!
//! `docs/asyncapi.yaml` is this document written out; a test fails when they differ and
//! rewrites the file when run with `UPDATE_ASYNCAPI=1`.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::envelope::WireEnvelope;
use crate::{
    CallEvent, Direction, DispatchEvent, Envelope, Event, EventSpec, FieldEvent, OutageEvent,
    PlannedEvent, examples,
};

/// Every event spec of every exchange, in the order: field, outage, dispatch, planned.
pub fn all_specs() -> impl Iterator<Item = &'static EventSpec> {
    FieldEvent::CATALOG
        .iter()
        .chain(OutageEvent::CATALOG)
        .chain(CallEvent::CATALOG)
        .chain(DispatchEvent::CATALOG)
        .chain(PlannedEvent::CATALOG)
}

/// The AsyncAPI document. Its parts are structs so that the YAML reads top-down
/// (address before bindings, summary before payload); maps are sorted by key.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncApiDocument {
    asyncapi: &'static str,
    info: Value,
    default_content_type: &'static str,
    servers: Value,
    channels: BTreeMap<String, Channel>,
    operations: BTreeMap<String, Operation>,
    components: Components,
}

#[derive(Debug, Clone, Serialize)]
struct Channel {
    address: &'static str,
    title: &'static str,
    description: String,
    messages: BTreeMap<String, Value>,
    bindings: Value,
}

#[derive(Debug, Clone, Serialize)]
struct Operation {
    action: &'static str,
    summary: &'static str,
    channel: Value,
    messages: Vec<Value>,
    bindings: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    name: &'static str,
    title: String,
    summary: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    content_type: &'static str,
    payload: Value,
    examples: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
struct Components {
    messages: BTreeMap<String, Message>,
    schemas: Map<String, Value>,
}

impl AsyncApiDocument {
    /// The document as a JSON value.
    pub fn to_value(&self) -> Value {
        // Strings, JSON values and maps with string keys: the conversion cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The AsyncAPI document as a JSON value (what `docs/asyncapi.yaml` must equal).
pub fn asyncapi_document() -> Value {
    document().to_value()
}

/// Builds the AsyncAPI document from the event catalogs, payload types and examples.
pub fn document() -> AsyncApiDocument {
    let mut generator = SchemaSettings::draft07()
        .with(|settings| {
            // AsyncAPI keeps reusable schemas under components.schemas, and a meta-schema
            // URI has no place inside a message payload.
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator();
    let envelope_ref = generator.subschema_for::<WireEnvelope<'static, Value>>();
    let examples = examples_by_type();

    let mut channels = BTreeMap::new();
    let mut operations = BTreeMap::new();
    let mut messages = BTreeMap::new();
    for spec in all_specs() {
        let channel_id = spec.event_type;
        let message_id = format!("{}.v{}", spec.event_type, spec.version);
        let (action, operation_bindings) = match spec.direction {
            Direction::Send => (
                "send",
                json!({"amqp": {"deliveryMode": 2, "mandatory": true, "bindingVersion": "0.3.0"}}),
            ),
            Direction::Receive => (
                "receive",
                json!({"amqp": {"ack": true, "bindingVersion": "0.3.0"}}),
            ),
        };

        channels.insert(
            channel_id.to_owned(),
            Channel {
                address: spec.event_type,
                title: spec.event_type,
                description: format!(
                    "Routing key `{}` on the durable topic exchange `{}`.",
                    spec.event_type, spec.exchange
                ),
                messages: BTreeMap::from([(
                    message_id.clone(),
                    json!({"$ref": format!("#/components/messages/{message_id}")}),
                )]),
                bindings: json!({"amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": spec.exchange,
                        "type": "topic",
                        "durable": true,
                        "autoDelete": false,
                        "vhost": "/"
                    },
                    "bindingVersion": "0.3.0"
                }}),
            },
        );
        operations.insert(
            format!("{action}.{}", spec.event_type),
            Operation {
                action,
                summary: spec.summary(),
                channel: json!({"$ref": format!("#/channels/{channel_id}")}),
                messages: vec![json!({
                    "$ref": format!("#/channels/{channel_id}/messages/{message_id}")
                })],
                bindings: operation_bindings,
            },
        );
        messages.insert(
            message_id,
            Message {
                name: spec.event_type,
                title: format!("{} (version {})", spec.event_type, spec.version),
                summary: spec.summary(),
                description: doc_body(spec.doc),
                content_type: "application/json",
                payload: json!({
                    "allOf": [envelope_ref.clone()],
                    "properties": {
                        "type": {"const": spec.event_type},
                        "version": {"const": spec.version},
                        "payload": (spec.payload_schema)(&mut generator)
                    }
                }),
                examples: examples
                    .get(spec.event_type)
                    .map(|payload| vec![json!({"name": "example", "payload": payload})])
                    .unwrap_or_default(),
            },
        );
    }

    AsyncApiDocument {
        asyncapi: "3.0.0",
        info: json!({
            "title": "fudian events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every message of fudian (复电), the outage-dispatch and \
                customer-notification suite, on its four RabbitMQ topic exchanges: \
                `fudian.field` (the utility's field systems; an external contract), \
                `fudian.outage`, `fudian.dispatch` and `fudian.planned`. Every body is a \
                UTF-8 JSON envelope whose `type` is the routing key; the AMQP `message_id` \
                is the envelope `id`, `content_type` is `application/json` and messages are \
                persistent. Unknown fields are ignored. Consumers dead-letter bodies that \
                are not JSON, lack `id`/`type`/`version`, or have a version they do not \
                know.\n\n\
                Generated from the Rust types of `libs/fudian-events`: change those, then \
                run `UPDATE_ASYNCAPI=1 cargo test -p fudian-events asyncapi`."
        }),
        default_content_type: "application/json",
        servers: json!({
            "rabbitmq": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The broker; set by FUDIAN_AMQP_URL in production."
            }
        }),
        channels,
        operations,
        components: Components {
            messages,
            schemas: generator.take_definitions(true),
        },
    }
}

/// The wire JSON of each example envelope, by type.
fn examples_by_type() -> BTreeMap<&'static str, Value> {
    fn bodies<E: Event>(envelopes: Vec<Envelope<E>>) -> Vec<(&'static str, Value)> {
        envelopes
            .iter()
            .map(|envelope| {
                let body = serde_json::to_value(envelope).unwrap_or(Value::Null);
                (envelope.event_type(), body)
            })
            .collect()
    }
    bodies(examples::field())
        .into_iter()
        .chain(bodies(examples::outage()))
        .chain(bodies(examples::call()))
        .chain(bodies(examples::dispatch()))
        .chain(bodies(examples::planned()))
        .collect()
}

/// A doc comment without its first (summary) line, or `None` if nothing is left.
fn doc_body(doc: &str) -> Option<String> {
    let lines: Vec<&str> = doc.lines().map(str::trim).skip(1).collect();
    let body = lines.join("\n").trim().to_owned();
    (!body.is_empty()).then_some(body)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;
    use crate::{call, dispatch, field, outage, planned};

    fn asyncapi_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/asyncapi.yaml")
    }

    /// The JSON pointer of the first place two values differ, for a readable failure.
    fn first_difference(left: &Value, right: &Value, at: String) -> Option<String> {
        match (left, right) {
            (Value::Object(l), Value::Object(r)) => {
                let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
                keys.into_iter()
                    .find_map(|key| match (l.get(key), r.get(key)) {
                        (Some(a), Some(b)) => first_difference(a, b, format!("{at}/{key}")),
                        _ => Some(format!("{at}/{key}")),
                    })
            }
            (Value::Array(l), Value::Array(r)) if l.len() == r.len() => l
                .iter()
                .zip(r)
                .enumerate()
                .find_map(|(i, (a, b))| first_difference(a, b, format!("{at}/{i}"))),
            _ => (left != right).then_some(at),
        }
    }

    #[test]
    fn asyncapi_yaml_in_docs_matches_the_rust_types() {
        let generated = document();
        let path = asyncapi_path();
        if std::env::var_os("UPDATE_ASYNCAPI").is_some() {
            let yaml = serde_yaml_ng::to_string(&generated).unwrap();
            let header = "# AsyncAPI document of every fudian message. GENERATED from the Rust types \
                          of libs/fudian-events:\n# do not edit; change the types and run \
                          `UPDATE_ASYNCAPI=1 cargo test -p fudian-events asyncapi`.\n";
            // Write then rename, so a test reading the file in parallel never sees half.
            let partial = path.with_extension("yaml.partial");
            std::fs::write(&partial, format!("{header}{yaml}")).unwrap();
            std::fs::rename(&partial, &path).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let on_disk: Value = serde_yaml_ng::from_str(&text).unwrap();
        let expected = generated.to_value();
        assert!(
            on_disk == expected,
            "docs/asyncapi.yaml disagrees with the Rust types at {:?}; \
             run UPDATE_ASYNCAPI=1 cargo test -p fudian-events asyncapi",
            first_difference(&on_disk, &expected, String::new())
        );
    }

    #[test]
    fn every_routing_key_const_has_a_channel_in_the_document_and_back() {
        let consts = [
            (field::EXCHANGE, field::SCADA_SWITCH_OPENED),
            (field::EXCHANGE, field::SCADA_SWITCH_CLOSED),
            (field::EXCHANGE, field::FPI_FAULT),
            (field::EXCHANGE, field::AMI_LAST_GASP),
            (field::EXCHANGE, field::AMI_POWER_RESTORED),
            (field::EXCHANGE, field::AMI_PING_RESULT),
            (field::EXCHANGE, field::AMI_PING_REQUEST),
            (field::EXCHANGE, field::CALL_TROUBLE),
            (field::EXCHANGE, field::CREW_REPORT),
            (outage::EXCHANGE, outage::OUTAGE_DETECTED),
            (outage::EXCHANGE, outage::OUTAGE_UPDATED),
            (outage::EXCHANGE, outage::OUTAGE_RESTORED),
            (outage::EXCHANGE, outage::OUTAGE_CANCELLED),
            (outage::EXCHANGE, call::CALL_ANSWERED),
            (dispatch::EXCHANGE, dispatch::WORKORDER_CREATED),
            (dispatch::EXCHANGE, dispatch::WORKORDER_ASSIGNED),
            (dispatch::EXCHANGE, dispatch::WORKORDER_STATUS),
            (dispatch::EXCHANGE, dispatch::OUTAGE_ETR),
            (planned::EXCHANGE, planned::PLANNED_APPROVED),
            (planned::EXCHANGE, planned::PLANNED_STARTED),
            (planned::EXCHANGE, planned::PLANNED_COMPLETED),
            (planned::EXCHANGE, planned::PLANNED_CANCELLED),
        ]
        .map(|(exchange, key)| (exchange.to_owned(), key.to_owned()));
        let consts: BTreeSet<(String, String)> = consts.into_iter().collect();
        let catalog: BTreeSet<(String, String)> = all_specs()
            .map(|spec| (spec.exchange.to_owned(), spec.event_type.to_owned()))
            .collect();
        assert_eq!(consts, catalog, "routing key consts and catalogs differ");

        let text = std::fs::read_to_string(asyncapi_path()).unwrap();
        let on_disk: Value = serde_yaml_ng::from_str(&text).unwrap();
        let channels: BTreeSet<(String, String)> = on_disk["channels"]
            .as_object()
            .unwrap()
            .values()
            .map(|channel| {
                let exchange = &channel["bindings"]["amqp"]["exchange"]["name"];
                let address = &channel["address"];
                (
                    exchange.as_str().unwrap().to_owned(),
                    address.as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            consts, channels,
            "docs/asyncapi.yaml channels differ from the consts"
        );
    }

    #[test]
    fn event_types_are_unique_across_exchanges() {
        let types: Vec<&str> = all_specs().map(|spec| spec.event_type).collect();
        let unique: BTreeSet<&str> = types.iter().copied().collect();
        assert_eq!(types.len(), unique.len());
    }

    #[test]
    fn every_message_references_a_payload_schema_that_exists() {
        let document = asyncapi_document();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for (id, message) in document["components"]["messages"].as_object().unwrap() {
            let payload = &message["payload"]["properties"]["payload"]["$ref"];
            let name = payload
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .unwrap_or_else(|| panic!("{id} has no payload $ref"));
            assert!(
                schemas.contains_key(name),
                "{id} refers to missing schema {name}"
            );
        }
        assert!(schemas.contains_key("Envelope"));
    }

    #[test]
    fn every_message_has_an_example_of_its_own_type_and_version() {
        let document = asyncapi_document();
        for (id, message) in document["components"]["messages"].as_object().unwrap() {
            let example = &message["examples"][0]["payload"];
            assert_eq!(example["type"], message["name"], "{id}");
            assert_eq!(
                example["version"], message["payload"]["properties"]["version"]["const"],
                "{id}"
            );
        }
    }

    #[test]
    fn the_envelope_schema_requires_what_decode_requires() {
        let document = asyncapi_document();
        let required: BTreeSet<&str> = document["components"]["schemas"]["Envelope"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let expected: BTreeSet<&str> =
            ["id", "type", "version", "occurred_at", "source", "payload"].into();
        assert_eq!(required, expected);
    }
}
