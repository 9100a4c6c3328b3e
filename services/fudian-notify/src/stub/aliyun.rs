//! The Alibaba Cloud SMS stub: `POST /?<query>` with the `SendSms` 2017-05-25 headers, the
//! ACS3-HMAC-SHA256 signature checked with the same secret (content hash, date within 15
//! minutes, nonce never reused), the query parameters and the 1000-number limit. Alibaba
//! answers for the whole request, so a fault on one number fails the request.

use std::collections::{BTreeSet, HashSet};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{
    AcceptedMessage, Admission, Recorder, Stub, answer_delay, delay, receipt_time, secret,
    stub_http_settings, template_ids,
};
use crate::providers::aliyun_sms::{ACTION, Acs3Request, MAX_PHONE_NUMBERS, VERSION, sign_acs3};
use crate::providers::{HttpMethod, constant_time_eq, sha256_hex};
use crate::send::AliyunSmsSenderConfig;

/// The account the stub plays.
#[derive(Debug, Clone)]
pub struct AliyunStubConfig {
    /// AccessKey id.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: String,
    /// The approved signature.
    pub sign_name: String,
    /// Approved template codes.
    pub templates: BTreeSet<String>,
}

impl Default for AliyunStubConfig {
    fn default() -> Self {
        Self {
            access_key_id: "LTAIstubstubstubstub".into(),
            access_key_secret: "stub-aliyun-access-key-secret".into(),
            sign_name: "东营供电".into(),
            templates: template_ids("aliyun_sms").into_values().collect(),
        }
    }
}

struct AliyunState {
    config: AliyunStubConfig,
    recorder: Recorder,
    nonces: Mutex<HashSet<String>>,
    biz: AtomicU64,
}

type Answer = (StatusCode, Json<Value>);

impl AliyunState {
    fn error(&self, status: StatusCode, code: &str, message: &str) -> Answer {
        self.recorder.reject(code, message);
        (
            status,
            Json(json!({"Code": code, "Message": message,
                        "RequestId": uuid::Uuid::now_v7().to_string()})),
        )
    }
}

/// The running Alibaba SMS stub.
pub struct AliyunStub {
    stub: Stub,
    state: Arc<AliyunState>,
}

impl Deref for AliyunStub {
    type Target = Stub;
    fn deref(&self) -> &Stub {
        &self.stub
    }
}

impl AliyunStub {
    /// Starts it on a free port.
    pub async fn start(config: AliyunStubConfig) -> std::io::Result<Self> {
        let recorder = Recorder::default();
        let state = Arc::new(AliyunState {
            config,
            recorder: recorder.clone(),
            nonces: Mutex::new(HashSet::new()),
            biz: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/", post(send_sms))
            .with_state(state.clone());
        Ok(Self {
            stub: Stub::serve(router, &recorder).await?,
            state,
        })
    }

    /// A sender configuration for this stub.
    pub fn sender_config(&self) -> AliyunSmsSenderConfig {
        AliyunSmsSenderConfig {
            endpoint: self.base_url(),
            access_key_id: self.state.config.access_key_id.clone(),
            access_key_secret: secret(&self.state.config.access_key_secret),
            sign_name: self.state.config.sign_name.clone(),
            templates: template_ids("aliyun_sms"),
            text_param: "content".into(),
            batch_size: MAX_PHONE_NUMBERS,
            rate_limit: None,
            http: stub_http_settings(),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

fn decode_query(raw: &str) -> Option<Vec<(String, String)>> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode_str(key).decode_utf8().ok()?.into_owned();
            let value = percent_decode_str(value).decode_utf8().ok()?.into_owned();
            Some((key, value))
        })
        .collect()
}

fn check_signature(
    state: &AliyunState,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &str,
) -> Result<(), (StatusCode, &'static str, String)> {
    let bad = |code, message: &str| Err((StatusCode::BAD_REQUEST, code, message.to_owned()));
    if header(headers, "x-acs-action") != ACTION {
        return bad("InvalidAction.NotFound", "x-acs-action must be SendSms");
    }
    if header(headers, "x-acs-version") != VERSION {
        return bad("InvalidVersion", "x-acs-version must be 2017-05-25");
    }
    let Ok(date) = chrono::DateTime::parse_from_rfc3339(header(headers, "x-acs-date")) else {
        return bad("MissingParameter", "x-acs-date is missing or not ISO 8601");
    };
    let date = date.with_timezone(&chrono::Utc);
    if (chrono::Utc::now() - date).num_seconds().abs() > 15 * 60 {
        return bad(
            "InvalidTimeStamp.Expired",
            "x-acs-date is more than 15 minutes off",
        );
    }
    if header(headers, "x-acs-content-sha256") != sha256_hex(body.as_bytes()) {
        return bad(
            "ContentSHA256NotMatch",
            "x-acs-content-sha256 does not match the body",
        );
    }
    let nonce = header(headers, "x-acs-signature-nonce");
    if nonce.is_empty() {
        return bad("MissingSignatureNonce", "x-acs-signature-nonce is missing");
    }
    let authorization = header(headers, "authorization");
    let Some(rest) = authorization.strip_prefix("ACS3-HMAC-SHA256 Credential=") else {
        return bad("IncompleteSignature", "malformed Authorization");
    };
    if rest.split(',').next() != Some(state.config.access_key_id.as_str()) {
        return Err((
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.".into(),
        ));
    }
    let expected = sign_acs3(
        &Acs3Request {
            method: HttpMethod::Post,
            host: header(headers, "host"),
            action: ACTION,
            version: VERSION,
            date,
            nonce,
            query,
            body: body.as_bytes(),
        },
        &state.config.access_key_id,
        &secret(&state.config.access_key_secret),
    );
    if !constant_time_eq(authorization.as_bytes(), expected.authorization.as_bytes()) {
        return Err((
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            "Specified signature does not match our calculation.".into(),
        ));
    }
    // Only a correctly signed nonce is remembered, so a forged request cannot burn one.
    let fresh = state
        .nonces
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(nonce.to_owned());
    if !fresh {
        return bad(
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        );
    }
    Ok(())
}

/// Back to E.164 for the records: 11-digit mainland numbers get `+86`.
fn e164(number: &str) -> String {
    if number.len() == 11 && number.starts_with('1') {
        format!("+86{number}")
    } else {
        format!("+{number}")
    }
}

async fn send_sms(
    State(state): State<Arc<AliyunState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let admission = state.recorder.admit();
    delay(&admission).await;
    let answer = answer(&state, raw.as_deref(), &headers, &body, &admission);
    answer_delay(&admission).await;
    answer
}

/// Checks and takes one request (no await: a client that leaves cannot cancel it halfway).
fn answer(
    state: &AliyunState,
    raw: Option<&str>,
    headers: &HeaderMap,
    body: &str,
    admission: &Admission,
) -> Answer {
    let Some(query) = decode_query(raw.unwrap_or_default()) else {
        return state.error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "query is not utf-8",
        );
    };
    if let Err((status, code, message)) = check_signature(state, headers, &query, body) {
        return state.error(status, code, &message);
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let ok = StatusCode::OK;
    let Some(numbers) = param("PhoneNumbers").filter(|n| !n.is_empty()) else {
        return state.error(
            ok,
            "MissingPhoneNumbers",
            "PhoneNumbers is mandatory for this action.",
        );
    };
    let numbers: Vec<&str> = numbers.split(',').collect();
    if numbers.len() > MAX_PHONE_NUMBERS {
        return state.error(ok, "isv.MOBILE_COUNT_OVER_LIMIT", "more than 1000 numbers");
    }
    if numbers
        .iter()
        .any(|n| !(5..=20).contains(&n.len()) || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return state.error(ok, "isv.MOBILE_NUMBER_ILLEGAL", "invalid phone number");
    }
    if param("SignName") != Some(state.config.sign_name.as_str()) {
        return state.error(
            ok,
            "isv.SMS_SIGNATURE_ILLEGAL",
            "the signature is not approved",
        );
    }
    let template = param("TemplateCode").unwrap_or_default();
    if !state.config.templates.contains(template) {
        return state.error(
            ok,
            "isv.SMS_TEMPLATE_ILLEGAL",
            "the template is not approved",
        );
    }
    let template_param: Option<Value> =
        param("TemplateParam").and_then(|t| serde_json::from_str(t).ok());
    let params_ok = template_param
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|object| object.values().all(Value::is_string));
    if !params_ok {
        return state.error(
            ok,
            "isv.INVALID_JSON_PARAM",
            "TemplateParam must be a json object of strings",
        );
    }
    if let Some(code) = &admission.fail_with {
        return state.error(ok, code, "injected failure");
    }
    if admission.rate_limited {
        return state.error(ok, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1");
    }
    let addresses: Vec<String> = numbers.iter().map(|n| e164(n)).collect();
    if let Some(code) = addresses
        .iter()
        .find_map(|a| state.recorder.address_fault(a))
    {
        return state.error(ok, &code, "injected failure for a number of this request");
    }
    let biz_id = format!(
        "{}^0",
        900_619_746_936_498_440u64 + state.biz.fetch_add(1, Ordering::Relaxed)
    );
    let out_id = param("OutId").unwrap_or_default();
    for address in addresses {
        state.recorder.record(AcceptedMessage {
            provider: "aliyun_sms",
            address,
            message_id: biz_id.clone(),
            client_id: out_id.to_owned(),
            template_id: template.to_owned(),
            content: template_param.clone().unwrap_or_default(),
        });
    }
    for number in &numbers {
        state.recorder.queue_receipt(|| {
            let now = receipt_time();
            json!({"phone_number": number, "send_time": now, "report_time": now,
                "success": true, "err_code": "DELIVERED", "err_msg": "用户接收成功",
                "sms_size": "1", "biz_id": biz_id, "out_id": out_id})
        });
    }
    (
        ok,
        Json(json!({"Code": "OK", "Message": "OK", "BizId": biz_id,
                    "RequestId": uuid::Uuid::now_v7().to_string()})),
    )
}
