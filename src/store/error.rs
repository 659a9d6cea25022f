use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database URL {url}: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("loading table {table}: {message}")]
    Load { table: String, message: String },
}
