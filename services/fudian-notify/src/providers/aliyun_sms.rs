//! Alibaba Cloud SMS, `SendSms` API version 2017-05-25 (RPC style): the request signed
//! with ACS3-HMAC-SHA256 (Signature V3), the response, the code classification and the
//! delivery-receipt callback.
//!
//! `SendSms` is **not idempotent**: after a timeout the sender must wait for the receipt
//! (matched by the number: a batch's `OutId` is shared) instead of sending again; see
//! [`is_idempotent`].
//!
//! Sources: help.aliyun.com/document_detail/55284.html (SendSms), /101347.htm (receipts),
//! /2593177.html (Signature V3).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use super::{HttpMethod, HttpRequest, hmac_sha256, host_of, sha256_hex};
use crate::{DeliveryOutcome, Error, ErrorClass, ProviderFailure, ReceiptStatus};

/// The API action this module builds.
pub const ACTION: &str = "SendSms";
/// The API version this module speaks.
pub const VERSION: &str = "2017-05-25";
/// `PhoneNumbers` holds at most this many numbers per request.
pub const MAX_PHONE_NUMBERS: usize = 1000;
/// The body the receipt callback must be answered with.
pub const RECEIPT_ACK: &str = r#"{"code":0,"msg":"接收成功"}"#;

/// Whether sending the same `SendSms` again is safe after a timeout. It is not: Alibaba
/// has no idempotency key for it, so a blind retry may text the customer twice. The
/// sender waits for the receipt of the first attempt (to the same number) instead.
pub const fn is_idempotent() -> bool {
    false
}

/// Account settings for Alibaba Cloud SMS; the endpoint is configurable so tests can
/// point it at a local stub.
#[derive(Debug, Clone)]
pub struct AliyunSmsConfig {
    /// Usually `https://dysmsapi.aliyuncs.com/`; must have no path, the signature covers `/`.
    pub endpoint: String,
    /// The AccessKey id.
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: SecretString,
    /// The approved signature name, without 【】.
    pub sign_name: String,
}

/// One templated message to one or more numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliyunSmsMessage {
    /// Mainland numbers (`13711112222`) or international ones with country code, digits
    /// only; at most [`MAX_PHONE_NUMBERS`].
    pub phone_numbers: Vec<String>,
    /// The approved template's code (`SMS_15305****`).
    pub template_code: String,
    /// Variables of the approved template; Alibaba wants string values only.
    pub template_params: BTreeMap<String, String>,
    /// Echoed in receipts: our delivery id.
    pub out_id: String,
}

/// Builds the signed `SendSms` request. Parameters travel in the query string, the body
/// is empty. `date` must be within 15 minutes of Alibaba's clock; `nonce` must be unique
/// per request (a fresh UUID), or the call fails with `SignatureNonceUsed`.
pub fn build_send_sms(
    config: &AliyunSmsConfig,
    message: &AliyunSmsMessage,
    date: DateTime<Utc>,
    nonce: &str,
) -> Result<HttpRequest, Error> {
    validate_phone_numbers(&message.phone_numbers)?;
    let host = host_of(&config.endpoint)?;
    let base = config.endpoint.trim_end_matches('/');
    let without_scheme = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"));
    if without_scheme != Some(host) {
        // A path would change the canonical URI, which is always `/` here.
        return Err(Error::InvalidEndpoint {
            url: config.endpoint.clone(),
        });
    }
    let template_param =
        serde_json::to_string(&message.template_params).map_err(|source| Error::EncodeJson {
            what: "aliyun sendsms template param",
            source,
        })?;
    let query = [
        ("OutId", message.out_id.clone()),
        ("PhoneNumbers", message.phone_numbers.join(",")),
        ("SignName", config.sign_name.clone()),
        ("TemplateCode", message.template_code.clone()),
        ("TemplateParam", template_param),
    ];
    let signed = sign_acs3(
        &Acs3Request {
            method: HttpMethod::Post,
            host,
            action: ACTION,
            version: VERSION,
            date,
            nonce,
            query: &query.map(|(key, value)| (key.to_owned(), value)),
            body: b"",
        },
        &config.access_key_id,
        &config.access_key_secret,
    );
    let headers = [
        ("Authorization", signed.authorization.as_str()),
        ("host", host),
        ("x-acs-action", ACTION),
        ("x-acs-version", VERSION),
        ("x-acs-date", &signed.date),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-content-sha256", &signed.payload_hash),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec();
    Ok(HttpRequest {
        method: HttpMethod::Post,
        url: format!("{base}/?{}", signed.canonical_query),
        headers,
        body: String::new(),
    })
}

fn validate_phone_numbers(numbers: &[String]) -> Result<(), Error> {
    super::check_recipient_count(numbers.len(), MAX_PHONE_NUMBERS)?;
    // Digits only: a comma inside one entry would silently add a recipient.
    for (index, number) in numbers.iter().enumerate() {
        if !(5..=20).contains(&number.len()) || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(Error::InvalidPhoneNumber { index });
        }
    }
    Ok(())
}

/// What ACS3-HMAC-SHA256 signs: every `x-acs-*` header and `host`; the path is `/`.
#[derive(Debug, Clone, Copy)]
pub struct Acs3Request<'a> {
    /// The method.
    pub method: HttpMethod,
    /// The `host` header.
    pub host: &'a str,
    /// `x-acs-action`.
    pub action: &'a str,
    /// `x-acs-version`.
    pub version: &'a str,
    /// `x-acs-date`, sent as UTC ISO 8601 to the second.
    pub date: DateTime<Utc>,
    /// `x-acs-signature-nonce`.
    pub nonce: &'a str,
    /// Query parameters, unencoded, in any order.
    pub query: &'a [(String, String)],
    /// The exact body bytes.
    pub body: &'a [u8],
}

/// The intermediate values and the result of an ACS3 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Signature {
    /// The sorted, RFC 3986-encoded query, also used in the URL.
    pub canonical_query: String,
    /// The `x-acs-date` value.
    pub date: String,
    /// hex(sha256(body)), the `x-acs-content-sha256` value.
    pub payload_hash: String,
    /// hex(sha256(canonical request)), which is all the string to sign holds.
    pub canonical_request_hash: String,
    /// The final hex signature.
    pub signature: String,
    /// The complete `Authorization` header value.
    pub authorization: String,
}

/// RFC 3986: everything but `A-Z a-z 0-9 - _ . ~` is percent-encoded, space as `%20`.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn rfc3986(value: &str) -> String {
    utf8_percent_encode(value, RFC3986).to_string()
}

/// Signs a request with ACS3-HMAC-SHA256 (help.aliyun.com/document_detail/2593177.html).
pub fn sign_acs3(
    request: &Acs3Request<'_>,
    access_key_id: &str,
    access_key_secret: &SecretString,
) -> Acs3Signature {
    let mut encoded: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(key, value)| (rfc3986(key), rfc3986(value)))
        .collect();
    encoded.sort();
    let canonical_query = encoded
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let date = request.date.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let payload_hash = sha256_hex(request.body);
    // Already sorted by name, lowercase.
    let headers = [
        ("host", request.host),
        ("x-acs-action", request.action),
        ("x-acs-content-sha256", &payload_hash),
        ("x-acs-date", &date),
        ("x-acs-signature-nonce", request.nonce),
        ("x-acs-version", request.version),
    ];
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    let signed_headers = headers.map(|(name, _)| name).join(";");
    let canonical_request = format!(
        "{}\n/\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method.as_str()
    );
    let canonical_request_hash = sha256_hex(canonical_request.as_bytes());
    let string_to_sign = format!("ACS3-HMAC-SHA256\n{canonical_request_hash}");
    let signature = hex::encode(hmac_sha256(
        access_key_secret.expose_secret().as_bytes(),
        string_to_sign.as_bytes(),
    ));
    let authorization = format!(
        "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"
    );
    Acs3Signature {
        canonical_query,
        date,
        payload_hash,
        canonical_request_hash,
        signature,
        authorization,
    }
}

/// The answer to a `SendSms` call. Alibaba answers for the request as a whole: the
/// outcome applies to every number in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliyunSendResponse {
    /// Alibaba's request id, for support tickets.
    pub request_id: String,
    /// Accepted with the `BizId`, or the classified failure.
    pub outcome: DeliveryOutcome,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendSmsBody {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    biz_id: String,
    #[serde(default)]
    request_id: String,
}

/// Parses the body of a `SendSms` answer (also the gateway's signature errors, which
/// share the `Code`/`Message` shape).
pub fn parse_send_sms_response(body: &str) -> Result<AliyunSendResponse, Error> {
    let parsed: SendSmsBody = super::from_json("aliyun sendsms response", body)?;
    // Success is upper-case "OK", unlike Tencent's "Ok".
    let outcome = if parsed.code == "OK" {
        if parsed.biz_id.is_empty() {
            return Err(Error::UnexpectedResponse {
                what: "aliyun sendsms response",
                reason: "Code is OK but BizId is missing",
            });
        }
        DeliveryOutcome::Accepted {
            provider_message_id: parsed.biz_id,
        }
    } else {
        DeliveryOutcome::Failed(ProviderFailure {
            class: classify(&parsed.code),
            code: parsed.code,
            message: parsed.message,
        })
    };
    Ok(AliyunSendResponse {
        request_id: parsed.request_id,
        outcome,
    })
}

/// Classifies an Alibaba error code. `OK` is success and is not classified here.
pub fn classify(code: &str) -> ErrorClass {
    match code {
        // BUSINESS_LIMIT_CONTROL is the per-number frequency limit.
        "isv.BUSINESS_LIMIT_CONTROL" | "isv.DAY_LIMIT_CONTROL" => ErrorClass::Defer,
        "isv.MOBILE_NUMBER_ILLEGAL" => ErrorClass::PermanentForRecipient,
        "isv.SMS_SIGNATURE_ILLEGAL" | "isv.SMS_TEMPLATE_ILLEGAL" | "isv.INVALID_JSON_PARAM" => {
            ErrorClass::FatalConfiguration
        }
        "isp.SYSTEM_ERROR" => ErrorClass::Retry,
        // Gateway answers for a wrong key or signature: nothing will pass until fixed.
        "SignatureDoesNotMatch" | "IncompleteSignature" => ErrorClass::FatalConfiguration,
        _ if code.starts_with("InvalidAccessKeyId") => ErrorClass::FatalConfiguration,
        _ => ErrorClass::Unrecognized,
    }
}

/// One entry of the receipt callback. Contains a phone number: never log it whole.
/// Alibaba pushes the same receipt again at 1, 5 and 10 minutes: de-duplicate with
/// [`AliyunReceipt::dedup_key`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AliyunReceipt {
    /// The number the message went to.
    pub phone_number: String,
    /// When Alibaba sent it, `2017-01-01 11:11:11`.
    #[serde(default)]
    pub send_time: String,
    /// When the carrier reported, `2017-02-02 22:22:22`.
    #[serde(default)]
    pub report_time: String,
    /// Delivered or not.
    pub success: bool,
    /// Carrier code (`DELIVERED`, ...).
    #[serde(default)]
    pub err_code: String,
    /// Human-readable description.
    #[serde(default)]
    pub err_msg: String,
    /// Billed segments, sent as a string or a number.
    #[serde(default, deserialize_with = "string_or_number")]
    pub sms_size: String,
    /// The `BizId` of the send.
    pub biz_id: String,
    /// Our `OutId`, echoed.
    #[serde(default)]
    pub out_id: String,
}

impl AliyunReceipt {
    /// The provider-neutral status.
    pub fn status(&self) -> ReceiptStatus {
        if self.success {
            ReceiptStatus::Delivered
        } else {
            ReceiptStatus::NotDelivered {
                code: self.err_code.clone(),
                description: self.err_msg.clone(),
            }
        }
    }

    /// One key per message and number, stable across Alibaba's re-pushes.
    pub fn dedup_key(&self) -> String {
        format!("{}/{}", self.biz_id, self.phone_number)
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrNumber {
        String(String),
        Number(u64),
    }
    Ok(match StringOrNumber::deserialize(deserializer)? {
        StringOrNumber::String(text) => text,
        StringOrNumber::Number(number) => number.to_string(),
    })
}

/// Parses the receipt callback body (a JSON array); answer it with [`RECEIPT_ACK`].
pub fn parse_receipts(body: &str) -> Result<Vec<AliyunReceipt>, Error> {
    super::from_json("aliyun sms receipt", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    fn date(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    // Published vector of help.aliyun.com/document_detail/2593177.html, copied in providers.md.
    #[test]
    fn signer_reproduces_the_published_run_instances_vector() {
        let query = [
            ("RegionId", "cn-shanghai"),
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));
        let signed = sign_acs3(
            &Acs3Request {
                method: HttpMethod::Post,
                host: "ecs.cn-shanghai.aliyuncs.com",
                action: "RunInstances",
                version: "2014-05-26",
                date: date("2023-10-26T10:22:32Z"),
                nonce: "3156853299f313e23d1673dc12e1703d",
                query: &query,
                body: b"",
            },
            "YourAccessKeyId",
            &secret("YourAccessKeySecret"),
        );
        assert_eq!(
            signed.canonical_query,
            "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
        );
        assert_eq!(
            signed.canonical_request_hash,
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            signed.signature,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        assert_eq!(
            signed.authorization,
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,\
             SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn query_values_are_rfc_3986_encoded_with_percent_20_for_space() {
        assert_eq!(rfc3986("a b*~"), "a%20b%2A~");
        assert_eq!(rfc3986("东营"), "%E4%B8%9C%E8%90%A5");
        assert_eq!(rfc3986(r#"{"a":"1"}"#), "%7B%22a%22%3A%221%22%7D");
    }

    fn config() -> AliyunSmsConfig {
        AliyunSmsConfig {
            endpoint: "https://dysmsapi.aliyuncs.com/".into(),
            access_key_id: "YourAccessKeyId".into(),
            access_key_secret: secret("YourAccessKeySecret"),
            sign_name: "东营供电".into(),
        }
    }

    fn message(numbers: &[&str]) -> AliyunSmsMessage {
        AliyunSmsMessage {
            phone_numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
            template_code: "SMS_153055065".into(),
            template_params: BTreeMap::from([
                ("area".to_owned(), "东城区西四路".to_owned()),
                ("time".to_owned(), "16:30".to_owned()),
            ]),
            out_id: "dlv_0192f3a1".into(),
        }
    }

    #[test]
    fn send_sms_request_puts_parameters_in_the_signed_query() {
        let request = build_send_sms(
            &config(),
            &message(&["13711112222", "13711113333"]),
            date("2026-11-26T06:00:00Z"),
            "0192f3a1-7c2e-7d4b-9a0e-2b6f5c3d4e5f",
        )
        .unwrap();
        assert_eq!(request.method, HttpMethod::Post);
        assert!(request.body.is_empty());
        assert!(
            request.url.starts_with("https://dysmsapi.aliyuncs.com/?OutId=dlv_0192f3a1&PhoneNumbers=13711112222%2C13711113333&SignName=%E4%B8%9C"),
            "{}",
            request.url
        );
        assert!(
            request
                .url
                .contains("&TemplateParam=%7B%22area%22%3A%22%E4%B8%9C")
        );
        assert_eq!(request.header("x-acs-action"), Some("SendSms"));
        assert_eq!(request.header("x-acs-version"), Some("2017-05-25"));
        assert_eq!(request.header("x-acs-date"), Some("2026-11-26T06:00:00Z"));
        assert_eq!(
            request.header("x-acs-content-sha256"),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        let authorization = request.header("Authorization").unwrap();
        assert!(authorization.starts_with("ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"));
        assert_eq!(authorization.rsplit("Signature=").next().unwrap().len(), 64);
    }

    #[test]
    fn endpoint_with_a_path_is_refused_because_the_signature_covers_slash() {
        let mut config = config();
        config.endpoint = "http://127.0.0.1:9000/aliyun".into();
        let err = build_send_sms(
            &config,
            &message(&["13711112222"]),
            date("2026-11-26T06:00:00Z"),
            "n",
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err}");
        config.endpoint = "http://127.0.0.1:9000".into();
        let request = build_send_sms(
            &config,
            &message(&["13711112222"]),
            date("2026-11-26T06:00:00Z"),
            "n",
        )
        .unwrap();
        assert!(request.url.starts_with("http://127.0.0.1:9000/?OutId="));
        assert_eq!(request.header("host"), Some("127.0.0.1:9000"));
    }

    #[test]
    fn a_number_with_a_comma_is_refused_so_no_recipient_is_added_silently() {
        let err = build_send_sms(
            &config(),
            &message(&["13711112222", "13711113333,13711114444"]),
            date("2026-11-26T06:00:00Z"),
            "n",
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::InvalidPhoneNumber { index: 1 }),
            "{err}"
        );
    }

    #[test]
    fn send_sms_is_declared_not_idempotent() {
        assert!(!is_idempotent());
    }

    #[test]
    fn upper_case_ok_is_accepted_with_the_biz_id() {
        let response = parse_send_sms_response(
            r#"{"Code":"OK","Message":"OK","BizId":"900619746936498440^0","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990"}"#,
        )
        .unwrap();
        assert_eq!(response.request_id, "F655A8D5-B967-440B-8683-DAD6FF8DE990");
        assert_eq!(
            response.outcome,
            DeliveryOutcome::Accepted {
                provider_message_id: "900619746936498440^0".into()
            }
        );
    }

    #[test]
    fn tencent_style_ok_is_not_mistaken_for_success() {
        let response =
            parse_send_sms_response(r#"{"Code":"Ok","Message":"?","RequestId":"r"}"#).unwrap();
        assert_eq!(
            response.outcome.error_class(),
            Some(ErrorClass::Unrecognized)
        );
    }

    #[test]
    fn every_documented_code_has_its_documented_class() {
        let table = [
            ("isv.BUSINESS_LIMIT_CONTROL", ErrorClass::Defer),
            ("isv.DAY_LIMIT_CONTROL", ErrorClass::Defer),
            (
                "isv.MOBILE_NUMBER_ILLEGAL",
                ErrorClass::PermanentForRecipient,
            ),
            ("isv.SMS_SIGNATURE_ILLEGAL", ErrorClass::FatalConfiguration),
            ("isv.SMS_TEMPLATE_ILLEGAL", ErrorClass::FatalConfiguration),
            ("isv.INVALID_JSON_PARAM", ErrorClass::FatalConfiguration),
            ("isp.SYSTEM_ERROR", ErrorClass::Retry),
            ("SignatureDoesNotMatch", ErrorClass::FatalConfiguration),
            (
                "InvalidAccessKeyId.NotFound",
                ErrorClass::FatalConfiguration,
            ),
            ("isv.SOMETHING_NEW", ErrorClass::Unrecognized),
        ];
        for (code, class) in table {
            assert_eq!(classify(code), class, "{code}");
        }
        let failed = parse_send_sms_response(
            r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发分钟级流控Permits:1","RequestId":"r"}"#,
        )
        .unwrap();
        assert_eq!(failed.outcome.error_class(), Some(ErrorClass::Defer));
    }

    #[test]
    fn receipts_are_parsed_and_repushes_share_a_dedup_key() {
        let body = r#"[
            {"phone_number":"13711112222","send_time":"2026-11-26 14:00:01","report_time":"2026-11-26 14:00:05",
             "success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1",
             "biz_id":"900619746936498440^0","out_id":"dlv_0192f3a1"},
            {"phone_number":"13711113333","send_time":"2026-11-26 14:00:01","report_time":"2026-11-26 14:00:07",
             "success":false,"err_code":"IC_BLACK","err_msg":"黑名单","sms_size":2,
             "biz_id":"900619746936498440^0","out_id":"dlv_0192f3a1"}]"#;
        let receipts = parse_receipts(body).unwrap();
        assert_eq!(receipts[0].status(), ReceiptStatus::Delivered);
        assert_eq!(receipts[0].out_id, "dlv_0192f3a1");
        assert_eq!(receipts[1].sms_size, "2");
        assert_eq!(
            receipts[1].status(),
            ReceiptStatus::NotDelivered {
                code: "IC_BLACK".into(),
                description: "黑名单".into()
            }
        );
        let repushed = parse_receipts(body).unwrap();
        assert_eq!(receipts[0].dedup_key(), repushed[0].dedup_key());
        assert_ne!(receipts[0].dedup_key(), receipts[1].dedup_key());
    }

    #[test]
    fn receipt_without_success_flag_names_the_field() {
        let err = parse_receipts(r#"[{"phone_number":"1","biz_id":"b"}]"#).unwrap_err();
        assert!(err.to_string().contains("success"), "{err}");
    }
}
