//! The planner's errors: [`PlannerError`] for the pure core, [`ServiceError`] for the
//! store code, and [`ApiError`] with the one place that maps errors to HTTP statuses.

use crate::core::job::JobState;

/// Everything the planner core refuses, with what was wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum PlannerError {
    #[error("job {job}: {field} is invalid: {reason}")]
    InvalidJob {
        job: String,
        field: &'static str,
        reason: String,
    },
    #[error(
        "job {job}: element {element} is not a line, transformer, switch or bus (with a line or transformer) of the grid"
    )]
    UnknownElement { job: String, element: String },
    #[error("job {job}: cannot {action} a job that is {state:?}")]
    InvalidTransition {
        job: String,
        state: JobState,
        action: &'static str,
    },
    #[error("job {job}: {what} needs a reason")]
    ReasonRequired { job: String, what: &'static str },
    #[error("job {job}: assessment is for job {assessed}")]
    AssessmentMismatch { job: String, assessed: String },
    #[error(
        "job {job}: {needed} customer-hours exceed the {remaining} left in area {area}; approve with an override reason"
    )]
    OverBudget {
        job: String,
        area: String,
        needed: f64,
        remaining: f64,
    },
    #[error("area {area} has no budget")]
    UnknownArea { area: String },
    #[error("job {job}: date {date} is outside its window {earliest}..={latest}")]
    OutsideWindow {
        job: String,
        date: chrono::NaiveDate,
        earliest: chrono::NaiveDate,
        latest: chrono::NaiveDate,
    },
    #[error("budget: {0}")]
    Reliability(#[from] fudian_reliability::ReliabilityError),
}

pub type Result<T, E = PlannerError> = std::result::Result<T, E>;

/// Why the service could not read or persist something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("store: {0}")]
    Store(#[from] fudian_store::StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored job {job} is unreadable: {reason}")]
    BadRecord { job: String, reason: String },
    #[error("the store backend is neither postgresql nor sqlite")]
    UnsupportedBackend,
}

impl ServiceError {
    /// Whether trying again later may succeed (the database was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Sql(_))
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
    /// The request is valid but the job's state or the budget refuses it.
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal(#[from] ServiceError),
}

impl ApiError {
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<PlannerError> for ApiError {
    fn from(error: PlannerError) -> Self {
        match error {
            PlannerError::InvalidTransition { .. } | PlannerError::OverBudget { .. } => {
                Self::Conflict(error.to_string())
            }
            _ => Self::BadRequest(error.to_string()),
        }
    }
}

impl From<fudian_store::StoreError> for ApiError {
    fn from(error: fudian_store::StoreError) -> Self {
        Self::Internal(ServiceError::Store(error))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(ServiceError::Sql(error))
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        if let Self::Internal(error) = &self {
            // Logged here, where it is handled; the caller only sees that it failed.
            tracing::error!(error = %error, "planner api request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
    }
}
