//! Local provider stubs (feature `stub`) for tests and benchmarks: axum servers on
//! `127.0.0.1:0` that check every request the way the provider documents it (signatures
//! with the same secrets, required fields, limits, content type), answer in the
//! provider's format, record what they accepted, and inject faults on demand.
//!
//! [`Stubs::start`] runs all four and gives a [`crate::send::ProvidersConfig`] pointing at
//! them. Each stub derefs to [`Stub`], the common part: accepted messages, request and
//! rejection counts, and the faults (per-address codes, the next N requests failing, a
//! delay, a per-second rate limit).
//!
//! The SMS stubs also push delivery receipts, as Tencent and Alibaba do, once
//! [`Stub::push_receipts_to`] names the receiving URL: one per accepted number, in
//! batches, pushed again until the receiver answers 2xx (a service that is down gets them
//! when it is back). [`Stub::set_answer_delay`] makes a stub accept a request and answer
//! late: a client that gives up (or dies) then has sent a message without knowing it, the
//! case `SendSms` not being idempotent is about.

mod aliyun;
mod app;
mod tencent;
mod wechat;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::send::{HttpSettings, ProvidersConfig};
use crate::templates::NoticeKind;

pub use aliyun::{AliyunStub, AliyunStubConfig};
pub use app::{AppStub, AppStubConfig};
pub use tencent::{TencentStub, TencentStubConfig};
pub use wechat::{WechatStub, WechatStubConfig};

/// A message a stub accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedMessage {
    /// `wechat`, `tencent_sms`, `aliyun_sms`, `app`.
    pub provider: &'static str,
    /// openid, E.164 number (`+86...`, also for Alibaba), or app user id.
    pub address: String,
    /// What the stub answered: WeChat msgid, Tencent SerialNo, Alibaba BizId; the
    /// webhook-id for the app.
    pub message_id: String,
    /// Our id as the request carried it: `client_msg_id`, `SessionContext`, `OutId`,
    /// `webhook-id`.
    pub client_id: String,
    /// Template id or code; the event type for the app.
    pub template_id: String,
    /// WeChat `data`, the SMS template parameters, the app body.
    pub content: serde_json::Value,
}

/// A request a stub refused, with the provider's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The provider's error code as answered.
    pub code: String,
    /// Why, in the stub's words.
    pub reason: String,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<AcceptedMessage>,
    by_address: HashMap<String, Vec<usize>>,
    requests: u64,
    rejected: Vec<Rejection>,
    per_address: HashMap<String, String>,
    fail_next: u32,
    fail_next_code: String,
    delay: Duration,
    answer_delay: Duration,
    rate_per_second: Option<u32>,
    window: (u64, u32),
    receipt_url: Option<String>,
    pending_receipts: Vec<serde_json::Value>,
    receipts_pushed: u64,
}

/// What applies to one request, decided when it arrives.
pub(crate) struct Admission {
    /// A code the request must fail with (fail-next).
    pub(crate) fail_with: Option<String>,
    /// Over the injected rate limit.
    pub(crate) rate_limited: bool,
    pub(crate) delay: Duration,
    /// How long to wait after accepting, before answering.
    pub(crate) answer_delay: Duration,
}

/// The part every stub shares.
pub struct Stub {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
    pusher: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
        self.pusher.abort();
    }
}

/// Receipts per push, as the providers batch them.
const RECEIPTS_PER_PUSH: usize = 500;

/// Pushes queued receipts to the receiver every 100 ms; a push that fails (refused,
/// timed out, not 2xx) is kept and tried again.
async fn push_receipts(recorder: Recorder) {
    // reqwest is built without a default crypto provider (see `send::http`).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build();
    let Ok(client) = client else {
        tracing::warn!("stub receipt pusher could not build its http client");
        return;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (url, batch) = {
            let mut inner = recorder.lock();
            let Some(url) = inner.receipt_url.clone() else {
                continue;
            };
            let take = inner.pending_receipts.len().min(RECEIPTS_PER_PUSH);
            if take == 0 {
                continue;
            }
            (
                url,
                inner.pending_receipts.drain(..take).collect::<Vec<_>>(),
            )
        };
        let pushed = client
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::Value::Array(batch.clone()).to_string())
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success());
        let mut inner = recorder.lock();
        if pushed {
            inner.receipts_pushed += batch.len() as u64;
        } else {
            // Back to the front, in order, for the next round.
            inner.pending_receipts.splice(0..0, batch);
        }
    }
}

/// The shared state handlers use.
#[derive(Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<Inner>>);

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the request and takes the faults that apply to it.
    pub(crate) fn admit(&self) -> Admission {
        let mut inner = self.lock();
        inner.requests += 1;
        let fail_with = (inner.fail_next > 0).then(|| {
            inner.fail_next -= 1;
            inner.fail_next_code.clone()
        });
        let rate_limited = match inner.rate_per_second {
            Some(max) => {
                let second = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if inner.window.0 != second {
                    inner.window = (second, 0);
                }
                inner.window.1 += 1;
                inner.window.1 > max
            }
            None => false,
        };
        Admission {
            fail_with,
            rate_limited,
            delay: inner.delay,
            answer_delay: inner.answer_delay,
        }
    }

    pub(crate) fn address_fault(&self, address: &str) -> Option<String> {
        self.lock().per_address.get(address).cloned()
    }

    pub(crate) fn record(&self, message: AcceptedMessage) {
        let mut inner = self.lock();
        let index = inner.accepted.len();
        inner
            .by_address
            .entry(message.address.clone())
            .or_default()
            .push(index);
        inner.accepted.push(message);
    }

    /// Queues a delivery receipt (the provider's JSON for one number) when receipts are
    /// pushed anywhere.
    pub(crate) fn queue_receipt(&self, receipt: impl FnOnce() -> serde_json::Value) {
        let mut inner = self.lock();
        if inner.receipt_url.is_some() {
            inner.pending_receipts.push(receipt());
        }
    }

    pub(crate) fn reject(&self, code: impl Into<String>, reason: impl Into<String>) {
        self.lock().rejected.push(Rejection {
            code: code.into(),
            reason: reason.into(),
        });
    }
}

impl Stub {
    pub(crate) async fn serve(router: axum::Router, recorder: &Recorder) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "stub server stopped");
            }
        });
        let pusher = tokio::spawn(push_receipts(recorder.clone()));
        Ok(Self {
            addr,
            inner: recorder.0.clone(),
            task,
            pusher,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted message, in order.
    pub fn accepted(&self) -> Vec<AcceptedMessage> {
        self.lock().accepted.clone()
    }

    /// How many messages were accepted (one per number for SMS).
    pub fn accepted_count(&self) -> usize {
        self.lock().accepted.len()
    }

    /// The messages accepted for one address.
    pub fn accepted_for(&self, address: &str) -> Vec<AcceptedMessage> {
        let inner = self.lock();
        inner
            .by_address
            .get(address)
            .map(|indices| indices.iter().map(|&i| inner.accepted[i].clone()).collect())
            .unwrap_or_default()
    }

    /// HTTP requests received (all endpoints, accepted or not).
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Requests or messages refused, with the provider's code.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock().rejected.clone()
    }

    /// Every message to `address` fails with the provider code `code` (WeChat errcode
    /// such as `43004`, Tencent `LimitExceeded.PhoneNumberDailyLimit`, Alibaba
    /// `isv.MOBILE_NUMBER_ILLEGAL`, app HTTP status such as `410`).
    pub fn fail_address(&self, address: impl Into<String>, code: impl Into<String>) {
        self.lock().per_address.insert(address.into(), code.into());
    }

    /// Removes every per-address fault.
    pub fn clear_address_faults(&self) {
        self.lock().per_address.clear();
    }

    /// The next `count` requests fail as a whole with `code` (WeChat errcode, Tencent or
    /// Alibaba request-level code, app HTTP status).
    pub fn fail_next(&self, count: u32, code: impl Into<String>) {
        let mut inner = self.lock();
        inner.fail_next = count;
        inner.fail_next_code = code.into();
    }

    /// Every answer waits this long first (longer than the client's timeout: a timeout).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Every accepted request is answered this much later (longer than the client's
    /// timeout: the messages went, the client does not know).
    pub fn set_answer_delay(&self, delay: Duration) {
        self.lock().answer_delay = delay;
    }

    /// Pushes a delivery receipt for every message accepted from now on to `url` (the
    /// SMS stubs: Tencent's and Alibaba's receipt formats), until it answers 2xx.
    pub fn push_receipts_to(&self, url: impl Into<String>) {
        self.lock().receipt_url = Some(url.into());
    }

    /// Stops pushing receipts, as if the provider lost them; those not pushed yet are
    /// dropped.
    pub fn stop_pushing_receipts(&self) {
        let mut inner = self.lock();
        inner.receipt_url = None;
        inner.pending_receipts.clear();
    }

    /// Receipts the receiver has taken.
    pub fn receipts_pushed(&self) -> u64 {
        self.lock().receipts_pushed
    }

    /// Receipts waiting to be pushed (the receiver was down or refused them).
    pub fn receipts_pending(&self) -> usize {
        self.lock().pending_receipts.len()
    }

    /// More than `per_second` requests in one wall-clock second are refused with the
    /// provider's rate-limit answer (WeChat 45011, Tencent `RequestLimitExceeded`,
    /// Alibaba `isv.BUSINESS_LIMIT_CONTROL`, app HTTP 429); `None` lifts it.
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        let mut inner = self.lock();
        inner.rate_per_second = per_second;
        inner.window = (0, 0);
    }

    /// Polls until `count` messages are accepted or `timeout` passes; returns the count.
    pub async fn wait_for_accepted(&self, count: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = self.accepted_count();
            if accepted >= count || tokio::time::Instant::now() >= deadline {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Sleeps for an injected delay.
pub(crate) async fn delay(admission: &Admission) {
    if !admission.delay.is_zero() {
        tokio::time::sleep(admission.delay).await;
    }
}

/// Sleeps for an injected answer delay (after the request was accepted).
pub(crate) async fn answer_delay(admission: &Admission) {
    if !admission.answer_delay.is_zero() {
        tokio::time::sleep(admission.answer_delay).await;
    }
}

/// A provider's time stamp for receipts, `2026-11-27 10:00:00` in Beijing time.
pub(crate) fn receipt_time() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Template ids the stubs know, per kind: WeChat `tpl_<kind>`, Tencent `10000<n>`,
/// Alibaba `SMS_1000<n>`.
pub fn template_ids(provider: &str) -> BTreeMap<String, String> {
    NoticeKind::ALL
        .into_iter()
        .enumerate()
        .map(|(n, kind)| {
            let id = match provider {
                "wechat" => format!("tpl_{}", kind.as_str()),
                "tencent_sms" => format!("10000{n}"),
                _ => format!("SMS_1000{n}"),
            };
            (kind.as_str().to_owned(), id)
        })
        .collect()
}

/// All four stubs with their default credentials.
pub struct Stubs {
    /// WeChat Official Account API.
    pub wechat: WechatStub,
    /// Tencent Cloud SMS.
    pub tencent: TencentStub,
    /// Alibaba Cloud SMS.
    pub aliyun: AliyunStub,
    /// The app gateway's webhook receiver.
    pub app: AppStub,
}

impl Stubs {
    /// Starts the four stubs on free ports.
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self {
            wechat: WechatStub::start(WechatStubConfig::default()).await?,
            tencent: TencentStub::start(TencentStubConfig::default()).await?,
            aliyun: AliyunStub::start(AliyunStubConfig::default()).await?,
            app: AppStub::start(AppStubConfig::default()).await?,
        })
    }

    /// A configuration pointing every provider at these stubs, with their credentials and
    /// template ids; Tencent is the SMS primary and Alibaba the failover.
    pub fn providers_config(&self) -> ProvidersConfig {
        ProvidersConfig {
            wechat: Some(self.wechat.sender_config()),
            tencent_sms: Some(self.tencent.sender_config()),
            aliyun_sms: Some(self.aliyun.sender_config()),
            sms_primary: crate::send::SmsProvider::Tencent,
            app: Some(self.app.sender_config()),
        }
    }

    /// The same configuration as an operator writes it (the keys under
    /// `[notify.providers]`), as JSON, with `http` settings for every provider: for a
    /// service started in another process.
    pub fn providers_json(&self, http: &HttpSettings) -> serde_json::Value {
        let http = serde_json::json!({
            "timeout_ms": http.timeout_ms,
            "connect_timeout_ms": http.connect_timeout_ms,
            "concurrency": http.concurrency,
        });
        let wechat = self.wechat.sender_config();
        let tencent = self.tencent.sender_config();
        let aliyun = self.aliyun.sender_config();
        let app = self.app.sender_config();
        serde_json::json!({
            "sms_primary": "tencent",
            "wechat": {
                "endpoint": wechat.endpoint,
                "app_id": wechat.app_id,
                "app_secret": wechat.app_secret.expose_secret(),
                "templates": wechat.templates,
                "http": http,
            },
            "tencent_sms": {
                "endpoint": tencent.endpoint,
                "region": tencent.region,
                "secret_id": tencent.secret_id,
                "secret_key": tencent.secret_key.expose_secret(),
                "sms_sdk_app_id": tencent.sms_sdk_app_id,
                "sign_name": tencent.sign_name,
                "templates": tencent.templates,
                "batch_size": tencent.batch_size,
                "http": http,
            },
            "aliyun_sms": {
                "endpoint": aliyun.endpoint,
                "access_key_id": aliyun.access_key_id,
                "access_key_secret": aliyun.access_key_secret.expose_secret(),
                "sign_name": aliyun.sign_name,
                "templates": aliyun.templates,
                "text_param": aliyun.text_param,
                "batch_size": aliyun.batch_size,
                "http": http,
            },
            "app": {
                "endpoint": app.endpoint,
                "secret": app.secret.expose_secret(),
                "http": http,
            },
        })
    }

    /// Messages accepted by all stubs together.
    pub fn accepted_count(&self) -> usize {
        self.wechat.accepted_count()
            + self.tencent.accepted_count()
            + self.aliyun.accepted_count()
            + self.app.accepted_count()
    }
}

/// HTTP settings for talking to a local stub: short timeouts so fault tests are quick.
pub fn stub_http_settings() -> HttpSettings {
    HttpSettings {
        timeout_ms: 2_000,
        connect_timeout_ms: 1_000,
        concurrency: 32,
    }
}

pub(crate) fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_providers_json_is_a_configuration_the_service_accepts() {
        let stubs = Stubs::start().await.unwrap();
        let json = stubs.providers_json(&stub_http_settings());
        let config: ProvidersConfig = serde_json::from_value(json).unwrap();
        let tencent = config.tencent_sms.as_ref().unwrap();
        assert_eq!(tencent.endpoint, stubs.tencent.sender_config().endpoint);
        assert_eq!(
            tencent.secret_key.expose_secret(),
            stubs.tencent.sender_config().secret_key.expose_secret()
        );
        let senders = crate::send::build_senders(&config).unwrap();
        assert!(senders.sms.is_some() && senders.wechat.is_some() && senders.app.is_some());
    }
}
