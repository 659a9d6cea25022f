//! One [`AllocationProblem`] for a group of overlapping promotions, from loaded rows: the
//! promotions, the catalogue, the warehouses, the inventory and the forecast's daily rows.
//!
//! The SKUs are those in any promotion's scope; each cell's demand is summed over the days on
//! which at least one promotion covering it runs (a day two promotions share counts once);
//! stock and warehouse capacity are one pool for all of them. A SKU in several promotions
//! earns the margin of the deepest discount among them.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::economics::{promotional_unit_margin, regular_price, Economics};
use super::problem::{AllocationProblem, CellInput, Policy, SkuInput, WarehouseInput};
use super::promotion::Promotion;
use super::promotion_groups::PromotionWindow;
use super::window_demand::WindowDemand;

/// Why the rows cannot make a problem.
#[derive(Debug, Error, PartialEq)]
pub enum ProblemError {
    #[error("no promotion to allocate")]
    NoPromotion,
    #[error("promotion {promotion} ended on {end}, before the as-of date {as_of}")]
    PromotionEnded {
        promotion: String,
        end: NaiveDate,
        as_of: NaiveDate,
    },
    #[error("the database has no products or no warehouses; run `stockcast ingest` first")]
    NoCatalogue,
    #[error("the forecast does not cover the promotion window {start} … {end}")]
    ForecastMissesWindow { start: NaiveDate, end: NaiveDate },
}

/// A `products` row.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRow {
    pub sku: String,
    pub category: String,
    pub unit_volume_m3: Option<f64>,
    pub case_pack: Option<i64>,
    pub unit_price: Option<f64>,
}

/// A `warehouses` row.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseRow {
    pub warehouse: String,
    pub region: String,
    pub capacity_units: Option<f64>,
    pub capacity_m3: Option<f64>,
}

/// An `inventory` row.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub sku: String,
    pub warehouse: String,
    pub on_hand: i64,
    pub inbound: i64,
    pub min_presentation: i64,
}

/// What the problem is built from besides the promotions and the forecast. Products and
/// warehouses come in the order the problem's SKUs and warehouses take (by id).
#[derive(Debug, Clone, Default)]
pub struct NetworkRows {
    pub products: Vec<ProductRow>,
    pub warehouses: Vec<WarehouseRow>,
    pub inventory: Vec<InventoryRow>,
}

/// One forecast row: a SKU × warehouse on one day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastDay<'a> {
    pub date: NaiveDate,
    pub sku: &'a str,
    pub warehouse: &'a str,
    pub mean: f64,
    pub p10: f64,
    pub p90: f64,
}

/// The promotions of one plan with the part of their windows ahead of the as-of date, by
/// (start, id), and the window they span together.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPromotions {
    pub promotions: Vec<Promotion>,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
}

impl PlannedPromotions {
    /// Refuses a promotion that has ended by `as_of` (in the order given) and clips the
    /// others to start the day after it.
    pub fn ahead_of(
        promotions: Vec<Promotion>,
        as_of: NaiveDate,
    ) -> Result<PlannedPromotions, ProblemError> {
        let mut ahead = Vec::with_capacity(promotions.len());
        for promotion in promotions {
            if promotion.end_date <= as_of {
                return Err(ProblemError::PromotionEnded {
                    promotion: promotion.promo_id,
                    end: promotion.end_date,
                    as_of,
                });
            }
            ahead.push(Promotion {
                start_date: promotion.start_date.max(as_of + Duration::days(1)),
                ..promotion
            });
        }
        ahead.sort_by(|a, b| (a.start_date, &a.promo_id).cmp(&(b.start_date, &b.promo_id)));
        let (Some(window_start), Some(window_end)) = (
            ahead.iter().map(|p| p.start_date).min(),
            ahead.iter().map(|p| p.end_date).max(),
        ) else {
            return Err(ProblemError::NoPromotion);
        };
        Ok(PlannedPromotions {
            promotions: ahead,
            window_start,
            window_end,
        })
    }

    pub fn windows(&self) -> Vec<PromotionWindow> {
        self.promotions
            .iter()
            .map(|p| PromotionWindow {
                promotion: p.promo_id.clone(),
                start: p.start_date,
                end: p.end_date,
            })
            .collect()
    }
}

/// A problem for a group of promotions planned together, and what it covers.
#[derive(Debug, Clone)]
pub struct BuiltProblem {
    pub problem: AllocationProblem,
    /// Identifies the problem's content: equal inputs give equal fingerprints.
    pub fingerprint: String,
    /// The promotions, with the part of their windows ahead of the as-of date.
    pub windows: Vec<PromotionWindow>,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
}

/// Builds the problem for `planned` (see the module documentation). `forecast` rows outside
/// the planned window, or for SKUs and warehouses the problem does not hold, are ignored.
pub fn build_problem(
    planned: &PlannedPromotions,
    network: &NetworkRows,
    forecast: &[ForecastDay<'_>],
    policy: Policy,
    economics: &Economics,
) -> Result<BuiltProblem, ProblemError> {
    if network.warehouses.is_empty() || network.products.is_empty() {
        return Err(ProblemError::NoCatalogue);
    }
    let warehouses = warehouse_inputs(network, economics);
    let warehouse_index: HashMap<&str, usize> = network
        .warehouses
        .iter()
        .enumerate()
        .map(|(i, w)| (w.warehouse.as_str(), i))
        .collect();
    let mut promoted = promoted_skus(&planned.promotions, network, economics);
    let coverage = Coverage {
        promotions: &planned.promotions,
        covers: &promoted.covers,
        scoped_warehouse: scoped_warehouses(&planned.promotions, &warehouse_index),
        sku_index: &promoted.index,
        warehouse_index: &warehouse_index,
    };
    let demand = window_demand(planned, forecast, &coverage)?;
    let stock = stock_by_cell(network, &coverage, &mut promoted.skus);
    let cells = cell_inputs(&demand, &stock);
    let transfer_cost_per_unit = transfer_costs(&warehouses, economics);
    let problem = AllocationProblem {
        skus: promoted.skus,
        warehouses,
        cells,
        transfer_cost_per_unit,
        policy,
    };
    let fingerprint = fingerprint(&problem);
    Ok(BuiltProblem {
        problem,
        fingerprint,
        windows: planned.windows(),
        window_start: planned.window_start,
        window_end: planned.window_end,
    })
}

/// The warehouses in the network's order, the flagships (all, when none are named) tier 1.
fn warehouse_inputs(network: &NetworkRows, economics: &Economics) -> Vec<WarehouseInput> {
    network
        .warehouses
        .iter()
        .map(|row| WarehouseInput {
            warehouse: row.warehouse.clone(),
            region: row.region.clone(),
            capacity_units: row.capacity_units,
            capacity_m3: row.capacity_m3,
            priority_tier: if economics.flagships.is_empty()
                || economics.flagships.contains(&row.warehouse)
            {
                1
            } else {
                2
            },
        })
        .collect()
}

/// The SKUs some promotion covers, in the network's order, each with the margin of the deepest
/// discount among them.
struct PromotedSkus<'r> {
    skus: Vec<SkuInput>,
    index: HashMap<&'r str, usize>,
    /// Per promotion, which of `skus` it covers.
    covers: Vec<Vec<bool>>,
}

fn promoted_skus<'r>(
    promotions: &[Promotion],
    network: &'r NetworkRows,
    economics: &Economics,
) -> PromotedSkus<'r> {
    let mut skus: Vec<SkuInput> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    // Per promotion, which of `skus` it covers.
    let mut covers: Vec<Vec<bool>> = vec![Vec::new(); promotions.len()];
    for product in &network.products {
        let covering: Vec<bool> = promotions
            .iter()
            .map(|p| p.covers_product(&product.sku, &product.category))
            .collect();
        let Some(discount_pct) = promotions
            .iter()
            .zip(&covering)
            .filter(|(_, covered)| **covered)
            .map(|(p, _)| p.discount_pct)
            .reduce(f64::max)
        else {
            continue;
        };
        for (list, covered) in covers.iter_mut().zip(covering) {
            list.push(covered);
        }
        let price = regular_price(product.unit_price);
        index.insert(product.sku.as_str(), skus.len());
        skus.push(SkuInput {
            sku: product.sku.clone(),
            unit_margin: promotional_unit_margin(price, discount_pct, economics.margin_rate),
            holding_cost: price * economics.holding_rate,
            unit_volume_m3: product.unit_volume_m3.unwrap_or(0.0),
            case_pack: product.case_pack.unwrap_or(1).clamp(1, u32::MAX as i64) as u32,
            inbound_units: 0,
        });
    }
    PromotedSkus {
        skus,
        index,
        covers,
    }
}

/// Per promotion, the warehouse it is scoped to; `usize::MAX` (no cell) for a warehouse the
/// network does not hold.
fn scoped_warehouses(
    promotions: &[Promotion],
    warehouse_index: &HashMap<&str, usize>,
) -> Vec<Option<usize>> {
    promotions
        .iter()
        .map(|p| {
            p.warehouse
                .as_deref()
                .map(|w| warehouse_index.get(w).copied().unwrap_or(usize::MAX))
        })
        .collect()
}

/// Which SKU × warehouse cells each promotion covers, by the problem's indices.
struct Coverage<'p> {
    promotions: &'p [Promotion],
    covers: &'p [Vec<bool>],
    scoped_warehouse: Vec<Option<usize>>,
    sku_index: &'p HashMap<&'p str, usize>,
    warehouse_index: &'p HashMap<&'p str, usize>,
}

impl Coverage<'_> {
    /// Whether some promotion covering cell (`s`, `w`) runs on `date`.
    fn covered(&self, s: usize, w: usize, date: NaiveDate) -> bool {
        self.promotions.iter().enumerate().any(|(p, promotion)| {
            self.covers[p][s]
                && self.scoped_warehouse[p].is_none_or(|only| only == w)
                && (promotion.start_date..=promotion.end_date).contains(&date)
        })
    }

    fn cell(&self, sku: &str, warehouse: &str) -> Option<(usize, usize)> {
        Some((
            *self.sku_index.get(sku)?,
            *self.warehouse_index.get(warehouse)?,
        ))
    }
}

/// Demand per (sku, warehouse) over the days some promotion covering the cell runs.
fn window_demand(
    planned: &PlannedPromotions,
    forecast: &[ForecastDay<'_>],
    coverage: &Coverage<'_>,
) -> Result<HashMap<(usize, usize), WindowDemand>, ProblemError> {
    let in_window = |date: NaiveDate| date >= planned.window_start && date <= planned.window_end;
    let mut window_rows = 0usize;
    let mut demand: HashMap<(usize, usize), WindowDemand> = HashMap::new();
    for day in forecast.iter().filter(|day| in_window(day.date)) {
        window_rows += 1;
        let Some((s, w)) = coverage.cell(day.sku, day.warehouse) else {
            continue;
        };
        if !coverage.covered(s, w, day.date) {
            continue;
        }
        demand
            .entry((s, w))
            .or_default()
            .add_day(day.mean, day.p10, day.p90);
    }
    if window_rows == 0 {
        return Err(ProblemError::ForecastMissesWindow {
            start: planned.window_start,
            end: planned.window_end,
        });
    }
    Ok(demand)
}

/// On hand and presentation minimum per cell; inbound units add to their SKU's.
fn stock_by_cell(
    network: &NetworkRows,
    coverage: &Coverage<'_>,
    skus: &mut [SkuInput],
) -> HashMap<(usize, usize), (u64, u64)> {
    let mut stock: HashMap<(usize, usize), (u64, u64)> = HashMap::new();
    for row in &network.inventory {
        let Some((s, w)) = coverage.cell(&row.sku, &row.warehouse) else {
            continue;
        };
        stock.insert((s, w), (row.on_hand as u64, row.min_presentation as u64));
        skus[s].inbound_units += row.inbound as u64;
    }
    stock
}

/// One cell per SKU × warehouse with demand or stock, in (sku, warehouse) order.
fn cell_inputs(
    demand: &HashMap<(usize, usize), WindowDemand>,
    stock: &HashMap<(usize, usize), (u64, u64)>,
) -> Vec<CellInput> {
    let mut keys: Vec<(usize, usize)> = demand.keys().chain(stock.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(s, w)| {
            let window = demand.get(&(s, w)).copied().unwrap_or_default();
            let (current, minimum) = stock.get(&(s, w)).copied().unwrap_or((0, 0));
            CellInput {
                sku_index: s,
                warehouse_index: w,
                demand: window.allocation_quantile_points().to_vec(),
                mean: window.calibration_mean(),
                current_units: current,
                min_presentation: minimum,
            }
        })
        .collect()
}

/// The cost of moving a unit between warehouses: within a region, or across.
fn transfer_costs(warehouses: &[WarehouseInput], economics: &Economics) -> Vec<Vec<f64>> {
    (0..warehouses.len())
        .map(|from| {
            (0..warehouses.len())
                .map(|to| {
                    if from == to {
                        0.0
                    } else if warehouses[from].region == warehouses[to].region {
                        economics.transfer_same_region
                    } else {
                        economics.transfer_cross_region
                    }
                })
                .collect()
        })
        .collect()
}

/// Identifies the problem's content: equal inputs give equal fingerprints.
fn fingerprint(problem: &AllocationProblem) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(problem).unwrap_or_default());
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn promotion(id: &str, start: &str, end: &str, discount_pct: f64) -> Promotion {
        Promotion {
            promo_id: id.to_string(),
            name: format!("promotion {id}"),
            start_date: date(start),
            end_date: date(end),
            discount_pct,
            sku: None,
            category: None,
            warehouse: None,
        }
    }

    fn product(sku: &str, category: &str, unit_price: Option<f64>) -> ProductRow {
        ProductRow {
            sku: sku.to_string(),
            category: category.to_string(),
            unit_volume_m3: Some(0.5),
            case_pack: None,
            unit_price,
        }
    }

    fn warehouse(id: &str, region: &str) -> WarehouseRow {
        WarehouseRow {
            warehouse: id.to_string(),
            region: region.to_string(),
            capacity_units: Some(1000.0),
            capacity_m3: None,
        }
    }

    fn network() -> NetworkRows {
        NetworkRows {
            products: vec![
                product("CHAIR", "seating", Some(50.0)),
                product("LAMP", "lighting", None),
                product("SOFA", "seating", Some(800.0)),
            ],
            warehouses: vec![
                warehouse("EAST", "east"),
                warehouse("NORTH", "east"),
                warehouse("WEST", "west"),
            ],
            inventory: vec![
                InventoryRow {
                    sku: "CHAIR".into(),
                    warehouse: "WEST".into(),
                    on_hand: 12,
                    inbound: 5,
                    min_presentation: 2,
                },
                InventoryRow {
                    sku: "CHAIR".into(),
                    warehouse: "EAST".into(),
                    on_hand: 3,
                    inbound: 1,
                    min_presentation: 0,
                },
                InventoryRow {
                    sku: "LAMP".into(),
                    warehouse: "EAST".into(),
                    on_hand: 40,
                    inbound: 0,
                    min_presentation: 0,
                },
            ],
        }
    }

    fn day<'a>(date_text: &str, sku: &'a str, warehouse: &'a str, mean: f64) -> ForecastDay<'a> {
        ForecastDay {
            date: date(date_text),
            sku,
            warehouse,
            mean,
            p10: mean * 0.5,
            p90: mean * 1.5,
        }
    }

    #[test]
    fn planned_promotions_start_after_the_as_of_date_and_refuse_ended_ones() {
        let as_of = date("2026-11-01");
        let planned = PlannedPromotions::ahead_of(
            vec![
                promotion("B", "2026-11-05", "2026-11-09", 20.0),
                promotion("A", "2026-10-28", "2026-11-04", 10.0),
            ],
            as_of,
        )
        .unwrap();
        let ids: Vec<&str> = planned
            .promotions
            .iter()
            .map(|p| p.promo_id.as_str())
            .collect();
        assert_eq!(ids, ["A", "B"]);
        assert_eq!(planned.promotions[0].start_date, date("2026-11-02"));
        assert_eq!(
            (planned.window_start, planned.window_end),
            (date("2026-11-02"), date("2026-11-09"))
        );
        assert_eq!(
            PlannedPromotions::ahead_of(
                vec![promotion("C", "2026-10-20", "2026-11-01", 5.0)],
                as_of
            ),
            Err(ProblemError::PromotionEnded {
                promotion: "C".into(),
                end: date("2026-11-01"),
                as_of
            })
        );
        assert_eq!(
            PlannedPromotions::ahead_of(Vec::new(), as_of),
            Err(ProblemError::NoPromotion)
        );
    }

    #[test]
    fn demand_counts_each_covered_day_once_and_margins_take_the_deepest_discount() {
        let as_of = date("2026-11-01");
        let seating = Promotion {
            category: Some("seating".into()),
            ..promotion("SEAT", "2026-11-02", "2026-11-04", 20.0)
        };
        let sofa_in_west = Promotion {
            sku: Some("SOFA".into()),
            warehouse: Some("WEST".into()),
            ..promotion("SOFA-W", "2026-11-03", "2026-11-05", 50.0)
        };
        let planned = PlannedPromotions::ahead_of(vec![seating, sofa_in_west], as_of).unwrap();
        let forecast = [
            day("2026-11-01", "CHAIR", "WEST", 100.0), // before the window
            day("2026-11-02", "CHAIR", "WEST", 2.0),
            day("2026-11-03", "CHAIR", "WEST", 3.0),
            day("2026-11-05", "CHAIR", "WEST", 7.0), // only SOFA-W runs, and not for chairs
            day("2026-11-03", "SOFA", "WEST", 1.0),  // both promotions: counted once
            day("2026-11-05", "SOFA", "WEST", 4.0),
            day("2026-11-05", "SOFA", "EAST", 9.0), // SOFA-W is for WEST only
            day("2026-11-03", "LAMP", "EAST", 5.0), // no promotion covers lamps
            day("2026-11-03", "TABLE", "EAST", 5.0), // not in the catalogue
        ];
        let economics = Economics {
            flagships: vec!["WEST".into()],
            ..Economics::default()
        };
        let built =
            build_problem(&planned, &network(), &forecast, Policy::Margin, &economics).unwrap();
        let problem = &built.problem;

        let skus: Vec<&str> = problem.skus.iter().map(|s| s.sku.as_str()).collect();
        assert_eq!(skus, ["CHAIR", "SOFA"], "lamps are in no promotion's scope");
        assert!((problem.skus[0].unit_margin - 50.0 * 0.8 * 0.4).abs() < 1e-12);
        assert!((problem.skus[1].unit_margin - 800.0 * 0.5 * 0.4).abs() < 1e-12);
        assert_eq!(problem.skus[0].inbound_units, 6);
        let tiers: Vec<u8> = problem.warehouses.iter().map(|w| w.priority_tier).collect();
        assert_eq!(tiers, [2, 2, 1]);
        assert_eq!(problem.transfer_cost_per_unit[0], [0.0, 1.0, 4.0]);

        let cell = |sku: usize, warehouse: usize| {
            problem
                .cells
                .iter()
                .find(|c| c.sku_index == sku && c.warehouse_index == warehouse)
        };
        let chair_west = cell(0, 2).unwrap();
        assert_eq!(chair_west.mean, Some(5.0));
        assert_eq!(
            (chair_west.current_units, chair_west.min_presentation),
            (12, 2)
        );
        let chair_east = cell(0, 0).unwrap();
        assert_eq!(chair_east.mean, None, "stock but no demand");
        assert!(chair_east.demand.iter().all(|q| q.units == 0.0));
        assert_eq!(cell(1, 2).unwrap().mean, Some(5.0));
        assert!(cell(1, 0).is_none(), "no demand and no stock: no cell");
        assert_eq!(problem.cells.len(), 3);

        // The window's quantiles are those of the covered days' window demand.
        let mut sofa_days = WindowDemand::default();
        sofa_days.add_day(1.0, 0.5, 1.5);
        sofa_days.add_day(4.0, 2.0, 6.0);
        assert_eq!(
            cell(1, 2).unwrap().demand,
            sofa_days.allocation_quantile_points()
        );

        let ids: Vec<&str> = built.windows.iter().map(|w| w.promotion.as_str()).collect();
        assert_eq!(ids, ["SEAT", "SOFA-W"]);
        let again =
            build_problem(&planned, &network(), &forecast, Policy::Margin, &economics).unwrap();
        assert_eq!(again.fingerprint, built.fingerprint);
    }

    #[test]
    fn missing_catalogue_or_forecast_is_refused() {
        let planned = PlannedPromotions::ahead_of(
            vec![promotion("A", "2026-11-02", "2026-11-04", 10.0)],
            date("2026-11-01"),
        )
        .unwrap();
        let economics = Economics::default();
        let outside = [day("2026-11-10", "CHAIR", "WEST", 1.0)];
        assert_eq!(
            build_problem(&planned, &network(), &outside, Policy::Margin, &economics).unwrap_err(),
            ProblemError::ForecastMissesWindow {
                start: date("2026-11-02"),
                end: date("2026-11-04")
            }
        );
        let empty = NetworkRows::default();
        assert_eq!(
            build_problem(&planned, &empty, &outside, Policy::Margin, &economics).unwrap_err(),
            ProblemError::NoCatalogue
        );
    }
}
