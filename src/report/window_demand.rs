//! Demand over a promotion window per SKU × warehouse, summed from a forecast run's daily rows
//! inside the database, and the distribution it implies.
//!
//! Daily p10–p90 widths become variances (p90 − p10 ≈ 2 · 1.2816 σ) that add up over the
//! window, as `allocate` does; the window's p10/p50/p90 are then read off a normal with that
//! mean and variance, clipped at zero, and turned into the same piecewise-linear distribution
//! with an exponential tail that the allocation solver uses (`allocate::Demand`).

use chrono::NaiveDate;

use super::lookup::{Promotion, RunRef};
use super::query::{Bind, Sql};
use super::{Filters, ReportError};
use crate::allocate::{Demand, QuantilePoint};
use crate::report_fetch;
use crate::store::Store;

/// z of the 90th percentile of a standard normal.
pub const Z90: f64 = 1.281_551_565_5;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellWindow {
    pub sku: String,
    pub warehouse: String,
    pub category: String,
    pub unit_price: Option<f64>,
    /// Expected units over the window.
    pub mean: f64,
    /// Variance of the window total (units²).
    pub variance: f64,
    pub days: i64,
}

impl CellWindow {
    pub fn sd(&self) -> f64 {
        self.variance.max(0.0).sqrt()
    }

    pub fn p10(&self) -> f64 {
        (self.mean - Z90 * self.sd()).max(0.0)
    }

    pub fn p90(&self) -> f64 {
        (self.mean + Z90 * self.sd()).max(0.0)
    }

    /// Quantile points for [`Demand`]: levels 0.1, 0.5, 0.9.
    pub fn quantile_points(&self) -> [QuantilePoint; 3] {
        let p10 = self.p10();
        let p50 = self.mean.max(p10);
        let p90 = self.p90().max(p50);
        [
            QuantilePoint {
                level: 0.1,
                units: p10,
            },
            QuantilePoint {
                level: 0.5,
                units: p50,
            },
            QuantilePoint {
                level: 0.9,
                units: p90,
            },
        ]
    }
}

/// P(D > stock) and the expected shortfall E[(D − stock)⁺] for a window's demand.
pub fn shortfall(cell: &CellWindow, stock: f64) -> (f64, f64) {
    if cell.mean <= 0.0 {
        return (0.0, 0.0);
    }
    let points = cell.quantile_points();
    let demand = Demand::new(&points, Some(cell.mean));
    if demand.is_zero() {
        return (0.0, 0.0);
    }
    let stock = stock.max(0.0);
    let probability = demand.survival(stock);
    let expected_sales = demand.integral(0.0, stock);
    let short = (demand.mean() - expected_sales).max(0.0);
    // A sparse cell (small mean, wide p10–p90) interpolates to a distribution whose mean
    // exceeds the forecast's; its shortfall is scaled back so it never exceeds the mean.
    let scale = if demand.mean() > cell.mean {
        cell.mean / demand.mean()
    } else {
        1.0
    };
    (probability, short * scale)
}

/// Sums the run's rows over `[from, to]` per SKU × warehouse, inside the database, for the
/// promotion's scope and the filters.
pub async fn load_window(
    store: &Store,
    run: &RunRef,
    promotion: &Promotion,
    from: NaiveDate,
    to: NaiveDate,
    filters: &Filters,
) -> Result<Vec<CellWindow>, ReportError> {
    let mut sql = Sql::new(
        "SELECT w.sku, w.warehouse, p.category, p.unit_price, w.mean, w.spread, w.days FROM (\
         SELECT f.sku, f.warehouse, SUM(f.mean) AS mean, \
         SUM((f.p90 - f.p10) * (f.p90 - f.p10)) AS spread, COUNT(*) AS days \
         FROM forecasts f WHERE ",
    );
    sql.clause(
        "f.run_id = ? AND f.date >= ? AND f.date <= ?",
        vec![Bind::Text(run.id.clone()), Bind::Date(from), Bind::Date(to)],
    );
    promotion.restrict(&mut sql, "f");
    filters.restrict(&mut sql, "f");
    sql.push(" GROUP BY f.sku, f.warehouse) w JOIN products p ON p.sku = w.sku ORDER BY w.sku, w.warehouse");
    type Row = (String, String, String, Option<f64>, f64, f64, i64);
    let rows = report_fetch!(store, sql, Row);
    let width = 2.0 * Z90;
    Ok(rows
        .into_iter()
        .map(
            |(sku, warehouse, category, unit_price, mean, spread, days)| CellWindow {
                sku,
                warehouse,
                category,
                unit_price,
                mean: mean.max(0.0),
                variance: spread.max(0.0) / (width * width),
                days,
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(mean: f64, sd: f64) -> CellWindow {
        CellWindow {
            sku: "S".into(),
            warehouse: "W".into(),
            category: "c".into(),
            unit_price: Some(10.0),
            mean,
            variance: sd * sd,
            days: 7,
        }
    }

    #[test]
    fn shortfall_falls_as_stock_rises() {
        let c = cell(100.0, 20.0);
        let (p_low, short_low) = shortfall(&c, 60.0);
        let (p_mid, short_mid) = shortfall(&c, 100.0);
        let (p_high, short_high) = shortfall(&c, 160.0);
        assert!(p_low > 0.9 - 1e-9 && p_low <= 1.0, "{p_low}");
        assert!((p_mid - 0.5).abs() < 1e-6, "{p_mid}");
        assert!(p_high < 0.1, "{p_high}");
        assert!(short_low > short_mid && short_mid > short_high && short_high >= 0.0);
        // With no stock, the whole mean is short.
        let (p_zero, short_zero) = shortfall(&c, 0.0);
        assert_eq!(p_zero, 1.0);
        assert!((short_zero - 100.0).abs() < 1e-6);
        assert_eq!(shortfall(&cell(0.0, 0.0), 5.0), (0.0, 0.0));
        // Sparse and wide: the shortfall stays below the forecast mean at any stock.
        let sparse = cell(1.5, 20.0);
        for stock in [0.0, 1.0, 6.0, 30.0] {
            let (_, short) = shortfall(&sparse, stock);
            assert!(short <= 1.5 + 1e-9, "stock {stock}: shortfall {short}");
        }
    }
}
