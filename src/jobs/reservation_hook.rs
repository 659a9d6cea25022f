//! WIRING POINT for the reservation core (issue 5), which is built on another branch.
//!
//! The `expire-holds` and `refresh-availability` steps call [`run_reservation_step`] and
//! nothing else. Until the reservation core is merged it reports the step as skipped with
//! "reservation core not installed". At merge, replace the body of this one function:
//!
//! ```text
//! Step::ExpireHolds => {
//!     let expired = crate::reserve::expire_due(store, now, limit).await.map_err(|e| e.to_string())?;
//!     Ok(ReservationStepOutcome::Done { rows_in: None, rows_out: Some(expired as i64),
//!         detail: format!("{expired} hold(s) expired") })
//! }
//! Step::RefreshAvailability => … (the reservation core's availability snapshot refresh)
//! ```

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
/// rows touched. THE ONE FUNCTION TO CONNECT when the reservation core lands.
pub async fn run_reservation_step(
    step: Step,
    store: &Store,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<ReservationStepOutcome, String> {
    let _ = (store, now, limit);
    Ok(ReservationStepOutcome::NotInstalled(format!(
        "{}: reservation core not installed",
        step.as_str()
    )))
}
