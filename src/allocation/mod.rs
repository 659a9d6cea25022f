//! The edge around the allocation solver: building a problem from the store and a forecast
//! (`inputs`), writing, publishing and reading allocation runs (`runs`), and the rule for
//! which published run is in force (`in_force`).

pub mod in_force;
pub mod inputs;
pub mod promotion;
pub mod runs;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AllocationStoreError {
    #[error("{0}")]
    BadInput(String),
    #[error("no such promotion: {0}")]
    UnknownPromotion(String),
    /// The loaded rows cannot make a problem (a promotion that has ended, no forecast for
    /// the window, …).
    #[error(transparent)]
    Problem(#[from] crate::allocate::ProblemError),
    #[error(transparent)]
    Solver(#[from] crate::allocate::AllocationError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("internal data-frame error: {0}")]
    Frame(#[from] polars::error::PolarsError),
}

impl AllocationStoreError {
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            AllocationStoreError::BadInput(_)
                | AllocationStoreError::UnknownPromotion(_)
                | AllocationStoreError::Problem(_)
                | AllocationStoreError::Solver(_)
        )
    }
}

impl From<sqlx::Error> for AllocationStoreError {
    fn from(error: sqlx::Error) -> Self {
        AllocationStoreError::Store(crate::store::StoreError::from(error))
    }
}
