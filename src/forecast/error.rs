use chrono::NaiveDate;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ForecastError {
    #[error("{0}")]
    InvalidSetting(String),
    #[error("--as-of {as_of} is outside the sales history ({first} … {last})")]
    AsOfOutside {
        as_of: NaiveDate,
        first: NaiveDate,
        last: NaiveDate,
    },
    #[error("the input has no sales rows")]
    NoSales,
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{path}: {message}")]
    Output { path: String, message: String },
    #[error("model registry: {0}")]
    Registry(String),
    #[error("internal data-frame error: {0}")]
    Frame(#[from] polars::error::PolarsError),
}

impl ForecastError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            ForecastError::InvalidSetting(_)
            | ForecastError::AsOfOutside { .. }
            | ForecastError::NoSales => true,
            ForecastError::Ingest(error) => error.is_bad_input(),
            _ => false,
        }
    }
}
