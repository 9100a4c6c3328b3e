//! `GET /v1/notices?customer=ID` (every delivery of a customer: state, channel, text,
//! provider answer; `provider: null` for the local sink) and
//! `GET/PUT /v1/customers/{id}/preferences` (channel order and opt-outs).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, local_time};
use crate::plan;
use crate::runtime::{channel_of, parse_preferences};
use crate::service_error::ApiError;
use crate::store::{self, NoticeRow, PreferencesRow};
use crate::templates::Channel;

#[derive(Debug, Deserialize)]
pub struct NoticesQuery {
    customer: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(api): State<Arc<Api>>,
    Query(query): Query<NoticesQuery>,
) -> Result<Json<Value>, ApiError> {
    let customer = query
        .customer
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter `customer` is required".into()))?;
    let limit = query.limit.unwrap_or(1_000).clamp(1, 10_000);
    let mut tx = api.runtime.store.begin().await?;
    let rows = store::notices_of(&mut tx, &customer, limit).await?;
    tx.commit().await?;
    let items: Vec<Value> = rows.iter().map(|row| notice_json(&api, row)).collect();
    Ok(Json(json!({ "customer": customer, "items": items })))
}

pub fn notice_json(api: &Api, row: &NoticeRow) -> Value {
    let runtime = &api.runtime;
    let parse = |text: &Option<String>| -> Value {
        text.as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null)
    };
    json!({
        "id": row.id,
        "customer": row.customer_id,
        "subject": row.subject_id,
        "kind": row.kind,
        "revision": row.revision,
        "state": row.state,
        "channel": row.channel,
        "channels": serde_json::from_str::<Value>(&row.channels).unwrap_or(Value::Null),
        "critical": row.critical,
        "text": row.content,
        "segments": row.segments,
        "provider": row.provider,
        "provider_message_id": row.provider_message_id,
        "answer": parse(&row.answer),
        "attempt": row.attempt,
        "next_attempt_at": local_time(runtime, row.next_attempt_at),
        "created_at": local_time(runtime, row.created_at),
        "sent_at": row.sent_at.map(|ms| local_time(runtime, ms)),
        "delivered_at": row.delivered_at.map(|ms| local_time(runtime, ms)),
        "detail_url": runtime.config.detail_url(&row.id),
    })
}

fn names(channels: &[Channel]) -> Vec<&'static str> {
    channels.iter().map(|c| c.folder()).collect()
}

async fn preferences_json(api: &Api, customer: &str) -> Result<Value, ApiError> {
    let runtime = &api.runtime;
    let mut tx = runtime.store.begin().await?;
    let stored = store::preferences_of(&mut tx, &[customer]).await?;
    tx.commit().await?;
    let row = stored.get(customer);
    let grid = runtime
        .grid
        .customer_index(customer)
        .map(|index| runtime.grid.customer(index));
    if grid.is_none() && row.is_none() {
        return Err(ApiError::NotFound(format!("unknown customer `{customer}`")));
    }
    let (preferred, opted_out) = parse_preferences(row);
    let grid_channels: Vec<Channel> = grid
        .map(|c| c.channels.iter().map(|&ch| channel_of(ch)).collect())
        .unwrap_or_default();
    let effective = runtime
        .contact(customer, row)
        .map(|contact| names(&contact.channels))
        .unwrap_or_default();
    Ok(json!({
        "customer": customer,
        "channels": preferred.as_deref().map(names),
        "opted_out": names(&opted_out),
        "grid_channels": names(&grid_channels),
        "effective_channels": effective,
        "critical": grid.is_some_and(|c| c.critical),
        "updated_at": row.map(|r| local_time(runtime, r.updated_at)),
    }))
}

pub async fn get_preferences(
    State(api): State<Arc<Api>>,
    Path(customer): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(preferences_json(&api, &customer).await?))
}

/// The body of `PUT /v1/customers/{id}/preferences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    /// Channel order; `null` or absent: the grid's order.
    #[serde(default)]
    channels: Option<Vec<String>>,
    /// Channels the customer wants nothing on.
    #[serde(default)]
    opted_out: Vec<String>,
}

fn parse_channels(field: &str, names: &[String]) -> Result<Vec<Channel>, ApiError> {
    let mut channels = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let channel = plan::parse_channel(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{field}[{index}]: unknown channel {name:?}, expected wechat, sms or app"
            ))
        })?;
        if channels.contains(&channel) {
            return Err(ApiError::BadRequest(format!(
                "{field}[{index}]: channel {name:?} appears twice"
            )));
        }
        channels.push(channel);
    }
    Ok(channels)
}

pub async fn put_preferences(
    State(api): State<Arc<Api>>,
    Path(customer): Path<String>,
    body: Result<Json<PreferencesBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    if api.runtime.grid.customer_index(&customer).is_none() {
        return Err(ApiError::NotFound(format!("unknown customer `{customer}`")));
    }
    let channels = body
        .channels
        .as_deref()
        .map(|names| parse_channels("channels", names))
        .transpose()?;
    let opted_out = parse_channels("opted_out", &body.opted_out)?;
    let row = PreferencesRow {
        customer_id: customer.clone(),
        channels: channels
            .as_deref()
            .map(|c| serde_json::to_string(&names(c)))
            .transpose()
            .map_err(|e| ApiError::Internal(e.into()))?,
        opted_out: serde_json::to_string(&names(&opted_out))
            .map_err(|e| ApiError::Internal(e.into()))?,
        updated_at: Utc::now().timestamp_millis(),
    };
    let mut tx = api.runtime.store.begin().await?;
    store::put_preferences(&mut tx, &row).await?;
    tx.commit().await?;
    tracing::info!(customer.id = %customer, "notice preferences updated");
    Ok(Json(preferences_json(&api, &customer).await?))
}
