//! `/v1/allocations`: the targets of the allocation run in force (`?run=latest`, the
//! default), of the latest published run for one promotion (`?promotion=P`), or of one
//! published run (`?run=ID`), cursor-paginated by (sku, warehouse). Which run is in force is
//! `allocation::in_force`'s rule, the same as the CLI's and the reports'.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::caller::Caller;
use super::error::{storage, ApiError};
use super::openapi::ErrorBody;
use super::stock::query_values;
use super::AppState;
use crate::allocation::in_force::{latest_for_promotion, load_published, resolve};
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

#[utoipa::path(
    get,
    path = "/v1/allocations",
    summary = "Targets of the allocation run in force (?run=latest, the default), of the latest published run for a promotion (?promotion=P) or of one published run (?run=ID): ?run=&promotion=&warehouse=&sku=&limit=&cursor=.",
    responses(
        (status = 200, description = "{run, targets, next_cursor}"),
        (status = 404, body = ErrorBody, description = "no published run"),
    )
)]
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

    let promotion = one("promotion")?;
    // The one in-force rule every reader shares (`allocation::in_force`).
    let published = load_published(&state.store, None).await.map_err(storage)?;
    let chosen = match (run.as_str(), &promotion) {
        ("latest", None) => resolve(&published).in_force,
        ("latest", Some(promotion)) => {
            latest_for_promotion(&published, promotion).map(|r| r.id.clone())
        }
        (id, promotion) => published
            .iter()
            .find(|r| {
                r.id == id
                    && promotion
                        .as_ref()
                        .is_none_or(|p| r.promotions.iter().any(|q| q == p))
            })
            .map(|r| r.id.clone()),
    };
    let Some(chosen) = chosen.and_then(|id| published.iter().find(|r| r.id == id)) else {
        return Err(ApiError::not_found(match (run.as_str(), &promotion) {
            ("latest", None) => "no published allocation run".to_string(),
            ("latest", Some(promotion)) => {
                format!("no published allocation run for promotion {promotion}")
            }
            (id, _) => format!("no published allocation run {id}"),
        }));
    };
    type RunRow = (String, DateTime<Utc>, NaiveDate, String);
    let (run_id, published_at, as_of, policy): RunRow = on_backend!(&state.store, pool => {
        sqlx::query_as(
            "SELECT id, published_at, as_of, policy FROM allocation_runs WHERE id = $1",
        )
        .bind(&chosen.id)
        .fetch_one(pool)
        .await
        .map_err(storage)?
    });
    let standing = resolve(&published).standings.get(&run_id).cloned();
    let promotions = chosen.promotions.clone();
    let (window_start, window_end) = (chosen.window_start, chosen.window_end);
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
        "run": {
            "id": run_id,
            "promotion": promotions.join("+"),
            "promotions": promotions,
            "window_start": window_start,
            "window_end": window_end,
            "standing": standing.map(|s| s.label()),
            "published_at": published_at,
            "as_of": as_of,
            "policy": policy,
        },
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
