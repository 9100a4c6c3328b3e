//! The service's errors: [`OutageError`] for the consumer, timers and store code, and
//! [`ApiError`] with the one place that maps errors to HTTP statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fudian_store::StoreError;

use crate::engine::EngineError;

/// Why the service could not apply or persist something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutageError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("json: {0}")]
    Json(serde_json::Error),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("journal row {seq} is unreadable: {reason}")]
    BadJournal { seq: i64, reason: String },
    #[error("event {0} was processed before but the engine no longer remembers it")]
    ForgottenDuplicate(String),
    #[error("the store backend is neither postgresql nor sqlite")]
    UnsupportedBackend,
}

/// An HTTP request that failed, with its status and a message for the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown incident `{0}`")]
    UnknownIncident(String),
    #[error("unknown customer `{0}`")]
    UnknownCustomer(String),
    #[error("internal error")]
    Internal(#[from] OutageError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnknownIncident(_) | Self::UnknownCustomer(_) => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Internal(OutageError::Store(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // Logged here, where it is handled; the caller only sees that it failed.
            tracing::error!(error = %error, "outage api request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
