//! App push through our own webhook, signed the Svix / Standard Webhooks way so the app
//! backend can verify it with any Svix library: `v1,` + base64(HMAC-SHA256(key,
//! `id.timestamp.body`)), the key being the base64 after `whsec_`. Also the Svix retry
//! schedule, which the sender follows; the message id stays the same on redelivery.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{HttpMethod, HttpRequest, constant_time_eq, hmac_sha256, host_of};
use crate::Error;

/// The prefix of a webhook secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";

/// Delay before each attempt, counted from the previous one (Svix's schedule).
pub const RETRY_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The signing key of one webhook endpoint. `Debug` does not show it.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`; the prefix may be left out, as Svix libraries allow.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = STANDARD
            .decode(encoded)
            .map_err(|source| Error::InvalidWebhookSecret {
                reason: source.to_string(),
            })?;
        if key.is_empty() {
            return Err(Error::InvalidWebhookSecret {
                reason: "the key is empty".into(),
            });
        }
        Ok(Self { key })
    }
}

/// The `webhook-signature` value for one message: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &str) -> String {
    let signed_content = format!("{msg_id}.{timestamp}.{body}");
    let mac = hmac_sha256(&secret.key, signed_content.as_bytes());
    format!("v1,{}", STANDARD.encode(mac))
}

/// Checks a `webhook-signature` header, which may list several space-separated
/// signatures (during key rotation); one valid `v1` signature is enough.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &str,
    header: &str,
) -> bool {
    let expected = sign(secret, msg_id, timestamp, body);
    header
        .split_whitespace()
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
}

/// Builds the signed webhook POST. Redeliveries must reuse the same `msg_id`; the
/// timestamp is that of the attempt.
pub fn build_webhook_request(
    endpoint: &str,
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    payload: &serde_json::Value,
) -> Result<HttpRequest, Error> {
    host_of(endpoint)?;
    let body = payload.to_string();
    let signature = sign(secret, msg_id, timestamp, &body);
    let headers = [
        ("Content-Type", "application/json"),
        ("webhook-id", msg_id),
        ("webhook-timestamp", &timestamp.to_string()),
        ("webhook-signature", &signature),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec();
    Ok(HttpRequest {
        method: HttpMethod::Post,
        url: endpoint.to_owned(),
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // Published Svix vector, copied in providers.md.
    #[test]
    fn signer_reproduces_the_published_svix_vector() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, MSG_ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn verify_accepts_the_vector_among_several_and_rejects_a_changed_body() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let header = format!("v1,b2xkLWtleQ== {SIGNATURE}");
        assert!(verify(&secret, MSG_ID, TIMESTAMP, BODY, &header));
        assert!(!verify(
            &secret,
            MSG_ID,
            TIMESTAMP,
            r#"{"test": 2432232315}"#,
            SIGNATURE
        ));
        assert!(!verify(&secret, MSG_ID, TIMESTAMP + 1, BODY, SIGNATURE));
    }

    #[test]
    fn secret_without_prefix_is_the_same_key_and_garbage_is_refused() {
        let bare = WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(sign(&bare, MSG_ID, TIMESTAMP, BODY), SIGNATURE);
        assert!(matches!(
            WebhookSecret::parse("whsec_not base64!").unwrap_err(),
            Error::InvalidWebhookSecret { .. }
        ));
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert_eq!(format!("{bare:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn webhook_request_carries_id_timestamp_and_a_signature_over_the_exact_body() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let payload = serde_json::json!({"kind": "restored", "area": "东营市东城区西四路"});
        let request = build_webhook_request(
            "http://127.0.0.1:8099/push",
            &secret,
            MSG_ID,
            TIMESTAMP,
            &payload,
        )
        .unwrap();
        assert_eq!(request.header("webhook-id"), Some(MSG_ID));
        assert_eq!(request.header("webhook-timestamp"), Some("1614265330"));
        let signature = request.header("webhook-signature").unwrap();
        assert!(verify(&secret, MSG_ID, TIMESTAMP, &request.body, signature));
        assert!(build_webhook_request("ftp://x", &secret, MSG_ID, TIMESTAMP, &payload).is_err());
    }

    #[test]
    fn retry_schedule_spans_eight_attempts_over_about_a_day() {
        assert_eq!(RETRY_SCHEDULE.len(), 8);
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert_eq!(
            total,
            Duration::from_secs(5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000)
        );
    }
}
