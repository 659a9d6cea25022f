//! Bulk upserts of a typed polars frame: multi-row `INSERT … ON CONFLICT` statements on
//! SQLite, `COPY` into a staging table then one `INSERT … SELECT … ON CONFLICT` on PostgreSQL.
//! Never one statement per row.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use sqlx::{AssertSqlSafe, Executor};

use super::{StoreError, StoreTx};

/// Upper bound on bound parameters in one SQLite statement (SQLite allows 32766).
const SQLITE_MAX_PARAMETERS: usize = 30_000;
/// Rows per SQLite statement: more rows per statement amortise parsing, until the
/// parameter limit.
const SQLITE_MAX_ROWS_PER_STATEMENT: usize = 1_000;
/// From this many rows into an empty table, indexes are built after the load (one sort each)
/// instead of maintained row by row: secondary indexes on either backend, and on PostgreSQL
/// the primary key too. All inside the load's transaction.
const BULK_BUILD_MIN_ROWS: usize = 100_000;
/// Bytes of COPY data sent per message to PostgreSQL.
const COPY_CHUNK_BYTES: usize = 4 << 20;

/// One value read out of a typed frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    Number(f64),
    Integer(i64),
    Bool(bool),
    Date(NaiveDate),
    Timestamp(DateTime<Utc>),
}

enum TypedColumn<'a> {
    Text(&'a StringChunked),
    Number(&'a Float64Chunked),
    Integer(&'a Int64Chunked),
    Bool(&'a BooleanChunked),
    Date(&'a Int32Chunked),
    TimestampMicros(&'a Int64Chunked),
}

/// Read-only typed access to the rows of a frame whose columns are String, Float64, Int64,
/// Boolean, Date or Datetime(µs, UTC).
pub struct FrameRows<'a> {
    names: Vec<String>,
    columns: Vec<TypedColumn<'a>>,
    len: usize,
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

impl<'a> FrameRows<'a> {
    pub fn new(frame: &'a DataFrame) -> Result<FrameRows<'a>, PolarsError> {
        let mut names = Vec::with_capacity(frame.width());
        let mut columns = Vec::with_capacity(frame.width());
        for column in frame.columns() {
            let series = column.as_materialized_series();
            let typed = match series.dtype() {
                DataType::String => TypedColumn::Text(series.str()?),
                DataType::Float64 => TypedColumn::Number(series.f64()?),
                DataType::Int64 => TypedColumn::Integer(series.i64()?),
                DataType::Boolean => TypedColumn::Bool(series.bool()?),
                DataType::Date => TypedColumn::Date(series.date()?.physical()),
                DataType::Datetime(TimeUnit::Microseconds, _) => {
                    TypedColumn::TimestampMicros(series.datetime()?.physical())
                }
                other => {
                    return Err(PolarsError::ComputeError(
                        format!("column {} has unsupported type {other}", series.name()).into(),
                    ))
                }
            };
            names.push(series.name().to_string());
            columns.push(typed);
        }
        Ok(FrameRows {
            names,
            columns,
            len: frame.height(),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn cell(&self, row: usize, column: usize) -> Cell<'a> {
        debug_assert!(row < self.len);
        match &self.columns[column] {
            TypedColumn::Text(values) => values.get(row).map_or(Cell::Null, Cell::Text),
            TypedColumn::Number(values) => values.get(row).map_or(Cell::Null, Cell::Number),
            TypedColumn::Integer(values) => values.get(row).map_or(Cell::Null, Cell::Integer),
            TypedColumn::Bool(values) => values.get(row).map_or(Cell::Null, Cell::Bool),
            TypedColumn::Date(values) => values.get(row).map_or(Cell::Null, |days| {
                Cell::Date(epoch() + chrono::Duration::days(i64::from(days)))
            }),
            TypedColumn::TimestampMicros(values) => values.get(row).map_or(Cell::Null, |micros| {
                DateTime::from_timestamp_micros(micros).map_or(Cell::Null, Cell::Timestamp)
            }),
        }
    }
}

/// What to do when a row's key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Overwrite the non-key columns: re-loading a corrected file replaces its rows.
    Update,
    /// Keep the stored row.
    Ignore,
}

fn conflict_clause(names: &[String], conflict_key: &[&str], on_conflict: OnConflict) -> String {
    let target = conflict_key.join(", ");
    let updates: Vec<String> = names
        .iter()
        .filter(|name| !conflict_key.contains(&name.as_str()))
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    if on_conflict == OnConflict::Ignore || updates.is_empty() {
        format!(" ON CONFLICT ({target}) DO NOTHING")
    } else {
        format!(
            " ON CONFLICT ({target}) DO UPDATE SET {}",
            updates.join(", ")
        )
    }
}

impl StoreTx {
    /// Inserts every row of `rows` into `table`, merging on `conflict_key`.
    /// `table` and the column names come from the data contract, never from user input.
    pub async fn upsert_rows(
        &mut self,
        table: &str,
        rows: &FrameRows<'_>,
        conflict_key: &[&str],
        on_conflict: OnConflict,
    ) -> Result<(), StoreError> {
        assert!(!conflict_key.is_empty(), "upsert needs a conflict key");
        for key in conflict_key {
            assert!(
                rows.names().iter().any(|name| name == key),
                "conflict key {key} is not a loaded column"
            );
        }
        if rows.is_empty() {
            return Ok(());
        }
        let bulk_into_empty = rows.len() >= BULK_BUILD_MIN_ROWS && self.is_empty(table).await?;
        let deferred = if bulk_into_empty {
            self.drop_secondary_indexes(table).await?
        } else {
            Vec::new()
        };
        match self {
            StoreTx::Sqlite(tx) => {
                upsert_sqlite(&mut *tx, table, rows, conflict_key, on_conflict).await?
            }
            StoreTx::Postgres(tx) => {
                upsert_postgres(
                    &mut *tx,
                    table,
                    rows,
                    conflict_key,
                    on_conflict,
                    bulk_into_empty,
                )
                .await?
            }
        }
        for definition in deferred {
            self.execute_ddl(definition).await?;
        }
        Ok(())
    }

    async fn is_empty(&mut self, table: &str) -> Result<bool, StoreError> {
        let sql = format!("SELECT NOT EXISTS (SELECT 1 FROM {table})");
        Ok(match self {
            StoreTx::Sqlite(tx) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut **tx)
                    .await?
            }
            StoreTx::Postgres(tx) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut **tx)
                    .await?
            }
        })
    }

    /// Drops `table`'s secondary indexes (not the primary key) and returns the statements
    /// that recreate them.
    async fn drop_secondary_indexes(&mut self, table: &str) -> Result<Vec<String>, StoreError> {
        let indexes: Vec<(String, String)> = match self {
            StoreTx::Sqlite(tx) => {
                // Indexes SQLite made for a PRIMARY KEY or UNIQUE constraint have no SQL.
                sqlx::query_as(
                    "SELECT name, sql FROM sqlite_master \
                     WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
                )
                .bind(table)
                .fetch_all(&mut **tx)
                .await?
            }
            StoreTx::Postgres(tx) => {
                sqlx::query_as(
                    "SELECT i.indexname::text, i.indexdef::text FROM pg_indexes i \
                     WHERE i.schemaname = current_schema() AND i.tablename = $1 \
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                     WHERE c.conrelid = to_regclass($1) AND c.conname = i.indexname)",
                )
                .bind(table)
                .fetch_all(&mut **tx)
                .await?
            }
        };
        let mut recreate = Vec::with_capacity(indexes.len());
        for (name, definition) in indexes {
            self.execute_ddl(format!("DROP INDEX {name}")).await?;
            recreate.push(definition);
        }
        Ok(recreate)
    }

    async fn execute_ddl(&mut self, statement: String) -> Result<(), StoreError> {
        match self {
            StoreTx::Sqlite(tx) => {
                tx.execute(AssertSqlSafe(statement)).await?;
            }
            StoreTx::Postgres(tx) => {
                tx.execute(AssertSqlSafe(statement)).await?;
            }
        }
        Ok(())
    }
}

async fn upsert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    rows: &FrameRows<'_>,
    conflict_key: &[&str],
    on_conflict: OnConflict,
) -> Result<(), StoreError> {
    let width = rows.names().len();
    let rows_per_statement =
        (SQLITE_MAX_PARAMETERS / width).clamp(1, SQLITE_MAX_ROWS_PER_STATEMENT);
    let conflict = conflict_clause(rows.names(), conflict_key, on_conflict);
    let column_list = rows.names().join(", ");

    let mut start = 0;
    while start < rows.len() {
        let end = (start + rows_per_statement).min(rows.len());
        let mut sql = String::with_capacity(64 + (end - start) * width * 8);
        write!(sql, "INSERT INTO {table} ({column_list}) VALUES ").expect("write to String");
        // Plain `?` placeholders: SQLite resolves each named `$N` by a linear search, which
        // makes a statement with thousands of them quadratic to prepare.
        for row in start..end {
            sql.push_str(if row == start { "(" } else { ",(" });
            for column in 0..width {
                if column > 0 {
                    sql.push(',');
                }
                sql.push('?');
            }
            sql.push(')');
        }
        sql.push_str(&conflict);

        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in start..end {
            for column in 0..width {
                query = match rows.cell(row, column) {
                    Cell::Null => query.bind(Option::<String>::None),
                    Cell::Text(value) => query.bind(value),
                    Cell::Number(value) => query.bind(value),
                    Cell::Integer(value) => query.bind(value),
                    Cell::Bool(value) => query.bind(value),
                    Cell::Date(value) => query.bind(value),
                    Cell::Timestamp(value) => query.bind(value),
                };
            }
        }
        query.execute(&mut *conn).await?;
        start = end;
    }
    Ok(())
}

/// Appends one value in PostgreSQL's CSV COPY format: an unquoted empty field is NULL,
/// so every text value is quoted.
fn push_copy_cell(buffer: &mut String, cell: Cell<'_>) {
    match cell {
        Cell::Null => {}
        Cell::Text(value) => {
            buffer.push('"');
            for ch in value.chars() {
                if ch == '"' {
                    buffer.push('"');
                }
                buffer.push(ch);
            }
            buffer.push('"');
        }
        Cell::Number(value) => write!(buffer, "{value}").expect("write to String"),
        Cell::Integer(value) => write!(buffer, "{value}").expect("write to String"),
        Cell::Bool(value) => buffer.push_str(if value { "t" } else { "f" }),
        Cell::Date(value) => write!(buffer, "{}", value.format("%Y-%m-%d")).expect("write"),
        Cell::Timestamp(value) => write!(buffer, "{}", value.to_rfc3339()).expect("write"),
    }
}

async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    table: &str,
    target: &str,
    rows: &FrameRows<'_>,
) -> Result<(), StoreError> {
    let column_list = rows.names().join(", ");
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {target} ({column_list}) FROM STDIN WITH (FORMAT csv)"
        ))
        .await?;
    let width = rows.names().len();
    let mut buffer = String::with_capacity(COPY_CHUNK_BYTES + 4096);
    for row in 0..rows.len() {
        for column in 0..width {
            if column > 0 {
                buffer.push(',');
            }
            push_copy_cell(&mut buffer, rows.cell(row, column));
        }
        buffer.push('\n');
        if buffer.len() >= COPY_CHUNK_BYTES {
            let chunk =
                std::mem::replace(&mut buffer, String::with_capacity(COPY_CHUNK_BYTES + 4096));
            if let Err(error) = copy.send(chunk.into_bytes()).await {
                return Err(StoreError::Load {
                    table: table.to_string(),
                    message: error.to_string(),
                });
            }
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.into_bytes()).await?;
    }
    let copied = copy.finish().await?;
    if copied as usize != rows.len() {
        return Err(StoreError::Load {
            table: table.to_string(),
            message: format!("COPY accepted {copied} of {} rows", rows.len()),
        });
    }
    Ok(())
}

/// The primary key constraint of `table` when its columns are exactly `key` and no foreign
/// key points at the table (so it can be dropped and rebuilt inside the load transaction).
async fn droppable_primary_key(
    conn: &mut sqlx::PgConnection,
    table: &str,
    key: &[&str],
) -> Result<Option<String>, StoreError> {
    let referenced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass($1)",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await?;
    if referenced > 0 {
        return Ok(None);
    }
    let found: Option<(String, Vec<String>)> = sqlx::query_as(
        "SELECT c.conname::text, ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n) \
         FROM pg_constraint c WHERE c.contype = 'p' AND c.conrelid = to_regclass($1)",
    )
    .bind(table)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.and_then(|(name, columns)| {
        (columns.iter().map(String::as_str).eq(key.iter().copied())).then_some(name)
    }))
}

async fn upsert_postgres(
    conn: &mut sqlx::PgConnection,
    table: &str,
    rows: &FrameRows<'_>,
    conflict_key: &[&str],
    on_conflict: OnConflict,
    rebuild_key: bool,
) -> Result<(), StoreError> {
    let column_list = rows.names().join(", ");
    if rebuild_key {
        if let Some(constraint) = droppable_primary_key(conn, table, conflict_key).await? {
            // Rows were de-duplicated on the key by validation, so rebuilding the key
            // cannot fail on a duplicate; if it did, the whole transaction rolls back.
            conn.execute(AssertSqlSafe(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {constraint}"
            )))
            .await?;
            copy_rows(conn, table, table, rows).await?;
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
                .await?;
            conn.execute(AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {constraint} PRIMARY KEY ({})",
                conflict_key.join(", ")
            )))
            .await?;
            return Ok(());
        }
    }

    let stage = format!("stage_{table}");
    conn.execute(AssertSqlSafe(format!(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )))
    .await?;
    conn.execute(AssertSqlSafe(format!("TRUNCATE {stage}")))
        .await?;
    copy_rows(conn, table, &stage, rows).await?;
    let conflict = conflict_clause(rows.names(), conflict_key, on_conflict);
    conn.execute(AssertSqlSafe(format!(
        "INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage}{conflict}"
    )))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_clause_updates_non_key_columns() {
        let names = vec!["sku".to_string(), "category".to_string()];
        assert_eq!(
            conflict_clause(&names, &["sku"], OnConflict::Update),
            " ON CONFLICT (sku) DO UPDATE SET category = excluded.category"
        );
        assert_eq!(
            conflict_clause(&names, &["sku"], OnConflict::Ignore),
            " ON CONFLICT (sku) DO NOTHING"
        );
    }

    #[test]
    fn copy_cells_quote_text_and_leave_nulls_empty() {
        let mut buffer = String::new();
        push_copy_cell(&mut buffer, Cell::Text("a \"b\", c"));
        buffer.push(',');
        push_copy_cell(&mut buffer, Cell::Null);
        buffer.push(',');
        push_copy_cell(&mut buffer, Cell::Text(""));
        assert_eq!(buffer, "\"a \"\"b\"\", c\",,\"\"");
    }
}
