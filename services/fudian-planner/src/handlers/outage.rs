//! The consumer of `fudian.outage`: incidents tell which switching is planned, and each
//! restoration ends unplanned interruptions that consume the fault share of the budgets.
//! Undecodable or impossible events are dead-lettered with the reason; a store failure is
//! retried.

use std::sync::Arc;

use fudian_bus::{Delivery, HandlerError, QueueSpec};

use crate::config::PlannerConfig;
use crate::service::{Planner, Verdict};

/// The queue, its binding and its retry policy.
pub fn queue_spec(config: &PlannerConfig) -> QueueSpec {
    QueueSpec::new(config.queue.clone())
        .prefetch(config.prefetch)
        .max_attempts(config.max_attempts)
        .retry_delays(config.retry_delays())
        .bind(config.exchanges.outage.clone(), "outage.*")
}

/// Handles one delivery; `Ok` only after the transaction committed.
pub async fn handle(planner: Arc<Planner>, delivery: Delivery) -> Result<(), HandlerError> {
    match planner.apply_outage_event(&delivery.message.body).await {
        Verdict::Done => {
            metrics::counter!("fudian_planner_outage_events_total").increment(1);
            Ok(())
        }
        Verdict::Permanent(reason) => {
            tracing::warn!(
                message.id = %delivery.message.message_id,
                message.routing_key = %delivery.message.routing_key,
                error = %reason,
                "outage event dead-lettered"
            );
            metrics::counter!("fudian_planner_dead_lettered_total").increment(1);
            Err(HandlerError::Permanent(reason))
        }
        Verdict::Transient(reason) => Err(HandlerError::Transient(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_binds_every_outage_event_and_nothing_else() {
        let spec = queue_spec(&PlannerConfig::default());
        assert_eq!(
            spec.bindings,
            vec![("fudian.outage".to_owned(), "outage.*".to_owned())]
        );
    }
}
