//! The panel: dense series over a fixed period grid, built from typed input frames. A series
//! is one SKU × warehouse cell; SKU totals are kept beside the cells for pooling. Everything
//! the feature builder, the baselines and the backtest read is here, so they are plain array
//! lookups with no IO.

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

/// A promotion scoped to one warehouse: it acts on that cell only. Periods are indices into
/// the panel's grid; `start` may lie before period 0 when the promotion began earlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellPromotion {
    pub sku: u32,
    pub warehouse: u32,
    /// First and last period covered inside the grid (inclusive).
    pub first: u32,
    pub last: u32,
    /// The period the promotion started in (before the grid when negative).
    pub start: i64,
    /// The period it ends in (may lie past the grid's end).
    pub end: i64,
    /// Discount as a fraction (0 = a promotion without a price cut, such as a feature ad).
    pub discount: f32,
    /// Bit k set when the promotion's name holds word k of the panel's vocabulary.
    pub words: u32,
}

/// One dated occurrence of a named event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventDay {
    /// Days since 1970-01-01.
    pub day: i32,
    /// Index into [`Panel::event_names`].
    pub event: usize,
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
    /// `[sku][warehouse][period]` (history only): that warehouse was out of stock of the SKU.
    pub cell_censored: Vec<bool>,
    /// `[sku]`: first period with sales, or `None` for a SKU never sold (a new SKU).
    pub active_from: Vec<Option<usize>>,
    /// `[sku][warehouse]`: first period the cell sold, or `None` for a cell without history.
    pub cell_active_from: Vec<Option<usize>>,
    /// `[sku][period]` over total_len: discount of the promotion covering the SKU in every
    /// warehouse, as a fraction (0 = none or a promotion without a price cut).
    pub discount: Vec<f32>,
    /// `[sku][period]` over total_len: periods since that promotion started, from 1; 0 = none.
    pub promo_period: Vec<u16>,
    /// `[sku][period]` over total_len: that promotion's length in periods; 0 = none.
    pub promo_length: Vec<u16>,
    /// `[sku][period]` over total_len: vocabulary words in that promotion's name.
    pub promo_words: Vec<u32>,
    /// Promotions scoped to a single warehouse.
    pub cell_promotions: Vec<CellPromotion>,
    /// Words that recur in promotion names (a mechanic such as "feature ad" or "clearance").
    pub promo_vocabulary: Vec<String>,
    /// `[sku][period]`: poll responses, sum of interest, intent answers, intent yes.
    pub poll_sku: Vec<[f32; 4]>,
    /// `[category][period]`: the same for responses naming a category (or a SKU in it).
    pub poll_category: Vec<[f32; 4]>,
    /// Named events over the grid and a season either side, sorted by day.
    pub events: Vec<EventDay>,
    pub event_names: Vec<String>,
}

impl Panel {
    pub fn sku_count(&self) -> usize {
        self.skus.len()
    }

    pub fn warehouse_count(&self) -> usize {
        self.warehouses.len()
    }

    pub fn cell_count(&self) -> usize {
        self.skus.len() * self.warehouses.len()
    }

    pub fn date_of(&self, period: usize) -> NaiveDate {
        self.start + chrono::Duration::days(period as i64 * period_days(self.freq))
    }

    /// Days since 1970-01-01 of the first day of `period`.
    pub fn day_of(&self, period: usize) -> i32 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        ((self.start - epoch).num_days() + period as i64 * period_days(self.freq)) as i32
    }

    /// The period holding `day` (days since 1970); negative before period 0.
    pub fn period_of_day(&self, day: i32) -> i64 {
        i64::from(day - self.day_of(0)).div_euclid(period_days(self.freq))
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
    pub fn is_cell_censored(&self, sku: usize, warehouse: usize, period: usize) -> bool {
        self.cell_censored[(sku * self.warehouses.len() + warehouse) * self.history_len + period]
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

    /// Whether `period` counts as observed demand for one cell: the cell had started selling
    /// and the warehouse had stock.
    #[inline]
    pub fn cell_observed(&self, sku: usize, warehouse: usize, period: usize) -> bool {
        match self.cell_active_from[sku * self.warehouses.len() + warehouse] {
            Some(first) => period >= first && !self.is_cell_censored(sku, warehouse, period),
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
        let history_rows = |values: &[f32], rows: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(rows * origin_len);
            for row in 0..rows {
                let begin = row * self.history_len;
                out.extend_from_slice(&values[begin..begin + origin_len]);
            }
            out
        };
        let history_flags = |values: &[bool], rows: usize| -> Vec<bool> {
            let mut out = Vec::with_capacity(rows * origin_len);
            for row in 0..rows {
                let begin = row * self.history_len;
                out.extend_from_slice(&values[begin..begin + origin_len]);
            }
            out
        };
        fn future<T: Copy + Default>(
            values: &[T],
            rows: usize,
            from_len: usize,
            to_len: usize,
        ) -> Vec<T> {
            let mut out = vec![T::default(); rows * to_len];
            let keep = to_len.min(from_len);
            for row in 0..rows {
                out[row * to_len..row * to_len + keep]
                    .copy_from_slice(&values[row * from_len..row * from_len + keep]);
            }
            out
        }
        let periods = |values: &Vec<[f32; 4]>, rows: usize| -> Vec<[f32; 4]> {
            let mut out = Vec::with_capacity(rows * origin_len);
            for row in 0..rows {
                out.extend_from_slice(
                    &values[row * self.history_len..row * self.history_len + origin_len],
                );
            }
            out
        };
        let active_before = |first: &Option<usize>| first.filter(|first| *first < origin_len);
        let cell_promotions = self
            .cell_promotions
            .iter()
            .filter(|promotion| (promotion.first as usize) < total_len)
            .map(|promotion| CellPromotion {
                last: promotion.last.min(total_len as u32 - 1),
                ..*promotion
            })
            .collect();
        Panel {
            freq: self.freq,
            start: self.start,
            history_len: origin_len,
            total_len,
            skus: self.skus.clone(),
            sku_category: self.sku_category.clone(),
            categories: self.categories.clone(),
            warehouses: self.warehouses.clone(),
            units: history_rows(&self.units, sku_count),
            cell_units: history_rows(&self.cell_units, sku_count * warehouse_count),
            censored: history_flags(&self.censored, sku_count),
            cell_censored: history_flags(&self.cell_censored, sku_count * warehouse_count),
            active_from: self.active_from.iter().map(active_before).collect(),
            cell_active_from: self.cell_active_from.iter().map(active_before).collect(),
            discount: future(&self.discount, sku_count, self.total_len, total_len),
            promo_period: future(&self.promo_period, sku_count, self.total_len, total_len),
            promo_length: future(&self.promo_length, sku_count, self.total_len, total_len),
            promo_words: future(&self.promo_words, sku_count, self.total_len, total_len),
            cell_promotions,
            promo_vocabulary: self.promo_vocabulary.clone(),
            poll_sku: periods(&self.poll_sku, sku_count),
            poll_category: periods(&self.poll_category, self.categories.len()),
            events: self.events.clone(),
            event_names: self.event_names.clone(),
        }
    }
}
