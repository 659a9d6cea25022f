//! Reading one input file into a frame of text columns, so that every value can be checked
//! (and a bad one quarantined with its row) instead of failing the whole file on a type error.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::IngestError;
use crate::contract::{FileFormat, Table};

/// A file's contract columns as text, in contract order (absent optional columns are omitted).
pub struct RawFile {
    pub path: PathBuf,
    pub table: Table,
    pub format: FileFormat,
    pub frame: DataFrame,
    pub sha256: String,
    /// Columns the contract does not know; they are ignored, and reported.
    pub ignored_columns: Vec<String>,
}

pub fn file_sha256(path: &Path) -> Result<String, IngestError> {
    let unreadable = |error: std::io::Error| IngestError::Unreadable {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(unreadable)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn expected_header(table: Table) -> String {
    table
        .columns()
        .iter()
        .map(|column| {
            if column.required {
                column.name.to_string()
            } else {
                format!("[{}]", column.name)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn read_raw(
    path: &Path,
    table: Table,
    format: FileFormat,
    sha256: String,
) -> Result<RawFile, IngestError> {
    let plpath = PlRefPath::try_from_path(path).map_err(|error| IngestError::Unreadable {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut lazy = match format {
        FileFormat::Csv => LazyCsvReader::new(plpath)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .finish(),
        FileFormat::Parquet => LazyFrame::scan_parquet(plpath, ScanArgsParquet::default()),
    }
    .map_err(|error| explain_read_error(path, format, table, error))?;

    let schema = lazy
        .collect_schema()
        .map_err(|error| explain_read_error(path, format, table, error))?;
    let present: Vec<String> = schema
        .iter_names()
        .map(|name| name.trim().to_string())
        .collect();
    let missing: Vec<&str> = table
        .columns()
        .iter()
        .filter(|column| column.required && !present.iter().any(|name| name == column.name))
        .map(|column| column.name)
        .collect();
    if !missing.is_empty() {
        return Err(IngestError::BadFile {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "header is missing {}; expected columns {} but found {}",
                missing.join(", "),
                expected_header(table),
                truncate(&present.join(","), 200)
            ),
        });
    }
    let ignored_columns = present
        .iter()
        .filter(|name| table.column(name).is_none())
        .cloned()
        .collect();

    let mut selection = Vec::new();
    for column in table.columns() {
        let Some((_, source_name, dtype)) = schema
            .iter()
            .enumerate()
            .map(|(index, (name, dtype))| (index, name, dtype))
            .find(|(_, name, _)| name.trim() == column.name)
        else {
            continue;
        };
        let expression = col(source_name.clone());
        let as_text = match dtype {
            DataType::String => expression,
            DataType::Datetime(_, _) => expression.dt().to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
            _ => expression.cast(DataType::String),
        };
        selection.push(as_text.alias(column.name));
    }
    let frame = lazy
        .select(selection)
        .collect()
        .map_err(|error| explain_read_error(path, format, table, error))?;

    Ok(RawFile {
        path: path.to_path_buf(),
        table,
        format,
        frame,
        sha256,
        ignored_columns,
    })
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    }
}

/// Polars reports parse failures without a line; re-read the CSV with a strict record reader
/// to name the first line that breaks the format.
fn explain_read_error(
    path: &Path,
    format: FileFormat,
    table: Table,
    error: PolarsError,
) -> IngestError {
    if format == FileFormat::Csv {
        if let Some((line, message)) = first_malformed_csv_line(path, table) {
            return IngestError::BadFile {
                path: path.to_path_buf(),
                line,
                message,
            };
        }
    }
    IngestError::Unreadable {
        path: path.to_path_buf(),
        message: format!(
            "not a readable {} file: {}",
            match format {
                FileFormat::Csv => "CSV",
                FileFormat::Parquet => "Parquet",
            },
            truncate(&error.to_string(), 300)
        ),
    }
}

fn first_malformed_csv_line(path: &Path, table: Table) -> Option<(usize, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .ok()?;
    let header_width = match reader.byte_headers() {
        Ok(header) => header.len(),
        Err(error) => return Some((1, format!("unreadable header: {error}"))),
    };
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return None,
            Ok(true) => {
                if std::str::from_utf8(record.as_slice()).is_err() {
                    let line = record.position().map_or(0, |p| p.line() as usize);
                    return Some((line, "not valid UTF-8 text".to_string()));
                }
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line() as usize);
                let message = match error.kind() {
                    csv::ErrorKind::UnequalLengths { len, .. } => format!(
                        "expected {header_width} fields like the header ({}), found {len}",
                        expected_header(table)
                    ),
                    csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 text".to_string(),
                    _ => error.to_string(),
                };
                return Some((line, message));
            }
        }
    }
}
