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
    /// polars can only read plain files here: without this check a compressed one makes it
    /// panic.
    #[error("{}: the file is {compression}-compressed; decompress it first ({tool}) and ingest the plain file", path.display())]
    Compressed {
        path: PathBuf,
        compression: &'static str,
        tool: &'static str,
    },
    #[error("{}: no input files found (expected sales.csv, products.csv, … or .parquet){}", path.display(), skipped_note(skipped))]
    NoFiles { path: PathBuf, skipped: Vec<String> },
    #[error("{0}")]
    Conflict(String),
    #[error("{}: cannot write quarantine file: {error}", path.display())]
    Quarantine {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal data-frame error: {0}")]
    Frame(polars::error::PolarsError),
}

// Not `#[from]`: that would also expose the error as `source()`, and a caller printing the
// chain would print its message twice.
impl From<polars::error::PolarsError> for IngestError {
    fn from(error: polars::error::PolarsError) -> Self {
        IngestError::Frame(error)
    }
}

fn skipped_note(skipped: &[String]) -> String {
    const SHOWN: usize = 5;
    match skipped.len() {
        0 => String::new(),
        count if count <= SHOWN => format!("; skipped {}", skipped.join(", ")),
        count => format!(
            "; skipped {} and {} more",
            skipped[..SHOWN].join(", "),
            count - SHOWN
        ),
    }
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
                | IngestError::Compressed { .. }
                | IngestError::Conflict(_)
        )
    }
}
