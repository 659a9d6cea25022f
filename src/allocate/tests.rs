//! Solver tests: exactness against an LP (good_lp + microlp) and brute force, constraints on many
//! random instances, fair share, the defined edge cases, invalid input, and timings (ignored).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

#[derive(Clone, Copy, Default)]
struct Features {
    case_packs: bool,
    minimums: bool,
    volume: bool,
    inbound: bool,
    sparse: bool,
    zero_capacity: bool,
    fair_share: bool,
}

fn random_problem(
    rng: &mut ChaCha8Rng,
    ns: usize,
    nw: usize,
    max_stock: u64,
    f: Features,
) -> AllocationProblem {
    let mut skus = Vec::new();
    let mut cells = Vec::new();
    for s in 0..ns {
        skus.push(SkuInput {
            sku: format!("S{s}"),
            unit_margin: rng.random_range(5.0..50.0),
            holding_cost: rng.random_range(0.0..3.0),
            unit_volume_m3: rng.random_range(0.1..2.0),
            case_pack: if f.case_packs {
                rng.random_range(1..=4)
            } else {
                1
            },
            inbound_units: if f.inbound {
                rng.random_range(0..=max_stock / 2)
            } else {
                0
            },
        });
        let first = cells.len();
        for w in 0..nw {
            if f.sparse && rng.random::<f64>() < 0.25 && !(w + 1 == nw && cells.len() == first) {
                continue;
            }
            let median: f64 = if rng.random::<f64>() < 0.1 {
                0.0
            } else {
                rng.random_range(0.5..8.0)
            };
            let demand = if rng.random::<f64>() < 0.5 {
                vec![
                    QuantilePoint {
                        level: 0.1,
                        units: median * 0.4,
                    },
                    QuantilePoint {
                        level: 0.5,
                        units: median,
                    },
                    QuantilePoint {
                        level: 0.9,
                        units: median * 1.8,
                    },
                ]
            } else {
                vec![
                    QuantilePoint {
                        level: 0.25,
                        units: (median - 1.0).max(0.0),
                    },
                    QuantilePoint {
                        level: 0.75,
                        units: median * 1.5,
                    },
                ]
            };
            cells.push(CellInput {
                sku_index: s,
                warehouse_index: w,
                mean: if rng.random::<f64>() < 0.3 {
                    Some(median * 1.2)
                } else {
                    None
                },
                demand,
                current_units: rng.random_range(0..=max_stock / nw as u64 + 1),
                min_presentation: if f.minimums {
                    rng.random_range(0..=2)
                } else {
                    0
                },
            });
        }
    }
    let total: u64 = cells.iter().map(|c| c.current_units).sum::<u64>()
        + skus.iter().map(|s| s.inbound_units).sum::<u64>();
    let per_wh = total as f64 / nw as f64;
    let warehouses = (0..nw)
        .map(|w| WarehouseInput {
            warehouse: format!("W{w}"),
            region: format!("R{}", w % 2),
            capacity_units: if rng.random::<f64>() < 0.8 {
                Some((per_wh * rng.random_range(0.3..1.2)).round())
            } else {
                None
            },
            capacity_m3: if f.volume && rng.random::<f64>() < 0.6 {
                Some(per_wh * rng.random_range(0.2..1.0))
            } else {
                None
            },
            priority_tier: rng.random_range(1..=3),
        })
        .collect::<Vec<_>>();
    let mut warehouses = warehouses;
    if f.zero_capacity && rng.random::<f64>() < 0.5 {
        let w = rng.random_range(0..nw);
        warehouses[w].capacity_units = Some(0.0);
    }
    let transfer_cost_per_unit = (0..nw)
        .map(|a| {
            (0..nw)
                .map(|b| {
                    if a == b {
                        0.0
                    } else {
                        rng.random_range(0.0..4.0)
                    }
                })
                .collect()
        })
        .collect();
    AllocationProblem {
        skus,
        warehouses,
        cells,
        transfer_cost_per_unit,
        policy: if f.fair_share {
            Policy::FairShare
        } else {
            Policy::Margin
        },
    }
}

/// Per cell: value of target x for x = 0..=max (independent of the solver's internals).
fn cell_values(p: &AllocationProblem, max: &[u64]) -> Vec<Vec<f64>> {
    p.cells
        .iter()
        .map(|c| {
            let sku = &p.skus[c.sku_index];
            let w = c.warehouse_index;
            let c_in = p
                .cells
                .iter()
                .filter(|o| {
                    o.sku_index == c.sku_index && o.warehouse_index != w && o.current_units > 0
                })
                .map(|o| p.transfer_cost_per_unit[o.warehouse_index][w])
                .fold(f64::INFINITY, f64::min);
            let c_in = if c_in.is_finite() { c_in } else { 0.0 };
            let d = Demand::new(&c.demand, c.mean);
            (0..=max[c.sku_index])
                .map(|x| {
                    sku.unit_margin * d.expected_sales(x as f64)
                        - sku.holding_cost * x as f64
                        - c_in * x.saturating_sub(c.current_units) as f64
                })
                .collect()
        })
        .collect()
}

fn available(p: &AllocationProblem) -> Vec<u64> {
    let mut a: Vec<u64> = p.skus.iter().map(|s| s.inbound_units).collect();
    for c in &p.cells {
        a[c.sku_index] += c.current_units;
    }
    a
}

/// Whether the solver must meet every raw minimum (stock and capacity allow them all).
fn minimums_feasible(p: &AllocationProblem) -> bool {
    let avail = available(p);
    let mut need = vec![0u64; p.skus.len()];
    let mut wu = vec![0u64; p.warehouses.len()];
    let mut wv = vec![0f64; p.warehouses.len()];
    for c in &p.cells {
        let cp = p.skus[c.sku_index].case_pack as u64;
        let e = if c.min_presentation <= c.current_units {
            c.min_presentation
        } else {
            c.current_units + (c.min_presentation - c.current_units).div_ceil(cp) * cp
        };
        need[c.sku_index] += e;
        wu[c.warehouse_index] += e;
        wv[c.warehouse_index] += e as f64 * p.skus[c.sku_index].unit_volume_m3;
    }
    need.iter().zip(&avail).all(|(n, a)| n <= a)
        && p.warehouses.iter().enumerate().all(|(w, wh)| {
            let cu = wh.capacity_units.unwrap_or(f64::INFINITY);
            let cv = wh.capacity_m3.unwrap_or(f64::INFINITY);
            cu > 0.0 && cv > 0.0 && wu[w] as f64 <= cu && wv[w] <= cv
        })
}

/// The LP relaxation with unit-sized concave segments; returns its optimum. With `case_packs`,
/// units beyond current stock earn their case pack's average gain (the value interpolated
/// between allowed targets) and minimums are rounded up to case packs; without, case packs are
/// ignored.
fn lp_optimum(p: &AllocationProblem, case_packs: bool) -> f64 {
    use good_lp::{microlp, variable, Expression, ProblemVariables, Solution, SolverModel};
    let avail = available(p);
    let max_cp = p.skus.iter().map(|s| s.case_pack as u64).max().unwrap_or(1);
    let reach: Vec<u64> = avail.iter().map(|a| a + max_cp).collect();
    let values = cell_values(p, &reach);
    let mut vars = ProblemVariables::new();
    let mut objective = Expression::from(0.0);
    let mut x_expr: Vec<Expression> = Vec::new();
    for (ci, c) in p.cells.iter().enumerate() {
        let cp = if case_packs {
            p.skus[c.sku_index].case_pack as u64
        } else {
            1
        };
        let cur = c.current_units;
        let lo = if c.min_presentation <= cur {
            c.min_presentation
        } else {
            cur + (c.min_presentation - cur).div_ceil(cp) * cp
        };
        let lo = lo.min(avail[c.sku_index]);
        let mut x = Expression::from(lo as f64);
        objective += values[ci][lo as usize];
        for k in lo..avail[c.sku_index] {
            let y = vars.add(variable().min(0.0).max(1.0));
            let g = if k < cur {
                values[ci][k as usize + 1] - values[ci][k as usize]
            } else {
                let a = cur + (k - cur) / cp * cp;
                (values[ci][(a + cp) as usize] - values[ci][a as usize]) / cp as f64
            };
            objective.add_mul(g, y);
            x.add_mul(1.0, y);
        }
        x_expr.push(x);
    }
    let mut model = vars.maximise(objective.clone()).using(microlp);
    for s in 0..p.skus.len() {
        let mut sum = Expression::from(0.0);
        for (ci, c) in p.cells.iter().enumerate() {
            if c.sku_index == s {
                sum += x_expr[ci].clone();
            }
        }
        model.add_constraint(sum.leq(avail[s] as f64));
    }
    for (w, wh) in p.warehouses.iter().enumerate() {
        let mut units = Expression::from(0.0);
        let mut m3 = Expression::from(0.0);
        for (ci, c) in p.cells.iter().enumerate() {
            if c.warehouse_index == w {
                units += x_expr[ci].clone();
                m3 += x_expr[ci].clone() * p.skus[c.sku_index].unit_volume_m3;
            }
        }
        if let Some(cap) = wh.capacity_units {
            model.add_constraint(units.leq(cap.floor()));
        }
        if let Some(cap) = wh.capacity_m3 {
            model.add_constraint(m3.leq(cap));
        }
    }
    let sol = model.solve().expect("LP solves");
    sol.eval(&objective)
}

/// Exhaustive optimum over all integer targets (no case packs, no minimums).
fn brute_force(p: &AllocationProblem) -> f64 {
    let avail = available(p);
    let values = cell_values(p, &avail);
    let ns = p.skus.len();
    let cells_of: Vec<Vec<usize>> = (0..ns)
        .map(|s| {
            (0..p.cells.len())
                .filter(|&ci| p.cells[ci].sku_index == s)
                .collect()
        })
        .collect();
    // All target vectors per SKU.
    fn vectors(n: usize, budget: u64, cur: &mut Vec<u64>, out: &mut Vec<Vec<u64>>) {
        if cur.len() == n {
            out.push(cur.clone());
            return;
        }
        for v in 0..=budget {
            cur.push(v);
            vectors(n, budget - v, cur, out);
            cur.pop();
        }
    }
    let options: Vec<Vec<Vec<u64>>> = (0..ns)
        .map(|s| {
            let mut out = Vec::new();
            vectors(cells_of[s].len(), avail[s], &mut Vec::new(), &mut out);
            out
        })
        .collect();
    let mut best = f64::NEG_INFINITY;
    let mut choice = vec![0usize; ns];
    loop {
        let mut use_u = vec![0u64; p.warehouses.len()];
        let mut use_v = vec![0f64; p.warehouses.len()];
        let mut val = 0.0;
        for s in 0..ns {
            for (k, &ci) in cells_of[s].iter().enumerate() {
                let x = options[s][choice[s]][k];
                use_u[p.cells[ci].warehouse_index] += x;
                use_v[p.cells[ci].warehouse_index] += x as f64 * p.skus[s].unit_volume_m3;
                val += values[ci][x as usize];
            }
        }
        let ok = p.warehouses.iter().enumerate().all(|(w, wh)| {
            wh.capacity_units
                .is_none_or(|c| use_u[w] as f64 <= c.floor())
                && wh.capacity_m3.is_none_or(|c| use_v[w] <= c)
        });
        if ok && val > best {
            best = val;
        }
        let mut s = 0;
        while s < ns {
            choice[s] += 1;
            if choice[s] < options[s].len() {
                break;
            }
            choice[s] = 0;
            s += 1;
        }
        if s == ns {
            break;
        }
    }
    best
}

fn solve_ok(p: &AllocationProblem) -> AllocationSolution {
    let sol = solve(p).expect("valid problem solves");
    if let Err(e) = verify(p, &sol) {
        panic!("verify failed: {e}\nproblem: {p:?}\nsolution: {sol:?}");
    }
    sol
}

#[test]
fn matches_brute_force_on_tiny_instances() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for case in 0..150 {
        let nw = 2 + case % 2;
        let mut p = random_problem(
            &mut rng,
            2,
            nw,
            7,
            Features {
                inbound: true,
                ..Default::default()
            },
        );
        // Keep the enumeration small.
        for c in &mut p.cells {
            c.current_units = c.current_units.min(3);
        }
        let sol = solve_ok(&p);
        let best = brute_force(&p);
        assert!(
            (sol.objective - best).abs() <= 1e-7 * best.abs().max(1.0),
            "case {case}: objective {} vs brute force {best}\n{p:?}\n{sol:?}",
            sol.objective
        );
        assert!(
            sol.bound >= best - 1e-6 * best.abs().max(1.0),
            "case {case}: bound {} < {best}",
            sol.bound
        );
    }
}

#[test]
fn brute_force_with_m3_capacities_is_close_and_bounded() {
    // m³ capacities make allocation a knapsack: no exactness is claimed, but the bound holds, the
    // loss is small on average and never more than the reported gap.
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (mut worst, mut total) = (0.0f64, 0.0);
    let cases = 150;
    for case in 0..cases {
        let nw = 2 + case % 2;
        let mut p = random_problem(
            &mut rng,
            2,
            nw,
            6,
            Features {
                volume: true,
                ..Default::default()
            },
        );
        for c in &mut p.cells {
            c.current_units = c.current_units.min(3);
        }
        let sol = solve_ok(&p);
        let best = brute_force(&p);
        let scale = best.abs().max(1.0);
        assert!(
            sol.objective <= best + 1e-7 * scale,
            "case {case}: above brute force"
        );
        assert!(
            sol.bound >= best - 1e-6 * scale,
            "case {case}: bound {} < {best}",
            sol.bound
        );
        let loss = (best - sol.objective) / scale;
        worst = worst.max(loss);
        total += loss;
    }
    let mean = total / cases as f64;
    eprintln!("m³ brute force: mean relative loss {mean}, worst {worst}");
    assert!(
        mean < 0.01 && worst < 0.15,
        "mean loss {mean}, worst {worst}"
    );
}

#[test]
fn lp_relaxation_bounds_and_is_reached() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut worst: f64 = 0.0;
    for case in 0..80 {
        let ns = 2 + case % 3;
        let nw = 2 + case % 2;
        let f = Features {
            case_packs: case % 4 == 1,
            minimums: case % 3 == 0,
            volume: case % 5 == 2,
            inbound: case % 2 == 0,
            sparse: case % 7 == 3,
            ..Default::default()
        };
        let mut p = random_problem(&mut rng, ns, nw, 12, f);
        if !minimums_feasible(&p) {
            for c in &mut p.cells {
                c.min_presentation = 0;
            }
        }
        let sol = solve_ok(&p);
        let lp = lp_optimum(&p, true);
        let lp_unit = lp_optimum(&p, false);
        let scale = lp_unit.abs().max(1.0);
        assert!(
            sol.bound >= lp - 1e-6 * scale,
            "case {case}: bound {} < LP {lp}",
            sol.bound
        );
        assert!(
            sol.stats.bound_without_case_packs >= lp_unit - 1e-6 * scale,
            "case {case}: unit bound {} < unit LP {lp_unit}",
            sol.stats.bound_without_case_packs
        );
        assert!(lp_unit >= lp - 1e-6 * scale);
        let exact = !f.case_packs && !p.warehouses.iter().any(|w| w.capacity_m3.is_some());
        // Integrality: per constraint (SKU stock, warehouse units and m³) at most one step
        // (case pack) of the best unit gain is lost.
        let max_gain = p
            .skus
            .iter()
            .map(|s| s.unit_margin * s.case_pack as f64)
            .fold(0.0, f64::max);
        let tol = if exact {
            1e-6 * scale
        } else {
            (2 * nw + ns) as f64 * max_gain
        };
        assert!(
            sol.objective >= lp - tol,
            "case {case}: objective {} vs LP {lp} (tolerance {tol})",
            sol.objective
        );
        worst = worst.max((lp - sol.objective) / scale);
    }
    eprintln!("largest (LP − objective)/LP: {worst}");
}

#[test]
fn random_instances_never_violate_constraints() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    for case in 0..300 {
        let f = Features {
            case_packs: rng.random(),
            minimums: rng.random(),
            volume: rng.random(),
            inbound: rng.random(),
            sparse: rng.random(),
            zero_capacity: rng.random(),
            fair_share: case % 4 == 0,
        };
        let ns = rng.random_range(1..12);
        let nw = rng.random_range(1..6);
        let stock = rng.random_range(0..40);
        let p = random_problem(&mut rng, ns, nw, stock, f);
        let sol = solve_ok(&p);
        assert!(sol.gap >= -1e-9, "case {case}: negative gap {}", sol.gap);
        assert!(sol.objective.is_finite() && sol.bound.is_finite());
    }
}

#[test]
fn medium_bench_instance_is_near_optimal() {
    for (ns, nw, seed) in [(400, 6, 1), (300, 12, 2)] {
        let p = bench_instance(ns, nw, seed);
        let sol = solve_ok(&p);
        assert!(sol.gap <= 2e-3, "{ns}×{nw}: gap {}", sol.gap);
        assert!(sol.stats.priced_constraints > 0);
    }
}

#[test]
fn bench_capacities_bind() {
    let p = bench_instance(300, 8, 5);
    let mut unlimited = p.clone();
    for w in &mut unlimited.warehouses {
        w.capacity_units = None;
        w.capacity_m3 = None;
    }
    let free = solve_ok(&unlimited);
    let mut free_units = [0u64; 8];
    for t in &free.targets {
        free_units[t.warehouse_index] += t.target_units;
    }
    let cap: f64 = p.warehouses.iter().map(|w| w.capacity_units.unwrap()).sum();
    let placed: u64 = free_units.iter().sum();
    let ratio = cap / placed as f64;
    assert!(
        (0.7..=0.8).contains(&ratio),
        "capacity / unconstrained placement = {ratio}"
    );
    let sol = solve_ok(&p);
    let used: u64 = sol.targets.iter().map(|t| t.target_units).sum();
    assert!(
        used as f64 >= 0.8 * cap,
        "capacity left unused: {used} of {cap}"
    );
}

fn qp3(m: f64) -> Vec<QuantilePoint> {
    vec![
        QuantilePoint {
            level: 0.1,
            units: 0.5 * m,
        },
        QuantilePoint {
            level: 0.5,
            units: m,
        },
        QuantilePoint {
            level: 0.9,
            units: 1.7 * m,
        },
    ]
}

fn sku(name: &str, margin: f64, cp: u32, inbound: u64) -> SkuInput {
    SkuInput {
        sku: name.to_string(),
        unit_margin: margin,
        holding_cost: 0.5,
        unit_volume_m3: 0.1,
        case_pack: cp,
        inbound_units: inbound,
    }
}

fn wh(name: &str, tier: u8, cap: Option<f64>) -> WarehouseInput {
    WarehouseInput {
        warehouse: name.to_string(),
        region: "R".to_string(),
        capacity_units: cap,
        capacity_m3: None,
        priority_tier: tier,
    }
}

fn cell(s: usize, w: usize, m: f64, cur: u64, min: u64) -> CellInput {
    CellInput {
        sku_index: s,
        warehouse_index: w,
        demand: qp3(m),
        mean: None,
        current_units: cur,
        min_presentation: min,
    }
}

fn costs(nw: usize, c: f64) -> Vec<Vec<f64>> {
    (0..nw)
        .map(|a| (0..nw).map(|b| if a == b { 0.0 } else { c }).collect())
        .collect()
}

#[test]
fn fair_share_gives_equal_days_of_supply() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    for case in 0..40 {
        let nw = rng.random_range(2..7);
        let cp = if case % 2 == 0 {
            1
        } else {
            rng.random_range(2..6)
        };
        let means: Vec<f64> = (0..nw).map(|_| rng.random_range(2.0..30.0)).collect();
        let cells: Vec<CellInput> = means
            .iter()
            .enumerate()
            .map(|(w, &m)| cell(0, w, m, rng.random_range(0..5), 0))
            .collect();
        let demand_sum: f64 = means.iter().sum();
        let p = AllocationProblem {
            skus: vec![sku("A", 20.0, cp, (demand_sum * 0.4) as u64)],
            warehouses: (0..nw)
                .map(|w| wh(&format!("W{w}"), 1 + (w % 3) as u8, None))
                .collect(),
            cells,
            transfer_cost_per_unit: costs(nw, 1.0),
            policy: Policy::FairShare,
        };
        let sol = solve_ok(&p);
        let avail = available(&p)[0];
        let placed: u64 = sol.targets.iter().map(|t| t.target_units).sum();
        assert!(
            avail - placed < cp as u64 * nw as u64,
            "case {case}: placed {placed} of {avail}"
        );
        let mu: Vec<f64> = p
            .cells
            .iter()
            .map(|c| Demand::new(&c.demand, c.mean).mean())
            .collect();
        let t = placed as f64 / mu.iter().sum::<f64>();
        for (k, tg) in sol.targets.iter().enumerate() {
            let ideal = t * mu[k];
            assert!(
                (tg.target_units as f64 - ideal).abs() <= cp as f64 + 1e-9,
                "case {case}: warehouse {k} target {} vs equal days of supply {ideal:.2} (case pack {cp})",
                tg.target_units
            );
        }
    }
}

#[test]
fn fair_share_only_when_short() {
    // Plenty of stock: fair share allocates like margin.
    let p = AllocationProblem {
        skus: vec![sku("A", 20.0, 1, 200)],
        warehouses: vec![wh("W0", 1, None), wh("W1", 2, None)],
        cells: vec![cell(0, 0, 5.0, 0, 0), cell(0, 1, 10.0, 0, 0)],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::FairShare,
    };
    let fair = solve_ok(&p);
    let margin = solve_ok(&AllocationProblem {
        policy: Policy::Margin,
        ..p.clone()
    });
    assert_eq!(fair.targets, margin.targets);
}

#[test]
fn flagship_wins_ties_when_short() {
    let p = AllocationProblem {
        skus: vec![sku("A", 20.0, 1, 5)],
        warehouses: vec![wh("W0", 3, None), wh("W1", 1, None), wh("W2", 2, None)],
        cells: (0..3).map(|w| cell(0, w, 10.0, 0, 0)).collect(),
        transfer_cost_per_unit: costs(3, 0.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    let x: Vec<u64> = sol.targets.iter().map(|t| t.target_units).collect();
    // Five units over three identical warehouses: 2 to the flagship, 2 to tier 2, 1 to tier 3.
    assert_eq!(x, vec![1, 2, 2]);
}

#[test]
fn zero_demand_sku_places_only_minimums() {
    let mut c0 = cell(0, 0, 0.0, 6, 2);
    c0.demand = vec![QuantilePoint {
        level: 0.5,
        units: 0.0,
    }];
    let mut c1 = cell(0, 1, 0.0, 0, 1);
    c1.demand = vec![];
    let p = AllocationProblem {
        skus: vec![sku("Z", 20.0, 1, 0)],
        warehouses: vec![wh("W0", 1, None), wh("W1", 1, None)],
        cells: vec![c0, c1],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    let x: Vec<u64> = sol.targets.iter().map(|t| t.target_units).collect();
    assert_eq!(x, vec![2, 1]);
    assert!(
        sol.messages
            .iter()
            .any(|m| m.contains("SKU Z: zero forecast demand")),
        "{:?}",
        sol.messages
    );
    assert_eq!(sol.transfers.len(), 1);
    assert_eq!(sol.targets[0].fill_rate, 1.0);
}

#[test]
fn zero_capacity_warehouse_gets_nothing() {
    let p = AllocationProblem {
        skus: vec![sku("A", 20.0, 1, 0)],
        warehouses: vec![wh("W0", 1, Some(0.0)), wh("W1", 2, Some(100.0))],
        cells: vec![cell(0, 0, 10.0, 8, 2), cell(0, 1, 10.0, 4, 0)],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    assert_eq!(sol.targets[0].target_units, 0);
    assert!(sol.targets[1].target_units > 4);
    assert!(
        sol.messages
            .iter()
            .any(|m| m.contains("W0: zero capacity") && m.contains("8 units")),
        "{:?}",
        sol.messages
    );
    assert!(sol
        .messages
        .iter()
        .any(|m| m.contains("W0: presentation minimums")));
}

#[test]
fn stock_beyond_capacity_is_reported_and_reduced() {
    let p = AllocationProblem {
        skus: vec![sku("A", 20.0, 1, 0), sku("B", 10.0, 1, 0)],
        warehouses: vec![wh("W0", 1, Some(10.0))],
        cells: vec![cell(0, 0, 10.0, 9, 0), cell(1, 0, 10.0, 9, 0)],
        transfer_cost_per_unit: costs(1, 0.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    let used: u64 = sol.targets.iter().map(|t| t.target_units).sum();
    assert_eq!(used, 10);
    assert!(sol.targets[0].target_units >= sol.targets[1].target_units);
    assert!(
        sol.messages.iter().any(|m| m.contains("exceeds capacity")),
        "{:?}",
        sol.messages
    );
}

#[test]
fn sku_without_stock_gets_zero_targets() {
    let p = AllocationProblem {
        skus: vec![sku("N", 20.0, 1, 0)],
        warehouses: vec![wh("W0", 1, None), wh("W1", 2, None)],
        cells: vec![cell(0, 0, 10.0, 0, 3), cell(0, 1, 10.0, 0, 0)],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    assert!(sol.targets.iter().all(|t| t.target_units == 0));
    assert!(sol.transfers.is_empty() && sol.inbound.is_empty());
    assert!(sol
        .messages
        .iter()
        .any(|m| m.contains("SKU N: no stock available")));
}

#[test]
fn infeasible_minimums_filled_by_tier() {
    let p = AllocationProblem {
        skus: vec![sku("SKU123", 20.0, 1, 10)],
        warehouses: vec![wh("W0", 3, None), wh("W1", 1, None), wh("W2", 2, None)],
        cells: vec![
            cell(0, 0, 10.0, 5, 15),
            cell(0, 1, 10.0, 0, 15),
            cell(0, 2, 10.0, 10, 15),
        ],
        transfer_cost_per_unit: costs(3, 1.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    let x: Vec<u64> = sol.targets.iter().map(|t| t.target_units).collect();
    assert_eq!(x, vec![0, 15, 10]);
    assert!(
        sol.messages
            .iter()
            .any(|m| m.contains("SKU SKU123: presentation minimums need 45 units, only 25 available; filled by priority tier")),
        "{:?}",
        sol.messages
    );
}

#[test]
fn case_packs_and_minimums_respected() {
    let p = AllocationProblem {
        skus: vec![sku("C", 30.0, 6, 40)],
        warehouses: vec![wh("W0", 1, Some(50.0)), wh("W1", 2, Some(50.0))],
        cells: vec![cell(0, 0, 20.0, 3, 5), cell(0, 1, 8.0, 1, 0)],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::Margin,
    };
    let sol = solve_ok(&p);
    for t in &sol.targets {
        assert!(t.target_units <= t.current_units || (t.target_units - t.current_units) % 6 == 0);
    }
    assert!(sol.targets[0].target_units >= 5);
}

#[test]
fn empty_and_cell_less_problems() {
    let empty = AllocationProblem {
        skus: vec![],
        warehouses: vec![],
        cells: vec![],
        transfer_cost_per_unit: vec![],
        policy: Policy::Margin,
    };
    let sol = solve_ok(&empty);
    assert!(sol.targets.is_empty() && sol.objective == 0.0 && sol.gap == 0.0);
    // A SKU with inbound stock but no cells, and a warehouse with no cells.
    let p = AllocationProblem {
        skus: vec![sku("A", 20.0, 1, 10), sku("B", 5.0, 2, 0)],
        warehouses: vec![wh("W0", 1, Some(5.0)), wh("W1", 2, None)],
        cells: vec![cell(1, 0, 4.0, 2, 0)],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::FairShare,
    };
    let sol = solve_ok(&p);
    assert_eq!(sol.targets.len(), 1);
}

#[test]
fn invalid_input_is_rejected_with_names() {
    let base = AllocationProblem {
        skus: vec![sku("A", 20.0, 1, 0)],
        warehouses: vec![wh("W0", 1, None), wh("W1", 1, None)],
        cells: vec![cell(0, 0, 10.0, 3, 0)],
        transfer_cost_per_unit: costs(2, 1.0),
        policy: Policy::Margin,
    };
    assert!(solve(&base).is_ok());
    let expect = |p: AllocationProblem, words: &[&str]| {
        let e = solve(&p).expect_err("invalid").to_string();
        for w in words {
            assert!(e.contains(w), "{e:?} should mention {w:?}");
        }
    };
    let mut p = base.clone();
    p.cells[0].demand[1].units = f64::NAN;
    expect(p, &["SKU \"A\"", "\"W0\"", "units"]);
    let mut p = base.clone();
    p.cells[0].demand[2].units = 1.0;
    expect(p, &["SKU \"A\"", "not monotone"]);
    let mut p = base.clone();
    p.cells[0].demand[0].level = 0.0;
    expect(p, &["level"]);
    let mut p = base.clone();
    p.skus[0].holding_cost = -1.0;
    expect(p, &["SKU \"A\"", "holding_cost", "negative"]);
    let mut p = base.clone();
    p.skus[0].case_pack = 0;
    expect(p, &["SKU \"A\"", "case_pack"]);
    let mut p = base.clone();
    p.transfer_cost_per_unit[1].pop();
    expect(p, &["transfer_cost_per_unit", "\"W1\""]);
    let mut p = base.clone();
    p.transfer_cost_per_unit.pop();
    expect(p, &["transfer_cost_per_unit", "rows"]);
    let mut p = base.clone();
    p.transfer_cost_per_unit[0][1] = -2.0;
    expect(p, &["\"W0\"", "\"W1\"", "negative"]);
    let mut p = base.clone();
    p.warehouses[1].capacity_m3 = Some(f64::NAN);
    expect(p, &["\"W1\"", "capacity_m3"]);
    let mut p = base.clone();
    p.cells.push(cell(0, 0, 1.0, 0, 0));
    expect(p, &["duplicate"]);
    let mut p = base.clone();
    p.cells[0].warehouse_index = 7;
    expect(p, &["warehouse_index"]);
}

#[test]
fn verify_catches_violations() {
    let p = bench_instance(40, 4, 3);
    let sol = solve_ok(&p);
    let mut bad = sol.clone();
    let k = bad.targets.iter().position(|t| t.target_units > 0).unwrap();
    bad.targets[k].target_units += 1000;
    assert!(verify(&p, &bad).is_err());
    let mut bad = sol.clone();
    bad.objective += 1.0;
    assert!(verify(&p, &bad).is_err());
    let mut bad = sol;
    if let Some(t) = bad.transfers.first_mut() {
        t.units += 1;
        assert!(verify(&p, &bad).is_err());
    }
}

#[test]
fn transfer_plan_is_least_cost() {
    use good_lp::{microlp, variable, Expression, ProblemVariables, Solution, SolverModel};
    let mut rng = ChaCha8Rng::seed_from_u64(51);
    let mut t = super::transfers::Transport::default();
    for case in 0..200 {
        let m = rng.random_range(1..7);
        let n = rng.random_range(1..7);
        let supply: Vec<u64> = (0..m).map(|_| rng.random_range(0..20)).collect();
        let mut demand: Vec<u64> = (0..n).map(|_| rng.random_range(0..20)).collect();
        let diff = supply.iter().sum::<u64>() as i64 - demand.iter().sum::<u64>() as i64;
        if diff >= 0 {
            demand.push(diff as u64);
        } else {
            continue;
        }
        let nn = demand.len();
        let cost: Vec<f64> = (0..m * nn)
            .map(|k| {
                if k % nn == n {
                    0.0
                } else {
                    (rng.random_range(0..8) as f64) * 0.5
                }
            })
            .collect();
        let flow = if case % 2 == 0 {
            t.solve(&supply, &demand, &cost).to_vec()
        } else {
            super::transfers::ssp(&supply, &demand, &cost)
        };
        for i in 0..m {
            assert_eq!((0..nn).map(|j| flow[i * nn + j]).sum::<u64>(), supply[i]);
        }
        for j in 0..nn {
            assert_eq!((0..m).map(|i| flow[i * nn + j]).sum::<u64>(), demand[j]);
        }
        let got: f64 = (0..m * nn).map(|k| flow[k] as f64 * cost[k]).sum();
        let mut vars = ProblemVariables::new();
        let f: Vec<_> = (0..m * nn).map(|_| vars.add(variable().min(0.0))).collect();
        let mut obj = Expression::from(0.0);
        for k in 0..m * nn {
            obj.add_mul(cost[k], f[k]);
        }
        let mut model = vars.minimise(obj.clone()).using(microlp);
        for i in 0..m {
            let mut e = Expression::from(0.0);
            for j in 0..nn {
                e.add_mul(1.0, f[i * nn + j]);
            }
            model.add_constraint(e.eq(supply[i] as f64));
        }
        for j in 0..nn {
            let mut e = Expression::from(0.0);
            for i in 0..m {
                e.add_mul(1.0, f[i * nn + j]);
            }
            model.add_constraint(e.eq(demand[j] as f64));
        }
        let best = model.solve().expect("LP").eval(&obj);
        assert!(
            (got - best).abs() < 1e-6,
            "case {case}: plan costs {got}, optimum {best}"
        );
    }
}

/// Prints solve time, gap and peak memory for the two benchmark sizes (release mode).
#[test]
#[ignore]
fn timing_20k_by_10() {
    timing(20_000, 10, 1);
}

#[test]
#[ignore]
fn timing_100k_by_50() {
    timing(100_000, 50, 2);
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn timing(ns: usize, nw: usize, seed: u64) {
    let t0 = std::time::Instant::now();
    let p = bench_instance(ns, nw, seed);
    let gen = t0.elapsed();
    let t1 = std::time::Instant::now();
    let sol = solve(&p).expect("solves");
    let took = t1.elapsed();
    println!(
        "allocate {ns}×{nw}: {} cells, generated in {:.2}s, solved in {:.3}s; objective {:.1}, bound {:.1}, gap {:.5}%; {} dual rounds, {} priced constraints, repaired {} / filled {} units; {} transfers; peak RSS {:.0} MB",
        p.cells.len(),
        gen.as_secs_f64(),
        took.as_secs_f64(),
        sol.objective,
        sol.bound,
        sol.gap * 100.0,
        sol.stats.dual_iterations,
        sol.stats.priced_constraints,
        sol.stats.repaired_units,
        sol.stats.filled_units,
        sol.transfers.len(),
        peak_rss_mb()
    );
    let t2 = std::time::Instant::now();
    verify(&p, &sol).expect("verify");
    println!("verify took {:.2}s", t2.elapsed().as_secs_f64());
    assert!(sol.gap <= 1e-3, "gap {}", sol.gap);
}
