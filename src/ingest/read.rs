//! Reading one input file into a frame of text columns, so that every value can be checked
//! (and a bad one quarantined with its row) instead of failing the whole file on a type error.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
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
    /// Rows whose shape is wrong (a CSV line with more or fewer fields than the header), as
    /// (row, reason): validation quarantines them.
    pub malformed: Vec<(usize, String)>,
    /// The line each row starts on, when that is not simply its position (a quoted field
    /// that spans lines, skipped blank lines); `None` when row `r` is on line `r + 2`.
    pub lines: Option<Vec<usize>>,
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

/// Leading bytes of the compressed formats exports arrive in: (magic, format, how to undo it).
const COMPRESSED_MAGIC: &[(&[u8], &str, &str)] = &[
    (&[0x1f, 0x8b], "gzip", "gunzip"),
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd", "zstd -d"),
    (b"PK\x03\x04", "zip", "unzip"),
    (b"PK\x05\x06", "zip", "unzip"),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz", "unxz"),
    (&[0x04, 0x22, 0x4d, 0x18], "lz4", "lz4 -d"),
];

/// The compression a file's first bytes announce, as (format, tool), if any.
fn sniff_compression(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if let Some((_, format, tool)) = COMPRESSED_MAGIC
        .iter()
        .find(|(magic, _, _)| head.starts_with(magic))
    {
        return Some((format, tool));
    }
    // "BZh" alone could begin a text header; bzip2 follows it with the block size 1–9.
    match head {
        [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(("bzip2", "bunzip2")),
        _ => None,
    }
}

/// Refuses a compressed file before polars sees it (it would panic on one: its
/// decompression feature is not built in). Costs one open and a 6-byte read.
pub fn check_not_compressed(path: &Path) -> Result<(), IngestError> {
    let unreadable = |error: std::io::Error| IngestError::Unreadable {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let mut head = Vec::with_capacity(6);
    File::open(path)
        .map_err(unreadable)?
        .take(6)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    match sniff_compression(&head) {
        Some((compression, tool)) => Err(IngestError::Compressed {
            path: path.to_path_buf(),
            compression,
            tool,
        }),
        None => Ok(()),
    }
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
    check_not_compressed(path)?;
    let plpath = PlRefPath::try_from_path(path).map_err(|error| IngestError::Unreadable {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut lazy = match format {
        // Ragged lines are cut (or padded) rather than fatal: `scan_csv_shape` finds them,
        // and validation quarantines them row by row.
        FileFormat::Csv => LazyCsvReader::new(plpath)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .with_truncate_ragged_lines(true)
            .finish(),
        FileFormat::Parquet => LazyFrame::scan_parquet(plpath, ScanArgsParquet::default()),
    }
    .map_err(|error| explain_read_error(path, format, error))?;

    let schema = lazy
        .collect_schema()
        .map_err(|error| explain_read_error(path, format, error))?;
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
    // The shape scan reads the file a second time; beside polars' parse it costs little
    // wall time.
    let (shape, frame) = std::thread::scope(|scope| {
        let shape = (format == FileFormat::Csv).then(|| scope.spawn(|| scan_csv_shape(path)));
        let frame = lazy.select(selection).collect();
        let shape = shape.map(|scan| scan.join().expect("the shape scan does not panic"));
        (shape, frame)
    });
    // The scan's error names a line; polars' (for the same broken quote) would not.
    let shape = shape.transpose()?;
    let mut frame = frame.map_err(|error| explain_read_error(path, format, error))?;
    let (malformed, lines) = match shape {
        Some(shape) => {
            let rows = shape.into_rows(path, frame.height())?;
            if let Some(keep) = rows.keep {
                frame = frame.filter(&keep)?;
            }
            (rows.malformed, rows.lines)
        }
        None => (Vec::new(), None),
    };

    Ok(RawFile {
        path: path.to_path_buf(),
        table,
        format,
        frame,
        sha256,
        ignored_columns,
        malformed,
        lines,
    })
}

/// The shape of a CSV file's records, from one pass over its bytes. polars pads a short
/// record with nulls and cuts a long one, so the rows it returns cannot tell a ragged record
/// from one with empty values; this pass can. It also finds blank lines, which polars
/// returns as rows of nulls.
#[derive(Debug, Default)]
struct CsvShape {
    header_fields: Option<usize>,
    /// Data records (after the header), blank lines included: polars' rows.
    records: usize,
    /// The blank records, in order.
    blank: Vec<usize>,
    /// (record, fields) of each data record whose field count differs from the header's.
    ragged: Vec<(usize, usize)>,
    /// The line each data record starts on, once one does not start on `record + 2`.
    lines: Option<Vec<usize>>,
    // The record being read.
    fields: usize,
    in_quotes: bool,
    quoted_field: bool,
    at_field_start: bool,
    record_line: usize,
    quote_line: usize,
}

/// What a CSV file's shape means for the rows polars read from it.
struct RowShape {
    /// Rows to keep (`None`: all): blank lines hold no row.
    keep: Option<BooleanChunked>,
    /// (row, reason) of the ragged rows, counted after the blank ones are dropped.
    malformed: Vec<(usize, String)>,
    /// The line of each kept row, when not simply `row + 2`.
    lines: Option<Vec<usize>>,
}

impl CsvShape {
    /// Adds one physical line (with its `\n`, if any), `number` counting from 1.
    fn add_line(&mut self, line: &[u8], number: usize) {
        if !self.in_quotes {
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            self.record_line = number;
            if content.is_empty() {
                if self.header_fields.is_some() {
                    self.blank.push(self.records);
                    self.finish_record(None);
                }
                return;
            }
            self.fields = 1;
            self.at_field_start = true;
            self.quoted_field = false;
            // Most lines hold no quote: counting separators is the whole job.
            if !content.contains(&b'"') {
                self.fields += content.iter().filter(|&&byte| byte == b',').count();
                self.finish_record(Some(self.fields));
                return;
            }
        }
        // polars' rules: a field that starts with a quote is quoted, and within it every
        // quote toggles (so `""` is a literal quote); elsewhere a quote is a literal.
        for &byte in line {
            if self.in_quotes {
                if byte == b'"' {
                    self.in_quotes = false;
                }
                continue;
            }
            match byte {
                b',' => {
                    self.fields += 1;
                    self.at_field_start = true;
                    self.quoted_field = false;
                    continue;
                }
                b'"' if self.at_field_start || self.quoted_field => {
                    if self.at_field_start {
                        self.quote_line = number;
                    }
                    self.in_quotes = true;
                    self.quoted_field = true;
                }
                _ => {}
            }
            self.at_field_start = false;
        }
        if !self.in_quotes {
            self.finish_record(Some(self.fields));
        }
    }

    /// Ends the record being read; `fields` is `None` for a blank line.
    fn finish_record(&mut self, fields: Option<usize>) {
        let Some(header_fields) = self.header_fields else {
            self.header_fields = fields;
            return;
        };
        let record = self.records;
        self.records += 1;
        if let Some(fields) = fields.filter(|fields| *fields != header_fields) {
            self.ragged.push((record, fields));
        }
        let line = self.record_line;
        match &mut self.lines {
            Some(lines) => lines.push(line),
            None if line != record + 2 => {
                let mut lines: Vec<usize> = (0..record).map(|earlier| earlier + 2).collect();
                lines.push(line);
                self.lines = Some(lines);
            }
            None => {}
        }
    }

    fn line_of(&self, record: usize) -> usize {
        self.lines
            .as_ref()
            .map_or(record + 2, |lines| lines[record])
    }

    /// What the shape means for a frame of `rows` rows read from the same file.
    fn into_rows(self, path: &Path, rows: usize) -> Result<RowShape, IngestError> {
        let header_fields = self.header_fields.unwrap_or(0);
        let reason = |fields: usize| {
            format!("expected {header_fields} fields like the header, found {fields}")
        };
        if self.records != rows {
            // The scan and polars disagree on where the rows are, so the ragged records
            // cannot be matched to rows: a ragged file stops the ingest (naming the first
            // ragged line), any other keeps polars' rows with positional line numbers.
            return match self.ragged.first() {
                Some(&(record, fields)) => Err(IngestError::BadFile {
                    path: path.to_path_buf(),
                    line: self.line_of(record),
                    message: reason(fields),
                }),
                None => Ok(RowShape {
                    keep: None,
                    malformed: Vec::new(),
                    lines: None,
                }),
            };
        }
        if self.blank.is_empty() {
            return Ok(RowShape {
                keep: None,
                malformed: self
                    .ragged
                    .iter()
                    .map(|&(record, fields)| (record, reason(fields)))
                    .collect(),
                lines: self.lines,
            });
        }
        // Row numbers once the blank records are dropped.
        let row_of = |record: usize| record - self.blank.partition_point(|&blank| blank < record);
        let keep: BooleanChunked = {
            let mut keep = vec![true; self.records];
            for &blank in &self.blank {
                keep[blank] = false;
            }
            keep.into_iter().collect()
        };
        let lines: Vec<usize> = (0..self.records)
            .filter(|record| self.blank.binary_search(record).is_err())
            .map(|record| self.line_of(record))
            .collect();
        let regular = lines.iter().enumerate().all(|(row, line)| *line == row + 2);
        Ok(RowShape {
            keep: Some(keep),
            malformed: self
                .ragged
                .iter()
                .map(|&(record, fields)| (row_of(record), reason(fields)))
                .collect(),
            lines: (!regular).then_some(lines),
        })
    }
}

/// Reads the file once to find its records' shapes (see [`CsvShape`]). A quoted field that
/// is never closed makes the rest of the file one field: that stops the ingest, naming the
/// line the quote opened on.
fn scan_csv_shape(path: &Path) -> Result<CsvShape, IngestError> {
    let unreadable = |error: std::io::Error| IngestError::Unreadable {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(unreadable)?);
    let mut shape = CsvShape::default();
    let mut line = Vec::with_capacity(256);
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(unreadable)? == 0 {
            break;
        }
        number += 1;
        shape.add_line(&line, number);
    }
    if shape.in_quotes {
        return Err(IngestError::BadFile {
            path: path.to_path_buf(),
            line: shape.quote_line,
            message: "a quoted field opened on this line is never closed".to_string(),
        });
    }
    Ok(shape)
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    }
}

/// Polars reports parse failures without a line; re-read the CSV with a record reader to
/// name the first line that breaks the format. Ragged lines do not: they are quarantined.
fn explain_read_error(path: &Path, format: FileFormat, error: PolarsError) -> IngestError {
    if format == FileFormat::Csv {
        if let Some((line, message)) = first_malformed_csv_line(path) {
            return IngestError::BadFile {
                path: path.to_path_buf(),
                line,
                message,
            };
        }
    }
    // polars' messages run over several lines (with advice meant for Python users); the
    // user gets one.
    let message = error.to_string();
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    IngestError::Unreadable {
        path: path.to_path_buf(),
        message: format!(
            "not a readable {} file: {}",
            match format {
                FileFormat::Csv => "CSV",
                FileFormat::Parquet => "Parquet",
            },
            truncate(&message, 300)
        ),
    }
}

fn first_malformed_csv_line(path: &Path) -> Option<(usize, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .ok()?;
    if let Err(error) = reader.byte_headers() {
        return Some((1, format!("unreadable header: {error}")));
    }
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
                    csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 text".to_string(),
                    _ => error.to_string(),
                };
                return Some((line, message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_recognised_by_its_first_bytes() {
        assert_eq!(
            sniff_compression(&[0x1f, 0x8b, 8, 0]),
            Some(("gzip", "gunzip"))
        );
        assert_eq!(
            sniff_compression(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(("zstd", "zstd -d"))
        );
        assert_eq!(sniff_compression(b"BZh91AY"), Some(("bzip2", "bunzip2")));
        assert_eq!(sniff_compression(b"PK\x03\x04"), Some(("zip", "unzip")));
        assert_eq!(sniff_compression(b"date,sku"), None);
        assert_eq!(sniff_compression(b"BZh,x"), None, "a text header");
        assert_eq!(sniff_compression(b"PAR1"), None, "Parquet");
        assert_eq!(sniff_compression(b""), None);
    }

    fn shape(text: &str) -> CsvShape {
        let mut shape = CsvShape::default();
        for (index, line) in text.split_inclusive('\n').enumerate() {
            shape.add_line(line.as_bytes(), index + 1);
        }
        shape
    }

    #[test]
    fn ragged_records_are_found_whichever_way_they_are_ragged() {
        let found = shape("a,b,c\n1,2,3\n1,2,3,4\n1,2\n1,2,\n1,2,3");
        assert_eq!(found.header_fields, Some(3));
        assert_eq!(found.records, 5);
        assert_eq!(found.ragged, vec![(1, 4), (2, 2)]);
        assert_eq!(found.lines, None, "one record per line");
    }

    #[test]
    fn quoted_fields_hold_separators_quotes_and_line_breaks() {
        let found =
            shape("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",3\n\"two\nlines\",2,3\n4,5\" wide,6\n");
        assert_eq!(found.records, 3);
        assert!(found.ragged.is_empty(), "{:?}", found.ragged);
        assert_eq!(
            found.lines,
            Some(vec![2, 3, 5]),
            "the third record starts on line 5"
        );
        let open = shape("a,b\n1,\"never closed\n2,3\n");
        assert!(open.in_quotes);
        assert_eq!(open.quote_line, 2);
    }

    #[test]
    fn blank_lines_are_dropped_and_later_lines_keep_their_numbers() {
        // polars returns a row of nulls for each blank line, the last one included.
        let found = shape("a,b\r\n1,2\r\n\r\n3\r\n\n");
        assert_eq!(found.records, 4);
        assert_eq!(found.blank, vec![1, 3]);
        let rows = found.into_rows(Path::new("x.csv"), 4).unwrap();
        let keep: Vec<Option<bool>> = rows.keep.unwrap().iter().collect();
        assert_eq!(keep, [true, false, true, false].map(Some));
        assert_eq!(
            rows.malformed,
            vec![(1, "expected 2 fields like the header, found 1".to_string())]
        );
        assert_eq!(rows.lines, Some(vec![2, 4]));
    }
}
