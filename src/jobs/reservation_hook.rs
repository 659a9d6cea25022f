//! The jobs' way into the reservation core: the `expire-holds` and `refresh-availability`
//! steps call [`run_reservation_step`] and nothing else.

use chrono::{DateTime, Utc};

use super::Step;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationStepOutcome {
    /// The step is recorded as `skipped` with this reason.
    NotInstalled(String),
    Done {
        rows_in: Option<i64>,
        rows_out: Option<i64>,
        detail: String,
    },
}

/// Runs a reservation-side step (`expire-holds`, `refresh-availability`) with at most `limit`
/// rows touched.
pub async fn run_reservation_step(
    step: Step,
    store: &Store,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<ReservationStepOutcome, String> {
    match step {
        Step::ExpireHolds => {
            let expired = crate::reservation_store::expire_due(store, now, limit)
                .await
                .map_err(|error| error.to_string())?;
            Ok(ReservationStepOutcome::Done {
                rows_in: None,
                rows_out: Some(expired as i64),
                detail: format!("{expired} hold(s) expired"),
            })
        }
        // Availability is computed on every read (on_hand − reserved − due holds), so there
        // is no snapshot table to refresh; the step says so rather than pretending.
        _ => Ok(ReservationStepOutcome::NotInstalled(format!(
            "{}: availability is computed live on every stock read; no snapshot to refresh",
            step.as_str()
        ))),
    }
}
