//! The one error type of the JSON API and sync: every failure becomes a status and a JSON body
//! `{"error": "..."}` that says what to do. A domain [`Refusal`] is a 400 with its reason; any
//! other domain error is a 500 that says to try again (and is logged).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use signpost_domain::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is ambiguous as the data stands (an entry id held by several schemes).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A body over the 64 KiB every request is held to.
    #[error("{0}")]
    TooLarge(String),
    /// A body that did not arrive whole before its deadline.
    #[error("{0}")]
    Timeout(String),
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        ApiError::BadRequest(r.en)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        match e.downcast::<Refusal>() {
            Ok(r) => r.into(),
            Err(e) => ApiError::Internal(e),
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do about it.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self {
            ApiError::Internal(_) => {
                "the server failed to handle this request; try again, and report it if it persists".to_owned()
            }
            other => other.to_string(),
        };
        let mut res = (status, Json(ErrorBody { error: message })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// A JSON body that could not be taken: too large (413), too slow to arrive (408), or not what
/// was `expected` (400).
pub fn json_rejected(e: axum::extract::rejection::JsonRejection, expected: &str) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("The request body is too large (64 KiB at most).".into())
    } else if crate::listen::body_timed_out(&e) {
        ApiError::Timeout("The request body did not arrive in time; send it again.".into())
    } else {
        ApiError::BadRequest(format!("{}; expected {expected}", e.body_text()))
    }
}
