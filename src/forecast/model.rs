//! The pooled regression models: a Poisson GLM with log link and the series' base level as
//! offset (IRLS, each step solved with linfa-linalg's Cholesky), and least squares on
//! log(units + c) relative to log(base + c) (the Cholesky-compressed normal equations solved
//! by linfa-linear's `LinearRegression`). Both penalise standardised coefficients (ridge),
//! more for category-specific columns, so a category with little data stays near the pool.
//!
//! Rows are stored sparse: most columns (events, name words, category terms) are zero in
//! most rows, and the normal equations are accumulated from the non-zeros only. Centering is
//! done algebraically (the Schur complement of the intercept), so the zeros stay zeros.
//!
//! linfa-linear's `TweedieRegressor` (L-BFGS) did not terminate on our data in testing, so
//! the Poisson fit uses IRLS with step-halving, which converges in a handful of steps.

use linfa::prelude::*;
use linfa_linalg::cholesky::Cholesky;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use rayon::prelude::*;

use super::boosted::{fit_boosted, BoostedTrees};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Poisson GLM, log link: suits count-like, intermittent demand; estimates the mean.
    Poisson,
    /// Least squares on log units: estimates the median, robust to promotion spikes (the
    /// choice blends it with mean estimates where its shortfall in total matters).
    LogLinear,
    /// Gradient-boosted trees on the log-linear model's response: the median too, with the
    /// interactions (discount × ad × the series' own lift) a linear sum cannot express.
    Boosted,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Poisson => "poisson",
            ModelKind::LogLinear => "log_linear",
            ModelKind::Boosted => "boosted",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FittedModel {
    pub kind: ModelKind,
    /// Column means and standard deviations of the training rows (for reading effects on
    /// the standardised scale).
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    /// Coefficients on the raw columns.
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    /// The trees of a boosted model (its coefficients are all zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<BoostedTrees>,
}

/// How hard one column's coefficient is pulled toward zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty {
    /// Times the model's ridge penalty, on the standardised coefficient.
    pub multiplier: f64,
    /// For a column that is the same for every series in a period (an event window): rows of
    /// one period share that period's shocks, so the evidence is the number of periods the
    /// column is on, not the number of rows. With `Some(ρ)` the coefficient is shrunk by
    /// k / (k + ρ) for a column on in k distinct periods.
    pub per_occurrence: Option<f64>,
}

impl Penalty {
    pub const PLAIN: Penalty = Penalty {
        multiplier: 1.0,
        per_occurrence: None,
    };
}

/// Training rows, sparse: row i's non-zeros are `columns/values[offsets[i]..offsets[i+1]]`.
pub struct TrainingData {
    pub width: usize,
    offsets: Vec<u32>,
    columns: Vec<u16>,
    values: Vec<f32>,
    pub targets: Vec<f64>,
    /// The series' base level at the row's origin.
    pub bases: Vec<f64>,
    /// Whether the target period is promoted.
    pub promoted: Vec<bool>,
    /// The target's period (for counting the periods a column is on).
    pub periods: Vec<u32>,
}

impl TrainingData {
    pub fn new(width: usize) -> TrainingData {
        assert!(width < u16::MAX as usize, "too many feature columns");
        TrainingData {
            width,
            offsets: vec![0],
            columns: Vec::new(),
            values: Vec::new(),
            targets: Vec::new(),
            bases: Vec::new(),
            promoted: Vec::new(),
            periods: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn push(&mut self, row: &[f64], target: f64, base: f64, promoted: bool, period: usize) {
        debug_assert_eq!(row.len(), self.width);
        debug_assert!(base > 0.0 && target >= 0.0);
        for (column, value) in row.iter().enumerate() {
            if *value != 0.0 {
                self.columns.push(column as u16);
                self.values.push(*value as f32);
            }
        }
        self.offsets.push(self.columns.len() as u32);
        self.targets.push(target);
        self.bases.push(base);
        self.promoted.push(promoted);
        self.periods.push(period as u32);
    }

    pub fn append(&mut self, other: TrainingData) {
        assert_eq!(self.width, other.width);
        let shift = self.columns.len() as u32;
        self.offsets
            .extend(other.offsets[1..].iter().map(|offset| offset + shift));
        self.columns.extend(other.columns);
        self.values.extend(other.values);
        self.targets.extend(other.targets);
        self.bases.extend(other.bases);
        self.promoted.extend(other.promoted);
        self.periods.extend(other.periods);
    }

    /// Per column: the distinct target periods in which it is non-zero (counted only for
    /// columns with a per-occurrence penalty).
    fn occurrences(&self, penalties: &[Penalty]) -> Vec<u32> {
        let counted: Vec<bool> = penalties
            .iter()
            .map(|p| p.per_occurrence.is_some())
            .collect();
        let mut seen: Vec<std::collections::HashSet<u32>> = vec![Default::default(); self.width];
        for row in 0..self.len() {
            let (columns, _) = self.row(row);
            for column in columns {
                if counted[*column as usize] {
                    seen[*column as usize].insert(self.periods[row]);
                }
            }
        }
        seen.iter().map(|periods| periods.len() as u32).collect()
    }

    /// The log-linear response of one row: log(y + c) − log(base + c).
    pub(super) fn log_response(&self, row: usize) -> f64 {
        let shift = log_linear_shift(self.bases[row]);
        (self.targets[row].max(0.0) + shift).ln() - (self.bases[row] + shift).ln()
    }

    /// Each row's residual on the log-linear scale under `model`'s coefficients.
    pub fn log_residuals(&self, model: &FittedModel) -> Vec<f64> {
        (0..self.len())
            .map(|row| {
                self.log_response(row) - model.intercept - self.dot(row, &model.coefficients)
            })
            .collect()
    }

    /// The columns that are not constant over `rows`, and their values column-major
    /// (`values[k * rows.len() + i]` is column `columns[k]` of `rows[i]`).
    pub(super) fn dense_varying_columns(&self, rows: &[usize]) -> (Vec<u16>, Vec<f64>) {
        let mut first: Vec<Option<f32>> = vec![None; self.width];
        let mut varies = vec![false; self.width];
        let mut nonzero_rows = vec![0usize; self.width];
        for &row in rows {
            let (columns, values) = self.row(row);
            for (column, value) in columns.iter().zip(values) {
                let c = *column as usize;
                nonzero_rows[c] += 1;
                match first[c] {
                    None => first[c] = Some(*value),
                    Some(seen) if seen != *value => varies[c] = true,
                    Some(_) => {}
                }
            }
        }
        // A column non-zero in some rows and zero in others varies too.
        let columns: Vec<u16> = (0..self.width)
            .filter(|c| varies[*c] || (nonzero_rows[*c] > 0 && nonzero_rows[*c] < rows.len()))
            .map(|c| c as u16)
            .collect();
        let mut position = vec![usize::MAX; self.width];
        for (k, column) in columns.iter().enumerate() {
            position[*column as usize] = k;
        }
        let mut values = vec![0.0; columns.len() * rows.len()];
        for (i, &row) in rows.iter().enumerate() {
            let (row_columns, row_values) = self.row(row);
            for (column, value) in row_columns.iter().zip(row_values) {
                let k = position[*column as usize];
                if k != usize::MAX {
                    values[k * rows.len() + i] = f64::from(*value);
                }
            }
        }
        (columns, values)
    }

    fn row(&self, row: usize) -> (&[u16], &[f32]) {
        let (begin, end) = (self.offsets[row] as usize, self.offsets[row + 1] as usize);
        (&self.columns[begin..end], &self.values[begin..end])
    }

    fn dot(&self, row: usize, coefficients: &[f64]) -> f64 {
        let (columns, values) = self.row(row);
        columns
            .iter()
            .zip(values)
            .map(|(c, v)| coefficients[*c as usize] * f64::from(*v))
            .sum()
    }

    fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        let (n, p) = (self.len() as f64, self.width);
        let mut sums = vec![0.0; p];
        let mut squares = vec![0.0; p];
        for (column, value) in self.columns.iter().zip(&self.values) {
            let value = f64::from(*value);
            sums[*column as usize] += value;
            squares[*column as usize] += value * value;
        }
        let means: Vec<f64> = sums.iter().map(|s| s / n).collect();
        let scales = (0..p)
            .map(|j| {
                let variance = squares[j] / n - means[j] * means[j];
                if variance > 1e-12 {
                    variance.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        (means, scales)
    }

    /// Σ wᵢ·[1, xᵢ][1, xᵢ]ᵀ and Σ wᵢ·zᵢ·[1, xᵢ], from the non-zeros, in parallel chunks.
    fn weighted_normal_equations(
        &self,
        weights: &[f64],
        responses: &[f64],
    ) -> (Array2<f64>, Array1<f64>) {
        let p = self.width + 1;
        const CHUNK_ROWS: usize = 8192;
        let chunks: Vec<usize> = (0..self.len()).step_by(CHUNK_ROWS).collect();
        let (gram, moment) = chunks
            .par_iter()
            .map(|&begin| {
                let mut gram = vec![0.0; p * p];
                let mut moment = vec![0.0; p];
                for row in begin..(begin + CHUNK_ROWS).min(self.len()) {
                    let w = weights[row];
                    if w == 0.0 {
                        continue;
                    }
                    let wz = w * responses[row];
                    let (columns, values) = self.row(row);
                    gram[0] += w;
                    moment[0] += wz;
                    for (a, (ca, va)) in columns.iter().zip(values).enumerate() {
                        let i = *ca as usize + 1;
                        let wv = w * f64::from(*va);
                        let row_base = i * p;
                        gram[row_base] += wv;
                        moment[i] += wz * f64::from(*va);
                        for (cb, vb) in columns[..=a].iter().zip(&values[..=a]) {
                            gram[row_base + *cb as usize + 1] += wv * f64::from(*vb);
                        }
                    }
                }
                (gram, moment)
            })
            .reduce(
                || (vec![0.0; p * p], vec![0.0; p]),
                |(mut ga, mut ma), (gb, mb)| {
                    ga.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
                    ma.iter_mut().zip(mb).for_each(|(a, b)| *a += b);
                    (ga, ma)
                },
            );
        // Only the lower triangle of the feature block (and column 0) was accumulated.
        let mut matrix = Array2::from_shape_vec((p, p), gram).expect("square");
        for i in 1..p {
            matrix[[0, i]] = matrix[[i, 0]];
            for j in 1..i {
                matrix[[j, i]] = matrix[[i, j]];
            }
        }
        (matrix, Array1::from_vec(moment))
    }
}

const RIDGE_PENALTY_PER_1000_ROWS: f64 = 1.0;
const RIDGE_PENALTY_FLOOR: f64 = 20.0;
const POISSON_L2: f64 = 1e-3;
const POISSON_L2_FLOOR: f64 = 20.0;
const POISSON_MAX_ITERATIONS: usize = 25;
const POISSON_TOLERANCE: f64 = 1e-6;
const MAX_LINEAR_PREDICTOR: f64 = 15.0;
/// The log-linear target's shift, relative to the base and in units: log(y + c) is finite
/// at zero sales and close to log(y) for a busy series.
const SHIFT_SHARE: f64 = 0.1;
const SHIFT_UNITS: f64 = 0.05;
pub(super) fn median_units(eta: f64, base: f64) -> f64 {
    let shift = log_linear_shift(base);
    ((base + shift) * eta.clamp(-MAX_LINEAR_PREDICTOR, MAX_LINEAR_PREDICTOR).exp() - shift).max(0.0)
}

pub fn log_linear_shift(base: f64) -> f64 {
    SHIFT_SHARE * base + SHIFT_UNITS
}

/// The penalty per standardised coefficient: the ridge penalty times the column's
/// multiplier, plus, for a per-occurrence column on in k periods, ρ/k times its information
/// (the diagonal of the system), which shrinks it by k / (k + ρ).
fn effective_penalties(
    diagonal: &[f64],
    penalty: f64,
    penalties: &[Penalty],
    occurrences: &[u32],
) -> Vec<f64> {
    (0..penalties.len())
        .map(|j| {
            let plain = penalty * penalties[j].multiplier;
            match penalties[j].per_occurrence {
                Some(rho) if rho.is_finite() && occurrences[j] > 0 => {
                    plain + rho * diagonal[j] / f64::from(occurrences[j])
                }
                // Never on, or switched off: held at zero.
                Some(_) => plain.max(1.0) * 1e9,
                None => plain,
            }
        })
        .collect()
}

/// Solves the ridge problem from weighted normal equations over [1, x]: the intercept is
/// free, coefficient j is penalised on the standardised scale (see [`effective_penalties`]).
/// Centering is the Schur complement of the intercept, so the system is well conditioned.
/// Returns the coefficients, the intercept and the penalties used.
fn solve_ridge(
    gram: &Array2<f64>,
    moment: &Array1<f64>,
    scales: &[f64],
    penalty: f64,
    penalties: &[Penalty],
    occurrences: &[u32],
) -> Result<(Vec<f64>, f64, Vec<f64>), String> {
    let p = scales.len();
    let total_weight = gram[[0, 0]];
    if total_weight.is_nan() || total_weight <= 0.0 {
        return Err("no weight in the training rows".to_string());
    }
    // Standardised, centred system: S⁻¹(Gxx − gx gxᵀ/g00)S⁻¹ + λ·diag(m).
    let mut system = Array2::<f64>::zeros((p, p));
    let mut right = Array1::<f64>::zeros(p);
    for i in 0..p {
        let gi = gram[[i + 1, 0]];
        right[i] = (moment[i + 1] - gi * moment[0] / total_weight) / scales[i];
        for j in 0..=i {
            let value = (gram[[i + 1, j + 1]] - gi * gram[[j + 1, 0]] / total_weight)
                / (scales[i] * scales[j]);
            system[[i, j]] = value;
            system[[j, i]] = value;
        }
    }
    let diagonal: Vec<f64> = (0..p).map(|i| system[[i, i]]).collect();
    let effective = effective_penalties(&diagonal, penalty, penalties, occurrences);
    for i in 0..p {
        system[[i, i]] += effective[i];
    }
    let lower = system
        .cholesky()
        .map_err(|error| format!("normal equations: {error}"))?;
    // Forward substitution L w = right, then hand linfa-linear the square system Lᵀβ = w
    // (the same solution as the normal equations).
    let mut projected = Array1::<f64>::zeros(p);
    for i in 0..p {
        let mut value = right[i];
        for k in 0..i {
            value -= lower[[i, k]] * projected[k];
        }
        projected[i] = value / lower[[i, i]];
    }
    let dataset = Dataset::new(lower.t().to_owned(), projected);
    let model = LinearRegression::new()
        .with_intercept(false)
        .fit(&dataset)
        .map_err(|error| error.to_string())?;
    let standardised = model.params();
    let coefficients: Vec<f64> = (0..p).map(|j| standardised[j] / scales[j]).collect();
    let intercept = (moment[0]
        - (0..p)
            .map(|j| gram[[j + 1, 0]] * coefficients[j])
            .sum::<f64>())
        / total_weight;
    if !intercept.is_finite() || coefficients.iter().any(|c| !c.is_finite()) {
        return Err("the fit is not finite".to_string());
    }
    Ok((coefficients, intercept, effective))
}

/// Poisson regression with log link and offset log(base) by iteratively reweighted least
/// squares; the deviance is checked every step, so a bad step is halved instead of diverging.
fn fit_poisson(
    data: &TrainingData,
    scales: &[f64],
    penalties: &[Penalty],
    start: Option<(Vec<f64>, f64)>,
) -> Result<(Vec<f64>, f64), String> {
    let occurrences = data.occurrences(penalties);
    let n = data.len();
    let offsets: Vec<f64> = data.bases.iter().map(|b| b.ln()).collect();
    let total: f64 = data.targets.iter().sum();
    let exposure: f64 = data.bases.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return Err("no sales in the training rows".to_string());
    }
    let predictors = |coefficients: &[f64], intercept: f64| -> Vec<f64> {
        (0..n)
            .into_par_iter()
            .map(|row| {
                (offsets[row] + intercept + data.dot(row, coefficients))
                    .clamp(-MAX_LINEAR_PREDICTOR, MAX_LINEAR_PREDICTOR)
            })
            .collect()
    };
    let deviance = |eta: &[f64]| -> f64 {
        eta.par_iter()
            .zip(data.targets.par_iter())
            .map(|(e, y)| {
                let mu = e.exp();
                let term = if *y > 0.0 { y * (y / mu).ln() } else { 0.0 };
                2.0 * (term - (y - mu))
            })
            .sum()
    };
    let penalty_of = |coefficients: &[f64], effective: &[f64]| -> f64 {
        coefficients
            .iter()
            .zip(scales)
            .zip(effective)
            .map(|((c, s), e)| e * (c * s).powi(2))
            .sum()
    };
    let penalty = (POISSON_L2 * n as f64).max(POISSON_L2_FLOOR);
    let (mut coefficients, mut intercept) = match start {
        Some((coefficients, intercept)) if coefficients.len() == data.width => {
            (coefficients, intercept)
        }
        _ => (vec![0.0; data.width], (total / exposure).ln()),
    };
    let mut eta = predictors(&coefficients, intercept);
    let mut current = deviance(&eta);
    if !current.is_finite() {
        coefficients = vec![0.0; data.width];
        intercept = (total / exposure).ln();
        eta = predictors(&coefficients, intercept);
        current = deviance(&eta);
    }
    let mut first = true;
    for _ in 0..POISSON_MAX_ITERATIONS {
        let weights: Vec<f64> = eta.iter().map(|e| e.exp()).collect();
        let responses: Vec<f64> = (0..n)
            .map(|row| eta[row] - offsets[row] + (data.targets[row] - weights[row]) / weights[row])
            .collect();
        let (gram, moment) = data.weighted_normal_equations(&weights, &responses);
        let (proposed, proposed_intercept, effective) =
            solve_ridge(&gram, &moment, scales, penalty, penalties, &occurrences)?;
        // The objective uses this iteration's penalties (they follow the weights).
        if first {
            current += penalty_of(&coefficients, &effective);
            first = false;
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..10 {
            let candidate: Vec<f64> = coefficients
                .iter()
                .zip(&proposed)
                .map(|(c, p)| c + step * (p - c))
                .collect();
            let candidate_intercept = intercept + step * (proposed_intercept - intercept);
            let candidate_eta = predictors(&candidate, candidate_intercept);
            let candidate_deviance = deviance(&candidate_eta) + penalty_of(&candidate, &effective);
            if candidate_deviance.is_finite() && candidate_deviance <= current * (1.0 + 1e-12) {
                let improvement = (current - candidate_deviance) / current.max(1e-12);
                coefficients = candidate;
                intercept = candidate_intercept;
                eta = candidate_eta;
                current = candidate_deviance;
                accepted = true;
                if improvement < POISSON_TOLERANCE {
                    return Ok((coefficients, intercept));
                }
                break;
            }
            step /= 2.0;
        }
        if !accepted {
            break;
        }
    }
    if !intercept.is_finite() || coefficients.iter().any(|c| !c.is_finite()) {
        return Err("Poisson fit diverged".to_string());
    }
    Ok((coefficients, intercept))
}

pub fn fit(
    kind: ModelKind,
    data: &TrainingData,
    penalties: &[Penalty],
) -> Result<FittedModel, String> {
    fit_from(kind, data, penalties, None)
}

/// Like [`fit`], starting from an earlier fit of the same kind on similar rows (the held-out
/// selection fit), so the final refit converges in a few steps instead of from scratch.
pub fn fit_from(
    kind: ModelKind,
    data: &TrainingData,
    penalties: &[Penalty],
    start: Option<&FittedModel>,
) -> Result<FittedModel, String> {
    assert_eq!(penalties.len(), data.width);
    if data.len() < data.width.max(10) * 2 {
        return Err(format!(
            "{} training rows for {} features",
            data.len(),
            data.width
        ));
    }
    let (means, scales) = data.moments();
    match kind {
        ModelKind::Poisson => {
            let start = start
                .filter(|model| model.kind == ModelKind::Poisson)
                .map(|model| (model.coefficients.clone(), model.intercept));
            let (coefficients, intercept) = fit_poisson(data, &scales, penalties, start)?;
            Ok(FittedModel {
                kind,
                means,
                scales,
                coefficients,
                intercept,
                trees: None,
            })
        }
        ModelKind::LogLinear => {
            let n = data.len();
            let responses: Vec<f64> = (0..n).map(|row| data.log_response(row)).collect();
            let penalty =
                (RIDGE_PENALTY_PER_1000_ROWS * n as f64 / 1000.0).max(RIDGE_PENALTY_FLOOR);
            let (gram, moment) = data.weighted_normal_equations(&vec![1.0; n], &responses);
            let occurrences = data.occurrences(penalties);
            let (coefficients, intercept, _) =
                solve_ridge(&gram, &moment, &scales, penalty, penalties, &occurrences)
                    .map_err(|e| format!("least squares: {e}"))?;
            Ok(FittedModel {
                kind,
                means,
                scales,
                coefficients,
                intercept,
                trees: None,
            })
        }
        ModelKind::Boosted => {
            let trees = fit_boosted(data)?;
            Ok(FittedModel {
                kind,
                means,
                coefficients: vec![0.0; scales.len()],
                scales,
                intercept: 0.0,
                trees: Some(trees),
            })
        }
    }
}

impl FittedModel {
    /// Expected units for one feature row of a series with base level `base` (never
    /// negative, never NaN).
    pub fn predict(&self, row: &[f64], base: f64) -> f64 {
        debug_assert_eq!(row.len(), self.coefficients.len());
        let mut eta = self.intercept;
        for (value, coefficient) in row.iter().zip(&self.coefficients) {
            eta += coefficient * value;
        }
        if let Some(trees) = &self.trees {
            eta += trees.eta(row);
        }
        let eta = eta.clamp(-MAX_LINEAR_PREDICTOR, MAX_LINEAR_PREDICTOR);
        let value = match self.kind {
            ModelKind::Poisson => base * eta.exp(),
            ModelKind::LogLinear | ModelKind::Boosted => median_units(eta, base),
        };
        if value.is_finite() {
            value
        } else {
            0.0
        }
    }

    /// The multiplier a change of `delta` in column `column` applies (the model is
    /// multiplicative in every column).
    pub fn effect(&self, column: usize, delta: f64) -> f64 {
        (self.coefficients[column] * delta).clamp(-20.0, 20.0).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_models_recover_a_log_linear_relationship() {
        let mut data = TrainingData::new(2);
        let mut state = 7u64;
        for i in 0..4000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x0 = (i % 10) as f64 / 10.0;
            let x1 = ((state >> 33) % 100) as f64 / 100.0;
            let mean = (0.5 + 1.5 * x0 - 0.5 * x1).exp();
            data.push(&[x0, x1], mean, 1.0, false, i);
        }
        for kind in [ModelKind::Poisson, ModelKind::LogLinear] {
            let model = fit(kind, &data, &[Penalty::PLAIN; 2]).unwrap();
            let low = model.predict(&[0.0, 0.5], 1.0);
            let high = model.predict(&[0.9, 0.5], 1.0);
            assert!(high > 2.5 * low, "{kind:?}: {low} → {high}");
        }
    }

    #[test]
    fn a_heavier_penalty_keeps_a_column_nearer_zero() {
        let mut data = TrainingData::new(2);
        for i in 0..2000 {
            let x = if i % 2 == 0 { 1.0 } else { 0.0 };
            let z = if i % 7 == 0 { 1.0 } else { 0.0 };
            data.push(
                &[x, z],
                (1.0 + x) * (1.0 + 0.5 * z) * 3.0,
                1.0,
                false,
                i / 100,
            );
        }
        let free = fit(ModelKind::Poisson, &data, &[Penalty::PLAIN; 2]).unwrap();
        let tight = Penalty {
            multiplier: 1000.0,
            per_occurrence: None,
        };
        let tight = fit(ModelKind::Poisson, &data, &[Penalty::PLAIN, tight]).unwrap();
        assert!(free.coefficients[1] > 0.3, "{:?}", free.coefficients);
        assert!(tight.coefficients[1].abs() < free.coefficients[1] / 2.0);
        // Column 1 is on in every period here (20 of them): ρ = 20 halves it.
        let occurrence = Penalty {
            multiplier: 1.0,
            per_occurrence: Some(20.0),
        };
        let halved = fit(ModelKind::LogLinear, &data, &[Penalty::PLAIN, occurrence]).unwrap();
        let plain = fit(ModelKind::LogLinear, &data, &[Penalty::PLAIN; 2]).unwrap();
        let ratio = halved.coefficients[1] / plain.coefficients[1];
        assert!((0.4..0.6).contains(&ratio), "{ratio}");
    }

    #[test]
    fn too_little_data_is_an_error_not_a_panic() {
        let mut data = TrainingData::new(3);
        data.push(&[1.0, 2.0, 3.0], 1.0, 1.0, false, 0);
        assert!(fit(ModelKind::Poisson, &data, &[Penalty::PLAIN; 3]).is_err());
    }
}
