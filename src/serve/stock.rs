//! `/v1/stock`: read stock rows; bulk adjustments (admin).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::caller::Caller;
use super::error::{parse_json, storage, ApiError};
use super::openapi::ErrorBody;
use super::{body, AppState};
use crate::keys::Action;
use crate::reservation_store::stock;
use crate::reserve::limits::{check_adjustments, check_no_control};
use crate::reserve::{Adjustment, FieldError, Operation, Outcome, Request, StockView};

/// Query values for `name`, in order (`sku=A&sku=B`), percent-decoded; a value with a control
/// character (`sku=A%00`) is a 422 naming the parameter, before the store sees it.
pub fn query_values(query: Option<&str>, name: &str) -> Result<Vec<String>, ApiError> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
        .map(|value| {
            check_no_control(name, &value).map_err(ApiError::field)?;
            Ok(value)
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/v1/stock",
    summary = "Stock rows: ?sku=A&sku=B&warehouse=W. Roles: service, merchandiser, admin.",
    responses((status = 200, body = Vec<StockView>, description = "rows"))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let skus = query_values(query.as_deref(), "sku")?;
    if skus.len() > state.config.limits.max_lines {
        return Err(ApiError::field(FieldError {
            field: "sku".into(),
            message: format!("at most {} skus per request", state.config.limits.max_lines),
        }));
    }
    let warehouse = query_values(query.as_deref(), "warehouse")?
        .into_iter()
        .next();
    let rows = stock(
        &state.store,
        &skus,
        warehouse.as_deref(),
        state.clock.now(),
        state.config.max_page,
    )
    .await
    .map_err(storage)?;
    Ok(Json(rows).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/stock/adjustments",
    summary = "Bulk adjustments, all or nothing. Role: admin.",
    request_body = Vec<Adjustment>,
    responses(
        (status = 200, body = Vec<StockView>, description = "the adjusted rows"),
        (status = 409, body = ErrorBody, description = "below_reserved"),
        (status = 422, body = ErrorBody, description = "invalid_field or unknown_stock"),
    )
)]
pub async fn adjust(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::AdjustStock)?;
    let adjustments: Vec<Adjustment> = parse_json(&body(bytes)?)?;
    check_adjustments(&adjustments, &state.config.limits).map_err(ApiError::field)?;
    let result = state
        .reserver
        .submit(Request {
            who: caller.key.id.clone(),
            operation: Operation::Adjust(adjustments),
        })
        .await;
    state.http_metrics.outcome(
        "adjust",
        match &result {
            Ok(_) => "ok",
            Err(crate::reservation_store::CoreError::Refused(refusal)) => refusal.code(),
            Err(crate::reservation_store::CoreError::Invalid(_)) => "invalid_field",
            Err(_) => "storage_error",
        },
    );
    match result? {
        Outcome::Adjusted(rows) => Ok(Json(rows).into_response()),
        Outcome::Reservation { .. } => unreachable!("adjustments never answer with a reservation"),
    }
}
