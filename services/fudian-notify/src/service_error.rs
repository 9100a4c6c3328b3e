//! The service's errors: [`ServiceError`] for the consumer, the sender pool and the store
//! code, and [`ApiError`] with the one place that maps errors to HTTP statuses. (The pure
//! core's [`crate::Error`] stays separate: it never does IO.)

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fudian_store::StoreError;

/// Why the service could not plan, send or record something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("notify core: {0}")]
    Core(#[from] crate::Error),
    #[error("the store backend is neither postgresql nor sqlite")]
    UnsupportedBackend,
}

impl ServiceError {
    /// Whether trying again later may succeed (the database was busy or away).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) => error.is_transient(),
            Self::Sql(_) => true,
            _ => false,
        }
    }
}

/// An HTTP request that failed, with its status and a message for the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("signature check failed")]
    Forbidden,
    #[error("too many requests from this client, try again in a minute")]
    TooManyRequests,
    #[error("internal error")]
    Internal(#[from] ServiceError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Internal(ServiceError::Store(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // Logged here, where it is handled; the caller only sees that it failed.
            tracing::error!(error = %error, "notify api request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
