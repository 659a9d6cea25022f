//! Rejected rows go to `<name>.rejected.csv` beside the input, with `line` and `reason` columns,
//! so nothing is lost and the file can be fixed and re-ingested.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::IngestError;

pub fn quarantine_path(input: &Path, quarantine_dir: Option<&Path>) -> PathBuf {
    let file_name = input
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name.as_str(), |(stem, _)| stem);
    let dir = quarantine_dir
        .map(Path::to_path_buf)
        .or_else(|| input.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(format!("{stem}.rejected.csv"))
}

/// Writes the rejected rows (or removes a stale quarantine file when there are none).
/// Written to a temporary name and renamed, so a reader never sees half a file.
pub fn write_quarantine(
    path: &Path,
    rejected: &mut DataFrame,
) -> Result<Option<PathBuf>, IngestError> {
    let io_error = |error: std::io::Error| IngestError::Quarantine {
        path: path.to_path_buf(),
        error,
    };
    if rejected.height() == 0 {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(error)),
        }
        return Ok(None);
    }
    let partial = path.with_extension("csv.partial");
    let mut file = File::create(&partial).map_err(io_error)?;
    CsvWriter::new(&mut file)
        .include_header(true)
        .finish(rejected)
        .map_err(|error| io_error(std::io::Error::other(error.to_string())))?;
    file.sync_all().map_err(io_error)?;
    std::fs::rename(&partial, path).map_err(io_error)?;
    Ok(Some(path.to_path_buf()))
}
