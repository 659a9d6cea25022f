//! `/v1/reservations`: create, read, commit, release, extend.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::caller::Caller;
use super::error::{parse_json, storage, ApiError};
use super::openapi::ErrorBody;
use super::{body, AppState};
use crate::keys::Action;
use crate::reservation_store::{get_reservation, CoreError};
use crate::reserve::limits::{check_id, check_lines, check_reserve, check_ttl};
use crate::reserve::{LineRequest, Operation, Outcome, Request, Reservation, ReserveRequest};

const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn outcome_name(result: &Result<Outcome, CoreError>) -> &'static str {
    match result {
        Ok(Outcome::Reservation { replayed: true, .. }) => "replayed",
        Ok(_) => "ok",
        Err(CoreError::Refused(refusal)) => refusal.code(),
        Err(CoreError::Invalid(_)) => "invalid_field",
        Err(CoreError::Storage(_)) => "storage_error",
        Err(CoreError::ShuttingDown) => "shutting_down",
    }
}

async fn submit(
    state: &AppState,
    caller: &Caller,
    name: &'static str,
    operation: Operation,
    created: StatusCode,
) -> Result<Response, ApiError> {
    let result = state
        .reserver
        .submit(Request {
            who: caller.key.id.clone(),
            operation,
        })
        .await;
    state.http_metrics.outcome(name, outcome_name(&result));
    match result? {
        Outcome::Reservation {
            reservation,
            replayed,
        } => {
            let view = reservation.as_of(state.clock.now());
            let mut response = (created, Json(view)).into_response();
            if replayed {
                response
                    .headers_mut()
                    .insert(REPLAYED, HeaderValue::from_static("true"));
            }
            Ok(response)
        }
        Outcome::Adjusted(_) => unreachable!("reservation routes never adjust stock"),
    }
}

/// The `{id}` of a reservation route, checked before anything reads the store.
fn reservation_id(
    path: Result<Path<String>, PathRejection>,
    state: &AppState,
) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|rejection| ApiError::path("id", rejection))?;
    check_id("id", &id, &state.config.limits).map_err(ApiError::field)?;
    Ok(id)
}

#[utoipa::path(
    post,
    path = "/v1/reservations",
    summary = "Hold stock (all lines or none). Roles: service, admin.",
    request_body = ReserveRequest,
    responses(
        (status = 201, body = Reservation, description = "held (or the original result of a retried idempotency key; header Idempotent-Replayed: true)"),
        (status = 409, body = ErrorBody, description = "insufficient_stock (with lines) or idempotency_key_reused"),
        (status = 422, body = ErrorBody, description = "invalid_field naming the field, or unknown_stock"),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Reserve)?;
    let request: ReserveRequest = parse_json(&body(bytes)?)?;
    check_reserve(&request, &state.config.limits).map_err(ApiError::field)?;
    submit(
        &state,
        &caller,
        "reserve",
        Operation::Reserve(request),
        StatusCode::CREATED,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/reservations/{id}",
    summary = "A reservation. Roles: service, merchandiser, admin.",
    params(("id" = String, Path, description = "the reservation id")),
    responses(
        (status = 200, body = Reservation, description = "the reservation"),
        (status = 404, body = ErrorBody, description = "no such reservation"),
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let id = reservation_id(path, &state)?;
    let reservation = get_reservation(&state.store, &id)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("no reservation {id}")))?;
    Ok(Json(reservation.as_of(state.clock.now())).into_response())
}

/// The optional body of a commit: the units to sell; the rest of the hold is released.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct CommitBody {
    lines: Option<Vec<LineRequest>>,
}

#[utoipa::path(
    post,
    path = "/v1/reservations/{id}/commit",
    summary = "Sell held units; optional body {\"lines\": [...]} commits fewer and releases the rest.",
    params(("id" = String, Path, description = "the reservation id")),
    request_body = Option<CommitBody>,
    responses(
        (status = 200, body = Reservation, description = "committed"),
        (status = 409, body = ErrorBody, description = "expired or not held"),
        (status = 422, body = ErrorBody, description = "invalid_commit"),
    )
)]
pub async fn commit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Reserve)?;
    let id = reservation_id(path, &state)?;
    let bytes = body(bytes)?;
    let lines = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: CommitBody = parse_json(&bytes)?;
        if let Some(lines) = &parsed.lines {
            check_lines(lines, &state.config.limits, true).map_err(ApiError::field)?;
        }
        parsed.lines
    };
    submit(
        &state,
        &caller,
        "commit",
        Operation::Commit { id, lines },
        StatusCode::OK,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/reservations/{id}/release",
    summary = "Give held units back.",
    params(("id" = String, Path, description = "the reservation id")),
    responses(
        (status = 200, body = Reservation, description = "released"),
        (status = 409, body = ErrorBody, description = "not held"),
    )
)]
pub async fn release(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Reserve)?;
    let id = reservation_id(path, &state)?;
    submit(
        &state,
        &caller,
        "release",
        Operation::Release { id },
        StatusCode::OK,
    )
    .await
}

/// The body of an extend: the hold expires this many seconds from now.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ExtendBody {
    ttl_seconds: i64,
}

#[utoipa::path(
    post,
    path = "/v1/reservations/{id}/extend",
    summary = "Body {\"ttl_seconds\": n}: expire n seconds from now.",
    params(("id" = String, Path, description = "the reservation id")),
    request_body = ExtendBody,
    responses(
        (status = 200, body = Reservation, description = "extended"),
        (status = 409, body = ErrorBody, description = "expired or not held"),
    )
)]
pub async fn extend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Reserve)?;
    let id = reservation_id(path, &state)?;
    let parsed: ExtendBody = parse_json(&body(bytes)?)?;
    check_ttl("ttl_seconds", parsed.ttl_seconds, &state.config.limits).map_err(ApiError::field)?;
    submit(
        &state,
        &caller,
        "extend",
        Operation::Extend {
            id,
            ttl_seconds: parsed.ttl_seconds,
        },
        StatusCode::OK,
    )
    .await
}
