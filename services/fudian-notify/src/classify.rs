//! The provider-neutral vocabulary for what happened to a send: [`DeliveryOutcome`] for the
//! synchronous answer, [`ReceiptStatus`] for the asynchronous receipt, and [`ErrorClass`],
//! the single place where a provider's error code becomes a decision for the sender.

use std::fmt;

/// What the sender should do after a provider refused a message.
///
/// Each provider module maps its documented codes onto these classes; see the tables in
/// `shared/providers.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The provider had a transient problem: retry the same message with backoff.
    Retry,
    /// The account's per-minute quota is used up: retry once the next minute has begun.
    RetryAfterNextMinute,
    /// The access token was invalid or expired: refresh it once (never force-refresh) and
    /// retry the send once.
    RefreshTokenAndRetryOnce,
    /// This recipient hit a frequency limit on this channel: defer, and fall back to
    /// another channel if the notice cannot wait.
    Defer,
    /// The account's daily quota is used up: stop the channel until the next day and fall
    /// back to another channel.
    StopChannelUntilNextDay,
    /// This channel can never reach this recipient (bad number, blocked, not following):
    /// do not retry here, fall back to another channel.
    PermanentForRecipient,
    /// The message content was rejected (a template or variable bug): retrying the same
    /// content cannot succeed.
    InvalidContent,
    /// Credentials, signature, template approval, IP whitelist or permissions are wrong:
    /// nothing sent on this channel will succeed until operations fix it.
    FatalConfiguration,
    /// A code this crate does not know. The sender treats it as permanent for this attempt
    /// and raises it to operations, so the table can be extended.
    Unrecognized,
}

impl ErrorClass {
    /// Whether sending the same message again on the same channel may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Retry | Self::RetryAfterNextMinute | Self::RefreshTokenAndRetryOnce | Self::Defer
        )
    }

    /// Whether the sender should try another channel for this recipient.
    pub fn falls_back(self) -> bool {
        matches!(
            self,
            Self::Defer | Self::StopChannelUntilNextDay | Self::PermanentForRecipient
        )
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Retry => "retry",
            Self::RetryAfterNextMinute => "retry after next minute",
            Self::RefreshTokenAndRetryOnce => "refresh token and retry once",
            Self::Defer => "defer",
            Self::StopChannelUntilNextDay => "stop channel until next day",
            Self::PermanentForRecipient => "permanent for recipient",
            Self::InvalidContent => "invalid content",
            Self::FatalConfiguration => "fatal configuration",
            Self::Unrecognized => "unrecognized",
        };
        f.write_str(name)
    }
}

/// A provider's refusal, with its raw code kept for logs and operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    /// The provider's code as sent (`LimitExceeded.PhoneNumberDailyLimit`, `45009`, ...).
    pub code: String,
    /// The provider's human-readable message.
    pub message: String,
    /// What the sender should do about it.
    pub class: ErrorClass,
}

/// The synchronous answer to one message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The provider accepted the message; the id matches it to a later receipt.
    Accepted {
        /// Tencent `SerialNo`, Alibaba `BizId`, WeChat `msgid`.
        provider_message_id: String,
    },
    /// The provider refused the message.
    Failed(ProviderFailure),
}

impl DeliveryOutcome {
    /// The failure class, or `None` when the message was accepted.
    pub fn error_class(&self) -> Option<ErrorClass> {
        match self {
            Self::Accepted { .. } => None,
            Self::Failed(failure) => Some(failure.class),
        }
    }
}

/// What a delivery receipt says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// The handset (or WeChat client) received the message.
    Delivered,
    /// The message did not arrive; the code and description are the provider's.
    NotDelivered {
        /// The provider's code (`DELIVRD`-style carrier codes, `failed:user block`, ...).
        code: String,
        /// The provider's description, possibly empty.
        description: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_provider_side_conditions_are_transient() {
        assert!(ErrorClass::Retry.is_transient());
        assert!(ErrorClass::RefreshTokenAndRetryOnce.is_transient());
        assert!(!ErrorClass::FatalConfiguration.is_transient());
        assert!(!ErrorClass::PermanentForRecipient.is_transient());
        assert!(!ErrorClass::Unrecognized.is_transient());
    }

    #[test]
    fn recipient_and_quota_failures_fall_back_but_configuration_failures_do_not() {
        assert!(ErrorClass::PermanentForRecipient.falls_back());
        assert!(ErrorClass::StopChannelUntilNextDay.falls_back());
        assert!(ErrorClass::Defer.falls_back());
        assert!(!ErrorClass::FatalConfiguration.falls_back());
        assert!(!ErrorClass::Retry.falls_back());
    }

    #[test]
    fn accepted_outcome_has_no_error_class() {
        let accepted = DeliveryOutcome::Accepted {
            provider_message_id: "2028:1".into(),
        };
        assert_eq!(accepted.error_class(), None);
        let failed = DeliveryOutcome::Failed(ProviderFailure {
            code: "45009".into(),
            message: "reach max api daily quota limit".into(),
            class: ErrorClass::StopChannelUntilNextDay,
        });
        assert_eq!(
            failed.error_class(),
            Some(ErrorClass::StopChannelUntilNextDay)
        );
    }
}
