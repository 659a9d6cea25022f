//! The jobs' way into the reservation core: the `expire-holds` step calls
//! [`run_reservation_step`] and nothing else. Availability needs no step: it is computed live
//! on every stock read (on hand − reserved − due holds), so there is no snapshot to refresh.

use chrono::{DateTime, Utc};

use super::context::StepOutcome;
use super::step_error::StepError;
use super::Step;
use crate::store::Store;

/// Runs a reservation-side step (`expire-holds`) with at most `limit` rows touched.
pub async fn run_reservation_step(
    step: Step,
    store: &Store,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<StepOutcome, StepError> {
    match step {
        Step::ExpireHolds => {
            let expired = crate::reservation_store::expire_due(store, now, limit).await?;
            Ok(StepOutcome {
                rows_in: None,
                rows_out: Some(expired as i64),
                detail: format!("{expired} hold(s) expired"),
                skipped: false,
            })
        }
        other => Err(StepError::internal(format!(
            "{} is not a reservation-core step",
            other.as_str()
        ))),
    }
}
