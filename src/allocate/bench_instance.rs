//! A deterministic random allocation instance whose capacities bind, for tests and for
//! `stockcast bench allocate`.
//!
//! Warehouses sit in regions of about five; the first fifth are flagships (tier 1), the rest of
//! the first half tier 2, the others tier 3. Moving a unit within a region costs 0.5–1.5, across
//! regions 2–5. SKUs have log-normal margins (median 40) and popularity, holding costs of 3–12 %
//! of margin, volumes of 0.02–1.5 m³, case packs of 1 to 12, and 40 % of them have inbound stock.
//! About 85 % of SKU × warehouse cells exist, each with three forecast quantiles (10/50/90 %) and a
//! mean, today's stock and, for a quarter of them, a presentation minimum of 1–3 units.
//! Capacities are then set from what the solver places with no capacities at all: every warehouse
//! gets 75 % of those units, and every other warehouse also 78 % of those m³.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::Model;
use super::problem::{
    AllocationProblem, CellInput, Policy, QuantilePoint, SkuInput, WarehouseInput,
};
use super::solver;

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The instance for `(skus, warehouses, seed)`; identical for identical arguments.
pub fn bench_instance(skus: usize, warehouses: usize, seed: u64) -> AllocationProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nw = warehouses;
    let regions = nw.div_ceil(5).max(1);
    let mut size = Vec::with_capacity(nw);
    let mut whs = Vec::with_capacity(nw);
    for w in 0..nw {
        let tier = if w < (nw / 5).max(1) {
            1
        } else if w < nw / 2 {
            2
        } else {
            3
        };
        size.push((0.5 + 1.5 * rng.random::<f64>()) * if tier == 1 { 1.5 } else { 1.0 });
        whs.push(WarehouseInput {
            warehouse: format!("W{w:03}"),
            region: format!("R{}", w % regions),
            capacity_units: None,
            capacity_m3: None,
            priority_tier: tier,
        });
    }
    let mut cost = vec![vec![0.0; nw]; nw];
    for (a, row) in cost.iter_mut().enumerate() {
        for (b, c) in row.iter_mut().enumerate() {
            if a != b {
                *c = if a % regions == b % regions {
                    0.5 + rng.random::<f64>()
                } else {
                    2.0 + 3.0 * rng.random::<f64>()
                };
            }
        }
    }
    const PACKS: [u32; 8] = [1, 1, 1, 1, 2, 4, 6, 12];
    let mut sku_inputs = Vec::with_capacity(skus);
    let mut cells = Vec::with_capacity(skus * nw * 9 / 10);
    for s in 0..skus {
        let margin = (40f64.ln() + 0.8 * normal(&mut rng)).exp();
        let popularity = (6f64.ln() + 0.9 * normal(&mut rng)).exp();
        let volume = (0.02f64.ln() + rng.random::<f64>() * (1.5f64 / 0.02).ln()).exp();
        let case_pack = PACKS[rng.random_range(0..PACKS.len())];
        let first = cells.len();
        for (w, &f) in size.iter().enumerate() {
            if rng.random::<f64>() > 0.85 && !(w + 1 == nw && cells.len() == first) {
                continue;
            }
            let mean = popularity * f * (0.6 + 0.8 * rng.random::<f64>());
            let q10 = mean * (0.35 + 0.25 * rng.random::<f64>());
            let q50 = mean * (0.9 + 0.1 * rng.random::<f64>());
            let q90 = mean * (1.6 + 0.6 * rng.random::<f64>());
            let current = if rng.random::<f64>() < 0.2 {
                0
            } else {
                (mean * 1.3 * rng.random::<f64>()).round() as u64
            };
            let min_presentation = if rng.random::<f64>() < 0.25 {
                rng.random_range(1..=3)
            } else {
                0
            };
            cells.push(CellInput {
                sku_index: s,
                warehouse_index: w,
                demand: vec![
                    QuantilePoint {
                        level: 0.1,
                        units: q10,
                    },
                    QuantilePoint {
                        level: 0.5,
                        units: q50,
                    },
                    QuantilePoint {
                        level: 0.9,
                        units: q90,
                    },
                ],
                mean: Some(mean),
                current_units: current,
                min_presentation,
            });
        }
        let inbound = if rng.random::<f64>() < 0.4 {
            (popularity * nw as f64 * 0.8 * rng.random::<f64>()).round() as u64
        } else {
            0
        };
        sku_inputs.push(SkuInput {
            sku: format!("SKU{s:06}"),
            unit_margin: margin,
            holding_cost: margin * (0.03 + 0.09 * rng.random::<f64>()),
            unit_volume_m3: volume,
            case_pack,
            inbound_units: inbound,
        });
    }
    let mut problem = AllocationProblem {
        skus: sku_inputs,
        warehouses: whs,
        cells,
        transfer_cost_per_unit: cost,
        policy: Policy::Margin,
    };
    let (units, m3) = {
        let model = Model::build(&problem);
        solver::unconstrained_usage(&model, 2)
    };
    for (w, wh) in problem.warehouses.iter_mut().enumerate() {
        wh.capacity_units = Some((0.75 * units[w]).round());
        if w % 2 == 1 {
            wh.capacity_m3 = Some((0.78 * m3[w] * 1000.0).round() / 1000.0);
        }
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a = bench_instance(50, 6, 7);
        let b = bench_instance(50, 6, 7);
        assert_eq!(a, b);
        assert!(a.validate().is_ok());
        assert_ne!(a, bench_instance(50, 6, 8));
        assert!(a.warehouses.iter().all(|w| w.capacity_units.is_some()));
    }
}
