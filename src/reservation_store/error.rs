use thiserror::Error;

use crate::reserve::{FieldError, Refusal};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ReservationStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored reservation {id} is unreadable: {message}")]
    Corrupt { id: String, message: String },
    #[error("gave up after {attempts} attempts: {last}")]
    Contention { attempts: usize, last: String },
}

impl From<sqlx::Error> for ReservationStoreError {
    fn from(error: sqlx::Error) -> Self {
        ReservationStoreError::Store(StoreError::Query(error))
    }
}

/// Why a request submitted to the core did not produce an outcome.
#[derive(Debug, Clone, Error)]
pub enum CoreError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The request carries text no store may be handed (see
    /// [`crate::reserve::limits::check_operation_text`]); refused before it reached a batch.
    #[error(transparent)]
    Invalid(FieldError),
    /// The batch's transaction failed; nothing of it was written.
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("the reservation core is shutting down")]
    ShuttingDown,
}
