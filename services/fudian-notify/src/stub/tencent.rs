//! The Tencent Cloud SMS stub: `POST /` with the `SendSms` 2021-01-11 headers, the
//! TC3-HMAC-SHA256 signature checked with the same secret, the body fields and the
//! 200-number limit; per-number statuses; request-level errors in Tencent's envelope.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{
    AcceptedMessage, Admission, Recorder, Stub, answer_delay, delay, receipt_time, secret,
    stub_http_settings, template_ids,
};
use crate::providers::constant_time_eq;
use crate::providers::tencent_sms::{
    ACTION, CONTENT_TYPE, MAX_PHONE_NUMBERS, SERVICE, Tc3Request, VERSION, sign_tc3,
};
use crate::send::TencentSmsSenderConfig;

/// The account the stub plays.
#[derive(Debug, Clone)]
pub struct TencentStubConfig {
    /// API key id.
    pub secret_id: String,
    /// API key secret.
    pub secret_key: String,
    /// `SmsSdkAppId`.
    pub sms_sdk_app_id: String,
    /// The approved signature.
    pub sign_name: String,
    /// Approved template ids.
    pub templates: BTreeSet<String>,
}

impl Default for TencentStubConfig {
    fn default() -> Self {
        Self {
            secret_id: "AKIDstubstubstubstubstubstubstubstub".into(),
            secret_key: "stub-tencent-secret-key".into(),
            sms_sdk_app_id: "1400006666".into(),
            sign_name: "东营供电".into(),
            templates: template_ids("tencent_sms").into_values().collect(),
        }
    }
}

struct TencentState {
    config: TencentStubConfig,
    recorder: Recorder,
    serial: AtomicU64,
}

impl TencentState {
    fn request_error(&self, code: &str, message: &str) -> Json<Value> {
        self.recorder.reject(code, message);
        Json(
            json!({"Response": {"Error": {"Code": code, "Message": message},
                                 "RequestId": uuid::Uuid::now_v7().to_string()}}),
        )
    }
}

/// The running Tencent SMS stub.
pub struct TencentStub {
    stub: Stub,
    state: Arc<TencentState>,
}

impl Deref for TencentStub {
    type Target = Stub;
    fn deref(&self) -> &Stub {
        &self.stub
    }
}

impl TencentStub {
    /// Starts it on a free port.
    pub async fn start(config: TencentStubConfig) -> std::io::Result<Self> {
        let recorder = Recorder::default();
        let state = Arc::new(TencentState {
            config,
            recorder: recorder.clone(),
            serial: AtomicU64::new(0),
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
    pub fn sender_config(&self) -> TencentSmsSenderConfig {
        TencentSmsSenderConfig {
            endpoint: format!("{}/", self.base_url()),
            region: "ap-guangzhou".into(),
            secret_id: self.state.config.secret_id.clone(),
            secret_key: secret(&self.state.config.secret_key),
            sms_sdk_app_id: self.state.config.sms_sdk_app_id.clone(),
            sign_name: self.state.config.sign_name.clone(),
            templates: template_ids("tencent_sms"),
            batch_size: MAX_PHONE_NUMBERS,
            rate_limit: None,
            http: stub_http_settings(),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Checks the headers and the TC3 signature; the error is Tencent's code and message.
fn check_signature(
    config: &TencentStubConfig,
    headers: &HeaderMap,
    body: &str,
) -> Result<(), (&'static str, String)> {
    if header(headers, "x-tc-action") != Some(ACTION) {
        return Err(("InvalidAction", "X-TC-Action must be SendSms".into()));
    }
    if header(headers, "x-tc-version") != Some(VERSION) {
        return Err(("InvalidParameter", "X-TC-Version must be 2021-01-11".into()));
    }
    if header(headers, "x-tc-region").is_none_or(str::is_empty) {
        return Err(("MissingParameter", "X-TC-Region is missing".into()));
    }
    let content_type = header(headers, "content-type").unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(CONTENT_TYPE) {
        return Err((
            "InvalidParameter",
            format!("Content-Type must be {CONTENT_TYPE}"),
        ));
    }
    let Some(timestamp) = header(headers, "x-tc-timestamp").and_then(|t| t.parse::<i64>().ok())
    else {
        return Err(("MissingParameter", "X-TC-Timestamp is missing".into()));
    };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return Err((
            "AuthFailure.SignatureExpire",
            "the timestamp is more than 5 minutes off".into(),
        ));
    }
    let host = header(headers, "host").unwrap_or_default();
    let authorization = header(headers, "authorization").unwrap_or_default();
    let Some(credential) = authorization
        .strip_prefix("TC3-HMAC-SHA256 Credential=")
        .and_then(|rest| rest.split(',').next())
    else {
        return Err((
            "AuthFailure.InvalidAuthorization",
            "malformed Authorization".into(),
        ));
    };
    let mut scope = credential.split('/');
    if scope.next() != Some(config.secret_id.as_str()) {
        return Err(("AuthFailure.SecretIdNotFound", "unknown SecretId".into()));
    }
    let expected = sign_tc3(
        &Tc3Request {
            service: SERVICE,
            host,
            content_type,
            timestamp,
            body: body.as_bytes(),
        },
        &config.secret_id,
        &secret(&config.secret_key),
    )
    .map_err(|error| ("AuthFailure.InvalidAuthorization", error.to_string()))?;
    if !constant_time_eq(authorization.as_bytes(), expected.authorization.as_bytes()) {
        return Err((
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.".into(),
        ));
    }
    Ok(())
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

async fn send_sms(
    State(state): State<Arc<TencentState>>,
    headers: HeaderMap,
    body: String,
) -> Json<Value> {
    let admission = state.recorder.admit();
    delay(&admission).await;
    let answer = answer(&state, &headers, &body, &admission);
    answer_delay(&admission).await;
    answer
}

/// Checks and takes one request (no await: a client that leaves cannot cancel it halfway).
fn answer(
    state: &TencentState,
    headers: &HeaderMap,
    body: &str,
    admission: &Admission,
) -> Json<Value> {
    if let Err((code, message)) = check_signature(&state.config, headers, body) {
        return state.request_error(code, &message);
    }
    let Ok(request) = serde_json::from_str::<Value>(body) else {
        return state.request_error("InvalidParameter", "the body is not json");
    };
    let Some(numbers) = request["PhoneNumberSet"]
        .as_array()
        .filter(|n| !n.is_empty())
    else {
        return state.request_error("MissingParameter", "PhoneNumberSet is missing or empty");
    };
    if numbers.len() > MAX_PHONE_NUMBERS {
        return state.request_error(
            "LimitExceeded.PhoneNumberCountLimit",
            "PhoneNumberSet holds more than 200 numbers",
        );
    }
    if request["SmsSdkAppId"] != state.config.sms_sdk_app_id.as_str() {
        return state.request_error(
            "InvalidParameterValue.SdkAppIdNotExist",
            "SmsSdkAppId does not exist",
        );
    }
    let Some(template_id) = request["TemplateId"].as_str() else {
        return state.request_error("MissingParameter", "TemplateId is missing");
    };
    let params_ok = request["TemplateParamSet"]
        .as_array()
        .is_some_and(|params| params.iter().all(Value::is_string));
    if !params_ok {
        return state.request_error(
            "InvalidParameterValue.TemplateParameterFormatError",
            "TemplateParamSet must be an array of strings",
        );
    }
    if !matches!(request["SessionContext"], Value::Null | Value::String(_)) {
        return state.request_error("InvalidParameter", "SessionContext must be a string");
    }
    if let Some(code) = &admission.fail_with {
        return state.request_error(code, "injected failure");
    }
    if admission.rate_limited {
        return state.request_error("RequestLimitExceeded", "request rate over the limit");
    }
    let session_context = request["SessionContext"].as_str().unwrap_or_default();
    let sign_ok = request["SignName"] == state.config.sign_name.as_str();
    let template_ok = state.config.templates.contains(template_id);
    let statuses: Vec<Value> = numbers
        .iter()
        .map(|number| {
            let number = number.as_str().unwrap_or_default();
            let failure = if !is_e164(number) {
                Some("InvalidParameterValue.IncorrectPhoneNumber".to_owned())
            } else if !sign_ok {
                Some("FailedOperation.SignatureIncorrectOrUnapproved".to_owned())
            } else if !template_ok {
                Some("FailedOperation.TemplateIncorrectOrUnapproved".to_owned())
            } else {
                state.recorder.address_fault(number)
            };
            if let Some(code) = failure {
                state.recorder.reject(&code, "per-number failure");
                return json!({"SerialNo": "", "PhoneNumber": number, "Fee": 0,
                    "SessionContext": session_context, "Code": code,
                    "Message": "failed", "IsoCode": "CN"});
            }
            let serial = format!(
                "2433:{}",
                state.serial.fetch_add(1, Ordering::Relaxed) + 1_000_000
            );
            state.recorder.record(AcceptedMessage {
                provider: "tencent_sms",
                address: number.to_owned(),
                message_id: serial.clone(),
                client_id: session_context.to_owned(),
                template_id: template_id.to_owned(),
                content: request["TemplateParamSet"].clone(),
            });
            state.recorder.queue_receipt(|| {
                let national = number.strip_prefix("+86").unwrap_or(number);
                json!({"user_receive_time": receipt_time(), "nationcode": "86",
                    "mobile": national, "report_status": "SUCCESS", "errmsg": "DELIVRD",
                    "description": "用户短信送达成功", "sid": serial})
            });
            json!({"SerialNo": serial, "PhoneNumber": number, "Fee": 1,
                "SessionContext": session_context, "Code": "Ok",
                "Message": "send success", "IsoCode": "CN"})
        })
        .collect();
    Json(json!({"Response": {"SendStatusSet": statuses,
                             "RequestId": uuid::Uuid::now_v7().to_string()}}))
}
