//! The one error type of the bus crate and its transient/permanent split.

/// Everything that can go wrong on the bus, for both the RabbitMQ and the in-process backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The broker could not be reached or the connection broke.
    #[error("broker connection failed: {0}")]
    Connection(String),
    /// The broker closed a channel or refused an operation for a reason worth retrying.
    #[error("broker operation failed: {0}")]
    Broker(String),
    /// The broker refused the operation for good (access refused, conflicting declaration).
    #[error("broker refused the operation: {0}")]
    Refused(String),
    /// A `mandatory` publish matched no queue.
    #[error(
        "message {message_id} to exchange {exchange} with routing key {routing_key} is unroutable"
    )]
    Unroutable {
        /// Exchange the message was published to.
        exchange: String,
        /// Routing key that matched no binding.
        routing_key: String,
        /// The message id (event id).
        message_id: String,
    },
    /// The broker negatively acknowledged a publish (it could not store the message).
    #[error("broker did not accept message {message_id}")]
    Nacked {
        /// The message id (event id).
        message_id: String,
    },
    /// Publishing to, or binding to, an exchange nobody declared.
    #[error("exchange {0} is not declared")]
    UnknownExchange(String),
    /// Reading from a queue nobody declared.
    #[error("queue {0} is not declared")]
    UnknownQueue(String),
    /// A spec or message that cannot be sent as given (name too long, zero prefetch, ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What is invalid, e.g. `queue spec outage.field-events`.
        what: String,
        /// Why.
        reason: String,
    },
    /// The bus was closed with [`crate::Bus::close`].
    #[error("the bus is closed")]
    Closed,
    /// Reconnecting kept failing for longer than the configured patience.
    #[error("broker unavailable, gave up after {attempts} attempts: {last_error}")]
    Unavailable {
        /// Connection attempts made.
        attempts: usize,
        /// The last error seen.
        last_error: String,
    },
}

impl BusError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connection(_) | Self::Broker(_) | Self::Nacked { .. } | Self::Unavailable { .. }
        )
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl From<lapin::Error> for BusError {
    fn from(error: lapin::Error) -> Self {
        use lapin::ErrorKind;
        use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
        match error.kind() {
            ErrorKind::ProtocolError(amqp) => match amqp.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) => Self::Refused(error.to_string()),
                AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
                | AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => {
                    Self::Refused(error.to_string())
                }
                _ => Self::Broker(error.to_string()),
            },
            ErrorKind::IOError(_)
            | ErrorKind::RuntimeShutdownError(_)
            | ErrorKind::MissingHeartbeatError
            | ErrorKind::InvalidConnectionState(_) => Self::Connection(error.to_string()),
            _ => Self::Broker(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unroutable_is_permanent_and_connection_loss_is_transient() {
        let unroutable = BusError::Unroutable {
            exchange: "fudian.field".into(),
            routing_key: "nobody.listens".into(),
            message_id: "m1".into(),
        };
        assert!(!unroutable.is_transient());
        assert!(BusError::Connection("reset".into()).is_transient());
        assert!(!BusError::Closed.is_transient());
    }
}
