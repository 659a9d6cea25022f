//! SQL text with numbered, bound parameters built up from optional filters, so every filter
//! runs inside the database (and its indexes) instead of over rows already fetched.

use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Date(NaiveDate),
    Int(i64),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    /// Narrows rows aliased `alias` (with `sku` and `warehouse` columns) to a SKU, a category
    /// and a warehouse, each only when given: the one place report filters and promotion
    /// scopes become SQL.
    /// Adds `promotion`'s scope to a query over rows aliased `alias` with a `sku` and a
    /// `warehouse` column.
    pub fn restrict_to_promotion(&mut self, promotion: &crate::allocate::Promotion, alias: &str) {
        self.restrict_scope(
            alias,
            promotion.sku.as_deref(),
            promotion.category.as_deref(),
            promotion.warehouse.as_deref(),
        );
    }

    pub fn restrict_scope(
        &mut self,
        alias: &str,
        sku: Option<&str>,
        category: Option<&str>,
        warehouse: Option<&str>,
    ) {
        if let Some(sku) = sku {
            self.clause(
                &format!(" AND {alias}.sku = ?"),
                vec![Bind::Text(sku.to_string())],
            );
        }
        if let Some(category) = category {
            self.clause(
                &format!(" AND {alias}.sku IN (SELECT sku FROM products WHERE category = ?)"),
                vec![Bind::Text(category.to_string())],
            );
        }
        if let Some(warehouse) = warehouse {
            self.clause(
                &format!(" AND {alias}.warehouse = ?"),
                vec![Bind::Text(warehouse.to_string())],
            );
        }
    }

    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            binds: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Adds a parameter and returns its placeholder (`$n`).
    pub fn param(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// Appends `text` with every `?` replaced by the next of `values`' placeholders.
    pub fn clause(&mut self, text: &str, values: Vec<Bind>) -> &mut Sql {
        let mut values = values.into_iter();
        let mut out = String::with_capacity(text.len() + 8);
        for ch in text.chars() {
            if ch == '?' {
                let value = values.next().expect("a value for every ?");
                out.push_str(&self.param(value));
            } else {
                out.push(ch);
            }
        }
        assert!(values.next().is_none(), "more values than ? in {text}");
        self.text.push_str(&out);
        self
    }
}

/// Runs an [`Sql`] on either backend and decodes each row into the tuple type given.
#[macro_export]
macro_rules! report_fetch {
    ($store:expr, $sql:expr, $row:ty) => {{
        let sql: &$crate::report::query::Sql = &$sql;
        $crate::on_backend!($store, pool => {
            let mut query = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql.text.clone()));
            for bind in &sql.binds {
                query = match bind {
                    $crate::report::query::Bind::Text(value) => query.bind(value.clone()),
                    $crate::report::query::Bind::Date(value) => query.bind(*value),
                    $crate::report::query::Bind::Int(value) => query.bind(*value),
                    $crate::report::query::Bind::Time(value) => query.bind(*value),
                };
            }
            query.fetch_all(pool).await?
        })
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT 1 FROM t WHERE a = ");
        let first = sql.param(Bind::Int(1));
        sql.push(&first);
        sql.clause(
            " AND b = ? AND c IN (?, ?)",
            vec![Bind::Text("x".into()), Bind::Int(2), Bind::Int(3)],
        );
        assert_eq!(
            sql.text,
            "SELECT 1 FROM t WHERE a = $1 AND b = $2 AND c IN ($3, $4)"
        );
        assert_eq!(sql.binds.len(), 4);
    }
}
