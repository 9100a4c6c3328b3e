//! The consumer of `notify.events`: incident events (`fudian.outage`), work-order status
//! and ETR changes (`fudian.dispatch`) and planned outages (`fudian.planned`) in one queue.
//! A batch of events is planned in ONE store transaction with their inbox marks: the
//! subjects and who is out are updated, and the notices are inserted as queued delivery
//! rows (idempotency key UNIQUE), which the sender pool then claims.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fudian_bus::{BatchHandler, Delivery, HandlerError, QueueSpec};
use fudian_events::dispatch::{self, DispatchEvent, WorkOrderStatus};
use fudian_events::envelope::Envelope;
use fudian_events::outage::{self, IncidentSnapshot, OutageCause, OutageEvent};
use fudian_events::planned::{self, PlannedEvent};
use fudian_store::Tx;

use crate::config::NotifyConfig;
use crate::plan::{self, EtrTold, Facts, FanOut, NewNotice};
use crate::runtime::Runtime;
use crate::service_error::ServiceError;
use crate::store::{self, SubjectRow};
use crate::templates::NoticeKind;

/// The queue, its bindings and its retry policy.
pub fn queue_spec(config: &NotifyConfig) -> QueueSpec {
    QueueSpec::new(config.queue.clone())
        .prefetch(config.prefetch)
        .max_attempts(config.max_attempts)
        .retry_delays(config.retry_delays())
        .bind(config.exchanges.outage.clone(), "outage.*")
        .bind(config.exchanges.dispatch.clone(), dispatch::OUTAGE_ETR)
        .bind(
            config.exchanges.dispatch.clone(),
            dispatch::WORKORDER_STATUS,
        )
        .bind(config.exchanges.planned.clone(), "planned.*")
}

/// A decoded event.
#[derive(Debug, Clone)]
pub enum Decoded {
    Outage(Envelope<OutageEvent>),
    Dispatch(Envelope<DispatchEvent>),
    Planned(Envelope<PlannedEvent>),
}

impl Decoded {
    pub fn id(&self) -> String {
        match self {
            Self::Outage(envelope) => envelope.id.to_string(),
            Self::Dispatch(envelope) => envelope.id.to_string(),
            Self::Planned(envelope) => envelope.id.to_string(),
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Outage(envelope) => envelope.event_type(),
            Self::Dispatch(envelope) => envelope.event_type(),
            Self::Planned(envelope) => envelope.event_type(),
        }
    }
}

/// Decodes a delivery by the exchange it was published to; the error is the dead-letter
/// reason.
pub fn decode(config: &NotifyConfig, exchange: &str, body: &[u8]) -> Result<Decoded, String> {
    let names = &config.exchanges;
    if exchange == names.outage {
        outage::decode(body)
            .map(Decoded::Outage)
            .map_err(|error| format!("undecodable outage event: {error}"))
    } else if exchange == names.dispatch {
        dispatch::decode(body)
            .map(Decoded::Dispatch)
            .map_err(|error| format!("undecodable dispatch event: {error}"))
    } else if exchange == names.planned {
        planned::decode(body)
            .map(Decoded::Planned)
            .map_err(|error| format!("undecodable planned event: {error}"))
    } else {
        Err(format!("message from unexpected exchange {exchange:?}"))
    }
}

/// The batch handler given to the bus.
#[derive(Clone)]
pub struct Events {
    pub runtime: Arc<Runtime>,
}

impl BatchHandler for Events {
    fn handle_batch(
        &self,
        deliveries: Vec<Delivery>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send {
        let runtime = Arc::clone(&self.runtime);
        async move { handle_batch(&runtime, deliveries).await }
    }
}

/// Plans a batch in one transaction; one outcome per delivery.
pub async fn handle_batch(
    runtime: &Runtime,
    deliveries: Vec<Delivery>,
) -> Vec<Result<(), HandlerError>> {
    let mut outcomes = Vec::with_capacity(deliveries.len());
    let mut decoded = Vec::new();
    for delivery in &deliveries {
        match decode(
            &runtime.config,
            &delivery.message.exchange,
            &delivery.message.body,
        ) {
            Ok(event) => {
                decoded.push(event);
                outcomes.push(Ok(()));
            }
            Err(reason) => {
                tracing::warn!(
                    message.id = %delivery.message.message_id,
                    message.routing_key = %delivery.message.routing_key,
                    error = %reason,
                    "notify event dead-lettered"
                );
                metrics::counter!("fudian_notify_dead_lettered_total").increment(1);
                outcomes.push(Err(HandlerError::Permanent(reason)));
            }
        }
    }
    match apply(runtime, &decoded).await {
        Ok(queued) => {
            if queued > 0 {
                runtime.wake.notify_waiters();
            }
            outcomes
        }
        Err(error) => {
            tracing::error!(error = %error, batch.size = deliveries.len(), "notify batch failed, retrying it");
            let reason = error.to_string();
            outcomes
                .into_iter()
                .map(|outcome| outcome.and(Err(HandlerError::Transient(reason.clone()))))
                .collect()
        }
    }
}

async fn apply(runtime: &Runtime, events: &[Decoded]) -> Result<u64, ServiceError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut tx = runtime.store.begin().await?;
    let mut inserted = 0;
    for event in events {
        if !tx
            .mark_processed(&runtime.config.consumer, &event.id())
            .await?
        {
            tracing::debug!(event.id = %event.id(), "duplicate event skipped");
            continue;
        }
        let now = Utc::now();
        let notices = match event {
            Decoded::Outage(envelope) => on_outage(runtime, &mut tx, &envelope.event, now).await?,
            Decoded::Dispatch(envelope) => on_dispatch(runtime, &mut tx, envelope, now).await?,
            Decoded::Planned(envelope) => on_planned(runtime, &mut tx, envelope, now).await?,
        };
        let new = store::insert_deliveries(&mut tx, &notices, now.timestamp_millis()).await?;
        inserted += new;
        metrics::counter!("fudian_notify_events_handled_total", "type" => event.event_type())
            .increment(1);
        tracing::info!(
            event.id = %event.id(),
            event.type = event.event_type(),
            notice.count = new,
            "notices planned"
        );
    }
    tx.commit().await?;
    Ok(inserted)
}

fn cause_text(cause: Option<OutageCause>) -> Option<String> {
    cause.map(|cause| {
        match cause {
            OutageCause::Fault => "线路故障",
            OutageCause::ManualSwitching | OutageCause::RemoteSwitching => "设备操作",
            OutageCause::Planned => "计划检修",
        }
        .to_owned()
    })
}

fn state_name<T: serde::Serialize>(state: &T) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A notice text variable from free text: one line, no links (SMS rules), short.
fn one_line(text: &str) -> Option<String> {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let lower = line.to_lowercase();
    if line.is_empty() || lower.contains("://") || lower.contains("www.") {
        return None;
    }
    Some(line.chars().take(40).collect())
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Fans one notice kind out to `customers`.
async fn notices_for(
    runtime: &Runtime,
    tx: &mut Tx,
    plan: &FanOut<'_>,
    customers: &[&str],
    critical: &HashSet<&str>,
) -> Result<Vec<NewNotice>, ServiceError> {
    let contacts = runtime.contacts(tx, customers, critical).await?;
    let audience = customers
        .iter()
        .map(|&customer| (customer, contacts.get(customer).and_then(Option::as_ref)));
    Ok(plan::fan_out(plan, audience, |channel, kind| {
        runtime.templates.has(channel, kind)
    }))
}

fn snapshot_subject(runtime: &Runtime, snapshot: &IncidentSnapshot, now: i64) -> SubjectRow {
    SubjectRow {
        id: snapshot.incident.as_str().to_owned(),
        kind: "incident".into(),
        state: state_name(&snapshot.state),
        revision: i64::from(snapshot.revision),
        area: runtime.area_at(snapshot.location.lon, snapshot.location.lat),
        cause: cause_text(snapshot.cause),
        started_at: millis(snapshot.started_at.to_utc()),
        etr: Some(millis(snapshot.etr.to_utc())),
        ended_at: None,
        crew_status: None,
        crew_note: None,
        updated_at: now,
    }
}

fn subject_facts(subject: &SubjectRow, occurred_at: DateTime<Utc>) -> Facts {
    Facts {
        area: subject.area.clone(),
        occurred_at,
        estimated_restoration: subject.etr.map(plan::from_millis),
        planned_start: None,
        planned_end: None,
        cause: subject.cause.clone(),
        progress: None,
        reference: subject.id.clone(),
    }
}

async fn on_outage(
    runtime: &Runtime,
    tx: &mut Tx,
    event: &OutageEvent,
    now: DateTime<Utc>,
) -> Result<Vec<NewNotice>, ServiceError> {
    match event {
        OutageEvent::Detected(snapshot) | OutageEvent::Updated(snapshot) => {
            on_snapshot(runtime, tx, snapshot, now).await
        }
        OutageEvent::Restored(restored) => {
            let id = restored.incident.as_str();
            let at = restored.restored_at.to_utc();
            let customers: Vec<&str> = restored
                .customers_restored
                .iter()
                .map(|c| c.as_str())
                .collect();
            store::delete_outages(tx, id, &customers).await?;
            if !restored.partial {
                store::set_subject_state(tx, id, "restored", Some(millis(at)), millis(now)).await?;
            }
            let elsewhere = store::out_elsewhere(tx, id, &customers).await?;
            let told = plan::really_restored(customers.iter().copied(), &elsewhere);
            // Updates still waiting for these customers would now be wrong.
            store::supersede_updates(tx, id, &told, "supply restored", millis(now)).await?;
            let subject = store::subject(tx, id).await?;
            let cause = subject.as_ref().and_then(|s| s.cause.clone());
            let facts = incident_facts(runtime, subject.as_ref(), id, at, cause);
            let plan = FanOut::at_once(NoticeKind::Restored, id, &facts, now);
            notices_for(runtime, tx, &plan, &told, &HashSet::new()).await
        }
        OutageEvent::Cancelled(cancelled) => {
            let id = cancelled.incident.as_str();
            // Customers told of an outage that was none must hear that their supply is
            // normal, or they wait for a restoration notice that never comes. A merged
            // incident goes on as the other one: its notices follow.
            let told = if cancelled.reason == outage::CancelReason::Merged {
                Vec::new()
            } else {
                store::told_of(tx, id, &[NoticeKind::OutageDetected]).await?
            };
            store::suppress_subject(tx, id, "incident cancelled", millis(now)).await?;
            store::delete_all_outages(tx, id).await?;
            store::set_subject_state(tx, id, "cancelled", Some(millis(now)), millis(now)).await?;
            if told.is_empty() {
                return Ok(Vec::new());
            }
            let subject = store::subject(tx, id).await?;
            let facts = incident_facts(runtime, subject.as_ref(), id, now, None);
            let plan = FanOut::at_once(NoticeKind::OutageCancelled, id, &facts, now);
            let told: Vec<&str> = told.iter().map(String::as_str).collect();
            notices_for(runtime, tx, &plan, &told, &HashSet::new()).await
        }
    }
}

/// `outage.detected` / `outage.updated`: customers new to the incident get the detected
/// notice; those already told get an ETR notice when the estimate moved enough.
async fn on_snapshot(
    runtime: &Runtime,
    tx: &mut Tx,
    snapshot: &IncidentSnapshot,
    now: DateTime<Utc>,
) -> Result<Vec<NewNotice>, ServiceError> {
    let row = snapshot_subject(runtime, snapshot, millis(now));
    store::upsert_subject(tx, &row).await?;
    let id = row.id.as_str();
    let known = store::outages_of(tx, id).await?;
    let known_ids: HashSet<&str> = known.iter().map(|r| r.customer_id.as_str()).collect();
    let mut seen = HashSet::new();
    let new: Vec<&str> = snapshot
        .customers_out
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !known_ids.contains(c) && seen.insert(*c))
        .collect();
    let etr = snapshot.etr.to_utc();
    store::insert_outages(tx, id, &new, row.started_at, Some(millis(etr))).await?;
    let critical: HashSet<&str> = snapshot
        .critical_customers_out
        .iter()
        .map(|c| c.as_str())
        .collect();
    let facts = Facts {
        area: row.area.clone(),
        occurred_at: snapshot.started_at.to_utc(),
        estimated_restoration: Some(etr),
        planned_start: None,
        planned_end: None,
        cause: row.cause.clone(),
        progress: None,
        reference: id.to_owned(),
    };
    let plan = FanOut::at_once(NoticeKind::OutageDetected, id, &facts, now);
    let mut notices = notices_for(runtime, tx, &plan, &new, &critical).await?;
    let still_out: HashSet<&str> = snapshot.customers_out.iter().map(|c| c.as_str()).collect();
    let told: Vec<_> = known
        .iter()
        .filter(|r| still_out.contains(r.customer_id.as_str()))
        .cloned()
        .collect();
    let etr_notices = etr_changed(
        runtime,
        tx,
        &row,
        &told,
        etr,
        i64::from(snapshot.revision),
        &critical,
        now,
    )
    .await?;
    notices.extend(etr_notices);
    Ok(notices)
}

/// ETR-changed notices for the customers out under `subject` whose told ETR moved by 30
/// minutes or more; merged with their queued updates.
#[expect(clippy::too_many_arguments, reason = "one call site per event kind")]
async fn etr_changed(
    runtime: &Runtime,
    tx: &mut Tx,
    subject: &SubjectRow,
    members: &[store::OutageRow],
    etr: DateTime<Utc>,
    revision: i64,
    critical: &HashSet<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<NewNotice>, ServiceError> {
    let rules = &runtime.config.rules;
    let mut by_due: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for member in members {
        let told = EtrTold {
            etr: member.told_etr.map(plan::from_millis),
            notice_at: member.etr_notice_at.map(plan::from_millis),
        };
        if let Some(due) = plan::etr_notice_due(told, etr, now, rules) {
            by_due
                .entry(millis(due))
                .or_default()
                .push(member.customer_id.as_str());
        }
    }
    if by_due.is_empty() {
        return Ok(Vec::new());
    }
    let all: Vec<&str> = by_due.values().flatten().copied().collect();
    let merged = store::supersede_updates(
        tx,
        &subject.id,
        &all,
        "merged into a later update",
        millis(now),
    )
    .await?;
    let facts = Facts {
        estimated_restoration: Some(etr),
        ..subject_facts(subject, now)
    };
    let mut notices = Vec::new();
    let mut told = Vec::new();
    for (due, customers) in &by_due {
        let due = plan::from_millis(*due);
        let plan = FanOut {
            kind: NoticeKind::EtrChanged,
            subject: &subject.id,
            revision,
            facts: &facts,
            due_at: due,
            critical_due_at: due,
        };
        for mut notice in notices_for(runtime, tx, &plan, customers, critical).await? {
            if let Some(&earlier) = merged.get(&notice.customer) {
                notice.due_at = notice.due_at.min(plan::from_millis(earlier));
            }
            told.push((notice.customer.clone(), millis(notice.due_at)));
            notices.push(notice);
        }
    }
    let rows: Vec<store::EtrTold<'_>> = told
        .iter()
        .map(|(customer, at)| store::EtrTold {
            c: customer,
            etr: millis(etr),
            at: *at,
        })
        .collect();
    store::set_told_etr(tx, &subject.id, &rows).await?;
    Ok(notices)
}

async fn on_dispatch(
    runtime: &Runtime,
    tx: &mut Tx,
    envelope: &Envelope<DispatchEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<NewNotice>, ServiceError> {
    let id = envelope.event.incident().as_str();
    match &envelope.event {
        DispatchEvent::EtrChanged(change) => {
            let etr = change.etr.to_utc();
            store::set_subject_etr(tx, id, millis(etr), millis(now)).await?;
            let Some(mut subject) = store::subject(tx, id).await? else {
                return Ok(Vec::new());
            };
            if let Some(reason) = one_line(&change.reason) {
                subject.cause = Some(reason);
            }
            let members = store::outages_of(tx, id).await?;
            let revision = envelope.occurred_at.timestamp_millis();
            etr_changed(
                runtime,
                tx,
                &subject,
                &members,
                etr,
                revision,
                &HashSet::new(),
                now,
            )
            .await
        }
        DispatchEvent::WorkOrderStatus(status) => {
            let note = status.note.as_deref().and_then(one_line);
            store::set_subject_crew(
                tx,
                id,
                &state_name(&status.status),
                note.as_deref(),
                millis(now),
            )
            .await?;
            let (kind, revision, progress) = match status.status {
                WorkOrderStatus::OnSite => (NoticeKind::CrewArrived, 0, note.clone()),
                WorkOrderStatus::EnRoute => (
                    NoticeKind::RepairProgress,
                    1,
                    Some(note.clone().unwrap_or_else(|| "抢修人员已出发".to_owned())),
                ),
                WorkOrderStatus::Repaired => (
                    NoticeKind::RepairProgress,
                    3,
                    Some(
                        note.clone()
                            .unwrap_or_else(|| "故障已修复，正在恢复送电".to_owned()),
                    ),
                ),
                _ => return Ok(Vec::new()),
            };
            let Some(subject) = store::subject(tx, id).await? else {
                return Ok(Vec::new());
            };
            let members = store::outages_of(tx, id).await?;
            let customers: Vec<&str> = members.iter().map(|m| m.customer_id.as_str()).collect();
            update_notices(
                runtime, tx, &subject, &customers, kind, revision, progress, now,
            )
            .await
        }
        _ => Ok(Vec::new()),
    }
}

/// Crew and progress updates: wait the merge window; a queued update of the same subject
/// for the same customer is replaced (its window kept).
#[expect(clippy::too_many_arguments, reason = "the notice's parts, spelled out")]
async fn update_notices(
    runtime: &Runtime,
    tx: &mut Tx,
    subject: &SubjectRow,
    customers: &[&str],
    kind: NoticeKind,
    revision: i64,
    progress: Option<String>,
    now: DateTime<Utc>,
) -> Result<Vec<NewNotice>, ServiceError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let merged = store::supersede_updates(
        tx,
        &subject.id,
        customers,
        "merged into a later update",
        millis(now),
    )
    .await?;
    let facts = Facts {
        progress,
        ..subject_facts(subject, now)
    };
    let plan = FanOut {
        kind,
        subject: &subject.id,
        revision,
        facts: &facts,
        due_at: now + plan::secs(runtime.config.rules.merge_window_secs),
        critical_due_at: now,
    };
    let mut notices = notices_for(runtime, tx, &plan, customers, &HashSet::new()).await?;
    for notice in &mut notices {
        if let Some(&earlier) = merged.get(&notice.customer) {
            notice.due_at = notice.due_at.min(plan::from_millis(earlier));
        }
    }
    Ok(notices)
}

async fn on_planned(
    runtime: &Runtime,
    tx: &mut Tx,
    envelope: &Envelope<PlannedEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<NewNotice>, ServiceError> {
    let rules = &runtime.config.rules;
    let id = envelope.event.job().as_str();
    let ids = |customers: &[fudian_events::ids::CustomerId]| -> Vec<String> {
        let mut seen = HashSet::new();
        customers
            .iter()
            .map(|c| c.as_str().to_owned())
            .filter(|c| seen.insert(c.clone()))
            .collect()
    };
    match &envelope.event {
        PlannedEvent::Approved(approved) => {
            let (start, end) = (approved.window.start.to_utc(), approved.window.end.to_utc());
            let revision = i64::from(approved.revision);
            store::upsert_subject(
                tx,
                &SubjectRow {
                    id: id.to_owned(),
                    kind: "planned".into(),
                    state: "approved".into(),
                    revision,
                    area: approved.area.clone(),
                    cause: one_line(&approved.work),
                    started_at: millis(start),
                    etr: Some(millis(end)),
                    ended_at: None,
                    crew_status: None,
                    crew_note: None,
                    updated_at: millis(now),
                },
            )
            .await?;
            store::suppress_planned_notices(
                tx,
                id,
                revision,
                "planned job rescheduled",
                millis(now),
            )
            .await?;
            let facts = Facts {
                area: approved.area.clone(),
                occurred_at: now,
                estimated_restoration: None,
                planned_start: Some(start),
                planned_end: Some(end),
                cause: one_line(&approved.work),
                progress: None,
                reference: id.to_owned(),
            };
            let customers = ids(&approved.customers);
            let customers: Vec<&str> = customers.iter().map(String::as_str).collect();
            let critical: HashSet<&str> = approved
                .critical_customers
                .iter()
                .map(|c| c.as_str())
                .collect();
            let advance = FanOut {
                kind: NoticeKind::PlannedAdvance,
                subject: id,
                revision,
                facts: &facts,
                due_at: plan::after_quiet_hours(now, rules),
                critical_due_at: now,
            };
            let mut notices = notices_for(runtime, tx, &advance, &customers, &critical).await?;
            let remind_at = approved.notice.remind_at.to_utc();
            if remind_at > now && remind_at < start {
                let due = plan::reminder_due(remind_at, start, rules);
                let reminder = FanOut {
                    kind: NoticeKind::PlannedReminder,
                    subject: id,
                    revision,
                    facts: &Facts {
                        occurred_at: remind_at,
                        ..facts.clone()
                    },
                    due_at: due,
                    critical_due_at: due,
                };
                notices.extend(notices_for(runtime, tx, &reminder, &customers, &critical).await?);
            }
            Ok(notices)
        }
        PlannedEvent::Started(started) => {
            let at = started.started_at.to_utc();
            store::set_subject_state(tx, id, "started", None, millis(now)).await?;
            store::suppress_planned_notices(tx, id, i64::MAX, "planned job started", millis(now))
                .await?;
            let customers = ids(&started.customers);
            store::insert_outages(tx, id, &customers, millis(at), None).await?;
            let subject = store::subject(tx, id).await?;
            let facts = planned_facts(runtime, subject.as_ref(), id, at, &started.window);
            let plan = FanOut::at_once(NoticeKind::PlannedStart, id, &facts, now);
            let customers: Vec<&str> = customers.iter().map(String::as_str).collect();
            notices_for(runtime, tx, &plan, &customers, &HashSet::new()).await
        }
        PlannedEvent::Completed(completed) => {
            let at = completed.completed_at.to_utc();
            let customers = ids(&completed.customers);
            store::delete_outages(tx, id, &customers).await?;
            store::set_subject_state(tx, id, "completed", Some(millis(at)), millis(now)).await?;
            let elsewhere = store::out_elsewhere(tx, id, &customers).await?;
            let told = plan::really_restored(customers.iter().map(String::as_str), &elsewhere);
            let subject = store::subject(tx, id).await?;
            let facts = planned_facts(runtime, subject.as_ref(), id, at, &completed.window);
            let plan = FanOut::at_once(NoticeKind::PlannedEnd, id, &facts, now);
            notices_for(runtime, tx, &plan, &told, &HashSet::new()).await
        }
        PlannedEvent::Cancelled(cancelled) => {
            // Only those an advance notice or reminder reached (or may have) hear it is
            // off; queued ones are simply not sent.
            let told = store::told_of(
                tx,
                id,
                &[NoticeKind::PlannedAdvance, NoticeKind::PlannedReminder],
            )
            .await?;
            store::suppress_subject(tx, id, "planned job cancelled", millis(now)).await?;
            store::delete_all_outages(tx, id).await?;
            store::set_subject_state(tx, id, "cancelled", Some(millis(now)), millis(now)).await?;
            if told.is_empty() {
                return Ok(Vec::new());
            }
            let subject = store::subject(tx, id).await?;
            let facts = Facts {
                cause: one_line(&cancelled.reason),
                ..planned_facts(runtime, subject.as_ref(), id, now, &cancelled.window)
            };
            let critical: HashSet<&str> = HashSet::new();
            let plan = FanOut {
                kind: NoticeKind::PlannedCancelled,
                subject: id,
                revision: 0,
                facts: &facts,
                due_at: plan::after_quiet_hours(now, rules),
                critical_due_at: now,
            };
            let told: Vec<&str> = told.iter().map(String::as_str).collect();
            notices_for(runtime, tx, &plan, &told, &critical).await
        }
    }
}

/// The facts of a notice about an incident as the store knows it, at `at`.
fn incident_facts(
    runtime: &Runtime,
    subject: Option<&SubjectRow>,
    id: &str,
    at: DateTime<Utc>,
    cause: Option<String>,
) -> Facts {
    Facts {
        area: subject.map_or_else(|| runtime.config.default_area.clone(), |s| s.area.clone()),
        occurred_at: at,
        estimated_restoration: None,
        planned_start: None,
        planned_end: None,
        cause,
        progress: None,
        reference: id.to_owned(),
    }
}

fn planned_facts(
    runtime: &Runtime,
    subject: Option<&SubjectRow>,
    id: &str,
    at: DateTime<Utc>,
    window: &fudian_events::common::TimeWindow,
) -> Facts {
    Facts {
        area: subject.map_or_else(|| runtime.config.default_area.clone(), |s| s.area.clone()),
        occurred_at: at,
        estimated_restoration: None,
        planned_start: Some(window.start.to_utc()),
        planned_end: Some(window.end.to_utc()),
        cause: subject.and_then(|s| s.cause.clone()),
        progress: None,
        reference: id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_one_line_without_links() {
        assert_eq!(
            one_line("需更换\n受损电缆").as_deref(),
            Some("需更换 受损电缆")
        );
        assert_eq!(one_line("详见 https://x.cn"), None);
        assert_eq!(one_line("   "), None);
    }

    #[test]
    fn the_queue_binds_incidents_etr_work_order_status_and_planned_jobs() {
        let spec = queue_spec(&NotifyConfig::default());
        let bindings: Vec<(&str, &str)> = spec
            .bindings
            .iter()
            .map(|(exchange, key)| (exchange.as_str(), key.as_str()))
            .collect();
        assert_eq!(
            bindings,
            [
                ("fudian.outage", "outage.*"),
                ("fudian.dispatch", "outage.etr"),
                ("fudian.dispatch", "workorder.status"),
                ("fudian.planned", "planned.*"),
            ]
        );
    }

    #[test]
    fn an_event_from_an_unknown_exchange_is_refused_with_a_reason() {
        let error = decode(&NotifyConfig::default(), "fudian.field", b"{}").unwrap_err();
        assert!(error.contains("unexpected exchange"), "{error}");
        let error = decode(&NotifyConfig::default(), "fudian.outage", b"{oops").unwrap_err();
        assert!(error.starts_with("undecodable outage event"), "{error}");
    }
}
