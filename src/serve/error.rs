//! API errors: always JSON `{"error": "<code>", "message": "..."}`, the status fixed by the
//! code. [`ErrorCode::ALL`] is every code the server answers with; README's error table lists
//! the same (a unit test checks).

use axum::extract::rejection::PathRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::reservation_store::CoreError;
use crate::reserve::{FieldError, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    MalformedJson,
    BadBody,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    InsufficientStock,
    IdempotencyKeyReused,
    NotHeld,
    Expired,
    BelowReserved,
    BodyTooLarge,
    InvalidField,
    UnknownStock,
    InvalidCommit,
    RateLimited,
    Unavailable,
    Overloaded,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::MalformedJson,
        ErrorCode::BadBody,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::InsufficientStock,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::NotHeld,
        ErrorCode::Expired,
        ErrorCode::BelowReserved,
        ErrorCode::BodyTooLarge,
        ErrorCode::InvalidField,
        ErrorCode::UnknownStock,
        ErrorCode::InvalidCommit,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Overloaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::InsufficientStock => "insufficient_stock",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::NotHeld => "not_held",
            ErrorCode::Expired => "expired",
            ErrorCode::BelowReserved => "below_reserved",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownStock => "unknown_stock",
            ErrorCode::InvalidCommit => "invalid_commit",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Overloaded => "overloaded",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedJson | ErrorCode::BadBody => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InsufficientStock
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::NotHeld
            | ErrorCode::Expired
            | ErrorCode::BelowReserved => StatusCode::CONFLICT,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidField | ErrorCode::UnknownStock | ErrorCode::InvalidCommit => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable | ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn of_refusal(refusal: &Refusal) -> ErrorCode {
        match refusal {
            Refusal::InsufficientStock(_) => ErrorCode::InsufficientStock,
            Refusal::UnknownStock(_) => ErrorCode::UnknownStock,
            Refusal::IdempotencyMismatch(_) => ErrorCode::IdempotencyKeyReused,
            Refusal::NotFound(_) => ErrorCode::NotFound,
            Refusal::NotHeld {
                status: crate::reserve::Status::Expired,
                ..
            } => ErrorCode::Expired,
            Refusal::NotHeld { .. } => ErrorCode::NotHeld,
            Refusal::BadCommit(_) => ErrorCode::InvalidCommit,
            Refusal::BelowReserved(_) => ErrorCode::BelowReserved,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra top-level fields (the shortage lines of a 409).
    pub extra: Option<(&'static str, Value)>,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            extra: None,
            retry_after_seconds: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            ErrorCode::Unauthorized,
            "a valid bearer API key is required",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            ErrorCode::Forbidden,
            "this key's role does not allow this request",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unavailable, message)
    }

    pub fn field(error: FieldError) -> ApiError {
        let mut api = ApiError::new(ErrorCode::InvalidField, error.to_string());
        api.extra = Some(("field", Value::String(error.field)));
        api
    }

    /// A path parameter axum could not decode (percent-encoded bytes that are not UTF-8).
    pub fn path(field: &str, _rejection: PathRejection) -> ApiError {
        ApiError::field(FieldError {
            field: field.to_string(),
            message: "not a valid path segment (percent-encoded text must be UTF-8)".to_string(),
        })
    }
}

/// The body an error answers with, also written by hand where no router runs (a connection
/// refused at the limit).
pub fn error_body(code: ErrorCode, message: &str) -> Value {
    json!({"error": code.as_str(), "message": message})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = error_body(self.code, &self.message);
        if let Some((name, value)) = self.extra {
            body[name] = value;
        }
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits"),
            );
        }
        if self.code == ErrorCode::RequestTimeout {
            // The rest of the body may still arrive: the connection cannot carry another
            // request after it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let mut api = ApiError::new(ErrorCode::of_refusal(&refusal), refusal.to_string());
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
            CoreError::Invalid(field) => ApiError::field(field),
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
/// field is a 422 naming the field (`lines[0].qty`). Messages speak JSON (object, array, whole
/// number), never the Rust type behind the body.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |error: serde_json::Error| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!(
                "request body is not valid JSON: {}",
                describe(&error, position(&error))
            ),
        )
    };
    let wrong_field = |path: String, error: &serde_json::Error, at: Option<(usize, usize)>| {
        ApiError::field(FieldError {
            field: if path == "." {
                "body".to_string()
            } else {
                path
            },
            message: describe(error, at),
        })
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if !(inner.is_syntax() || inner.is_eof()) {
                return Err(wrong_field(path, &inner, position(&inner)));
            }
            // serde_json reports some type mismatches (a number where an enum's name goes)
            // as syntax errors. Well-formed JSON is a wrong field, whose message the
            // `Value` route gives in type terms; only this rare path parses twice.
            if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                return Err(malformed(syntax));
            }
            let tree: Value = serde_json::from_slice(bytes).map_err(malformed)?;
            return Err(match serde_path_to_error::deserialize::<_, T>(tree) {
                Err(typed) => {
                    let path = typed.path().to_string();
                    wrong_field(path, typed.inner(), position(&inner))
                }
                Ok(_) => wrong_field(path, &inner, position(&inner)),
            });
        }
    };
    deserializer.end().map_err(malformed)?;
    Ok(value)
}

fn position(error: &serde_json::Error) -> Option<(usize, usize)> {
    (error.line() > 0).then(|| (error.line(), error.column()))
}

/// serde_json's message with its position as "line L, column C" and the Rust type names serde
/// puts in it ("expected struct ReserveRequest", "expected i64") said in JSON terms.
fn describe(error: &serde_json::Error, at: Option<(usize, usize)>) -> String {
    let text = error.to_string();
    let own_position = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&own_position).unwrap_or(&text);
    let message = json_words(&message.replace("string or map", "a string"));
    match at {
        Some((line, column)) => format!("{message} (line {line}, column {column})"),
        None => message,
    }
}

fn json_words(message: &str) -> String {
    let words: Vec<&str> = message.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let is_type_name = |word: &str| {
        let name = word.trim_end_matches([',', '.', ';']);
        name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let tail = |word: &str| {
        let name = word.trim_end_matches([',', '.', ';']);
        word[name.len()..].to_string()
    };
    let mut index = 0;
    while index < words.len() {
        let word = words[index];
        let next = words.get(index + 1).copied();
        let after = words.get(index + 2).copied();
        // "tuple struct X" / "unit struct X" / "struct X" / "enum X"
        if let (Some("struct"), Some(name)) = (next, after) {
            if is_type_name(name) && (word == "tuple" || word == "unit") {
                let plain = if word == "tuple" { "an array" } else { "null" };
                out.push(format!("{plain}{}", tail(name)));
                index += 3;
                continue;
            }
        }
        if let Some(name) = next {
            if (word == "struct" || word == "enum") && is_type_name(name) {
                let plain = if word == "struct" {
                    "an object"
                } else {
                    "a string"
                };
                out.push(format!("{plain}{}", tail(name)));
                index += 2;
                continue;
            }
            if word == "a" {
                let bare = name.trim_end_matches([',', '.', ';']);
                let plain = match bare {
                    "sequence" => Some("an array"),
                    "map" => Some("an object"),
                    _ => None,
                };
                if let Some(plain) = plain {
                    out.push(format!("{plain}{}", tail(name)));
                    index += 2;
                    continue;
                }
            }
        }
        let bare = word.trim_end_matches([',', '.', ';']);
        let plain = match bare {
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64"
            | "u128" | "usize" => Some("a whole number"),
            "f32" | "f64" => Some("a number"),
            "option" => Some("a value or null"),
            _ => None,
        };
        match plain {
            Some(plain) => out.push(format!("{plain}{}", tail(word))),
            None => out.push(word.to_string()),
        }
        index += 1;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reserve::{Adjustment, ReserveRequest};

    fn message(result: Result<impl std::fmt::Debug, ApiError>) -> (ErrorCode, String, Value) {
        let error = result.unwrap_err();
        let field = error.extra.clone().map(|(_, v)| v).unwrap_or(Value::Null);
        (error.code, error.message, field)
    }

    #[test]
    fn json_errors_name_the_field_and_no_rust_type() {
        let cases: Vec<(&str, (ErrorCode, Value), &str)> = vec![
            (
                r#""hello""#,
                (ErrorCode::InvalidField, json!("body")),
                "expected an object",
            ),
            (
                r#"{"idempotency_key": "a", "ttl_seconds": "60", "lines": []}"#,
                (ErrorCode::InvalidField, json!("ttl_seconds")),
                "expected a whole number",
            ),
            (
                r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": {}}"#,
                (ErrorCode::InvalidField, json!("lines")),
                "expected an array",
            ),
            (
                r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": [7]}"#,
                (ErrorCode::InvalidField, json!("lines[0]")),
                "expected an object",
            ),
            (
                r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": [{"sku": "S", "warehouse": "W", "qty": 1e30}]}"#,
                (ErrorCode::InvalidField, json!("lines[0].qty")),
                "expected a whole number",
            ),
        ];
        for (body, (code, field), expected) in cases {
            let (got_code, text, got_field) =
                message(parse_json::<ReserveRequest>(body.as_bytes()));
            assert_eq!((got_code, got_field), (code, field), "{body}: {text}");
            assert!(text.contains(expected), "{body}: {text}");
            assert!(text.contains("(line 1, column "), "{body}: {text}");
            for rust in ["struct", "ReserveRequest", "LineRequest", "i64", "sequence"] {
                assert!(!text.contains(rust), "{body}: {text}");
            }
        }
        let (code, text, field) = message(parse_json::<Vec<Adjustment>>(
            br#"[{"sku": "S", "warehouse": "W", "kind": 3, "qty": 1}]"#,
        ));
        assert_eq!((code, field), (ErrorCode::InvalidField, json!("[0].kind")));
        assert!(!text.contains("AdjustmentKind"), "{text}");
        let (code, text, _) = message(parse_json::<ReserveRequest>(b"{\"idempotency_key\": "));
        assert_eq!(code, ErrorCode::MalformedJson);
        assert!(text.contains("line 1, column 20"), "{text}");
    }

    #[test]
    fn refusal_codes_are_the_api_codes() {
        use crate::reserve::{Shortage, Status, StockKey};
        let key = StockKey::new("S", "W");
        for refusal in [
            Refusal::InsufficientStock(vec![Shortage {
                sku: "S".into(),
                warehouse: "W".into(),
                requested: 2,
                available: 1,
            }]),
            Refusal::UnknownStock(vec![key.clone()]),
            Refusal::IdempotencyMismatch("k".into()),
            Refusal::NotFound("r".into()),
            Refusal::NotHeld {
                id: "r".into(),
                status: Status::Expired,
            },
            Refusal::NotHeld {
                id: "r".into(),
                status: Status::Released,
            },
            Refusal::BadCommit("x".into()),
            Refusal::BelowReserved(vec![key]),
        ] {
            assert_eq!(ErrorCode::of_refusal(&refusal).as_str(), refusal.code());
        }
    }

    /// README's error table has one row per code, with the code's status, and nothing else.
    #[test]
    fn readme_lists_every_error_code_with_its_status() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("<!-- error-codes -->")
            .expect("README marks its error table");
        let end = readme[start..]
            .find("<!-- /error-codes -->")
            .expect("README closes its error table")
            + start;
        let rows: Vec<(String, u16)> = readme[start..end]
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells[1].trim_matches('`').to_string();
                let status: u16 = cells[2].parse().expect("a status in the second column");
                (code, status)
            })
            .collect();
        let mut expected: Vec<(String, u16)> = ErrorCode::ALL
            .iter()
            .map(|code| (code.as_str().to_string(), code.status().as_u16()))
            .collect();
        let mut listed = rows.clone();
        expected.sort();
        listed.sort();
        assert_eq!(listed, expected);
    }
}
