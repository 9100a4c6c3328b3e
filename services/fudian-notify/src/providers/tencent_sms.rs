//! Tencent Cloud SMS, `SendSms` API version 2021-01-11: the signed request, the response
//! (per-number outcomes and request-level errors), the code classification and the
//! delivery-receipt callback.
//!
//! Sources: cloud.tencent.com/document/api/382/55981 (SendSms), /382/38780 (error codes),
//! /362/4208 (TC3-HMAC-SHA256), tencentcloud.com/zh/document/product/382/43547 (receipts).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{HttpMethod, HttpRequest, hmac_sha256, host_of, sha256_hex};
use crate::{DeliveryOutcome, Error, ErrorClass, ProviderFailure, ReceiptStatus};

/// The API action this module builds.
pub const ACTION: &str = "SendSms";
/// The API version this module speaks.
pub const VERSION: &str = "2021-01-11";
/// The service name that goes into the TC3 credential scope.
pub const SERVICE: &str = "sms";
/// The content type the request is signed and sent with.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// `PhoneNumberSet` holds at most this many numbers per request.
pub const MAX_PHONE_NUMBERS: usize = 200;
/// The body the receipt callback must be answered with.
pub const RECEIPT_ACK: &str = r#"{"result":0,"errmsg":"OK"}"#;

/// Account settings for Tencent Cloud SMS; the endpoint is configurable so tests can
/// point it at a local stub.
#[derive(Debug, Clone)]
pub struct TencentSmsConfig {
    /// Usually `https://sms.tencentcloudapi.com/`.
    pub endpoint: String,
    /// `X-TC-Region`, e.g. `ap-guangzhou`.
    pub region: String,
    /// The API key id (`AKID...`).
    pub secret_id: String,
    /// The API key secret.
    pub secret_key: SecretString,
    /// `SmsSdkAppId` of the SMS application.
    pub sms_sdk_app_id: String,
    /// The approved signature name, without 【】.
    pub sign_name: String,
}

/// One templated message to one or more numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// E.164 numbers (`+8613711112222`), at most [`MAX_PHONE_NUMBERS`].
    pub phone_numbers: Vec<String>,
    /// The approved template's id.
    pub template_id: String,
    /// Values for `{1}`, `{2}`, ... in the approved template.
    pub template_params: Vec<String>,
    /// Echoed back in the response: our delivery id.
    pub session_context: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendSmsBody<'a> {
    phone_number_set: &'a [String],
    sms_sdk_app_id: &'a str,
    sign_name: &'a str,
    template_id: &'a str,
    template_param_set: &'a [String],
    session_context: &'a str,
}

/// Builds the signed `SendSms` request. `timestamp` is the current Unix time in seconds:
/// the server rejects one more than 5 minutes off (`AuthFailure.SignatureExpire`).
pub fn build_send_sms(
    config: &TencentSmsConfig,
    message: &SmsMessage,
    timestamp: i64,
) -> Result<HttpRequest, Error> {
    validate_phone_numbers(&message.phone_numbers)?;
    let host = host_of(&config.endpoint)?;
    let body = serde_json::to_string(&SendSmsBody {
        phone_number_set: &message.phone_numbers,
        sms_sdk_app_id: &config.sms_sdk_app_id,
        sign_name: &config.sign_name,
        template_id: &message.template_id,
        template_param_set: &message.template_params,
        session_context: &message.session_context,
    })
    .map_err(|source| Error::EncodeJson {
        what: "tencent sendsms body",
        source,
    })?;
    let signature = sign_tc3(
        &Tc3Request {
            service: SERVICE,
            host,
            content_type: CONTENT_TYPE,
            timestamp,
            body: body.as_bytes(),
        },
        &config.secret_id,
        &config.secret_key,
    )?;
    let headers = [
        ("Authorization", signature.authorization.as_str()),
        ("Content-Type", CONTENT_TYPE),
        ("Host", host),
        ("X-TC-Action", ACTION),
        ("X-TC-Version", VERSION),
        ("X-TC-Timestamp", &timestamp.to_string()),
        ("X-TC-Region", &config.region),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec();
    Ok(HttpRequest {
        method: HttpMethod::Post,
        url: config.endpoint.clone(),
        headers,
        body,
    })
}

fn validate_phone_numbers(numbers: &[String]) -> Result<(), Error> {
    super::check_recipient_count(numbers.len(), MAX_PHONE_NUMBERS)?;
    // The error names the position, never the number: error messages end up in logs.
    for (index, number) in numbers.iter().enumerate() {
        let digits = number.strip_prefix('+').unwrap_or_default();
        let well_formed = (8..=15).contains(&digits.len())
            && digits.bytes().all(|byte| byte.is_ascii_digit())
            && !digits.starts_with('0');
        if !well_formed {
            return Err(Error::InvalidPhoneNumber { index });
        }
    }
    Ok(())
}

/// What TC3-HMAC-SHA256 signs. Only `content-type` and `host` are signed, the minimum the
/// documentation asks for.
#[derive(Debug, Clone, Copy)]
pub struct Tc3Request<'a> {
    /// Service name in the credential scope (`sms`, `cvm`, ...).
    pub service: &'a str,
    /// The `Host` header.
    pub host: &'a str,
    /// The `Content-Type` header.
    pub content_type: &'a str,
    /// Unix seconds; the credential date is its UTC date.
    pub timestamp: i64,
    /// The exact body bytes.
    pub body: &'a [u8],
}

/// The intermediate values and the result of a TC3 signature, kept so tests and
/// debugging can compare each step with the provider's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Signature {
    /// hex(sha256(body)).
    pub payload_hash: String,
    /// hex(sha256(canonical request)).
    pub canonical_request_hash: String,
    /// The final hex signature.
    pub signature: String,
    /// The complete `Authorization` header value.
    pub authorization: String,
}

const SIGNED_HEADERS: &str = "content-type;host";

/// Signs a POST to `/` with TC3-HMAC-SHA256 (cloud.tencent.com/document/api/362/4208).
pub fn sign_tc3(
    request: &Tc3Request<'_>,
    secret_id: &str,
    secret_key: &SecretString,
) -> Result<Tc3Signature, Error> {
    let date = chrono::DateTime::from_timestamp(request.timestamp, 0)
        .ok_or(Error::TimestampOutOfRange(request.timestamp))?
        .format("%Y-%m-%d")
        .to_string();
    let payload_hash = sha256_hex(request.body);
    // Header values are lowercased too: the documented canonical form is
    // `content-type:application/json; charset=utf-8` and a lowercase host.
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{payload_hash}",
        request.content_type.trim().to_lowercase(),
        request.host.trim().to_lowercase(),
    );
    let canonical_request_hash = sha256_hex(canonical_request.as_bytes());
    let scope = format!("{date}/{}/tc3_request", request.service);
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{}\n{scope}\n{canonical_request_hash}",
        request.timestamp
    );
    let secret_date = hmac_sha256(
        format!("TC3{}", secret_key.expose_secret()).as_bytes(),
        date.as_bytes(),
    );
    let secret_service = hmac_sha256(&secret_date, request.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&secret_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    );
    Ok(Tc3Signature {
        payload_hash,
        canonical_request_hash,
        signature,
        authorization,
    })
}

/// The answer to a `SendSms` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSmsResponse {
    /// Tencent's request id, for support tickets.
    pub request_id: String,
    /// Per-number outcomes, or one failure for the whole request.
    pub result: SendSmsResult,
}

impl SendSmsResponse {
    /// Positions of requested numbers that got no status back. Tencent answers every
    /// number, so a non-empty result means the answer is incomplete and those numbers
    /// must be treated as unknown (wait for a receipt), never as sent.
    pub fn numbers_without_status(&self, requested: &[String]) -> Vec<usize> {
        let SendSmsResult::PerNumber(outcomes) = &self.result else {
            return Vec::new();
        };
        requested
            .iter()
            .enumerate()
            .filter(|(_, number)| !outcomes.iter().any(|o| &o.phone_number == *number))
            .map(|(index, _)| index)
            .collect()
    }
}

/// Whether the request reached the per-number stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendSmsResult {
    /// The request was processed; each number has its own outcome.
    PerNumber(Vec<NumberOutcome>),
    /// The whole request was refused (authentication, rate limit, internal error, ...).
    RequestFailed(ProviderFailure),
}

/// The outcome for one number of a `SendSms` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberOutcome {
    /// The number as Tencent echoes it (E.164).
    pub phone_number: String,
    /// Billed segments.
    pub fee: u32,
    /// Our `SessionContext`, echoed.
    pub session_context: String,
    /// Accepted with the `SerialNo`, or the classified failure.
    pub outcome: DeliveryOutcome,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: ResponseBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseBody {
    request_id: String,
    error: Option<ApiError>,
    send_status_set: Option<Vec<SendStatus>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiError {
    code: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendStatus {
    #[serde(default)]
    serial_no: String,
    phone_number: String,
    #[serde(default)]
    fee: u32,
    #[serde(default)]
    session_context: String,
    code: String,
    #[serde(default)]
    message: String,
}

/// Parses the body of a `SendSms` answer.
pub fn parse_send_sms_response(body: &str) -> Result<SendSmsResponse, Error> {
    let envelope: Envelope = super::from_json("tencent sendsms response", body)?;
    let response = envelope.response;
    let result = match (response.error, response.send_status_set) {
        (Some(error), _) => SendSmsResult::RequestFailed(ProviderFailure {
            class: classify(&error.code),
            code: error.code,
            message: error.message,
        }),
        (None, Some(statuses)) => {
            SendSmsResult::PerNumber(statuses.into_iter().map(number_outcome).collect())
        }
        (None, None) => {
            return Err(Error::UnexpectedResponse {
                what: "tencent sendsms response",
                reason: "neither Error nor SendStatusSet is present",
            });
        }
    };
    Ok(SendSmsResponse {
        request_id: response.request_id,
        result,
    })
}

fn number_outcome(status: SendStatus) -> NumberOutcome {
    let outcome = if status.code == "Ok" {
        DeliveryOutcome::Accepted {
            provider_message_id: status.serial_no,
        }
    } else {
        DeliveryOutcome::Failed(ProviderFailure {
            class: classify(&status.code),
            code: status.code,
            message: status.message,
        })
    };
    NumberOutcome {
        phone_number: status.phone_number,
        fee: status.fee,
        session_context: status.session_context,
        outcome,
    }
}

/// Classifies a Tencent error code, per-number or request-level. `Ok` is success and is
/// not classified here.
pub fn classify(code: &str) -> ErrorClass {
    match code {
        // Frequency limits of one recipient: carriers allow about 10 messages a day.
        "LimitExceeded.PhoneNumberDailyLimit"
        | "LimitExceeded.PhoneNumberOneHourLimit"
        | "LimitExceeded.PhoneNumberThirtySecondLimit"
        | "LimitExceeded.PhoneNumberSameContentDailyLimit" => ErrorClass::Defer,
        "InvalidParameterValue.IncorrectPhoneNumber" | "FailedOperation.PhoneNumberInBlacklist" => {
            ErrorClass::PermanentForRecipient
        }
        "FailedOperation.SignatureIncorrectOrUnapproved"
        | "FailedOperation.TemplateIncorrectOrUnapproved" => ErrorClass::FatalConfiguration,
        _ if code == "InternalError" || code.starts_with("InternalError.") => ErrorClass::Retry,
        _ if code == "RequestLimitExceeded" || code.starts_with("RequestLimitExceeded.") => {
            ErrorClass::Retry
        }
        // Every AuthFailure (bad key, bad signature, clock skew) needs an operator.
        _ if code.starts_with("AuthFailure.") || code.starts_with("UnauthorizedOperation.") => {
            ErrorClass::FatalConfiguration
        }
        _ => ErrorClass::Unrecognized,
    }
}

/// `report_status` of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TencentReportStatus {
    /// Delivered to the handset.
    Success,
    /// Not delivered.
    Fail,
}

/// One entry of the receipt callback. Contains a phone number: never log it whole.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TencentReceipt {
    /// Local time the handset received it, `2015-10-17 08:03:04`.
    #[serde(default)]
    pub user_receive_time: String,
    /// Country calling code without `+`, `86`.
    #[serde(default)]
    pub nationcode: String,
    /// National number.
    pub mobile: String,
    /// Delivered or not.
    pub report_status: TencentReportStatus,
    /// Carrier code (`DELIVRD`, ...).
    #[serde(default)]
    pub errmsg: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The `SerialNo` of the send.
    pub sid: String,
}

impl TencentReceipt {
    /// One key per message and number, stable if Tencent pushes the receipt again.
    pub fn dedup_key(&self) -> String {
        format!("{}/{}{}", self.sid, self.nationcode, self.mobile)
    }

    /// The provider-neutral status.
    pub fn status(&self) -> ReceiptStatus {
        match self.report_status {
            TencentReportStatus::Success => ReceiptStatus::Delivered,
            TencentReportStatus::Fail => ReceiptStatus::NotDelivered {
                code: self.errmsg.clone(),
                description: self.description.clone(),
            },
        }
    }
}

/// Parses the receipt callback body (a JSON array); answer it with [`RECEIPT_ACK`].
pub fn parse_receipts(body: &str) -> Result<Vec<TencentReceipt>, Error> {
    super::from_json("tencent sms receipt", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    // Published vector of cloud.tencent.com/document/api/362/4208, copied in providers.md.
    #[test]
    fn signer_reproduces_the_published_cvm_vector() {
        let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let signed = sign_tc3(
            &Tc3Request {
                service: "cvm",
                host: "cvm.tencentcloudapi.com",
                content_type: "application/json; charset=utf-8",
                timestamp: 1_551_113_065,
                body: body.as_bytes(),
            },
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            &secret("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
        )
        .unwrap();
        assert_eq!(
            signed.payload_hash,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            signed.canonical_request_hash,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signed.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            signed.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn credential_date_is_the_utc_date_not_the_beijing_date() {
        // 2019-02-25 23:30 UTC is already 2019-02-26 in Beijing.
        let signed = sign_tc3(
            &Tc3Request {
                service: "sms",
                host: "sms.tencentcloudapi.com",
                content_type: CONTENT_TYPE,
                timestamp: 1_551_137_400,
                body: b"{}",
            },
            "AKID",
            &secret("key"),
        )
        .unwrap();
        assert!(
            signed.authorization.contains("/2019-02-25/sms/tc3_request"),
            "{}",
            signed.authorization
        );
    }

    fn config() -> TencentSmsConfig {
        TencentSmsConfig {
            endpoint: "https://sms.tencentcloudapi.com/".into(),
            region: "ap-guangzhou".into(),
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
            secret_key: secret("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            sms_sdk_app_id: "1400006666".into(),
            sign_name: "东营供电".into(),
        }
    }

    fn message(numbers: Vec<String>) -> SmsMessage {
        SmsMessage {
            phone_numbers: numbers,
            template_id: "449739".into(),
            template_params: vec!["东城区西四路".into(), "16:30".into()],
            session_context: "dlv_0192f3a1".into(),
        }
    }

    #[test]
    fn send_sms_request_carries_every_header_and_a_body_the_signature_covers() {
        let request = build_send_sms(
            &config(),
            &message(vec!["+8613711112222".into()]),
            1_795_672_800,
        )
        .unwrap();
        assert_eq!(request.method, HttpMethod::Post);
        assert_eq!(request.url, "https://sms.tencentcloudapi.com/");
        assert_eq!(request.header("x-tc-action"), Some("SendSms"));
        assert_eq!(request.header("X-TC-Version"), Some("2021-01-11"));
        assert_eq!(request.header("X-TC-Timestamp"), Some("1795672800"));
        assert_eq!(request.header("X-TC-Region"), Some("ap-guangzhou"));
        assert_eq!(request.header("Host"), Some("sms.tencentcloudapi.com"));
        assert_eq!(request.header("Content-Type"), Some(CONTENT_TYPE));
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "PhoneNumberSet": ["+8613711112222"],
                "SmsSdkAppId": "1400006666",
                "SignName": "东营供电",
                "TemplateId": "449739",
                "TemplateParamSet": ["东城区西四路", "16:30"],
                "SessionContext": "dlv_0192f3a1",
            })
        );
        let expected = sign_tc3(
            &Tc3Request {
                service: "sms",
                host: "sms.tencentcloudapi.com",
                content_type: CONTENT_TYPE,
                timestamp: 1_795_672_800,
                body: request.body.as_bytes(),
            },
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            &secret("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
        )
        .unwrap();
        assert_eq!(
            request.header("Authorization"),
            Some(expected.authorization.as_str())
        );
        assert!(
            expected
                .authorization
                .contains("/2026-11-26/sms/tc3_request")
        );
    }

    #[test]
    fn more_than_two_hundred_numbers_are_refused_before_signing() {
        let numbers = (0..201).map(|i| format!("+86137{i:08}")).collect();
        let err = build_send_sms(&config(), &message(numbers), 1_795_672_800).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooManyRecipients {
                    count: 201,
                    max: 200
                }
            ),
            "{err}"
        );
        let two_hundred = (0..200).map(|i| format!("+86137{i:08}")).collect();
        assert!(build_send_sms(&config(), &message(two_hundred), 1_795_672_800).is_ok());
    }

    #[test]
    fn malformed_number_is_named_by_position_not_by_value() {
        let err = build_send_sms(
            &config(),
            &message(vec!["+8613711112222".into(), "13711113333".into()]),
            1_795_672_800,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidPhoneNumber { index: 1 }));
        assert!(!err.to_string().contains("13711113333"));
        assert!(matches!(
            build_send_sms(&config(), &message(vec![]), 0).unwrap_err(),
            Error::NoRecipients
        ));
    }

    #[test]
    fn per_number_statuses_become_accepted_and_classified_failures() {
        let body = r#"{"Response":{"SendStatusSet":[
            {"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":"+8618501234444","Fee":1,
             "SessionContext":"dlv_1","Code":"Ok","Message":"send success","IsoCode":"CN"},
            {"SerialNo":"","PhoneNumber":"+8618501234445","Fee":0,"SessionContext":"dlv_1",
             "Code":"LimitExceeded.PhoneNumberDailyLimit","Message":"daily limit","IsoCode":"CN"},
            {"SerialNo":"","PhoneNumber":"+8618501234446","Fee":0,"SessionContext":"dlv_1",
             "Code":"FailedOperation.PhoneNumberInBlacklist","Message":"blacklist","IsoCode":"CN"}],
            "RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}"#;
        let response = parse_send_sms_response(body).unwrap();
        assert_eq!(response.request_id, "a0aabda6-cf91-4f3e-a81f-9198114a2279");
        let SendSmsResult::PerNumber(outcomes) = response.result else {
            panic!("expected per-number outcomes");
        };
        assert_eq!(outcomes.len(), 3);
        assert_eq!(
            outcomes[0].outcome,
            DeliveryOutcome::Accepted {
                provider_message_id: "5000:1045710669157053657849499619".into()
            }
        );
        assert_eq!(outcomes[0].fee, 1);
        assert_eq!(outcomes[0].session_context, "dlv_1");
        assert_eq!(outcomes[1].outcome.error_class(), Some(ErrorClass::Defer));
        let requested = ["+8618501234444", "+8618501234999", "+8618501234446"].map(String::from);
        assert_eq!(
            SendSmsResponse {
                request_id: String::new(),
                result: SendSmsResult::PerNumber(outcomes.clone()),
            }
            .numbers_without_status(&requested),
            vec![1]
        );
        assert_eq!(
            outcomes[2].outcome.error_class(),
            Some(ErrorClass::PermanentForRecipient)
        );
    }

    #[test]
    fn request_level_error_is_one_classified_failure() {
        let body = r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure",
            "Message":"The provided credentials could not be validated."},"RequestId":"r-1"}}"#;
        let response = parse_send_sms_response(body).unwrap();
        assert_eq!(
            response.result,
            SendSmsResult::RequestFailed(ProviderFailure {
                code: "AuthFailure.SignatureFailure".into(),
                message: "The provided credentials could not be validated.".into(),
                class: ErrorClass::FatalConfiguration,
            })
        );
    }

    #[test]
    fn response_without_error_or_statuses_is_an_error_not_an_empty_success() {
        let err = parse_send_sms_response(r#"{"Response":{"RequestId":"r-2"}}"#).unwrap_err();
        assert!(err.to_string().contains("SendStatusSet"), "{err}");
        let err = parse_send_sms_response("<html>502</html>").unwrap_err();
        assert!(
            err.to_string().contains("tencent sendsms response"),
            "{err}"
        );
    }

    #[test]
    fn every_documented_code_has_its_documented_class() {
        let table = [
            ("LimitExceeded.PhoneNumberDailyLimit", ErrorClass::Defer),
            ("LimitExceeded.PhoneNumberOneHourLimit", ErrorClass::Defer),
            (
                "LimitExceeded.PhoneNumberThirtySecondLimit",
                ErrorClass::Defer,
            ),
            (
                "LimitExceeded.PhoneNumberSameContentDailyLimit",
                ErrorClass::Defer,
            ),
            (
                "InvalidParameterValue.IncorrectPhoneNumber",
                ErrorClass::PermanentForRecipient,
            ),
            (
                "FailedOperation.PhoneNumberInBlacklist",
                ErrorClass::PermanentForRecipient,
            ),
            (
                "FailedOperation.SignatureIncorrectOrUnapproved",
                ErrorClass::FatalConfiguration,
            ),
            (
                "FailedOperation.TemplateIncorrectOrUnapproved",
                ErrorClass::FatalConfiguration,
            ),
            ("InternalError", ErrorClass::Retry),
            ("InternalError.Timeout", ErrorClass::Retry),
            ("RequestLimitExceeded", ErrorClass::Retry),
            (
                "AuthFailure.SignatureFailure",
                ErrorClass::FatalConfiguration,
            ),
            (
                "AuthFailure.SignatureExpire",
                ErrorClass::FatalConfiguration,
            ),
            ("FailedOperation.SomethingNew", ErrorClass::Unrecognized),
        ];
        for (code, class) in table {
            assert_eq!(classify(code), class, "{code}");
        }
    }

    #[test]
    fn receipt_array_is_parsed_with_delivered_and_failed_entries() {
        let body = r#"[
            {"user_receive_time":"2026-11-26 14:03:04","nationcode":"86","mobile":"13711112222",
             "report_status":"SUCCESS","errmsg":"DELIVRD","description":"用户短信送达成功",
             "sid":"5000:1045710669157053657849499619"},
            {"user_receive_time":"2026-11-26 14:03:09","nationcode":"86","mobile":"13711113333",
             "report_status":"FAIL","errmsg":"MK:0001","description":"空号","sid":"5000:2"}]"#;
        let receipts = parse_receipts(body).unwrap();
        assert_eq!(receipts.len(), 2);
        assert_eq!(receipts[0].sid, "5000:1045710669157053657849499619");
        assert_eq!(receipts[0].status(), ReceiptStatus::Delivered);
        assert_ne!(receipts[0].dedup_key(), receipts[1].dedup_key());
        assert_eq!(
            receipts[1].status(),
            ReceiptStatus::NotDelivered {
                code: "MK:0001".into(),
                description: "空号".into()
            }
        );
    }

    #[test]
    fn receipt_with_unknown_status_names_the_field() {
        let body = r#"[{"mobile":"13711112222","report_status":"MAYBE","sid":"s"}]"#;
        let err = parse_receipts(body).unwrap_err();
        assert!(err.to_string().contains("report_status"), "{err}");
    }
}
