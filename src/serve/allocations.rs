//! `/v1/allocations`: the latest published allocation run's targets, cursor-paginated by
//! (sku, warehouse).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::caller::Caller;
use super::error::{storage, ApiError};
use super::stock::query_values;
use super::AppState;
use crate::keys::Action;
use crate::on_backend;
use crate::reserve::FieldError;

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Target {
    sku: String,
    warehouse: String,
    target_units: i64,
    current_units: i64,
    expected_sales: f64,
    fill_rate: f64,
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::field(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// The cursor is the last (sku, warehouse) of the previous page, hex-encoded.
fn encode_cursor(sku: &str, warehouse: &str) -> String {
    hex::encode(format!("{sku}\u{1f}{warehouse}"))
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (sku, warehouse) = text.split_once('\u{1f}')?;
    // Only cursors this API made: their keys never hold control characters.
    if sku.chars().chain(warehouse.chars()).any(char::is_control) {
        return None;
    }
    Some((sku.to_string(), warehouse.to_string()))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let one =
        |name: &str| query_values(query.as_deref(), name).map(|values| values.into_iter().next());
    let run = one("run")?.unwrap_or_else(|| "latest".to_string());
    let limit = match one("limit")? {
        None => 100,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=state.config.max_page).contains(limit))
            .ok_or_else(|| {
                bad(
                    "limit",
                    &format!("must be between 1 and {}", state.config.max_page),
                )
            })?,
    };
    let (after_sku, after_warehouse) = match one("cursor")? {
        None => (String::new(), String::new()),
        Some(cursor) => {
            decode_cursor(&cursor).ok_or_else(|| bad("cursor", "not a cursor from this API"))?
        }
    };
    let warehouse = one("warehouse")?;
    let sku = one("sku")?;

    type RunRow = (String, String, DateTime<Utc>, NaiveDate, String);
    let found: Option<RunRow> = on_backend!(&state.store, pool => {
        sqlx::query_as(
            "SELECT id, promotion, published_at, as_of, policy FROM allocation_runs \
             WHERE status = 'published' AND ($1 = 'latest' OR id = $1) \
             ORDER BY published_at DESC, id DESC LIMIT 1",
        )
        .bind(&run)
        .fetch_optional(pool)
        .await
        .map_err(storage)?
    });
    let Some((run_id, promotion, published_at, as_of, policy)) = found else {
        return Err(ApiError::not_found(if run == "latest" {
            "no published allocation run".to_string()
        } else {
            format!("no published allocation run {run}")
        }));
    };
    let targets: Vec<Target> = on_backend!(&state.store, pool => {
        sqlx::query_as(
            "SELECT sku, warehouse, target_units, current_units, expected_sales, fill_rate \
             FROM allocation_targets WHERE run_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR warehouse = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR sku = $3) \
             AND (sku > $4 OR (sku = $4 AND warehouse > $5)) \
             ORDER BY sku, warehouse LIMIT $6",
        )
        .bind(&run_id)
        .bind(&warehouse)
        .bind(&sku)
        .bind(&after_sku)
        .bind(&after_warehouse)
        .bind(limit as i64 + 1)
        .fetch_all(pool)
        .await
        .map_err(storage)?
    });
    let mut targets = targets;
    let next_cursor = if targets.len() > limit {
        targets.truncate(limit);
        targets
            .last()
            .map(|last| encode_cursor(&last.sku, &last.warehouse))
    } else {
        None
    };
    Ok(Json(json!({
        "run": {"id": run_id, "promotion": promotion, "published_at": published_at, "as_of": as_of, "policy": policy},
        "targets": targets,
        "next_cursor": next_cursor,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = super::encode_cursor("SOFA-1", "W2");
        assert_eq!(
            super::decode_cursor(&cursor),
            Some(("SOFA-1".to_string(), "W2".to_string()))
        );
        assert_eq!(super::decode_cursor("zz"), None);
        assert_eq!(
            super::decode_cursor(&hex::encode("SOFA\u{0}\u{1f}W1")),
            None,
            "a forged cursor with a NUL is refused"
        );
    }
}
