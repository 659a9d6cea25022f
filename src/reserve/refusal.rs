//! Why the core declined one request. A refusal answers only that request; the rest of its
//! batch goes ahead.

use serde::Serialize;

use super::model::{Status, StockKey};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortage {
    pub sku: String,
    pub warehouse: String,
    pub requested: i64,
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not enough stock for {} line(s)", .0.len())]
    InsufficientStock(Vec<Shortage>),
    #[error("unknown stock row(s): {}", list(.0))]
    UnknownStock(Vec<StockKey>),
    #[error("idempotency key {0} was used before with a different request body")]
    IdempotencyMismatch(String),
    #[error("no reservation {0}")]
    NotFound(String),
    #[error("reservation {id} is {}, not held", .status.as_str())]
    NotHeld { id: String, status: Status },
    #[error("commit lines: {0}")]
    BadCommit(String),
    #[error("stock adjustment would leave on_hand below reserved units for {}", list(.0))]
    BelowReserved(Vec<StockKey>),
}

fn list(keys: &[StockKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Refusal {
    /// A short machine-readable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InsufficientStock(_) => "insufficient_stock",
            Refusal::UnknownStock(_) => "unknown_stock",
            Refusal::IdempotencyMismatch(_) => "idempotency_key_reused",
            Refusal::NotFound(_) => "not_found",
            Refusal::NotHeld {
                status: Status::Expired,
                ..
            } => "expired",
            Refusal::NotHeld { .. } => "not_held",
            Refusal::BadCommit(_) => "invalid_commit",
            Refusal::BelowReserved(_) => "below_reserved",
        }
    }
}
