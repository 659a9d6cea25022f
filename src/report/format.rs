//! Numbers for people: thousands separators, units, a fixed number of decimals per kind.

use super::view::Value;

/// `1234567.891` with 1 decimal → `1,234,567.9`; negative numbers keep their sign.
pub fn grouped(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "–".to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole.to_string(), Some(fraction.to_string())),
        None => (text, None),
    };
    let mut out = String::with_capacity(whole.len() + whole.len() / 3 + 4);
    for (index, ch) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(&fraction);
    }
    // "-0" and "-0.0" read as noise.
    let is_zero = out.chars().all(|c| c == '0' || c == '.' || c == ',');
    if value < 0.0 && !is_zero {
        format!("-{out}")
    } else {
        out
    }
}

/// Units: whole numbers from 100 up, one decimal below (forecasts are fractional).
pub fn units(value: f64) -> String {
    if value.abs() >= 100.0 {
        grouped(value, 0)
    } else {
        grouped(value, 1)
    }
}

/// A cell as a person reads it: separators and units.
pub fn display(value: &Value) -> String {
    match value {
        Value::Text(text) => text.clone(),
        Value::Date(date) => date.to_string(),
        Value::Count(count) => grouped(*count as f64, 0),
        Value::Units(amount) => units(*amount),
        Value::Money(amount) => {
            if *amount < 0.0 {
                format!("-${}", grouped(-amount, 0))
            } else {
                format!("${}", grouped(*amount, 0))
            }
        }
        Value::Share(share) => format!("{}%", grouped(share * 100.0, 1)),
        Value::Change(change) => {
            let text = grouped(change * 100.0, 1);
            if text.starts_with('-') || text == "0.0" {
                format!("{text}%")
            } else {
                format!("+{text}%")
            }
        }
        Value::Multiplier(factor) => format!("×{factor:.2}"),
        Value::Seconds(seconds) => {
            if *seconds >= 120.0 {
                format!("{} min", grouped(seconds / 60.0, 1))
            } else {
                format!("{} s", grouped(*seconds, 1))
            }
        }
        Value::Missing => "–".to_string(),
        Value::SmallBase => "n/a (small base)".to_string(),
    }
}

/// A cell for a machine: plain numbers (no separators, shares as fractions), empty if missing.
pub fn raw(value: &Value) -> String {
    let number = |value: f64, decimals: usize| {
        let text = format!("{value:.decimals$}");
        if text.starts_with("-0")
            && text
                .trim_start_matches('-')
                .chars()
                .all(|c| c == '0' || c == '.')
        {
            text.trim_start_matches('-').to_string()
        } else {
            text
        }
    };
    match value {
        Value::Text(text) => text.clone(),
        Value::Date(date) => date.to_string(),
        Value::Count(count) => count.to_string(),
        Value::Units(amount) => number(*amount, 3),
        Value::Money(amount) => number(*amount, 2),
        Value::Share(share) | Value::Change(share) => number(*share, 4),
        Value::Multiplier(factor) => number(*factor, 4),
        Value::Seconds(seconds) => number(*seconds, 3),
        Value::Missing => String::new(),
        Value::SmallBase => "n/a".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators_and_units() {
        assert_eq!(grouped(1_234_567.891, 1), "1,234,567.9");
        assert_eq!(grouped(-1234.0, 0), "-1,234");
        assert_eq!(grouped(-0.01, 1), "0.0");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(units(12.345), "12.3");
        assert_eq!(units(12_345.6), "12,346");
        assert_eq!(display(&Value::Money(1_234_567.4)), "$1,234,567");
        assert_eq!(display(&Value::Share(0.1234)), "12.3%");
        assert_eq!(display(&Value::Change(0.5)), "+50.0%");
        assert_eq!(display(&Value::Change(-0.25)), "-25.0%");
        assert_eq!(display(&Value::Multiplier(1.456)), "×1.46");
        assert_eq!(display(&Value::Seconds(754.0)), "12.6 min");
        assert_eq!(raw(&Value::Share(0.1234)), "0.1234");
        assert_eq!(raw(&Value::Missing), "");
        assert_eq!(display(&Value::SmallBase), "n/a (small base)");
    }
}
