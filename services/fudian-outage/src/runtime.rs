//! The engine made durable: it owns the engine behind one lock and applies inputs in store
//! transactions (inbox mark, journal row, effects, outbox), runs the timers, writes
//! snapshots, and rebuilds the engine from the latest snapshot plus the journal after it,
//! at start and whenever a transaction failed after the engine had already moved on.
//!
//! Why a journal and not a snapshot per batch: the engine state holds every active
//! incident and the dedup window; writing it per batch would cost far more than one row
//! per input. Replaying the inputs with the clock they were applied with rebuilds exactly
//! the same state, since the engine is deterministic.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, FixedOffset, Utc};
use fudian_bus::{Delivery, HandlerError, WireMessage};
use fudian_events::call::{CallAnswer, CallEvent};
use fudian_events::envelope::{Envelope, now_shanghai};
use fudian_events::field::FieldEvent;
use fudian_events::ids::CustomerId;
use fudian_events::outage::{IncidentState, OutageEvent};
use fudian_grid::Grid;
use fudian_store::{Store, Tx};
use tokio::sync::Mutex;

use crate::config::OutageConfig;
use crate::engine::{Effect, Engine, EngineError, EngineState, EvidenceKind, InterruptionKind};
use crate::error::OutageError;
use crate::handlers::field::{self, Decoded};
use crate::store::{self, IncidentUpsert, JournalEntry, JournalKind};

/// The engine, its store and its configuration.
pub struct Runtime {
    grid: Arc<Grid>,
    store: Store,
    config: OutageConfig,
    slot: Mutex<Slot>,
}

struct Slot {
    engine: Engine,
    /// The engine moved past what the store holds (a commit failed): rebuild before use.
    stale: bool,
}

impl Runtime {
    /// Rebuilds the engine from the store (latest snapshot, then the journal after it).
    pub async fn open(
        grid: Arc<Grid>,
        store: Store,
        config: OutageConfig,
    ) -> Result<Self, OutageError> {
        let engine = rebuild(&grid, &store, &config).await?;
        Ok(Self {
            grid,
            store,
            config,
            slot: Mutex::new(Slot {
                engine,
                stale: false,
            }),
        })
    }

    pub fn grid(&self) -> &Arc<Grid> {
        &self.grid
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &OutageConfig {
        &self.config
    }

    /// Runs `read` on the engine under its lock.
    pub async fn read<R>(&self, read: impl FnOnce(&Engine) -> R) -> R {
        let slot = self.slot.lock().await;
        read(&slot.engine)
    }

    /// Applies a batch of deliveries in one transaction; one outcome per delivery.
    pub async fn handle_batch(&self, deliveries: Vec<Delivery>) -> Vec<Result<(), HandlerError>> {
        let mut outcomes = Vec::with_capacity(deliveries.len());
        let mut decoded = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            match field::decode(&self.config.exchanges, &delivery.message) {
                Ok(event) => {
                    decoded.push(Some(event));
                    outcomes.push(Ok(()));
                }
                Err(reason) => {
                    tracing::warn!(
                        message.id = %delivery.message.message_id,
                        message.routing_key = %delivery.message.routing_key,
                        error = %reason,
                        "field event dead-lettered"
                    );
                    metrics::counter!("fudian_outage_dead_lettered_total", "reason" => "undecodable")
                        .increment(1);
                    decoded.push(None);
                    outcomes.push(Err(HandlerError::Permanent(reason)));
                }
            }
        }
        let mut slot = self.slot.lock().await;
        if let Err(error) = self.ensure_fresh(&mut slot).await {
            return fail_transiently(outcomes, &decoded, &error);
        }
        let started = Instant::now();
        let mut mutated = false;
        let mut result = self
            .apply_batch(
                &mut slot.engine,
                &deliveries,
                &decoded,
                &mut outcomes,
                &mut mutated,
            )
            .await;
        if matches!(result, Err(OutageError::ForgottenDuplicate(_))) {
            // The engine applied an event the inbox knew: undo by rebuilding, then go
            // through the batch one event at a time.
            self.mark_stale(&mut slot).await;
            if !slot.stale {
                for (outcome, event) in outcomes.iter_mut().zip(&decoded) {
                    if event.is_some() {
                        *outcome = Ok(());
                    }
                }
                mutated = false;
                result = self
                    .apply_batch_one_by_one(
                        &mut slot.engine,
                        &deliveries,
                        &decoded,
                        &mut outcomes,
                        &mut mutated,
                    )
                    .await;
            }
        }
        match result {
            Ok(handled) => {
                for event_type in handled {
                    metrics::counter!("fudian_outage_events_handled_total", "type" => event_type)
                        .increment(1);
                }
                tracing::debug!(
                    batch.size = deliveries.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "field batch applied"
                );
                outcomes
            }
            Err(error) => {
                tracing::error!(error = %error, batch.size = deliveries.len(), "field batch failed, retrying it");
                if mutated {
                    self.mark_stale(&mut slot).await;
                }
                fail_transiently(outcomes, &decoded, &error)
            }
        }
    }

    /// The fast path: the engine first (it refuses the duplicates it remembers, and
    /// refused events need no undo in the store), then one transaction with the inbox
    /// marks, the journal rows, the effects and the outbox. An inbox mark that is already
    /// there (a duplicate older than the engine's dedup window) aborts it.
    async fn apply_batch(
        &self,
        engine: &mut Engine,
        deliveries: &[Delivery],
        decoded: &[Option<Decoded>],
        outcomes: &mut [Result<(), HandlerError>],
        mutated: &mut bool,
    ) -> Result<Vec<&'static str>, OutageError> {
        let now = now_shanghai();
        let mut applied = Vec::new();
        let mut refused = Vec::new();
        for (i, event) in decoded.iter().enumerate() {
            let Some(event) = event else { continue };
            match engine.handle(event.input(), now) {
                Ok(effects) => {
                    *mutated = true;
                    applied.push((i, event, effects));
                }
                Err(EngineError::Duplicate(id)) => {
                    tracing::debug!(event.id = %id, "duplicate event skipped");
                }
                Err(error) => refused.push((i, event, error)),
            }
        }
        let mut tx = self.store.begin().await?;
        // A refusal may be of a redelivery the engine forgot: the inbox tells, and the
        // savepoint takes the probe's mark back when it is not.
        for (i, event, error) in refused {
            store::savepoint(&mut tx).await?;
            let fresh = tx
                .mark_processed(&self.config.consumer, &event.id().to_string())
                .await?;
            if fresh {
                store::rollback_to_savepoint(&mut tx).await?;
                outcomes[i] = Err(refusal(event, &error));
            }
            store::release_savepoint(&mut tx).await?;
        }
        let ids: Vec<String> = applied.iter().map(|(_, e, _)| e.id().to_string()).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let fresh = tx
            .mark_processed_all(&self.config.consumer, &id_refs)
            .await?;
        if let Some(position) = fresh.iter().position(|fresh| !fresh) {
            return Err(OutageError::ForgottenDuplicate(ids[position].clone()));
        }
        let journal: Vec<JournalEntry> = applied
            .iter()
            .zip(ids)
            .map(|((i, event, _), id)| JournalEntry {
                kind: event.journal_kind(),
                event_id: Some(id),
                received_at: now.to_utc(),
                body: Some(deliveries[*i].message.body.clone()),
            })
            .collect();
        store::append_journal_all(&mut tx, &journal).await?;
        let mut outgoing = Vec::new();
        let mut evidence = Vec::new();
        let mut handled = Vec::with_capacity(applied.len());
        for (_, event, effects) in &applied {
            if let Some((device, state)) = event.switching() {
                let id = event.id().to_string();
                store::upsert_switch_state(&mut tx, device, state, event.occurred_at(), &id)
                    .await?;
            }
            self.persist(&mut tx, effects, now, &mut outgoing, &mut evidence)
                .await?;
            handled.push(event.event_type());
        }
        store::insert_evidence_all(&mut tx, &evidence).await?;
        tx.enqueue_all(&outgoing).await?;
        tx.commit().await?;
        Ok(handled)
    }

    /// The careful path: each event under a savepoint, its inbox mark checked before the
    /// engine sees it. Used when the fast path met a duplicate the engine had forgotten.
    async fn apply_batch_one_by_one(
        &self,
        engine: &mut Engine,
        deliveries: &[Delivery],
        decoded: &[Option<Decoded>],
        outcomes: &mut [Result<(), HandlerError>],
        mutated: &mut bool,
    ) -> Result<Vec<&'static str>, OutageError> {
        let now = now_shanghai();
        let mut tx = self.store.begin().await?;
        let mut outgoing = Vec::new();
        let mut handled = Vec::new();
        for (i, event) in decoded.iter().enumerate() {
            let Some(event) = event else { continue };
            let id = event.id().to_string();
            store::savepoint(&mut tx).await?;
            if !tx.mark_processed(&self.config.consumer, &id).await? {
                store::release_savepoint(&mut tx).await?;
                tracing::debug!(event.id = %id, "duplicate event skipped");
                continue;
            }
            match engine.handle(event.input(), now) {
                Ok(effects) => {
                    *mutated = true;
                    store::release_savepoint(&mut tx).await?;
                    store::append_journal(
                        &mut tx,
                        event.journal_kind(),
                        Some(&id),
                        now.to_utc(),
                        Some(&deliveries[i].message.body),
                    )
                    .await?;
                    if let Some((device, state)) = event.switching() {
                        store::upsert_switch_state(
                            &mut tx,
                            device,
                            state,
                            event.occurred_at(),
                            &id,
                        )
                        .await?;
                    }
                    let mut evidence = Vec::new();
                    self.persist(&mut tx, &effects, now, &mut outgoing, &mut evidence)
                        .await?;
                    store::insert_evidence_all(&mut tx, &evidence).await?;
                    handled.push(event.event_type());
                }
                // The engine remembers it although the inbox did not: nothing to apply.
                Err(EngineError::Duplicate(_)) => {
                    store::release_savepoint(&mut tx).await?;
                }
                Err(error) => {
                    // Undo the inbox mark: a retried or corrected event must not be skipped.
                    store::rollback_to_savepoint(&mut tx).await?;
                    store::release_savepoint(&mut tx).await?;
                    outcomes[i] = Err(refusal(event, &error));
                }
            }
        }
        tx.enqueue_all(&outgoing).await?;
        tx.commit().await?;
        Ok(handled)
    }

    /// Runs the engine's timers, journaled and persisted like an input.
    pub async fn tick(&self) -> Result<(), OutageError> {
        let mut slot = self.slot.lock().await;
        self.ensure_fresh(&mut slot).await?;
        let now = now_shanghai();
        let effects = slot.engine.tick(now);
        let result = async {
            let mut tx = self.store.begin().await?;
            store::append_journal(&mut tx, JournalKind::Tick, None, now.to_utc(), None).await?;
            let mut outgoing = Vec::new();
            let mut evidence = Vec::new();
            self.persist(&mut tx, &effects, now, &mut outgoing, &mut evidence)
                .await?;
            store::insert_evidence_all(&mut tx, &evidence).await?;
            tx.enqueue_all(&outgoing).await?;
            tx.commit().await?;
            Ok::<_, OutageError>(())
        }
        .await;
        if let Err(error) = result {
            self.mark_stale(&mut slot).await;
            return Err(error);
        }
        metrics::gauge!("fudian_outage_incidents_active").set(slot.engine.incidents().len() as f64);
        Ok(())
    }

    /// Writes the engine state with the last journal seq and trims the journal.
    pub async fn snapshot(&self) -> Result<(), OutageError> {
        let mut slot = self.slot.lock().await;
        self.ensure_fresh(&mut slot).await?;
        let started = Instant::now();
        let state = serde_json::to_vec(&slot.engine.snapshot()).map_err(OutageError::Json)?;
        let mut tx = self.store.begin().await?;
        let seq = store::write_snapshot(&mut tx, &state, Utc::now()).await?;
        tx.commit().await?;
        tracing::info!(
            journal.seq = seq,
            snapshot.bytes = state.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "engine snapshot written"
        );
        Ok(())
    }

    async fn ensure_fresh(&self, slot: &mut Slot) -> Result<(), OutageError> {
        if slot.stale {
            slot.engine = rebuild(&self.grid, &self.store, &self.config).await?;
            slot.stale = false;
            tracing::info!("engine rebuilt from the store");
        }
        Ok(())
    }

    /// The engine is ahead of the store: rebuild it now, or before its next use.
    async fn mark_stale(&self, slot: &mut Slot) {
        slot.stale = true;
        if let Err(error) = self.ensure_fresh(slot).await {
            tracing::warn!(error = %error, "engine rebuild failed, trying again before the next input");
        }
    }

    /// Carries out the effects inside `tx`; messages to publish go to `outgoing`, evidence
    /// rows to `evidence` (the caller inserts them in one statement: a storm brings one
    /// per last gasp).
    async fn persist(
        &self,
        tx: &mut Tx,
        effects: &[Effect],
        now: DateTime<FixedOffset>,
        outgoing: &mut Vec<WireMessage>,
        evidence: &mut Vec<store::EvidenceInsert>,
    ) -> Result<(), OutageError> {
        for effect in effects {
            match effect {
                Effect::Publish(event) => {
                    self.persist_incident(tx, event, now).await?;
                    let mut wire =
                        Envelope::new(self.config.producer.as_str(), event.clone()).to_wire();
                    wire.exchange.clone_from(&self.config.exchanges.outage);
                    tracing::info!(
                        incident.id = %event.incident(),
                        incident.revision = event.revision(),
                        event.type = wire.routing_key,
                        "incident event published"
                    );
                    outgoing.push(wire);
                }
                Effect::PingRequest(request) => {
                    let envelope = Envelope::new(
                        self.config.producer.as_str(),
                        FieldEvent::AmiPingRequest(request.clone()),
                    );
                    let mut wire = envelope.to_wire();
                    wire.exchange.clone_from(&self.config.exchanges.field);
                    outgoing.push(wire);
                }
                Effect::SupplyChanged(change) => {
                    tracing::debug!(
                        device.id = %change.device,
                        customer.lost = change.lost.len(),
                        customer.restored = change.restored.len(),
                        "supply changed"
                    );
                }
                Effect::InterruptionStarted(started) => {
                    store::start_interruptions(
                        tx,
                        started.incident.as_str(),
                        started.started_at.to_utc(),
                        started.planned,
                        &ids(&started.customers),
                    )
                    .await?;
                }
                Effect::InterruptionEnded(ended) => {
                    store::end_interruptions(
                        tx,
                        ended.incident.as_str(),
                        ended.ended_at.to_utc(),
                        kind_name(ended.kind),
                        &ids(&ended.customers),
                    )
                    .await?;
                }
                Effect::InterruptionTransferred(moved) => {
                    store::transfer_interruptions(
                        tx,
                        moved.from.as_str(),
                        moved.to.as_str(),
                        &ids(&moved.customers),
                    )
                    .await?;
                }
                Effect::InterruptionVoided(voided) => {
                    store::void_interruptions(
                        tx,
                        voided.incident.as_str(),
                        &ids(&voided.customers),
                    )
                    .await?;
                }
                Effect::MeterInterruption(record) => {
                    store::insert_meter_interruption(
                        tx,
                        record.customer.as_str(),
                        record.started_at.to_utc(),
                        record.ended_at.to_utc(),
                        kind_name(record.kind),
                    )
                    .await?;
                }
                Effect::CallAnswered(answer) => {
                    tracing::info!(
                        call.id = %answer.call_id,
                        incident.id = answer.incident.as_ref().map(|i| i.as_str()),
                        "trouble call answered"
                    );
                    let event = CallEvent::Answered(call_answer(answer));
                    let mut wire = Envelope::new(self.config.producer.as_str(), event).to_wire();
                    wire.exchange.clone_from(&self.config.exchanges.outage);
                    outgoing.push(wire);
                }
                Effect::EvidenceAttached(attached) => {
                    evidence.push(store::EvidenceInsert {
                        incident: attached.incident.as_str().to_owned(),
                        kind: evidence_name(attached.evidence),
                        customer: attached.customer.as_ref().map(|c| c.as_str().to_owned()),
                        recorded_at: now.to_utc(),
                    });
                }
                Effect::Ignored(ignored) => {
                    metrics::counter!("fudian_outage_inputs_ignored_total").increment(1);
                    tracing::debug!(reason = %ignored.reason, "input changed nothing");
                }
            }
        }
        Ok(())
    }

    async fn persist_incident(
        &self,
        tx: &mut Tx,
        event: &OutageEvent,
        now: DateTime<FixedOffset>,
    ) -> Result<(), OutageError> {
        match event {
            OutageEvent::Detected(snapshot) | OutageEvent::Updated(snapshot) => {
                let json = serde_json::to_string(snapshot).map_err(OutageError::Json)?;
                store::upsert_incident(
                    tx,
                    &IncidentUpsert {
                        id: snapshot.incident.as_str(),
                        state: state_name(snapshot.state),
                        device: snapshot.device.id.as_str(),
                        started_at: snapshot.started_at.to_utc(),
                        customers_out: count(snapshot.customers_out.len()),
                        revision: i64::from(snapshot.revision),
                        snapshot: &json,
                        updated_at: now.to_utc(),
                    },
                )
                .await
            }
            OutageEvent::Restored(restored) => {
                store::update_incident_status(
                    tx,
                    restored.incident.as_str(),
                    state_name(restored.state),
                    count(restored.customers_still_out.len()),
                    i64::from(restored.revision),
                    (!restored.partial).then(|| restored.restored_at.to_utc()),
                    now.to_utc(),
                )
                .await
            }
            OutageEvent::Cancelled(cancelled) => {
                store::update_incident_status(
                    tx,
                    cancelled.incident.as_str(),
                    state_name(IncidentState::Cancelled),
                    0,
                    i64::from(cancelled.revision),
                    None,
                    now.to_utc(),
                )
                .await
            }
        }
    }
}

/// The latest snapshot (or a fresh engine) with every journal row after it replayed; the
/// effects are dropped, they were persisted when the rows were written.
async fn rebuild(
    grid: &Arc<Grid>,
    store: &Store,
    config: &OutageConfig,
) -> Result<Engine, OutageError> {
    let started = Instant::now();
    let (seq, mut engine) = match store::latest_snapshot(store).await? {
        Some((seq, bytes)) => {
            let state: EngineState = serde_json::from_slice(&bytes).map_err(OutageError::Json)?;
            (seq, Engine::restore(Arc::clone(grid), state)?)
        }
        None => (0, Engine::new(Arc::clone(grid), config.rules.clone())),
    };
    let rows = store::journal_after(store, seq).await?;
    let replayed = rows.len();
    for row in rows {
        let now = row.received_at.fixed_offset();
        let kind = match row.kind.as_str() {
            "tick" => {
                engine.tick(now);
                continue;
            }
            "planned" => JournalKind::Planned,
            _ => JournalKind::Field,
        };
        let body = row.body.as_deref().unwrap_or_default();
        let event = field::decode_as(kind, body).map_err(|reason| OutageError::BadJournal {
            seq: row.seq,
            reason,
        })?;
        if let Err(error) = engine.handle(event.input(), now) {
            // It applied when it was journaled; refusing now means the engine changed.
            tracing::warn!(journal.seq = row.seq, error = %error, "journal row no longer applies");
        }
    }
    tracing::info!(
        snapshot.seq = seq,
        journal.replayed = replayed,
        duration_ms = started.elapsed().as_millis() as u64,
        "outage engine restored"
    );
    Ok(engine)
}

/// What to tell the bus about an event the engine refused: retry it later, or
/// dead-letter it with the engine's reason.
fn refusal(event: &Decoded, error: &EngineError) -> HandlerError {
    if error.is_transient() {
        tracing::info!(event.id = %event.id(), error = %error, "field event to be retried");
        HandlerError::Transient(error.to_string())
    } else {
        tracing::warn!(
            event.id = %event.id(),
            event.type = event.event_type(),
            error = %error,
            "field event dead-lettered"
        );
        metrics::counter!("fudian_outage_dead_lettered_total", "reason" => error_kind(error))
            .increment(1);
        HandlerError::Permanent(error.to_string())
    }
}

/// Every decoded event is retried (the engine's refusals too: they were judged on a state
/// that included events now rolled back); undecodable ones stay dead-lettered.
fn fail_transiently(
    outcomes: Vec<Result<(), HandlerError>>,
    decoded: &[Option<Decoded>],
    error: &OutageError,
) -> Vec<Result<(), HandlerError>> {
    outcomes
        .into_iter()
        .zip(decoded)
        .map(|(outcome, event)| match event {
            None => outcome,
            Some(_) => Err(HandlerError::Transient(error.to_string())),
        })
        .collect()
}

/// The answer the 95598 agent reads to the caller (停电报备), in Chinese, times in the
/// utility's zone.
fn call_answer(answer: &crate::engine::CallAnswered) -> CallAnswer {
    let hhmm = |at: &DateTime<FixedOffset>| {
        at.with_timezone(&fudian_events::TIME_ZONE)
            .format("%H:%M")
            .to_string()
    };
    let message = match (&answer.incident, answer.state) {
        (Some(_), Some(IncidentState::Predicted)) => {
            "已收到您的报修，正在核实您所在区域的供电情况，确认后将尽快派员抢修。".to_owned()
        }
        (Some(_), Some(IncidentState::Restored)) => {
            "您所在区域的停电已恢复供电；如仍无电，请告知，我们将派员处理。".to_owned()
        }
        (Some(_), _) => {
            let since = answer
                .started_at
                .as_ref()
                .map(|at| format!("自{}起", hhmm(at)))
                .unwrap_or_default();
            let until = answer
                .etr
                .as_ref()
                .map(|at| format!("，预计{}恢复供电", hhmm(at)))
                .unwrap_or_default();
            format!("您所在区域{since}停电，供电公司已掌握并正在抢修{until}。")
        }
        (None, _) => "暂未发现您所在区域停电，已记录您的报修，将尽快派员核实。".to_owned(),
    };
    CallAnswer {
        call_id: answer.call_id.clone(),
        incident: answer.incident.clone(),
        state: answer.state,
        started_at: answer.started_at,
        etr: answer.etr,
        message,
    }
}

fn ids(customers: &[CustomerId]) -> Vec<String> {
    customers.iter().map(|c| c.as_str().to_owned()).collect()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn state_name(state: IncidentState) -> &'static str {
    match state {
        IncidentState::Predicted => "predicted",
        IncidentState::Confirmed => "confirmed",
        IncidentState::Restored => "restored",
        IncidentState::Cancelled => "cancelled",
    }
}

fn kind_name(kind: InterruptionKind) -> &'static str {
    match kind {
        InterruptionKind::Momentary => "momentary",
        InterruptionKind::Sustained => "sustained",
    }
}

fn evidence_name(kind: EvidenceKind) -> &'static str {
    match kind {
        EvidenceKind::LastGasp => "last_gasp",
        EvidenceKind::Call => "call",
        EvidenceKind::FaultIndicator => "fault_indicator",
        EvidenceKind::PingOff => "ping_off",
    }
}

/// A short, bounded label for the dead-letter metric.
fn error_kind(error: &EngineError) -> &'static str {
    match error {
        EngineError::Duplicate(_) => "duplicate",
        EngineError::UnknownElement(_) | EngineError::NotASwitch(_) => "unknown_element",
        EngineError::UnknownCustomer(_) => "unknown_customer",
        EngineError::UnknownIncident(_) => "unknown_incident",
        EngineError::UnknownPingRequest(_) | EngineError::MeterNotPinged { .. } => "bad_ping",
        EngineError::AlreadyOpen(_) | EngineError::AlreadyClosed(_) => "switch_state",
        EngineError::OutOfOrder { .. } => "out_of_order",
        EngineError::CallWithoutPlace(_) | EngineError::CallNotPlaced { .. } => "call_not_placed",
        _ => "other",
    }
}
