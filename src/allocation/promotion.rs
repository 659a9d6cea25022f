//! Allocating one promotion end to end, shared by `stockcast allocate` and the job runner:
//! build the problem from the store and a forecast, solve, write the run.

use chrono::{NaiveDate, Utc};

use super::inputs::{build_problem, Economics, ForecastRows};
use super::runs::{new_run_id, write_run, RunHeader};
use super::AllocationStoreError;
use crate::allocate::{solve, AllocationProblem, AllocationSolution, Policy};
use crate::store::Store;

pub struct AllocationOutcome {
    pub header: RunHeader,
    pub problem: AllocationProblem,
    pub solution: AllocationSolution,
}

impl AllocationOutcome {
    pub fn units_placed(&self) -> u64 {
        self.solution.targets.iter().map(|t| t.target_units).sum()
    }

    pub fn units_moved(&self) -> u64 {
        self.solution.transfers.iter().map(|t| t.units).sum()
    }
}

/// Solves `promotion` as of `as_of` and writes the run, published now or staged for a
/// job's publish step.
pub async fn allocate_promotion(
    store: &Store,
    promotion: &str,
    as_of: NaiveDate,
    forecast: &ForecastRows,
    policy: Policy,
    economics: &Economics,
    publish_now: bool,
) -> Result<AllocationOutcome, AllocationStoreError> {
    let (problem, fingerprint) =
        build_problem(store, promotion, as_of, forecast, policy, economics).await?;
    let solution = solve(&problem)?;
    let now = Utc::now();
    let header = RunHeader {
        id: new_run_id(now),
        created_at: now,
        as_of,
        promotion: promotion.to_string(),
        policy,
        input_fingerprint: fingerprint,
    };
    write_run(store, &header, &problem, &solution, publish_now).await?;
    Ok(AllocationOutcome {
        header,
        problem,
        solution,
    })
}
