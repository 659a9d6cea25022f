use std::path::PathBuf;

use thiserror::Error;

use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum IngestError {
    /// The file as a whole cannot be read: nothing from it is loaded.
    #[error("{}:{line}: {message}", path.display())]
    BadFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("{}: no input files found (expected sales.csv, products.csv, … or .parquet)", path.display())]
    NoFiles { path: PathBuf },
    #[error("{0}")]
    Conflict(String),
    #[error("{}: cannot write quarantine file: {source}", path.display())]
    Quarantine {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal data-frame error: {0}")]
    Frame(#[from] polars::error::PolarsError),
}

impl IngestError {
    /// Bad input (a broken file, a missing folder, a setting that contradicts the database)
    /// is the user's to fix; the CLI maps it to exit code 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            IngestError::BadFile { .. }
                | IngestError::Unreadable { .. }
                | IngestError::NoFiles { .. }
                | IngestError::Conflict(_)
        )
    }
}
