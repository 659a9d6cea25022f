//! Model choice on held-out origins: every candidate (the baselines and the regression
//! models) forecasts the same held-out periods; each category takes the single candidate or
//! the weighted mean of two with the lowest error there: WAPE on blocks of periods, plus,
//! for intermittent series scored on blocks of several periods, the absolute bias. There
//! absolute error alone rewards forecasting too little (shrinking any forecast toward zero
//! lowers it), and a plan that is right block by block but 30% short in total runs out. The baselines are candidates, so
//! the chosen forecast is never worse than the best of them on those origins. A category
//! with too little held-out evidence takes the choice made on all categories together.
//! Pure.

/// A forecaster the choice can pick, alone or in a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Candidate {
    SeasonalNaive,
    RecentMean,
    WeekdayMean,
    PromotionNaive,
    Poisson,
    LogLinear,
    Boosted,
}

pub const CANDIDATES: [Candidate; 7] = [
    Candidate::SeasonalNaive,
    Candidate::RecentMean,
    Candidate::WeekdayMean,
    Candidate::PromotionNaive,
    Candidate::Poisson,
    Candidate::LogLinear,
    Candidate::Boosted,
];

impl Candidate {
    pub fn as_str(self) -> &'static str {
        match self {
            Candidate::SeasonalNaive => "seasonal_naive",
            Candidate::RecentMean => "recent_mean",
            Candidate::WeekdayMean => "weekday_mean",
            Candidate::PromotionNaive => "promotion_naive",
            Candidate::Poisson => "poisson",
            Candidate::LogLinear => "log_linear",
            Candidate::Boosted => "boosted",
        }
    }

    /// The simple forecasts every choice is measured against.
    pub fn is_baseline(self) -> bool {
        matches!(
            self,
            Candidate::SeasonalNaive
                | Candidate::RecentMean
                | Candidate::WeekdayMean
                | Candidate::PromotionNaive
        )
    }

    pub fn index(self) -> usize {
        CANDIDATES
            .iter()
            .position(|c| *c == self)
            .expect("every candidate is listed")
    }
}

/// Weights over candidates, summing to 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blend {
    pub parts: Vec<(Candidate, f64)>,
}

impl Blend {
    pub fn single(candidate: Candidate) -> Blend {
        Blend {
            parts: vec![(candidate, 1.0)],
        }
    }

    pub fn value(&self, forecasts: &[f64; CANDIDATES.len()]) -> f64 {
        self.parts
            .iter()
            .map(|(candidate, weight)| weight * forecasts[candidate.index()])
            .sum()
    }

    pub fn uses(&self, candidate: Candidate) -> bool {
        self.parts.iter().any(|(c, _)| *c == candidate)
    }

    pub fn describe(&self) -> String {
        match self.parts.as_slice() {
            [(candidate, _)] => candidate.as_str().to_string(),
            parts => parts
                .iter()
                .map(|(candidate, weight)| format!("{weight:.2}·{}", candidate.as_str()))
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }
}

/// One held-out block: a cell's actual units over a period (weekly data) or a week (daily
/// data), and each candidate's forecast of them.
#[derive(Debug, Clone, Copy)]
pub struct HeldOutBlock {
    pub category: u32,
    pub series: u32,
    pub actual: f64,
    pub forecasts: [f64; CANDIDATES.len()],
}

/// A candidate's (or the chosen blend's) error on the held-out blocks of a category.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CandidateScore {
    pub candidate: String,
    pub wape: Option<f64>,
    #[serde(default)]
    pub bias: Option<f64>,
}

impl CandidateScore {
    /// What the choice minimises: WAPE, plus the absolute bias where the blocks are longer
    /// than a period (intermittent series, see [`Evidence::penalise_bias`]).
    pub fn error(&self, penalise_bias: bool) -> Option<f64> {
        let bias = if penalise_bias { self.bias?.abs() } else { 0.0 };
        Some(self.wape? + bias)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub blend: Blend,
    /// The category had too little held-out evidence and took the choice made on all.
    pub pooled: bool,
    /// Each available candidate alone, then the chosen blend.
    pub scores: Vec<CandidateScore>,
    pub held_out_blocks: usize,
}

/// Held-out units and series a category needs to choose on its own.
const MIN_SELECTION_UNITS: f64 = 50.0;
const MIN_SELECTION_SERIES: usize = 3;
const PAIR_WEIGHTS: [f64; 3] = [0.25, 0.5, 0.75];

fn blends(available: &[Candidate]) -> Vec<Blend> {
    let mut out: Vec<Blend> = available.iter().map(|c| Blend::single(*c)).collect();
    for (i, first) in available.iter().enumerate() {
        for second in &available[i + 1..] {
            for weight in PAIR_WEIGHTS {
                out.push(Blend {
                    parts: vec![(*first, weight), (*second, 1.0 - weight)],
                });
            }
        }
    }
    out
}

fn score(blocks: &[&HeldOutBlock], candidate: String, blend: &Blend) -> CandidateScore {
    let total: f64 = blocks.iter().map(|b| b.actual).sum();
    let (mut absolute, mut signed) = (0.0, 0.0);
    for block in blocks {
        let error = blend.value(&block.forecasts) - block.actual;
        absolute += error.abs();
        signed += error;
    }
    CandidateScore {
        candidate,
        wape: (total > 0.0).then(|| absolute / total),
        bias: (total > 0.0).then(|| signed / total),
    }
}

fn choose_among(
    blocks: &[&HeldOutBlock],
    available: &[Candidate],
    penalise_bias: bool,
) -> Option<Blend> {
    let candidates = blends(available);
    let mut best: Option<(f64, &Blend)> = None;
    for blend in &candidates {
        let error = score(blocks, String::new(), blend).error(penalise_bias)?;
        // Strictly better only: ties keep the earlier, simpler blend.
        if best.is_none_or(|(best_error, _)| error < best_error - 1e-12) {
            best = Some((error, blend));
        }
    }
    let (_, blend) = best?;
    Some(blend.clone())
}

/// A category's own choice must beat the choice made on every category by this share of
/// its error, on its own blocks: a few origins of one category are noisy evidence, and a
/// choice that fits them by chance does worse on the next horizon than the pooled one.
const OWN_CHOICE_MARGIN: f64 = 0.05;

/// Whether the pooled blend stands in for the category's own: within the margin of the own
/// choice on the category's blocks, and no worse there than the best baseline alone (so the
/// choice is still never worse than a baseline on the held-out origins).
fn pooled_holds(
    own: &[&HeldOutBlock],
    evidence: &Evidence,
    own_blend: &Blend,
    pooled_blend: &Blend,
) -> bool {
    let error = |blend: &Blend| score(own, String::new(), blend).error(evidence.penalise_bias);
    let (Some(own_error), Some(pooled_error)) = (error(own_blend), error(pooled_blend)) else {
        return false;
    };
    let best_baseline = evidence
        .available
        .iter()
        .filter(|c| c.is_baseline())
        .filter_map(|c| error(&Blend::single(*c)))
        .fold(f64::INFINITY, f64::min);
    pooled_error <= own_error * (1.0 + OWN_CHOICE_MARGIN) && pooled_error <= best_baseline
}

/// A category's held-out blocks and the candidates it may choose from.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub blocks: Vec<HeldOutBlock>,
    pub available: Vec<Candidate>,
    /// The blocks span several periods because single periods rarely sell: the choice also
    /// penalises bias.
    pub penalise_bias: bool,
}

/// The choice per category from its held-out evidence. A category with too little evidence
/// takes the choice made on every category's blocks together (among its own candidates).
/// `None` for a category when nothing could be scored at all.
pub fn choose(categories: &[Evidence]) -> Vec<Option<Choice>> {
    let all: Vec<&HeldOutBlock> = categories.iter().flat_map(|e| &e.blocks).collect();
    // The pooled choice per (candidate set, bias rule), computed once per distinct key.
    type PooledKey = (Vec<Candidate>, bool);
    let mut pooled: Vec<(PooledKey, Option<Blend>)> = Vec::new();
    categories
        .iter()
        .map(|evidence| {
            let own: Vec<&HeldOutBlock> = evidence.blocks.iter().collect();
            let units: f64 = own.iter().map(|b| b.actual).sum();
            let mut series: Vec<u32> = own.iter().map(|b| b.series).collect();
            series.sort_unstable();
            series.dedup();
            let enough = units >= MIN_SELECTION_UNITS && series.len() >= MIN_SELECTION_SERIES;
            let key = (evidence.available.clone(), evidence.penalise_bias);
            let pooled_blend = match pooled.iter().find(|(k, _)| *k == key) {
                Some((_, blend)) => blend.clone(),
                None => {
                    let blend = choose_among(&all, &evidence.available, evidence.penalise_bias);
                    pooled.push((key, blend.clone()));
                    blend
                }
            };
            let chosen = if enough {
                choose_among(&own, &evidence.available, evidence.penalise_bias)
            } else {
                None
            };
            let (blend, pooled_choice) = match (chosen, pooled_blend) {
                (Some(own_blend), Some(pooled_blend))
                    if own_blend != pooled_blend
                        && pooled_holds(&own, evidence, &own_blend, &pooled_blend) =>
                {
                    (pooled_blend, true)
                }
                (Some(own_blend), _) => (own_blend, false),
                (None, pooled_blend) => (pooled_blend?, true),
            };
            // Scores on the category's own blocks either way, so the table shows what the
            // choice did there.
            let mut scores: Vec<CandidateScore> = evidence
                .available
                .iter()
                .map(|c| score(&own, c.as_str().to_string(), &Blend::single(*c)))
                .collect();
            scores.push(score(
                &own,
                format!(
                    "chosen{}: {}",
                    if pooled_choice {
                        " on all categories"
                    } else {
                        ""
                    },
                    blend.describe()
                ),
                &blend,
            ));
            Some(Choice {
                blend,
                pooled: pooled_choice,
                scores,
                held_out_blocks: own.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block with the first six candidates' forecasts (the boosted one forecasts 0).
    fn block(category: u32, series: u32, actual: f64, first: [f64; 6]) -> HeldOutBlock {
        let mut forecasts = [0.0; CANDIDATES.len()];
        forecasts[..first.len()].copy_from_slice(&first);
        HeldOutBlock {
            category,
            series,
            actual,
            forecasts,
        }
    }

    #[test]
    fn the_choice_is_never_worse_than_the_best_baseline_and_may_blend() {
        // Candidate 0 is too high by 2, candidate 4 too low by 2: their mean is exact.
        let blocks: Vec<HeldOutBlock> = (0..40)
            .map(|i| {
                let actual = 10.0 + (i % 5) as f64;
                block(
                    0,
                    i,
                    actual,
                    [
                        actual + 2.0,
                        actual + 5.0,
                        0.0,
                        0.0,
                        actual - 2.0,
                        actual * 3.0,
                    ],
                )
            })
            .collect();
        let available = vec![
            Candidate::SeasonalNaive,
            Candidate::RecentMean,
            Candidate::Poisson,
        ];
        let choice = choose(&[Evidence {
            blocks,
            available,
            penalise_bias: false,
        }])
        .remove(0)
        .unwrap();
        assert!(!choice.pooled);
        assert_eq!(
            choice.blend.parts,
            vec![(Candidate::SeasonalNaive, 0.5), (Candidate::Poisson, 0.5)]
        );
        let chosen = choice.scores.last().unwrap().error(false).unwrap();
        for score in &choice.scores[..2] {
            assert!(chosen <= score.error(false).unwrap());
        }
    }

    #[test]
    fn a_category_with_little_evidence_takes_the_pooled_choice() {
        let big: Vec<HeldOutBlock> = (0..40)
            .map(|i| block(0, i, 10.0, [10.0, 30.0, 0.0, 0.0, 0.0, 0.0]))
            .collect();
        let small = vec![block(1, 99, 1.0, [5.0, 1.0, 0.0, 0.0, 0.0, 0.0])];
        let available = vec![Candidate::SeasonalNaive, Candidate::RecentMean];
        let choices = choose(&[
            Evidence {
                blocks: big,
                available: available.clone(),
                penalise_bias: false,
            },
            Evidence {
                blocks: small,
                available,
                penalise_bias: false,
            },
        ]);
        let small = choices[1].as_ref().unwrap();
        assert!(small.pooled);
        assert_eq!(small.blend, Blend::single(Candidate::SeasonalNaive));
    }

    #[test]
    fn an_own_choice_barely_ahead_of_the_pooled_one_gives_way_to_it() {
        // Category 0 (large) clearly prefers Poisson; category 1 prefers seasonal naive by
        // 2% of its error, within the margin, so it takes the pooled Poisson. Category 2
        // prefers seasonal naive by far and keeps it.
        let rows = |category: u32, naive_error: f64, poisson_error: f64| -> Vec<HeldOutBlock> {
            (0..40)
                .map(|i| {
                    let actual = 10.0;
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    block(
                        category,
                        category * 100 + i,
                        actual,
                        [
                            actual + sign * naive_error,
                            actual + 50.0,
                            0.0,
                            0.0,
                            actual + sign * poisson_error,
                            0.0,
                        ],
                    )
                })
                .collect()
        };
        let available = vec![Candidate::SeasonalNaive, Candidate::Poisson];
        let evidence = |blocks| Evidence {
            blocks,
            available: available.clone(),
            penalise_bias: false,
        };
        let choices = choose(&[
            evidence(rows(0, 5.0, 1.0)),
            evidence(rows(1, 2.0, 2.04)),
            evidence(rows(2, 1.0, 3.0)),
        ]);
        let blend = |k: usize| choices[k].as_ref().unwrap().blend.clone();
        assert_eq!(blend(0), Blend::single(Candidate::Poisson));
        // The pooled Poisson is within 5% of naive on category 1 but worse than the naive
        // baseline there, so the category keeps its own choice: never worse than a baseline.
        assert_eq!(blend(1), Blend::single(Candidate::SeasonalNaive));
        assert_eq!(blend(2), Blend::single(Candidate::SeasonalNaive));

        // With a model (not a baseline) narrowly ahead, the pooled choice stands in.
        let models = vec![
            Candidate::SeasonalNaive,
            Candidate::Poisson,
            Candidate::LogLinear,
        ];
        let model_rows = |category: u32, poisson_error: f64, log_error: f64| -> Vec<HeldOutBlock> {
            (0..40)
                .map(|i| {
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    block(
                        category,
                        category * 100 + i,
                        10.0,
                        [
                            20.0,
                            0.0,
                            0.0,
                            0.0,
                            10.0 + sign * poisson_error,
                            10.0 + sign * log_error,
                        ],
                    )
                })
                .collect()
        };
        let evidence = |blocks| Evidence {
            blocks,
            available: models.clone(),
            penalise_bias: false,
        };
        let choices = choose(&[
            evidence(model_rows(0, 1.0, 4.0)),
            evidence(model_rows(1, 2.04, 2.0)),
        ]);
        let second = choices[1].as_ref().unwrap();
        assert!(second.pooled);
        assert_eq!(second.blend, Blend::single(Candidate::Poisson));
    }
}
