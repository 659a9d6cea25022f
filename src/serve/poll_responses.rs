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
use crate::reserve::FieldError;

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
    let report = load_records(&state.store, Table::PollResponses, &records)
        .await
        .map_err(storage)?;
    Ok(Json(report).into_response())
}
