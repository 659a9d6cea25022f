//! What `stockcast db status` reports: backend, migrations and row counts.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};

use super::{migrator, Backend, Store, StoreError};
use crate::on_backend;

#[derive(Debug, Clone, serde::Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub installed_on: DateTime<Utc>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TableCount {
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreStatus {
    pub backend: &'static str,
    pub applied: Vec<AppliedMigration>,
    pub pending: Vec<(i64, String)>,
    pub tables: Vec<TableCount>,
}

/// Tables whose sizes `db status` shows; names are constants, never user input.
const COUNTED_TABLES: [&str; 10] = [
    "warehouses",
    "products",
    "promotions",
    "inventory",
    "stock_levels",
    "sales",
    "poll_responses",
    "events",
    "ingest_runs",
    "dataset_settings",
];

impl Store {
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let exists = self.table_exists("_sqlx_migrations").await?;
        if !exists {
            return Ok(Vec::new());
        }
        let rows = on_backend!(self, pool => {
            sqlx::query(
                "SELECT version, description, installed_on FROM _sqlx_migrations \
                 WHERE success = TRUE ORDER BY version",
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                Ok(AppliedMigration {
                    version: row.try_get("version")?,
                    description: row.try_get("description")?,
                    installed_on: row.try_get("installed_on")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    pub async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        let count: i64 = match self {
            Store::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
                )
                .bind(table)
                .fetch_one(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(table)
                .fetch_one(pool)
                .await?
            }
        };
        Ok(count > 0)
    }

    pub async fn status(&self) -> Result<StoreStatus, StoreError> {
        let applied = self.applied_migrations().await?;
        let pending = migrator(self.backend())
            .iter()
            .filter(|migration| !applied.iter().any(|a| a.version == migration.version))
            .map(|migration| (migration.version, migration.description.to_string()))
            .collect();
        let mut tables = Vec::new();
        for table in COUNTED_TABLES {
            if !self.table_exists(table).await? {
                continue;
            }
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let rows: i64 = on_backend!(self, pool => {
                sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await?
            });
            tables.push(TableCount {
                table: table.to_string(),
                rows,
            });
        }
        Ok(StoreStatus {
            backend: self.backend().as_str(),
            applied,
            pending,
            tables,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend() == Backend::Sqlite
    }
}
