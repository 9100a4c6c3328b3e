//! Why the engine refused an input: each variant names what is wrong, so the consumer can
//! dead-letter the message with a reason (or retry it later, see `is_transient`).

use fudian_events::ids::EventId;

/// An input the engine cannot apply. The engine's state is unchanged when one is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("event {0} was already handled")]
    Duplicate(EventId),
    #[error("unknown element `{0}`")]
    UnknownElement(String),
    #[error("element `{0}` is not a switch")]
    NotASwitch(String),
    #[error("unknown customer `{0}`")]
    UnknownCustomer(String),
    #[error("unknown incident `{0}`")]
    UnknownIncident(String),
    #[error("unknown or expired ping request `{0}`")]
    UnknownPingRequest(String),
    #[error("meter `{meter}` was not asked in ping request `{request}`")]
    MeterNotPinged { request: String, meter: String },
    #[error("switch `{0}` is already open")]
    AlreadyOpen(String),
    #[error("switch `{0}` is already closed (a close before its opening?)")]
    AlreadyClosed(String),
    #[error("{what} at {occurred_at} is older than the last change at {last_change}")]
    OutOfOrder {
        what: String,
        occurred_at: String,
        last_change: String,
    },
    #[error("call `{0}` names neither a customer nor a location")]
    CallWithoutPlace(String),
    #[error("call `{call}` location ({lon}, {lat}) is near no customer or line")]
    CallNotPlaced { call: String, lon: f64, lat: f64 },
    #[error("event type `{0}` is not for the outage engine")]
    NotForEngine(&'static str),
    #[error("state does not fit this grid: {0}")]
    GridMismatch(String),
}

impl EngineError {
    /// Whether the input may succeed later: a close that arrives before the opening it
    /// undoes is worth a delayed retry; everything else goes to the dead letters.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::AlreadyClosed(_))
    }
}
