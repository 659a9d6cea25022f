//! How a step fails. The kind decides whether the runner tries again: only a transient failure
//! (the database, the disk or the network failed this time) can succeed on another attempt.
//! Bad input fails the same way every time and waits for someone to fix the file or the job;
//! an internal error is a bug. Retrying either only delays the notice by the backoff.

use std::borrow::Cow;
use std::fmt;

use crate::allocation::AllocationStoreError;
use crate::forecast::ForecastError;
use crate::generate::GenerateError;
use crate::ingest::IngestError;
use crate::reservation_store::ReservationStoreError;
use crate::store::StoreError;

use super::JobError;

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepErrorKind {
    /// The data or the job's settings are wrong: not retried.
    Input,
    /// Another attempt may succeed: retried with backoff.
    Transient,
    /// A bug or a broken invariant: not retried.
    Internal,
}

impl StepErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepErrorKind::Input => "input",
            StepErrorKind::Transient => "transient",
            StepErrorKind::Internal => "internal",
        }
    }
}

/// A step's failure: its kind and the error that caused it. It reads as its cause (with an
/// optional prefix saying what the step was doing), so the run's history keeps the library's
/// own message; [`StepError::cause`] gives the cause itself.
#[derive(Debug)]
pub struct StepError {
    kind: StepErrorKind,
    doing: Option<String>,
    cause: Source,
}

impl StepError {
    pub fn new(kind: StepErrorKind, cause: impl Into<Source>) -> StepError {
        StepError {
            kind,
            doing: None,
            cause: cause.into(),
        }
    }

    pub fn input(cause: impl Into<Source>) -> StepError {
        StepError::new(StepErrorKind::Input, cause)
    }

    pub fn transient(cause: impl Into<Source>) -> StepError {
        StepError::new(StepErrorKind::Transient, cause)
    }

    pub fn internal(cause: impl Into<Source>) -> StepError {
        StepError::new(StepErrorKind::Internal, cause)
    }

    /// Prefixes the message with what the step was doing ("generating sample data: …").
    pub fn doing(mut self, what: impl Into<String>) -> StepError {
        let what = what.into();
        self.doing = Some(match self.doing.take() {
            Some(inner) => format!("{what}: {inner}"),
            None => what,
        });
        self
    }

    pub fn kind(&self) -> StepErrorKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == StepErrorKind::Transient
    }

    pub fn cause(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.cause.as_ref()
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.doing {
            Some(doing) => write!(f, "{doing}: {}", self.cause),
            None => fmt::Display::fmt(&self.cause, f),
        }
    }
}

// The cause's message is already in ours, so its source is the next one down the chain (as
// with `#[error(transparent)]`); a chain printer would otherwise print it twice.
impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.source()
    }
}

/// Whether a database error may pass: lost connections, a busy or locked database, a
/// serialisation failure or deadlock, a server shutting down or out of resources. Constraint
/// violations, decoding errors and SQL the server refuses are bugs.
fn sqlx_kind(error: &sqlx::Error) -> StepErrorKind {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StepErrorKind::Transient,
        sqlx::Error::Database(database) => database_kind(database.as_ref()),
        _ => StepErrorKind::Internal,
    }
}

fn database_kind(error: &dyn sqlx::error::DatabaseError) -> StepErrorKind {
    let code: Option<Cow<'_, str>> = error.code();
    let code = code.as_deref().unwrap_or("");
    let transient = if error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // SQLSTATE classes: connection exception, transaction rollback (serialisation,
        // deadlock), insufficient resources, operator intervention, system error.
        ["08", "40", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
    } else if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // The primary result code is the low byte of the extended one: BUSY, LOCKED, IOERR,
        // FULL, CANTOPEN.
        code.parse::<i32>()
            .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 13 | 14))
    } else {
        false
    };
    if transient {
        StepErrorKind::Transient
    } else {
        StepErrorKind::Internal
    }
}

fn store_kind(error: &StoreError) -> StepErrorKind {
    match error {
        StoreError::BadUrl { .. } => StepErrorKind::Input,
        StoreError::Connect { .. } => StepErrorKind::Transient,
        StoreError::Query(error) => sqlx_kind(error),
        StoreError::Migrate(_) | StoreError::Load { .. } => StepErrorKind::Internal,
    }
}

/// A file or folder the job names that is not there or not allowed is the job's to fix; any
/// other IO failure (a full disk, an interrupted network mount) may pass.
fn io_kind(error: &std::io::Error) -> StepErrorKind {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound
        | ErrorKind::PermissionDenied
        | ErrorKind::InvalidInput
        | ErrorKind::InvalidData
        | ErrorKind::AlreadyExists => StepErrorKind::Input,
        _ => StepErrorKind::Transient,
    }
}

fn ingest_kind(error: &IngestError) -> StepErrorKind {
    match error {
        _ if error.is_bad_input() => StepErrorKind::Input,
        IngestError::Store(error) => store_kind(error),
        IngestError::Quarantine { error, .. } => io_kind(error),
        _ => StepErrorKind::Internal,
    }
}

fn forecast_kind(error: &ForecastError) -> StepErrorKind {
    match error {
        _ if error.is_bad_input() => StepErrorKind::Input,
        ForecastError::Ingest(error) => ingest_kind(error),
        ForecastError::Store(error) => store_kind(error),
        // Writing a forecast file or a model artifact: the disk.
        ForecastError::Output { .. } | ForecastError::Registry(_) => StepErrorKind::Transient,
        _ => StepErrorKind::Internal,
    }
}

fn allocation_kind(error: &AllocationStoreError) -> StepErrorKind {
    match error {
        _ if error.is_bad_input() => StepErrorKind::Input,
        AllocationStoreError::Store(error) => store_kind(error),
        _ => StepErrorKind::Internal,
    }
}

fn job_kind(error: &JobError) -> StepErrorKind {
    match error {
        _ if error.is_bad_input() => StepErrorKind::Input,
        JobError::Store(error) => store_kind(error),
        _ => StepErrorKind::Internal,
    }
}

fn reservation_kind(error: &ReservationStoreError) -> StepErrorKind {
    match error {
        ReservationStoreError::Store(error) => store_kind(error),
        ReservationStoreError::Contention { .. } => StepErrorKind::Transient,
        _ => StepErrorKind::Internal,
    }
}

fn generate_kind(error: &GenerateError) -> StepErrorKind {
    match error {
        GenerateError::Invalid(_) => StepErrorKind::Input,
        GenerateError::Io { source, .. } => io_kind(source),
        GenerateError::Write { .. } => StepErrorKind::Transient,
    }
}

macro_rules! classified {
    ($($error:ty => $kind:expr),* $(,)?) => {
        $(
            impl From<$error> for StepError {
                fn from(error: $error) -> StepError {
                    let kind = $kind(&error);
                    StepError::new(kind, error)
                }
            }
        )*
    };
}

classified! {
    sqlx::Error => sqlx_kind,
    StoreError => store_kind,
    std::io::Error => io_kind,
    IngestError => ingest_kind,
    ForecastError => forecast_kind,
    AllocationStoreError => allocation_kind,
    JobError => job_kind,
    ReservationStoreError => reservation_kind,
    GenerateError => generate_kind,
    polars::error::PolarsError => |_: &polars::error::PolarsError| StepErrorKind::Internal,
    serde_json::Error => |_: &serde_json::Error| StepErrorKind::Internal,
    // A worker thread that panicked or was cancelled.
    tokio::task::JoinError => |_: &tokio::task::JoinError| StepErrorKind::Internal,
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn bad_input_is_not_retried_and_a_lost_connection_is() {
        let no_files = IngestError::NoFiles {
            path: PathBuf::from("data/smaple"),
            skipped: Vec::new(),
        };
        let error = StepError::from(no_files);
        assert_eq!(error.kind(), StepErrorKind::Input);
        assert!(!error.is_retryable());
        assert!(error
            .to_string()
            .starts_with("data/smaple: no input files found"));

        let lost = StepError::from(StoreError::Query(sqlx::Error::PoolTimedOut));
        assert_eq!(lost.kind(), StepErrorKind::Transient);
        assert!(lost.is_retryable());

        let bug = StepError::from(StoreError::Query(sqlx::Error::RowNotFound));
        assert_eq!(bug.kind(), StepErrorKind::Internal);
        assert!(!bug.is_retryable());
    }

    #[test]
    fn the_message_is_the_cause_s_once_with_what_the_step_was_doing() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let error = StepError::from(io).doing("reports/nightly.txt");
        assert_eq!(error.kind(), StepErrorKind::Transient);
        assert_eq!(error.to_string(), "reports/nightly.txt: disk full");
        assert!(error.cause().downcast_ref::<std::io::Error>().is_some());
        assert!(
            error.source().is_none(),
            "the cause is not repeated as a source"
        );

        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(StepError::from(missing).kind(), StepErrorKind::Input);
    }
}
