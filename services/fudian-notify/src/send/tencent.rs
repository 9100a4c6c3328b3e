//! The Tencent Cloud SMS sender: notices with identical content (same template, same
//! text) go out in one `SendSms` of up to 200 numbers, and each number's status is mapped
//! back to its notice by phone number.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};

use super::http::{self, execute, status_failure, unix_now};
use super::rate::Limiter;
use super::{
    CODE_BAD_ADDRESS, CODE_BAD_CONTENT, CODE_BAD_RESPONSE, CODE_NO_TEMPLATE, CODE_WRONG_CHANNEL,
    ConfigError, Outgoing, Rendered, SendOutcome, Sender, TencentSmsSenderConfig,
};
use crate::providers::host_of;
use crate::providers::tencent_sms::{
    MAX_PHONE_NUMBERS, SendSmsResult, SmsMessage, TencentSmsConfig, build_send_sms,
    parse_send_sms_response,
};
use crate::templates::{Channel, NoticeKind};
use crate::{DeliveryOutcome, ErrorClass};

const PROVIDER: &str = "tencent_sms";

/// Sends SMS through Tencent Cloud.
pub struct TencentSmsSender {
    core: TencentSmsConfig,
    templates: BTreeMap<NoticeKind, String>,
    client: reqwest::Client,
    limiter: Limiter,
    batch_size: usize,
    concurrency: usize,
}

impl TencentSmsSender {
    /// Checks the configuration and builds the client.
    pub fn new(config: &TencentSmsSenderConfig) -> Result<Self, ConfigError> {
        host_of(&config.endpoint).map_err(|source| ConfigError::Core {
            key: "tencent_sms.endpoint".into(),
            source,
        })?;
        if !(1..=MAX_PHONE_NUMBERS).contains(&config.batch_size) {
            return Err(ConfigError::Invalid {
                key: "tencent_sms.batch_size".into(),
                reason: format!("must be between 1 and {MAX_PHONE_NUMBERS}"),
            });
        }
        for (key, value) in [
            ("secret_id", &config.secret_id),
            ("sms_sdk_app_id", &config.sms_sdk_app_id),
            ("sign_name", &config.sign_name),
            ("region", &config.region),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("tencent_sms.{key}"),
                    reason: "empty".into(),
                });
            }
        }
        if let Some(problem) = config.rate_limit.as_ref().and_then(|limit| limit.problem()) {
            return Err(ConfigError::Invalid {
                key: "tencent_sms.rate_limit".into(),
                reason: problem.into(),
            });
        }
        Ok(Self {
            core: TencentSmsConfig {
                endpoint: config.endpoint.clone(),
                region: config.region.clone(),
                secret_id: config.secret_id.clone(),
                secret_key: config.secret_key.clone(),
                sms_sdk_app_id: config.sms_sdk_app_id.clone(),
                sign_name: config.sign_name.clone(),
            },
            templates: super::template_ids("tencent_sms", &config.templates)?,
            client: http::client(PROVIDER, &config.http)?,
            limiter: Limiter::new(config.rate_limit),
            batch_size: config.batch_size,
            concurrency: config.http.concurrency.max(1),
        })
    }

    async fn send_request(
        &self,
        batch: &[Outgoing],
        request: Request,
    ) -> Vec<(usize, SendOutcome)> {
        self.limiter.acquire(request.indices.len()).await;
        let numbers: Vec<String> = request
            .indices
            .iter()
            .map(|&index| batch[index].address.trim().to_owned())
            .collect();
        let message = SmsMessage {
            phone_numbers: numbers.clone(),
            template_id: request.template_id,
            template_params: vec![request.text],
            session_context: super::session_id(batch, &request.indices),
        };
        let all = |outcome: SendOutcome| {
            request
                .indices
                .iter()
                .map(|&index| (index, outcome.clone()))
                .collect()
        };
        let http_request = match build_send_sms(&self.core, &message, unix_now()) {
            Ok(http_request) => http_request,
            Err(error) => {
                return all(SendOutcome::failed(
                    CODE_BAD_CONTENT,
                    error.to_string(),
                    ErrorClass::InvalidContent,
                ));
            }
        };
        let answer = match execute(&self.client, &http_request).await {
            Ok(answer) => answer,
            Err(failure) => return all(SendOutcome::Failed(failure)),
        };
        let response = match parse_send_sms_response(&answer.body) {
            Ok(response) => response,
            Err(_) if !answer.is_success() => {
                return all(SendOutcome::Failed(status_failure(&answer)));
            }
            Err(error) => {
                return all(SendOutcome::failed(
                    CODE_BAD_RESPONSE,
                    error.to_string(),
                    ErrorClass::Retry,
                ));
            }
        };
        let statuses = match response.result {
            SendSmsResult::RequestFailed(failure) => return all(SendOutcome::Failed(failure)),
            SendSmsResult::PerNumber(statuses) => statuses,
        };
        let mut by_number: BTreeMap<String, DeliveryOutcome> = statuses
            .into_iter()
            .map(|status| (status.phone_number, status.outcome))
            .collect();
        request
            .indices
            .iter()
            .zip(numbers)
            .map(|(&index, number)| {
                let outcome = match by_number.remove(&number) {
                    Some(DeliveryOutcome::Accepted {
                        provider_message_id,
                    }) => SendOutcome::Accepted {
                        provider: PROVIDER,
                        provider_message_id: Some(provider_message_id),
                    },
                    Some(DeliveryOutcome::Failed(failure)) => SendOutcome::Failed(failure),
                    // Tencent answers every number; a missing one may still have been
                    // sent, so it is transient and the receipt will tell.
                    None => SendOutcome::failed(
                        CODE_BAD_RESPONSE,
                        "the answer has no status for this number",
                        ErrorClass::Retry,
                    ),
                };
                (index, outcome)
            })
            .collect()
    }
}

/// One provider request: numbers (as indices into the batch) sharing template and text.
pub(crate) struct Request {
    pub(crate) template_id: String,
    pub(crate) text: String,
    pub(crate) indices: Vec<usize>,
}

/// Is `number` E.164 as Tencent wants it: `+`, 8 to 15 digits, no leading zero.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Checks each notice, answering the unusable ones at once, and groups the rest into
/// requests of identical content, at most `max` numbers each and never the same number
/// twice in one request (its status could not be told apart).
pub(crate) fn plan_requests(
    batch: &[Outgoing],
    templates: &BTreeMap<NoticeKind, String>,
    max: usize,
    address_ok: impl Fn(&str) -> bool,
    outcomes: &mut [Option<SendOutcome>],
) -> Vec<Request> {
    let mut groups: BTreeMap<(String, String), Vec<Vec<usize>>> = BTreeMap::new();
    for (index, outgoing) in batch.iter().enumerate() {
        let Rendered::Sms(notice) = &outgoing.content else {
            outcomes[index] = Some(SendOutcome::failed(
                CODE_WRONG_CHANNEL,
                "content is not an sms notice",
                ErrorClass::InvalidContent,
            ));
            continue;
        };
        let Some(template_id) = templates.get(&outgoing.kind) else {
            outcomes[index] = Some(SendOutcome::failed(
                CODE_NO_TEMPLATE,
                format!("no sms template id configured for {}", outgoing.kind),
                ErrorClass::FatalConfiguration,
            ));
            continue;
        };
        let number = outgoing.address.trim();
        if !address_ok(number) {
            outcomes[index] = Some(SendOutcome::failed(
                CODE_BAD_ADDRESS,
                "the address is not an E.164 phone number",
                ErrorClass::PermanentForRecipient,
            ));
            continue;
        }
        let chunks = groups
            .entry((template_id.clone(), notice.text.clone()))
            .or_default();
        let free = chunks.iter_mut().find(|chunk| {
            chunk.len() < max && !chunk.iter().any(|&i| batch[i].address.trim() == number)
        });
        match free {
            Some(chunk) => chunk.push(index),
            None => chunks.push(vec![index]),
        }
    }
    groups
        .into_iter()
        .flat_map(|((template_id, text), chunks)| {
            chunks.into_iter().map(move |indices| Request {
                template_id: template_id.clone(),
                text: text.clone(),
                indices,
            })
        })
        .collect()
}

impl Sender for TencentSmsSender {
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
                is_e164,
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
    fn e164_needs_the_plus_and_a_plausible_length() {
        assert!(is_e164("+8613711112222"));
        assert!(!is_e164("13711112222"));
        assert!(!is_e164("+86137111122223333"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+86 13711112222"));
    }
}
