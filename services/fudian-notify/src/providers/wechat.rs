//! WeChat Official Account (公众号): the stable access token, template messages with
//! their field rules, the errcode classification, the `TEMPLATESENDJOBFINISH` receipt and
//! the callback signature check.
//!
//! Sources: developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken,
//! developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.md.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::{HttpMethod, HttpRequest, constant_time_eq, host_of};
use crate::{DeliveryOutcome, Error, ErrorClass, ProviderFailure, ReceiptStatus};

/// Path of the stable access-token endpoint.
pub const STABLE_TOKEN_PATH: &str = "/cgi-bin/stable_token";
/// Path of the template-message endpoint.
pub const TEMPLATE_SEND_PATH: &str = "/cgi-bin/message/template/send";
/// Since 2023-05-04 each template field is at most this many characters.
pub const MAX_FIELD_CHARS: usize = 20;
/// The body every callback must be answered with, or WeChat pushes it again.
pub const CALLBACK_ACK: &str = "success";

/// Account settings; the endpoint is configurable so tests can point it at a local stub.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// Usually `https://api.weixin.qq.com`, no trailing path.
    pub endpoint: String,
    /// The Official Account's AppID.
    pub app_id: String,
    /// The Official Account's AppSecret.
    pub app_secret: SecretString,
}

impl WechatConfig {
    fn url(&self, path: &str) -> Result<String, Error> {
        host_of(&self.endpoint)?;
        Ok(format!("{}{path}", self.endpoint.trim_end_matches('/')))
    }
}

/// The body of `POST /cgi-bin/stable_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StableTokenRequest<'a> {
    /// Always `client_credential`.
    pub grant_type: &'static str,
    /// The AppID.
    pub appid: &'a str,
    /// The AppSecret.
    pub secret: &'a str,
    /// Force refresh is limited to 20 a day, 30 s apart, and cuts the overlap of old and
    /// new tokens short: fudian never sets it.
    pub force_refresh: bool,
}

/// Builds the stable-token request in normal mode (`force_refresh: false`), which is also
/// what to send after a 40001/42001: it returns the current token or a newer one.
pub fn build_stable_token_request(config: &WechatConfig) -> Result<HttpRequest, Error> {
    let body = serde_json::to_string(&StableTokenRequest {
        grant_type: "client_credential",
        appid: &config.app_id,
        secret: config.app_secret.expose_secret(),
        force_refresh: false,
    })
    .map_err(|source| Error::EncodeJson {
        what: "wechat stable_token body",
        source,
    })?;
    Ok(HttpRequest {
        method: HttpMethod::Post,
        url: config.url(STABLE_TOKEN_PATH)?,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
    })
}

/// A fresh access token.
#[derive(Debug, Clone)]
pub struct StableToken {
    /// The token; it goes into the URL of every call.
    pub access_token: SecretString,
    /// Seconds until it expires (7200); old and new tokens overlap for 5 minutes.
    pub expires_in: u32,
}

/// The answer of the stable-token endpoint.
#[derive(Debug, Clone)]
pub enum StableTokenResponse {
    /// A token to cache.
    Token(StableToken),
    /// The request was refused.
    Failed(ProviderFailure),
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    expires_in: Option<u32>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Parses the stable-token answer.
pub fn parse_stable_token_response(body: &str) -> Result<StableTokenResponse, Error> {
    let raw: RawTokenResponse = super::from_json("wechat stable_token response", body)?;
    if raw.errcode != 0 {
        return Ok(StableTokenResponse::Failed(failure(
            raw.errcode,
            raw.errmsg,
        )));
    }
    match (raw.access_token, raw.expires_in) {
        (Some(token), Some(expires_in)) if !token.is_empty() => {
            Ok(StableTokenResponse::Token(StableToken {
                access_token: SecretString::from(token),
                expires_in,
            }))
        }
        _ => Err(Error::UnexpectedResponse {
            what: "wechat stable_token response",
            reason: "errcode is 0 but access_token or expires_in is missing",
        }),
    }
}

/// Why a template field value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    /// More than [`MAX_FIELD_CHARS`] characters.
    TooLong {
        /// The value's length in characters.
        chars: usize,
    },
    /// WeChat drops line breaks' meaning and may reject the field.
    LineBreak,
    /// WeChat rejects empty values (47003).
    Empty,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { chars } => write!(
                f,
                "is {chars} characters long, at most {MAX_FIELD_CHARS} are allowed"
            ),
            Self::LineBreak => f.write_str("contains a line break"),
            Self::Empty => f.write_str("is empty"),
        }
    }
}

/// Checks one field value against the 2023-05-04 rules: at most 20 characters (counted
/// as chars, not bytes: 东 is one), no line breaks, not empty.
pub fn check_field_value(value: &str) -> Result<(), FieldProblem> {
    if value.trim().is_empty() {
        return Err(FieldProblem::Empty);
    }
    if value.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
        return Err(FieldProblem::LineBreak);
    }
    let chars = value.chars().count();
    if chars > MAX_FIELD_CHARS {
        return Err(FieldProblem::TooLong { chars });
    }
    Ok(())
}

/// Template field keys look like `thing1`, `time2`, `character_string3`.
pub(crate) fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// A template message to one follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMessage {
    /// The follower's openid. Never log it.
    pub touser: String,
    /// The template's id in the account.
    pub template_id: String,
    /// The detail page opened on tap.
    pub url: Option<String>,
    /// Our delivery id: WeChat drops a repeat to the same openid within 10 minutes.
    pub client_msg_id: String,
    /// Field key → value, e.g. `thing1` → `东城区西四路`.
    pub data: BTreeMap<String, String>,
}

impl TemplateMessage {
    /// Checks every field name and value; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.data.is_empty() {
            return Err(Error::WechatNoFields);
        }
        for (field, value) in &self.data {
            if !is_field_name(field) {
                return Err(Error::WechatFieldName {
                    field: field.clone(),
                });
            }
            check_field_value(value).map_err(|problem| Error::WechatField {
                field: field.clone(),
                problem,
            })?;
        }
        Ok(())
    }
}

/// Builds the template-message request after validating it.
pub fn build_template_send(
    config: &WechatConfig,
    access_token: &SecretString,
    message: &TemplateMessage,
) -> Result<HttpRequest, Error> {
    message.validate()?;
    let data: serde_json::Map<String, serde_json::Value> = message
        .data
        .iter()
        .map(|(field, value)| (field.clone(), serde_json::json!({ "value": value })))
        .collect();
    let mut body = serde_json::json!({
        "touser": message.touser,
        "template_id": message.template_id,
        "client_msg_id": message.client_msg_id,
        "data": data,
    });
    if let (Some(url), Some(object)) = (&message.url, body.as_object_mut()) {
        object.insert("url".into(), url.clone().into());
    }
    Ok(HttpRequest {
        method: HttpMethod::Post,
        url: format!(
            "{}?access_token={}",
            config.url(TEMPLATE_SEND_PATH)?,
            access_token.expose_secret()
        ),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string(),
    })
}

#[derive(Deserialize)]
struct RawSendResponse {
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    msgid: Option<i64>,
}

/// Parses the template-message answer.
pub fn parse_template_send_response(body: &str) -> Result<DeliveryOutcome, Error> {
    let raw: RawSendResponse = super::from_json("wechat template send response", body)?;
    if raw.errcode != 0 {
        return Ok(DeliveryOutcome::Failed(failure(raw.errcode, raw.errmsg)));
    }
    let msgid = raw.msgid.ok_or(Error::UnexpectedResponse {
        what: "wechat template send response",
        reason: "errcode is 0 but msgid is missing",
    })?;
    Ok(DeliveryOutcome::Accepted {
        provider_message_id: msgid.to_string(),
    })
}

fn failure(errcode: i64, errmsg: String) -> ProviderFailure {
    ProviderFailure {
        code: errcode.to_string(),
        message: errmsg,
        class: classify(errcode),
    }
}

/// Classifies a WeChat `errcode` (0 is success and is not classified here).
pub fn classify(errcode: i64) -> ErrorClass {
    match errcode {
        -1 => ErrorClass::Retry,
        // Token invalid or expired: fetch once more in normal mode and retry once.
        40001 | 40014 | 42001 => ErrorClass::RefreshTokenAndRetryOnce,
        40003 => ErrorClass::PermanentForRecipient,
        // appid, template, IP whitelist, missing token, no permission; 40125 is the
        // stable_token answer for a wrong AppSecret.
        40013 | 40037 | 40125 | 40164 | 41001 | 48001 => ErrorClass::FatalConfiguration,
        // 43004: the recipient does not follow the account (fall back, e.g. to SMS);
        // 43019, 43101: blocked or refused.
        43004 | 43019 | 43101 => ErrorClass::PermanentForRecipient,
        45009 => ErrorClass::StopChannelUntilNextDay,
        45011 => ErrorClass::RetryAfterNextMinute,
        47003 => ErrorClass::InvalidContent,
        _ => ErrorClass::Unrecognized,
    }
}

/// What a `TEMPLATESENDJOBFINISH` receipt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// `success`.
    Success,
    /// `failed:user block`: the follower blocked template messages.
    UserBlock,
    /// `failed: system failed`.
    SystemFailed,
    /// Any other text, kept as sent.
    Other(String),
}

impl JobStatus {
    /// Matches loosely: WeChat's spacing and case vary (`failed: system failed`).
    pub fn parse(text: &str) -> Self {
        let squashed: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        if squashed == "success" {
            Self::Success
        } else if squashed.starts_with("failed") && squashed.contains("userblock") {
            Self::UserBlock
        } else if squashed.starts_with("failed") && squashed.contains("systemfail") {
            Self::SystemFailed
        } else {
            Self::Other(text.to_owned())
        }
    }
}

/// A template-message delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSendJobFinish {
    /// The account's original id (`gh_...`).
    pub to_user_name: String,
    /// The follower's openid. Never log it.
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: i64,
    /// The `msgid` of the send.
    pub msg_id: i64,
    /// The outcome.
    pub status: JobStatus,
    /// The status text as sent.
    pub raw_status: String,
}

impl TemplateSendJobFinish {
    /// WeChat pushes a callback up to 3 times within 5 s; this key is stable across them.
    pub fn dedup_key(&self) -> String {
        format!("{}/{}", self.from_user_name, self.create_time)
    }

    /// The provider-neutral status.
    pub fn receipt_status(&self) -> ReceiptStatus {
        match self.status {
            JobStatus::Success => ReceiptStatus::Delivered,
            _ => ReceiptStatus::NotDelivered {
                code: self.raw_status.clone(),
                description: String::new(),
            },
        }
    }
}

/// A callback pushed to our server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WechatCallback {
    /// A template-message receipt.
    TemplateSendJobFinish(TemplateSendJobFinish),
    /// Any other message or event (subscribe, text, ...): not ours to handle here, but
    /// returned rather than dropped so the caller can log and acknowledge it.
    Other {
        /// `MsgType`.
        msg_type: String,
        /// `Event`, for event messages.
        event: Option<String>,
    },
}

#[derive(Deserialize)]
struct RawCallback {
    #[serde(rename = "ToUserName")]
    to_user_name: String,
    #[serde(rename = "FromUserName")]
    from_user_name: String,
    #[serde(rename = "CreateTime")]
    create_time: i64,
    #[serde(rename = "MsgType")]
    msg_type: String,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "MsgID")]
    msg_id: Option<i64>,
    #[serde(rename = "Status")]
    status: Option<String>,
}

/// Parses a callback's XML body. Check [`verify_callback_signature`] first.
pub fn parse_callback(xml: &str) -> Result<WechatCallback, Error> {
    let raw: RawCallback = quick_xml::de::from_str(xml).map_err(Error::MalformedXml)?;
    let is_job_finish = raw.msg_type.eq_ignore_ascii_case("event")
        && raw
            .event
            .as_deref()
            .is_some_and(|event| event.eq_ignore_ascii_case("TEMPLATESENDJOBFINISH"));
    if !is_job_finish {
        return Ok(WechatCallback::Other {
            msg_type: raw.msg_type,
            event: raw.event,
        });
    }
    let (Some(msg_id), Some(raw_status)) = (raw.msg_id, raw.status) else {
        return Err(Error::UnexpectedResponse {
            what: "wechat TEMPLATESENDJOBFINISH callback",
            reason: "MsgID or Status is missing",
        });
    };
    Ok(WechatCallback::TemplateSendJobFinish(
        TemplateSendJobFinish {
            to_user_name: raw.to_user_name,
            from_user_name: raw.from_user_name,
            create_time: raw.create_time,
            msg_id,
            status: JobStatus::parse(&raw_status),
            raw_status,
        },
    ))
}

/// `sha1(sort([token, timestamp, nonce]).join(""))` in lowercase hex.
pub fn callback_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

/// Checks the `signature` query parameter of a callback against our token.
pub fn verify_callback_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    signature: &str,
) -> bool {
    let expected = callback_signature(token, timestamp, nonce);
    constant_time_eq(
        expected.as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WechatConfig {
        WechatConfig {
            endpoint: "https://api.weixin.qq.com".into(),
            app_id: "wx6f3c2a1b0e9d8c7f".into(),
            app_secret: SecretString::from("app-secret".to_owned()),
        }
    }

    #[test]
    fn stable_token_request_never_forces_a_refresh() {
        let request = build_stable_token_request(&config()).unwrap();
        assert_eq!(
            request.url,
            "https://api.weixin.qq.com/cgi-bin/stable_token"
        );
        assert_eq!(request.method, HttpMethod::Post);
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"grant_type":"client_credential","appid":"wx6f3c2a1b0e9d8c7f",
                               "secret":"app-secret","force_refresh":false})
        );
    }

    #[test]
    fn stable_token_answer_is_a_token_or_a_classified_failure() {
        let StableTokenResponse::Token(token) =
            parse_stable_token_response(r#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#)
                .unwrap()
        else {
            panic!("expected a token");
        };
        assert_eq!(token.access_token.expose_secret(), "ACCESS_TOKEN");
        assert_eq!(token.expires_in, 7200);
        let StableTokenResponse::Failed(failure) =
            parse_stable_token_response(r#"{"errcode":40164,"errmsg":"invalid ip 1.2.3.4"}"#)
                .unwrap()
        else {
            panic!("expected a failure");
        };
        assert_eq!(failure.class, ErrorClass::FatalConfiguration);
        assert!(parse_stable_token_response(r#"{"errcode":0}"#).is_err());
    }

    fn message(data: &[(&str, &str)]) -> TemplateMessage {
        TemplateMessage {
            touser: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
            template_id: "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY".into(),
            url: Some("https://fudian.example.cn/n/0192f3a1".into()),
            client_msg_id: "dlv_0192f3a1".into(),
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn template_send_body_wraps_each_field_value() {
        let token = SecretString::from("TOKEN".to_owned());
        let request = build_template_send(
            &config(),
            &token,
            &message(&[
                ("thing1", "东城区西四路"),
                ("time2", "2026年11月26日 14:00"),
            ]),
        )
        .unwrap();
        assert_eq!(
            request.url,
            "https://api.weixin.qq.com/cgi-bin/message/template/send?access_token=TOKEN"
        );
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "touser": "oia2TjuEGTNoeX76QEjQNrcURxG8",
                "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
                "url": "https://fudian.example.cn/n/0192f3a1",
                "client_msg_id": "dlv_0192f3a1",
                "data": {"thing1": {"value": "东城区西四路"}, "time2": {"value": "2026年11月26日 14:00"}}
            })
        );
    }

    #[test]
    fn twenty_chinese_characters_pass_and_twenty_one_fail_naming_the_field() {
        let twenty = "东".repeat(20); // 60 bytes, 20 chars
        assert!(message(&[("thing1", &twenty)]).validate().is_ok());
        let twenty_one = "东".repeat(21);
        let err = message(&[("thing1", "ok"), ("thing3", &twenty_one)])
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "wechat field thing3 is 21 characters long, at most 20 are allowed"
        );
    }

    #[test]
    fn line_breaks_in_a_field_are_refused() {
        let err = message(&[("thing1", "东城区\n西四路")])
            .validate()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::WechatField { ref field, problem: FieldProblem::LineBreak } if field == "thing1"
        ));
        assert!(message(&[("thing1", "东城区\r西四路")]).validate().is_err());
        assert!(message(&[("thing 1", "x")]).validate().is_err());
        assert_eq!(
            message(&[("thing2", " ")])
                .validate()
                .unwrap_err()
                .to_string(),
            "wechat field thing2 is empty"
        );
    }

    #[test]
    fn send_answer_gives_the_msgid_or_the_classified_errcode() {
        assert_eq!(
            parse_template_send_response(r#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#)
                .unwrap(),
            DeliveryOutcome::Accepted {
                provider_message_id: "200228332".into()
            }
        );
        let outcome =
            parse_template_send_response(r#"{"errcode":43004,"errmsg":"require subscribe"}"#)
                .unwrap();
        assert_eq!(
            outcome.error_class(),
            Some(ErrorClass::PermanentForRecipient)
        );
    }

    #[test]
    fn errcode_table_matches_providers_md() {
        let table = [
            (-1, ErrorClass::Retry),
            (40001, ErrorClass::RefreshTokenAndRetryOnce),
            (40014, ErrorClass::RefreshTokenAndRetryOnce),
            (42001, ErrorClass::RefreshTokenAndRetryOnce),
            (40003, ErrorClass::PermanentForRecipient),
            (40013, ErrorClass::FatalConfiguration),
            (40037, ErrorClass::FatalConfiguration),
            (40164, ErrorClass::FatalConfiguration),
            (41001, ErrorClass::FatalConfiguration),
            (48001, ErrorClass::FatalConfiguration),
            (43004, ErrorClass::PermanentForRecipient),
            (43019, ErrorClass::PermanentForRecipient),
            (43101, ErrorClass::PermanentForRecipient),
            (45009, ErrorClass::StopChannelUntilNextDay),
            (45011, ErrorClass::RetryAfterNextMinute),
            (47003, ErrorClass::InvalidContent),
            (99999, ErrorClass::Unrecognized),
        ];
        for (code, class) in table {
            assert_eq!(classify(code), class, "{code}");
        }
        assert!(classify(43004).falls_back());
        assert!(classify(45009).falls_back());
    }

    const RECEIPT: &str = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>
<CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>
<Status><![CDATA[success]]></Status></xml>";

    #[test]
    fn documented_receipt_xml_is_parsed() {
        let WechatCallback::TemplateSendJobFinish(receipt) = parse_callback(RECEIPT).unwrap()
        else {
            panic!("expected a job-finish receipt");
        };
        assert_eq!(receipt.to_user_name, "gh_7f083739789a");
        assert_eq!(receipt.from_user_name, "oia2TjuEGTNoeX76QEjQNrcURxG8");
        assert_eq!(receipt.create_time, 1_395_658_920);
        assert_eq!(receipt.msg_id, 200_163_836);
        assert_eq!(receipt.status, JobStatus::Success);
        assert_eq!(receipt.receipt_status(), ReceiptStatus::Delivered);
        assert_eq!(
            receipt.dedup_key(),
            "oia2TjuEGTNoeX76QEjQNrcURxG8/1395658920"
        );
    }

    #[test]
    fn failure_statuses_are_matched_loosely() {
        assert_eq!(JobStatus::parse("failed:user block"), JobStatus::UserBlock);
        assert_eq!(JobStatus::parse("failed: user block"), JobStatus::UserBlock);
        assert_eq!(
            JobStatus::parse("failed: system failed"),
            JobStatus::SystemFailed
        );
        assert_eq!(
            JobStatus::parse("Failed:System Failed"),
            JobStatus::SystemFailed
        );
        assert_eq!(JobStatus::parse("SUCCESS"), JobStatus::Success);
        assert_eq!(
            JobStatus::parse("pending"),
            JobStatus::Other("pending".into())
        );
        let xml = RECEIPT.replace("[success]", "[failed: system failed]");
        let WechatCallback::TemplateSendJobFinish(receipt) = parse_callback(&xml).unwrap() else {
            panic!("expected a job-finish receipt");
        };
        assert_eq!(
            receipt.receipt_status(),
            ReceiptStatus::NotDelivered {
                code: "failed: system failed".into(),
                description: String::new()
            }
        );
    }

    #[test]
    fn other_events_are_returned_not_dropped() {
        let xml = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\
            <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
            <CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>\
            <Event><![CDATA[subscribe]]></Event></xml>";
        assert_eq!(
            parse_callback(xml).unwrap(),
            WechatCallback::Other {
                msg_type: "event".into(),
                event: Some("subscribe".into())
            }
        );
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(matches!(
            parse_callback("<xml><ToUserName>").unwrap_err(),
            Error::MalformedXml(_)
        ));
    }

    #[test]
    fn callback_signature_is_sha1_of_the_sorted_joined_parts() {
        // Expected value computed independently: python3 hashlib.sha1 of the sorted join.
        let expected = "bbc157894f21bb27262d0b6cee702625b4209232";
        assert_eq!(
            callback_signature("fudian_callback_token", "1795672800", "1462829364"),
            expected
        );
        assert!(verify_callback_signature(
            "fudian_callback_token",
            "1795672800",
            "1462829364",
            expected
        ));
        assert!(!verify_callback_signature(
            "fudian_callback_token",
            "1795672801",
            "1462829364",
            expected
        ));
        assert!(!verify_callback_signature(
            "other_token",
            "1795672800",
            "1462829364",
            expected
        ));
    }
}
