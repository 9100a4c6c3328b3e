//! Sending rendered notices to the providers over HTTP: one [`Sender`] per channel
//! (WeChat template messages, SMS through Tencent Cloud and/or Alibaba Cloud, app push
//! webhooks), built from [`ProvidersConfig`] by [`build_senders`].
//!
//! The requests, signatures and answer parsing are the pure builders of
//! [`crate::providers`]; this module adds what needs IO: the HTTP client (reqwest with
//! rustls on ring), the WeChat access-token cache with its single-flight refresh, SMS
//! batching of identical content, per-provider token-bucket rate limits, and the mapping of
//! timeouts and connection errors onto [`ErrorClass::Retry`].
//!
//! A sender never retries on its own (except the one WeChat send after a token refresh):
//! every other decision (retry later, fall back to another channel, stop a channel) is the
//! service's, from the [`ErrorClass`] of each [`SendOutcome`].

mod aliyun;
mod app;
mod failover;
mod http;
pub mod rate;
mod tencent;
mod wechat;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use secrecy::SecretString;
use serde::Deserialize;

use crate::templates::{AppNotice, Channel, NoticeKind, SmsNotice, WechatNotice};
use crate::{ErrorClass, ProviderFailure};

pub use aliyun::AliyunSmsSender;
pub use app::AppPushSender;
pub use failover::FailoverSender;
pub use rate::{RateLimit, TokenBucket};
pub use tencent::TencentSmsSender;
pub use wechat::WechatSender;

/// Failure code of a request that got no answer in time. The provider may have processed
/// it: WeChat (`client_msg_id`) and the app gateway (`webhook-id`) drop a repeat, but
/// Tencent and Alibaba `SendSms` are not idempotent, so a resend may text twice.
pub const CODE_TIMEOUT: &str = "transport.timeout";
/// Failure code of a request that never reached the provider (connection refused, DNS,
/// TLS): resending is always safe.
pub const CODE_CONNECT: &str = "transport.connect";
/// Failure code of any other transport error (connection reset mid-answer, ...).
pub const CODE_TRANSPORT: &str = "transport.error";
/// Failure code prefix of an HTTP status without a provider answer: `http.502`.
pub const CODE_HTTP_PREFIX: &str = "http.";
/// Failure code of an answer that is not the provider's documented shape.
pub const CODE_BAD_RESPONSE: &str = "response.malformed";
/// Failure code of an address the channel cannot use (not E.164, empty openid, ...);
/// nothing was sent.
pub const CODE_BAD_ADDRESS: &str = "address.invalid";
/// Failure code of content the request builder refused (WeChat field too long, ...);
/// nothing was sent.
pub const CODE_BAD_CONTENT: &str = "content.invalid";
/// Failure code of a notice kind without a provider template id in the configuration;
/// nothing was sent.
pub const CODE_NO_TEMPLATE: &str = "config.no_template";
/// Failure code of an [`Outgoing`] whose content is for another channel; nothing was sent.
pub const CODE_WRONG_CHANNEL: &str = "content.wrong_channel";

/// One notice to one address on one channel, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Our delivery id: WeChat `client_msg_id`, app `webhook-id`, and the SMS
    /// `SessionContext`/`OutId` when the request carries only this message.
    pub delivery_id: String,
    /// The customer, for logs and the stubs' records.
    pub customer_id: String,
    /// The channel; must match [`Outgoing::content`].
    pub channel: Channel,
    /// WeChat openid, E.164 phone number (`+8613711112222`), or app user id.
    pub address: String,
    /// What the notice tells; selects the provider's template id.
    pub kind: NoticeKind,
    /// The rendered content for the channel.
    pub content: Rendered,
}

/// Rendered content for one channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// WeChat template fields and detail page.
    Wechat(WechatNotice),
    /// SMS text without the signature.
    Sms(SmsNotice),
    /// App payload.
    App(AppNotice),
}

impl Rendered {
    /// The channel this content is for.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Wechat(_) => Channel::Wechat,
            Self::Sms(_) => Channel::Sms,
            Self::App(_) => Channel::App,
        }
    }
}

/// The synchronous answer for one [`Outgoing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted the message.
    Accepted {
        /// Which provider took it: `wechat`, `tencent_sms`, `aliyun_sms`, `app`.
        provider: &'static str,
        /// What a later receipt carries: WeChat `msgid`, Tencent `SerialNo` (one per
        /// number), Alibaba `BizId` (one per request: match receipts on `BizId` and phone
        /// number). `None` for the app webhook, which has no receipt; its id is ours.
        provider_message_id: Option<String>,
    },
    /// The provider (or the transport, or the sender's own checks) refused it; the class
    /// says what to do. Codes are the provider's, or one of the `CODE_*` constants.
    Failed(ProviderFailure),
}

impl SendOutcome {
    /// The failure class, or `None` when accepted.
    pub fn error_class(&self) -> Option<ErrorClass> {
        match self {
            Self::Accepted { .. } => None,
            Self::Failed(failure) => Some(failure.class),
        }
    }

    /// Whether the provider took the message.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }

    pub(crate) fn failed(
        code: impl Into<String>,
        message: impl Into<String>,
        class: ErrorClass,
    ) -> Self {
        Self::Failed(ProviderFailure {
            code: code.into(),
            message: message.into(),
            class,
        })
    }
}

/// A channel's sender. Cheap to share: hold it as `Arc<dyn Sender>`.
pub trait Sender: Send + Sync + 'static {
    /// The channel it serves.
    fn channel(&self) -> Channel;
    /// The provider's name as in [`SendOutcome::Accepted::provider`].
    fn provider(&self) -> &'static str;
    /// How many [`Outgoing`]s one `send_batch` call should get at most: SMS numbers per
    /// request (identical content is sent in one request), or messages sent concurrently
    /// for WeChat and the app. Larger batches work; they are split.
    fn max_batch(&self) -> usize;
    /// Sends every message; the answer has the same length and order as `batch`. Never
    /// fails as a whole: transport problems become [`SendOutcome::Failed`] per message.
    fn send_batch<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Vec<SendOutcome>>;
}

/// The senders that are configured; a channel without one goes to the service's local
/// sink.
#[derive(Clone, Default)]
pub struct Senders {
    /// WeChat template messages.
    pub wechat: Option<Arc<dyn Sender>>,
    /// SMS: Tencent, Alibaba, or both with failover.
    pub sms: Option<Arc<dyn Sender>>,
    /// App push webhook.
    pub app: Option<Arc<dyn Sender>>,
}

impl Senders {
    /// The sender of a channel, if configured.
    pub fn for_channel(&self, channel: Channel) -> Option<&Arc<dyn Sender>> {
        match channel {
            Channel::Wechat => self.wechat.as_ref(),
            Channel::Sms => self.sms.as_ref(),
            Channel::App => self.app.as_ref(),
        }
    }

    /// Whether no provider is configured at all.
    pub fn is_empty(&self) -> bool {
        self.wechat.is_none() && self.sms.is_none() && self.app.is_none()
    }
}

impl fmt::Debug for Senders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |sender: &Option<Arc<dyn Sender>>| sender.as_ref().map(|s| s.provider());
        f.debug_struct("Senders")
            .field("wechat", &name(&self.wechat))
            .field("sms", &name(&self.sms))
            .field("app", &name(&self.app))
            .finish()
    }
}

/// Every provider's settings; a provider left out is not used. `Debug` never shows a
/// secret (they are [`SecretString`]s).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// WeChat Official Account template messages.
    pub wechat: Option<WechatSenderConfig>,
    /// Tencent Cloud SMS.
    pub tencent_sms: Option<TencentSmsSenderConfig>,
    /// Alibaba Cloud SMS.
    pub aliyun_sms: Option<AliyunSmsSenderConfig>,
    /// With both SMS providers configured: which one is tried first (the other takes over
    /// a request the first could not process: connection refused, HTTP 5xx, provider
    /// internal error or request rate limit; never after a timeout, which may have sent).
    pub sms_primary: SmsProvider,
    /// App push webhook.
    pub app: Option<AppSenderConfig>,
}

/// An SMS provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProvider {
    /// Tencent Cloud SMS.
    #[default]
    Tencent,
    /// Alibaba Cloud SMS.
    Aliyun,
}

/// HTTP settings of one provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Whole-request timeout; past it the message fails with [`CODE_TIMEOUT`].
    pub timeout_ms: u64,
    /// Connection timeout; past it the message fails with [`CODE_CONNECT`].
    pub connect_timeout_ms: u64,
    /// Requests in flight at once for one `send_batch` call.
    pub concurrency: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            concurrency: 32,
        }
    }
}

/// WeChat Official Account settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatSenderConfig {
    /// Base URL, `https://api.weixin.qq.com` (a stub: `http://127.0.0.1:PORT`).
    #[serde(default = "default_wechat_endpoint")]
    pub endpoint: String,
    /// The AppID.
    pub app_id: String,
    /// The AppSecret.
    pub app_secret: SecretString,
    /// Notice kind (`outage_detected`, ...) → template id in the account.
    pub templates: BTreeMap<String, String>,
    /// Token bucket, counting messages; none = unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// HTTP settings.
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_wechat_endpoint() -> String {
    "https://api.weixin.qq.com".into()
}

/// Tencent Cloud SMS settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentSmsSenderConfig {
    /// `https://sms.tencentcloudapi.com/` (a stub: `http://127.0.0.1:PORT/`).
    #[serde(default = "default_tencent_endpoint")]
    pub endpoint: String,
    /// `X-TC-Region`.
    #[serde(default = "default_tencent_region")]
    pub region: String,
    /// API key id.
    pub secret_id: String,
    /// API key secret.
    pub secret_key: SecretString,
    /// `SmsSdkAppId`.
    pub sms_sdk_app_id: String,
    /// Approved signature name without 【】.
    pub sign_name: String,
    /// Notice kind → approved template id. The template has one variable `{1}`, which
    /// gets the whole rendered text.
    pub templates: BTreeMap<String, String>,
    /// Numbers per request, at most 200.
    #[serde(default = "default_tencent_batch")]
    pub batch_size: usize,
    /// Token bucket, counting messages (numbers), not requests; none = unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// HTTP settings.
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_tencent_endpoint() -> String {
    "https://sms.tencentcloudapi.com/".into()
}

fn default_tencent_region() -> String {
    "ap-guangzhou".into()
}

fn default_tencent_batch() -> usize {
    crate::providers::tencent_sms::MAX_PHONE_NUMBERS
}

/// Alibaba Cloud SMS settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliyunSmsSenderConfig {
    /// `https://dysmsapi.aliyuncs.com` (no path; a stub: `http://127.0.0.1:PORT`).
    #[serde(default = "default_aliyun_endpoint")]
    pub endpoint: String,
    /// AccessKey id.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: SecretString,
    /// Approved signature name without 【】.
    pub sign_name: String,
    /// Notice kind → approved template code (`SMS_153055065`).
    pub templates: BTreeMap<String, String>,
    /// The template variable that gets the whole rendered text.
    #[serde(default = "default_aliyun_text_param")]
    pub text_param: String,
    /// Numbers per request, at most 1000.
    #[serde(default = "default_aliyun_batch")]
    pub batch_size: usize,
    /// Token bucket, counting messages (numbers), not requests; none = unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// HTTP settings.
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_aliyun_endpoint() -> String {
    "https://dysmsapi.aliyuncs.com".into()
}

fn default_aliyun_text_param() -> String {
    "content".into()
}

fn default_aliyun_batch() -> usize {
    crate::providers::aliyun_sms::MAX_PHONE_NUMBERS
}

/// App push webhook settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSenderConfig {
    /// The app gateway's webhook URL.
    pub endpoint: String,
    /// `whsec_<base64>` signing secret shared with the gateway.
    pub secret: SecretString,
    /// Token bucket, counting messages; none = unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// HTTP settings.
    #[serde(default)]
    pub http: HttpSettings,
}

/// A configuration the senders cannot work with, naming the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is wrong; `key` is its path in the configuration.
    #[error("providers.{key}: {reason}")]
    Invalid {
        /// Path below `providers`, e.g. `tencent_sms.batch_size`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The core refused a value (endpoint URL, webhook secret).
    #[error("providers.{key}: {source}")]
    Core {
        /// Path below `providers`.
        key: String,
        /// The cause.
        #[source]
        source: crate::Error,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("failed to build the http client for {provider}: {source}")]
    HttpClient {
        /// Which provider.
        provider: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
}

/// Builds a sender for every configured provider; nothing configured gives empty
/// [`Senders`]. Checks endpoints, secrets, template kinds and limits, naming the bad key.
pub fn build_senders(config: &ProvidersConfig) -> Result<Senders, ConfigError> {
    let wechat = match &config.wechat {
        Some(wechat) => Some(Arc::new(WechatSender::new(wechat)?) as Arc<dyn Sender>),
        None => None,
    };
    let tencent = match &config.tencent_sms {
        Some(tencent) => Some(Arc::new(TencentSmsSender::new(tencent)?) as Arc<dyn Sender>),
        None => None,
    };
    let aliyun = match &config.aliyun_sms {
        Some(aliyun) => Some(Arc::new(AliyunSmsSender::new(aliyun)?) as Arc<dyn Sender>),
        None => None,
    };
    let sms = match (tencent, aliyun) {
        (Some(tencent), Some(aliyun)) => Some(Arc::new(match config.sms_primary {
            SmsProvider::Tencent => FailoverSender::new(tencent, aliyun),
            SmsProvider::Aliyun => FailoverSender::new(aliyun, tencent),
        }) as Arc<dyn Sender>),
        (one, other) => one.or(other),
    };
    let app = match &config.app {
        Some(app) => Some(Arc::new(AppPushSender::new(app)?) as Arc<dyn Sender>),
        None => None,
    };
    Ok(Senders { wechat, sms, app })
}

/// Parses the `templates` map of a provider: every key must be a [`NoticeKind`] name.
pub(crate) fn template_ids(
    key: &str,
    templates: &BTreeMap<String, String>,
) -> Result<BTreeMap<NoticeKind, String>, ConfigError> {
    templates
        .iter()
        .map(|(kind, id)| {
            let parsed = NoticeKind::ALL
                .into_iter()
                .find(|known| known.as_str() == kind)
                .ok_or_else(|| ConfigError::Invalid {
                    key: format!("{key}.templates.{kind}"),
                    reason: format!(
                        "unknown notice kind, expected one of {}",
                        NoticeKind::ALL.map(NoticeKind::as_str).join(", ")
                    ),
                })?;
            if id.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("{key}.templates.{kind}"),
                    reason: "empty template id".into(),
                });
            }
            Ok((parsed, id.clone()))
        })
        .collect()
}

/// The SMS `SessionContext`/`OutId` of a request: the delivery id when it carries one
/// notice, else a fresh batch id (receipts are matched by `SerialNo`/`BizId` and number).
pub(crate) fn session_id(batch: &[Outgoing], indices: &[usize]) -> String {
    match indices {
        [one] => batch[*one].delivery_id.clone(),
        _ => format!("batch_{}", uuid::Uuid::now_v7().simple()),
    }
}

/// Puts per-request answers into their places; a place nobody answered (cannot happen,
/// but must not panic) is a transient failure.
pub(crate) fn fill(
    mut outcomes: Vec<Option<SendOutcome>>,
    answered: Vec<Vec<(usize, SendOutcome)>>,
) -> Vec<SendOutcome> {
    for (index, outcome) in answered.into_iter().flatten() {
        if let Some(place) = outcomes.get_mut(index) {
            *place = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                SendOutcome::failed(
                    CODE_BAD_RESPONSE,
                    "no answer for this message",
                    ErrorClass::Retry,
                )
            })
        })
        .collect()
}
