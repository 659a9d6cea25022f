//! One series seen on its own: a SKU × warehouse cell's observed history (running sums over
//! the periods that count as demand) and its promotions resolved per period, whether they
//! were scoped to the SKU everywhere or to this warehouse. Plus the few cross-series
//! aggregates a cell's features compare itself with (how many stores run the same promotion,
//! what competing SKUs in the warehouse are doing). Pure.

use super::panel::Panel;

/// The promotion state of one period of one cell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PromoState {
    pub active: bool,
    /// Fraction off the regular price (may be NaN when the input was bad: rows that read it
    /// are left out rather than learned from).
    pub discount: f32,
    /// First and last period of the promotion (the start may be before the grid).
    pub start: i64,
    pub end: i64,
    /// Vocabulary words of the promotions' names.
    pub words: u32,
}

impl PromoState {
    /// Periods since the promotion started, from 1.
    pub fn position(&self, period: usize) -> i64 {
        period as i64 - self.start + 1
    }

    pub fn length(&self) -> i64 {
        (self.end - self.start + 1).max(1)
    }
}

/// The promotions acting on one cell, per period over the panel's whole grid.
pub fn cell_promotions(panel: &Panel, sku: usize, warehouse: usize, out: &mut Vec<PromoState>) {
    out.clear();
    let base = sku * panel.total_len;
    for period in 0..panel.total_len {
        let position = panel.promo_period[base + period];
        let discount = panel.discount[base + period];
        // A discount without a promotion can only be bad input (a NaN that slipped past
        // validation): it is kept, so the rows reading it are left out.
        out.push(if position > 0 || discount != 0.0 {
            let start = period as i64 + 1 - i64::from(position.max(1));
            PromoState {
                active: true,
                discount,
                start,
                end: start + i64::from(panel.promo_length[base + period].max(1)) - 1,
                words: panel.promo_words[base + period],
            }
        } else {
            PromoState::default()
        });
    }
    let key = (sku as u32, warehouse as u32);
    let begin = panel
        .cell_promotions
        .partition_point(|promotion| (promotion.sku, promotion.warehouse) < key);
    for promotion in panel.cell_promotions[begin..]
        .iter()
        .take_while(|promotion| (promotion.sku, promotion.warehouse) == key)
    {
        let last = (promotion.last as usize).min(panel.total_len - 1);
        let first = (promotion.first as usize).min(last + 1);
        for state in &mut out[first..=last] {
            state.words |= promotion.words;
            if !state.active || promotion.discount > state.discount {
                state.active = true;
                state.discount = promotion.discount;
                state.start = promotion.start;
                state.end = promotion.end;
            }
        }
    }
}

/// A cell's history as running sums over its observed periods (active and in stock), split
/// into all periods and regular (non-promotion) periods, so any window mean is two lookups.
pub struct CellHistory {
    pub sku: usize,
    pub warehouse: usize,
    pub category: usize,
    /// First observed period, `None` for a cell that never sold.
    pub first: Option<usize>,
    pub history_len: usize,
    pub observed: Vec<bool>,
    pub units: Vec<f32>,
    cum_units: Vec<f64>,
    cum_observed: Vec<u32>,
    cum_regular_units: Vec<f64>,
    cum_regular: Vec<u32>,
    cum_promoted: Vec<u32>,
}

impl CellHistory {
    pub fn new(panel: &Panel, sku: usize, warehouse: usize, promos: &[PromoState]) -> CellHistory {
        let len = panel.history_len;
        let row = (sku * panel.warehouse_count() + warehouse) * len;
        let units = panel.cell_units[row..row + len].to_vec();
        let observed: Vec<bool> = (0..len)
            .map(|period| panel.cell_observed(sku, warehouse, period))
            .collect();
        let mut history = CellHistory {
            sku,
            warehouse,
            category: panel.sku_category[sku],
            first: panel.cell_active_from[sku * panel.warehouse_count() + warehouse],
            history_len: len,
            observed,
            units,
            cum_units: vec![0.0; len + 1],
            cum_observed: vec![0; len + 1],
            cum_regular_units: vec![0.0; len + 1],
            cum_regular: vec![0; len + 1],
            cum_promoted: vec![0; len + 1],
        };
        for (period, promo) in promos.iter().enumerate().take(len) {
            let seen = history.observed[period];
            let value = if seen {
                f64::from(history.units[period])
            } else {
                0.0
            };
            let promoted = promo.active;
            let regular = seen && !promoted;
            history.cum_units[period + 1] = history.cum_units[period] + value;
            history.cum_observed[period + 1] = history.cum_observed[period] + u32::from(seen);
            history.cum_regular_units[period + 1] =
                history.cum_regular_units[period] + if regular { value } else { 0.0 };
            history.cum_regular[period + 1] = history.cum_regular[period] + u32::from(regular);
            history.cum_promoted[period + 1] =
                history.cum_promoted[period] + u32::from(seen && promoted);
        }
        history
    }

    /// Observed periods before `end`.
    pub fn age(&self, end: usize) -> u32 {
        self.cum_observed[end.min(self.history_len)]
    }

    /// Mean units per observed period over `[begin, end)`, with the count observed.
    pub fn window_mean(&self, begin: usize, end: usize) -> (f64, u32) {
        let end = end.min(self.history_len);
        let begin = begin.min(end);
        let count = self.cum_observed[end] - self.cum_observed[begin];
        let total = self.cum_units[end] - self.cum_units[begin];
        (
            if count == 0 {
                0.0
            } else {
                total / f64::from(count)
            },
            count,
        )
    }

    /// Share of observed periods in `[begin, end)` that were promoted.
    pub fn promoted_share(&self, begin: usize, end: usize) -> f64 {
        let end = end.min(self.history_len);
        let begin = begin.min(end);
        let count = self.cum_observed[end] - self.cum_observed[begin];
        if count == 0 {
            return 0.0;
        }
        f64::from(self.cum_promoted[end] - self.cum_promoted[begin]) / f64::from(count)
    }

    /// The latest `begin` such that `[begin, end)` holds `wanted` counted periods, looking
    /// back at most `max_lookback` periods: a stock-out spell is skipped over rather than
    /// shrinking the window, so the level is last month's demand, not last month's sales.
    fn begin_for(counts: &[u32], end: usize, wanted: usize, max_lookback: usize) -> usize {
        let earliest = end.saturating_sub(max_lookback.max(wanted));
        let wanted = wanted as u32;
        if counts[end] - counts[earliest] < wanted {
            return earliest;
        }
        let (mut low, mut high) = (earliest, end.saturating_sub(wanted as usize).max(earliest));
        while low < high {
            let middle = (low + high).div_ceil(2);
            if counts[end] - counts[middle] >= wanted {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        low
    }

    /// Mean over the last `periods` observed periods before `end` (within `max_lookback`).
    pub fn recent_mean(&self, end: usize, periods: usize, max_lookback: usize) -> (f64, u32) {
        let end = end.min(self.history_len);
        let begin = Self::begin_for(&self.cum_observed, end, periods, max_lookback);
        self.window_mean(begin, end)
    }

    /// Mean over the last `periods` observed regular (non-promotion) periods before `end`.
    pub fn recent_regular_mean(
        &self,
        end: usize,
        periods: usize,
        max_lookback: usize,
    ) -> (f64, u32) {
        let end = end.min(self.history_len);
        let begin = Self::begin_for(&self.cum_regular, end, periods, max_lookback);
        let count = self.cum_regular[end] - self.cum_regular[begin];
        let total = self.cum_regular_units[end] - self.cum_regular_units[begin];
        (
            if count == 0 {
                0.0
            } else {
                total / f64::from(count)
            },
            count,
        )
    }

    /// Units of the last `periods` observed periods before `end` (within `max_lookback`)
    /// that pass `keep`, most recent first.
    pub fn recent_values(
        &self,
        end: usize,
        periods: usize,
        max_lookback: usize,
        mut keep: impl FnMut(usize) -> bool,
        out: &mut Vec<f64>,
    ) {
        out.clear();
        let end = end.min(self.history_len);
        let earliest = end.saturating_sub(max_lookback);
        for period in (earliest..end).rev() {
            if out.len() >= periods {
                break;
            }
            if self.observed[period] && keep(period) {
                out.push(f64::from(self.units[period]));
            }
        }
    }
}

/// The median of `values` (reordered); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let middle = values.len() / 2;
    values.select_nth_unstable_by(middle, f64::total_cmp);
    let upper = values[middle];
    if values.len() % 2 == 1 {
        return Some(upper);
    }
    let lower = values[..middle]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// Per period over the grid: what other series are doing with promotions. A store's own
/// promotion sells more when the whole chain runs it (the flyer), and less when a competing
/// SKU in the same warehouse is cut deeper.
pub struct PromotionContext {
    total_len: usize,
    /// `[sku][period]`: share of the SKU's warehouses on promotion, share starting one, and
    /// their mean discount.
    sku_breadth: Vec<[f32; 3]>,
    /// `[category × warehouse][period]`: cells on promotion, their discounts summed.
    group_promoted: Vec<[f32; 2]>,
    group_cells: Vec<u32>,
    /// `[warehouse][period]`: cells on promotion, discounts summed, the two deepest discounts.
    warehouse_promoted: Vec<[f32; 4]>,
    warehouse_cells: Vec<u32>,
    warehouses: usize,
}

/// A cell's view of the others at one period.
#[derive(Debug, Clone, Copy, Default)]
pub struct Competition {
    pub sku_breadth: f64,
    pub sku_start_breadth: f64,
    pub sku_mean_discount: f64,
    pub category_promoted: f64,
    pub category_discount: f64,
    pub warehouse_promoted: f64,
    pub warehouse_discount: f64,
    pub deepest_other_discount: f64,
}

impl PromotionContext {
    pub fn new(panel: &Panel) -> PromotionContext {
        let total_len = panel.total_len;
        let warehouses = panel.warehouse_count();
        let groups = panel.categories.len() * warehouses;
        let mut context = PromotionContext {
            total_len,
            sku_breadth: vec![[0.0; 3]; panel.sku_count() * total_len],
            group_promoted: vec![[0.0; 2]; groups * total_len],
            group_cells: vec![0; groups],
            warehouse_promoted: vec![[0.0; 4]; warehouses * total_len],
            warehouse_cells: vec![0; warehouses],
            warehouses,
        };
        let mut promos = Vec::with_capacity(total_len);
        for sku in 0..panel.sku_count() {
            let group_base = panel.sku_category[sku] * warehouses;
            for warehouse in 0..warehouses {
                cell_promotions(panel, sku, warehouse, &mut promos);
                context.group_cells[group_base + warehouse] += 1;
                context.warehouse_cells[warehouse] += 1;
                for (period, state) in promos.iter().enumerate() {
                    if !state.active {
                        continue;
                    }
                    let discount = if state.discount.is_finite() {
                        state.discount
                    } else {
                        0.0
                    };
                    let breadth = &mut context.sku_breadth[sku * total_len + period];
                    breadth[0] += 1.0;
                    breadth[1] += if state.start == period as i64 {
                        1.0
                    } else {
                        0.0
                    };
                    breadth[2] += discount;
                    let group =
                        &mut context.group_promoted[(group_base + warehouse) * total_len + period];
                    group[0] += 1.0;
                    group[1] += discount;
                    let cell = &mut context.warehouse_promoted[warehouse * total_len + period];
                    cell[0] += 1.0;
                    cell[1] += discount;
                    if discount > cell[2] {
                        cell[3] = cell[2];
                        cell[2] = discount;
                    } else if discount > cell[3] {
                        cell[3] = discount;
                    }
                }
            }
        }
        let per_cell = 1.0 / warehouses.max(1) as f32;
        for breadth in &mut context.sku_breadth {
            breadth[0] *= per_cell;
            breadth[1] *= per_cell;
            breadth[2] *= per_cell;
        }
        context
    }

    /// What the other series do at `period`, seen from `cell` in its own state `own`.
    pub fn competition(&self, cell: &CellHistory, period: usize, own: &PromoState) -> Competition {
        debug_assert!(period < self.total_len);
        let (promoted, discount) = if own.active {
            (1.0, f64::from(own.discount).clamp(0.0, 0.95))
        } else {
            (0.0, 0.0)
        };
        let breadth = self.sku_breadth[cell.sku * self.total_len + period];
        let group = cell.category * self.warehouses + cell.warehouse;
        let group_row = self.group_promoted[group * self.total_len + period];
        let group_others = f64::from(self.group_cells[group]) - 1.0;
        let warehouse_row = self.warehouse_promoted[cell.warehouse * self.total_len + period];
        let warehouse_others = f64::from(self.warehouse_cells[cell.warehouse]) - 1.0;
        let share = |count: f32, own: f64, others: f64| {
            if others > 0.0 {
                ((f64::from(count) - own) / others).max(0.0)
            } else {
                0.0
            }
        };
        // The deepest discount among the others: the second deepest when this cell holds
        // the deepest.
        let deepest = f64::from(warehouse_row[2]);
        let deepest_other = if promoted > 0.0 && (deepest - discount).abs() < 1e-6 {
            f64::from(warehouse_row[3])
        } else {
            deepest
        };
        Competition {
            sku_breadth: f64::from(breadth[0]),
            sku_start_breadth: f64::from(breadth[1]),
            sku_mean_discount: f64::from(breadth[2]),
            category_promoted: share(group_row[0], promoted, group_others),
            category_discount: share(group_row[1], discount, group_others),
            warehouse_promoted: share(warehouse_row[0], promoted, warehouse_others),
            warehouse_discount: share(warehouse_row[1], discount, warehouse_others),
            deepest_other_discount: deepest_other,
        }
    }
}

/// Per category and period: units per observed cell, the category's shape through the year
/// when its own series are short.
pub struct CategoryHistory {
    history_len: usize,
    units: Vec<f64>,
    observed: Vec<u32>,
}

impl CategoryHistory {
    pub fn new(panel: &Panel) -> CategoryHistory {
        let len = panel.history_len;
        let mut history = CategoryHistory {
            history_len: len,
            units: vec![0.0; panel.categories.len() * len],
            observed: vec![0; panel.categories.len() * len],
        };
        for sku in 0..panel.sku_count() {
            let base = panel.sku_category[sku] * len;
            for warehouse in 0..panel.warehouse_count() {
                for period in 0..len {
                    if panel.cell_observed(sku, warehouse, period) {
                        history.units[base + period] +=
                            f64::from(panel.cell(sku, warehouse, period));
                        history.observed[base + period] += 1;
                    }
                }
            }
        }
        history
    }

    /// Mean units per observed cell over `[begin, end)`.
    pub fn mean(&self, category: usize, begin: usize, end: usize) -> Option<f64> {
        let end = end.min(self.history_len);
        if begin >= end {
            return None;
        }
        let base = category * self.history_len;
        let units: f64 = self.units[base + begin..base + end].iter().sum();
        let count: u32 = self.observed[base + begin..base + end].iter().sum();
        (count > 0).then(|| units / f64::from(count))
    }
}
