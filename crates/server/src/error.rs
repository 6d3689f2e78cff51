//! API errors: one enum, rendered as `{"error": {"code", "message"}}` with its status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use breakwater_store::StoreError;
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("this key's role ({0}) may not do this")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Internal(detail) = &self {
            // Internal details go to the log, never to the caller.
            eprintln!("{}", json!({"level": "error", "error": detail}));
        }
        (
            status,
            axum::Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::InvalidCursor => ApiError::BadRequest("invalid cursor".into()),
            StoreError::Invalid(m) => ApiError::Unprocessable(m),
            StoreError::NotClaimant => ApiError::Conflict(e.to_string()),
            StoreError::SameReviewer => ApiError::Conflict(e.to_string()),
            StoreError::Database(m) | StoreError::Migration(m) => ApiError::Internal(m),
        }
    }
}
