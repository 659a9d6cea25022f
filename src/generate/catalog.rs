//! Product categories, the warehouse network and the SKU catalogue.
//!
//! Categories differ strongly: big-ticket furniture (sofas, beds) sells a
//! few lumpy units at high prices and occupies 1–3 m³ per unit; decor
//! (cushions, candles, lighting, rugs) sells many cheap, small units.

use rand::seq::SliceRandom;
use rand::Rng;

use super::noise::{
    gamma, int_between, log_uniform, rng_for, std_normal, uniform, STREAM_CATALOG,
    STREAM_WAREHOUSES,
};

/// The six US regions; warehouses cycle through them.
pub const REGIONS: [&str; 6] = [
    "Northeast",
    "Southeast",
    "Midwest",
    "Southwest",
    "West",
    "Northwest",
];

/// Product category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Sofas,
    Beds,
    Tables,
    Chairs,
    Storage,
    Lighting,
    Rugs,
    Cushions,
    Candles,
    WallDecor,
}

/// Behavioural parameters of one category.
pub(crate) struct CategoryParams {
    /// Share of the catalogue in this category.
    pub mix: f64,
    /// Mean units per (sku, warehouse, day) for an average SKU before
    /// seasonality, promotions and launches.
    pub rate_per_cell: f64,
    /// Unit price range (USD), drawn log-uniformly.
    pub price: (f64, f64),
    /// Unit volume range (m³), drawn log-uniformly.
    pub volume: (f64, f64),
    pub case_packs: &'static [u32],
    pub min_presentation: (u32, u32),
    /// Negative-binomial shape (smaller = more overdispersed).
    pub nb_shape: f64,
    /// Promotional elasticity `k` in `lift = exp(k · discount)`.
    pub elasticity: f64,
    /// Replenishment lead time range (days).
    pub lead_days: (u32, u32),
    /// Length of the post-promotion pull-forward dip (days).
    pub pull_forward_days: usize,
    /// Day-of-week multipliers, Monday..Sunday (normalised later).
    pub weekly: [f64; 7],
    /// Yearly seasonality bumps: (peak day-of-year, width in days, log amplitude).
    pub yearly: &'static [(f64, f64, f64)],
    /// Category-wide log growth per year.
    pub trend_per_year: f64,
    /// Dirichlet concentration of per-SKU warehouse shares.
    pub share_concentration: f64,
    /// Regional affinity multipliers in [`REGIONS`] order.
    pub region_affinity: [f64; 6],
}

const FURNITURE_WEEK: [f64; 7] = [0.80, 0.75, 0.80, 0.90, 1.05, 1.45, 1.25];
const DECOR_WEEK: [f64; 7] = [0.88, 0.85, 0.90, 0.95, 1.08, 1.25, 1.10];

const PARAMS: [CategoryParams; 10] = [
    // sofas
    CategoryParams {
        mix: 0.06,
        rate_per_cell: 0.035,
        price: (600.0, 2500.0),
        volume: (1.2, 3.0),
        case_packs: &[1],
        min_presentation: (1, 1),
        nb_shape: 0.5,
        elasticity: 3.0,
        lead_days: (21, 42),
        pull_forward_days: 14,
        weekly: FURNITURE_WEEK,
        yearly: &[
            (15.0, 20.0, 0.25),
            (285.0, 40.0, 0.20),
            (195.0, 30.0, -0.15),
        ],
        trend_per_year: 0.0,
        share_concentration: 8.0,
        region_affinity: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    },
    // beds
    CategoryParams {
        mix: 0.05,
        rate_per_cell: 0.035,
        price: (500.0, 2200.0),
        volume: (1.0, 2.6),
        case_packs: &[1],
        min_presentation: (1, 1),
        nb_shape: 0.5,
        elasticity: 2.8,
        lead_days: (21, 40),
        pull_forward_days: 14,
        weekly: FURNITURE_WEEK,
        yearly: &[(10.0, 20.0, 0.20), (225.0, 20.0, 0.30), (320.0, 25.0, 0.10)],
        trend_per_year: 0.02,
        share_concentration: 8.0,
        region_affinity: [1.0, 1.1, 1.0, 1.1, 1.0, 0.9],
    },
    // tables
    CategoryParams {
        mix: 0.08,
        rate_per_cell: 0.07,
        price: (150.0, 900.0),
        volume: (0.3, 1.5),
        case_packs: &[1],
        min_presentation: (1, 1),
        nb_shape: 0.7,
        elasticity: 2.6,
        lead_days: (14, 30),
        pull_forward_days: 14,
        weekly: FURNITURE_WEEK,
        yearly: &[(330.0, 30.0, 0.35), (120.0, 30.0, 0.10)],
        trend_per_year: 0.0,
        share_concentration: 10.0,
        region_affinity: [1.1, 1.0, 1.0, 0.9, 1.0, 1.0],
    },
    // chairs
    CategoryParams {
        mix: 0.12,
        rate_per_cell: 0.14,
        price: (60.0, 400.0),
        volume: (0.15, 0.6),
        case_packs: &[1, 2, 4],
        min_presentation: (1, 2),
        nb_shape: 0.6,
        elasticity: 2.4,
        lead_days: (10, 24),
        pull_forward_days: 10,
        weekly: FURNITURE_WEEK,
        yearly: &[(150.0, 35.0, 0.40), (225.0, 15.0, 0.15)],
        trend_per_year: 0.03,
        share_concentration: 10.0,
        region_affinity: [0.85, 1.25, 0.9, 1.3, 1.2, 0.85],
    },
    // storage
    CategoryParams {
        mix: 0.10,
        rate_per_cell: 0.16,
        price: (80.0, 600.0),
        volume: (0.2, 1.2),
        case_packs: &[1, 2],
        min_presentation: (1, 1),
        nb_shape: 1.0,
        elasticity: 2.2,
        lead_days: (10, 21),
        pull_forward_days: 10,
        weekly: FURNITURE_WEEK,
        yearly: &[(15.0, 18.0, 0.50), (230.0, 18.0, 0.30)],
        trend_per_year: 0.04,
        share_concentration: 12.0,
        region_affinity: [1.2, 0.9, 1.0, 0.9, 1.1, 1.0],
    },
    // lighting
    CategoryParams {
        mix: 0.13,
        rate_per_cell: 0.45,
        price: (20.0, 180.0),
        volume: (0.01, 0.08),
        case_packs: &[2, 4, 6],
        min_presentation: (2, 4),
        nb_shape: 1.8,
        elasticity: 2.0,
        lead_days: (5, 14),
        pull_forward_days: 7,
        weekly: DECOR_WEEK,
        yearly: &[
            (345.0, 45.0, 0.45),
            (15.0, 25.0, 0.20),
            (150.0, 25.0, 0.25),
            (200.0, 30.0, -0.20),
        ],
        trend_per_year: 0.05,
        share_concentration: 18.0,
        region_affinity: [1.15, 0.85, 1.1, 0.8, 1.0, 1.3],
    },
    // rugs
    CategoryParams {
        mix: 0.09,
        rate_per_cell: 0.30,
        price: (40.0, 400.0),
        volume: (0.02, 0.15),
        case_packs: &[1, 2, 5],
        min_presentation: (1, 2),
        nb_shape: 1.3,
        elasticity: 2.4,
        lead_days: (7, 18),
        pull_forward_days: 10,
        weekly: DECOR_WEEK,
        yearly: &[(285.0, 35.0, 0.30), (75.0, 25.0, 0.15)],
        trend_per_year: 0.02,
        share_concentration: 15.0,
        region_affinity: [1.3, 0.9, 1.2, 0.75, 0.9, 1.1],
    },
    // cushions
    CategoryParams {
        mix: 0.15,
        rate_per_cell: 0.70,
        price: (12.0, 60.0),
        volume: (0.01, 0.05),
        case_packs: &[6, 12],
        min_presentation: (4, 8),
        nb_shape: 2.5,
        elasticity: 1.8,
        lead_days: (5, 12),
        pull_forward_days: 7,
        weekly: DECOR_WEEK,
        yearly: &[(100.0, 30.0, 0.35), (275.0, 30.0, 0.20)],
        trend_per_year: 0.03,
        share_concentration: 22.0,
        region_affinity: [1.0, 1.1, 1.0, 1.1, 1.0, 0.9],
    },
    // candles
    CategoryParams {
        mix: 0.12,
        rate_per_cell: 0.85,
        price: (5.0, 35.0),
        volume: (0.001, 0.005),
        case_packs: &[12, 24],
        min_presentation: (6, 12),
        nb_shape: 3.0,
        elasticity: 1.6,
        lead_days: (4, 10),
        pull_forward_days: 7,
        weekly: DECOR_WEEK,
        yearly: &[
            (340.0, 30.0, 1.00),
            (300.0, 20.0, 0.35),
            (44.0, 5.0, 0.40),
            (190.0, 45.0, -0.35),
        ],
        trend_per_year: 0.06,
        share_concentration: 22.0,
        region_affinity: [1.3, 0.8, 1.2, 0.75, 0.95, 1.25],
    },
    // wall_decor
    CategoryParams {
        mix: 0.10,
        rate_per_cell: 0.35,
        price: (15.0, 150.0),
        volume: (0.005, 0.05),
        case_packs: &[2, 4, 6],
        min_presentation: (2, 3),
        nb_shape: 1.8,
        elasticity: 1.9,
        lead_days: (5, 14),
        pull_forward_days: 7,
        weekly: DECOR_WEEK,
        yearly: &[(335.0, 30.0, 0.35), (80.0, 25.0, 0.15)],
        trend_per_year: 0.04,
        share_concentration: 18.0,
        region_affinity: [1.05, 1.0, 1.0, 0.95, 1.05, 1.0],
    },
];

impl Category {
    /// All categories in a fixed order.
    pub const ALL: [Category; 10] = [
        Category::Sofas,
        Category::Beds,
        Category::Tables,
        Category::Chairs,
        Category::Storage,
        Category::Lighting,
        Category::Rugs,
        Category::Cushions,
        Category::Candles,
        Category::WallDecor,
    ];

    /// The name written in the `category` columns.
    pub fn name(self) -> &'static str {
        match self {
            Category::Sofas => "sofas",
            Category::Beds => "beds",
            Category::Tables => "tables",
            Category::Chairs => "chairs",
            Category::Storage => "storage",
            Category::Lighting => "lighting",
            Category::Rugs => "rugs",
            Category::Cushions => "cushions",
            Category::Candles => "candles",
            Category::WallDecor => "wall_decor",
        }
    }

    /// Human label used in promotion names.
    pub fn label(self) -> &'static str {
        match self {
            Category::Sofas => "Sofas",
            Category::Beds => "Beds",
            Category::Tables => "Tables",
            Category::Chairs => "Chairs",
            Category::Storage => "Storage",
            Category::Lighting => "Lighting",
            Category::Rugs => "Rugs",
            Category::Cushions => "Cushions",
            Category::Candles => "Candles",
            Category::WallDecor => "Wall Decor",
        }
    }

    /// Position in [`Category::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn params(self) -> &'static CategoryParams {
        &PARAMS[self.index()]
    }
}

/// One warehouse of the network.
#[derive(Debug, Clone)]
pub(crate) struct Warehouse {
    pub id: String,
    pub region: usize,
    /// Relative size (share of network demand before category affinity).
    pub size: f64,
}

/// One SKU and its hidden behavioural parameters.
#[derive(Debug, Clone)]
pub(crate) struct Sku {
    pub id: String,
    pub category: Category,
    pub price_cents: u64,
    /// Unit volume in units of 1e-4 m³ (exact integer, written with 4 decimals).
    pub volume_e4: u64,
    pub case_pack: u32,
    pub min_presentation: u32,
    /// Expected units/day over the whole network at mid-history, before
    /// seasonality, promotions and launch ramp.
    pub base_rate: f64,
    /// Log growth per year.
    pub trend_per_year: f64,
    /// Day index (0 = first history day) of the launch; 0 for SKUs on sale
    /// from the start.
    pub launch_day: usize,
    /// Days for the launch ramp to reach ~63 % of full demand.
    pub ramp_days: f64,
    pub elasticity: f64,
    pub nb_shape: f64,
    /// Expected poll responses per day about this SKU.
    pub poll_rate: f64,
    /// How many days poll interest leads demand.
    pub poll_lead: usize,
    /// Persistent respondent bias for this SKU (interest points).
    pub poll_bias: f64,
}

/// Overall demand scale, tuned so the catalogue-wide mean is ≈0.3 units
/// per (sku, warehouse, day).
const DEMAND_SCALE: f64 = 0.85;

/// Zero-padded id with at least `min_width` digits.
pub(crate) fn padded_id(prefix: &str, n: usize, width: usize) -> String {
    format!("{prefix}{n:0width$}")
}

fn digits(n: usize) -> usize {
    n.max(1).to_string().len()
}

/// Builds the warehouse network: ids `WH01…`, regions cycling through
/// [`REGIONS`], a couple of flagship-size warehouses.
pub(crate) fn build_warehouses(seed: u64, count: usize) -> Vec<Warehouse> {
    let mut rng = rng_for(seed, STREAM_WAREHOUSES, 0, 0);
    let width = digits(count).max(2);
    (0..count)
        .map(|w| {
            let flagship = w == 0 || (count >= 4 && w == count / 2);
            let jitter = (0.45 * std_normal(&mut rng)).exp();
            let size = if flagship {
                3.0 * (0.15 * std_normal(&mut rng)).exp()
            } else {
                jitter
            };
            Warehouse {
                id: padded_id("WH", w + 1, width),
                region: w % REGIONS.len(),
                size,
            }
        })
        .collect()
}

fn pick_category<R: Rng + ?Sized>(rng: &mut R) -> Category {
    let total: f64 = PARAMS.iter().map(|p| p.mix).sum();
    let mut u = rng.random::<f64>() * total;
    for c in Category::ALL {
        u -= c.params().mix;
        if u < 0.0 {
            return c;
        }
    }
    Category::WallDecor
}

/// Builds the SKU catalogue for a history of `days` days and `warehouses`
/// warehouses. About 10 % of SKUs launch after the first day; roughly a
/// fifth of those launch within the last 30 days of history.
pub(crate) fn build_skus(seed: u64, count: usize, warehouses: usize, days: usize) -> Vec<Sku> {
    let mut rng = rng_for(seed, STREAM_CATALOG, 0, 0);
    let width = digits(count).max(5);
    let mut skus: Vec<Sku> = (0..count)
        .map(|i| {
            let category = pick_category(&mut rng);
            let p = category.params();
            let price = log_uniform(&mut rng, p.price.0, p.price.1);
            // Prices end in .99 (or .49 for cheap items).
            let cents = if price < 20.0 {
                (price.floor() as u64) * 100 + if rng.random::<bool>() { 49 } else { 99 }
            } else {
                (price.floor() as u64) * 100 + 99
            };
            let volume = log_uniform(&mut rng, p.volume.0, p.volume.1);
            let volume_e4 = ((volume * 1e4).round() as u64).max(1);
            let case_pack = p.case_packs[rng.random_range(0..p.case_packs.len())];
            let min_presentation = int_between(
                &mut rng,
                i64::from(p.min_presentation.0),
                i64::from(p.min_presentation.1),
            ) as u32;
            // Popularity: log-normal with mean 1, cheaper items within a
            // category sell more.
            let sigma = 0.9;
            let popularity = (sigma * std_normal(&mut rng) - sigma * sigma / 2.0).exp();
            let mid_price = (p.price.0 * p.price.1).sqrt();
            let price_factor = (price / mid_price).powf(-0.5);
            let base_rate =
                warehouses as f64 * p.rate_per_cell * popularity * price_factor * DEMAND_SCALE;
            let trend_per_year = p.trend_per_year + 0.12 * std_normal(&mut rng);
            let elasticity = p.elasticity * uniform(&mut rng, 0.8, 1.2);
            let nb_shape = p.nb_shape * uniform(&mut rng, 0.7, 1.3);
            let poll_rate = 0.015 + 0.05 * (base_rate / warehouses as f64 / 0.3).min(4.0).sqrt();
            let poll_lead = int_between(&mut rng, 7, 21) as usize;
            let poll_bias = 0.3 * std_normal(&mut rng);
            let ramp_days = uniform(&mut rng, 7.0, 25.0);
            Sku {
                id: padded_id("SKU", i + 1, width),
                category,
                price_cents: cents,
                volume_e4,
                case_pack,
                min_presentation,
                base_rate,
                trend_per_year,
                launch_day: 0,
                ramp_days,
                elasticity,
                nb_shape,
                poll_rate,
                poll_lead,
                poll_bias,
            }
        })
        .collect();

    // Launch schedule.
    let n_late = if count >= 5 {
        ((count as f64 * 0.10).round() as usize).max(1)
    } else {
        0
    };
    if n_late > 0 && days >= 2 {
        let mut order: Vec<usize> = (0..count).collect();
        order.shuffle(&mut rng);
        let n_recent = ((n_late as f64 * 0.2).round() as usize).max(1);
        let recent_lo = days.saturating_sub(30).max(1);
        let last = days - 1;
        let mid_lo = (days / 10).max(1).min(recent_lo);
        let mid_hi = recent_lo.saturating_sub(1).max(mid_lo);
        for (j, &i) in order.iter().take(n_late).enumerate() {
            let day = if j < n_recent {
                int_between(&mut rng, recent_lo as i64, last as i64)
            } else {
                int_between(&mut rng, mid_lo as i64, mid_hi as i64)
            };
            skus[i].launch_day = (day.max(1) as usize).min(last);
        }
    }
    skus
}

/// Draws one SKU's warehouse share vector (sums to 1): a Dirichlet draw
/// centred on warehouse size × regional category affinity.
pub(crate) fn draw_shares<R: Rng + ?Sized>(
    rng: &mut R,
    category: Category,
    warehouses: &[Warehouse],
    out: &mut Vec<f64>,
) {
    out.clear();
    let p = category.params();
    let weights: Vec<f64> = warehouses
        .iter()
        .map(|w| w.size * p.region_affinity[w.region])
        .collect();
    let total: f64 = weights.iter().sum();
    let conc = p.share_concentration * (warehouses.len() as f64).sqrt().max(1.0);
    let floor = 0.02 / warehouses.len() as f64;
    for w in &weights {
        let alpha = conc * w / total;
        out.push(gamma(rng, alpha).max(1e-12));
    }
    let sum: f64 = out.iter().sum();
    for x in out.iter_mut() {
        *x = (*x / sum).max(floor);
    }
    let sum: f64 = out.iter().sum();
    for x in out.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::noise::STREAM_SKU;

    #[test]
    fn warehouses_cycle_regions_and_have_flagships() {
        let whs = build_warehouses(1, 12);
        assert_eq!(whs[0].id, "WH01");
        assert_eq!(whs[11].id, "WH12");
        assert_eq!(REGIONS[whs[6].region], "Northeast");
        assert_eq!(REGIONS[whs[1].region], "Southeast");
        assert!(whs[0].size > 2.0 && whs[6].size > 2.0);
        assert_eq!(build_warehouses(1, 120)[99].id, "WH100");
    }

    #[test]
    fn skus_have_launches_and_sane_attributes() {
        let skus = build_skus(5, 400, 10, 730);
        assert_eq!(skus[0].id, "SKU00001");
        let late: Vec<&Sku> = skus.iter().filter(|s| s.launch_day > 0).collect();
        assert_eq!(late.len(), 40);
        assert!(late.iter().any(|s| s.launch_day >= 700));
        assert!(late.iter().all(|s| s.launch_day < 730));
        for s in &skus {
            let price = s.price_cents as f64 / 100.0;
            if s.category == Category::Sofas {
                assert!((600.0..=2500.0).contains(&price), "{price}");
                assert!(s.volume_e4 >= 12_000);
            }
            if s.category == Category::Candles {
                assert!(price < 36.0);
            }
            assert!(s.case_pack >= 1 && s.min_presentation >= 1);
        }
    }

    #[test]
    fn shares_sum_to_one() {
        let whs = build_warehouses(1, 7);
        let mut rng = rng_for(1, STREAM_SKU, 0, 0);
        let mut out = Vec::new();
        draw_shares(&mut rng, Category::Rugs, &whs, &mut out);
        assert_eq!(out.len(), 7);
        assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(out.iter().all(|&x| x > 0.0));
    }
}
