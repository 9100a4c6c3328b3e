//! The app push sender: one signed webhook POST per notice to the utility's app gateway,
//! Svix style (`webhook-id` = our delivery id, so the gateway drops a redelivery).
//!
//! Body: `{"type":"notice.<kind>","user_id":"<address>","data":<rendered payload>}`.
//! Answers: 2xx accepted; 400/422 refused content; 404/410 the user is unknown to the
//! app; 401/403 our secret is wrong; 408/429/5xx transient.

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use secrecy::ExposeSecret;

use super::http::{self, execute, status_failure, unix_now};
use super::rate::Limiter;
use super::{
    AppSenderConfig, CODE_BAD_ADDRESS, CODE_BAD_CONTENT, CODE_WRONG_CHANNEL, ConfigError, Outgoing,
    Rendered, SendOutcome, Sender,
};
use crate::ErrorClass;
use crate::providers::app_push::{WebhookSecret, build_webhook_request};
use crate::providers::host_of;
use crate::templates::Channel;

const PROVIDER: &str = "app";

/// Sends app push notices through the gateway webhook.
pub struct AppPushSender {
    endpoint: String,
    secret: WebhookSecret,
    client: reqwest::Client,
    limiter: Limiter,
    concurrency: usize,
}

impl AppPushSender {
    /// Checks the configuration and builds the client.
    pub fn new(config: &AppSenderConfig) -> Result<Self, ConfigError> {
        host_of(&config.endpoint).map_err(|source| ConfigError::Core {
            key: "app.endpoint".into(),
            source,
        })?;
        let secret = WebhookSecret::parse(config.secret.expose_secret()).map_err(|source| {
            ConfigError::Core {
                key: "app.secret".into(),
                source,
            }
        })?;
        if let Some(problem) = config.rate_limit.as_ref().and_then(|limit| limit.problem()) {
            return Err(ConfigError::Invalid {
                key: "app.rate_limit".into(),
                reason: problem.into(),
            });
        }
        Ok(Self {
            endpoint: config.endpoint.clone(),
            secret,
            client: http::client(PROVIDER, &config.http)?,
            limiter: Limiter::new(config.rate_limit),
            concurrency: config.http.concurrency.max(1),
        })
    }

    async fn send_one(&self, outgoing: &Outgoing) -> SendOutcome {
        let Rendered::App(notice) = &outgoing.content else {
            return SendOutcome::failed(
                CODE_WRONG_CHANNEL,
                "content is not an app notice",
                ErrorClass::InvalidContent,
            );
        };
        let user_id = outgoing.address.trim();
        if user_id.is_empty() {
            return SendOutcome::failed(
                CODE_BAD_ADDRESS,
                "the app user id is empty",
                ErrorClass::PermanentForRecipient,
            );
        }
        let body = serde_json::json!({
            "type": format!("notice.{}", outgoing.kind),
            "user_id": user_id,
            "data": notice.payload,
        });
        let request = match build_webhook_request(
            &self.endpoint,
            &self.secret,
            &outgoing.delivery_id,
            unix_now(),
            &body,
        ) {
            Ok(request) => request,
            Err(error) => {
                return SendOutcome::failed(
                    CODE_BAD_CONTENT,
                    error.to_string(),
                    ErrorClass::InvalidContent,
                );
            }
        };
        self.limiter.acquire(1).await;
        let answer = match execute(&self.client, &request).await {
            Ok(answer) => answer,
            Err(failure) => return SendOutcome::Failed(failure),
        };
        if answer.is_success() {
            return SendOutcome::Accepted {
                provider: PROVIDER,
                provider_message_id: None,
            };
        }
        let mut failure = status_failure(&answer);
        failure.class = match answer.status {
            400 | 422 => ErrorClass::InvalidContent,
            404 | 410 => ErrorClass::PermanentForRecipient,
            _ => failure.class,
        };
        SendOutcome::Failed(failure)
    }
}

impl Sender for AppPushSender {
    fn channel(&self) -> Channel {
        Channel::App
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
