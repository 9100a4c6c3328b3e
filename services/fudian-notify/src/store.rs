//! All SQL of the notify service, on PostgreSQL and on the embedded SQLite store:
//! preferences, subjects (incidents and planned jobs), who is out where, deliveries (the
//! outbox the sender pool claims from) and seen receipts. Everything runs inside a [`Tx`]:
//! the consumer's writes commit with its inbox mark; the worker's claim and record are
//! their own short transactions.
//!
//! Lists are one statement, never a loop of single-row statements: the two hot paths
//! (inserting a fan-out, recording a sent batch) bind arrays for `UNNEST` on PostgreSQL;
//! the rest pass one JSON text (`jsonb_to_recordset` / `jsonb_array_elements_text` on
//! PostgreSQL), and SQLite always reads JSON (`json_each`). Times are Unix milliseconds.
//! `$n` placeholders are numbered; sqlx binds them by number on both backends. Where only
//! SQLite runs a statement (PostgreSQL took its own branch before), the PostgreSQL text
//! of `exec!` says so.

use std::collections::{HashMap, HashSet};

use fudian_store::Tx;
use serde::Serialize;
use sqlx::FromRow;

use crate::plan::NewNotice;
use crate::service_error::ServiceError;
use crate::templates::NoticeKind;

type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Rows per multi-row statement, so one statement's JSON stays a few megabytes.
const CHUNK: usize = 5_000;

/// Runs one statement (its PostgreSQL and SQLite text); yields rows affected.
macro_rules! exec {
    ($tx:expr, $pg:expr, $lite:expr $(, $arg:expr)* $(,)?) => {{
        let tx: &mut Tx = $tx;
        if let Some(conn) = tx.as_postgres() {
            sqlx::query($pg)$(.bind($arg))*.execute(conn).await?.rows_affected()
        } else if let Some(conn) = tx.as_sqlite() {
            sqlx::query($lite)$(.bind($arg))*.execute(conn).await?.rows_affected()
        } else {
            return Err(ServiceError::UnsupportedBackend);
        }
    }};
}

/// Runs one query and decodes every row as `$ty`.
macro_rules! fetch {
    ($tx:expr, $ty:ty, $pg:expr, $lite:expr $(, $arg:expr)* $(,)?) => {{
        let tx: &mut Tx = $tx;
        if let Some(conn) = tx.as_postgres() {
            sqlx::query_as::<_, $ty>($pg)$(.bind($arg))*.fetch_all(conn).await?
        } else if let Some(conn) = tx.as_sqlite() {
            sqlx::query_as::<_, $ty>($lite)$(.bind($arg))*.fetch_all(conn).await?
        } else {
            return Err(ServiceError::UnsupportedBackend);
        }
    }};
}

fn json_ids<S: AsRef<str>>(ids: &[S]) -> Result<String> {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    Ok(serde_json::to_string(&ids)?)
}

// ---------------------------------------------------------------- preferences

/// A customer's preferences as stored (JSON arrays of channel names).
#[derive(Debug, Clone, FromRow)]
pub struct PreferencesRow {
    pub customer_id: String,
    pub channels: Option<String>,
    pub opted_out: String,
    pub updated_at: i64,
}

pub async fn preferences_of<S: AsRef<str>>(
    tx: &mut Tx,
    customers: &[S],
) -> Result<HashMap<String, PreferencesRow>> {
    let mut found = HashMap::new();
    for chunk in customers.chunks(CHUNK) {
        let ids = json_ids(chunk)?;
        let rows = fetch!(
            tx,
            PreferencesRow,
            "SELECT customer_id, channels, opted_out, updated_at FROM notify.preferences \
             WHERE customer_id IN (SELECT jsonb_array_elements_text($1::text::jsonb))",
            "SELECT customer_id, channels, opted_out, updated_at FROM notify.preferences \
             WHERE customer_id IN (SELECT value FROM json_each($1))",
            &ids
        );
        found.extend(rows.into_iter().map(|row| (row.customer_id.clone(), row)));
    }
    Ok(found)
}

pub async fn put_preferences(tx: &mut Tx, row: &PreferencesRow) -> Result<()> {
    const SQL: &str = "INSERT INTO notify.preferences (customer_id, channels, opted_out, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id) DO UPDATE SET \
         channels = excluded.channels, opted_out = excluded.opted_out, updated_at = excluded.updated_at";
    exec!(
        tx,
        SQL,
        SQL,
        &row.customer_id,
        &row.channels,
        &row.opted_out,
        row.updated_at
    );
    Ok(())
}

// ---------------------------------------------------------------- subjects

/// An incident or planned job as notify knows it.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SubjectRow {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub revision: i64,
    pub area: String,
    pub cause: Option<String>,
    pub started_at: i64,
    pub etr: Option<i64>,
    pub ended_at: Option<i64>,
    pub crew_status: Option<String>,
    pub crew_note: Option<String>,
    pub updated_at: i64,
}

/// Inserts or replaces a subject, unless the stored one has a higher revision (events
/// may arrive out of order). Crew fields are kept.
pub async fn upsert_subject(tx: &mut Tx, row: &SubjectRow) -> Result<()> {
    const SQL: &str = "INSERT INTO notify.subjects \
         (id, kind, state, revision, area, cause, started_at, etr, ended_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, revision = excluded.revision, \
         area = excluded.area, cause = excluded.cause, started_at = excluded.started_at, \
         etr = excluded.etr, ended_at = excluded.ended_at, updated_at = excluded.updated_at \
         WHERE notify.subjects.revision <= excluded.revision";
    const LITE: &str = "INSERT INTO notify.subjects \
         (id, kind, state, revision, area, cause, started_at, etr, ended_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, revision = excluded.revision, \
         area = excluded.area, cause = excluded.cause, started_at = excluded.started_at, \
         etr = excluded.etr, ended_at = excluded.ended_at, updated_at = excluded.updated_at \
         WHERE subjects.revision <= excluded.revision";
    exec!(
        tx,
        SQL,
        LITE,
        &row.id,
        &row.kind,
        &row.state,
        row.revision,
        &row.area,
        &row.cause,
        row.started_at,
        row.etr,
        row.ended_at,
        row.updated_at
    );
    Ok(())
}

/// Sets state and end of a subject (restored, cancelled, started, completed).
pub async fn set_subject_state(
    tx: &mut Tx,
    id: &str,
    state: &str,
    ended_at: Option<i64>,
    now: i64,
) -> Result<()> {
    const SQL: &str = "UPDATE notify.subjects SET state = $2, ended_at = COALESCE($3, ended_at), \
                       updated_at = $4 WHERE id = $1";
    exec!(tx, SQL, SQL, id, state, ended_at, now);
    Ok(())
}

pub async fn set_subject_etr(tx: &mut Tx, id: &str, etr: i64, now: i64) -> Result<()> {
    const SQL: &str = "UPDATE notify.subjects SET etr = $2, updated_at = $3 WHERE id = $1";
    exec!(tx, SQL, SQL, id, etr, now);
    Ok(())
}

pub async fn set_subject_crew(
    tx: &mut Tx,
    id: &str,
    status: &str,
    note: Option<&str>,
    now: i64,
) -> Result<()> {
    const SQL: &str = "UPDATE notify.subjects SET crew_status = $2, \
                       crew_note = COALESCE($3, crew_note), updated_at = $4 WHERE id = $1";
    exec!(tx, SQL, SQL, id, status, note, now);
    Ok(())
}

pub async fn subject(tx: &mut Tx, id: &str) -> Result<Option<SubjectRow>> {
    const SQL: &str = "SELECT id, kind, state, revision, area, cause, started_at, etr, ended_at, \
                       crew_status, crew_note, updated_at FROM notify.subjects WHERE id = $1";
    Ok(fetch!(tx, SubjectRow, SQL, SQL, id).into_iter().next())
}

/// The subjects a customer is out under now, with since when.
pub async fn outages_of_customer(tx: &mut Tx, customer: &str) -> Result<Vec<(SubjectRow, i64)>> {
    #[derive(FromRow)]
    struct Row {
        subject: String,
        since: i64,
    }
    const SQL: &str =
        "SELECT subject_id AS subject, since FROM notify.outages WHERE customer_id = $1";
    let rows = fetch!(tx, Row, SQL, SQL, customer);
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(subject) = subject(tx, &row.subject).await? {
            found.push((subject, row.since));
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------- outages

/// A customer out under a subject, with the ETR they were last told.
#[derive(Debug, Clone, FromRow)]
pub struct OutageRow {
    pub customer_id: String,
    pub told_etr: Option<i64>,
    pub etr_notice_at: Option<i64>,
}

pub async fn outages_of(tx: &mut Tx, subject: &str) -> Result<Vec<OutageRow>> {
    const SQL: &str = "SELECT customer_id, told_etr, etr_notice_at FROM notify.outages \
                       WHERE subject_id = $1";
    Ok(fetch!(tx, OutageRow, SQL, SQL, subject))
}

/// Records customers as out under `subject` (those already recorded are kept).
pub async fn insert_outages<S: AsRef<str>>(
    tx: &mut Tx,
    subject: &str,
    customers: &[S],
    since: i64,
    told_etr: Option<i64>,
) -> Result<()> {
    for chunk in customers.chunks(CHUNK) {
        let ids = json_ids(chunk)?;
        exec!(
            tx,
            "INSERT INTO notify.outages (customer_id, subject_id, since, told_etr) \
             SELECT c, $2, $3, $4 FROM jsonb_array_elements_text($1::text::jsonb) AS c \
             ON CONFLICT DO NOTHING",
            "INSERT INTO notify.outages (customer_id, subject_id, since, told_etr) \
             SELECT value, $2, $3, $4 FROM json_each($1) WHERE true ON CONFLICT DO NOTHING",
            &ids,
            subject,
            since,
            told_etr
        );
    }
    Ok(())
}

pub async fn delete_outages<S: AsRef<str>>(
    tx: &mut Tx,
    subject: &str,
    customers: &[S],
) -> Result<()> {
    for chunk in customers.chunks(CHUNK) {
        let ids = json_ids(chunk)?;
        exec!(
            tx,
            "DELETE FROM notify.outages WHERE subject_id = $2 \
             AND customer_id IN (SELECT jsonb_array_elements_text($1::text::jsonb))",
            "DELETE FROM notify.outages WHERE subject_id = $2 \
             AND customer_id IN (SELECT value FROM json_each($1))",
            &ids,
            subject
        );
    }
    Ok(())
}

/// Removes every customer of `subject`; returns who they were.
pub async fn delete_all_outages(tx: &mut Tx, subject: &str) -> Result<Vec<String>> {
    #[derive(FromRow)]
    struct Row {
        customer_id: String,
    }
    const SQL: &str = "DELETE FROM notify.outages WHERE subject_id = $1 RETURNING customer_id";
    Ok(fetch!(tx, Row, SQL, SQL, subject)
        .into_iter()
        .map(|row| row.customer_id)
        .collect())
}

/// Which of `customers` are out under a subject other than `subject`.
pub async fn out_elsewhere<S: AsRef<str>>(
    tx: &mut Tx,
    subject: &str,
    customers: &[S],
) -> Result<HashSet<String>> {
    #[derive(FromRow)]
    struct Row {
        customer_id: String,
    }
    let mut found = HashSet::new();
    for chunk in customers.chunks(CHUNK) {
        let ids = json_ids(chunk)?;
        let rows = fetch!(
            tx,
            Row,
            "SELECT DISTINCT customer_id FROM notify.outages WHERE subject_id <> $2 \
             AND customer_id IN (SELECT jsonb_array_elements_text($1::text::jsonb))",
            "SELECT DISTINCT customer_id FROM notify.outages WHERE subject_id <> $2 \
             AND customer_id IN (SELECT value FROM json_each($1))",
            &ids,
            subject
        );
        found.extend(rows.into_iter().map(|row| row.customer_id));
    }
    Ok(found)
}

#[derive(Serialize)]
pub struct EtrTold<'a> {
    pub c: &'a str,
    pub etr: i64,
    pub at: i64,
}

/// Records the ETR each customer will be told and when.
pub async fn set_told_etr(tx: &mut Tx, subject: &str, rows: &[EtrTold<'_>]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let json = serde_json::to_string(chunk)?;
        exec!(
            tx,
            "UPDATE notify.outages AS o SET told_etr = r.etr, etr_notice_at = r.at \
             FROM jsonb_to_recordset($1::text::jsonb) AS r(c text, etr bigint, at bigint) \
             WHERE o.subject_id = $2 AND o.customer_id = r.c",
            "UPDATE notify.outages AS o SET told_etr = r.etr, etr_notice_at = r.at \
             FROM (SELECT json_extract(value, '$.c') AS c, json_extract(value, '$.etr') AS etr, \
                   json_extract(value, '$.at') AS at FROM json_each($1)) AS r \
             WHERE o.subject_id = $2 AND o.customer_id = r.c",
            &json,
            subject
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- deliveries: planning

#[derive(Serialize)]
struct InsertRow<'a> {
    id: String,
    key: &'a str,
    customer: &'a str,
    subject: &'a str,
    kind: &'static str,
    revision: i64,
    channels: String,
    channel: Option<&'static str>,
    critical: bool,
    urgent: bool,
    state: &'static str,
    due: i64,
    answer: Option<String>,
}

/// Inserts the planned notices; a key already present is skipped (the notice was planned
/// before). Returns how many rows were new. The notices of one fan-out share their facts,
/// which travel once per statement rather than once per row.
pub async fn insert_deliveries(tx: &mut Tx, notices: &[NewNotice], now: i64) -> Result<u64> {
    let mut inserted = 0;
    let mut start = 0;
    while start < notices.len() {
        let facts = &notices[start].facts;
        let end = notices[start..]
            .iter()
            .take(CHUNK)
            .position(|notice| notice.facts != *facts)
            .map_or((start + CHUNK).min(notices.len()), |offset| start + offset);
        inserted += insert_chunk(tx, &notices[start..end], now).await?;
        start = end;
    }
    Ok(inserted)
}

/// Inserts notices that all have the same facts: on PostgreSQL as arrays (`UNNEST`, the
/// fastest multi-row insert short of COPY), on SQLite as one JSON array.
async fn insert_chunk(tx: &mut Tx, chunk: &[NewNotice], now: i64) -> Result<u64> {
    let Some(first) = chunk.first() else {
        return Ok(0);
    };
    let facts = serde_json::to_string(&first.facts)?;
    let mut rows = Vec::with_capacity(chunk.len());
    for notice in chunk {
        let channels: Vec<&str> = notice.channels.iter().map(|c| c.folder()).collect();
        rows.push(InsertRow {
            id: new_delivery_id(),
            key: &notice.key,
            customer: &notice.customer,
            subject: &notice.subject,
            kind: notice.kind.as_str(),
            revision: notice.revision,
            channels: serde_json::to_string(&channels)?,
            channel: notice.channels.first().map(|c| c.folder()),
            critical: notice.critical,
            urgent: notice.urgent,
            state: if notice.suppressed.is_some() {
                "suppressed"
            } else {
                "queued"
            },
            due: notice.due_at.timestamp_millis(),
            answer: notice
                .suppressed
                .as_ref()
                .map(|reason| serde_json::json!({ "suppressed": reason }).to_string()),
        });
    }
    if let Some(conn) = tx.as_postgres() {
        let column = |f: fn(&InsertRow<'_>) -> String| rows.iter().map(f).collect::<Vec<_>>();
        let ids = column(|r| r.id.clone());
        let keys = column(|r| r.key.to_owned());
        let customers = column(|r| r.customer.to_owned());
        let subjects = column(|r| r.subject.to_owned());
        let kinds = column(|r| r.kind.to_owned());
        let channels = column(|r| r.channels.clone());
        let states = column(|r| r.state.to_owned());
        let revisions: Vec<i64> = rows.iter().map(|r| r.revision).collect();
        let channel: Vec<Option<&str>> = rows.iter().map(|r| r.channel).collect();
        let critical: Vec<bool> = rows.iter().map(|r| r.critical).collect();
        let urgent: Vec<bool> = rows.iter().map(|r| r.urgent).collect();
        let due: Vec<i64> = rows.iter().map(|r| r.due).collect();
        let answers: Vec<Option<&str>> = rows.iter().map(|r| r.answer.as_deref()).collect();
        let inserted = sqlx::query(
            "INSERT INTO notify.deliveries (id, idempotency_key, customer_id, subject_id, kind, \
                 revision, channels, channel, critical, urgent, state, facts, next_attempt_at, \
                 answer, created_at, updated_at) \
             SELECT r.id, r.key, r.customer, r.subject, r.kind, r.revision, r.channels, \
                 r.channel, r.critical, r.urgent, r.state, $14, r.due, r.answer, $15, $15 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::bigint[], $7::text[], $8::text[], $9::boolean[], $10::boolean[], \
                 $11::text[], $12::bigint[], $13::text[]) \
                 AS r(id, key, customer, subject, kind, revision, channels, channel, critical, \
                 urgent, state, due, answer) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&ids)
        .bind(&keys)
        .bind(&customers)
        .bind(&subjects)
        .bind(&kinds)
        .bind(&revisions)
        .bind(&channels)
        .bind(&channel)
        .bind(&critical)
        .bind(&urgent)
        .bind(&states)
        .bind(&due)
        .bind(&answers)
        .bind(&facts)
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected();
        return Ok(inserted);
    }
    let json = serde_json::to_string(&rows)?;
    Ok(exec!(
        tx,
        "unused: postgresql took the branch above",
        "INSERT INTO notify.deliveries (id, idempotency_key, customer_id, subject_id, kind, \
             revision, channels, channel, critical, urgent, state, facts, next_attempt_at, \
             answer, created_at, updated_at) \
         SELECT json_extract(value, '$.id'), json_extract(value, '$.key'), \
             json_extract(value, '$.customer'), json_extract(value, '$.subject'), \
             json_extract(value, '$.kind'), json_extract(value, '$.revision'), \
             json_extract(value, '$.channels'), json_extract(value, '$.channel'), \
             json_extract(value, '$.critical'), json_extract(value, '$.urgent'), \
             json_extract(value, '$.state'), $3, \
             json_extract(value, '$.due'), json_extract(value, '$.answer'), $2, $2 \
         FROM json_each($1) WHERE true ON CONFLICT (idempotency_key) DO NOTHING",
        &json,
        now,
        &facts
    ))
}

/// A delivery id: `dlv_` + a UUIDv7 (time-ordered, so ids sort by creation).
pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7().simple())
}

/// Marks the queued update notices (ETR, crew, progress) of these customers on `subject`
/// suppressed with `reason`; returns each customer's earliest due time among them, so a
/// replacing notice keeps the window the first update opened.
pub async fn supersede_updates<S: AsRef<str>>(
    tx: &mut Tx,
    subject: &str,
    customers: &[S],
    reason: &str,
    now: i64,
) -> Result<HashMap<String, i64>> {
    #[derive(FromRow)]
    struct Row {
        customer_id: String,
        next_attempt_at: i64,
    }
    let answer = serde_json::json!({ "suppressed": reason }).to_string();
    let mut due: HashMap<String, i64> = HashMap::new();
    for chunk in customers.chunks(CHUNK) {
        let ids = json_ids(chunk)?;
        let rows = fetch!(
            tx,
            Row,
            "UPDATE notify.deliveries SET state = 'suppressed', answer = $3, updated_at = $4 \
             WHERE subject_id = $2 AND state = 'queued' \
             AND kind IN ('etr_changed', 'crew_arrived', 'repair_progress') \
             AND customer_id IN (SELECT jsonb_array_elements_text($1::text::jsonb)) \
             RETURNING customer_id, next_attempt_at",
            "UPDATE notify.deliveries SET state = 'suppressed', answer = $3, updated_at = $4 \
             WHERE subject_id = $2 AND state = 'queued' \
             AND kind IN ('etr_changed', 'crew_arrived', 'repair_progress') \
             AND customer_id IN (SELECT value FROM json_each($1)) \
             RETURNING customer_id, next_attempt_at",
            &ids,
            subject,
            &answer,
            now
        );
        for row in rows {
            let entry = due.entry(row.customer_id).or_insert(row.next_attempt_at);
            *entry = (*entry).min(row.next_attempt_at);
        }
    }
    Ok(due)
}

/// Suppresses every queued notice of `subject` (cancelled incident or job).
pub async fn suppress_subject(tx: &mut Tx, subject: &str, reason: &str, now: i64) -> Result<u64> {
    const SQL: &str = "UPDATE notify.deliveries SET state = 'suppressed', answer = $2, \
                       updated_at = $3 WHERE subject_id = $1 AND state = 'queued'";
    let answer = serde_json::json!({ "suppressed": reason }).to_string();
    Ok(exec!(tx, SQL, SQL, subject, &answer, now))
}

/// Customers a notice of one of `kinds` about `subject` went to, or may have (it is being
/// sent): those who must hear when it is called off.
pub async fn told_of(tx: &mut Tx, subject: &str, kinds: &[NoticeKind]) -> Result<Vec<String>> {
    #[derive(FromRow)]
    struct Row {
        customer_id: String,
    }
    let kinds = json_ids(&kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>())?;
    let rows = fetch!(
        tx,
        Row,
        "SELECT DISTINCT customer_id FROM notify.deliveries WHERE subject_id = $1 \
         AND kind IN (SELECT jsonb_array_elements_text($2::text::jsonb)) \
         AND state IN ('sending', 'sent', 'delivered') ORDER BY customer_id",
        "SELECT DISTINCT customer_id FROM notify.deliveries WHERE subject_id = $1 \
         AND kind IN (SELECT value FROM json_each($2)) \
         AND state IN ('sending', 'sent', 'delivered') ORDER BY customer_id",
        subject,
        &kinds
    );
    Ok(rows.into_iter().map(|row| row.customer_id).collect())
}

/// Suppresses queued advance notices and reminders of a job below `revision` (it was
/// rescheduled: the old dates must not go out; or it started: they are moot).
pub async fn suppress_planned_notices(
    tx: &mut Tx,
    job: &str,
    revision: i64,
    reason: &str,
    now: i64,
) -> Result<u64> {
    const SQL: &str = "UPDATE notify.deliveries SET state = 'suppressed', answer = $3, \
                       updated_at = $4 WHERE subject_id = $1 AND state = 'queued' \
                       AND kind IN ('planned_advance', 'planned_reminder') AND revision < $2";
    let answer = serde_json::json!({ "suppressed": reason }).to_string();
    Ok(exec!(tx, SQL, SQL, job, revision, &answer, now))
}

// ---------------------------------------------------------------- deliveries: sending

/// A delivery claimed by a worker.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedRow {
    pub id: String,
    pub customer_id: String,
    pub subject_id: String,
    pub kind: String,
    pub channels: String,
    pub channel_index: i32,
    pub critical: bool,
    pub urgent: bool,
    pub facts: String,
    pub attempt: i32,
}

/// Claims up to `limit` due queued deliveries: state `sending`, attempt + 1, leased until
/// `lease_until`. On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several workers claim side
/// by side; on SQLite one worker claims.
pub async fn claim(tx: &mut Tx, now: i64, lease_until: i64, limit: i64) -> Result<Vec<ClaimedRow>> {
    Ok(fetch!(
        tx,
        ClaimedRow,
        "UPDATE notify.deliveries SET state = 'sending', attempt = attempt + 1, \
             claimed_until = $2, updated_at = $1 \
         WHERE id IN (SELECT id FROM notify.deliveries WHERE state = 'queued' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, customer_id, subject_id, kind, channels, channel_index, critical, urgent, \
             facts, attempt",
        "UPDATE notify.deliveries SET state = 'sending', attempt = attempt + 1, \
             claimed_until = $2, updated_at = $1 \
         WHERE id IN (SELECT id FROM notify.deliveries WHERE state = 'queued' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
         RETURNING id, customer_id, subject_id, kind, channels, channel_index, critical, urgent, \
             facts, attempt",
        now,
        lease_until,
        limit
    ))
}

/// Deliveries whose claim ran out (the worker died between claim and record): those on
/// channels that de-duplicate by our id (WeChat `client_msg_id`, app `webhook-id`, the
/// local sink) and SMS whose request had not left yet (`dispatched_at` unset) go back to
/// the queue. SMS whose request may have left, when an SMS provider is configured, wait
/// for their receipt until `settle_by` (SendSms is not idempotent: resending at once could
/// text twice); [`resend_unsettled`] resends those no receipt came for. Returns (requeued, unsettled).
pub async fn recover_expired(
    tx: &mut Tx,
    now: i64,
    settle_by: i64,
    sms_is_idempotent: bool,
) -> Result<(u64, u64)> {
    const REQUEUE: &str = "UPDATE notify.deliveries SET state = 'queued', claimed_until = NULL, \
         next_attempt_at = $1, updated_at = $1 \
         WHERE state = 'sending' AND claimed_until < $1 \
         AND ($2 OR channel IS NULL OR channel <> 'sms' OR dispatched_at IS NULL)";
    const UNSETTLED: &str = "UPDATE notify.deliveries SET state = 'sent', claimed_until = NULL, \
         answer = $2, sent_at = $1, settle_by = $3, updated_at = $1 \
         WHERE state = 'sending' AND claimed_until < $1 AND channel = 'sms' \
         AND dispatched_at IS NOT NULL";
    let requeued = exec!(tx, REQUEUE, REQUEUE, now, sms_is_idempotent);
    let answer = serde_json::json!({
        "uncertain": "the sender stopped after this sms request left and before the provider's \
                      answer was recorded; sms sending is not idempotent, so the provider's \
                      receipt is awaited, and it is sent again only if none comes"
    })
    .to_string();
    let unsettled = if sms_is_idempotent {
        0
    } else {
        exec!(tx, UNSETTLED, UNSETTLED, now, &answer, settle_by)
    };
    Ok((requeued, unsettled))
}

/// Marks claimed deliveries whose request is about to leave, with the number's hash (SMS
/// only: see [`recover_expired`]; the hash lets a receipt find a delivery whose answer was
/// never recorded).
pub async fn mark_dispatched(tx: &mut Tx, dispatched: &[(&str, &str)], now: i64) -> Result<u64> {
    #[derive(Serialize)]
    struct Dispatched<'a> {
        id: &'a str,
        hash: &'a str,
    }
    let rows: Vec<Dispatched<'_>> = dispatched
        .iter()
        .map(|&(id, hash)| Dispatched { id, hash })
        .collect();
    let json = serde_json::to_string(&rows)?;
    Ok(exec!(
        tx,
        "UPDATE notify.deliveries AS d SET dispatched_at = $2, recipient_hash = r.hash \
         FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, hash text) \
         WHERE d.id = r.id AND d.state = 'sending'",
        "UPDATE notify.deliveries AS d SET dispatched_at = $2, recipient_hash = r.hash \
         FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.hash') AS hash \
               FROM json_each($1)) AS r \
         WHERE d.id = r.id AND d.state = 'sending'",
        &json,
        now
    ))
}

/// Notices sent to each of `customers` since `since`.
pub async fn sent_since<S: AsRef<str>>(
    tx: &mut Tx,
    customers: &[S],
    since: i64,
) -> Result<HashMap<String, u32>> {
    #[derive(FromRow)]
    struct Row {
        customer_id: String,
        sent: i64,
    }
    let mut counts = HashMap::new();
    for chunk in customers.chunks(CHUNK) {
        let ids = json_ids(chunk)?;
        let rows = fetch!(
            tx,
            Row,
            "SELECT customer_id, count(*) AS sent FROM notify.deliveries \
             WHERE customer_id IN (SELECT jsonb_array_elements_text($1::text::jsonb)) \
             AND sent_at >= $2 GROUP BY customer_id",
            "SELECT customer_id, count(*) AS sent FROM notify.deliveries \
             WHERE customer_id IN (SELECT value FROM json_each($1)) \
             AND sent_at >= $2 GROUP BY customer_id",
            &ids,
            since
        );
        counts.extend(
            rows.into_iter()
                .map(|row| (row.customer_id, u32::try_from(row.sent).unwrap_or(u32::MAX))),
        );
    }
    Ok(counts)
}

/// What a worker learned about one claimed delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub id: String,
    /// The attempt it was claimed with: a record for a claim taken over since is dropped.
    pub attempt: i32,
    pub new_attempt: i32,
    pub state: &'static str,
    pub channel_index: i32,
    pub channel: Option<&'static str>,
    pub next_attempt_at: i64,
    pub provider: Option<&'static str>,
    pub provider_message_id: Option<String>,
    pub recipient_hash: Option<String>,
    pub answer: Option<String>,
    pub content: Option<String>,
    pub segments: Option<i32>,
    pub sent_at: Option<i64>,
    /// Set when an SMS may have gone without an answer (timed out): the receipt is
    /// awaited until then, and the SMS sent again only if none came (see [`resend_unsettled`]).
    pub settle_by: Option<i64>,
}

/// Records the outcomes of a batch in one statement; returns rows updated.
pub async fn record(tx: &mut Tx, outcomes: &[Recorded], now: i64) -> Result<u64> {
    if let Some(conn) = tx.as_postgres() {
        let mut updated = 0;
        for chunk in outcomes.chunks(CHUNK) {
            updated += record_postgres(conn, chunk, now).await?;
        }
        return Ok(updated);
    }
    let mut updated = 0;
    for chunk in outcomes.chunks(CHUNK) {
        let json = serde_json::to_string(chunk)?;
        updated += exec!(
            tx,
            "unused: postgresql took the branch above",
            "UPDATE notify.deliveries AS d SET state = r.state, attempt = r.new_attempt, \
                 channel_index = r.channel_index, channel = r.channel, \
                 next_attempt_at = r.next_attempt_at, claimed_until = NULL, dispatched_at = NULL, \
                 provider = COALESCE(r.provider, d.provider), \
                 provider_message_id = COALESCE(r.provider_message_id, d.provider_message_id), \
                 recipient_hash = COALESCE(r.recipient_hash, d.recipient_hash), \
                 answer = r.answer, content = COALESCE(r.content, d.content), \
                 segments = COALESCE(r.segments, d.segments), sent_at = r.sent_at, \
                 settle_by = r.settle_by, updated_at = $2 \
             FROM (SELECT json_extract(value, '$.id') AS id, \
                 json_extract(value, '$.attempt') AS attempt, \
                 json_extract(value, '$.new_attempt') AS new_attempt, \
                 json_extract(value, '$.state') AS state, \
                 json_extract(value, '$.channel_index') AS channel_index, \
                 json_extract(value, '$.channel') AS channel, \
                 json_extract(value, '$.next_attempt_at') AS next_attempt_at, \
                 json_extract(value, '$.provider') AS provider, \
                 json_extract(value, '$.provider_message_id') AS provider_message_id, \
                 json_extract(value, '$.recipient_hash') AS recipient_hash, \
                 json_extract(value, '$.answer') AS answer, \
                 json_extract(value, '$.content') AS content, \
                 json_extract(value, '$.segments') AS segments, \
                 json_extract(value, '$.sent_at') AS sent_at, \
                 json_extract(value, '$.settle_by') AS settle_by FROM json_each($1)) AS r \
             WHERE d.id = r.id AND d.state = 'sending' AND d.attempt = r.attempt",
            &json,
            now
        );
    }
    Ok(updated)
}

/// [`record`] on PostgreSQL: the outcomes as arrays (`UNNEST`).
async fn record_postgres(
    conn: &mut sqlx::PgConnection,
    chunk: &[Recorded],
    now: i64,
) -> Result<u64> {
    let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
    let attempts: Vec<i32> = chunk.iter().map(|r| r.attempt).collect();
    let new_attempts: Vec<i32> = chunk.iter().map(|r| r.new_attempt).collect();
    let states: Vec<&str> = chunk.iter().map(|r| r.state).collect();
    let indexes: Vec<i32> = chunk.iter().map(|r| r.channel_index).collect();
    let channels: Vec<Option<&str>> = chunk.iter().map(|r| r.channel).collect();
    let next: Vec<i64> = chunk.iter().map(|r| r.next_attempt_at).collect();
    let providers: Vec<Option<&str>> = chunk.iter().map(|r| r.provider).collect();
    let message_ids: Vec<Option<&str>> = chunk
        .iter()
        .map(|r| r.provider_message_id.as_deref())
        .collect();
    let hashes: Vec<Option<&str>> = chunk.iter().map(|r| r.recipient_hash.as_deref()).collect();
    let answers: Vec<Option<&str>> = chunk.iter().map(|r| r.answer.as_deref()).collect();
    let contents: Vec<Option<&str>> = chunk.iter().map(|r| r.content.as_deref()).collect();
    let segments: Vec<Option<i32>> = chunk.iter().map(|r| r.segments).collect();
    let sent: Vec<Option<i64>> = chunk.iter().map(|r| r.sent_at).collect();
    let settle_by: Vec<Option<i64>> = chunk.iter().map(|r| r.settle_by).collect();
    Ok(sqlx::query(
        "UPDATE notify.deliveries AS d SET state = r.state, attempt = r.new_attempt, \
             channel_index = r.channel_index, channel = r.channel, \
             next_attempt_at = r.next_attempt_at, claimed_until = NULL, dispatched_at = NULL, \
             provider = COALESCE(r.provider, d.provider), \
             provider_message_id = COALESCE(r.provider_message_id, d.provider_message_id), \
             recipient_hash = COALESCE(r.recipient_hash, d.recipient_hash), \
             answer = r.answer, content = COALESCE(r.content, d.content), \
             segments = COALESCE(r.segments, d.segments), sent_at = r.sent_at, \
             settle_by = r.settle_by, updated_at = $15 \
         FROM UNNEST($1::text[], $2::integer[], $3::integer[], $4::text[], $5::integer[], \
             $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::integer[], $14::bigint[], $16::bigint[]) \
             AS r(id, attempt, new_attempt, state, channel_index, channel, next_attempt_at, \
             provider, provider_message_id, recipient_hash, answer, content, segments, sent_at, \
             settle_by) \
         WHERE d.id = r.id AND d.state = 'sending' AND d.attempt = r.attempt",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(&new_attempts)
    .bind(&states)
    .bind(&indexes)
    .bind(&channels)
    .bind(&next)
    .bind(&providers)
    .bind(&message_ids)
    .bind(&hashes)
    .bind(&answers)
    .bind(&contents)
    .bind(&segments)
    .bind(&sent)
    .bind(now)
    .bind(&settle_by)
    .execute(conn)
    .await?
    .rows_affected())
}

// ---------------------------------------------------------------- receipts

/// A delivery receipt as remembered: what it says and whom it is about.
#[derive(Debug, Clone, FromRow)]
pub struct ReceiptRow {
    /// `provider/key`: the provider's own de-duplication key.
    pub dedup_key: String,
    pub provider: String,
    /// WeChat msgid, Tencent SerialNo (`sid`), Alibaba BizId.
    pub provider_message_id: Option<String>,
    /// SMS: the number's [`crate::worker::address_hash`].
    pub recipient_hash: Option<String>,
    pub delivered: Option<bool>,
    /// The answer to record on the delivery (JSON).
    pub answer: Option<String>,
    /// When it came (Unix milliseconds).
    pub received_at: i64,
}

/// Remembers a receipt, not yet matched to a delivery; `false` when it was seen before
/// (a provider's re-push), and then nothing is stored.
pub async fn receipt_is_new(tx: &mut Tx, receipt: &ReceiptRow) -> Result<bool> {
    const SQL: &str = "INSERT INTO notify.receipts (dedup_key, provider, received_at, \
                       provider_message_id, recipient_hash, delivered, answer, matched) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, false) ON CONFLICT DO NOTHING";
    Ok(exec!(
        tx,
        SQL,
        SQL,
        &receipt.dedup_key,
        &receipt.provider,
        receipt.received_at,
        &receipt.provider_message_id,
        &receipt.recipient_hash,
        receipt.delivered,
        &receipt.answer
    ) == 1)
}

/// Receipts that matched no delivery yet, received since `since`, oldest first, after
/// the receipt `after` (its time and key: the last one of the previous page).
pub async fn unmatched_receipts(
    tx: &mut Tx,
    since: i64,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<ReceiptRow>> {
    const SQL: &str = "SELECT dedup_key, provider, provider_message_id, recipient_hash, \
                       delivered, answer, received_at FROM notify.receipts \
                       WHERE NOT matched AND received_at >= $1 \
                       AND (received_at > $2 OR (received_at = $2 AND dedup_key > $3)) \
                       ORDER BY received_at, dedup_key LIMIT $4";
    let (after_at, after_key) = after.unwrap_or((i64::MIN, ""));
    Ok(fetch!(
        tx, ReceiptRow, SQL, SQL, since, after_at, after_key, limit
    ))
}

/// Notes that a remembered receipt found its delivery.
pub async fn mark_receipt_matched(tx: &mut Tx, dedup_key: &str) -> Result<u64> {
    const SQL: &str = "UPDATE notify.receipts SET matched = true WHERE dedup_key = $1";
    Ok(exec!(tx, SQL, SQL, dedup_key))
}

/// Applies a remembered receipt: to the delivery with its provider message id, else (SMS)
/// to the oldest delivery to the same number still waiting to be settled, whose answer
/// never came (see [`recover_expired`]), which takes the receipt's message id. Marks the
/// receipt matched when it applied; returns whether it did.
pub async fn apply_remembered_receipt(tx: &mut Tx, receipt: &ReceiptRow, now: i64) -> Result<bool> {
    let (Some(message_id), Some(delivered), Some(answer)) = (
        receipt.provider_message_id.as_deref(),
        receipt.delivered,
        receipt.answer.as_deref(),
    ) else {
        return Ok(false);
    };
    let hash = receipt.recipient_hash.as_deref();
    let provider = receipt.provider.as_str();
    let mut applied =
        apply_receipt(tx, provider, message_id, hash, delivered, answer, now).await? > 0;
    if !applied && let Some(hash) = hash {
        const ADOPT: &str = "UPDATE notify.deliveries SET provider = $2, provider_message_id = $3, \
             settle_by = NULL, updated_at = $4 \
             WHERE id = (SELECT id FROM notify.deliveries WHERE recipient_hash = $1 \
                 AND channel = 'sms' AND state = 'sent' AND settle_by IS NOT NULL \
                 ORDER BY sent_at, id LIMIT 1)";
        // Two receipts to one number at once must not both take the same delivery.
        const ADOPT_PG: &str = "UPDATE notify.deliveries SET provider = $2, \
             provider_message_id = $3, settle_by = NULL, updated_at = $4 \
             WHERE id = (SELECT id FROM notify.deliveries WHERE recipient_hash = $1 \
                 AND channel = 'sms' AND state = 'sent' AND settle_by IS NOT NULL \
                 ORDER BY sent_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)";
        if exec!(tx, ADOPT_PG, ADOPT, hash, provider, message_id, now) > 0 {
            applied = apply_receipt(tx, provider, message_id, Some(hash), delivered, answer, now)
                .await?
                > 0;
        }
    }
    if applied {
        mark_receipt_matched(tx, &receipt.dedup_key).await?;
    }
    Ok(applied)
}

/// Sends again the SMS deliveries whose settling window ran out with no receipt for their
/// number: the request most likely never reached the provider. Returns how many.
pub async fn resend_unsettled(tx: &mut Tx, now: i64) -> Result<u64> {
    const SQL: &str = "UPDATE notify.deliveries SET state = 'queued', settle_by = NULL, \
         dispatched_at = NULL, sent_at = NULL, provider = NULL, provider_message_id = NULL, \
         next_attempt_at = $1, answer = $2, updated_at = $1 \
         WHERE settle_by < $1 AND state = 'sent'";
    let answer = serde_json::json!({
        "resent": "no receipt came for this sms within the settling window after its request \
                   went unanswered: sent again"
    })
    .to_string();
    Ok(exec!(tx, SQL, SQL, now, &answer))
}

/// Applies a receipt to the delivery it is about; returns rows updated (0: unknown id).
/// A "not delivered" receipt sends the notice on to the customer's next channel when there
/// is one (WeChat `failed:user block` → SMS), else marks it failed.
pub async fn apply_receipt(
    tx: &mut Tx,
    provider: &str,
    provider_message_id: &str,
    recipient_hash: Option<&str>,
    delivered: bool,
    answer: &str,
    now: i64,
) -> Result<u64> {
    if delivered {
        const SQL: &str = "UPDATE notify.deliveries SET state = 'delivered', delivered_at = $4, \
             answer = $5, updated_at = $4 \
             WHERE provider = $1 AND provider_message_id = $2 \
             AND ($3 IS NULL OR recipient_hash = $3) AND state = 'sent'";
        const PG: &str = "UPDATE notify.deliveries SET state = 'delivered', delivered_at = $4, \
             answer = $5, updated_at = $4 \
             WHERE provider = $1 AND provider_message_id = $2 \
             AND ($3::text IS NULL OR recipient_hash = $3) AND state = 'sent'";
        return Ok(exec!(
            tx,
            PG,
            SQL,
            provider,
            provider_message_id,
            recipient_hash,
            now,
            answer
        ));
    }
    Ok(exec!(
        tx,
        "UPDATE notify.deliveries SET \
             state = CASE WHEN channel_index + 1 < jsonb_array_length(channels::jsonb) \
                 THEN 'queued' ELSE 'failed' END, \
             channel = COALESCE((channels::jsonb) ->> (channel_index + 1), channel), \
             channel_index = LEAST(channel_index + 1, jsonb_array_length(channels::jsonb) - 1), \
             attempt = 0, next_attempt_at = $4, sent_at = NULL, \
             provider_message_id = NULL, answer = $5, updated_at = $4 \
         WHERE provider = $1 AND provider_message_id = $2 \
         AND ($3::text IS NULL OR recipient_hash = $3) AND state IN ('sent', 'delivered')",
        "UPDATE notify.deliveries SET \
             state = CASE WHEN channel_index + 1 < json_array_length(channels) \
                 THEN 'queued' ELSE 'failed' END, \
             channel = COALESCE(json_extract(channels, '$[' || (channel_index + 1) || ']'), channel), \
             channel_index = MIN(channel_index + 1, json_array_length(channels) - 1), \
             attempt = 0, next_attempt_at = $4, sent_at = NULL, \
             provider_message_id = NULL, answer = $5, updated_at = $4 \
         WHERE provider = $1 AND provider_message_id = $2 \
         AND ($3 IS NULL OR recipient_hash = $3) AND state IN ('sent', 'delivered')",
        provider,
        provider_message_id,
        recipient_hash,
        now,
        answer
    ))
}

// ---------------------------------------------------------------- channel stops

/// Stops `channel` (its folder name) until `until` (a later stop wins).
pub async fn stop_channel(tx: &mut Tx, channel: &str, until: i64) -> Result<u64> {
    const SQL: &str = "INSERT INTO notify.channel_stops (channel, until) VALUES ($1, $2) \
         ON CONFLICT (channel) DO UPDATE SET until = excluded.until \
         WHERE excluded.until > notify.channel_stops.until";
    const LITE: &str = "INSERT INTO notify.channel_stops (channel, until) VALUES ($1, $2) \
         ON CONFLICT (channel) DO UPDATE SET until = excluded.until \
         WHERE excluded.until > channel_stops.until";
    Ok(exec!(tx, SQL, LITE, channel, until))
}

/// Channels stopped beyond `now`, with until when.
pub async fn channel_stops(tx: &mut Tx, now: i64) -> Result<Vec<(String, i64)>> {
    #[derive(FromRow)]
    struct Row {
        channel: String,
        until: i64,
    }
    const SQL: &str = "SELECT channel, until FROM notify.channel_stops WHERE until > $1";
    let rows = fetch!(tx, Row, SQL, SQL, now);
    Ok(rows.into_iter().map(|r| (r.channel, r.until)).collect())
}

// ---------------------------------------------------------------- retention

/// Rows per purge statement, so a purge never holds many locks for long.
const PURGE_CHUNK: i64 = 10_000;

/// Deletes up to `PURGE_CHUNK` (10,000) finished deliveries last changed before `deliveries_before`
/// and receipts received before `receipts_before`; returns (deliveries, receipts) deleted.
/// Call again while it deletes a full chunk.
pub async fn purge(
    tx: &mut Tx,
    deliveries_before: i64,
    receipts_before: i64,
) -> Result<(u64, u64)> {
    const DELIVERIES: &str = "DELETE FROM notify.deliveries WHERE id IN (SELECT id \
         FROM notify.deliveries WHERE updated_at < $1 AND settle_by IS NULL \
         AND state IN ('sent', 'delivered', 'failed', 'suppressed') LIMIT $2)";
    const RECEIPTS: &str = "DELETE FROM notify.receipts WHERE dedup_key IN (SELECT dedup_key \
         FROM notify.receipts WHERE received_at < $1 LIMIT $2)";
    let deliveries = exec!(tx, DELIVERIES, DELIVERIES, deliveries_before, PURGE_CHUNK);
    let receipts = exec!(tx, RECEIPTS, RECEIPTS, receipts_before, PURGE_CHUNK);
    Ok((deliveries, receipts))
}

/// Whether a purge deleted a full chunk of either (more may be left).
pub fn purge_was_full((deliveries, receipts): (u64, u64)) -> bool {
    let full = u64::try_from(PURGE_CHUNK).unwrap_or(u64::MAX);
    deliveries >= full || receipts >= full
}

// ---------------------------------------------------------------- reads for the API

/// One delivery as the API shows it.
#[derive(Debug, Clone, FromRow)]
pub struct NoticeRow {
    pub id: String,
    pub customer_id: String,
    pub subject_id: String,
    pub kind: String,
    pub revision: i64,
    pub channels: String,
    pub channel: Option<String>,
    pub critical: bool,
    pub state: String,
    pub facts: String,
    pub attempt: i32,
    pub next_attempt_at: i64,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub answer: Option<String>,
    pub content: Option<String>,
    pub segments: Option<i32>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

const NOTICE_COLUMNS: &str = "id, customer_id, subject_id, kind, revision, channels, channel, \
     critical, state, facts, attempt, next_attempt_at, provider, provider_message_id, answer, \
     content, segments, created_at, sent_at, delivered_at";

pub async fn notices_of(tx: &mut Tx, customer: &str, limit: i64) -> Result<Vec<NoticeRow>> {
    let sql = format!(
        "SELECT {NOTICE_COLUMNS} FROM notify.deliveries WHERE customer_id = $1 \
         ORDER BY created_at, id LIMIT $2"
    );
    Ok(fetch!(tx, NoticeRow, &sql, &sql, customer, limit))
}

pub async fn notice(tx: &mut Tx, id: &str) -> Result<Option<NoticeRow>> {
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM notify.deliveries WHERE id = $1");
    Ok(fetch!(tx, NoticeRow, &sql, &sql, id).into_iter().next())
}

/// Delivery counts by state (for tests, metrics and the benchmark).
pub async fn count_by_state(tx: &mut Tx) -> Result<HashMap<String, i64>> {
    #[derive(FromRow)]
    struct Row {
        state: String,
        n: i64,
    }
    const SQL: &str = "SELECT state, count(*) AS n FROM notify.deliveries GROUP BY state";
    Ok(fetch!(tx, Row, SQL, SQL)
        .into_iter()
        .map(|row| (row.state, row.n))
        .collect())
}
