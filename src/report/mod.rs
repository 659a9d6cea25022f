//! Read-only reports over the store, printed by the CLI each morning.

mod dataset_summary;

pub use dataset_summary::{dataset_summary, DatasetSummary};
