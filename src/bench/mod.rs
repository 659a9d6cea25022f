//! Measurements behind `stockcast bench …`: each runs several times and reports medians,
//! because timings on shared machines are noisy.

mod allocate;
pub mod floor;
mod forecast;
mod ingest;
mod nightly;
mod real_forecast;
mod reports;
mod reserve;
mod stats;

pub use allocate::{bench_allocate, AllocateBenchResult};
pub use forecast::{bench_forecast, ForecastBenchConfig, ForecastBenchResult};
pub use ingest::{bench_ingest, IngestBenchConfig, IngestBenchResult};
pub use nightly::{
    bench_nightly, BenchStep, NightlyBackendResult, NightlyBenchConfig, NightlyBenchResult,
};
pub use real_forecast::{
    bench_real_forecast, CategoryChoice, ForecasterRow, RealForecastBenchConfig,
    RealForecastBenchResult,
};
pub use reports::{
    bench_reports, prepare_dataset, PrepareConfig, ReportTiming, ReportsBenchResult,
};
pub use reserve::{bench_reserve, BenchBackend, ReserveBenchConfig, ReserveBenchResult};
pub use stats::median;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BenchError {
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Invalid(String),
}
