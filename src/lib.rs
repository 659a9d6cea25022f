//! stockcast: demand forecasting, stock allocation and live reservations for a
//! furniture-and-decor retailer's seasonal promotions.
//!
//! # Layout
//!
//! Pure cores take data and return data; they never touch the database, files or the clock:
//!
//! - [`contract`]: the input tables, their columns, types, keys and load order.
//! - [`ingest`]`::validate`: text rows → typed accepted rows + quarantined rows with reasons.
//! - [`calendar`]: the built-in US retail event calendar.
//! - [`clock`]: time as a dependency, so the live core and its tests control "now".
//! - [`forecast`]: the engine (panel, features, linfa models, baselines, the choice per
//!   category, quantiles, backtests); its `dataset`, `output`, `registry` and `pipeline`
//!   modules are the edges.
//! - [`allocate`]: the allocation solver: stock targets and a transfer plan per promotion.
//! - [`reserve`]: the reservation rules: holds, commits, releases and expiry over locked rows.
//! - [`generate`]: the synthetic furniture-and-decor dataset (its writer is the only IO).
//!
//! Edges do the IO and call the cores:
//!
//! - [`store`]: the database (SQLite by default, PostgreSQL by URL), migrations, bulk upserts.
//! - [`ingest`]: reading a folder of files, quarantine files, loading in one transaction.
//! - [`jobs`]: job files in `jobs/`, the runner that `stockcast jobs run`, cron and
//!   `stockcast scheduler` share, run history, locks and the forecast shard queue
//!   (its `schedule` module is pure).
//! - [`allocation`]: building an allocation problem from the store and a forecast, and
//!   writing, publishing and reading allocation runs.
//! - [`reservation_store`]: the reservation core's database edge and its group-commit worker.
//! - [`serve`]: the HTTP service over the reservation core and the allocation tables.
//! - [`keys`]: API keys and their roles, stored as hashes.
//! - [`report`]: read-only summaries for the CLI.
//! - [`bench`](mod@bench): the measurements behind `stockcast bench …`.
//!
//! The binary (`src/main.rs`, `src/cli/`) parses arguments, calls one library function per
//! command, prints, and maps errors to exit codes (0 ok, 1 failure, 2 bad usage or input).

pub mod allocate;
pub mod allocation;
pub mod bench;
pub mod calendar;
pub mod clock;
pub mod contract;
pub mod forecast;
pub mod generate;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod report;
pub mod reservation_store;
pub mod reserve;
pub mod serve;
pub mod store;
