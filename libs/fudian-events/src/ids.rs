//! Identifier newtypes carried in events: the event id (a UUID) and the string ids of the
//! grid package, the customer system, the call center and fudian's own records.
//!
//! Grid and customer ids are whatever the utility's systems use (`S12`, `0531000123`), so
//! they stay strings; the types only keep a customer id from being passed as a switch id.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Unique id of one event. fudian stamps UUIDv7 (time-ordered, so ids sort by creation);
/// field systems may send any UUID version. Senders retry, so one id can arrive twice:
/// consumers are idempotent on it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A fresh time-ordered (v7) id, for events fudian produces.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hyphenated lowercase: the form used in `message_id` and in the JSON body.
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl From<Uuid> for EventId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

/// Declares a string id newtype with the conversions every id needs.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as given by the system that owns it.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}

string_id!(
    /// Id of an element of the grid package (`properties.id` in `network.geojson`): a
    /// switch, line, transformer or bus.
    ElementId
);
string_id!(
    /// Customer account number (`id` in `customers.csv`); AMI meters are named by it too.
    CustomerId
);
string_id!(
    /// Id of an outage incident, assigned by the outage service.
    IncidentId
);
string_id!(
    /// Id of a repair crew (`id` in `crews.csv`).
    CrewId
);
string_id!(
    /// Id of a repair grid cell (网格, `properties.id` in `cells.geojson`).
    CellId
);
string_id!(
    /// Id of a repair work order, assigned by the dispatch service.
    WorkOrderId
);
string_id!(
    /// Id of a planned outage job (计划停电), assigned by the planner.
    PlannedJobId
);
string_id!(
    /// Id of a 95598 call, assigned by the call center.
    CallId
);
string_id!(
    /// Id of one meter ping request; the AMI head-end echoes it in each result.
    PingRequestId
);
string_id!(
    /// Name of the system or service that produced an event (`scada-dongying`,
    /// `fudian-outage`); the JSON field is `source`.
    Producer
);
string_id!(
    /// Ties events of one causal chain together, e.g. the id of the field event that
    /// started an incident, so one fault can be followed to the last notice.
    CorrelationId
);

impl PingRequestId {
    /// A fresh unique request id (a UUIDv7 in text form).
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7().to_string())
    }
}

impl From<EventId> for CorrelationId {
    fn from(id: EventId) -> Self {
        Self(id.to_string())
    }
}

impl From<&IncidentId> for CorrelationId {
    fn from(id: &IncidentId) -> Self {
        Self(id.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_prints_and_parses_as_a_hyphenated_uuid() {
        let id = EventId::new_v7();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<EventId>().unwrap(), id);
        assert_eq!(id.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn string_ids_serialize_as_bare_strings() {
        let id = CustomerId::new("0531000123");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""0531000123""#);
        assert_eq!(
            serde_json::from_str::<CustomerId>(r#""0531000123""#).unwrap(),
            id
        );
    }
}
