//! Gradient-boosted trees (forust-ml) on the same rows and log response as the log-linear
//! model: log(y + c) − log(base + c). Where a promotion's lift depends on the discount, the
//! ad, the series' own past lift and its competitors all at once, a sum of linear terms
//! cannot bend with it; trees split on those interactions. Pure.
//!
//! Rows are subsampled evenly to a bound and only columns that vary are passed to the
//! booster, so its cost stays a fixed share of a fit whatever the panel's width.

use forust_ml::gradientbooster::GradientBooster;
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use forust_ml::Matrix;

use super::model::TrainingData;

/// Bound on the rows one booster is trained on; more are subsampled evenly.
pub const MAX_BOOSTED_ROWS: usize = 40_000;
const ITERATIONS: usize = 100;
const LEARNING_RATE: f32 = 0.08;
const MAX_DEPTH: usize = 6;
/// Rows (hessian weight, one per row under squared loss) a leaf needs: a share of the rows,
/// so a split never rests on a handful of series, within bounds, so a small panel can still
/// give a rare event (a few dozen rows) a leaf of its own.
const MIN_LEAF_SHARE: f64 = 1.0 / 400.0;
const MIN_LEAF_ROWS: f64 = 10.0;
const MAX_LEAF_ROWS: f64 = 100.0;
const L2: f32 = 1.0;
const BINS: u16 = 64;
const ROW_SAMPLE: f32 = 0.8;
const COLUMN_SAMPLE: f64 = 0.8;
const SEED: u64 = 17;

/// One node: a split (`value < threshold` goes to `left`) or, with `left == 0`, a leaf.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub column: u16,
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
    pub value: f64,
}

/// The fitted trees, kept as plain nodes over the panel's own columns (the booster's
/// training state is not needed to predict and would make every artifact megabytes).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoostedTrees {
    pub base: f64,
    pub trees: Vec<Vec<Node>>,
}

impl BoostedTrees {
    /// The trees' value (the log response) for one full-width feature row.
    pub fn eta(&self, row: &[f64]) -> f64 {
        let mut total = self.base;
        for tree in &self.trees {
            let mut index = 0usize;
            loop {
                let node = &tree[index];
                if node.left == 0 {
                    total += node.value;
                    break;
                }
                index = if row[node.column as usize] < node.threshold {
                    node.left
                } else {
                    node.right
                } as usize;
            }
        }
        total
    }

    fn from_booster(booster: &GradientBooster, columns: &[u16]) -> BoostedTrees {
        let trees = booster
            .trees
            .iter()
            .map(|tree| {
                tree.nodes
                    .iter()
                    .map(|node| Node {
                        column: if node.is_leaf {
                            0
                        } else {
                            columns[node.split_feature]
                        },
                        threshold: node.split_value,
                        left: if node.is_leaf {
                            0
                        } else {
                            node.left_child as u32
                        },
                        right: if node.is_leaf {
                            0
                        } else {
                            node.right_child as u32
                        },
                        value: f64::from(node.weight_value),
                    })
                    .collect()
            })
            .collect();
        BoostedTrees {
            base: booster.base_score,
            trees,
        }
    }
}

/// Fits the booster on `data`'s log responses.
pub fn fit_boosted(data: &TrainingData) -> Result<BoostedTrees, String> {
    let max_rows = MAX_BOOSTED_ROWS;
    let stride = data.len().div_ceil(max_rows).max(1);
    let rows: Vec<usize> = (0..data.len()).step_by(stride).collect();
    let (columns, values) = data.dense_varying_columns(&rows);
    if columns.is_empty() {
        return Err("no feature varies across the training rows".to_string());
    }
    let targets: Vec<f64> = rows.iter().map(|row| data.log_response(*row)).collect();
    let weights = vec![1.0; rows.len()];
    let matrix = Matrix::new(&values, rows.len(), columns.len());
    let mut booster = GradientBooster::default()
        .set_objective_type(ObjectiveType::SquaredLoss)
        .set_iterations(ITERATIONS)
        .set_learning_rate(LEARNING_RATE)
        .set_max_depth(MAX_DEPTH)
        .set_min_leaf_weight(
            (rows.len() as f64 * MIN_LEAF_SHARE).clamp(MIN_LEAF_ROWS, MAX_LEAF_ROWS) as f32,
        )
        .set_l2(L2)
        .set_nbins(BINS)
        .set_sample_method(SampleMethod::Random)
        .set_subsample(ROW_SAMPLE)
        .set_colsample_bytree(COLUMN_SAMPLE)
        .set_seed(SEED)
        .set_initialize_base_score(true)
        .set_allow_missing_splits(false)
        .set_parallel(true);
    booster
        .fit(&matrix, &targets, &weights, None)
        .map_err(|e| format!("boosted trees: {e}"))?;
    Ok(BoostedTrees::from_booster(&booster, &columns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::model::{fit, ModelKind, Penalty};

    /// A lift that exists only where two columns are on together: a sum of linear terms
    /// splits it between them and misses the cell where both are on; the trees find it.
    #[test]
    fn trees_learn_an_interaction_a_linear_sum_cannot() {
        let mut data = TrainingData::new(3);
        for i in 0..6000 {
            let deep = (i % 2) as f64;
            let featured = ((i / 2) % 2) as f64;
            let noise = ((i / 4) % 5) as f64 / 10.0;
            let units = 10.0 * if deep * featured > 0.0 { 4.0 } else { 1.0 };
            data.push(&[deep, featured, noise], units, 10.0, deep > 0.0, i / 50);
        }
        let boosted = fit(ModelKind::Boosted, &data, &[Penalty::PLAIN; 3]).unwrap();
        let linear = fit(ModelKind::LogLinear, &data, &[Penalty::PLAIN; 3]).unwrap();
        let both = [1.0, 1.0, 0.2];
        let one = [1.0, 0.0, 0.2];
        let (trees_both, trees_one) = (boosted.predict(&both, 10.0), boosted.predict(&one, 10.0));
        assert!((trees_both / 40.0 - 1.0).abs() < 0.1, "{trees_both}");
        assert!((trees_one / 10.0 - 1.0).abs() < 0.1, "{trees_one}");
        let linear_both = linear.predict(&both, 10.0);
        assert!(
            linear_both < 0.8 * trees_both,
            "{linear_both} vs {trees_both}"
        );
    }

    #[test]
    fn a_stored_booster_predicts_the_same() {
        let mut data = TrainingData::new(2);
        for i in 0..3000 {
            let x = (i % 7) as f64;
            data.push(&[x, (i % 3) as f64], 1.0 + x, 2.0, false, i / 30);
        }
        let model = fit(ModelKind::Boosted, &data, &[Penalty::PLAIN; 2]).unwrap();
        let json = serde_json::to_string(&model).unwrap();
        let back: crate::forecast::model::FittedModel = serde_json::from_str(&json).unwrap();
        for x in 0..7 {
            let row = [x as f64, 1.0];
            assert_eq!(model.predict(&row, 2.0), back.predict(&row, 2.0));
        }
    }
}
