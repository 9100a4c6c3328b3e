//! Cross-service scenarios of fudian: tests that start several services on one bus and
//! store and follow an event from the field to the customer (for example a breaker trip
//! through the outage service to dispatch and notify).
//!
//! Empty for now: only the outage service is wired. Each service's own end-to-end tests,
//! against the real RabbitMQ and PostgreSQL, live in its crate under `tests/it/`.
