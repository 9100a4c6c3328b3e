//! `call.answered` on `fudian.outage`: the outage service's answer to a 95598 trouble call,
//! for the call-center system (停电报备: the agent tells the caller the outage is known,
//! since when and until when, instead of opening a repair ticket).
//!
//! Its own module (and enum) because it is not an incident event: consumers of
//! `outage.*` never see it.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CallId, IncidentId};
use crate::outage::{EXCHANGE, IncidentState};

event_enum! {
    /// Answers to trouble calls, on `fudian.outage`.
    pub enum CallEvent on EXCHANGE {
        /// A trouble call was matched to a known incident, or found none.
        Answered(CallAnswer): CALL_ANSWERED = "call.answered", version 1, Send;
    }
}

/// Payload of `call.answered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallAnswer {
    /// The call answered (`call_id` of its `call.trouble`).
    pub call_id: CallId,
    /// The incident the call belongs to; `None` when no known outage covers the caller.
    pub incident: Option<IncidentId>,
    /// Where that incident stands.
    pub state: Option<IncidentState>,
    /// Since when the caller's supply is out, if an incident covers them.
    pub started_at: Option<DateTime<FixedOffset>>,
    /// The incident's estimated restoration time, if known.
    pub etr: Option<DateTime<FixedOffset>>,
    /// What the agent can read to the caller, in Chinese.
    pub message: String,
}
