//! All SQL of the planner service, on PostgreSQL and on the embedded SQLite store: jobs,
//! the incidents seen on `fudian.outage`, interruption records and schedule proposals.
//! Every function runs inside the caller's [`Tx`], so a state change, its inbox mark and
//! its outbox rows commit together.
//!
//! Statements are the same text on both backends (`$n` placeholders; times are epoch
//! milliseconds) except bulk inserts: `UNNEST` of arrays on PostgreSQL, `json_each` of a
//! JSON array on SQLite.

use fudian_store::Tx;
use sqlx::FromRow;

use crate::error::ServiceError;

type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Runs one statement with the same text and binds on either backend; yields rows affected.
macro_rules! execute {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let tx: &mut Tx = $tx;
        if let Some(conn) = tx.as_postgres() {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await?.rows_affected()
        } else if let Some(conn) = tx.as_sqlite() {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await?.rows_affected()
        } else {
            return Err(ServiceError::UnsupportedBackend);
        }
    }};
}

/// Runs one query on either backend: `fetch_all` or `fetch_optional` into `$row`.
macro_rules! fetch {
    ($method:ident, $row:ty, $tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let tx: &mut Tx = $tx;
        if let Some(conn) = tx.as_postgres() {
            sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.$method(conn).await?
        } else if let Some(conn) = tx.as_sqlite() {
            sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.$method(conn).await?
        } else {
            return Err(ServiceError::UnsupportedBackend);
        }
    }};
}

/// One job as stored.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: String,
    pub state: String,
    pub area: String,
    pub year: i32,
    pub charged_customer_hours: f64,
    pub record: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One interruption record as stored.
#[derive(Debug, Clone, FromRow)]
pub struct InterruptionRow {
    pub customer_id: String,
    pub transformer_id: Option<String>,
    pub area_class: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub planned: bool,
    pub cause_class: String,
}

/// One customer of a new interruption: id, 台区 (if any) and area class.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterruptedCustomer {
    pub customer_id: String,
    pub transformer_id: Option<String>,
    pub area_class: String,
}

/// What the interruption records of one source have in common.
#[derive(Debug, Clone, Copy)]
pub struct InterruptionSpan<'a> {
    pub source: &'a str,
    pub start_ms: i64,
    pub end_ms: i64,
    pub planned: bool,
    pub cause_class: &'a str,
}

/// Serialises approvals on PostgreSQL: two approvals must not both spend the same budget.
/// (SQLite transactions already hold the write lock from their start.)
pub async fn lock_budgets(tx: &mut Tx) -> Result<()> {
    if let Some(conn) = tx.as_postgres() {
        sqlx::query("SELECT pg_advisory_xact_lock(727001)")
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn insert_job(tx: &mut Tx, row: &JobRow) -> Result<bool> {
    let inserted = execute!(
        tx,
        "INSERT INTO planner.jobs \
         (id, state, area, year, charged_customer_hours, record, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $8, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        &row.id,
        &row.state,
        &row.area,
        row.charged_customer_hours,
        &row.record,
        row.created_at_ms,
        row.updated_at_ms,
        row.year,
    );
    Ok(inserted == 1)
}

pub async fn update_job(tx: &mut Tx, row: &JobRow) -> Result<()> {
    execute!(
        tx,
        "UPDATE planner.jobs SET state = $1, area = $2, charged_customer_hours = $3, \
         record = $4, updated_at_ms = $5, year = $7 WHERE id = $6",
        &row.state,
        &row.area,
        row.charged_customer_hours,
        &row.record,
        row.updated_at_ms,
        &row.id,
        row.year,
    );
    Ok(())
}

const JOB_COLUMNS: &str =
    "id, state, area, year, charged_customer_hours, record, created_at_ms, updated_at_ms";

/// One job; on PostgreSQL locked for the rest of the transaction.
pub async fn job(tx: &mut Tx, id: &str) -> Result<Option<JobRow>> {
    let lock = if tx.as_postgres().is_some() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {JOB_COLUMNS} FROM planner.jobs WHERE id = $1{lock}");
    Ok(fetch!(fetch_optional, JobRow, tx, &sql, id))
}

/// Every job, in the order they were requested (first-come order).
pub async fn jobs(tx: &mut Tx) -> Result<Vec<JobRow>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM planner.jobs ORDER BY created_at_ms, id");
    Ok(fetch!(fetch_all, JobRow, tx, &sql))
}

/// Customer-hours charged to `year` by jobs approved and not yet carried out, per area.
pub async fn charged_by_area(tx: &mut Tx, year: i32) -> Result<Vec<(String, f64)>> {
    Ok(fetch!(
        fetch_all,
        (String, f64),
        tx,
        "SELECT area, SUM(charged_customer_hours) FROM planner.jobs \
         WHERE state IN ('approved', 'scheduled', 'started') AND year = $1 GROUP BY area",
        year,
    ))
}

/// Remembers whether an incident is planned switching; keeps the highest revision.
pub async fn upsert_incident(tx: &mut Tx, id: &str, planned: bool, revision: i64) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO planner.incidents (id, planned, revision) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET planned = excluded.planned, \
         revision = excluded.revision WHERE planner.incidents.revision < excluded.revision",
        id,
        planned,
        revision,
    );
    Ok(())
}

/// Deletes the interruption records of one source (an incident found to be planned
/// switching after its restoration was recorded: events may arrive out of order).
pub async fn delete_interruptions(tx: &mut Tx, source: &str) -> Result<u64> {
    Ok(execute!(
        tx,
        "DELETE FROM planner.interruptions WHERE source = $1",
        source
    ))
}

/// Whether an incident is planned switching, as known so far. Its row is created (as
/// not planned, revision 0) and locked for the rest of the transaction, so a concurrent
/// `outage.detected` saying "planned" waits for this transaction and then sees (and
/// deletes) what it recorded.
pub async fn lock_incident(tx: &mut Tx, id: &str) -> Result<bool> {
    execute!(
        tx,
        "INSERT INTO planner.incidents (id, planned, revision) VALUES ($1, $2, 0) \
         ON CONFLICT (id) DO NOTHING",
        id,
        false,
    );
    let lock = if tx.as_postgres().is_some() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT planned FROM planner.incidents WHERE id = $1{lock}");
    let row = fetch!(fetch_optional, (bool,), tx, &sql, id);
    Ok(row.is_some_and(|(planned,)| planned))
}

/// Records one interruption per customer (a redelivered one is ignored).
pub async fn insert_interruptions(
    tx: &mut Tx,
    span: InterruptionSpan<'_>,
    customers: &[InterruptedCustomer],
) -> Result<u64> {
    if customers.is_empty() {
        return Ok(0);
    }
    let InterruptionSpan {
        source,
        start_ms,
        end_ms,
        planned,
        cause_class,
    } = span;
    if let Some(conn) = tx.as_postgres() {
        let ids: Vec<&str> = customers.iter().map(|c| c.customer_id.as_str()).collect();
        let transformers: Vec<Option<&str>> = customers
            .iter()
            .map(|c| c.transformer_id.as_deref())
            .collect();
        let areas: Vec<&str> = customers.iter().map(|c| c.area_class.as_str()).collect();
        let done = sqlx::query(
            "INSERT INTO planner.interruptions (source, customer_id, transformer_id, \
             area_class, start_ms, end_ms, planned, cause_class) \
             SELECT $1, c, t, a, $2, $3, $4, $5 \
             FROM UNNEST($6::text[], $7::text[], $8::text[]) AS u (c, t, a) \
             ON CONFLICT (source, customer_id, start_ms) DO NOTHING",
        )
        .bind(source)
        .bind(start_ms)
        .bind(end_ms)
        .bind(planned)
        .bind(cause_class)
        .bind(ids)
        .bind(transformers)
        .bind(areas)
        .execute(conn)
        .await?;
        return Ok(done.rows_affected());
    }
    if let Some(conn) = tx.as_sqlite() {
        let rows: Vec<(&str, Option<&str>, &str)> = customers
            .iter()
            .map(|c| {
                (
                    c.customer_id.as_str(),
                    c.transformer_id.as_deref(),
                    c.area_class.as_str(),
                )
            })
            .collect();
        let json = serde_json::to_string(&rows)?;
        let done = sqlx::query(
            "INSERT INTO planner.interruptions (source, customer_id, transformer_id, \
             area_class, start_ms, end_ms, planned, cause_class) \
             SELECT $1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
             json_extract(value, '$[2]'), $2, $3, $4, $5 FROM json_each($6) WHERE true \
             ON CONFLICT (source, customer_id, start_ms) DO NOTHING",
        )
        .bind(source)
        .bind(start_ms)
        .bind(end_ms)
        .bind(planned)
        .bind(cause_class)
        .bind(json)
        .execute(conn)
        .await?;
        return Ok(done.rows_affected());
    }
    Err(ServiceError::UnsupportedBackend)
}

/// Interruption records that start before `to_ms` and end at or after `from_ms`.
pub async fn interruptions(tx: &mut Tx, from_ms: i64, to_ms: i64) -> Result<Vec<InterruptionRow>> {
    Ok(fetch!(
        fetch_all,
        InterruptionRow,
        tx,
        "SELECT customer_id, transformer_id, area_class, start_ms, end_ms, planned, cause_class \
         FROM planner.interruptions WHERE start_ms < $2 AND end_ms >= $1 \
         ORDER BY customer_id, start_ms",
        from_ms,
        to_ms,
    ))
}

/// Interruption milliseconds (Σ over customers) per area class and planned flag, of
/// records starting in `[from_ms, to_ms)`.
pub async fn interruption_millis(
    tx: &mut Tx,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(String, bool, i64)>> {
    Ok(fetch!(
        fetch_all,
        (String, bool, i64),
        tx,
        "SELECT area_class, planned, CAST(SUM(end_ms - start_ms) AS BIGINT) \
         FROM planner.interruptions WHERE start_ms >= $1 AND start_ms < $2 \
         GROUP BY area_class, planned",
        from_ms,
        to_ms,
    ))
}

/// Interruptions per customer starting in `[from_ms, to_ms)` (all, and planned only).
pub async fn interruption_counts(
    tx: &mut Tx,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(String, i64, i64)>> {
    Ok(fetch!(
        fetch_all,
        (String, i64, i64),
        tx,
        "SELECT customer_id, COUNT(*), \
         CAST(SUM(CASE WHEN planned THEN 1 ELSE 0 END) AS BIGINT) \
         FROM planner.interruptions WHERE start_ms >= $1 AND start_ms < $2 \
         GROUP BY customer_id",
        from_ms,
        to_ms,
    ))
}

pub async fn insert_proposal(tx: &mut Tx, created_at_ms: i64, body: &str) -> Result<()> {
    execute!(
        tx,
        "INSERT INTO planner.schedule_proposals (created_at_ms, body) VALUES ($1, $2)",
        created_at_ms,
        body,
    );
    Ok(())
}

pub async fn latest_proposal(tx: &mut Tx) -> Result<Option<String>> {
    let row = fetch!(
        fetch_optional,
        (String,),
        tx,
        "SELECT body FROM planner.schedule_proposals ORDER BY id DESC LIMIT 1"
    );
    Ok(row.map(|(body,)| body))
}
