//! Why a message body could not be decoded. Each variant is a distinct dead-letter reason,
//! so the message (its `Display`) is written for the operator who reads the dead letters.

/// A message body that is not a valid event of the expected exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not UTF-8.
    #[error("body is not utf-8: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// The body is UTF-8 but not JSON.
    #[error("body is not json: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("body is not a json object")]
    NotAnObject,
    /// A required envelope field is absent or null.
    #[error("envelope lacks `{field}`")]
    MissingField {
        /// The JSON name of the field.
        field: &'static str,
    },
    /// An envelope field is present but malformed (an id that is not a UUID, a time
    /// without offset, ...).
    #[error("envelope field `{field}` is invalid: {reason}")]
    InvalidField {
        /// The JSON name of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `type` is not one this exchange carries.
    #[error("unknown event type `{event_type}` on exchange {exchange}")]
    UnknownType {
        /// The exchange whose events were expected.
        exchange: &'static str,
        /// The type found in the envelope.
        event_type: String,
    },
    /// The type is known but not in this schema version.
    #[error("unknown schema version {version} of `{event_type}` (this build knows {known:?})")]
    UnknownVersion {
        /// The type found in the envelope.
        event_type: String,
        /// The version found in the envelope.
        version: u64,
        /// The versions of this type this build decodes.
        known: Vec<u32>,
    },
    /// The payload does not match the type's schema.
    #[error("invalid payload of `{event_type}` version {version} at `{path}`: {reason}")]
    InvalidPayload {
        /// The type found in the envelope.
        event_type: String,
        /// The version found in the envelope.
        version: u32,
        /// Where in the body the problem is, e.g. `payload.cause` (`payload` when the
        /// payload as a whole is wrong, e.g. a required field is missing).
        path: String,
        /// serde's message, e.g. ``unknown variant `explode`, expected one of ...``.
        reason: String,
    },
}

impl DecodeError {
    /// Always `false`: the same body fails the same way on every retry, so the consumer
    /// dead-letters it at once.
    pub fn is_transient(&self) -> bool {
        false
    }
}
