//! Streaming file sinks: one per output table, CSV or Parquet.
//!
//! Chunks arrive in a deterministic order and are appended as they come,
//! so memory stays bounded by a few generation blocks. Parquet chunks
//! smaller than a row group are buffered and merged; large ones are split.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::tables::{Chunk, Encoded, Names, TableRow};
use super::{GenerateError, OutputFormat};

/// Target Parquet row-group size (rows).
const ROW_GROUP: usize = 512 * 1024;

enum SinkKind {
    Csv(BufWriter<File>),
    Parquet {
        writer: Box<polars::io::parquet::write::BatchedWriter<File>>,
        pending: Option<DataFrame>,
    },
}

/// An open output file.
pub(crate) struct Sink {
    path: PathBuf,
    rows: usize,
    kind: SinkKind,
}

fn io_err(path: &Path, source: std::io::Error) -> GenerateError {
    GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> GenerateError {
    GenerateError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Sink {
    /// Creates `<out_dir>/<path>.<ext>` for the table of `R` and writes the CSV header.
    pub(crate) fn create<R: TableRow>(
        out_dir: &Path,
        names: &Names,
        format: OutputFormat,
    ) -> Result<Sink, GenerateError> {
        let def = R::DEF;
        let path = super::table_path(out_dir, def, format);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        let file = File::create(&path).map_err(|e| io_err(&path, e))?;
        let kind = match format {
            OutputFormat::Csv => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                let header = def.csv_header().map_err(|e| write_err(&path, e))?;
                w.write_all(&header).map_err(|e| io_err(&path, e))?;
                SinkKind::Csv(w)
            }
            OutputFormat::Parquet => {
                let schema = R::schema(names).map_err(|e| write_err(&path, e))?;
                let writer = ParquetWriter::new(file)
                    .batched(&schema)
                    .map_err(|e| write_err(&path, e))?;
                SinkKind::Parquet {
                    writer: Box::new(writer),
                    pending: None,
                }
            }
        };
        Ok(Sink {
            path,
            rows: 0,
            kind,
        })
    }

    /// Appends one encoded chunk.
    pub(crate) fn write(&mut self, chunk: Chunk) -> Result<(), GenerateError> {
        self.rows += chunk.rows;
        match (&mut self.kind, chunk.data) {
            (SinkKind::Csv(w), Encoded::Csv(bytes)) => {
                w.write_all(&bytes).map_err(|e| io_err(&self.path, e))
            }
            (SinkKind::Parquet { writer, pending }, Encoded::Frame(df)) => {
                if df.height() == 0 {
                    return Ok(());
                }
                let merged = match pending.take() {
                    None => df,
                    Some(mut p) => {
                        p.vstack_mut_owned(df)
                            .map_err(|e| write_err(&self.path, e))?;
                        p
                    }
                };
                if merged.height() >= ROW_GROUP {
                    write_frame(writer, merged, &self.path)
                } else {
                    *pending = Some(merged);
                    Ok(())
                }
            }
            _ => Err(write_err(
                &self.path,
                "chunk format does not match the sink",
            )),
        }
    }

    /// Flushes and closes the file; returns its path and row count.
    pub(crate) fn finish(self) -> Result<(PathBuf, usize), GenerateError> {
        let Sink { path, rows, kind } = self;
        match kind {
            SinkKind::Csv(mut w) => {
                w.flush().map_err(|e| io_err(&path, e))?;
                let file = w.into_inner().map_err(|e| io_err(&path, e.into_error()))?;
                drop(file);
            }
            SinkKind::Parquet {
                mut writer,
                pending,
            } => {
                if let Some(df) = pending {
                    write_frame(&mut writer, df, &path)?;
                }
                writer.finish().map_err(|e| write_err(&path, e))?;
            }
        }
        Ok((path, rows))
    }
}

/// Writes a frame as one or more row groups of at most ~[`ROW_GROUP`] rows.
fn write_frame(
    writer: &mut polars::io::parquet::write::BatchedWriter<File>,
    mut df: DataFrame,
    path: &Path,
) -> Result<(), GenerateError> {
    df.rechunk_mut();
    let height = df.height();
    let mut offset = 0;
    while offset < height {
        let len = ROW_GROUP.min(height - offset);
        let part = df.slice(offset as i64, len);
        writer.write_batch(&part).map_err(|e| write_err(path, e))?;
        offset += len;
    }
    Ok(())
}
