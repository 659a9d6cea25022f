//! Economic assumptions where the data contract has no column, and the defaults for columns
//! the catalogue may leave empty.

/// Regular price of a SKU whose catalogue row has none: the allocation's margins and the
/// stock-out report's margin at risk both value its units at this.
pub const DEFAULT_UNIT_PRICE: f64 = 100.0;

/// Share of the promotional price kept as margin unless told otherwise (`allocate
/// --margin-rate`, `report --margin-rate`).
pub const DEFAULT_MARGIN_RATE: f64 = 0.4;

/// A SKU's regular price: the catalogue's, else [`DEFAULT_UNIT_PRICE`].
pub fn regular_price(unit_price: Option<f64>) -> f64 {
    unit_price.unwrap_or(DEFAULT_UNIT_PRICE)
}

/// The margin of one unit sold `discount_pct` percent off its regular `price`, keeping
/// `margin_rate` of the promotional price: what the allocation plans with and what the
/// stock-out report puts at risk.
pub fn promotional_unit_margin(price: f64, discount_pct: f64, margin_rate: f64) -> f64 {
    price * (1.0 - discount_pct / 100.0) * margin_rate
}

/// Economic assumptions where the data contract has no column; each is a CLI option.
#[derive(Debug, Clone)]
pub struct Economics {
    /// Share of the promotional price kept as margin.
    pub margin_rate: f64,
    /// Cost of holding one unit through the window, as a share of its regular price.
    pub holding_rate: f64,
    /// Per-unit transfer cost inside a region and between regions.
    pub transfer_same_region: f64,
    pub transfer_cross_region: f64,
    /// Warehouses served first when stock is short (tier 1); the rest are tier 2.
    pub flagships: Vec<String>,
}

impl Default for Economics {
    fn default() -> Self {
        Economics {
            margin_rate: DEFAULT_MARGIN_RATE,
            holding_rate: 0.01,
            transfer_same_region: 1.0,
            transfer_cross_region: 4.0,
            flagships: Vec::new(),
        }
    }
}
