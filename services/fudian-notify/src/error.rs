//! The crate's single error type. Messages never contain phone numbers, openids or
//! secrets: they end up in logs.

use std::path::PathBuf;

use crate::providers::wechat::FieldProblem;

/// Everything that can go wrong in the notify core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A provider endpoint in the configuration is not an http(s) URL with a host.
    #[error(
        "invalid endpoint url {url:?}: expected http:// or https:// followed by a host and no path"
    )]
    InvalidEndpoint {
        /// The configured value.
        url: String,
    },
    /// A Unix timestamp outside what a date can hold.
    #[error("timestamp {0} is out of range")]
    TimestampOutOfRange(i64),
    /// A send without recipients.
    #[error("no phone numbers to send to")]
    NoRecipients,
    /// More numbers than the provider accepts in one request.
    #[error("too many phone numbers: {count}, the provider accepts at most {max} per request")]
    TooManyRecipients {
        /// Numbers given.
        count: usize,
        /// The provider's limit.
        max: usize,
    },
    /// A malformed phone number, named by its position only.
    #[error("phone number at position {index} is malformed")]
    InvalidPhoneNumber {
        /// Zero-based position in the request.
        index: usize,
    },
    /// Encoding a request body failed.
    #[error("failed to encode {what}: {source}")]
    EncodeJson {
        /// Which body.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A provider's JSON did not have the documented shape.
    #[error("malformed {what}: {source}")]
    MalformedJson {
        /// Which answer or callback.
        what: &'static str,
        /// The cause, with the path of the offending field.
        #[source]
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    /// A provider's XML callback could not be read.
    #[error("malformed wechat callback xml: {0}")]
    MalformedXml(#[source] quick_xml::DeError),
    /// A provider's answer parsed but is missing what it must carry.
    #[error("unexpected {what}: {reason}")]
    UnexpectedResponse {
        /// Which answer or callback.
        what: &'static str,
        /// What is missing.
        reason: &'static str,
    },
    /// A WeChat template message without fields.
    #[error("wechat template message has no fields")]
    WechatNoFields,
    /// A WeChat field key that is not letters, digits and `_`.
    #[error("invalid wechat field name {field:?}")]
    WechatFieldName {
        /// The key.
        field: String,
    },
    /// A WeChat field value breaking the 20-character, no-line-break rule.
    #[error("wechat field {field} {problem}")]
    WechatField {
        /// The key.
        field: String,
        /// What is wrong.
        problem: FieldProblem,
    },
    /// A webhook secret that is not `whsec_` + base64.
    #[error("invalid webhook secret: {reason}")]
    InvalidWebhookSecret {
        /// What is wrong.
        reason: String,
    },
    /// The template folder or one of its files could not be read.
    #[error("failed to read templates at {path}: {source}")]
    TemplateIo {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file in the template folder that is not a known channel/kind.
    #[error("unexpected template file {file}: {reason}")]
    UnexpectedTemplateFile {
        /// Path relative to the template folder.
        file: String,
        /// What was expected instead.
        reason: String,
    },
    /// A template failed to parse or render.
    #[error("template {file}: {source:#}")]
    Template {
        /// Path relative to the template folder.
        file: String,
        /// minijinja's error, with line information.
        #[source]
        source: minijinja::Error,
    },
    /// No template for this channel and notice kind.
    #[error("no template {file}")]
    TemplateMissing {
        /// The expected path relative to the template folder.
        file: String,
    },
    /// A rendered template that does not have the channel's shape.
    #[error("template {file}: {reason}")]
    TemplateOutput {
        /// Path relative to the template folder.
        file: String,
        /// What is wrong with the output.
        reason: String,
    },
    /// A rendered WeChat field breaking the field rules.
    #[error("template {file}: field {field} {problem}")]
    TemplateField {
        /// Path relative to the template folder.
        file: String,
        /// The field key.
        field: String,
        /// What is wrong.
        problem: FieldProblem,
    },
    /// A notice variable that the channel's rules forbid.
    #[error("notice variable {variable} {reason}")]
    InvalidVariable {
        /// The variable's name.
        variable: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Whether trying the same thing again may succeed. Nothing in this pure core is:
    /// transient provider conditions arrive as [`crate::ErrorClass`] values instead.
    pub fn is_transient(&self) -> bool {
        false
    }
}
