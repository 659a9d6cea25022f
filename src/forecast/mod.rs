//! The forecasting engine: typed inputs → panel of SKU × warehouse series → pooled linfa
//! models and simple baselines, chosen per category on held-out origins → quantile forecasts
//! per SKU × warehouse × period, with rolling-origin backtests and a registry of fitted
//! models.
//!
//! `dataset` (reading a folder or the store), `registry`/`output` (writing artifacts, files
//! and tables) and `pipeline` are the edges; `build_panel`, `cell`, `events`, `features`,
//! `baselines`, `model`, `boosted`, `selection`, `engine`, `quantiles`, `metrics`, `evaluation` and
//! `backtest` are pure.

pub mod backtest;
pub mod baselines;
pub mod boosted;
pub mod build_panel;
pub mod cell;
pub mod dataset;
pub mod engine;
mod error;
pub mod evaluation;
pub mod events;
pub mod features;
pub mod metrics;
pub mod model;
pub mod output;
pub mod panel;
pub mod pipeline;
pub mod quantiles;
pub mod registry;
pub mod selection;

pub use error::ForecastError;

/// Parses `0.1,0.5,0.9` into sorted distinct levels, each strictly between 0 and 1.
pub fn parse_quantiles(text: &str) -> Result<Vec<f64>, ForecastError> {
    let mut levels = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let level: f64 = part.parse().map_err(|_| {
            ForecastError::InvalidSetting(format!("--quantiles: '{part}' is not a number"))
        })?;
        if !(level > 0.0 && level < 1.0) {
            return Err(ForecastError::InvalidSetting(format!(
                "--quantiles: {level} is not strictly between 0 and 1"
            )));
        }
        levels.push(level);
    }
    if levels.is_empty() {
        return Err(ForecastError::InvalidSetting(
            "--quantiles: give at least one level".to_string(),
        ));
    }
    levels.sort_by(f64::total_cmp);
    levels.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    Ok(levels)
}

/// Column name of a quantile level: 0.1 → p10, 0.025 → p2.5.
pub fn quantile_column(level: f64) -> String {
    let percent = (level * 1000.0).round() / 10.0;
    if percent.fract() == 0.0 {
        format!("p{}", percent as i64)
    } else {
        format!("p{percent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_levels_parse_and_name() {
        assert_eq!(
            parse_quantiles("0.9, 0.1,0.5,0.5").unwrap(),
            vec![0.1, 0.5, 0.9]
        );
        assert!(parse_quantiles("0.1,1.5").is_err());
        assert!(parse_quantiles("x").is_err());
        assert_eq!(quantile_column(0.1), "p10");
        assert_eq!(quantile_column(0.025), "p2.5");
    }
}
