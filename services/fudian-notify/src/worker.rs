//! The sender pool: workers claim due deliveries from the store (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL; one worker on SQLite), render them per channel, send them in batches
//! through the configured [`Sender`](crate::send::Sender)s (or, with no provider configured at all, the local
//! sink: marked sent to no provider), and record each answer: sent, failed, suppressed,
//! or queued again with the attempt and the next attempt time (retry with backoff and
//! jitter, or the next channel of the customer's order).
//!
//! Crash safety is claim → send → record, each step committed:
//! - a crash before the claim commits leaves the delivery queued;
//! - a crash after the record commits has nothing left to do;
//! - a crash between claim and record leaves it `sending` until its lease runs out. Then
//!   [`store::recover_expired`] puts WeChat and app deliveries back in the queue: they are
//!   resent with the same id, which WeChat (`client_msg_id`, 10 minutes, longer than the
//!   lease) and the app gateway (`webhook-id`) de-duplicate. Tencent and Alibaba
//!   `SendSms` are not idempotent, so an SMS is resent blindly only if its request surely
//!   never left: each SMS request is marked `dispatched_at` with the numbers' hashes
//!   (committed) just before it goes. One that may have left (the sender died during the
//!   round trip, or the request timed out) waits for the provider's receipt to its number
//!   until `settle_by` (`sender.receipt_window_secs`): a receipt settles it (delivered, or
//!   on to the next channel), and with none in the window it is sent again. An SMS
//!   repeats only if the provider sent it and its receipt never came in the window.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::plan::{self, AfterFailure, Facts, LimitDecision};
use crate::runtime::{Runtime, parse_preferences};
use crate::send::{self, Outgoing, Rendered, SendOutcome, Senders};
use crate::service_error::ServiceError;
use crate::store::{self, ClaimedRow, Recorded};
use crate::templates::{Channel, NoticeKind};
use crate::{ErrorClass, ProviderFailure};

/// Starts the workers, the lease-recovery and the retention loops on `tasks`, with the
/// channel stops still in force loaded from the store.
pub async fn spawn(
    runtime: Arc<Runtime>,
    senders: Senders,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let workers = if runtime.store.as_postgres().is_some() {
        runtime.config.sender.workers
    } else {
        1
    };
    let stopped = {
        let mut tx = runtime.store.begin().await?;
        let stops = store::channel_stops(&mut tx, Utc::now().timestamp_millis()).await?;
        tx.commit().await?;
        stops
            .into_iter()
            .filter_map(|(channel, until)| {
                Some((
                    plan::parse_channel(&channel)?,
                    DateTime::<Utc>::from_timestamp_millis(until)?,
                ))
            })
            .collect()
    };
    let pool = Arc::new(Pool {
        runtime,
        senders,
        stopped: Mutex::new(stopped),
        new_stops: Mutex::new(Vec::new()),
    });
    for worker in 0..workers {
        let pool = Arc::clone(&pool);
        let shutdown = shutdown.clone();
        tasks.spawn(async move { pool.work(worker, shutdown).await });
    }
    {
        let pool = Arc::clone(&pool);
        let shutdown = shutdown.clone();
        tasks.spawn(async move { pool.purge(shutdown).await });
    }
    tasks.spawn(async move { pool.recover(shutdown).await });
    Ok(())
}

struct Pool {
    runtime: Arc<Runtime>,
    senders: Senders,
    /// Channels whose account quota is used up for the day (WeChat 45009), until when:
    /// their notices go to the next channel without asking the provider. Loaded from the
    /// store at start; new stops are written with the round that found them.
    stopped: Mutex<HashMap<Channel, DateTime<Utc>>>,
    /// Stops found in this round, not yet in the store.
    new_stops: Mutex<Vec<(Channel, DateTime<Utc>)>>,
}

/// A claimed delivery, parsed.
struct Job {
    row: ClaimedRow,
    kind: NoticeKind,
    channels: Vec<Channel>,
    facts: Facts,
}

/// A job ready to go out on one channel.
struct Ready {
    job: usize,
    channel_index: usize,
    outgoing: Outgoing,
    content: String,
    segments: Option<i32>,
    recipient_hash: Option<String>,
}

impl Pool {
    async fn work(&self, worker: usize, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.runtime.config.sender.poll_interval_ms);
        while !shutdown.is_cancelled() {
            // Registered before the claim, so a commit between an empty claim and the wait
            // still wakes this worker.
            let woken = self.runtime.wake.notified();
            match self.round().await {
                Ok(0) => {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = woken => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %error, worker, "notify sender round failed, retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        tracing::debug!(worker, "notify sender stopped");
    }

    /// Purges finished deliveries and old receipts past their retention, at start and
    /// then hourly, a chunk per transaction.
    async fn purge(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(3_600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(error) = self.purge_once(&shutdown).await {
                        tracing::warn!(error = %error, "notify retention purge failed");
                    }
                }
            }
        }
    }

    async fn purge_once(&self, shutdown: &CancellationToken) -> Result<(), ServiceError> {
        let sender = &self.runtime.config.sender;
        let now = Utc::now();
        let deliveries_before =
            (now - TimeDelta::days(i64::from(sender.retention_days))).timestamp_millis();
        let receipts_before =
            (now - TimeDelta::hours(i64::from(sender.receipt_retention_hours))).timestamp_millis();
        let (mut deliveries, mut receipts) = (0, 0);
        loop {
            let mut tx = self.runtime.store.begin().await?;
            let purged = store::purge(&mut tx, deliveries_before, receipts_before).await?;
            tx.commit().await?;
            deliveries += purged.0;
            receipts += purged.1;
            if !store::purge_was_full(purged) || shutdown.is_cancelled() {
                break;
            }
        }
        if deliveries + receipts > 0 {
            tracing::info!(
                deliveries.purged = deliveries,
                receipts.purged = receipts,
                "notify records past their retention purged"
            );
        }
        Ok(())
    }

    /// Recovers expired claims and settles unanswered SMS at start and then every quarter
    /// lease or quarter receipt window, whichever is shorter.
    async fn recover(&self, shutdown: CancellationToken) {
        let sender = &self.runtime.config.sender;
        let lease = Duration::from_secs(sender.lease_secs);
        let window = Duration::from_secs(sender.receipt_window_secs);
        let period = (lease.min(window) / 4).max(Duration::from_millis(250));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(error) = self.recover_once().await {
                        tracing::warn!(error = %error, "notify lease recovery failed");
                    }
                }
            }
        }
    }

    /// Recovers expired claims, applies receipts kept unmatched, and sends again the SMS
    /// whose settling window passed with no receipt, in that order: a receipt that came in
    /// time always wins over the resend.
    async fn recover_once(&self) -> Result<(), ServiceError> {
        let sms_is_idempotent = self.senders.sms.is_none();
        let now = Utc::now().timestamp_millis();
        let window = self.receipt_window_ms();
        let mut tx = self.runtime.store.begin().await?;
        let (requeued, unsettled) =
            store::recover_expired(&mut tx, now, now + window, sms_is_idempotent).await?;
        tx.commit().await?;
        if requeued + unsettled > 0 {
            tracing::warn!(
                delivery.requeued = requeued,
                delivery.unsettled = unsettled,
                "expired notice claims recovered"
            );
            metrics::counter!("fudian_notify_claims_recovered_total").increment(requeued);
            metrics::counter!("fudian_notify_sms_uncertain_total").increment(unsettled);
        }
        // A receipt can come before its delivery is recorded or recovered: up to a lease
        // and a window earlier than the delivery could use it. Older ones never match.
        let lease_ms = i64::try_from(self.runtime.config.sender.lease_secs).unwrap_or(0) * 1_000;
        let matched = self
            .retry_unmatched_receipts(now - 2 * (lease_ms + window))
            .await?;
        let mut tx = self.runtime.store.begin().await?;
        let resent = store::resend_unsettled(&mut tx, Utc::now().timestamp_millis()).await?;
        tx.commit().await?;
        if resent > 0 {
            tracing::warn!(
                delivery.resent = resent,
                "sms with no receipt within the settling window sent again"
            );
            metrics::counter!("fudian_notify_sms_resent_total").increment(resent);
        }
        if requeued + resent + matched > 0 {
            self.runtime.wake.notify_waiters();
        }
        Ok(())
    }

    fn receipt_window_ms(&self) -> i64 {
        i64::try_from(self.runtime.config.sender.receipt_window_secs)
            .unwrap_or(i64::MAX / 4_000)
            .saturating_mul(1_000)
    }

    /// Applies receipts that found no delivery when they came, received since `since`;
    /// returns how many found one now.
    async fn retry_unmatched_receipts(&self, since: i64) -> Result<u64, ServiceError> {
        // Pages, so receipts that will never match (another system's messages on the same
        // account) cannot hide newer ones; one transaction per page.
        const PAGE: usize = 1_000;
        let mut after: Option<(i64, String)> = None;
        let mut matched = 0;
        loop {
            let mut tx = self.runtime.store.begin().await?;
            let cursor = after.as_ref().map(|(at, key)| (*at, key.as_str()));
            let receipts = store::unmatched_receipts(
                &mut tx,
                since,
                cursor,
                i64::try_from(PAGE).unwrap_or(i64::MAX),
            )
            .await?;
            let now = Utc::now().timestamp_millis();
            for receipt in &receipts {
                if store::apply_remembered_receipt(&mut tx, receipt, now).await? {
                    matched += 1;
                }
            }
            tx.commit().await?;
            match receipts.last() {
                Some(last) if receipts.len() == PAGE => {
                    after = Some((last.received_at, last.dedup_key.clone()));
                }
                _ => break,
            }
        }
        if matched > 0 {
            tracing::info!(
                receipts.matched = matched,
                "kept receipts matched their deliveries"
            );
        }
        Ok(matched)
    }

    /// Claims one batch, sends it and records the answers; returns how many were claimed.
    async fn round(&self) -> Result<usize, ServiceError> {
        let config = &self.runtime.config;
        let now = Utc::now();
        let lease = plan::secs(config.sender.lease_secs);
        let claimed = {
            let mut tx = self.runtime.store.begin().await?;
            let rows = store::claim(
                &mut tx,
                now.timestamp_millis(),
                (now + lease).timestamp_millis(),
                i64::try_from(config.sender.claim_batch).unwrap_or(i64::MAX),
            )
            .await?;
            tx.commit().await?;
            rows
        };
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let recorded = self.process(claimed).await?;
        let mut tx = self.runtime.store.begin().await?;
        store::record(&mut tx, &recorded, Utc::now().timestamp_millis()).await?;
        let new_stops = std::mem::take(
            &mut *self
                .new_stops
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (channel, until) in new_stops {
            store::stop_channel(&mut tx, channel.folder(), until.timestamp_millis()).await?;
        }
        tx.commit().await?;
        for outcome in &recorded {
            metrics::counter!("fudian_notify_deliveries_total", "state" => outcome.state)
                .increment(1);
        }
        if recorded.iter().any(|r| r.state == "queued") {
            self.runtime.wake.notify_waiters();
        }
        Ok(count)
    }

    async fn process(&self, claimed: Vec<ClaimedRow>) -> Result<Vec<Recorded>, ServiceError> {
        let runtime = &self.runtime;
        let rules = &runtime.config.rules;
        let now = Utc::now();
        let mut recorded = Vec::with_capacity(claimed.len());
        let mut jobs = Vec::with_capacity(claimed.len());
        for row in claimed {
            match parse(&row) {
                Some(job) => jobs.push(job),
                None => recorded.push(finished(
                    &row,
                    "failed",
                    serde_json::json!({ "failed": "unreadable delivery row" }),
                )),
            }
        }
        // What the customers said and how many notices they had this hour, in one read.
        let customers: Vec<&str> = jobs
            .iter()
            .map(|job| job.row.customer_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (preferences, mut sent) = {
            let mut tx = runtime.store.begin().await?;
            let preferences = store::preferences_of(&mut tx, &customers).await?;
            let since = (now - TimeDelta::hours(1)).timestamp_millis();
            let sent = store::sent_since(&mut tx, &customers, since).await?;
            tx.commit().await?;
            (preferences, sent)
        };

        let mut ready = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let count = sent.entry(job.row.customer_id.clone()).or_default();
            match plan::limit_decision(job.kind, job.row.critical, *count, rules) {
                LimitDecision::Send => {}
                LimitDecision::Suppress => {
                    recorded.push(finished(
                        &job.row,
                        "suppressed",
                        serde_json::json!({ "suppressed": "customer hourly limit reached" }),
                    ));
                    continue;
                }
                LimitDecision::Postpone => {
                    let at = now + plan::secs(rules.limit_postpone_secs);
                    recorded.push(requeue(
                        &job.row,
                        job.row.channel_index,
                        &job.channels,
                        at,
                        serde_json::json!({ "postponed": "customer hourly limit reached" }),
                    ));
                    continue;
                }
            }
            let (_, opted_out) = parse_preferences(preferences.get(&job.row.customer_id));
            match self.prepare(index, job, &opted_out) {
                Ok(item) => {
                    *count += 1;
                    ready.push(item);
                }
                Err(reason) => recorded.push(finished(
                    &job.row,
                    "suppressed",
                    serde_json::json!({ "suppressed": reason }),
                )),
            }
        }

        // One batch per channel, sent concurrently; each sender splits by its max batch.
        let mut by_channel: HashMap<Channel, Vec<Ready>> = HashMap::new();
        for item in ready {
            by_channel
                .entry(item.outgoing.channel)
                .or_default()
                .push(item);
        }
        let timeout = Duration::from_secs(runtime.config.sender.lease_secs) / 2;
        let sends = by_channel.into_iter().map(|(channel, items)| async move {
            let outcomes = self.send(channel, &items, timeout).await;
            (items, outcomes)
        });
        for (items, outcomes) in join_all(sends).await {
            for (item, outcome) in items.into_iter().zip(outcomes) {
                let job = &jobs[item.job];
                recorded.push(self.outcome(job, item, outcome, now));
            }
        }
        Ok(recorded)
    }

    /// Picks the channel (the current one, or the next the customer has not opted out of
    /// and we have an address for) and renders the notice for it.
    fn prepare(&self, index: usize, job: &Job, opted_out: &[Channel]) -> Result<Ready, String> {
        let runtime = &self.runtime;
        let start = usize::try_from(job.row.channel_index).unwrap_or(usize::MAX);
        let mut last_problem = String::from("no channel left to try");
        for (channel_index, &channel) in job.channels.iter().enumerate().skip(start) {
            if opted_out.contains(&channel) {
                last_problem = format!("customer opted out of {}", channel.folder());
                continue;
            }
            if !self.senders.is_empty() && self.senders.for_channel(channel).is_none() {
                last_problem = format!("no provider configured for {}", channel.folder());
                continue;
            }
            if self.is_stopped(channel) {
                last_problem = format!("{} quota used up for today", channel.folder());
                continue;
            }
            let Some(address) = runtime.address(&job.row.customer_id, channel) else {
                last_problem = format!("no {} address for the customer", channel.folder());
                continue;
            };
            let context = job.facts.context(
                runtime.config.rules.tz(),
                runtime.config.detail_url(&job.row.id),
            );
            let templates = &runtime.templates;
            let rendered = match channel {
                Channel::Wechat => templates
                    .render_wechat(job.kind, &context)
                    .map(Rendered::Wechat),
                Channel::Sms => templates.render_sms(job.kind, &context).map(Rendered::Sms),
                Channel::App => templates.render_app(job.kind, &context).map(Rendered::App),
            };
            let rendered = match rendered {
                Ok(rendered) => rendered,
                Err(error) => {
                    tracing::warn!(error = %error, delivery.id = %job.row.id, "notice did not render");
                    last_problem = format!("template for {}: {error}", channel.folder());
                    continue;
                }
            };
            let (content, segments) = describe(&rendered, &runtime.config.sms_signature);
            let recipient_hash = (channel == Channel::Sms).then(|| address_hash(&address));
            return Ok(Ready {
                job: index,
                channel_index,
                outgoing: Outgoing {
                    delivery_id: job.row.id.clone(),
                    customer_id: job.row.customer_id.clone(),
                    channel,
                    address,
                    kind: job.kind,
                    content: rendered,
                },
                content,
                segments,
                recipient_hash,
            });
        }
        Err(last_problem)
    }

    async fn send(&self, channel: Channel, items: &[Ready], timeout: Duration) -> Vec<SendOutcome> {
        let Some(sender) = self.senders.for_channel(channel) else {
            // The local sink: nothing configured at all, the notice is kept and shown.
            return items
                .iter()
                .map(|_| SendOutcome::Accepted {
                    provider: LOCAL_SINK,
                    provider_message_id: None,
                })
                .collect();
        };
        let outgoing: Vec<Outgoing> = items.iter().map(|item| item.outgoing.clone()).collect();
        let chunk = sender.max_batch().max(1);
        let calls = outgoing.chunks(chunk).map(|batch| async move {
            // SMS cannot be repeated safely: record that this request leaves now, so a
            // crash before it leaves is known to have sent nothing.
            if channel == Channel::Sms
                && let Err(error) = self.mark_dispatched(batch).await
            {
                tracing::warn!(error = %error, "failed to mark sms as dispatched, not sending");
                return vec![
                    transport_failure(
                        send::CODE_CONNECT,
                        "not sent: the store is unreachable"
                    );
                    batch.len()
                ];
            }
            match tokio::time::timeout(timeout, sender.send_batch(batch)).await {
                Ok(outcomes) if outcomes.len() == batch.len() => outcomes,
                Ok(_) => vec![
                    transport_failure(send::CODE_TRANSPORT, "answer of the wrong length");
                    batch.len()
                ],
                Err(_) => {
                    vec![
                        transport_failure(send::CODE_TIMEOUT, "no answer within half the lease");
                        batch.len()
                    ]
                }
            }
        });
        join_all(calls).await.into_iter().flatten().collect()
    }

    fn is_stopped(&self, channel: Channel) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        match stopped.get(&channel) {
            Some(until) if *until > Utc::now() => true,
            Some(_) => {
                stopped.remove(&channel);
                false
            }
            None => false,
        }
    }

    /// Stops a channel until the next local midnight (the provider's daily quota resets).
    fn stop_until_tomorrow(&self, channel: Channel, now: DateTime<Utc>) {
        let tz = self.runtime.config.rules.tz();
        let local = now.with_timezone(&tz).date_naive();
        let until = local
            .succ_opt()
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .and_then(|midnight| midnight.and_local_timezone(tz).earliest())
            .map_or(now + TimeDelta::hours(24), |at| at.with_timezone(&Utc));
        tracing::warn!(channel = channel.folder(), until = %until, "channel quota used up, falling back until tomorrow");
        self.stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(channel, until);
        self.new_stops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((channel, until));
    }

    async fn mark_dispatched(&self, batch: &[Outgoing]) -> Result<(), ServiceError> {
        let hashes: Vec<String> = batch.iter().map(|o| address_hash(&o.address)).collect();
        let dispatched: Vec<(&str, &str)> = batch
            .iter()
            .zip(&hashes)
            .map(|(o, hash)| (o.delivery_id.as_str(), hash.as_str()))
            .collect();
        let mut tx = self.runtime.store.begin().await?;
        store::mark_dispatched(&mut tx, &dispatched, Utc::now().timestamp_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    fn outcome(
        &self,
        job: &Job,
        item: Ready,
        outcome: SendOutcome,
        now: DateTime<Utc>,
    ) -> Recorded {
        let channel = item.outgoing.channel;
        let base = Recorded {
            id: job.row.id.clone(),
            attempt: job.row.attempt,
            new_attempt: job.row.attempt,
            state: "sent",
            channel_index: i32::try_from(item.channel_index).unwrap_or(i32::MAX),
            channel: Some(channel.folder()),
            next_attempt_at: now.timestamp_millis(),
            provider: None,
            provider_message_id: None,
            recipient_hash: item.recipient_hash.clone(),
            answer: None,
            content: Some(item.content.clone()),
            segments: item.segments,
            sent_at: None,
            settle_by: None,
        };
        match outcome {
            SendOutcome::Accepted {
                provider,
                provider_message_id,
            } => {
                let local = provider == LOCAL_SINK;
                let answer = if local {
                    serde_json::json!({ "sink": "local", "note": "no provider configured: kept here, not sent" })
                } else {
                    serde_json::json!({ "accepted": provider, "provider_message_id": provider_message_id })
                };
                Recorded {
                    provider: (!local).then_some(provider),
                    provider_message_id,
                    answer: Some(answer.to_string()),
                    sent_at: Some(now.timestamp_millis()),
                    ..base
                }
            }
            SendOutcome::Failed(failure) => {
                let answer = failure_answer(&failure);
                // A timed-out SMS may have gone out and SendSms cannot be repeated safely:
                // its receipt settles it, or it is sent again when none comes in time.
                if channel == Channel::Sms && failure.code == send::CODE_TIMEOUT {
                    return Recorded {
                        answer: Some(
                            serde_json::json!({ "uncertain": answer, "note": "sms timed out: awaiting its receipt, sent again if none comes" })
                                .to_string(),
                        ),
                        sent_at: Some(now.timestamp_millis()),
                        settle_by: Some(now.timestamp_millis() + self.receipt_window_ms()),
                        ..base
                    };
                }
                if failure.class == ErrorClass::StopChannelUntilNextDay {
                    self.stop_until_tomorrow(channel, now);
                }
                let decision = plan::after_failure(
                    failure.class,
                    u32::try_from(job.row.attempt).unwrap_or(u32::MAX),
                    item.channel_index,
                    job.channels.len(),
                    now,
                    &self.runtime.config.retry,
                    rand::random::<f64>() * 2.0 - 1.0,
                );
                tracing::debug!(
                    delivery.id = %job.row.id,
                    provider.code = %failure.code,
                    error.class = %failure.class,
                    "notice refused"
                );
                match decision {
                    AfterFailure::Retry { at } => Recorded {
                        state: "queued",
                        next_attempt_at: at.timestamp_millis(),
                        answer: Some(answer.to_string()),
                        ..base
                    },
                    AfterFailure::Fallback { channel_index } => Recorded {
                        state: "queued",
                        new_attempt: 0,
                        channel_index: i32::try_from(channel_index).unwrap_or(i32::MAX),
                        channel: job.channels.get(channel_index).map(|c| c.folder()),
                        answer: Some(answer.to_string()),
                        ..base
                    },
                    AfterFailure::Fail => Recorded {
                        state: "failed",
                        answer: Some(answer.to_string()),
                        ..base
                    },
                }
            }
        }
    }
}

/// The provider name given to notices kept by the local sink (stored as no provider).
const LOCAL_SINK: &str = "local";

fn transport_failure(code: &str, message: &str) -> SendOutcome {
    SendOutcome::Failed(ProviderFailure {
        code: code.to_owned(),
        message: message.to_owned(),
        class: ErrorClass::Retry,
    })
}

fn failure_answer(failure: &ProviderFailure) -> serde_json::Value {
    serde_json::json!({
        "code": failure.code,
        "message": failure.message,
        "class": failure.class.to_string(),
    })
}

fn parse(row: &ClaimedRow) -> Option<Job> {
    let kind = plan::parse_kind(&row.kind)?;
    let names: Vec<String> = serde_json::from_str(&row.channels).ok()?;
    let channels = names
        .iter()
        .map(|name| plan::parse_channel(name))
        .collect::<Option<Vec<_>>>()?;
    let facts = serde_json::from_str(&row.facts).ok()?;
    Some(Job {
        row: row.clone(),
        kind,
        channels,
        facts,
    })
}

fn finished(row: &ClaimedRow, state: &'static str, answer: serde_json::Value) -> Recorded {
    Recorded {
        id: row.id.clone(),
        attempt: row.attempt,
        new_attempt: row.attempt,
        state,
        channel_index: row.channel_index,
        channel: None,
        next_attempt_at: Utc::now().timestamp_millis(),
        provider: None,
        provider_message_id: None,
        recipient_hash: None,
        answer: Some(answer.to_string()),
        content: None,
        segments: None,
        sent_at: None,
        settle_by: None,
    }
}

fn requeue(
    row: &ClaimedRow,
    channel_index: i32,
    channels: &[Channel],
    at: DateTime<Utc>,
    answer: serde_json::Value,
) -> Recorded {
    Recorded {
        state: "queued",
        // Postponing is not a failed attempt.
        new_attempt: row.attempt - 1,
        channel: usize::try_from(channel_index)
            .ok()
            .and_then(|i| channels.get(i))
            .map(|c| c.folder()),
        next_attempt_at: at.timestamp_millis(),
        ..finished(row, "queued", answer)
    }
}

/// What the customer sees, as one text, and the SMS segment count.
fn describe(rendered: &Rendered, signature: &str) -> (String, Option<i32>) {
    match rendered {
        Rendered::Wechat(notice) => {
            let fields: Vec<String> = notice
                .fields
                .iter()
                .map(|(key, value)| format!("{key}: {value}"))
                .collect();
            (fields.join("; "), None)
        }
        Rendered::Sms(notice) => {
            let bare = signature.trim_start_matches('【').trim_end_matches('】');
            (
                format!("【{bare}】{}", notice.text),
                i32::try_from(notice.segments(signature)).ok(),
            )
        }
        Rendered::App(notice) => (notice.payload.to_string(), None),
    }
}

/// The first 16 hex digits of sha256(address): matches an SMS receipt's number to its
/// delivery without storing the number a second time.
pub fn address_hash(address: &str) -> String {
    let digits: String = address.chars().filter(char::is_ascii_digit).collect();
    // Receipts may come without the country code: hash the national number.
    let national = digits.strip_prefix("86").unwrap_or(&digits);
    hex::encode(&Sha256::digest(national.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_receipt_number_matches_with_or_without_the_country_code() {
        assert_eq!(address_hash("+8613711112222"), address_hash("13711112222"));
        assert_ne!(
            address_hash("+8613711112222"),
            address_hash("+8613711112223")
        );
    }

    #[test]
    fn an_sms_is_described_with_its_signature_and_segments() {
        let rendered = Rendered::Sms(crate::templates::SmsNotice {
            text: "停".repeat(64),
        });
        let (text, segments) = describe(&rendered, "东营供电");
        assert!(text.starts_with("【东营供电】"));
        assert_eq!(segments, Some(1));
    }
}
