//! fudian-notify: the customer-notification service of fudian.
//!
//! For now this crate holds only the service's pure core; the HTTP client, the queue
//! consumer and the store are wired in later. What is here:
//! - [`providers`]: request builders, signatures, response and receipt parsing for
//!   Tencent Cloud SMS, Alibaba Cloud SMS, WeChat template messages and app webhooks.
//!   Every builder returns a plain [`providers::HttpRequest`] value; nothing does IO.
//! - [`classify`]: the outcome and error classes every provider maps its codes onto,
//!   so the sender decides retry, deferral or fallback in one place.
//! - [`templates`]: notice templates in Chinese, loaded from a folder operations can edit
//!   without a rebuild, rendered per channel.
//! - [`error`]: the crate's single error type.

pub mod classify;
pub mod error;
pub mod providers;
pub mod templates;

pub use classify::{DeliveryOutcome, ErrorClass, ProviderFailure, ReceiptStatus};
pub use error::Error;
