//! Outbox SQL for both backends: enqueue one or many messages, claim a batch, decode rows
//! back into [`WireMessage`]s. The relay loop that drives the claims is in `relay.rs`.

use std::collections::BTreeMap;

use fudian_events::wire::WireMessage;
use sqlx::types::Json;
use sqlx::{PgConnection, Row, SqliteConnection};

use crate::StoreError;

/// The NOTIFY channel the outbox trigger signals on (see the outbox migration).
pub(crate) const NOTIFY_CHANNEL: &str = "fudian_outbox";

/// Rows per multi-row INSERT on PostgreSQL: large enough to amortise the round trip.
const PG_INSERT_CHUNK: usize = 1_000;

/// A claimed row: the message and its outbox id (ids order the batch).
#[derive(Debug)]
pub(crate) struct OutboxRow {
    pub id: i64,
    pub message: WireMessage,
}

pub(crate) async fn enqueue_postgres(
    connection: &mut PgConnection,
    messages: &[WireMessage],
) -> Result<(), StoreError> {
    if let [message] = messages {
        sqlx::query(
            "INSERT INTO platform.outbox (exchange, routing_key, message_id, headers, body) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&message.exchange)
        .bind(&message.routing_key)
        .bind(&message.message_id)
        .bind(Json(&message.headers))
        .bind(&message.body)
        .execute(connection)
        .await?;
        return Ok(());
    }
    for chunk in messages.chunks(PG_INSERT_CHUNK) {
        let exchanges: Vec<&str> = chunk.iter().map(|m| m.exchange.as_str()).collect();
        let routing_keys: Vec<&str> = chunk.iter().map(|m| m.routing_key.as_str()).collect();
        let message_ids: Vec<&str> = chunk.iter().map(|m| m.message_id.as_str()).collect();
        let headers: Vec<Json<&BTreeMap<String, String>>> =
            chunk.iter().map(|m| Json(&m.headers)).collect();
        let bodies: Vec<&[u8]> = chunk.iter().map(|m| m.body.as_slice()).collect();
        // WITH ORDINALITY + ORDER BY keeps the slice order in the identity ids.
        sqlx::query(
            "INSERT INTO platform.outbox (exchange, routing_key, message_id, headers, body) \
             SELECT exchange, routing_key, message_id, headers, body \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::bytea[]) \
                  WITH ORDINALITY AS m(exchange, routing_key, message_id, headers, body, position) \
             ORDER BY position",
        )
        .bind(&exchanges)
        .bind(&routing_keys)
        .bind(&message_ids)
        .bind(&headers)
        .bind(&bodies)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

pub(crate) async fn enqueue_sqlite(
    connection: &mut SqliteConnection,
    messages: &[WireMessage],
) -> Result<(), StoreError> {
    // One prepared statement reused per row; the surrounding transaction makes it cheap.
    for message in messages {
        sqlx::query(
            "INSERT INTO platform.outbox (exchange, routing_key, message_id, headers, body) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&message.exchange)
        .bind(&message.routing_key)
        .bind(&message.message_id)
        .bind(Json(&message.headers))
        .bind(&message.body)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// Locks and deletes up to `limit` of the oldest rows no other worker holds; the deletion
/// only becomes visible when the caller commits, so a rollback puts them back.
pub(crate) async fn claim_postgres(
    connection: &mut PgConnection,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError> {
    // MATERIALIZED: the locking subquery must run exactly once, or a re-scan could
    // claim more than `limit` rows.
    let rows = sqlx::query(
        "WITH claimed AS MATERIALIZED ( \
             SELECT id FROM platform.outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         DELETE FROM platform.outbox AS o USING claimed \
         WHERE o.id = claimed.id \
         RETURNING o.id, o.exchange, o.routing_key, o.message_id, o.headers::text AS headers, o.body",
    )
    .bind(i64::from(limit))
    .fetch_all(connection)
    .await?;
    decode_rows(rows)
}

/// Reads (without locking) the oldest `limit` rows; the single SQLite relay deletes them
/// with [`delete_sqlite_range`] once the sink confirmed.
pub(crate) async fn peek_sqlite(
    connection: &mut SqliteConnection,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, exchange, routing_key, message_id, headers, body \
         FROM platform.outbox ORDER BY id LIMIT ?",
    )
    .bind(i64::from(limit))
    .fetch_all(connection)
    .await?;
    decode_rows(rows)
}

/// Deletes the relayed id range. Safe as a range: AUTOINCREMENT ids are assigned under
/// SQLite's single write lock and never reused, so no row committed after the peek can
/// fall inside `first..=last`.
pub(crate) async fn delete_sqlite_range(
    connection: &mut SqliteConnection,
    first: i64,
    last: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM platform.outbox WHERE id BETWEEN ? AND ?")
        .bind(first)
        .bind(last)
        .execute(connection)
        .await?;
    Ok(())
}

fn decode_rows<R>(rows: Vec<R>) -> Result<Vec<OutboxRow>, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut decoded = rows
        .into_iter()
        .map(|row| {
            let id: i64 = row.try_get(0)?;
            let headers_json: String = row.try_get(4)?;
            let headers = serde_json::from_str::<BTreeMap<String, String>>(&headers_json)
                .map_err(|source| StoreError::CorruptOutboxRow { id, source })?;
            Ok(OutboxRow {
                id,
                message: WireMessage {
                    exchange: row.try_get(1)?,
                    routing_key: row.try_get(2)?,
                    message_id: row.try_get(3)?,
                    headers,
                    body: row.try_get(5)?,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING gives no order guarantee; the sink gets the batch in id order.
    decoded.sort_unstable_by_key(|row| row.id);
    Ok(decoded)
}
