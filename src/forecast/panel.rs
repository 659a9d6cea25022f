//! The panel: dense per-SKU (and per SKU × warehouse) series over a fixed period grid, built
//! from typed input frames. Everything the feature builder and the backtest read is here, so
//! they are plain array lookups with no IO.

use chrono::NaiveDate;

use crate::contract::Frequency;

/// Days in one period of the given frequency.
pub fn period_days(freq: Frequency) -> i64 {
    match freq {
        Frequency::Day => 1,
        Frequency::Week => 7,
    }
}

/// Periods in a season (364 days = 52 weeks, so weekdays and most holidays line up).
pub fn season_periods(freq: Frequency) -> usize {
    match freq {
        Frequency::Day => 364,
        Frequency::Week => 52,
    }
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub freq: Frequency,
    /// Date of period 0; period p covers `start + p·period_days` and the following days.
    pub start: NaiveDate,
    /// Periods 0..history_len are on or before the as-of date.
    pub history_len: usize,
    /// history_len + horizon.
    pub total_len: usize,
    pub skus: Vec<String>,
    pub sku_category: Vec<usize>,
    pub categories: Vec<String>,
    pub warehouses: Vec<String>,
    /// `[sku][period]` units summed over warehouses (history only).
    pub units: Vec<f32>,
    /// `[sku][warehouse][period]` units (history only).
    pub cell_units: Vec<f32>,
    /// `[sku][period]`: some warehouse of the SKU was out of stock, so sales are censored.
    pub censored: Vec<bool>,
    /// `[sku]`: first period with sales, or `None` for a SKU never sold (a new SKU).
    pub active_from: Vec<Option<usize>>,
    /// `[sku][period]` over total_len: promotion discount as a fraction (0 = none).
    pub discount: Vec<f32>,
    /// `[sku][period]` over total_len: periods since the promotion started, from 1; 0 = none.
    pub promo_period: Vec<u16>,
    /// `[sku][period]` over total_len: periods since the last promotion ended, 1..=dip window; 0 = none.
    pub since_promo_end: Vec<u16>,
    /// `[sku][period]`: poll responses, sum of interest, intent answers, intent yes.
    pub poll_sku: Vec<[f32; 4]>,
    /// `[category][period]`: the same for responses naming a category (or a SKU in it).
    pub poll_category: Vec<[f32; 4]>,
    /// `[period]` over total_len: days to the next event (capped), days since the last (capped).
    pub days_to_event: Vec<u16>,
    pub days_since_event: Vec<u16>,
}

pub const EVENT_DISTANCE_CAP_DAYS: u16 = 30;
pub const PROMO_DIP_DAYS: i64 = 14;

impl Panel {
    pub fn sku_count(&self) -> usize {
        self.skus.len()
    }

    pub fn warehouse_count(&self) -> usize {
        self.warehouses.len()
    }

    pub fn date_of(&self, period: usize) -> NaiveDate {
        self.start + chrono::Duration::days(period as i64 * period_days(self.freq))
    }

    #[inline]
    pub fn sku_units(&self, sku: usize, period: usize) -> f32 {
        debug_assert!(period < self.history_len);
        self.units[sku * self.history_len + period]
    }

    #[inline]
    pub fn cell(&self, sku: usize, warehouse: usize, period: usize) -> f32 {
        debug_assert!(period < self.history_len);
        self.cell_units[(sku * self.warehouses.len() + warehouse) * self.history_len + period]
    }

    #[inline]
    pub fn is_censored(&self, sku: usize, period: usize) -> bool {
        self.censored[sku * self.history_len + period]
    }

    #[inline]
    pub fn future_index(&self, sku: usize, period: usize) -> usize {
        debug_assert!(period < self.total_len);
        sku * self.total_len + period
    }

    /// Whether `period` counts as observed demand for the SKU: active and not censored.
    #[inline]
    pub fn observed(&self, sku: usize, period: usize) -> bool {
        match self.active_from[sku] {
            Some(first) => period >= first && !self.is_censored(sku, period),
            None => false,
        }
    }

    /// A copy of the panel that knows nothing after `origin` (inclusive end of history):
    /// used by backtests so every fit sees exactly what it would have seen at that date.
    pub fn truncated(&self, origin_len: usize, horizon: usize) -> Panel {
        assert!(origin_len <= self.history_len && origin_len >= 1);
        let total_len = origin_len + horizon;
        let sku_count = self.sku_count();
        let warehouse_count = self.warehouse_count();
        let mut units = Vec::with_capacity(sku_count * origin_len);
        let mut censored = Vec::with_capacity(sku_count * origin_len);
        let mut cell_units = Vec::with_capacity(sku_count * warehouse_count * origin_len);
        for sku in 0..sku_count {
            let row = sku * self.history_len;
            units.extend_from_slice(&self.units[row..row + origin_len]);
            censored.extend_from_slice(&self.censored[row..row + origin_len]);
            for warehouse in 0..warehouse_count {
                let cell_row = (sku * warehouse_count + warehouse) * self.history_len;
                cell_units.extend_from_slice(&self.cell_units[cell_row..cell_row + origin_len]);
            }
        }
        let future = |values: &Vec<f32>| -> Vec<f32> {
            let mut out = vec![0.0; sku_count * total_len];
            for sku in 0..sku_count {
                let keep = total_len.min(self.total_len);
                out[sku * total_len..sku * total_len + keep]
                    .copy_from_slice(&values[sku * self.total_len..sku * self.total_len + keep]);
            }
            out
        };
        let future_u16 = |values: &Vec<u16>| -> Vec<u16> {
            let mut out = vec![0; sku_count * total_len];
            for sku in 0..sku_count {
                let keep = total_len.min(self.total_len);
                out[sku * total_len..sku * total_len + keep]
                    .copy_from_slice(&values[sku * self.total_len..sku * self.total_len + keep]);
            }
            out
        };
        let periods = |values: &Vec<[f32; 4]>, rows: usize| -> Vec<[f32; 4]> {
            let mut out = Vec::with_capacity(rows * origin_len);
            for row in 0..rows {
                out.extend_from_slice(
                    &values[row * self.history_len..row * self.history_len + origin_len],
                );
            }
            out
        };
        let active_from = self
            .active_from
            .iter()
            .map(|first| first.filter(|first| *first < origin_len))
            .collect();
        let mut days_to_event = self.days_to_event.clone();
        let mut days_since_event = self.days_since_event.clone();
        days_to_event.resize(total_len.max(self.total_len), EVENT_DISTANCE_CAP_DAYS);
        days_since_event.resize(total_len.max(self.total_len), EVENT_DISTANCE_CAP_DAYS);
        days_to_event.truncate(total_len);
        days_since_event.truncate(total_len);
        Panel {
            freq: self.freq,
            start: self.start,
            history_len: origin_len,
            total_len,
            skus: self.skus.clone(),
            sku_category: self.sku_category.clone(),
            categories: self.categories.clone(),
            warehouses: self.warehouses.clone(),
            units,
            cell_units,
            censored,
            active_from,
            discount: future(&self.discount),
            promo_period: future_u16(&self.promo_period),
            since_promo_end: future_u16(&self.since_promo_end),
            poll_sku: periods(&self.poll_sku, sku_count),
            poll_category: periods(&self.poll_category, self.categories.len()),
            days_to_event,
            days_since_event,
        }
    }
}
