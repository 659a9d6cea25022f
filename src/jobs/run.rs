//! Running a job's steps in order against one store.

use std::path::Path;
use std::time::Instant;

use super::{JobDefinition, JobError, Step};
use crate::contract::Table;
use crate::generate::{generate, GenerateConfig, OutputFormat};
use crate::ingest::{ingest_dir, IngestOptions, IngestReport};
use crate::report::{dataset_summary, DatasetSummary};
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRunReport {
    pub job: String,
    /// Set when this run generated the sample data first.
    pub generated_sample: Option<String>,
    pub steps: Vec<StepReport>,
    pub ingest: Option<IngestReport>,
    pub summary: Option<DatasetSummary>,
}

fn folder_has_inputs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| Table::from_file_name(&entry.file_name().to_string_lossy()).is_some())
    })
}

fn failed(step: Step, error: impl std::fmt::Display) -> JobError {
    JobError::StepFailed {
        step: step.as_str().to_string(),
        message: error.to_string(),
    }
}

/// Runs `job` with relative paths resolved against `base_dir`.
pub async fn run_job(
    store: &Store,
    job: &JobDefinition,
    base_dir: &Path,
) -> Result<JobRunReport, JobError> {
    let data_dir = base_dir.join(&job.data_dir);
    let mut report = JobRunReport {
        job: job.name.clone(),
        generated_sample: None,
        steps: Vec::new(),
        ingest: None,
        summary: None,
    };
    if !folder_has_inputs(&data_dir) {
        if let Some(sample) = &job.sample {
            let config = GenerateConfig {
                skus: sample.skus,
                warehouses: sample.warehouses,
                days: sample.days,
                seed: sample.seed,
                format: OutputFormat::Csv,
                end_date: sample.end_date,
                truth_days: 56,
            };
            let generated = generate(&config, &data_dir).map_err(|error| JobError::StepFailed {
                step: "generate-sample".to_string(),
                message: error.to_string(),
            })?;
            report.generated_sample = Some(format!(
                "{} ({} SKUs × {} warehouses × {} days, seed {}, {} files in {:.1} s)",
                data_dir.display(),
                sample.skus,
                sample.warehouses,
                sample.days,
                sample.seed,
                generated.files.len(),
                generated.seconds
            ));
        }
    }
    for step in &job.steps {
        let started = Instant::now();
        match step {
            Step::Ingest => {
                let options = IngestOptions {
                    freq: job.freq,
                    ..IngestOptions::default()
                };
                let ingested = ingest_dir(store, &data_dir, &options)
                    .await
                    .map_err(|error| failed(*step, error))?;
                report.ingest = Some(ingested);
            }
            Step::Summary => {
                let summary = dataset_summary(store)
                    .await
                    .map_err(|error| failed(*step, error))?;
                report.summary = Some(summary);
            }
        }
        report.steps.push(StepReport {
            step: step.as_str(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(report)
}
