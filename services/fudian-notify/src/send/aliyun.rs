//! The Alibaba Cloud SMS sender: identical content in one `SendSms` of up to 1000
//! numbers. Alibaba answers for the request as a whole, so a recipient-level refusal of a
//! request with several numbers (one bad number, one number over its limit) is not
//! applied to all: the numbers are sent again one per request to find out which.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};

use super::http::{self, execute, status_failure};
use super::rate::Limiter;
use super::tencent::{Request, plan_requests};
use super::{
    AliyunSmsSenderConfig, CODE_BAD_CONTENT, CODE_BAD_RESPONSE, ConfigError, Outgoing, SendOutcome,
    Sender,
};
use crate::providers::aliyun_sms::{
    AliyunSmsConfig, AliyunSmsMessage, MAX_PHONE_NUMBERS, build_send_sms, parse_send_sms_response,
};
use crate::templates::{Channel, NoticeKind};
use crate::{DeliveryOutcome, ErrorClass};

const PROVIDER: &str = "aliyun_sms";

/// Sends SMS through Alibaba Cloud.
pub struct AliyunSmsSender {
    core: AliyunSmsConfig,
    templates: BTreeMap<NoticeKind, String>,
    text_param: String,
    client: reqwest::Client,
    limiter: Limiter,
    batch_size: usize,
    concurrency: usize,
}

/// Alibaba's number form: mainland numbers without `+86`, others as country code and
/// number, digits only.
pub(crate) fn aliyun_number(e164: &str) -> Option<String> {
    let digits = e164.strip_prefix('+')?;
    let national = digits.strip_prefix("86").unwrap_or(digits);
    let ok = (5..=20).contains(&national.len())
        && national.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| national.to_owned())
}

impl AliyunSmsSender {
    /// Checks the configuration and builds the client.
    pub fn new(config: &AliyunSmsSenderConfig) -> Result<Self, ConfigError> {
        let core = AliyunSmsConfig {
            endpoint: config.endpoint.clone(),
            access_key_id: config.access_key_id.clone(),
            access_key_secret: config.access_key_secret.clone(),
            sign_name: config.sign_name.clone(),
        };
        // The builder refuses an endpoint with a path; try it once with a dummy message so
        // that shows at start-up, naming the key.
        let probe = AliyunSmsMessage {
            phone_numbers: vec!["13700000000".into()],
            template_code: "probe".into(),
            template_params: BTreeMap::new(),
            out_id: "probe".into(),
        };
        build_send_sms(&core, &probe, chrono::Utc::now(), "probe").map_err(|source| {
            ConfigError::Core {
                key: "aliyun_sms.endpoint".into(),
                source,
            }
        })?;
        if !(1..=MAX_PHONE_NUMBERS).contains(&config.batch_size) {
            return Err(ConfigError::Invalid {
                key: "aliyun_sms.batch_size".into(),
                reason: format!("must be between 1 and {MAX_PHONE_NUMBERS}"),
            });
        }
        for (key, value) in [
            ("access_key_id", &config.access_key_id),
            ("sign_name", &config.sign_name),
            ("text_param", &config.text_param),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("aliyun_sms.{key}"),
                    reason: "empty".into(),
                });
            }
        }
        if let Some(problem) = config.rate_limit.as_ref().and_then(|limit| limit.problem()) {
            return Err(ConfigError::Invalid {
                key: "aliyun_sms.rate_limit".into(),
                reason: problem.into(),
            });
        }
        Ok(Self {
            core,
            templates: super::template_ids("aliyun_sms", &config.templates)?,
            text_param: config.text_param.clone(),
            client: http::client(PROVIDER, &config.http)?,
            limiter: Limiter::new(config.rate_limit),
            batch_size: config.batch_size,
            concurrency: config.http.concurrency.max(1),
        })
    }

    /// Sends one request; its outcome holds for each of its numbers.
    async fn send_once(&self, batch: &[Outgoing], request: &Request) -> SendOutcome {
        self.limiter.acquire(request.indices.len()).await;
        let message = AliyunSmsMessage {
            phone_numbers: request
                .indices
                .iter()
                .filter_map(|&index| aliyun_number(batch[index].address.trim()))
                .collect(),
            template_code: request.template_id.clone(),
            template_params: BTreeMap::from([(self.text_param.clone(), request.text.clone())]),
            out_id: super::session_id(batch, &request.indices),
        };
        let nonce = uuid::Uuid::now_v7().simple().to_string();
        let http_request = match build_send_sms(&self.core, &message, chrono::Utc::now(), &nonce) {
            Ok(http_request) => http_request,
            Err(error) => {
                return SendOutcome::failed(
                    CODE_BAD_CONTENT,
                    error.to_string(),
                    ErrorClass::InvalidContent,
                );
            }
        };
        let answer = match execute(&self.client, &http_request).await {
            Ok(answer) => answer,
            Err(failure) => return SendOutcome::Failed(failure),
        };
        // Gateway errors (signature, key) come with a 4xx status but the same JSON shape.
        match parse_send_sms_response(&answer.body) {
            Ok(response) => match response.outcome {
                DeliveryOutcome::Accepted {
                    provider_message_id,
                } => SendOutcome::Accepted {
                    provider: PROVIDER,
                    provider_message_id: Some(provider_message_id),
                },
                DeliveryOutcome::Failed(failure) => SendOutcome::Failed(failure),
            },
            Err(_) if !answer.is_success() => SendOutcome::Failed(status_failure(&answer)),
            Err(error) => {
                SendOutcome::failed(CODE_BAD_RESPONSE, error.to_string(), ErrorClass::Retry)
            }
        }
    }

    async fn send_request(
        &self,
        batch: &[Outgoing],
        request: Request,
    ) -> Vec<(usize, SendOutcome)> {
        let outcome = self.send_once(batch, &request).await;
        let recipient_level = matches!(
            outcome.error_class(),
            Some(ErrorClass::PermanentForRecipient | ErrorClass::Defer)
        );
        if recipient_level && request.indices.len() > 1 {
            // Nothing of this request was sent: find the number(s) it was about.
            let singles = request.indices.iter().map(|&index| Request {
                template_id: request.template_id.clone(),
                text: request.text.clone(),
                indices: vec![index],
            });
            let singles: Vec<Request> = singles.collect();
            return futures::stream::iter(singles)
                .map(|single| async move {
                    let index = single.indices[0];
                    (index, self.send_once(batch, &single).await)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        }
        request
            .indices
            .iter()
            .map(|&index| (index, outcome.clone()))
            .collect()
    }
}

impl Sender for AliyunSmsSender {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn max_batch(&self) -> usize {
        self.batch_size
    }

    fn send_batch<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Vec<SendOutcome>> {
        async move {
            let mut outcomes = vec![None; batch.len()];
            let requests = plan_requests(
                batch,
                &self.templates,
                self.batch_size,
                |number| aliyun_number(number).is_some(),
                &mut outcomes,
            );
            let answered: Vec<Vec<(usize, SendOutcome)>> = futures::stream::iter(requests)
                .map(|request| self.send_request(batch, request))
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            super::fill(outcomes, answered)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_numbers_lose_plus_86_and_others_keep_their_country_code() {
        assert_eq!(
            aliyun_number("+8613711112222").as_deref(),
            Some("13711112222")
        );
        assert_eq!(
            aliyun_number("+85291234567").as_deref(),
            Some("85291234567")
        );
        assert_eq!(aliyun_number("13711112222"), None);
        assert_eq!(aliyun_number("+86137,1111"), None);
    }
}
