//! The WeChat template-message sender: the `stable_token` access token cached until
//! shortly before it expires, refreshed single-flight (concurrent senders wait for one
//! fetch, never `force_refresh`), and one retry of a send after a 40001/42001 refresh.
//! `client_msg_id` is our delivery id, so WeChat drops a repeat within 10 minutes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use secrecy::SecretString;
use tokio::time::Instant;

use super::http::{self, execute, status_failure};
use super::rate::Limiter;
use super::{
    CODE_BAD_ADDRESS, CODE_BAD_CONTENT, CODE_BAD_RESPONSE, CODE_NO_TEMPLATE, CODE_WRONG_CHANNEL,
    ConfigError, Outgoing, Rendered, SendOutcome, Sender, WechatSenderConfig,
};
use crate::providers::host_of;
use crate::providers::wechat::{
    StableTokenResponse, TemplateMessage, WechatConfig, build_stable_token_request,
    build_template_send, parse_stable_token_response, parse_template_send_response,
};
use crate::templates::{Channel, NoticeKind};
use crate::{DeliveryOutcome, ErrorClass, ProviderFailure};

const PROVIDER: &str = "wechat";

/// Sends WeChat template messages.
pub struct WechatSender {
    core: WechatConfig,
    templates: BTreeMap<NoticeKind, String>,
    client: reqwest::Client,
    limiter: Limiter,
    concurrency: usize,
    tokens: TokenCache,
}

#[derive(Default)]
struct TokenCache {
    state: Mutex<TokenState>,
    /// Held while fetching, so concurrent callers wait for that one fetch.
    refresh: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

#[derive(Default)]
struct TokenState {
    current: Option<CachedToken>,
    /// Fetch attempts so far; a waiter that saw `n` before the lock and finds `n + 1`
    /// failed after it takes that failure instead of fetching again.
    attempts: u64,
    last_failure: Option<ProviderFailure>,
}

#[derive(Clone)]
struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
    generation: u64,
}

impl WechatSender {
    /// Checks the configuration and builds the client.
    pub fn new(config: &WechatSenderConfig) -> Result<Self, ConfigError> {
        host_of(&config.endpoint).map_err(|source| ConfigError::Core {
            key: "wechat.endpoint".into(),
            source,
        })?;
        if config.app_id.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "wechat.app_id".into(),
                reason: "empty".into(),
            });
        }
        if let Some(problem) = config.rate_limit.as_ref().and_then(|limit| limit.problem()) {
            return Err(ConfigError::Invalid {
                key: "wechat.rate_limit".into(),
                reason: problem.into(),
            });
        }
        Ok(Self {
            core: WechatConfig {
                endpoint: config.endpoint.clone(),
                app_id: config.app_id.clone(),
                app_secret: config.app_secret.clone(),
            },
            templates: super::template_ids("wechat", &config.templates)?,
            client: http::client(PROVIDER, &config.http)?,
            limiter: Limiter::new(config.rate_limit),
            concurrency: config.http.concurrency.max(1),
            tokens: TokenCache::default(),
        })
    }

    /// How many times an access token was fetched (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches.load(Ordering::Relaxed)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, TokenState> {
        // Poisoning only means a panic elsewhere while holding plain data.
        self.tokens
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn valid_token(&self) -> Option<CachedToken> {
        let state = self.lock_state();
        state
            .current
            .as_ref()
            .filter(|token| token.refresh_at > Instant::now())
            .cloned()
    }

    async fn token(&self) -> Result<CachedToken, ProviderFailure> {
        match self.valid_token() {
            Some(token) => Ok(token),
            None => self.refresh(None).await,
        }
    }

    /// Fetches a token unless another caller did while this one waited. `stale` is the
    /// generation WeChat refused (40001/42001): a cached token of another generation is
    /// taken as the fresh one.
    async fn refresh(&self, stale: Option<u64>) -> Result<CachedToken, ProviderFailure> {
        let attempts_seen = self.lock_state().attempts;
        let _single_flight = self.tokens.refresh.lock().await;
        {
            let state = self.lock_state();
            if let Some(token) = state
                .current
                .as_ref()
                .filter(|token| token.refresh_at > Instant::now())
                .filter(|token| stale != Some(token.generation))
            {
                return Ok(token.clone());
            }
            if state.attempts != attempts_seen
                && let Some(failure) = &state.last_failure
            {
                return Err(failure.clone());
            }
        }
        self.tokens.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self.fetch_token().await;
        let mut state = self.lock_state();
        state.attempts += 1;
        match fetched {
            Ok((token, expires_in)) => {
                let generation = state.current.as_ref().map_or(1, |t| t.generation + 1);
                // Renew 5 minutes early (old and new tokens overlap that long), or at half
                // the lifetime for short-lived tokens.
                let lifetime = u64::from(expires_in);
                let early = lifetime.saturating_sub(300).max(lifetime / 2);
                let cached = CachedToken {
                    token,
                    refresh_at: Instant::now() + Duration::from_secs(early),
                    generation,
                };
                state.current = Some(cached.clone());
                state.last_failure = None;
                Ok(cached)
            }
            Err(failure) => {
                state.last_failure = Some(failure.clone());
                Err(failure)
            }
        }
    }

    async fn fetch_token(&self) -> Result<(SecretString, u32), ProviderFailure> {
        let request = build_stable_token_request(&self.core).map_err(|error| ProviderFailure {
            code: CODE_BAD_CONTENT.into(),
            message: error.to_string(),
            class: ErrorClass::FatalConfiguration,
        })?;
        let answer = execute(&self.client, &request).await?;
        match parse_stable_token_response(&answer.body) {
            Ok(StableTokenResponse::Token(token)) => Ok((token.access_token, token.expires_in)),
            Ok(StableTokenResponse::Failed(failure)) => Err(failure),
            Err(_) if !answer.is_success() => Err(status_failure(&answer)),
            Err(error) => Err(ProviderFailure {
                code: CODE_BAD_RESPONSE.into(),
                message: error.to_string(),
                class: ErrorClass::Retry,
            }),
        }
    }

    async fn send_one(&self, outgoing: &Outgoing) -> SendOutcome {
        let message = match self.message(outgoing) {
            Ok(message) => message,
            Err(outcome) => return outcome,
        };
        self.limiter.acquire(1).await;
        let token = match self.token().await {
            Ok(token) => token,
            Err(failure) => return SendOutcome::Failed(failure),
        };
        let outcome = self.send_with(&token, &message).await;
        if outcome.error_class() != Some(ErrorClass::RefreshTokenAndRetryOnce) {
            return outcome;
        }
        // Once: a second refusal goes back to the service as it is.
        match self.refresh(Some(token.generation)).await {
            Ok(fresh) => self.send_with(&fresh, &message).await,
            Err(failure) => SendOutcome::Failed(failure),
        }
    }

    fn message(&self, outgoing: &Outgoing) -> Result<TemplateMessage, SendOutcome> {
        let Rendered::Wechat(notice) = &outgoing.content else {
            return Err(SendOutcome::failed(
                CODE_WRONG_CHANNEL,
                "content is not a wechat notice",
                ErrorClass::InvalidContent,
            ));
        };
        let Some(template_id) = self.templates.get(&outgoing.kind) else {
            return Err(SendOutcome::failed(
                CODE_NO_TEMPLATE,
                format!("no wechat template id configured for {}", outgoing.kind),
                ErrorClass::FatalConfiguration,
            ));
        };
        let openid = outgoing.address.trim();
        if openid.is_empty()
            || !openid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(SendOutcome::failed(
                CODE_BAD_ADDRESS,
                "the address is not a wechat openid",
                ErrorClass::PermanentForRecipient,
            ));
        }
        let message = TemplateMessage {
            touser: openid.to_owned(),
            template_id: template_id.clone(),
            url: notice.url.clone(),
            client_msg_id: outgoing.delivery_id.clone(),
            data: notice.fields.clone(),
        };
        message.validate().map_err(|error| {
            SendOutcome::failed(
                CODE_BAD_CONTENT,
                error.to_string(),
                ErrorClass::InvalidContent,
            )
        })?;
        Ok(message)
    }

    async fn send_with(&self, token: &CachedToken, message: &TemplateMessage) -> SendOutcome {
        let request = match build_template_send(&self.core, &token.token, message) {
            Ok(request) => request,
            Err(error) => {
                return SendOutcome::failed(
                    CODE_BAD_CONTENT,
                    error.to_string(),
                    ErrorClass::InvalidContent,
                );
            }
        };
        let answer = match execute(&self.client, &request).await {
            Ok(answer) => answer,
            Err(failure) => return SendOutcome::Failed(failure),
        };
        match parse_template_send_response(&answer.body) {
            Ok(DeliveryOutcome::Accepted {
                provider_message_id,
            }) => SendOutcome::Accepted {
                provider: PROVIDER,
                provider_message_id: Some(provider_message_id),
            },
            Ok(DeliveryOutcome::Failed(failure)) => SendOutcome::Failed(failure),
            Err(_) if !answer.is_success() => SendOutcome::Failed(status_failure(&answer)),
            Err(error) => {
                SendOutcome::failed(CODE_BAD_RESPONSE, error.to_string(), ErrorClass::Retry)
            }
        }
    }
}

impl Sender for WechatSender {
    fn channel(&self) -> Channel {
        Channel::Wechat
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn max_batch(&self) -> usize {
        self.concurrency * 4
    }

    fn send_batch<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Vec<SendOutcome>> {
        futures::stream::iter(batch)
            .map(|outgoing| self.send_one(outgoing))
            .buffered(self.concurrency)
            .collect()
            .boxed()
    }
}
