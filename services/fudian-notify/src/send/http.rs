//! The HTTP edge shared by the senders: building a reqwest client from
//! [`HttpSettings`](super::HttpSettings) (rustls with the ring provider; plain http for
//! local stubs), sending a core [`HttpRequest`], and turning transport problems and bare
//! HTTP statuses into classified failures.

use std::time::Duration;

use crate::providers::{HttpMethod, HttpRequest};
use crate::{ErrorClass, ProviderFailure};

use super::{
    CODE_CONNECT, CODE_HTTP_PREFIX, CODE_TIMEOUT, CODE_TRANSPORT, ConfigError, HttpSettings,
};

/// Builds the client for one provider.
pub(crate) fn client(
    provider: &'static str,
    settings: &HttpSettings,
) -> Result<reqwest::Client, ConfigError> {
    // reqwest is built without a default crypto provider (no aws-lc): install ring as the
    // process default once. An error means some provider is installed already, which is
    // just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms.max(1)))
        .pool_max_idle_per_host(settings.concurrency.max(1) * 2)
        .tcp_nodelay(true)
        .build()
        .map_err(|source| ConfigError::HttpClient { provider, source })
}

/// What came back: the status and the body text.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `request` as built by the core. The `Host` header is left to the client (it is
/// the URL's host, which is what the providers sign).
pub(crate) async fn execute(
    client: &reqwest::Client,
    request: &HttpRequest,
) -> Result<Answer, ProviderFailure> {
    let method = match request.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
    };
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("host") {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let response = builder
        .body(request.body.clone())
        .send()
        .await
        .map_err(transport_failure)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(transport_failure)?;
    Ok(Answer { status, body })
}

/// Timeouts and connection errors are transient ([`ErrorClass::Retry`]); the code tells
/// whether the request may have reached the provider. The message never holds the URL
/// (the WeChat token is in it).
pub(crate) fn transport_failure(error: reqwest::Error) -> ProviderFailure {
    let error = error.without_url();
    let code = if error.is_timeout() {
        CODE_TIMEOUT
    } else if error.is_connect() {
        CODE_CONNECT
    } else {
        CODE_TRANSPORT
    };
    ProviderFailure {
        code: code.into(),
        message: error_chain(&error),
        class: ErrorClass::Retry,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A status without a provider answer we could read: 408, 429 and 5xx are transient,
/// 401/403 mean our credentials are wrong, anything else is unknown.
pub(crate) fn status_failure(answer: &Answer) -> ProviderFailure {
    let class = match answer.status {
        408 | 429 | 500..=599 => ErrorClass::Retry,
        401 | 403 => ErrorClass::FatalConfiguration,
        _ => ErrorClass::Unrecognized,
    };
    ProviderFailure {
        code: format!("{CODE_HTTP_PREFIX}{}", answer.status),
        message: answer.body.chars().take(200).collect(),
        class,
    }
}

/// Current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
