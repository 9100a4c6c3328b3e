//! The dispatch model made durable: it owns the [`Model`] behind one lock and applies
//! consumed batches, API requests and timer ticks each in one store transaction (inbox
//! marks, changed orders and crews, outbox events), re-planning once per transaction.
//!
//! Why no journal (unlike the outage service): the model's state is small and is written
//! as rows as it changes (only the changed ones), so the tables themselves are the
//! snapshot; a restart reads the open orders and the crews back. When a transaction fails
//! after the model moved on, the model is rebuilt from the store before its next use.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, FixedOffset};
use fudian_bus::{Delivery, HandlerError, WireMessage};
use fudian_events::dispatch::DispatchEvent;
use fudian_events::envelope::{Envelope, now_shanghai};
use fudian_events::field::FieldEvent;
use fudian_grid::Grid;
use fudian_store::{Store, Tx};
use tokio::sync::Mutex;

use crate::core::config::DispatchConfig;
use crate::error::{ApiError, ServiceError};
use crate::handlers::events::{self, Decoded};
use crate::model::{Model, ModelError};
use crate::store;

/// The model, its store and its configuration.
pub struct Runtime {
    grid: Arc<Grid>,
    store: Store,
    config: DispatchConfig,
    slot: Mutex<Slot>,
}

struct Slot {
    model: Model,
    /// The model moved past what the store holds (a commit failed): rebuild before use.
    stale: bool,
}

/// Builds the model from the grid and what the store holds.
async fn load(
    grid: &Arc<Grid>,
    store: &Store,
    config: &DispatchConfig,
) -> Result<Model, ServiceError> {
    let mut model = Model::new(Arc::clone(grid), config.clone())?;
    let crews = store::load_crews(store).await?;
    let open = store::load_open_orders(store).await?;
    let finished = store::load_finished_incidents(store).await?;
    // Enough recent repairs to fill the median window of every common kind.
    let recent = i64::try_from(config.history_window.saturating_mul(50)).unwrap_or(i64::MAX);
    let history = store::load_repaired(store, recent).await?;
    let restored = open.len();
    for warning in model.restore(crews, open, finished, history) {
        tracing::warn!(warning = %warning, "dispatch state row skipped");
    }
    tracing::info!(work_order.count = restored, "dispatch state restored");
    Ok(model)
}

impl Runtime {
    /// Rebuilds the model from the store.
    pub async fn open(
        grid: Arc<Grid>,
        store: Store,
        config: DispatchConfig,
    ) -> Result<Self, ServiceError> {
        let model = load(&grid, &store, &config).await?;
        Ok(Self {
            grid,
            store,
            config,
            slot: Mutex::new(Slot {
                model,
                stale: false,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.config
    }

    /// Runs `read` on the model under its lock.
    pub async fn read<R>(&self, read: impl FnOnce(&Model) -> R) -> R {
        let slot = self.slot.lock().await;
        read(&slot.model)
    }

    async fn ensure_fresh(&self, slot: &mut Slot) -> Result<(), ServiceError> {
        if slot.stale {
            slot.model = load(&self.grid, &self.store, &self.config).await?;
            slot.stale = false;
        }
        Ok(())
    }

    /// Applies a batch of deliveries in one transaction; one outcome per delivery.
    pub async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Result<(), HandlerError>> {
        let mut outcomes = Vec::with_capacity(deliveries.len());
        let mut decoded = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            match events::decode(&self.config.exchanges, &delivery.message) {
                Ok(event) => {
                    decoded.push(Some(event));
                    outcomes.push(Ok(()));
                }
                Err(reason) => {
                    tracing::warn!(
                        message.id = %delivery.message.message_id,
                        message.routing_key = %delivery.message.routing_key,
                        error = %reason,
                        "dispatch event dead-lettered"
                    );
                    metrics::counter!("fudian_dispatch_dead_lettered_total", "reason" => "undecodable")
                        .increment(1);
                    decoded.push(None);
                    outcomes.push(Err(HandlerError::Permanent(reason)));
                }
            }
        }
        let mut slot = self.slot.lock().await;
        if let Err(error) = self.ensure_fresh(&mut slot).await {
            return fail_transiently(outcomes, &error);
        }
        let started = Instant::now();
        let now = now_shanghai();
        let mut core_failure = false;
        let result = self
            .apply_batch(
                &mut slot.model,
                &decoded,
                &mut outcomes,
                now,
                &mut core_failure,
            )
            .await;
        match result {
            Ok(()) => {
                for event in decoded.iter().flatten() {
                    metrics::counter!("fudian_dispatch_events_handled_total", "type" => event.event_type())
                        .increment(1);
                }
                if core_failure {
                    // A refused event may have left the model half-changed: start over
                    // from what was committed.
                    slot.stale = true;
                } else {
                    slot.model.prune();
                }
                metrics::gauge!("fudian_dispatch_work_orders_open")
                    .set(slot.model.open_orders() as f64);
                tracing::debug!(
                    batch.size = deliveries.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "dispatch batch applied"
                );
                outcomes
            }
            Err(error) => {
                tracing::error!(error = %error, batch.size = deliveries.len(), "dispatch batch failed, retrying it");
                slot.stale = true;
                fail_transiently(outcomes, &error)
            }
        }
    }

    /// Inbox mark, model change (or refusal, under a savepoint) per event, then one re-plan
    /// and the writes, in one transaction.
    async fn apply_batch(
        &self,
        model: &mut Model,
        decoded: &[Option<Decoded>],
        outcomes: &mut [Result<(), HandlerError>],
        now: DateTime<FixedOffset>,
        core_failure: &mut bool,
    ) -> Result<(), ServiceError> {
        let mut tx = self.store.begin().await?;
        let mut out = Vec::new();
        for (i, event) in decoded.iter().enumerate() {
            let Some(event) = event else { continue };
            store::savepoint(&mut tx).await?;
            if !tx
                .mark_processed(&self.config.consumer, &event.id().to_string())
                .await?
            {
                store::release_savepoint(&mut tx).await?;
                tracing::debug!(event.id = %event.id(), "duplicate event skipped");
                continue;
            }
            let mark = out.len();
            let applied = match event {
                Decoded::Outage(envelope) => model.apply_outage(&envelope.event, now, &mut out),
                Decoded::Field(envelope) => match &envelope.event {
                    FieldEvent::CrewReport(report) => {
                        model.apply_crew_report(report, now, &mut out)
                    }
                    _ => Ok(()),
                },
            };
            match applied {
                Ok(()) => store::release_savepoint(&mut tx).await?,
                Err(error) => {
                    // Undo the inbox mark: a corrected redelivery must not be skipped.
                    out.truncate(mark);
                    store::rollback_to_savepoint(&mut tx).await?;
                    store::release_savepoint(&mut tx).await?;
                    *core_failure |= matches!(error, ModelError::Core(_));
                    let reason = format!("{} refused: {error}", event.event_type());
                    tracing::warn!(event.id = %event.id(), error = %reason, "dispatch event dead-lettered");
                    metrics::counter!("fudian_dispatch_dead_lettered_total", "reason" => "refused")
                        .increment(1);
                    outcomes[i] = Err(HandlerError::Permanent(reason));
                }
            }
        }
        model.plan(now, &mut out)?;
        self.persist(&mut tx, model, out, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes the changed orders and crews and enqueues the events.
    async fn persist(
        &self,
        tx: &mut Tx,
        model: &mut Model,
        out: Vec<DispatchEvent>,
        now: DateTime<FixedOffset>,
    ) -> Result<(), ServiceError> {
        let orders = model.changed_orders();
        store::upsert_orders(tx, &orders, now.to_utc()).await?;
        let crews = model.changed_crews();
        store::upsert_crews(tx, &crews, now.to_utc()).await?;
        let wires: Vec<WireMessage> = out
            .into_iter()
            .map(|event| {
                let incident = event.incident().clone();
                let envelope =
                    Envelope::new(self.config.producer.as_str(), event).correlated(&incident);
                let mut wire = envelope.to_wire();
                wire.exchange.clone_from(&self.config.exchanges.dispatch);
                tracing::info!(
                    incident.id = %incident,
                    event.type = wire.routing_key,
                    "dispatch event published"
                );
                wire
            })
            .collect();
        tx.enqueue_all(&wires).await?;
        Ok(())
    }

    /// Runs `act` on the model (an API request), then re-plans and commits its effects.
    /// A refusal changes nothing.
    pub async fn act<T>(
        &self,
        act: impl FnOnce(
            &mut Model,
            DateTime<FixedOffset>,
            &mut Vec<DispatchEvent>,
        ) -> Result<T, ModelError>,
    ) -> Result<T, ApiError> {
        let mut slot = self.slot.lock().await;
        self.ensure_fresh(&mut slot).await?;
        let now = now_shanghai();
        let mut out = Vec::new();
        let value = match act(&mut slot.model, now, &mut out) {
            Ok(value) => value,
            Err(error) => {
                if matches!(error, ModelError::Core(_)) {
                    slot.stale = true;
                }
                return Err(error.into());
            }
        };
        let result = async {
            slot.model.plan(now, &mut out)?;
            let mut tx = self.store.begin().await?;
            self.persist(&mut tx, &mut slot.model, out, now).await?;
            tx.commit().await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        match result {
            Ok(()) => {
                slot.model.prune();
                Ok(value)
            }
            Err(error) => {
                slot.stale = true;
                Err(ApiError::Internal(error))
            }
        }
    }

    /// The timer: flags late orders, re-plans (shifts start and end) and recomputes the
    /// queue ETRs.
    pub async fn tick(&self) -> Result<(), ApiError> {
        self.act(|_, _, _| Ok(())).await
    }
}

fn fail_transiently(
    mut outcomes: Vec<Result<(), HandlerError>>,
    error: &ServiceError,
) -> Vec<Result<(), HandlerError>> {
    for outcome in &mut outcomes {
        if outcome.is_ok() {
            *outcome = Err(HandlerError::Transient(error.to_string()));
        }
    }
    outcomes
}
