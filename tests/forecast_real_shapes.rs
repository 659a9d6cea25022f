//! The forecaster on small real-shaped fixtures (written here, not the shared data): store ×
//! SKU weekly sales with promotions, a moving holiday in weekly data, a fixed-date event on
//! a moving weekday in daily data, a series with one season of history, and intermittent,
//! gappy series. Each test asserts a behaviour that fails if the capability is missing.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use chrono::{Datelike, Duration, NaiveDate};
use stockcast::contract::Frequency;
use stockcast::forecast::baselines::seasonal_naive;
use stockcast::forecast::build_panel::build_panel;
use stockcast::forecast::dataset::Dataset;
use stockcast::forecast::engine::{fit_forecaster, predict, ForecastOutput, ForecastSettings};
use stockcast::forecast::panel::Panel;

/// A deterministic stream of uniforms in [0, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Poisson draw with mean `mean` (inversion; means here stay small enough).
    fn poisson(&mut self, mean: f64) -> u64 {
        if mean > 60.0 {
            // Normal approximation for large means.
            let (u, v) = (self.next().max(1e-12), self.next());
            let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
            return (mean + z * mean.sqrt()).round().max(0.0) as u64;
        }
        let (limit, mut product, mut count) = ((-mean).exp(), self.next(), 0);
        while product > limit {
            product *= self.next();
            count += 1;
        }
        count
    }
}

#[derive(Default)]
struct Fixture {
    products: Vec<(String, String)>,
    warehouses: Vec<String>,
    sales: String,
    promotions: String,
    events: String,
    stock_levels: String,
    promotion_count: usize,
}

impl Fixture {
    fn new(products: &[(&str, &str)], warehouses: &[&str]) -> Fixture {
        Fixture {
            products: products
                .iter()
                .map(|(s, c)| (s.to_string(), c.to_string()))
                .collect(),
            warehouses: warehouses.iter().map(|w| w.to_string()).collect(),
            sales: "date,sku,warehouse,units\n".into(),
            promotions: "promo_id,name,start_date,end_date,discount_pct,sku,warehouse\n".into(),
            events: "date,event\n".into(),
            stock_levels: "date,sku,warehouse,on_hand\n".into(),
            ..Fixture::default()
        }
    }

    fn sale(&mut self, date: NaiveDate, sku: &str, warehouse: &str, units: u64) {
        if units > 0 {
            writeln!(self.sales, "{date},{sku},{warehouse},{units}").unwrap();
        }
    }

    fn promotion(
        &mut self,
        name: &str,
        start: NaiveDate,
        end: NaiveDate,
        discount: f64,
        sku: &str,
        warehouse: &str,
    ) {
        self.promotion_count += 1;
        writeln!(
            self.promotions,
            "P{:05},{name},{start},{end},{discount:.1},{sku},{warehouse}",
            self.promotion_count
        )
        .unwrap();
    }

    fn event(&mut self, date: NaiveDate, name: &str) {
        writeln!(self.events, "{date},{name}").unwrap();
    }

    fn stock_out(&mut self, date: NaiveDate, sku: &str, warehouse: &str) {
        writeln!(self.stock_levels, "{date},{sku},{warehouse},0").unwrap();
    }

    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let mut products = String::from("sku,category\n");
        for (sku, category) in &self.products {
            writeln!(products, "{sku},{category}").unwrap();
        }
        let mut warehouses = String::from("warehouse,region\n");
        for warehouse in &self.warehouses {
            writeln!(warehouses, "{warehouse},north").unwrap();
        }
        std::fs::write(dir.join("products.csv"), products).unwrap();
        std::fs::write(dir.join("warehouses.csv"), warehouses).unwrap();
        std::fs::write(dir.join("sales.csv"), &self.sales).unwrap();
        if self.promotion_count > 0 {
            std::fs::write(dir.join("promotions.csv"), &self.promotions).unwrap();
        }
        if self.events.lines().count() > 1 {
            std::fs::write(dir.join("events.csv"), &self.events).unwrap();
        }
        if self.stock_levels.lines().count() > 1 {
            std::fs::write(dir.join("stock_levels.csv"), &self.stock_levels).unwrap();
        }
    }
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn fourth_thursday_of_november(year: i32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, 11, chrono::Weekday::Thu, 4).unwrap()
}

fn forecast(
    dir: &Path,
    freq: Frequency,
    as_of: NaiveDate,
    horizon: usize,
) -> (Panel, ForecastOutput) {
    let dataset = Dataset::from_dir(dir, freq).unwrap();
    let panel = build_panel(&dataset, freq, as_of, horizon).unwrap();
    let settings = ForecastSettings::new(freq, horizon);
    let forecaster = fit_forecaster(&panel, &settings);
    let output = predict(&panel, &forecaster, &settings);
    (panel, output)
}

/// The forecast summed over every cell, per horizon period.
fn totals_by_period(panel: &Panel, output: &ForecastOutput, horizon: usize) -> Vec<f64> {
    let mut totals = vec![0.0; horizon];
    for row in 0..output.len() {
        totals[output.period[row] as usize - panel.history_len] += output.mean[row];
    }
    totals
}

fn step_of(panel: &Panel, day: NaiveDate) -> usize {
    let per = match panel.freq {
        Frequency::Day => 1,
        Frequency::Week => 7,
    };
    ((day - panel.date_of(panel.history_len)).num_days() / per) as usize
}

#[test]
fn a_moving_holiday_is_learned_and_forecast_in_its_own_week_not_52_weeks_later() {
    // Weekly sales dated by Friday. Thanksgiving week sells 2.5×; Thanksgiving 2024
    // (28 Nov) is 53 weeks after Thanksgiving 2023 (23 Nov), so last year's peak, 52 weeks
    // back, points at the week before.
    let dir = tempfile::tempdir().unwrap();
    let skus = [("A1", "decor"), ("A2", "decor"), ("B1", "beds")];
    let stores = ["S1", "S2", "S3", "S4"];
    let mut fixture = Fixture::new(&skus, &stores);
    let mut noise = Noise(11);
    for year in 2021..=2024 {
        fixture.event(fourth_thursday_of_november(year), "Thanksgiving");
    }
    let mut week = date("2022-01-07");
    while week <= date("2024-10-25") {
        let thanksgiving = fourth_thursday_of_november(week.year());
        let lift = if thanksgiving >= week && thanksgiving < week + Duration::days(7) {
            2.5
        } else {
            1.0
        };
        for (sku, _) in &skus {
            for store in &stores {
                let units = noise.poisson(30.0 * lift);
                fixture.sale(week, sku, store, units);
            }
        }
        week += Duration::days(7);
    }
    fixture.write(dir.path());
    let (panel, output) = forecast(dir.path(), Frequency::Week, date("2024-10-25"), 8);
    let totals = totals_by_period(&panel, &output, 8);
    let peak = step_of(&panel, date("2024-11-22"));
    assert!(
        totals[peak] > 1.5 * totals[peak - 1] && totals[peak] > 1.5 * totals[peak + 1],
        "the Thanksgiving week is not the peak: {totals:?} (peak step {peak})"
    );
    // Seasonal naive, by contrast, peaks one week early.
    let naive: f64 = (0..panel.sku_count())
        .flat_map(|s| (0..panel.warehouse_count()).map(move |w| (s, w)))
        .map(|(s, w)| {
            seasonal_naive(
                &panel,
                s,
                w,
                panel.history_len,
                panel.history_len + peak - 1,
            )
        })
        .sum();
    assert!(
        naive > 1.5 * totals[peak - 1],
        "the fixture lost its point: {naive}"
    );
}

#[test]
fn a_fixed_date_event_on_a_moving_weekday_is_forecast_on_its_date() {
    // Daily sales with a weekend pattern; Boxing Day (26 Dec) sells 3×, on a Tuesday in
    // 2023, a Thursday in 2024 and a Friday in 2025.
    let dir = tempfile::tempdir().unwrap();
    let skus = [("C1", "candles"), ("C2", "candles")];
    let stores = ["S1", "S2", "S3"];
    let mut fixture = Fixture::new(&skus, &stores);
    let mut noise = Noise(5);
    for year in 2022..=2025 {
        fixture.event(NaiveDate::from_ymd_opt(year, 12, 26).unwrap(), "Boxing Day");
    }
    let mut day = date("2023-01-02");
    while day <= date("2025-12-10") {
        let weekend = matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        let event = day.month() == 12 && day.day() == 26;
        let mean = 6.0 * if weekend { 1.5 } else { 1.0 } * if event { 3.0 } else { 1.0 };
        for (sku, _) in &skus {
            for store in &stores {
                let units = noise.poisson(mean);
                fixture.sale(day, sku, store, units);
            }
        }
        day += Duration::days(1);
    }
    fixture.write(dir.path());
    let (panel, output) = forecast(dir.path(), Frequency::Day, date("2025-12-10"), 21);
    let totals = totals_by_period(&panel, &output, 21);
    let boxing_day = step_of(&panel, date("2025-12-26"));
    let week_before = step_of(&panel, date("2025-12-19"));
    assert!(
        totals[boxing_day] > 1.8 * totals[week_before],
        "Boxing Day (a Friday) is not above the Friday before: {} vs {}",
        totals[boxing_day],
        totals[week_before]
    );
}

/// Weekly store × SKU sales where price cuts lift demand 1.5–4× and the week after a cut
/// dips; returns the fixture's folder.
fn promotion_fixture(dir: &Path) -> NaiveDate {
    let skus = [
        ("J1", "juice"),
        ("J2", "juice"),
        ("J3", "juice"),
        ("M1", "milk"),
        ("M2", "milk"),
    ];
    let stores: Vec<String> = (1..=8).map(|s| format!("S{s}")).collect();
    let store_refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let mut fixture = Fixture::new(&skus, &store_refs);
    let mut noise = Noise(23);
    let first = date("2022-01-06");
    let weeks = 120;
    for (index, (sku, _)) in skus.iter().enumerate() {
        for store in &stores {
            let base = 20.0 + 8.0 * index as f64 + 3.0 * store[1..].parse::<f64>().unwrap();
            let mut week = 0;
            let mut previous_promoted = false;
            while week < weeks {
                let start = first + Duration::days(7 * week as i64);
                // A cut about every sixth week, one or two weeks long, up to the origin.
                if noise.next() < 0.16 && week < weeks - 13 {
                    let length = if noise.next() < 0.5 { 1 } else { 2 };
                    let discount = [10.0, 20.0, 30.0, 40.0][(noise.next() * 4.0) as usize];
                    let end = start + Duration::days(7 * length - 1);
                    fixture.promotion(
                        &format!("{sku} price cut at {store}"),
                        start,
                        end,
                        discount,
                        sku,
                        store,
                    );
                    for offset in 0..length {
                        if week + offset as usize >= weeks {
                            break;
                        }
                        let lift = (3.5 * discount / 100.0_f64).exp();
                        let day = start + Duration::days(7 * offset);
                        let units = noise.poisson(base * lift);
                        fixture.sale(day, sku, store, units);
                    }
                    week += length as usize;
                    previous_promoted = true;
                    continue;
                }
                let dip = if previous_promoted { 0.8 } else { 1.0 };
                let units = noise.poisson(base * dip);
                fixture.sale(start, sku, store, units);
                previous_promoted = false;
                week += 1;
            }
        }
    }
    // Known in advance: every store cuts J1 by 30% in the 3rd and 4th week after the origin
    // (the origin's week starts on `as_of`; the forecast's first week a week later).
    let as_of = first + Duration::days(7 * (weeks as i64 - 13));
    for store in &stores {
        let start = as_of + Duration::days(21);
        fixture.promotion(
            "J1 price cut",
            start,
            start + Duration::days(13),
            30.0,
            "J1",
            store,
        );
    }
    fixture.write(dir);
    as_of
}

#[test]
fn a_promotions_lift_lands_in_the_promoted_weeks_and_is_not_carried_into_regular_weeks() {
    let dir = tempfile::tempdir().unwrap();
    let as_of = promotion_fixture(dir.path());
    let (panel, output) = forecast(dir.path(), Frequency::Week, as_of, 12);
    let sku = panel.skus.iter().position(|s| s == "J1").unwrap() as u32;
    let mut by_step = vec![0.0; 12];
    for row in 0..output.len() {
        if output.sku[row] == sku {
            by_step[output.period[row] as usize - panel.history_len] += output.mean[row];
        }
    }
    let promoted = (by_step[2] + by_step[3]) / 2.0;
    let regular: f64 = by_step[6..].iter().sum::<f64>() / 6.0;
    assert!(
        promoted > 2.0 * regular,
        "the 30% cut does not lift J1: {by_step:?}"
    );
    // The regular weeks sit near J1's regular level (about 20 + 3·store, 8 stores: ~268),
    // not near a mean that carries past promotion spikes.
    let regular_level: f64 = (1..=8).map(|s| 20.0 + 3.0 * s as f64).sum();
    assert!(
        (regular / regular_level - 1.0).abs() < 0.2,
        "regular weeks {regular:.1} are not near the regular level {regular_level:.1}: {by_step:?}"
    );
}

#[test]
fn the_chosen_forecast_is_never_worse_than_seasonal_naive_on_the_held_out_origins() {
    let dir = tempfile::tempdir().unwrap();
    let as_of = promotion_fixture(dir.path());
    let dataset = Dataset::from_dir(dir.path(), Frequency::Week).unwrap();
    let panel = build_panel(&dataset, Frequency::Week, as_of, 12).unwrap();
    let forecaster = fit_forecaster(&panel, &ForecastSettings::new(Frequency::Week, 12));
    for fit in &forecaster.categories {
        let naive = fit
            .holdout
            .iter()
            .find(|score| score.candidate == "seasonal_naive")
            .and_then(|score| score.error(false))
            .unwrap();
        let chosen = fit.holdout.last().unwrap();
        assert!(chosen.candidate.starts_with("chosen"), "{:?}", fit.holdout);
        assert!(
            chosen.error(false).unwrap() <= naive + 1e-12,
            "{}: chosen {:?} is worse than seasonal naive {naive}",
            fit.category,
            chosen
        );
        assert!(
            fit.holdout
                .iter()
                .any(|score| score.candidate == "promotion_naive"),
            "the promotion-aware naive is not a candidate: {:?}",
            fit.holdout
        );
    }
}

#[test]
fn a_series_with_one_season_of_history_gets_the_yearly_shape() {
    // Weekly data where November and December sell twice as much. Four SKUs have three
    // years of history; NEW started 60 weeks before the origin.
    let dir = tempfile::tempdir().unwrap();
    let skus = [
        ("OLD1", "rugs"),
        ("OLD2", "rugs"),
        ("OLD3", "rugs"),
        ("OLD4", "rugs"),
        ("NEW", "rugs"),
    ];
    let stores = ["S1", "S2"];
    let mut fixture = Fixture::new(&skus, &stores);
    let mut noise = Noise(3);
    let as_of = date("2024-10-04");
    let new_start = as_of - Duration::days(7 * 60);
    let mut week = date("2021-10-01");
    while week <= as_of {
        let peak = if week.month() >= 11 { 2.0 } else { 1.0 };
        for (sku, _) in &skus {
            if *sku == "NEW" && week < new_start {
                continue;
            }
            for store in &stores {
                let units = noise.poisson(25.0 * peak);
                fixture.sale(week, sku, store, units);
            }
        }
        week += Duration::days(7);
    }
    fixture.write(dir.path());
    let (panel, output) = forecast(dir.path(), Frequency::Week, as_of, 12);
    // Steps 0–3 are October, steps 5 onward November and December: the ratio of the two is
    // the yearly shape.
    let shape = |name: &str| -> (f64, Vec<f64>) {
        let sku = panel.skus.iter().position(|s| s == name).unwrap() as u32;
        let mut by_step = vec![0.0; 12];
        for row in 0..output.len() {
            if output.sku[row] == sku {
                by_step[output.period[row] as usize - panel.history_len] += output.mean[row];
            }
        }
        let october = by_step[..4].iter().sum::<f64>() / 4.0;
        let peak = by_step[5..].iter().sum::<f64>() / 7.0;
        (peak / october, by_step)
    };
    let (new, by_step) = shape("NEW");
    let (old, _) = shape("OLD1");
    assert!(new > 1.25, "NEW has no yearly shape: {by_step:?}");
    assert!(
        (new / old - 1.0).abs() < 0.15,
        "NEW's shape {new:.2} is not the category's {old:.2}: {by_step:?}"
    );
}

#[test]
fn every_series_with_history_gets_a_forecast_for_every_period_with_coherent_quantiles() {
    // Intermittent daily series: some start late, one stops selling, one has stock-out
    // days, one sold once long ago.
    let dir = tempfile::tempdir().unwrap();
    let skus = [
        ("I1", "lamps"),
        ("I2", "lamps"),
        ("I3", "lamps"),
        ("I4", "vases"),
        ("I5", "vases"),
    ];
    let stores = ["S1", "S2"];
    let mut fixture = Fixture::new(&skus, &stores);
    let mut noise = Noise(17);
    let as_of = date("2025-06-30");
    let mut day = date("2024-06-01");
    while day <= as_of {
        for (index, (sku, _)) in skus.iter().enumerate() {
            for store in &stores {
                let started = match *sku {
                    "I3" => day >= date("2025-05-20"),
                    _ => true,
                };
                let stopped = *sku == "I4" && day > date("2025-02-01");
                let out = *sku == "I2" && *store == "S1" && day > date("2025-06-01");
                if out {
                    fixture.stock_out(day, sku, store);
                    continue;
                }
                if !started || stopped || *sku == "I5" {
                    continue;
                }
                let units = noise.poisson(0.3 + 0.2 * index as f64);
                fixture.sale(day, sku, store, units);
            }
        }
        day += Duration::days(1);
    }
    fixture.sale(date("2024-07-01"), "I5", "S2", 1);
    fixture.write(dir.path());
    let (panel, output) = forecast(dir.path(), Frequency::Day, as_of, 28);
    assert_eq!(
        output.len(),
        panel.cell_count() * 28,
        "a cell or a period has no row"
    );
    let warehouses = panel.warehouse_count();
    let mut periods = vec![0usize; panel.cell_count()];
    for row in 0..output.len() {
        let cell = output.sku[row] as usize * warehouses + output.warehouse[row] as usize;
        periods[cell] += 1;
        let (p10, p50, p90) = (
            output.quantile(row, 0),
            output.quantile(row, 1),
            output.quantile(row, 2),
        );
        let mean = output.mean[row];
        assert!(mean.is_finite() && mean >= 0.0, "row {row}: mean {mean}");
        assert!(
            0.0 <= p10 && p10 <= p50 && p50 <= p90,
            "row {row}: {p10} {p50} {p90}"
        );
        // A mean under 0.1 puts more than 10% on zero under any dispersion: p10 is 0.
        if mean < 0.1 {
            assert_eq!(p10, 0.0, "row {row}: mass at zero not respected");
        }
    }
    assert!(periods.iter().all(|count| *count == 28));
    // The stocked-out cell is not forecast as zero demand.
    let sku = panel.skus.iter().position(|s| s == "I2").unwrap();
    let stocked_out: f64 = (0..output.len())
        .filter(|row| output.sku[*row] as usize == sku && output.warehouse[*row] == 0)
        .map(|row| output.mean[row])
        .sum();
    assert!(
        stocked_out > 28.0 * 0.2,
        "a stock-out was read as no demand: {stocked_out}"
    );
}

#[test]
fn the_real_data_bench_scores_stockcast_beside_the_baselines_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let as_of = promotion_fixture(&data);
    let url = common::sqlite_url(dir.path());
    let assert = common::stockcast(&url)
        .current_dir(dir.path())
        .args([
            "bench",
            "forecast",
            "--freq",
            "week",
            "--horizon",
            "12",
            "--baseline-python",
            "none",
        ])
        .arg("--as-of")
        .arg(as_of.to_string())
        .arg("--data")
        .arg(&data)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    for name in [
        "stockcast",
        "seasonal naive",
        "mean of the last 4 weeks",
        "promotion-aware naive",
    ] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(json["bench"], "forecast");
    let forecasters = json["forecasters"].as_array().unwrap();
    let wape = |name: &str| {
        forecasters
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["scores"]["wape"].as_f64())
            .unwrap()
    };
    assert!(wape("stockcast") < wape("seasonal naive"), "{stdout}");
    // Every scored period is below, inside or above the interval, and the promoted and
    // other periods are each scored.
    let stockcast = &forecasters[0]["scores"];
    let share = |field: &str| stockcast[field].as_f64().unwrap();
    let sides = share("below_p10") + share("coverage_p10_p90") + share("above_p90");
    assert!((sides - 1.0).abs() < 1e-9, "{stockcast}");
    for field in ["promotion_coverage_p10_p90", "other_coverage_p10_p90"] {
        assert!((0.0..=1.0).contains(&share(field)), "{field}: {stockcast}");
    }
    assert!(stdout.contains("p10–p90 misses"), "{stdout}");
    assert_eq!(json["incoherent_quantiles"], 0);
    assert!(json["cells_scored"].as_u64().unwrap() > 0);
}
