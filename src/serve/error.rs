//! API errors: always JSON `{"error": "<code>", "message": "..."}` with the right status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::reservation_store::CoreError;
use crate::reserve::{FieldError, Refusal};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra top-level fields (the shortage lines of a 409).
    pub extra: Option<(&'static str, Value)>,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
            retry_after_seconds: None,
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer API key is required",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this key's role does not allow this request",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn field(error: FieldError) -> ApiError {
        let mut api = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            error.to_string(),
        );
        api.extra = Some(("field", Value::String(error.field)));
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code, "message": self.message});
        if let Some((name, value)) = self.extra {
            body[name] = value;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits"),
            );
        }
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let status = match &refusal {
            Refusal::InsufficientStock(_)
            | Refusal::IdempotencyMismatch(_)
            | Refusal::NotHeld { .. }
            | Refusal::BelowReserved(_) => StatusCode::CONFLICT,
            Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            Refusal::UnknownStock(_) | Refusal::BadCommit(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut api = ApiError::new(status, refusal.code(), refusal.to_string());
        match &refusal {
            Refusal::InsufficientStock(lines) => {
                api.extra = Some(("lines", serde_json::to_value(lines).expect("serialise")));
            }
            Refusal::UnknownStock(keys) | Refusal::BelowReserved(keys) => {
                api.extra = Some(("lines", serde_json::to_value(keys).expect("serialise")));
            }
            _ => {}
        }
        api
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> ApiError {
        match error {
            CoreError::Refused(refusal) => refusal.into(),
            CoreError::Storage(_) => {
                tracing::error!("{error}");
                ApiError::unavailable(
                    "the reservation store is unavailable; retry with the same idempotency key",
                )
            }
            CoreError::ShuttingDown => ApiError::unavailable("the service is shutting down"),
        }
    }
}

/// Logs a storage error and answers 503 without leaking its text.
pub fn storage(error: impl std::fmt::Display) -> ApiError {
    tracing::error!("storage error: {error}");
    ApiError::unavailable("storage error")
}

/// Parses a JSON body: malformed JSON is a 400, a well-formed body with a wrong or missing
/// field is a 422 naming the field (`lines[0].qty`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |error: serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("request body is not valid JSON: {error}"),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            malformed(inner)
        } else {
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::field(FieldError {
                field,
                message: inner.to_string(),
            })
        }
    })?;
    deserializer.end().map_err(malformed)?;
    Ok(value)
}
