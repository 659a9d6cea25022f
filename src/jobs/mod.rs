//! Jobs: named, ordered pipelines defined in `jobs/*.toml`. `stockcast jobs run NAME` and a
//! system crontab line run the same code.

mod definition;
mod run;

pub use definition::{
    default_sample_end_date, load_job, load_jobs_dir, JobDefinition, JobError, SampleData, Step,
};
pub use run::{run_job, JobRunReport, StepReport};
