//! Parsing and validating job files. A typo, an unknown step or a bad cron expression is
//! reported with the file (and line where TOML gives one) when the file is read, never at run time.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Deserialize;
use thiserror::Error;

use crate::contract::Frequency;

#[derive(Debug, Error)]
pub enum JobError {
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("no job named '{name}' in {} (known: {known})", dir.display())]
    UnknownJob {
        name: String,
        dir: PathBuf,
        known: String,
    },
    #[error("step {step}: {message}")]
    StepFailed { step: String, message: String },
}

impl JobError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, JobError::Invalid { .. } | JobError::UnknownJob { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Load new or changed files from the job's data folder.
    Ingest,
    /// Print what the store now holds.
    Summary,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Ingest => "ingest",
            Step::Summary => "summary",
        }
    }
}

/// Generated into `data_dir` on first use when the folder holds no input files, so a fresh
/// clone runs the job with no set-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleData {
    pub skus: usize,
    pub warehouses: usize,
    pub days: usize,
    pub seed: u64,
    /// Last day of generated history; fixed so the sample is the same on every machine.
    #[serde(default = "default_sample_end_date")]
    pub end_date: NaiveDate,
}

/// The last history day of generated sample data unless a job or `--end-date` says otherwise.
pub fn default_sample_end_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDefinition {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Six-field cron expression (sec min hour day-of-month month day-of-week), `cron` crate syntax.
    pub schedule: String,
    /// Input folder, relative to the directory the job runs from.
    pub data_dir: PathBuf,
    #[serde(default)]
    pub freq: Frequency,
    pub steps: Vec<Step>,
    pub sample: Option<SampleData>,
    #[serde(skip)]
    pub source: PathBuf,
}

pub fn load_job(path: &Path) -> Result<JobDefinition, JobError> {
    let invalid = |message: String| JobError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|error| invalid(error.to_string()))?;
    let mut job: JobDefinition = toml::from_str(&text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1);
        let message = error.message().to_string();
        match line {
            Some(line) => invalid(format!("line {line}: {message}")),
            None => invalid(message),
        }
    })?;
    cron::Schedule::from_str(&job.schedule)
        .map_err(|error| invalid(format!("schedule '{}': {error}", job.schedule)))?;
    if job.steps.is_empty() {
        return Err(invalid("steps: a job needs at least one step".to_string()));
    }
    let expected_name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().to_string());
    if expected_name.as_deref() != Some(job.name.as_str()) {
        return Err(invalid(format!(
            "name '{}' must match the file name",
            job.name
        )));
    }
    job.source = path.to_path_buf();
    Ok(job)
}

/// Reads and validates every `*.toml` in `dir`; one bad file fails the whole call.
pub fn load_jobs_dir(dir: &Path) -> Result<Vec<JobDefinition>, JobError> {
    let entries = std::fs::read_dir(dir).map_err(|error| JobError::Invalid {
        path: dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|path| load_job(path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_typo_is_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "nightly.toml",
            "name = \"nightly\"\nschedule = \"0 0 2 * * *\"\ndata_dir = \"data\"\nstepz = [\"ingest\"]\n",
        );
        let error = load_job(&path).unwrap_err().to_string();
        assert!(error.contains("nightly.toml: line 4"), "{error}");
        assert!(error.contains("stepz"), "{error}");
    }

    #[test]
    fn unknown_steps_and_bad_cron_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "nightly.toml",
            "name = \"nightly\"\nschedule = \"0 0 2 * * *\"\ndata_dir = \"data\"\nsteps = [\"ingest\", \"frobnicate\"]\n",
        );
        let error = load_job(&path).unwrap_err().to_string();
        assert!(error.contains("frobnicate"), "{error}");

        let path = write(
            dir.path(),
            "nightly.toml",
            "name = \"nightly\"\nschedule = \"every night\"\ndata_dir = \"data\"\nsteps = [\"ingest\"]\n",
        );
        let error = load_job(&path).unwrap_err().to_string();
        assert!(error.contains("schedule 'every night'"), "{error}");
    }

    #[test]
    fn the_shipped_jobs_are_valid() {
        let jobs =
            load_jobs_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs").as_path()).unwrap();
        assert!(jobs.iter().any(|job| job.name == "nightly"));
    }
}
