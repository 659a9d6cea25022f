//! stockcast: demand forecasting, stock allocation and live reservations for a
//! furniture-and-decor retailer's seasonal promotions.
//!
//! # Layout
//!
//! Pure cores take data and return data; they never touch the database, files or the clock
//! (time is passed in):
//!
//! - [`contract`]: the input tables, their columns, types, keys and load order.
//! - [`ingest`]`::validate`: text rows → typed accepted rows + quarantined rows with reasons.
//! - [`calendar`]: the built-in US retail event calendar.
//! - [`forecast`]: the engine (panel, features, linfa and boosted-tree models, baselines, the
//!   choice per category, quantiles, backtests); its `dataset`, `output`, `registry` and
//!   `pipeline` modules are the edges.
//! - [`allocate`]: the allocation solver: stock targets and a transfer plan for a group of
//!   overlapping promotions, and the plan's figures.
//! - [`reserve`]: the reservation rules: holds, commits, releases and expiry over locked rows.
//! - [`generate`]: the synthetic furniture-and-decor dataset (writing its files is the only IO).
//!
//! [`clock`] is time as a dependency: the live core asks a `Clock` for "now", so tests move it.
//!
//! Edges do the IO and call the cores:
//!
//! - [`store`]: the database (SQLite by default, PostgreSQL by URL), migrations, bulk upserts,
//!   and the rule for which sales count (`sales_source`).
//! - [`ingest`]: reading a folder of files, quarantine files, loading in one transaction.
//! - [`jobs`]: job files in `jobs/`, the runner that `stockcast jobs run`, cron and
//!   `stockcast scheduler` share, run history, locks, the publish guard and the forecast shard
//!   queue (its `schedule` and `guard` modules are pure).
//! - [`allocation`]: building an allocation problem from the store and a forecast, writing,
//!   publishing and reading allocation runs, and which run is in force (`in_force`).
//! - [`reservation_store`]: the reservation core's database edge and its group-commit worker.
//! - [`serve`]: the HTTP service over the reservation core and the allocation tables.
//! - [`keys`]: API keys and their roles, stored as hashes.
//! - [`report`]: read-only reports for the CLI (table, CSV, JSON, HTML).
//! - [`bench`](mod@bench): the measurements behind `stockcast bench …` (see `BENCHMARKS.md`).
//!
//! The binary (`src/main.rs`, `src/cli/`) parses arguments, calls one library function per
//! command, prints, and maps errors to exit codes (0 ok, 1 failure, 2 bad usage or input).
//! `ARCHITECTURE.md` has the code map and the invariants.

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
