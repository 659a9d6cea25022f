//! `stockcast bench allocate`: the solver on a generated instance whose warehouse capacities
//! bind, timed over several runs, with the gap to the LP relaxation's bound. A baseline in
//! the same invocation: the same SKUs allocated ignoring capacities (the per-SKU greedy
//! alone), to show what coupling the warehouses costs.

use std::time::Instant;

use super::{median, BenchError};
use crate::allocate::{bench_instance, solve, verify};

#[derive(Debug, Clone, serde::Serialize)]
pub struct AllocateBenchResult {
    pub skus: usize,
    pub warehouses: usize,
    pub cells: usize,
    pub run_seconds: Vec<f64>,
    pub solve_seconds: f64,
    pub objective: f64,
    pub bound: f64,
    pub gap: f64,
    pub uncapacitated_seconds: f64,
}

pub fn bench_allocate(
    skus: usize,
    warehouses: usize,
    seed: u64,
    runs: usize,
) -> Result<AllocateBenchResult, BenchError> {
    if runs == 0 || runs > 20 {
        return Err(BenchError::Invalid(
            "--runs must be between 1 and 20".to_string(),
        ));
    }
    if skus == 0 || warehouses == 0 || skus.saturating_mul(warehouses) > 50_000_000 {
        return Err(BenchError::Invalid(
            "--skus × --warehouses must be between 1 and 50,000,000".to_string(),
        ));
    }
    let problem = bench_instance(skus, warehouses, seed);
    let mut run_seconds = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let solution = solve(&problem).map_err(|e| BenchError::Invalid(e.to_string()))?;
        run_seconds.push(started.elapsed().as_secs_f64());
        last = Some(solution);
    }
    let solution = last.expect("at least one run");
    verify(&problem, &solution)
        .map_err(|e| BenchError::Invalid(format!("solution violates a constraint: {e}")))?;

    let mut loose = problem.clone();
    for warehouse in &mut loose.warehouses {
        warehouse.capacity_units = None;
        warehouse.capacity_m3 = None;
    }
    let started = Instant::now();
    solve(&loose).map_err(|e| BenchError::Invalid(e.to_string()))?;
    let uncapacitated_seconds = started.elapsed().as_secs_f64();

    Ok(AllocateBenchResult {
        skus,
        warehouses,
        cells: problem.cells.len(),
        solve_seconds: median(&run_seconds),
        run_seconds,
        objective: solution.objective,
        bound: solution.bound,
        gap: solution.gap,
        uncapacitated_seconds,
    })
}
