//! SMS failover between two providers: what the primary could not process (it is down,
//! overloaded, or refuses our credentials) goes to the secondary. Never after a timeout or
//! a broken answer: `SendSms` is not idempotent and the primary may have sent it.

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::{
    CODE_BAD_ADDRESS, CODE_BAD_CONTENT, CODE_BAD_RESPONSE, CODE_CONNECT, CODE_HTTP_PREFIX,
    CODE_TIMEOUT, CODE_TRANSPORT, CODE_WRONG_CHANNEL, Outgoing, SendOutcome, Sender,
};
use crate::ErrorClass;
use crate::templates::Channel;

/// Two senders of one channel, the second used when the first is unavailable.
pub struct FailoverSender {
    primary: Arc<dyn Sender>,
    secondary: Arc<dyn Sender>,
}

impl FailoverSender {
    /// `primary` first; `secondary` for what `primary` could not process.
    pub fn new(primary: Arc<dyn Sender>, secondary: Arc<dyn Sender>) -> Self {
        Self { primary, secondary }
    }
}

/// Whether a failure says the provider did not process the request at all, so another
/// provider may send it without risk of a duplicate.
pub(crate) fn provider_unavailable(outcome: &SendOutcome) -> bool {
    let SendOutcome::Failed(failure) = outcome else {
        return false;
    };
    let code = failure.code.as_str();
    if code == CODE_CONNECT {
        return true;
    }
    if code == CODE_TIMEOUT || code == CODE_TRANSPORT || code == CODE_BAD_RESPONSE {
        return false;
    }
    if [CODE_BAD_ADDRESS, CODE_BAD_CONTENT, CODE_WRONG_CHANNEL].contains(&code) {
        return false;
    }
    if let Some(status) = code.strip_prefix(CODE_HTTP_PREFIX) {
        return status.starts_with('5') || status == "429";
    }
    // Provider codes: internal errors and request rate limits (Retry), and anything that
    // says our account with this provider is unusable (FatalConfiguration).
    matches!(
        failure.class,
        ErrorClass::Retry | ErrorClass::FatalConfiguration
    )
}

impl Sender for FailoverSender {
    fn channel(&self) -> Channel {
        self.primary.channel()
    }

    fn provider(&self) -> &'static str {
        "sms_failover"
    }

    fn max_batch(&self) -> usize {
        self.primary.max_batch().min(self.secondary.max_batch())
    }

    fn send_batch<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Vec<SendOutcome>> {
        async move {
            let mut outcomes = self.primary.send_batch(batch).await;
            let retry: Vec<usize> = (0..outcomes.len())
                .filter(|&index| provider_unavailable(&outcomes[index]))
                .collect();
            if retry.is_empty() {
                return outcomes;
            }
            tracing::warn!(
                primary = self.primary.provider(),
                secondary = self.secondary.provider(),
                count = retry.len(),
                "sms primary unavailable, failing over"
            );
            let again: Vec<Outgoing> = retry.iter().map(|&index| batch[index].clone()).collect();
            let answers = self.secondary.send_batch(&again).await;
            for (index, answer) in retry.into_iter().zip(answers) {
                outcomes[index] = answer;
            }
            outcomes
        }
        .boxed()
    }
}
