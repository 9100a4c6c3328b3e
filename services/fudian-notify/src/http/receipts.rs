//! Provider delivery receipts: the WeChat server URL (GET: echostr verification; POST:
//! `TEMPLATESENDJOBFINISH` XML, both signature-checked), and the Tencent and Alibaba SMS
//! receipt callbacks. Each receipt is remembered by the provider's de-duplication key, so
//! the re-pushes (WeChat 3 times in 5 s, Alibaba at 1, 5 and 10 minutes) change nothing.
//! A "not delivered" receipt sends the notice on to the customer's next channel.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::Api;
use crate::ReceiptStatus;
use crate::providers::{aliyun_sms, tencent_sms, wechat};
use crate::service_error::{ApiError, ServiceError};
use crate::store;
use crate::worker::address_hash;

#[derive(Debug, Deserialize)]
pub struct WechatQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

fn check_wechat_signature(api: &Api, query: &WechatQuery) -> Result<(), ApiError> {
    let token = api.runtime.config.wechat_callback_token.expose_secret();
    let (Some(signature), Some(timestamp), Some(nonce)) =
        (&query.signature, &query.timestamp, &query.nonce)
    else {
        return Err(ApiError::Forbidden);
    };
    if token.is_empty() || !wechat::verify_callback_signature(token, timestamp, nonce, signature) {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

/// WeChat's server-URL check: answer `echostr` when the signature is ours.
pub async fn wechat_verify(
    State(api): State<Arc<Api>>,
    Query(query): Query<WechatQuery>,
) -> Result<String, ApiError> {
    check_wechat_signature(&api, &query)?;
    query
        .echostr
        .clone()
        .ok_or_else(|| ApiError::BadRequest("query parameter `echostr` is required".into()))
}

fn receipt_answer(status: &ReceiptStatus) -> (bool, String) {
    match status {
        ReceiptStatus::Delivered => (true, serde_json::json!({ "receipt": "delivered" }).to_string()),
        ReceiptStatus::NotDelivered { code, description } => (
            false,
            serde_json::json!({ "receipt": "not delivered", "code": code, "description": description })
                .to_string(),
        ),
    }
}

/// Applies one receipt unless seen before. One that matches no delivery yet (it overtook
/// the sender's record of the send, or its SMS waits to be settled after an unanswered
/// request) is kept and tried again by the sender pool's settling round.
async fn apply(
    api: &Api,
    dedup_key: &str,
    provider: &str,
    provider_message_id: &str,
    recipient_hash: Option<&str>,
    status: &ReceiptStatus,
) -> Result<(), ServiceError> {
    let now = Utc::now().timestamp_millis();
    let (delivered, answer) = receipt_answer(status);
    let receipt = store::ReceiptRow {
        dedup_key: format!("{provider}/{dedup_key}"),
        provider: provider.to_owned(),
        provider_message_id: Some(provider_message_id.to_owned()),
        recipient_hash: recipient_hash.map(str::to_owned),
        delivered: Some(delivered),
        answer: Some(answer),
        received_at: now,
    };
    let mut tx = api.runtime.store.begin().await?;
    if !store::receipt_is_new(&mut tx, &receipt).await? {
        tracing::debug!(provider, "duplicate receipt ignored");
        return Ok(());
    }
    let matched = store::apply_remembered_receipt(&mut tx, &receipt, now).await?;
    tx.commit().await?;
    if !matched {
        tracing::debug!(
            provider,
            "receipt for no known delivery yet: kept to try again"
        );
    } else if !delivered {
        // It may have gone back to the queue for the next channel.
        api.runtime.wake.notify_waiters();
    }
    metrics::counter!("fudian_notify_receipts_total", "provider" => provider.to_owned(), "delivered" => delivered.to_string()).increment(1);
    Ok(())
}

pub async fn wechat_event(
    State(api): State<Arc<Api>>,
    Query(query): Query<WechatQuery>,
    body: String,
) -> Result<Response, ApiError> {
    check_wechat_signature(&api, &query)?;
    let callback =
        wechat::parse_callback(&body).map_err(|error| ApiError::BadRequest(error.to_string()))?;
    match callback {
        wechat::WechatCallback::TemplateSendJobFinish(finish) => {
            apply(
                &api,
                &finish.dedup_key(),
                "wechat",
                &finish.msg_id.to_string(),
                None,
                &finish.receipt_status(),
            )
            .await?;
        }
        wechat::WechatCallback::Other { msg_type, event } => {
            tracing::debug!(msg_type, event = ?event, "wechat callback ignored");
        }
    }
    Ok((StatusCode::OK, wechat::CALLBACK_ACK).into_response())
}

fn json_ack(body: &'static str) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

pub async fn tencent(State(api): State<Arc<Api>>, body: String) -> Result<Response, ApiError> {
    let receipts = tencent_sms::parse_receipts(&body)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    for receipt in &receipts {
        let hash = address_hash(&format!("{}{}", receipt.nationcode, receipt.mobile));
        apply(
            &api,
            &receipt.dedup_key(),
            "tencent_sms",
            &receipt.sid,
            Some(&hash),
            &receipt.status(),
        )
        .await?;
    }
    Ok(json_ack(tencent_sms::RECEIPT_ACK))
}

pub async fn aliyun(State(api): State<Arc<Api>>, body: String) -> Result<Response, ApiError> {
    let receipts = aliyun_sms::parse_receipts(&body)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    for receipt in &receipts {
        let hash = address_hash(&receipt.phone_number);
        apply(
            &api,
            &receipt.dedup_key(),
            "aliyun_sms",
            &receipt.biz_id,
            Some(&hash),
            &receipt.status(),
        )
        .await?;
    }
    Ok(json_ack(aliyun_sms::RECEIPT_ACK))
}
