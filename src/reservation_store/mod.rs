//! The reservation core's database edge: loading and locking what a batch touches, writing its
//! changes and ledger in one transaction ([`transaction`]), where a batch finds the
//! reservations of its idempotency keys ([`keys`]), the group-commit worker ([`worker`]),
//! reads and the ledger check ([`reads`]), and the naive one-transaction-per-request baseline
//! the benchmark compares against ([`naive`]).

mod error;
pub mod keys;
pub mod naive;
mod reads;
mod rows;
pub mod transaction;
pub mod worker;

pub use error::{CoreError, ReservationStoreError};
pub use reads::{check_ledger, expire_due, get_reservation, stock, LedgerCheck};
pub use transaction::{apply_batch, apply_batch_with, new_reservation_id, BatchResult, Durability};
pub use worker::{CoreMetrics, Reserver, ReserverConfig};
