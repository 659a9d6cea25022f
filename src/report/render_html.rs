//! One self-contained HTML page: inline CSS, inline SVG charts, no scripts, no network.

use std::fmt::Write;

use super::format::{display, grouped};
use super::view::{Chart, FanSeries, ReportView, Value};

const PALETTE: [&str; 4] = ["#1f6feb", "#d97706", "#059669", "#9333ea"];

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

pub fn render_html(view: &ReportView) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{}</style></head><body>\n<h1>{}</h1>\n",
        escape(&view.title),
        STYLE,
        escape(&view.title)
    );
    for line in &view.context {
        let _ = writeln!(out, "<p class=\"context\">{}</p>", escape(line));
    }
    for chart in &view.charts {
        out.push_str(&render_chart(chart));
    }
    for section in &view.sections {
        let _ = writeln!(out, "<h2>{}</h2>", escape(&section.title));
        if section.rows.is_empty() {
            out.push_str("<p>(none)</p>\n");
            continue;
        }
        out.push_str("<table><thead><tr>");
        for column in &section.columns {
            let _ = write!(out, "<th>{}</th>", escape(column.label));
        }
        out.push_str("</tr></thead><tbody>\n");
        for row in &section.rows {
            out.push_str("<tr>");
            for value in row {
                let class = if value.is_numeric() {
                    " class=\"n\""
                } else {
                    ""
                };
                let _ = write!(out, "<td{class}>{}</td>", escape(&display(value)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
        if section.rows_left_out > 0 {
            let _ = writeln!(
                out,
                "<p class=\"context\">… and {} more rows (raise --top, or --top 0 for all)</p>",
                display(&Value::Count(section.rows_left_out as i64))
            );
        }
    }
    if !view.notes.is_empty() {
        out.push_str("<h2>Notes</h2><ul>\n");
        for note in &view.notes {
            let _ = writeln!(out, "<li>{}</li>", escape(note));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1f2328;background:#fff}\
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:24px 0 8px}\
p.context{margin:2px 0;color:#57606a}\
table{border-collapse:collapse;font-size:13px;margin-bottom:8px}\
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}th{background:#f6f8fa}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}\
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#1f2328}";

fn render_chart(chart: &Chart) -> String {
    match chart {
        Chart::Fan { title, series } => {
            let mut out = format!("<figure><figcaption>{}</figcaption>\n", escape(title));
            for (index, fan) in series.iter().enumerate() {
                out.push_str(&fan_svg(fan, PALETTE[index % PALETTE.len()]));
            }
            out.push_str("</figure>\n");
            out
        }
        Chart::Bars {
            title,
            unit,
            labels,
            series,
            reference,
        } => bars_svg(title, unit, labels, series, *reference),
        Chart::Heat {
            title,
            unit,
            rows,
            columns,
            values,
        } => heat_svg(title, unit, rows, columns, values),
    }
}

/// Linear scale from a data range onto pixels.
#[derive(Clone, Copy)]
struct Scale {
    from: (f64, f64),
    to: (f64, f64),
}

impl Scale {
    fn at(&self, value: f64) -> f64 {
        let span = self.from.1 - self.from.0;
        if span.abs() < 1e-12 {
            return (self.to.0 + self.to.1) / 2.0;
        }
        self.to.0 + (value - self.from.0) / span * (self.to.1 - self.to.0)
    }
}

fn nice_max(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn fan_svg(fan: &FanSeries, color: &str) -> String {
    let (width, height) = (760.0, 220.0);
    let (left, right, top, bottom) = (56.0, 30.0, 22.0, 30.0);
    let days = |date: chrono::NaiveDate| date.num_days_from_ce() as f64;
    use chrono::Datelike;
    let mut xs: Vec<f64> = fan.history.iter().map(|(d, _)| days(*d)).collect();
    xs.extend(fan.forecast.iter().map(|(d, ..)| days(*d)));
    xs.extend(fan.last_year.iter().map(|(d, _)| days(*d)));
    let mut ys: Vec<f64> = fan.history.iter().map(|(_, v)| *v).collect();
    ys.extend(fan.forecast.iter().map(|(_, _, _, p90)| *p90));
    ys.extend(fan.last_year.iter().map(|(_, v)| *v));
    let (Some(x_min), Some(x_max)) = (
        xs.iter().copied().reduce(f64::min),
        xs.iter().copied().reduce(f64::max),
    ) else {
        return String::new();
    };
    let y_max = nice_max(ys.iter().copied().fold(0.0, f64::max));
    let x = Scale {
        from: (x_min, x_max),
        to: (left, width - right),
    };
    let y = Scale {
        from: (0.0, y_max),
        to: (height - bottom, top),
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">\
         <text x=\"{left}\" y=\"14\" font-weight=\"600\">{}</text>",
        escape(&fan.label)
    );
    axes(&mut out, &y, y_max, left, width - right, "units/day");
    // Band p10–p90, then the mean line.
    if !fan.forecast.is_empty() {
        let mut points: Vec<String> = fan
            .forecast
            .iter()
            .map(|(d, _, _, p90)| format!("{:.1},{:.1}", x.at(days(*d)), y.at(*p90)))
            .collect();
        points.extend(
            fan.forecast
                .iter()
                .rev()
                .map(|(d, p10, _, _)| format!("{:.1},{:.1}", x.at(days(*d)), y.at(*p10))),
        );
        let _ = write!(
            out,
            "<polygon points=\"{}\" fill=\"{color}\" fill-opacity=\"0.22\" stroke=\"none\"/>",
            points.join(" ")
        );
        let mean: Vec<String> = fan
            .forecast
            .iter()
            .map(|(d, _, m, _)| format!("{:.1},{:.1}", x.at(days(*d)), y.at(*m)))
            .collect();
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            mean.join(" ")
        );
        for (d, p10, m, p90) in &fan.forecast {
            let px = x.at(days(*d));
            let _ = write!(
                out,
                "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-opacity=\"0.5\"/>\
                 <circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                y.at(*p10),
                y.at(*p90),
                y.at(*m)
            );
        }
    }
    let line = |points: &[(chrono::NaiveDate, f64)], style: &str| -> String {
        if points.is_empty() {
            return String::new();
        }
        let text: Vec<String> = points
            .iter()
            .map(|(d, v)| format!("{:.1},{:.1}", x.at(days(*d)), y.at(*v)))
            .collect();
        format!(
            "<polyline points=\"{}\" fill=\"none\" {style}/>",
            text.join(" ")
        )
    };
    out.push_str(&line(
        &fan.history,
        "stroke=\"#24292f\" stroke-width=\"1.5\"",
    ));
    out.push_str(&line(
        &fan.last_year,
        "stroke=\"#8c959f\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"",
    ));
    // Dates under the axis: first day, the last observed day, the last forecast day.
    let mut ticks: Vec<chrono::NaiveDate> = Vec::new();
    ticks.extend(fan.history.first().map(|(d, _)| *d));
    ticks.extend(fan.history.last().map(|(d, _)| *d));
    ticks.extend(fan.forecast.last().map(|(d, ..)| *d));
    for tick in ticks {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x.at(days(tick)),
            height - bottom + 12.0,
            tick.format("%b %d")
        );
    }
    let legend_y = height - 2.0;
    let _ = writeln!(
        out,
        "<text x=\"{left}\" y=\"{legend_y}\">— history   ┅ last year (shifted 364 days)   ▮ forecast p10–p90 and mean</text></svg>"
    );
    out
}

fn axes(out: &mut String, y: &Scale, y_max: f64, x0: f64, x1: f64, unit: &str) {
    for step in 0..=4 {
        let value = y_max * step as f64 / 4.0;
        let py = y.at(value);
        let _ = write!(
            out,
            "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#eaeef2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 4.0,
            py + 4.0,
            escape(&grouped(
                value,
                if (y_max / 4.0).fract() == 0.0 { 0 } else { 1 }
            ))
        );
    }
    let _ = write!(
        out,
        "<text x=\"4\" y=\"{:.1}\" transform=\"rotate(-90 10 {:.1})\">{}</text>",
        y.to.1 + 40.0,
        y.to.1 + 40.0,
        escape(unit)
    );
}

fn bars_svg(
    title: &str,
    unit: &str,
    labels: &[String],
    series: &[(String, Vec<f64>)],
    reference: Option<f64>,
) -> String {
    if labels.is_empty() || series.is_empty() {
        return String::new();
    }
    let group_width = 64.0f64.max(18.0 * series.len() as f64 + 16.0);
    let (left, right, top, bottom) = (64.0, 16.0, 16.0, 96.0);
    let width = (left + right + group_width * labels.len() as f64).max(360.0);
    let height = 300.0;
    let values = series.iter().flat_map(|(_, v)| v.iter().copied());
    let max = values
        .chain(reference)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y_max = nice_max(max);
    let y = Scale {
        from: (0.0, y_max),
        to: (height - bottom, top),
    };
    let mut out = format!(
        "<figure><figcaption>{}</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height}\" viewBox=\"0 0 {width:.0} {height}\" role=\"img\">",
        escape(title)
    );
    axes(&mut out, &y, y_max, left, width - right, unit);
    let bar_width = (group_width - 16.0) / series.len() as f64;
    for (group, label) in labels.iter().enumerate() {
        let gx = left + group as f64 * group_width + 8.0;
        for (index, (name, values)) in series.iter().enumerate() {
            let value = values.get(group).copied().unwrap_or(0.0);
            if !value.is_finite() {
                continue;
            }
            let top_y = y.at(value.max(0.0));
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{top_y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                gx + index as f64 * bar_width,
                bar_width - 2.0,
                (y.at(0.0) - top_y).max(0.5),
                PALETTE[index % PALETTE.len()],
                escape(name),
                escape(&grouped(value, 2))
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-35 {:.1} {:.1})\">{}</text>",
            gx + group_width / 2.0,
            height - bottom + 14.0,
            gx + group_width / 2.0,
            height - bottom + 14.0,
            escape(label)
        );
    }
    if let Some(reference) = reference {
        let py = y.at(reference);
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#cf222e\" stroke-dasharray=\"5 3\"/>",
            width - right
        );
    }
    let mut legend_x = left;
    for (index, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<rect x=\"{legend_x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            height - 14.0,
            PALETTE[index % PALETTE.len()],
            legend_x + 14.0,
            height - 5.0,
            escape(name)
        );
        legend_x += 24.0 + 7.0 * name.chars().count() as f64;
    }
    out.push_str("</svg></figure>\n");
    out
}

fn heat_svg(
    title: &str,
    unit: &str,
    rows: &[String],
    columns: &[String],
    values: &[Vec<f64>],
) -> String {
    if rows.is_empty() || columns.is_empty() {
        return String::new();
    }
    let (cell_w, cell_h, left, top) = (72.0, 24.0, 150.0, 40.0);
    let width = left + cell_w * columns.len() as f64 + 10.0;
    let height = top + cell_h * rows.len() as f64 + 30.0;
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let mut out = format!(
        "<figure><figcaption>{} ({})</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">",
        escape(title),
        escape(unit)
    );
    for (c, name) in columns.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            left + cell_w * (c as f64 + 0.5),
            top - 8.0,
            escape(name)
        );
    }
    for (r, name) in rows.iter().enumerate() {
        let ry = top + cell_h * r as f64;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            ry + cell_h * 0.65,
            escape(name)
        );
        for (c, column_name) in columns.iter().enumerate() {
            let value = values
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(0.0);
            let intensity = if max > 0.0 {
                (value / max).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // White → deep red.
            let g = (245.0 - 190.0 * intensity) as u8;
            let b = (240.0 - 200.0 * intensity) as u8;
            let text_fill = if intensity > 0.6 {
                "#ffffff"
            } else {
                "#1f2328"
            };
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{ry:.1}\" width=\"{}\" height=\"{}\" fill=\"rgb(230,{g},{b})\" stroke=\"#ffffff\"><title>{} · {}: {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" style=\"fill:{text_fill}\">{}</text>",
                left + cell_w * c as f64,
                cell_w,
                cell_h,
                escape(name),
                escape(column_name),
                escape(&grouped(value, 0)),
                left + cell_w * (c as f64 + 0.5),
                ry + cell_h * 0.65,
                escape(&grouped(value, 0))
            );
        }
    }
    out.push_str("</svg></figure>\n");
    out
}
