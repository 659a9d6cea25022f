//! The smallest base a growth or lift figure is computed against. Below it a ratio says more
//! about noise than about the promotion ("+2,898.9%" on 2 units), so reports print
//! `n/a (small base)` instead ([`super::view::Value::SmallBase`]).

/// Units in the comparison base: last year's window (`report forecast`), the 28 days before
/// a past promotion (realised lift), the forecast without the promotion (model lift).
pub const MIN_BASE_UNITS: f64 = 20.0;

/// Whether `base_units` is too small to compare against.
pub fn is_small(base_units: f64) -> bool {
    base_units < MIN_BASE_UNITS
}

/// The note a report prints under a table that may hold small-base cells.
pub fn note() -> String {
    format!(
        "Growth and lift against a base of fewer than {MIN_BASE_UNITS:.0} units show \"n/a (small base)\"."
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_minimum_itself_is_big_enough() {
        assert!(super::is_small(19.9));
        assert!(!super::is_small(super::MIN_BASE_UNITS));
    }
}
