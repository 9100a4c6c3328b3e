//! The service's errors: [`ServiceError`] for the consumer, timer and store code, and
//! [`ApiError`] with the one place that maps errors to HTTP statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fudian_store::StoreError;

use crate::core::error::DispatchError;
use crate::model::ModelError;

/// Why the service could not apply or persist something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("json: {0}")]
    Json(serde_json::Error),
    #[error("dispatch: {0}")]
    Model(#[from] ModelError),
    #[error("dispatch: {0}")]
    Core(#[from] DispatchError),
    #[error("stored row is unreadable: {0}")]
    BadRow(String),
    #[error("the store backend is neither postgresql nor sqlite")]
    UnsupportedBackend,
}

/// An HTTP request that failed, with its status and a message for the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal(#[from] ServiceError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        let message = error.to_string();
        match error {
            ModelError::UnknownCrew(_) | ModelError::UnknownWorkOrder(_) => Self::NotFound(message),
            ModelError::NoOrder { .. } | ModelError::Conflict(_) => Self::Conflict(message),
            ModelError::Core(DispatchError::InvalidTransition { .. }) => Self::Conflict(message),
            _ => Self::BadRequest(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // Logged here, where it is handled; the caller only sees that it failed.
            tracing::error!(error = %error, "dispatch api request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
