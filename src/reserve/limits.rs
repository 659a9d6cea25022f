//! Request validation against configurable limits. Pure: a request either passes or names the
//! first field that is wrong (the HTTP layer turns that into a 422).

use super::model::{Adjustment, LineRequest, Operation, ReserveRequest};

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_lines: usize,
    pub max_ttl_seconds: i64,
    pub max_qty: i64,
    pub max_key_chars: usize,
    pub max_adjustments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 100,
            max_ttl_seconds: 3600,
            max_qty: 1_000_000,
            max_key_chars: 200,
            max_adjustments: 1000,
        }
    }
}

/// A request field that breaks a rule: `field` is a JSON path like `lines[2].qty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Refuses control characters (U+0000–U+001F, U+007F–U+009F) in any text a request carries.
/// PostgreSQL cannot store NUL in TEXT at all, and the others have no business in a key or a
/// reason; refusing them here, before the store sees them, makes them a 422 on both backends
/// instead of a failed transaction (which, in a group-commit batch, would fail every request
/// batched with it).
pub fn check_no_control(field: &str, value: &str) -> Result<(), FieldError> {
    match value.chars().enumerate().find(|(_, c)| c.is_control()) {
        None => Ok(()),
        Some((position, c)) => Err(field_error(
            field,
            format!(
                "must not contain control characters (U+{:04X} at character {position})",
                u32::from(c)
            ),
        )),
    }
}

fn check_text(field: &str, value: &str, limits: &Limits) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if value.chars().count() > limits.max_key_chars {
        return Err(field_error(
            field,
            format!("at most {} characters", limits.max_key_chars),
        ));
    }
    check_no_control(field, value)
}

/// A reservation id from a URL path: the same rules as any key.
pub fn check_id(field: &str, id: &str, limits: &Limits) -> Result<(), FieldError> {
    check_text(field, id, limits)
}

/// The text rules alone (no sizes, which are the HTTP layer's configuration), for every
/// request the core is handed, whoever built it.
pub fn check_operation_text(operation: &Operation) -> Result<(), FieldError> {
    let lines = |lines: &[LineRequest]| {
        lines.iter().enumerate().try_for_each(|(index, line)| {
            check_no_control(&format!("lines[{index}].sku"), &line.sku)?;
            check_no_control(&format!("lines[{index}].warehouse"), &line.warehouse)
        })
    };
    match operation {
        Operation::Reserve(request) => {
            check_no_control("idempotency_key", &request.idempotency_key)?;
            lines(&request.lines)
        }
        Operation::Commit { id, lines: commit } => {
            check_no_control("id", id)?;
            commit.as_deref().map_or(Ok(()), lines)
        }
        Operation::Release { id } | Operation::Extend { id, .. } => check_no_control("id", id),
        Operation::Adjust(adjustments) => {
            adjustments
                .iter()
                .enumerate()
                .try_for_each(|(index, adjustment)| {
                    check_no_control(&format!("[{index}].sku"), &adjustment.sku)?;
                    check_no_control(&format!("[{index}].warehouse"), &adjustment.warehouse)?;
                    check_no_control(&format!("[{index}].reason"), &adjustment.reason)
                })
        }
    }
}

pub fn check_ttl(field: &str, ttl_seconds: i64, limits: &Limits) -> Result<(), FieldError> {
    if ttl_seconds < 1 || ttl_seconds > limits.max_ttl_seconds {
        return Err(field_error(
            field,
            format!(
                "must be between 1 and {} seconds, got {ttl_seconds}",
                limits.max_ttl_seconds
            ),
        ));
    }
    Ok(())
}

/// Lines of a reservation or a partial commit. `allow_zero` is for commits (0 units of a line
/// means "release all of it").
pub fn check_lines(
    lines: &[LineRequest],
    limits: &Limits,
    allow_zero: bool,
) -> Result<(), FieldError> {
    if lines.is_empty() {
        return Err(field_error("lines", "at least one line is required"));
    }
    if lines.len() > limits.max_lines {
        return Err(field_error(
            "lines",
            format!("at most {} lines, got {}", limits.max_lines, lines.len()),
        ));
    }
    for (index, line) in lines.iter().enumerate() {
        check_text(&format!("lines[{index}].sku"), &line.sku, limits)?;
        check_text(
            &format!("lines[{index}].warehouse"),
            &line.warehouse,
            limits,
        )?;
        let lowest = if allow_zero { 0 } else { 1 };
        if line.qty < lowest || line.qty > limits.max_qty {
            return Err(field_error(
                format!("lines[{index}].qty"),
                format!(
                    "must be between {lowest} and {}, got {}",
                    limits.max_qty, line.qty
                ),
            ));
        }
    }
    Ok(())
}

pub fn check_reserve(request: &ReserveRequest, limits: &Limits) -> Result<(), FieldError> {
    check_text("idempotency_key", &request.idempotency_key, limits)?;
    check_ttl("ttl_seconds", request.ttl_seconds, limits)?;
    check_lines(&request.lines, limits, false)
}

pub fn check_adjustments(adjustments: &[Adjustment], limits: &Limits) -> Result<(), FieldError> {
    if adjustments.is_empty() {
        return Err(field_error("[]", "at least one adjustment is required"));
    }
    if adjustments.len() > limits.max_adjustments {
        return Err(field_error(
            "[]",
            format!("at most {} adjustments", limits.max_adjustments),
        ));
    }
    for (index, adjustment) in adjustments.iter().enumerate() {
        check_text(&format!("[{index}].sku"), &adjustment.sku, limits)?;
        check_text(
            &format!("[{index}].warehouse"),
            &adjustment.warehouse,
            limits,
        )?;
        // A count may set stock to zero; every other kind moves at least one unit.
        let lowest = i64::from(adjustment.kind != super::model::AdjustmentKind::Count);
        if adjustment.qty < lowest || adjustment.qty > limits.max_qty {
            return Err(field_error(
                format!("[{index}].qty"),
                format!(
                    "must be between {lowest} and {}, got {}",
                    limits.max_qty, adjustment.qty
                ),
            ));
        }
        if adjustment.reason.chars().count() > 500 {
            return Err(field_error(
                format!("[{index}].reason"),
                "at most 500 characters",
            ));
        }
        check_no_control(&format!("[{index}].reason"), &adjustment.reason)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(qty: i64) -> LineRequest {
        LineRequest {
            sku: "S".into(),
            warehouse: "W".into(),
            qty,
        }
    }

    #[test]
    fn errors_name_the_field() {
        let limits = Limits::default();
        let request = ReserveRequest {
            idempotency_key: "k".into(),
            ttl_seconds: 60,
            lines: vec![line(1), line(0)],
        };
        assert_eq!(
            check_reserve(&request, &limits).unwrap_err().field,
            "lines[1].qty"
        );
        let too_long = ReserveRequest {
            ttl_seconds: 999_999,
            ..request.clone()
        };
        assert_eq!(
            check_reserve(&too_long, &limits).unwrap_err().field,
            "ttl_seconds"
        );
        let huge = ReserveRequest {
            lines: vec![line(i64::MAX)],
            ..request
        };
        assert_eq!(
            check_reserve(&huge, &limits).unwrap_err().field,
            "lines[0].qty"
        );
        assert!(check_lines(&[line(0)], &limits, true).is_ok());
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field() {
        let limits = Limits::default();
        let nul = ReserveRequest {
            idempotency_key: "order\u{0}1".into(),
            ttl_seconds: 60,
            lines: vec![line(1)],
        };
        let error = check_reserve(&nul, &limits).unwrap_err();
        assert_eq!(error.field, "idempotency_key");
        assert!(error.message.contains("U+0000 at character 5"), "{error}");
        let tab_in_sku = ReserveRequest {
            idempotency_key: "k".into(),
            lines: vec![
                line(1),
                LineRequest {
                    sku: "S\tX".into(),
                    ..line(1)
                },
            ],
            ..nul.clone()
        };
        assert_eq!(
            check_reserve(&tab_in_sku, &limits).unwrap_err().field,
            "lines[1].sku"
        );
        let reason = Adjustment {
            sku: "S".into(),
            warehouse: "W".into(),
            kind: super::super::model::AdjustmentKind::Receipt,
            qty: 1,
            reason: "truck\u{7f}".into(),
        };
        assert_eq!(
            check_adjustments(std::slice::from_ref(&reason), &limits)
                .unwrap_err()
                .field,
            "[0].reason"
        );
        assert_eq!(
            check_operation_text(&Operation::Adjust(vec![reason]))
                .unwrap_err()
                .field,
            "[0].reason"
        );
        assert_eq!(
            check_operation_text(&Operation::Release {
                id: "res\u{0}".into()
            })
            .unwrap_err()
            .field,
            "id"
        );
        assert_eq!(
            check_id("id", "res\u{85}x", &limits).unwrap_err().field,
            "id"
        );
        assert!(check_operation_text(&Operation::Reserve(ReserveRequest {
            idempotency_key: "plain ünïcode ✓".into(),
            ..nul
        }))
        .is_ok());
    }
}
