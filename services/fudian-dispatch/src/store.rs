//! All SQL of the dispatch service, on PostgreSQL and on the embedded SQLite store: work
//! orders (indexed columns plus the whole record as JSON) and crews' live state. Writes run
//! inside the caller's [`Tx`]; reads for the restore and the API go through the pool.
//!
//! Every statement is the same text on both backends (`$n` placeholders work on both).

use chrono::{DateTime, Utc};
use fudian_store::{Store, Tx};

use crate::core::crew::CrewActivity;
use crate::error::ServiceError;
use crate::model::{CrewRecord, OrderRecord};

type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Runs one statement with the same text and binds on either backend.
macro_rules! execute {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let tx: &mut Tx = $tx;
        if let Some(conn) = tx.as_postgres() {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await?;
        } else if let Some(conn) = tx.as_sqlite() {
            sqlx::query($sql)$(.bind($arg))*.execute(conn).await?;
        } else {
            return Err(ServiceError::UnsupportedBackend);
        }
    }};
}

/// Runs one query returning rows of `$row` on either backend's pool.
macro_rules! fetch_all {
    ($store:expr, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let store: &Store = $store;
        let rows: Vec<$row> = if let Some(pool) = store.as_postgres() {
            sqlx::query_as($sql)$(.bind($arg))*.fetch_all(pool).await?
        } else if let Some(pool) = store.as_sqlite() {
            sqlx::query_as($sql)$(.bind($arg))*.fetch_all(pool).await?
        } else {
            return Err(ServiceError::UnsupportedBackend);
        };
        rows
    }};
}

/// Sets a savepoint: an event the model refuses is rolled back to it (its inbox mark with
/// it), while the rest of the batch commits.
pub async fn savepoint(tx: &mut Tx) -> Result<()> {
    execute!(tx, "SAVEPOINT dispatch_event");
    Ok(())
}

pub async fn rollback_to_savepoint(tx: &mut Tx) -> Result<()> {
    execute!(tx, "ROLLBACK TO SAVEPOINT dispatch_event");
    Ok(())
}

pub async fn release_savepoint(tx: &mut Tx) -> Result<()> {
    execute!(tx, "RELEASE SAVEPOINT dispatch_event");
    Ok(())
}

/// Inserts or replaces work orders.
pub async fn upsert_orders(tx: &mut Tx, orders: &[OrderRecord], now: DateTime<Utc>) -> Result<()> {
    for order in orders {
        let record = serde_json::to_string(order).map_err(ServiceError::Json)?;
        let priority = serde_json::to_value(order.priority)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        execute!(
            tx,
            "INSERT INTO dispatch.work_orders (id, incident, state, priority, crew, arrival_due, \
             etr, limit_state, created_at, repaired_at, updated_at, record) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
             priority = excluded.priority, crew = excluded.crew, \
             arrival_due = excluded.arrival_due, etr = excluded.etr, \
             limit_state = excluded.limit_state, repaired_at = excluded.repaired_at, \
             updated_at = excluded.updated_at, record = excluded.record",
            &order.id,
            &order.incident,
            &order.state,
            priority,
            order.crew.as_deref(),
            order.arrival_due.to_utc(),
            order.etr.map(|etr| etr.to_utc()),
            &order.limit,
            order.created_at.to_utc(),
            order.repaired_at.map(|at| at.to_utc()),
            now,
            record,
        );
    }
    Ok(())
}

/// Inserts or replaces crews' live state.
pub async fn upsert_crews(tx: &mut Tx, crews: &[CrewRecord], now: DateTime<Utc>) -> Result<()> {
    for crew in crews {
        execute!(
            tx,
            "INSERT INTO dispatch.crews (id, activity, lon, lat, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
             activity = excluded.activity, lon = excluded.lon, lat = excluded.lat, \
             updated_at = excluded.updated_at",
            &crew.id,
            crew.activity.as_str(),
            crew.position[0],
            crew.position[1],
            now,
        );
    }
    Ok(())
}

/// Every crew row.
pub async fn load_crews(store: &Store) -> Result<Vec<CrewRecord>> {
    let rows = fetch_all!(
        store,
        (String, String, f64, f64),
        "SELECT id, activity, lon, lat FROM dispatch.crews ORDER BY id"
    );
    rows.into_iter()
        .map(|(id, activity, lon, lat)| {
            let activity = CrewActivity::parse(&activity).ok_or_else(|| {
                ServiceError::BadRow(format!("crew {id} has unknown activity {activity}"))
            })?;
            Ok(CrewRecord {
                id,
                activity,
                position: [lon, lat],
            })
        })
        .collect()
}

fn parse_records(rows: Vec<(String,)>) -> Result<Vec<OrderRecord>> {
    rows.into_iter()
        .map(|(record,)| {
            serde_json::from_str(&record)
                .map_err(|error| ServiceError::BadRow(format!("unreadable work order: {error}")))
        })
        .collect()
}

/// Open work orders, oldest first.
pub async fn load_open_orders(store: &Store) -> Result<Vec<OrderRecord>> {
    let rows = fetch_all!(
        store,
        (String,),
        "SELECT record FROM dispatch.work_orders \
         WHERE state NOT IN ('closed', 'cancelled') ORDER BY created_at, id"
    );
    parse_records(rows)
}

/// Incidents whose orders finished.
pub async fn load_finished_incidents(store: &Store) -> Result<Vec<String>> {
    let rows = fetch_all!(
        store,
        (String,),
        "SELECT incident FROM dispatch.work_orders WHERE state IN ('closed', 'cancelled')"
    );
    Ok(rows.into_iter().map(|(incident,)| incident).collect())
}

/// The `limit` most recently repaired orders, oldest first (the repair history).
pub async fn load_repaired(store: &Store, limit: i64) -> Result<Vec<OrderRecord>> {
    let rows = fetch_all!(
        store,
        (String,),
        "SELECT record FROM (SELECT record, repaired_at FROM dispatch.work_orders \
         WHERE repaired_at IS NOT NULL ORDER BY repaired_at DESC LIMIT $1) AS recent \
         ORDER BY repaired_at",
        limit
    );
    parse_records(rows)
}

/// Work orders, newest first, optionally of one incident and in some states.
pub async fn list_orders(
    store: &Store,
    incident: Option<&str>,
    states: Option<&[&str]>,
    limit: i64,
) -> Result<Vec<OrderRecord>> {
    let mut conditions = Vec::new();
    let mut next = 2;
    if incident.is_some() {
        conditions.push(format!("incident = ${next}"));
        next += 1;
    }
    if let Some(states) = states {
        let placeholders: Vec<String> = (0..states.len())
            .map(|k| format!("${}", next + k))
            .collect();
        conditions.push(format!("state IN ({})", placeholders.join(", ")));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT record FROM dispatch.work_orders {filter} ORDER BY created_at DESC, id LIMIT $1"
    );
    let rows: Vec<(String,)> = if let Some(pool) = store.as_postgres() {
        let mut query = sqlx::query_as(&sql).bind(limit);
        if let Some(incident) = incident {
            query = query.bind(incident);
        }
        for state in states.unwrap_or_default() {
            query = query.bind(*state);
        }
        query.fetch_all(pool).await?
    } else if let Some(pool) = store.as_sqlite() {
        let mut query = sqlx::query_as(&sql).bind(limit);
        if let Some(incident) = incident {
            query = query.bind(incident);
        }
        for state in states.unwrap_or_default() {
            query = query.bind(*state);
        }
        query.fetch_all(pool).await?
    } else {
        return Err(ServiceError::UnsupportedBackend);
    };
    parse_records(rows)
}

/// One work order by id.
pub async fn order(store: &Store, id: &str) -> Result<Option<OrderRecord>> {
    let rows = fetch_all!(
        store,
        (String,),
        "SELECT record FROM dispatch.work_orders WHERE id = $1",
        id
    );
    Ok(parse_records(rows)?.into_iter().next())
}
