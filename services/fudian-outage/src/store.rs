//! All SQL of the outage service, on PostgreSQL and on the embedded SQLite store: the
//! journal and snapshots that make the engine durable, and the tables it reports into
//! (incidents, interruption records, evidence, switch states). Writes run inside the
//! caller's [`Tx`]; reads for the API go through the pool.
//!
//! Most statements are the same text on both backends (`$n` placeholders, numbered in
//! order of first appearance, work on both); lists of ids differ: `= ANY($n)` with an
//! array on PostgreSQL, `IN (SELECT value FROM json_each($n))` with a JSON array on SQLite.

use chrono::{DateTime, Utc};
use fudian_store::{Store, Tx};
use sqlx::FromRow;

use crate::error::OutageError;

type Result<T, E = OutageError> = std::result::Result<T, E>;

/// What a journal row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalKind {
    Field,
    Planned,
    Tick,
}

impl JournalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Field => "field",
            Self::Planned => "planned",
            Self::Tick => "tick",
        }
    }
}

/// One journal row, as replayed.
#[derive(Debug, Clone, FromRow)]
pub struct JournalRow {
    pub seq: i64,
    pub kind: String,
    pub received_at: DateTime<Utc>,
    pub body: Option<Vec<u8>>,
}

/// One incident as stored.
#[derive(Debug, Clone, FromRow)]
pub struct IncidentRow {
    pub id: String,
    pub state: String,
    pub device: String,
    pub started_at: DateTime<Utc>,
    pub customers_out: i64,
    pub revision: i64,
    pub snapshot: String,
    pub restored_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One interruption record of an incident.
#[derive(Debug, Clone, FromRow)]
pub struct InterruptionRow {
    pub customer_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub planned: bool,
    pub kind: Option<String>,
}

/// One piece of evidence of an incident.
#[derive(Debug, Clone, FromRow)]
pub struct EvidenceRow {
    pub kind: String,
    pub customer_id: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// Runs one statement with the same text and binds on either backend; yields rows affected.
macro_rules! execute {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let tx: &mut Tx = $tx;
        let affected = if let Some(conn) = tx.as_postgres() {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await?.rows_affected()
        } else if let Some(conn) = tx.as_sqlite() {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await?.rows_affected()
        } else {
            return Err(OutageError::UnsupportedBackend);
        };
        affected
    }};
}

/// Runs one statement whose last bind is a list of ids, on either backend: `$pg` takes it
/// as a text array, `$lite` as a JSON array.
macro_rules! execute_with_ids {
    ($tx:expr, $pg:expr, $lite:expr, [$($arg:expr),*], $ids:expr) => {{
        let tx: &mut Tx = $tx;
        let ids: &[String] = $ids;
        if let Some(conn) = tx.as_postgres() {
            sqlx::query($pg)$(.bind($arg))*.bind(ids).execute(conn).await?.rows_affected()
        } else if let Some(conn) = tx.as_sqlite() {
            let json = serde_json::to_string(ids).map_err(OutageError::Json)?;
            sqlx::query($lite)$(.bind($arg))*.bind(json).execute(conn).await?.rows_affected()
        } else {
            return Err(OutageError::UnsupportedBackend);
        }
    }};
}

/// Sets a savepoint: an event whose engine call fails is rolled back to it (its inbox mark
/// with it), while the rest of the batch commits.
pub async fn savepoint(tx: &mut Tx) -> Result<()> {
    execute!(tx, "SAVEPOINT outage_event");
    Ok(())
}

pub async fn rollback_to_savepoint(tx: &mut Tx) -> Result<()> {
    execute!(tx, "ROLLBACK TO SAVEPOINT outage_event");
    Ok(())
}

pub async fn release_savepoint(tx: &mut Tx) -> Result<()> {
    execute!(tx, "RELEASE SAVEPOINT outage_event");
    Ok(())
}

/// Appends one applied input to the journal.
pub async fn append_journal(
    tx: &mut Tx,
    kind: JournalKind,
    event_id: Option<&str>,
    received_at: DateTime<Utc>,
    body: Option<&[u8]>,
) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO outage.journal (kind, event_id, received_at, body) VALUES ($1, $2, $3, $4)",
        kind.as_str(),
        event_id,
        received_at,
        body,
    );
    Ok(())
}

/// One journal row to append.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub kind: JournalKind,
    pub event_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub body: Option<Vec<u8>>,
}

/// Appends journal rows in order: one statement on PostgreSQL (sequence numbers follow the
/// array order), one per row on SQLite (no round trip to pay).
pub async fn append_journal_all(tx: &mut Tx, entries: &[JournalEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if let Some(conn) = tx.as_postgres() {
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        let ids: Vec<Option<&str>> = entries.iter().map(|e| e.event_id.as_deref()).collect();
        let times: Vec<DateTime<Utc>> = entries.iter().map(|e| e.received_at).collect();
        let bodies: Vec<Option<&[u8]>> = entries.iter().map(|e| e.body.as_deref()).collect();
        sqlx::query(
            "INSERT INTO outage.journal (kind, event_id, received_at, body) \
             SELECT kind, event_id, received_at, body \
             FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::bytea[]) \
             WITH ORDINALITY AS rows (kind, event_id, received_at, body, position) \
             ORDER BY position",
        )
        .bind(kinds)
        .bind(ids)
        .bind(times)
        .bind(bodies)
        .execute(conn)
        .await?;
        return Ok(());
    }
    for entry in entries {
        append_journal(
            tx,
            entry.kind,
            entry.event_id.as_deref(),
            entry.received_at,
            entry.body.as_deref(),
        )
        .await?;
    }
    Ok(())
}

/// Stores `state` as of the last journal row, deletes the journal up to it and older
/// snapshots. Returns the journal seq the snapshot covers.
pub async fn write_snapshot(tx: &mut Tx, state: &[u8], taken_at: DateTime<Utc>) -> Result<i64> {
    const SEQ: &str = "SELECT COALESCE((SELECT MAX(seq) FROM outage.journal), \
                       (SELECT MAX(journal_seq) FROM outage.snapshots), 0)";
    let seq: i64 = if let Some(conn) = tx.as_postgres() {
        sqlx::query_scalar(SEQ).fetch_one(conn).await?
    } else if let Some(conn) = tx.as_sqlite() {
        sqlx::query_scalar(SEQ).fetch_one(conn).await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    };
    execute!(tx, "DELETE FROM outage.snapshots");
    execute!(
        tx,
        "INSERT INTO outage.snapshots (journal_seq, taken_at, state) VALUES ($1, $2, $3)",
        seq,
        taken_at,
        state,
    );
    execute!(tx, "DELETE FROM outage.journal WHERE seq <= $1", seq);
    Ok(seq)
}

/// The latest snapshot: the journal seq it covers and the serialized state.
pub async fn latest_snapshot(store: &Store) -> Result<Option<(i64, Vec<u8>)>> {
    const SQL: &str = "SELECT journal_seq, state FROM outage.snapshots ORDER BY id DESC LIMIT 1";
    Ok(if let Some(pool) = store.as_postgres() {
        sqlx::query_as(SQL).fetch_optional(pool).await?
    } else if let Some(pool) = store.as_sqlite() {
        sqlx::query_as(SQL).fetch_optional(pool).await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    })
}

/// Journal rows after `seq`, in order.
pub async fn journal_after(store: &Store, seq: i64) -> Result<Vec<JournalRow>> {
    const SQL: &str = "SELECT seq, kind, received_at, body FROM outage.journal \
                       WHERE seq > $1 ORDER BY seq";
    Ok(if let Some(pool) = store.as_postgres() {
        sqlx::query_as(SQL).bind(seq).fetch_all(pool).await?
    } else if let Some(pool) = store.as_sqlite() {
        sqlx::query_as(SQL).bind(seq).fetch_all(pool).await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    })
}

/// What `outage.detected`/`outage.updated` write about an incident.
#[derive(Debug, Clone)]
pub struct IncidentUpsert<'a> {
    pub id: &'a str,
    pub state: &'a str,
    pub device: &'a str,
    pub started_at: DateTime<Utc>,
    pub customers_out: i64,
    pub revision: i64,
    pub snapshot: &'a str,
    pub updated_at: DateTime<Utc>,
}

pub async fn upsert_incident(tx: &mut Tx, row: &IncidentUpsert<'_>) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO outage.incidents \
         (id, state, device, started_at, customers_out, revision, snapshot, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, device = excluded.device, \
         started_at = excluded.started_at, customers_out = excluded.customers_out, \
         revision = excluded.revision, snapshot = excluded.snapshot, \
         restored_at = NULL, updated_at = excluded.updated_at \
         WHERE outage.incidents.revision < excluded.revision",
        row.id,
        row.state,
        row.device,
        row.started_at,
        row.customers_out,
        row.revision,
        row.snapshot,
        row.updated_at,
    );
    Ok(())
}

/// What `outage.restored`/`outage.cancelled` change on an incident.
pub async fn update_incident_status(
    tx: &mut Tx,
    id: &str,
    state: &str,
    customers_out: i64,
    revision: i64,
    restored_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
) -> Result<()> {
    execute!(
        tx,
        "UPDATE outage.incidents SET state = $1, customers_out = $2, revision = $3, \
         restored_at = $4, updated_at = $5 WHERE id = $6 AND revision < $3",
        state,
        customers_out,
        revision,
        restored_at,
        updated_at,
        id,
    );
    Ok(())
}

/// Opens interruption records (re-opens one of the same customer and incident).
pub async fn start_interruptions(
    tx: &mut Tx,
    incident: &str,
    started_at: DateTime<Utc>,
    planned: bool,
    customers: &[String],
) -> Result<()> {
    execute_with_ids!(
        tx,
        "INSERT INTO outage.interruptions (incident_id, started_at, planned, customer_id) \
         SELECT $1, $2, $3, c FROM UNNEST($4::text[]) AS c \
         ON CONFLICT (incident_id, customer_id) DO UPDATE SET started_at = excluded.started_at, \
         planned = excluded.planned, ended_at = NULL, kind = NULL",
        "INSERT INTO outage.interruptions (incident_id, started_at, planned, customer_id) \
         SELECT $1, $2, $3, value FROM json_each($4) WHERE true \
         ON CONFLICT (incident_id, customer_id) DO UPDATE SET started_at = excluded.started_at, \
         planned = excluded.planned, ended_at = NULL, kind = NULL",
        [incident, started_at, planned],
        customers
    );
    Ok(())
}

/// Closes interruption records.
pub async fn end_interruptions(
    tx: &mut Tx,
    incident: &str,
    ended_at: DateTime<Utc>,
    kind: &str,
    customers: &[String],
) -> Result<()> {
    execute_with_ids!(
        tx,
        "UPDATE outage.interruptions SET ended_at = $1, kind = $2 \
         WHERE incident_id = $3 AND customer_id = ANY($4)",
        "UPDATE outage.interruptions SET ended_at = $1, kind = $2 \
         WHERE incident_id = $3 AND customer_id IN (SELECT value FROM json_each($4))",
        [ended_at, kind, incident],
        customers
    );
    Ok(())
}

/// Moves records from one incident to another, open again, their start unchanged.
pub async fn transfer_interruptions(
    tx: &mut Tx,
    from: &str,
    to: &str,
    customers: &[String],
) -> Result<()> {
    // A record of the same customer under `to` would collide: the moved one (older
    // start) is the one that counts.
    execute_with_ids!(
        tx,
        "DELETE FROM outage.interruptions WHERE incident_id = $1 AND customer_id = ANY($2)",
        "DELETE FROM outage.interruptions WHERE incident_id = $1 \
         AND customer_id IN (SELECT value FROM json_each($2))",
        [to],
        customers
    );
    execute_with_ids!(
        tx,
        "UPDATE outage.interruptions SET incident_id = $1, ended_at = NULL, kind = NULL \
         WHERE incident_id = $2 AND customer_id = ANY($3)",
        "UPDATE outage.interruptions SET incident_id = $1, ended_at = NULL, kind = NULL \
         WHERE incident_id = $2 AND customer_id IN (SELECT value FROM json_each($3))",
        [to, from],
        customers
    );
    Ok(())
}

/// Deletes the records of a false prediction.
pub async fn void_interruptions(tx: &mut Tx, incident: &str, customers: &[String]) -> Result<()> {
    execute_with_ids!(
        tx,
        "DELETE FROM outage.interruptions WHERE incident_id = $1 AND customer_id = ANY($2)",
        "DELETE FROM outage.interruptions WHERE incident_id = $1 \
         AND customer_id IN (SELECT value FROM json_each($2))",
        [incident],
        customers
    );
    Ok(())
}

/// A complete record seen by a meter alone, in no incident.
pub async fn insert_meter_interruption(
    tx: &mut Tx,
    customer: &str,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    kind: &str,
) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO outage.interruptions (customer_id, started_at, ended_at, planned, kind) \
         VALUES ($1, $2, $3, $4, $5)",
        customer,
        started_at,
        ended_at,
        false,
        kind,
    );
    Ok(())
}

/// One evidence row to insert.
#[derive(Debug, Clone)]
pub struct EvidenceInsert {
    pub incident: String,
    pub kind: &'static str,
    pub customer: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// Inserts evidence rows, in one statement on PostgreSQL.
pub async fn insert_evidence_all(tx: &mut Tx, rows: &[EvidenceInsert]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if let Some(conn) = tx.as_postgres() {
        let incidents: Vec<&str> = rows.iter().map(|r| r.incident.as_str()).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        let customers: Vec<Option<&str>> = rows.iter().map(|r| r.customer.as_deref()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.recorded_at).collect();
        sqlx::query(
            "INSERT INTO outage.evidence (incident_id, kind, customer_id, recorded_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])",
        )
        .bind(incidents)
        .bind(kinds)
        .bind(customers)
        .bind(times)
        .execute(conn)
        .await?;
        return Ok(());
    }
    for row in rows {
        insert_evidence(
            tx,
            &row.incident,
            row.kind,
            row.customer.as_deref(),
            row.recorded_at,
        )
        .await?;
    }
    Ok(())
}

pub async fn insert_evidence(
    tx: &mut Tx,
    incident: &str,
    kind: &str,
    customer: Option<&str>,
    recorded_at: DateTime<Utc>,
) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO outage.evidence (incident_id, kind, customer_id, recorded_at) \
         VALUES ($1, $2, $3, $4)",
        incident,
        kind,
        customer,
        recorded_at,
    );
    Ok(())
}

pub async fn upsert_switch_state(
    tx: &mut Tx,
    device: &str,
    state: &str,
    changed_at: DateTime<Utc>,
    event_id: &str,
) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO outage.switch_states (device, state, changed_at, event_id) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (device) DO UPDATE SET state = excluded.state, \
         changed_at = excluded.changed_at, event_id = excluded.event_id",
        device,
        state,
        changed_at,
        event_id,
    );
    Ok(())
}

const INCIDENT_COLUMNS: &str =
    "id, state, device, started_at, customers_out, revision, snapshot, restored_at, updated_at";

/// Incidents, newest first, optionally only in `states`.
pub async fn list_incidents(
    store: &Store,
    states: Option<&[String]>,
    limit: i64,
) -> Result<Vec<IncidentRow>> {
    let filter_pg = if states.is_some() {
        "WHERE state = ANY($2)"
    } else {
        ""
    };
    let filter_lite = if states.is_some() {
        "WHERE state IN (SELECT value FROM json_each($2))"
    } else {
        ""
    };
    let tail = "ORDER BY started_at DESC, id DESC LIMIT $1";
    Ok(if let Some(pool) = store.as_postgres() {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM outage.incidents {filter_pg} {tail}");
        let mut query = sqlx::query_as(&sql).bind(limit);
        if let Some(states) = states {
            query = query.bind(states);
        }
        query.fetch_all(pool).await?
    } else if let Some(pool) = store.as_sqlite() {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM outage.incidents {filter_lite} {tail}");
        let mut query = sqlx::query_as(&sql).bind(limit);
        if let Some(states) = states {
            query = query.bind(serde_json::to_string(states).map_err(OutageError::Json)?);
        }
        query.fetch_all(pool).await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    })
}

pub async fn incident(store: &Store, id: &str) -> Result<Option<IncidentRow>> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM outage.incidents WHERE id = $1");
    Ok(if let Some(pool) = store.as_postgres() {
        sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
    } else if let Some(pool) = store.as_sqlite() {
        sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    })
}

pub async fn evidence_of(store: &Store, incident: &str) -> Result<Vec<EvidenceRow>> {
    const SQL: &str = "SELECT kind, customer_id, recorded_at FROM outage.evidence \
                       WHERE incident_id = $1 ORDER BY id";
    Ok(if let Some(pool) = store.as_postgres() {
        sqlx::query_as(SQL).bind(incident).fetch_all(pool).await?
    } else if let Some(pool) = store.as_sqlite() {
        sqlx::query_as(SQL).bind(incident).fetch_all(pool).await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    })
}

/// Interruption records of an incident by customer id, after `after`, at most `limit`.
pub async fn incident_customers(
    store: &Store,
    incident: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<InterruptionRow>> {
    const SQL: &str = "SELECT customer_id, started_at, ended_at, planned, kind \
                       FROM outage.interruptions WHERE incident_id = $1 AND customer_id > $2 \
                       ORDER BY customer_id LIMIT $3";
    Ok(if let Some(pool) = store.as_postgres() {
        sqlx::query_as(SQL)
            .bind(incident)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
    } else if let Some(pool) = store.as_sqlite() {
        sqlx::query_as(SQL)
            .bind(incident)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
    } else {
        return Err(OutageError::UnsupportedBackend);
    })
}
