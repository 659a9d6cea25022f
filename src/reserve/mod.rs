//! The live reservation core's rules. Pure: stock rows, reservations and requests in, outcomes
//! and changes out; no database and no clock (time is passed in).
//!
//! - [`model`]: stock rows, reservations, requests, ledger events.
//! - [`batch`]: applying a batch of requests to locked state (reserve, commit, release,
//!   extend, expire, adjust), each all-or-nothing.
//! - [`limits`]: request validation with errors naming the field.
//! - [`idempotency`]: the request hash that recognises a retried body.
//! - [`replay`]: rebuilding stock rows from the ledger.
//!
//! The database side (locking, loading, writing, group commit) is [`crate::reservation_store`].

pub mod batch;
pub mod idempotency;
pub mod limits;
pub mod model;
pub mod refusal;
pub mod replay;
#[cfg(test)]
mod tests;

pub use batch::{
    apply, expire_due as expire_loaded, footprint, reconcile_imports, BatchState, Changes, Outcome,
};
pub use limits::{FieldError, Limits};
pub use model::*;
pub use refusal::{Refusal, Shortage};
