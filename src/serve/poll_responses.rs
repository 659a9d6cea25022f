//! `/v1/poll-responses`: the survey tool's bulk webhook. Records are validated by the same
//! rules as `poll_responses.csv` (ingest's validator); good ones load, bad ones come back with
//! their index and reason, like a quarantine file.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use super::caller::Caller;
use super::error::{parse_json, storage, ApiError};
use super::{body, AppState};
use crate::contract::Table;
use crate::ingest::load_records;
use crate::keys::Action;
use crate::reserve::limits::check_no_control;
use crate::reserve::FieldError;

/// A control character in any key or text value of any record is a 422 naming it
/// (`[3].sku`), like every other route, before the store sees it.
fn check_record_text(records: &[Map<String, Value>]) -> Result<(), ApiError> {
    for (index, record) in records.iter().enumerate() {
        for (key, value) in record {
            let field = format!("[{index}].{key}");
            check_no_control(&field, key).map_err(ApiError::field)?;
            if let Value::String(text) = value {
                check_no_control(&field, text).map_err(ApiError::field)?;
            }
        }
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/poll-responses",
    summary = "Bulk poll responses, validated like poll_responses.csv. Roles: poller, admin.",
    request_body = Vec<Object>,
    responses((status = 200, description = "{received, loaded, rejected: [{index, reason}]}"))
)]
pub async fn post(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::PostPollResponses)?;
    let records: Vec<Map<String, Value>> = parse_json(&body(bytes)?)?;
    if records.is_empty() || records.len() > state.config.max_poll_records {
        return Err(ApiError::field(FieldError {
            field: "[]".into(),
            message: format!(
                "between 1 and {} records per request, got {}",
                state.config.max_poll_records,
                records.len()
            ),
        }));
    }
    check_record_text(&records)?;
    let report = load_records(&state.store, Table::PollResponses, &records)
        .await
        .map_err(storage)?;
    Ok(Json(report).into_response())
}
