use thiserror::Error;

/// Each variant's message already holds its cause's message, so none of them exposes the
/// cause as `source()` as well: a caller that prints the whole chain (anyhow's `{:#}`) would
/// otherwise print the database's words two or three times on one line.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database URL {url}: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot connect to {url}: {}", describe(.error))]
    Connect { url: String, error: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("database error: {}", describe(.0))]
    Query(sqlx::Error),
    #[error("loading table {table}: {message}")]
    Load { table: String, message: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Query(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error)
    }
}

/// sqlx wraps the server's message in "error returned from database: …"; the server's own
/// words are the useful part.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(database) => database.message().to_string(),
        other => other.to_string(),
    }
}
