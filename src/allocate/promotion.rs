//! A promotion as the data contract's `promotions` table holds it: its window, its discount
//! and its scope (every scope column that is set must match; none set = everything).

use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    pub promo_id: String,
    pub name: String,
    pub start_date: NaiveDate,
    /// Last day of the promotion (inclusive).
    pub end_date: NaiveDate,
    pub discount_pct: f64,
    pub sku: Option<String>,
    pub category: Option<String>,
    pub warehouse: Option<String>,
}

impl Promotion {
    pub fn days(&self) -> i64 {
        (self.end_date - self.start_date).num_days() + 1
    }

    /// The promotion's scope in words: "all SKUs", "category sofas", "SKU-0001 in WH-02".
    pub fn scope(&self) -> String {
        let mut parts = Vec::new();
        match (&self.sku, &self.category) {
            (Some(sku), _) => parts.push(format!("SKU {sku}")),
            (None, Some(category)) => parts.push(format!("category {category}")),
            (None, None) => parts.push("all SKUs".to_string()),
        }
        if let Some(warehouse) = &self.warehouse {
            parts.push(format!("in {warehouse}"));
        }
        parts.join(" ")
    }

    pub fn covers(&self, sku: &str, category: &str, warehouse: &str) -> bool {
        self.sku.as_deref().is_none_or(|s| s == sku)
            && self.category.as_deref().is_none_or(|c| c == category)
            && self.warehouse.as_deref().is_none_or(|w| w == warehouse)
    }

    /// Whether the promotion's product scope takes in `sku`: a SKU scope names the product
    /// itself, so the category is only consulted when no SKU is named.
    pub fn covers_product(&self, sku: &str, category: &str) -> bool {
        match (&self.sku, &self.category) {
            (Some(scope), _) => scope == sku,
            (None, Some(scope)) => scope == category,
            (None, None) => true,
        }
    }
}
