//! Provider adapters, pure: each builds a plain [`HttpRequest`] value (signed where the
//! provider wants it), parses the provider's answer into [`crate::DeliveryOutcome`]s and
//! parses its delivery receipts. Sending the request is the caller's job.

pub mod aliyun_sms;
pub mod app_push;
pub mod tencent_sms;
pub mod wechat;

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::Error;

/// The HTTP methods the providers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl HttpMethod {
    /// The method as it appears on the wire and in canonical requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// A request ready to send: the HTTP client only copies these fields onto the wire.
///
/// The fields may hold secrets and personal data (the WeChat access token sits in the
/// URL, the stable-token body holds the app secret, bodies hold phone numbers), so
/// `Debug` shows only the method, the URL without its query, header names and the body
/// length.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: HttpMethod,
    /// The full URL, query included.
    pub url: String,
    /// Headers in the order they were added; names as the provider documents them.
    pub headers: Vec<(String, String)>,
    /// The body, sent as is (signatures cover these exact bytes).
    pub body: String,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url_without_query = self.url.split('?').next().unwrap_or_default();
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &url_without_query)
            .field("headers", &header_names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl HttpRequest {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The `host[:port]` part of an `http://` or `https://` endpoint URL, which is what the
/// `Host` header carries and what the providers sign.
pub(crate) fn host_of(url: &str) -> Result<&str, Error> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| Error::InvalidEndpoint { url: url.into() })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(Error::InvalidEndpoint { url: url.into() });
    }
    Ok(host)
}

/// Parses a provider's JSON, naming `what` and the path of the offending field on error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &str,
) -> Result<T, Error> {
    let deserializer = &mut serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|source| Error::MalformedJson { what, source })
}

/// One request carries at least one and at most `max` numbers (200 for Tencent, 1000 for
/// Alibaba).
pub(crate) fn check_recipient_count(count: usize, max: usize) -> Result<(), Error> {
    if count == 0 {
        return Err(Error::NoRecipients);
    }
    if count > max {
        return Err(Error::TooManyRecipients { count, max });
    }
    Ok(())
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("hmac accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in time independent of where they differ, so a signature
/// check does not leak how many leading bytes an attacker guessed right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_taken_from_the_endpoint_including_the_port() {
        assert_eq!(
            host_of("https://sms.tencentcloudapi.com/").unwrap(),
            "sms.tencentcloudapi.com"
        );
        assert_eq!(
            host_of("http://127.0.0.1:8088/stub?x=1").unwrap(),
            "127.0.0.1:8088"
        );
        assert_eq!(
            host_of("https://dysmsapi.aliyuncs.com").unwrap(),
            "dysmsapi.aliyuncs.com"
        );
    }

    #[test]
    fn endpoint_without_scheme_or_host_is_rejected_by_name() {
        let err = host_of("sms.tencentcloudapi.com").unwrap_err();
        assert!(err.to_string().contains("sms.tencentcloudapi.com"), "{err}");
        assert!(host_of("https:///path").is_err());
    }

    #[test]
    fn debug_output_hides_query_header_values_and_body() {
        let request = HttpRequest {
            method: HttpMethod::Post,
            url: "https://api.weixin.qq.com/cgi-bin/message/template/send?access_token=SECRET"
                .into(),
            headers: vec![("Authorization".into(), "TC3-HMAC-SHA256 SECRET".into())],
            body: r#"{"PhoneNumberSet":["+8613711112222"]}"#.into(),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(!debug.contains("13711112222"), "{debug}");
        assert!(
            debug.contains("Authorization") && debug.contains("template/send"),
            "{debug}"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn constant_time_eq_rejects_different_lengths_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
