//! Throw-away PostgreSQL databases, one per test or benchmark run, so runs never share state.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::{redact, StoreError};

pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

/// Replaces the database name in a PostgreSQL URL (`postgres://user@host:port/db?params`).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

impl ScratchDatabase {
    /// Creates `<prefix>_<random>` on the server that `admin_url` points at.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<ScratchDatabase, StoreError> {
        assert!(
            prefix.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "database prefix must be a plain identifier"
        );
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let mut admin =
            PgConnection::connect(admin_url)
                .await
                .map_err(|error| StoreError::Connect {
                    url: redact(admin_url),
                    error,
                })?;
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        admin.close().await?;
        Ok(ScratchDatabase {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// Drops the database (closing other sessions on it first).
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .map_err(|error| StoreError::Connect {
                url: redact(&self.admin_url),
                error,
            })?;
        admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await?;
        admin.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "y"),
            "postgres://u:p@h/y?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "z"), "postgres://h/z");
    }
}
