//! Allocating a group of overlapping promotions end to end, shared by `stockcast allocate` and
//! the job runner: build one problem for the group from the store and a forecast, solve it,
//! write the run with the figures the solver computed.

use chrono::{NaiveDate, Utc};

use super::inputs::{group_for_promotion, load_problem, Economics, ForecastRows};
use super::runs::{new_run_id, write_run, RunHeader};
use super::AllocationStoreError;
use crate::allocate::{solve, AllocationProblem, AllocationSolution, Policy, PromotionWindow};
use crate::store::Store;

pub struct AllocationOutcome {
    pub header: RunHeader,
    pub problem: AllocationProblem,
    pub solution: AllocationSolution,
}

/// Solves `promotion` together with every promotion whose window overlaps it (they share
/// stock and capacity), as of `as_of`, and writes the run, published now or staged for a
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
    let group = group_for_promotion(store, promotion, as_of).await?;
    allocate_group(
        store,
        &group,
        as_of,
        forecast,
        policy,
        economics,
        publish_now,
    )
    .await
}

/// Solves one group of promotions (see `allocate::overlapping_groups`) in one problem.
pub async fn allocate_group(
    store: &Store,
    group: &[PromotionWindow],
    as_of: NaiveDate,
    forecast: &ForecastRows,
    policy: Policy,
    economics: &Economics,
    publish_now: bool,
) -> Result<AllocationOutcome, AllocationStoreError> {
    let ids: Vec<String> = group.iter().map(|w| w.promotion.clone()).collect();
    let built = load_problem(store, &ids, as_of, forecast, policy, economics).await?;
    let solution = solve(&built.problem)?;
    let now = Utc::now();
    let mut promotions: Vec<String> = built.windows.iter().map(|w| w.promotion.clone()).collect();
    promotions.sort();
    let header = RunHeader {
        id: new_run_id(now),
        created_at: now,
        as_of,
        promotion: promotions.join("+"),
        promotions,
        window_start: Some(built.window_start),
        window_end: Some(built.window_end),
        policy,
        input_fingerprint: built.fingerprint,
    };
    write_run(store, &header, &built.problem, &solution, publish_now).await?;
    Ok(AllocationOutcome {
        header,
        problem: built.problem,
        solution,
    })
}
