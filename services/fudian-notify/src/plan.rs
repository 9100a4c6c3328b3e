//! The pure planning core: who gets which notice, on which channels, when; and what the
//! sender does after a provider's answer. No IO, no clock, no randomness: the handlers and
//! the worker pass `now` and a jitter sample in, so every rule here is unit-tested.
//!
//! Rules (issue 5):
//! - A notice has an idempotency key `customer/subject/kind/revision` (plus `/channel` for
//!   the per-channel rows of critical customers); the store keeps it UNIQUE.
//! - Channels: the customer's preference order (the API's over the grid's), minus opted-out
//!   channels, channels without an address and channels without a template for the kind.
//!   Critical customers get one row per channel, sent at once.
//! - Quiet hours delay only planned advance notices and reminders.
//! - Update notices (ETR changed, crew arrived, repair progress) wait a merge window; a
//!   later update of the same subject for the same customer replaces a queued one.
//! - ETR changes are told only when they move by at least 30 minutes, at most once per 30
//!   minutes per customer (a change inside the interval waits for its end).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::ErrorClass;
use crate::config::{NoticeRules, RetryPolicy};
use crate::templates::{Channel, NoticeContext, NoticeKind};

/// A notice kind from its stored name.
pub fn parse_kind(text: &str) -> Option<NoticeKind> {
    NoticeKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == text)
}

/// A channel from its stored name (`wechat`, `sms`, `app`).
pub fn parse_channel(text: &str) -> Option<Channel> {
    Channel::ALL
        .into_iter()
        .find(|channel| channel.folder() == text)
}

/// Notices that quiet hours may delay.
pub fn is_deferrable(kind: NoticeKind) -> bool {
    matches!(
        kind,
        NoticeKind::PlannedAdvance | NoticeKind::PlannedReminder | NoticeKind::PlannedCancelled
    )
}

/// Notices that several updates may merge into one.
pub fn is_update(kind: NoticeKind) -> bool {
    matches!(
        kind,
        NoticeKind::EtrChanged | NoticeKind::CrewArrived | NoticeKind::RepairProgress
    )
}

/// Notices the per-customer hourly limit never holds back.
pub fn always_goes(kind: NoticeKind) -> bool {
    matches!(
        kind,
        NoticeKind::Restored | NoticeKind::PlannedEnd | NoticeKind::OutageCancelled
    )
}

/// How the notify service can reach one customer, resolved from the grid's customer data
/// and the preferences API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// Usable channels in the customer's order.
    pub channels: Vec<Channel>,
    /// Hospitals, life support and other priority customers.
    pub critical: bool,
}

/// What the grid and the preferences API say about a customer.
#[derive(Debug, Clone, Copy)]
pub struct ContactSources<'a> {
    /// The grid's channel order (`channels` column); empty: unknown.
    pub grid_channels: &'a [Channel],
    pub has_phone: bool,
    pub has_wechat: bool,
    pub grid_critical: bool,
    /// The API's channel order, if the customer set one.
    pub preferred: Option<&'a [Channel]>,
    /// Channels the customer opted out of.
    pub opted_out: &'a [Channel],
}

/// Resolves the channels to use: preference order, then addresses and opt-outs.
pub fn resolve_contact(sources: ContactSources<'_>) -> Contact {
    let order: Vec<Channel> = match sources.preferred {
        Some(preferred) => preferred.to_vec(),
        None if !sources.grid_channels.is_empty() => sources.grid_channels.to_vec(),
        // No order given: whatever the customer has an address for, WeChat first (free).
        None => vec![Channel::Wechat, Channel::Sms],
    };
    let mut channels = Vec::with_capacity(order.len());
    for channel in order {
        let reachable = match channel {
            Channel::Wechat => sources.has_wechat,
            Channel::Sms => sources.has_phone,
            // The app addresses customers by their account id.
            Channel::App => true,
        };
        if reachable && !sources.opted_out.contains(&channel) && !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    Contact {
        channels,
        critical: sources.grid_critical,
    }
}

/// The facts a notice tells, stored with its delivery (JSON) and rendered per channel at
/// send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub area: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub estimated_restoration: Option<DateTime<Utc>>,
    #[serde(default)]
    pub planned_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub planned_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    pub reference: String,
}

impl Facts {
    /// The template context, with times in the local zone.
    pub fn context(&self, tz: chrono_tz::Tz, detail_url: String) -> NoticeContext {
        let local = |at: DateTime<Utc>| -> NaiveDateTime { at.with_timezone(&tz).naive_local() };
        NoticeContext {
            area: self.area.clone(),
            occurred_at: local(self.occurred_at),
            estimated_restoration: self.estimated_restoration.map(local),
            planned_start: self.planned_start.map(local),
            planned_end: self.planned_end.map(local),
            cause: self.cause.clone(),
            progress: self.progress.clone(),
            detail_url,
            reference: self.reference.clone(),
        }
    }
}

/// A notice to insert as a delivery row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub key: String,
    pub customer: String,
    pub subject: String,
    pub kind: NoticeKind,
    pub revision: i64,
    /// Channels in the order to try; one for a critical customer's per-channel row.
    pub channels: Vec<Channel>,
    pub critical: bool,
    pub urgent: bool,
    pub due_at: DateTime<Utc>,
    pub facts: Facts,
    /// Why nothing can be sent (no usable channel, unknown customer): stored `suppressed`.
    pub suppressed: Option<String>,
}

/// The idempotency key of a notice.
pub fn idempotency_key(
    customer: &str,
    subject: &str,
    kind: NoticeKind,
    revision: i64,
    channel: Option<Channel>,
) -> String {
    match channel {
        Some(channel) => format!(
            "{customer}/{subject}/{kind}/{revision}/{}",
            channel.folder()
        ),
        None => format!("{customer}/{subject}/{kind}/{revision}"),
    }
}

/// One notice kind for a set of customers.
#[derive(Debug, Clone)]
pub struct FanOut<'a> {
    pub kind: NoticeKind,
    pub subject: &'a str,
    pub revision: i64,
    pub facts: &'a Facts,
    /// When ordinary customers get it.
    pub due_at: DateTime<Utc>,
    /// When critical customers get it (no merge window, no quiet hours).
    pub critical_due_at: DateTime<Utc>,
}

impl<'a> FanOut<'a> {
    /// A notice told once per subject (revision 0) that goes to everyone at `now`.
    pub fn at_once(
        kind: NoticeKind,
        subject: &'a str,
        facts: &'a Facts,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            subject,
            revision: 0,
            facts,
            due_at: now,
            critical_due_at: now,
        }
    }
}

/// One row per customer, or one per channel for critical customers; `contact` is `None`
/// for a customer the grid does not know.
pub fn fan_out<'c>(
    plan: &FanOut<'_>,
    audience: impl IntoIterator<Item = (&'c str, Option<&'c Contact>)>,
    has_template: impl Fn(Channel, NoticeKind) -> bool,
) -> Vec<NewNotice> {
    let urgent = !is_deferrable(plan.kind);
    let mut notices = Vec::new();
    for (customer, contact) in audience {
        let base = |key: String, channels: Vec<Channel>, critical: bool| NewNotice {
            key,
            customer: customer.to_owned(),
            subject: plan.subject.to_owned(),
            kind: plan.kind,
            revision: plan.revision,
            channels,
            critical,
            urgent,
            due_at: if critical {
                plan.critical_due_at
            } else {
                plan.due_at
            },
            facts: plan.facts.clone(),
            suppressed: None,
        };
        let key = idempotency_key(customer, plan.subject, plan.kind, plan.revision, None);
        let Some(contact) = contact else {
            notices.push(NewNotice {
                suppressed: Some("customer not in the grid's customer data".into()),
                ..base(key, Vec::new(), false)
            });
            continue;
        };
        let channels: Vec<Channel> = contact
            .channels
            .iter()
            .copied()
            .filter(|&channel| has_template(channel, plan.kind))
            .collect();
        if channels.is_empty() {
            notices.push(NewNotice {
                suppressed: Some(format!(
                    "no usable channel for a {} notice (opted out, no address or no template)",
                    plan.kind
                )),
                ..base(key, Vec::new(), contact.critical)
            });
        } else if contact.critical {
            for channel in channels {
                let key = idempotency_key(
                    customer,
                    plan.subject,
                    plan.kind,
                    plan.revision,
                    Some(channel),
                );
                notices.push(base(key, vec![channel], true));
            }
        } else {
            notices.push(base(key, channels, false));
        }
    }
    notices
}

fn in_quiet_hours(time: chrono::NaiveTime, rules: &NoticeRules) -> bool {
    let (start, end) = (rules.quiet_start, rules.quiet_end);
    if start == end {
        false
    } else if start < end {
        time >= start && time < end
    } else {
        time >= start || time < end
    }
}

/// `at`, or the end of the quiet hours it falls in.
pub fn after_quiet_hours(at: DateTime<Utc>, rules: &NoticeRules) -> DateTime<Utc> {
    let tz = rules.tz();
    let local = at.with_timezone(&tz);
    if !in_quiet_hours(local.time(), rules) {
        return at;
    }
    let mut date = local.date_naive();
    if local.time() >= rules.quiet_end {
        date = date.succ_opt().unwrap_or(date);
    }
    let end = date.and_time(rules.quiet_end);
    end.and_local_timezone(tz)
        .earliest()
        .map_or(at, |end| end.with_timezone(&Utc))
}

/// When a planned-outage reminder goes: `remind_at` out of quiet hours, unless that would
/// bring it within an hour of the start (then at `remind_at` itself: late is worse than
/// at night).
pub fn reminder_due(
    remind_at: DateTime<Utc>,
    start: DateTime<Utc>,
    rules: &NoticeRules,
) -> DateTime<Utc> {
    let adjusted = after_quiet_hours(remind_at, rules);
    if adjusted + TimeDelta::hours(1) <= start {
        adjusted
    } else {
        remind_at
    }
}

/// What a customer was last told about an incident's ETR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EtrTold {
    pub etr: Option<DateTime<Utc>>,
    pub notice_at: Option<DateTime<Utc>>,
}

/// When to tell a customer the new ETR, or `None` when it moved less than the threshold
/// from what they were told. A notice inside the interval after the last one waits for
/// the interval's end.
pub fn etr_notice_due(
    told: EtrTold,
    new_etr: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &NoticeRules,
) -> Option<DateTime<Utc>> {
    if let Some(previous) = told.etr {
        let moved = (new_etr - previous).num_minutes().abs();
        if moved < rules.etr_min_change_mins {
            return None;
        }
    }
    let merged = now + secs(rules.merge_window_secs);
    let earliest = told
        .notice_at
        .map(|at| at + TimeDelta::minutes(rules.etr_min_interval_mins));
    Some(earliest.map_or(merged, |earliest| earliest.max(merged)))
}

/// Customers to tell their supply is back: those restored and not still out under another
/// incident or job (a nested outage).
pub fn really_restored<'a>(
    restored: impl IntoIterator<Item = &'a str>,
    still_out_elsewhere: &HashSet<String>,
) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    restored
        .into_iter()
        .filter(|customer| !still_out_elsewhere.contains(*customer) && seen.insert(*customer))
        .collect()
}

/// What the per-customer hourly limit says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitDecision {
    Send,
    /// An update superseded by later ones anyway: drop it.
    Suppress,
    /// Must still go: after the postponement.
    Postpone,
}

pub fn limit_decision(
    kind: NoticeKind,
    critical: bool,
    sent_last_hour: u32,
    rules: &NoticeRules,
) -> LimitDecision {
    if always_goes(kind) || critical || sent_last_hour < rules.per_customer_per_hour {
        LimitDecision::Send
    } else if is_update(kind) {
        LimitDecision::Suppress
    } else {
        LimitDecision::Postpone
    }
}

/// What to do with a delivery after a refused send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Same channel, later.
    Retry { at: DateTime<Utc> },
    /// The next channel in the customer's order, now.
    Fallback { channel_index: usize },
    /// Give up.
    Fail,
}

/// The delay before retry `attempt` (1 = after the first send): doubled per attempt up to
/// the maximum, with `jitter_sample` in [-1, 1] moving it by up to ±jitter.
pub fn backoff(attempt: u32, policy: &RetryPolicy, jitter_sample: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let raw = policy
        .base_delay_ms
        .saturating_mul(1u64 << exponent)
        .min(policy.max_delay_ms);
    let factor = 1.0 + policy.jitter * jitter_sample.clamp(-1.0, 1.0);
    Duration::from_millis((raw as f64 * factor).round() as u64)
}

/// The decision table of issue 5 over [`ErrorClass`]: transient classes retry with backoff
/// until the attempts are used up, then fall back; every other failure falls back to the
/// next channel at once, and fails when there is none.
pub fn after_failure(
    class: ErrorClass,
    attempt: u32,
    channel_index: usize,
    channel_count: usize,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    jitter_sample: f64,
) -> AfterFailure {
    let next_channel = (channel_index + 1 < channel_count).then_some(channel_index + 1);
    let fallback_or_fail = || match next_channel {
        Some(channel_index) => AfterFailure::Fallback { channel_index },
        None => AfterFailure::Fail,
    };
    let attempts_left = attempt < policy.max_attempts;
    let retry = || AfterFailure::Retry {
        at: now + to_delta(backoff(attempt, policy, jitter_sample)),
    };
    match class {
        ErrorClass::Retry | ErrorClass::RefreshTokenAndRetryOnce => {
            if attempts_left {
                retry()
            } else {
                fallback_or_fail()
            }
        }
        ErrorClass::RetryAfterNextMinute => {
            if attempts_left {
                let next_minute = now
                    .with_second(0)
                    .and_then(|at| at.with_nanosecond(0))
                    .map_or(now, |at| at + TimeDelta::minutes(1));
                AfterFailure::Retry {
                    at: next_minute + TimeDelta::seconds(1),
                }
            } else {
                fallback_or_fail()
            }
        }
        // This recipient is rate-limited here: another channel now beats waiting.
        ErrorClass::Defer => match next_channel {
            Some(channel_index) => AfterFailure::Fallback { channel_index },
            None if attempts_left => retry(),
            None => AfterFailure::Fail,
        },
        // Nothing will get through on this channel (for this recipient, today, or until
        // operations fix the account): the customer is better served by the next one.
        // Content refused on this channel (a template bug) or a code we do not know:
        // another channel's template may still reach the customer; operations see it.
        ErrorClass::StopChannelUntilNextDay
        | ErrorClass::PermanentForRecipient
        | ErrorClass::FatalConfiguration
        | ErrorClass::InvalidContent
        | ErrorClass::Unrecognized => fallback_or_fail(),
    }
}

pub fn secs(seconds: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1_000_000))
}

pub fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Unix milliseconds, the stored time format.
pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn facts() -> Facts {
        Facts {
            area: "网格01-01".into(),
            occurred_at: utc("2026-11-26T06:00:00Z"),
            estimated_restoration: Some(utc("2026-11-26T09:30:00Z")),
            planned_start: None,
            planned_end: None,
            cause: None,
            progress: None,
            reference: "INC-1".into(),
        }
    }

    fn contact(channels: &[Channel], critical: bool) -> Contact {
        Contact {
            channels: channels.to_vec(),
            critical,
        }
    }

    #[test]
    fn preferences_override_the_grid_and_opt_outs_and_missing_addresses_drop_channels() {
        let sources = ContactSources {
            grid_channels: &[Channel::Wechat, Channel::Sms],
            has_phone: true,
            has_wechat: false,
            grid_critical: false,
            preferred: None,
            opted_out: &[],
        };
        assert_eq!(resolve_contact(sources).channels, vec![Channel::Sms]);
        let preferred = [Channel::App, Channel::Sms, Channel::Wechat];
        let with_prefs = ContactSources {
            preferred: Some(&preferred),
            has_wechat: true,
            opted_out: &[Channel::Sms],
            ..sources
        };
        assert_eq!(
            resolve_contact(with_prefs).channels,
            vec![Channel::App, Channel::Wechat]
        );
    }

    #[test]
    fn critical_customers_get_one_row_per_channel_and_others_one_row_with_fallbacks() {
        let facts = facts();
        let now = utc("2026-11-26T06:00:05Z");
        let plan = FanOut {
            kind: NoticeKind::OutageDetected,
            subject: "INC-1",
            revision: 0,
            facts: &facts,
            due_at: now,
            critical_due_at: now,
        };
        let ordinary = contact(&[Channel::Wechat, Channel::Sms], false);
        let hospital = contact(&[Channel::Sms, Channel::Wechat, Channel::App], true);
        let notices = fan_out(
            &plan,
            [
                ("C1", Some(&ordinary)),
                ("H1", Some(&hospital)),
                ("X", None),
            ],
            |_, _| true,
        );
        assert_eq!(notices.len(), 5);
        assert_eq!(notices[0].key, "C1/INC-1/outage_detected/0");
        assert_eq!(notices[0].channels, vec![Channel::Wechat, Channel::Sms]);
        let hospital_keys: Vec<&str> = notices[1..4].iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            hospital_keys,
            [
                "H1/INC-1/outage_detected/0/sms",
                "H1/INC-1/outage_detected/0/wechat",
                "H1/INC-1/outage_detected/0/app"
            ]
        );
        assert!(notices[4].suppressed.is_some());
    }

    #[test]
    fn a_channel_without_a_template_for_the_kind_is_skipped_and_none_left_is_suppressed() {
        let facts = facts();
        let now = utc("2026-11-26T06:00:05Z");
        let plan = FanOut {
            kind: NoticeKind::CrewArrived,
            subject: "INC-1",
            revision: 0,
            facts: &facts,
            due_at: now,
            critical_due_at: now,
        };
        let sms_only = contact(&[Channel::Sms], false);
        let both = contact(&[Channel::Sms, Channel::Wechat], false);
        let no_sms = |channel: Channel, _| channel != Channel::Sms;
        let notices = fan_out(&plan, [("A", Some(&sms_only)), ("B", Some(&both))], no_sms);
        assert!(
            notices[0]
                .suppressed
                .as_deref()
                .unwrap()
                .contains("no usable channel")
        );
        assert_eq!(notices[1].channels, vec![Channel::Wechat]);
    }

    #[test]
    fn quiet_hours_move_a_notice_to_seven_in_the_morning_shanghai_time() {
        let rules = NoticeRules::default();
        // 23:10 in Shanghai is 15:10 UTC: next 07:00 local is 23:00 UTC.
        assert_eq!(
            after_quiet_hours(utc("2026-11-26T15:10:00Z"), &rules),
            utc("2026-11-26T23:00:00Z")
        );
        // 03:00 local (19:00 UTC the day before) goes at 07:00 the same local day.
        assert_eq!(
            after_quiet_hours(utc("2026-11-26T19:00:00Z"), &rules),
            utc("2026-11-26T23:00:00Z")
        );
        // 14:00 local is open.
        let open = utc("2026-11-26T06:00:00Z");
        assert_eq!(after_quiet_hours(open, &rules), open);
    }

    #[test]
    fn a_reminder_pushed_past_the_start_by_quiet_hours_goes_at_night_instead() {
        let rules = NoticeRules::default();
        // Remind 23:00 local, start 07:30 local the next morning.
        let remind = utc("2026-12-02T15:00:00Z");
        let start = utc("2026-12-02T23:30:00Z");
        assert_eq!(reminder_due(remind, start, &rules), remind);
        // Start at 10:00 local: the reminder waits for 07:00.
        let later_start = utc("2026-12-03T02:00:00Z");
        assert_eq!(
            reminder_due(remind, later_start, &rules),
            utc("2026-12-02T23:00:00Z")
        );
    }

    #[test]
    fn etr_changes_under_thirty_minutes_are_not_told_and_notices_keep_thirty_minutes_apart() {
        let rules = NoticeRules::default();
        let now = utc("2026-11-26T07:00:00Z");
        let told = EtrTold {
            etr: Some(utc("2026-11-26T09:30:00Z")),
            notice_at: None,
        };
        assert_eq!(
            etr_notice_due(told, utc("2026-11-26T09:50:00Z"), now, &rules),
            None
        );
        assert_eq!(
            etr_notice_due(told, utc("2026-11-26T10:00:00Z"), now, &rules),
            Some(now + TimeDelta::seconds(120))
        );
        let recently = EtrTold {
            notice_at: Some(utc("2026-11-26T06:50:00Z")),
            ..told
        };
        assert_eq!(
            etr_notice_due(recently, utc("2026-11-26T08:30:00Z"), now, &rules),
            Some(utc("2026-11-26T07:20:00Z"))
        );
    }

    #[test]
    fn customers_still_out_under_a_nested_outage_are_not_told_they_are_restored() {
        let elsewhere: HashSet<String> = ["C2".to_owned()].into();
        assert_eq!(
            really_restored(["C1", "C2", "C3", "C1"], &elsewhere),
            vec!["C1", "C3"]
        );
    }

    #[test]
    fn the_hourly_limit_holds_updates_and_postpones_others_but_never_restoration() {
        let rules = NoticeRules::default();
        let limit = rules.per_customer_per_hour;
        assert_eq!(
            limit_decision(NoticeKind::Restored, false, limit + 5, &rules),
            LimitDecision::Send
        );
        assert_eq!(
            limit_decision(NoticeKind::EtrChanged, false, limit, &rules),
            LimitDecision::Suppress
        );
        assert_eq!(
            limit_decision(NoticeKind::OutageDetected, false, limit, &rules),
            LimitDecision::Postpone
        );
        assert_eq!(
            limit_decision(NoticeKind::EtrChanged, true, limit, &rules),
            LimitDecision::Send
        );
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_caps() {
        let policy = RetryPolicy::default();
        assert_eq!(backoff(1, &policy, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(3, &policy, 0.0), Duration::from_secs(20));
        assert_eq!(backoff(3, &policy, 1.0), Duration::from_secs(24));
        assert_eq!(backoff(3, &policy, -1.0), Duration::from_secs(16));
        assert_eq!(backoff(40, &policy, 0.0), Duration::from_secs(3600));
    }

    #[test]
    fn not_following_the_account_falls_back_to_the_next_channel_and_busy_retries() {
        let policy = RetryPolicy::default();
        let now = utc("2026-11-26T07:00:00Z");
        assert_eq!(
            after_failure(
                ErrorClass::PermanentForRecipient,
                1,
                0,
                2,
                now,
                &policy,
                0.0
            ),
            AfterFailure::Fallback { channel_index: 1 }
        );
        assert_eq!(
            after_failure(
                ErrorClass::PermanentForRecipient,
                1,
                1,
                2,
                now,
                &policy,
                0.0
            ),
            AfterFailure::Fail
        );
        assert_eq!(
            after_failure(ErrorClass::Retry, 1, 0, 2, now, &policy, 0.0),
            AfterFailure::Retry {
                at: now + TimeDelta::seconds(5)
            }
        );
        assert_eq!(
            after_failure(
                ErrorClass::Retry,
                policy.max_attempts,
                0,
                2,
                now,
                &policy,
                0.0
            ),
            AfterFailure::Fallback { channel_index: 1 }
        );
        assert_eq!(
            after_failure(
                ErrorClass::RetryAfterNextMinute,
                1,
                0,
                1,
                utc("2026-11-26T07:00:42Z"),
                &policy,
                0.0
            ),
            AfterFailure::Retry {
                at: utc("2026-11-26T07:01:01Z")
            }
        );
        assert_eq!(
            after_failure(ErrorClass::Defer, 1, 0, 1, now, &policy, 0.0),
            AfterFailure::Retry {
                at: now + TimeDelta::seconds(5)
            }
        );
    }
}
