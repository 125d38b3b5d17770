//! Small, dependency-free SVG charts for the EDA and training reports.
//!
//! Every chart has a title, labelled axes and a legend where there is more than one series,
//! because these files are read by people deciding whether to trust a model.

use std::fmt::Write as _;

use crate::html::escape;

/// Colour-blind-friendly palette (Okabe–Ito), one colour per series.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 80.0;

/// About five round tick values covering `[min, max]`.
pub fn nice_ticks(min: f64, max: f64) -> Vec<f64> {
    if !min.is_finite() || !max.is_finite() {
        return vec![0.0];
    }
    if max <= min {
        return vec![min];
    }
    let raw_step = (max - min) / 5.0;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= raw_step)
        .unwrap_or(raw_step);
    let first = (min / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut value = first;
    while value <= max + step * 1e-9 && ticks.len() < 20 {
        ticks.push(if value.abs() < step * 1e-9 {
            0.0
        } else {
            value
        });
        value += step;
    }
    ticks
}

fn format_tick(value: f64) -> String {
    if value == value.round() && value.abs() < 1e6 {
        format!("{value:.0}")
    } else if value.abs() >= 0.01 {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{value:.1e}")
    }
}

/// A plotting frame with linear x and y scales.
struct Frame {
    svg: String,
    x_min: f64,
    x_max: f64,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    fn new(title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> Self {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{}</text><text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (LEFT + WIDTH - RIGHT) / 2.0,
            escape(title),
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 15.0,
            escape(x_label),
            (TOP + HEIGHT - BOTTOM) / 2.0,
            escape(y_label),
        );
        let (mut x_min, mut x_max) = x;
        let (mut y_min, mut y_max) = y;
        if x_max <= x_min {
            x_min -= 0.5;
            x_max += 0.5;
        }
        if y_max <= y_min {
            y_min -= 0.5;
            y_max += 0.5;
        }
        Frame {
            svg,
            x_min,
            x_max,
            y_min,
            y_max,
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x_min) / (self.x_max - self.x_min) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y_min) / (self.y_max - self.y_min) * (HEIGHT - TOP - BOTTOM)
    }

    fn axes(&mut self, x_ticks: bool) {
        let (x0, x1) = (self.px(self.x_min), self.px(self.x_max));
        let (y0, y1) = (self.py(self.y_min), self.py(self.y_max));
        for tick in nice_ticks(self.y_min, self.y_max) {
            let y = self.py(tick);
            let _ = write!(
                self.svg,
                r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#e5e5e5"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                format_tick(tick)
            );
        }
        if x_ticks {
            for tick in nice_ticks(self.x_min, self.x_max) {
                let x = self.px(tick);
                let _ = write!(
                    self.svg,
                    r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{}" stroke="#333"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
                    y0 + 5.0,
                    y0 + 18.0,
                    format_tick(tick)
                );
            }
        }
        let _ = write!(
            self.svg,
            r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>"##
        );
    }

    fn legend(&mut self, names: &[String]) {
        let colors: Vec<&str> = (0..names.len())
            .map(|idx| PALETTE[idx % PALETTE.len()])
            .collect();
        self.legend_with(names, &colors);
    }

    fn legend_with(&mut self, names: &[String], colors: &[&str]) {
        let x = WIDTH - RIGHT + 15.0;
        for (idx, name) in names.iter().enumerate() {
            let y = TOP + 10.0 + idx as f64 * 20.0;
            let _ = write!(
                self.svg,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                y - 10.0,
                colors.get(idx).copied().unwrap_or("#000"),
                x + 18.0,
                y,
                escape(name)
            );
        }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

/// Grouped vertical bars: one group per category, one bar per series.
pub fn bar_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let y_max = series
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let n_groups = categories.len().max(1) as f64;
    let mut frame = Frame::new(title, x_label, y_label, (0.0, n_groups), (0.0, y_max));
    frame.axes(false);
    let group_width = frame.px(1.0) - frame.px(0.0);
    let bar_width = group_width * 0.8 / series.len().max(1) as f64;
    for (category_idx, category) in categories.iter().enumerate() {
        let center = frame.px(category_idx as f64 + 0.5);
        if categories.len() > 6 {
            // Crowded axes get slanted labels so long column names do not overlap.
            let _ = write!(
                frame.svg,
                r#"<text transform="translate({center:.1},{:.1}) rotate(-30)" text-anchor="end" font-size="10">{}</text>"#,
                frame.py(0.0) + 12.0,
                escape(category)
            );
        } else {
            let _ = write!(
                frame.svg,
                r#"<text x="{center}" y="{}" text-anchor="middle">{}</text>"#,
                frame.py(0.0) + 18.0,
                escape(category)
            );
        }
        for (series_idx, (_, values)) in series.iter().enumerate() {
            let value = values.get(category_idx).copied().unwrap_or(0.0);
            let x =
                frame.px(category_idx as f64) + group_width * 0.1 + series_idx as f64 * bar_width;
            let (y_top, y_bottom) = (frame.py(value), frame.py(0.0));
            let _ = write!(
                frame.svg,
                r#"<rect x="{x:.1}" y="{y_top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                bar_width * 0.95,
                (y_bottom - y_top).max(0.0),
                PALETTE[series_idx % PALETTE.len()],
                escape(category),
                format_tick(value),
                x + bar_width * 0.475,
                y_top - 3.0,
                format_tick(value)
            );
        }
    }
    let names: Vec<String> = series.iter().map(|(name, _)| name.clone()).collect();
    frame.legend(&names);
    frame.finish()
}

/// Shared equal-width bins over every group's values: (lowest edge, bin width, counts per group).
fn bin_groups(groups: &[(String, Vec<f64>)], n_bins: usize) -> (f64, f64, Vec<Vec<f64>>) {
    let values = groups.iter().flat_map(|(_, values)| values.iter().copied());
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), value| {
        (lo.min(value), hi.max(value))
    });
    let (min, max) = if min.is_finite() {
        (min, max)
    } else {
        (0.0, 1.0)
    };
    let n_bins = n_bins.max(1);
    let width = if max > min {
        (max - min) / n_bins as f64
    } else {
        1.0
    };
    let counts = groups
        .iter()
        .map(|(_, values)| {
            let mut counts = vec![0.0; n_bins];
            for value in values {
                let bin = (((value - min) / width) as usize).min(n_bins - 1);
                counts[bin] += 1.0;
            }
            counts
        })
        .collect();
    (min, width, counts)
}

/// Overlaid histograms of several groups on shared bins (e.g. one per class).
pub fn histogram(
    title: &str,
    x_label: &str,
    groups: &[(String, Vec<f64>)],
    n_bins: usize,
) -> String {
    let (min, width, counts) = bin_groups(groups, n_bins);
    let n_bins = n_bins.max(1);
    let y_max = counts
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut frame = Frame::new(
        title,
        x_label,
        "rows",
        (min, min + width * n_bins as f64),
        (0.0, y_max),
    );
    frame.axes(true);
    for (group_idx, group_counts) in counts.iter().enumerate() {
        let color = PALETTE[group_idx % PALETTE.len()];
        for (bin, count) in group_counts.iter().enumerate() {
            if *count == 0.0 {
                continue;
            }
            let x0 = frame.px(min + bin as f64 * width);
            let x1 = frame.px(min + (bin + 1) as f64 * width);
            let (y_top, y_bottom) = (frame.py(*count), frame.py(0.0));
            let _ = write!(
                frame.svg,
                r#"<rect x="{x0:.1}" y="{y_top:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.45" stroke="{color}"/>"#,
                (x1 - x0).max(0.5),
                y_bottom - y_top
            );
        }
    }
    let names: Vec<String> = groups
        .iter()
        .map(|(name, values)| format!("{name} (n={})", values.len()))
        .collect();
    frame.legend(&names);
    frame.finish()
}

/// Each group's distribution over shared bins as a line of shares (each group sums to one), so
/// groups of very different sizes compare by shape and many groups stay readable.
pub fn distribution_lines(
    title: &str,
    x_label: &str,
    groups: &[(String, Vec<f64>)],
    n_bins: usize,
) -> String {
    let (min, width, counts) = bin_groups(groups, n_bins);
    let n_bins = n_bins.max(1);
    let shares: Vec<Vec<f64>> = counts
        .iter()
        .zip(groups)
        .map(|(counts, (_, values))| {
            let total = values.len().max(1) as f64;
            counts.iter().map(|count| count / total).collect()
        })
        .collect();
    let y_max = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let mut frame = Frame::new(
        title,
        x_label,
        "share of the group's rows",
        (min, min + width * n_bins as f64),
        (0.0, y_max),
    );
    frame.axes(true);
    for (group_idx, group_shares) in shares.iter().enumerate() {
        let color = PALETTE[group_idx % PALETTE.len()];
        let points: Vec<String> = group_shares
            .iter()
            .enumerate()
            .map(|(bin, share)| {
                format!(
                    "{:.1},{:.1}",
                    frame.px(min + (bin as f64 + 0.5) * width),
                    frame.py(*share)
                )
            })
            .collect();
        let _ = write!(
            frame.svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
    }
    let names: Vec<String> = groups
        .iter()
        .map(|(name, values)| format!("{name} (n={})", values.len()))
        .collect();
    frame.legend(&names);
    frame.finish()
}

/// Lines through points, e.g. ROC or calibration curves; `diagonal` adds the y = x reference.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> String {
    let mut frame = Frame::new(title, x_label, y_label, (0.0, 1.0), (0.0, 1.0));
    frame.axes(true);
    if diagonal {
        let _ = write!(
            frame.svg,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 4"/>"##,
            frame.px(0.0),
            frame.py(0.0),
            frame.px(1.0),
            frame.py(1.0)
        );
    }
    for (series_idx, (_, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", frame.px(*x), frame.py(*y)))
            .collect();
        let color = PALETTE[series_idx % PALETTE.len()];
        let _ = write!(
            frame.svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        if points.len() <= 20 {
            for (x, y) in points {
                let _ = write!(
                    frame.svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                    frame.px(*x),
                    frame.py(*y)
                );
            }
        }
    }
    let mut names: Vec<String> = series.iter().map(|(name, _)| name.clone()).collect();
    let mut colors: Vec<&str> = (0..names.len())
        .map(|idx| PALETTE[idx % PALETTE.len()])
        .collect();
    if diagonal {
        names.push("reference (y = x)".into());
        colors.push("#999999");
    }
    frame.legend_with(&names, &colors);
    frame.finish()
}

/// A labelled matrix of numbers coloured on a scale; used for correlations and confusion matrices.
///
/// `diverging` colours negative values orange and positive blue around zero (for correlations);
/// otherwise the scale runs from white at zero to blue at the maximum (for counts).
pub fn heatmap(
    title: &str,
    row_axis: &str,
    column_axis: &str,
    row_labels: &[String],
    column_labels: &[String],
    matrix: &[Vec<f64>],
    diverging: bool,
) -> String {
    let n_rows = row_labels.len().max(1);
    let n_columns = column_labels.len().max(1);
    // Few classes get large cells (a 2 × 2 confusion matrix must be readable at a glance).
    let cell = (420.0 / n_rows.max(n_columns) as f64).clamp(22.0, 120.0);
    let left = 150.0;
    let top = 60.0;
    // Wide enough for the title, which names the model and rule.
    let width =
        (left + cell * n_columns as f64 + 150.0).max(title.chars().count() as f64 * 9.5 + 40.0);
    let height = top + cell * n_rows as f64 + 120.0;
    let max_abs = matrix
        .iter()
        .flatten()
        .filter(|value| value.is_finite())
        .fold(0.0f64, |acc, value| acc.max(value.abs()))
        .max(1e-12);
    let scale_max = if diverging {
        1.0f64.max(max_abs)
    } else {
        max_abs
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    let color = |value: f64| -> String {
        if !value.is_finite() {
            return "#dddddd".into();
        }
        let t = (value.abs() / scale_max).clamp(0.0, 1.0);
        let (r, g, b) = if diverging && value < 0.0 {
            (213.0, 94.0, 0.0)
        } else {
            (0.0, 114.0, 178.0)
        };
        let mix = |channel: f64| (255.0 + (channel - 255.0) * t).round() as u8;
        format!("#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(b))
    };
    for (row_idx, row) in matrix.iter().enumerate() {
        for (column_idx, value) in row.iter().enumerate() {
            let x = left + column_idx as f64 * cell;
            let y = top + row_idx as f64 * cell;
            let text_color = if value.is_finite() && value.abs() / scale_max > 0.6 {
                "white"
            } else {
                "black"
            };
            let label = if value.is_finite() {
                format_tick((value * 100.0).round() / 100.0)
            } else {
                "–".into()
            };
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{}" stroke="white"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{text_color}" font-size="{:.0}">{label}</text>"#,
                color(*value),
                x + cell / 2.0,
                y + cell / 2.0 + 4.0,
                (cell / 3.2).clamp(8.0, 22.0)
            );
        }
    }
    for (row_idx, label) in row_labels.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            top + row_idx as f64 * cell + cell / 2.0 + 4.0,
            escape(label)
        );
    }
    let bottom = top + n_rows as f64 * cell;
    for (column_idx, label) in column_labels.iter().enumerate() {
        let x = left + column_idx as f64 * cell + cell / 2.0;
        let _ = write!(
            svg,
            r#"<text transform="translate({x:.1},{:.1}) rotate(-45)" text-anchor="end">{}</text>"#,
            bottom + 12.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle" font-size="12">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
        top + n_rows as f64 * cell / 2.0,
        escape(row_axis),
        left + n_columns as f64 * cell / 2.0,
        height - 10.0,
        escape(column_axis)
    );
    // Colour scale legend.
    let legend_x = left + n_columns as f64 * cell + 30.0;
    let steps = 10;
    let low = if diverging { -scale_max } else { 0.0 };
    for step in 0..=steps {
        let value = scale_max - (scale_max - low) * step as f64 / steps as f64;
        let _ = write!(
            svg,
            r#"<rect x="{legend_x:.1}" y="{:.1}" width="18" height="16" fill="{}"/>"#,
            top + step as f64 * 16.0,
            color(value)
        );
        if step % 5 == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                legend_x + 24.0,
                top + step as f64 * 16.0 + 12.0,
                format_tick((value * 100.0).round() / 100.0)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let unit = nice_ticks(0.0, 1.0);
        assert_eq!(unit.len(), 6);
        assert!((unit[3] - 0.6).abs() < 1e-9 && unit[5] == 1.0);
        let ticks = nice_ticks(3.0, 197.0);
        assert_eq!(ticks.first(), Some(&50.0));
        assert_eq!(ticks.last(), Some(&150.0));
    }

    #[test]
    fn charts_are_well_formed_svg_with_titles_and_legends() {
        let chart = histogram(
            "PL by class",
            "PL (mg/dL)",
            &[
                ("Negative".into(), vec![1.0, 2.0, 2.5]),
                ("Positive".into(), vec![3.0]),
            ],
            10,
        );
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        assert!(chart.contains("PL by class") && chart.contains("Positive (n=1)"));
        let bars = bar_chart(
            "balance",
            "class",
            "rows",
            &["a<b".into()],
            &[("rows".into(), vec![3.0])],
        );
        assert!(bars.contains("a&lt;b"));
        let map = heatmap(
            "corr",
            "f",
            "f",
            &["x".into()],
            &["x".into()],
            &[vec![f64::NAN]],
            true,
        );
        assert!(map.contains("–"));
    }
}
