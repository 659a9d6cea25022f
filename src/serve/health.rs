//! Liveness, readiness, metrics and the OpenAPI document: no key needed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::on_backend;

#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, description = "alive")))]
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready when the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    security(()),
    responses(
        (status = 200, description = "database reachable"),
        (status = 503, description = "not ready"),
    )
)]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let answered: Result<i64, sqlx::Error> = on_backend!(&state.store, pool => {
        // BIGINT, so both backends decode it as i64 (PostgreSQL's bare `1` is INT4).
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(pool).await
    });
    match answered {
        Ok(_) => Json(json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!("readiness check failed: {error}");
            ApiError::unavailable("database unreachable").into_response()
        }
    }
}

#[utoipa::path(get, path = "/metrics", security(()), responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.http_metrics.render(&state.reserver.metrics),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    summary = "This document.",
    security(()),
    responses((status = 200, description = "the OpenAPI document"))
)]
pub async fn openapi() -> Response {
    Json(super::openapi::document()).into_response()
}
