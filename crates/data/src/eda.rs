//! Exploratory data analysis: summary statistics, a terminal table, and an HTML report with SVG plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use model::FeatureKind;
use model::stats::quantile;

use crate::DataError;
use crate::config::DatasetConfig;
use crate::findings::{Alert, Association};
use crate::load::Dataset;
use report::{escape, plot};

/// Summary statistics of one column; missing counts include configured zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// Feature kind.
    pub kind: FeatureKind,
    /// Non-missing values.
    pub count: usize,
    /// Missing values (empty, NA, or a configured zero).
    pub missing: usize,
    /// Mean of non-missing values.
    pub mean: f64,
    /// Sample standard deviation.
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Maximum.
    pub max: f64,
}

impl ColumnSummary {
    /// The statistics as display cells, in table order (after name and kind).
    fn cells(&self) -> [String; 9] {
        [
            self.count.to_string(),
            self.missing.to_string(),
            number(self.mean),
            number(self.std),
            number(self.min),
            number(self.q1),
            number(self.median),
            number(self.q3),
            number(self.max),
        ]
    }
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Dataset name.
    pub dataset: String,
    /// Source file.
    pub path: PathBuf,
    /// Rows after optional de-duplication.
    pub n_rows: usize,
    /// Rows read.
    pub n_rows_read: usize,
    /// Columns in the file.
    pub n_columns: usize,
    /// Exact duplicate rows found.
    pub n_duplicates: usize,
    /// Whether they were dropped.
    pub duplicates_dropped: bool,
    /// Class labels.
    pub classes: Vec<String>,
    /// Rows per class, when labelled.
    pub class_counts: Option<Vec<usize>>,
    /// Per-column statistics.
    pub columns: Vec<ColumnSummary>,
    /// `per_class_means[feature][class]`, when labelled.
    pub per_class_means: Option<Vec<Vec<f64>>>,
    /// Pearson correlations between features (pairwise complete rows).
    pub correlations: Vec<Vec<f64>>,
    /// Each feature's association with the target, strongest first (labelled files).
    pub associations: Vec<Association>,
    /// What to look at before modelling.
    pub alerts: Vec<Alert>,
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, variance.sqrt())
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
        .map(|(a, b)| (*a, *b))
        .collect();
    if pairs.len() < 3 {
        return f64::NAN;
    }
    let n = pairs.len() as f64;
    let mean_x = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in &pairs {
        sxy += (a - mean_x) * (b - mean_y);
        sxx += (a - mean_x) * (a - mean_x);
        syy += (b - mean_y) * (b - mean_y);
    }
    if sxx == 0.0 || syy == 0.0 {
        f64::NAN
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

impl Summary {
    /// Computes the summary of a loaded dataset.
    pub fn compute(config: &DatasetConfig, dataset: &Dataset) -> Self {
        // Columns with configured zeros turned into NaN, so statistics describe measurements.
        let columns: Vec<Vec<f64>> = dataset
            .features
            .iter()
            .enumerate()
            .map(|(feature_idx, spec)| {
                dataset
                    .raw
                    .column(feature_idx)
                    .iter()
                    .map(|v| if spec.is_missing(*v) { f64::NAN } else { *v })
                    .collect()
            })
            .collect();
        let summaries = dataset
            .features
            .iter()
            .zip(&columns)
            .map(|(spec, values)| {
                let mut present: Vec<f64> =
                    values.iter().copied().filter(|v| !v.is_nan()).collect();
                present.sort_by(f64::total_cmp);
                let (mean, std) = mean_std(&present);
                ColumnSummary {
                    name: spec.name.clone(),
                    kind: spec.kind,
                    count: present.len(),
                    missing: values.len() - present.len(),
                    mean,
                    std,
                    min: present.first().copied().unwrap_or(f64::NAN),
                    q1: quantile(&present, 0.25),
                    median: quantile(&present, 0.5),
                    q3: quantile(&present, 0.75),
                    max: present.last().copied().unwrap_or(f64::NAN),
                }
            })
            .collect();
        let n_classes = config.classes.len();
        let class_counts = dataset
            .target
            .as_ref()
            .map(|_| dataset.class_counts(n_classes));
        let per_class_means = dataset.target.as_ref().map(|target| {
            columns
                .iter()
                .map(|values| {
                    (0..n_classes)
                        .map(|class_idx| {
                            let in_class: Vec<f64> = values
                                .iter()
                                .zip(target)
                                .filter(|(v, t)| **t == class_idx && !v.is_nan())
                                .map(|(v, _)| *v)
                                .collect();
                            mean_std(&in_class).0
                        })
                        .collect()
                })
                .collect()
        });
        let correlations: Vec<Vec<f64>> = columns
            .iter()
            .map(|a| columns.iter().map(|b| pearson(a, b)).collect())
            .collect();
        let associations =
            crate::findings::associations(dataset, n_classes, config.positive_class_idx());
        let alerts = crate::findings::alerts(dataset, &correlations, &associations);
        Summary {
            dataset: config.name.clone(),
            path: dataset.path.clone(),
            n_rows: dataset.n_rows(),
            n_rows_read: dataset.n_rows_read,
            n_columns: dataset.columns_found.len(),
            n_duplicates: dataset.n_duplicates,
            duplicates_dropped: dataset.duplicates_dropped,
            classes: config.classes.clone(),
            class_counts,
            columns: summaries,
            per_class_means,
            correlations,
            associations,
            alerts,
        }
    }

    /// A plain-text summary for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "dataset `{}` from `{}`",
            self.dataset,
            self.path.display()
        );
        let _ = writeln!(
            out,
            "rows: {} ({} read, {} exact duplicates{}), columns: {}",
            self.n_rows,
            self.n_rows_read,
            self.n_duplicates,
            if self.duplicates_dropped {
                " dropped"
            } else {
                " kept"
            },
            self.n_columns
        );
        match &self.class_counts {
            Some(counts) => {
                let total: usize = counts.iter().sum();
                let balance: Vec<String> = self
                    .classes
                    .iter()
                    .zip(counts)
                    .map(|(class, count)| {
                        format!(
                            "{class}: {count} ({:.1}%)",
                            100.0 * *count as f64 / total.max(1) as f64
                        )
                    })
                    .collect();
                let _ = writeln!(out, "class balance: {}", balance.join(", "));
            }
            None => {
                let _ = writeln!(out, "class balance: unlabelled file");
            }
        }
        let name_width = self
            .columns
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "{:<name_width$} {:>11} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "column", "kind", "count", "missing", "mean", "std", "min", "25%", "50%", "75%", "max"
        );
        for column in &self.columns {
            let cells = column.cells();
            let _ = write!(
                out,
                "{:<name_width$} {:>11} {:>6} {:>7}",
                column.name,
                column.kind.as_str(),
                cells[0],
                cells[1]
            );
            for cell in &cells[2..] {
                let _ = write!(out, " {cell:>10}");
            }
            out.push('\n');
        }
        for alert in &self.alerts {
            let _ = writeln!(
                out,
                "alert: {}: {}: {}",
                alert.kind.as_str(),
                alert.subject,
                alert.detail
            );
        }
        out
    }

    /// Writes `report.html` and `plots/*.svg` into `out_dir`; returns the report's path.
    pub fn write_report(&self, dataset: &Dataset, out_dir: &Path) -> Result<PathBuf, DataError> {
        let plots_dir = out_dir.join("plots");
        std::fs::create_dir_all(&plots_dir).map_err(|source| DataError::Write {
            path: plots_dir.clone(),
            source,
        })?;
        let write = |name: &str, contents: &str| -> Result<(), DataError> {
            let path = out_dir.join(name);
            std::fs::write(&path, contents).map_err(|source| DataError::Write { path, source })
        };
        let mut html = String::new();
        let _ = write!(
            html,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>EDA: {name}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f3f3f3}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%;border:1px solid #eee;margin:.5em 0}}.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:1em}}</style></head><body><h1>Exploratory analysis: {name}</h1>",
            name = escape(&self.dataset)
        );
        let _ = write!(
            html,
            "<p>Source: <code>{}</code>. Rows: <b>{}</b> ({} read; {} exact duplicate rows, {}). Columns in file: {}.</p>",
            escape(&self.path.display().to_string()),
            self.n_rows,
            self.n_rows_read,
            self.n_duplicates,
            if self.duplicates_dropped {
                "dropped as configured"
            } else {
                "kept"
            },
            self.n_columns
        );
        let _ = write!(
            html,
            "<p>Missing counts treat configured zeros (physiologically impossible values) as missing.</p>"
        );

        // Class balance.
        if let Some(counts) = &self.class_counts {
            let svg = plot::bar_chart(
                &format!("{}: class balance", self.dataset),
                "class",
                "rows",
                &self.classes,
                &[("rows".into(), counts.iter().map(|c| *c as f64).collect())],
            );
            write("plots/class_balance.svg", &svg)?;
            let _ = write!(
                html,
                "<h2>Class balance</h2><table><tr><th>class</th><th>rows</th><th>share</th></tr>"
            );
            let total: usize = counts.iter().sum();
            for (class, count) in self.classes.iter().zip(counts) {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{count}</td><td>{:.1}%</td></tr>",
                    escape(class),
                    100.0 * *count as f64 / total.max(1) as f64
                );
            }
            let _ = write!(
                html,
                "</table><img src=\"plots/class_balance.svg\" alt=\"class balance bar chart\">"
            );
        }

        self.findings_html(&mut html);

        // Column statistics.
        let _ = write!(
            html,
            "<h2>Columns</h2><table><tr><th>column</th><th>kind</th><th>count</th><th>missing</th><th>mean</th><th>std</th><th>min</th><th>25%</th><th>50%</th><th>75%</th><th>max</th></tr>"
        );
        for column in &self.columns {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td>",
                escape(&column.name),
                column.kind.as_str()
            );
            for cell in column.cells() {
                let _ = write!(html, "<td>{cell}</td>");
            }
            html.push_str("</tr>");
        }
        let _ = write!(html, "</table>");

        // Missing values.
        let names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        let missing_share: Vec<f64> = self
            .columns
            .iter()
            .map(|c| {
                (100.0 * c.missing as f64 / (c.count + c.missing).max(1) as f64 * 10.0).round()
                    / 10.0
            })
            .collect();
        write(
            "plots/missing_values.svg",
            &plot::bar_chart(
                &format!("{}: missing values per column", self.dataset),
                "column",
                "missing (% of rows)",
                &names,
                &[("missing %".into(), missing_share)],
            ),
        )?;
        let _ = write!(
            html,
            "<h2>Missing values</h2><img src=\"plots/missing_values.svg\" alt=\"missing values per column\">"
        );

        // Per-class means.
        if let Some(means) = &self.per_class_means {
            let _ = write!(html, "<h2>Per-class means</h2><table><tr><th>column</th>");
            for class in &self.classes {
                let _ = write!(html, "<th>{}</th>", escape(class));
            }
            let _ = write!(html, "</tr>");
            for (column, class_means) in self.columns.iter().zip(means) {
                let _ = write!(html, "<tr><td>{}</td>", escape(&column.name));
                for mean in class_means {
                    // The mean of category codes means nothing; categories are counted below.
                    let cell = if column.kind == FeatureKind::Categorical {
                        "–".to_owned()
                    } else {
                        number(*mean)
                    };
                    let _ = write!(html, "<td>{cell}</td>");
                }
                let _ = write!(html, "</tr>");
            }
            let _ = write!(html, "</table>");
        }

        // Correlations.
        write(
            "plots/correlation_heatmap.svg",
            &plot::heatmap(
                &format!("{}: Pearson correlation", self.dataset),
                "feature",
                "feature",
                &names,
                &names,
                &self.correlations,
                true,
            ),
        )?;
        let _ = write!(html, "<h2>Correlation matrix</h2><table><tr><th></th>");
        for name in &names {
            let _ = write!(html, "<th>{}</th>", escape(name));
        }
        let _ = write!(html, "</tr>");
        for (name, row) in names.iter().zip(&self.correlations) {
            let _ = write!(html, "<tr><td>{}</td>", escape(name));
            for value in row {
                let _ = write!(
                    html,
                    "<td>{}</td>",
                    if value.is_nan() {
                        "–".into()
                    } else {
                        format!("{value:.2}")
                    }
                );
            }
            let _ = write!(html, "</tr>");
        }
        let _ = write!(
            html,
            "</table><img src=\"plots/correlation_heatmap.svg\" alt=\"correlation heatmap\">"
        );

        // Histograms per feature, split by class.
        let _ = write!(html, "<h2>Distributions by class</h2><div class=\"grid\">");
        for (feature_idx, spec) in dataset.features.iter().enumerate() {
            let values: Vec<(f64, Option<usize>)> = dataset
                .raw
                .column(feature_idx)
                .iter()
                .enumerate()
                .map(|(row_idx, v)| (*v, dataset.target.as_ref().map(|t| t[row_idx])))
                .filter(|(v, _)| !spec.is_missing(*v))
                .collect();
            let groups: Vec<(String, Vec<f64>)> = match &dataset.target {
                Some(_) => self
                    .classes
                    .iter()
                    .enumerate()
                    .map(|(class_idx, class)| {
                        (
                            class.clone(),
                            values
                                .iter()
                                .filter(|(_, t)| *t == Some(class_idx))
                                .map(|(v, _)| *v)
                                .collect(),
                        )
                    })
                    .filter(|(_, v): &(String, Vec<f64>)| !v.is_empty())
                    .collect(),
                None => vec![("all rows".into(), values.iter().map(|(v, _)| *v).collect())],
            };
            let x_label = match &spec.unit {
                Some(unit) if !unit.is_empty() => format!("{} ({unit})", spec.name),
                _ => spec.name.clone(),
            };
            let file = format!("plots/hist_{}.svg", slug(&spec.name));
            let chart = match spec.kind {
                // Categories and 0/1 flags are counted per value: a bar per class in each group.
                FeatureKind::Categorical | FeatureKind::Binary => {
                    let labels: Vec<String> = if spec.kind == FeatureKind::Binary {
                        vec!["0".into(), "1".into()]
                    } else {
                        spec.categories.clone()
                    };
                    let series: Vec<(String, Vec<f64>)> = groups
                        .iter()
                        .map(|(group, values)| {
                            let mut counts = vec![0.0; labels.len()];
                            for value in values {
                                if let Some(count) = counts.get_mut(*value as usize) {
                                    *count += 1.0;
                                }
                            }
                            (format!("{group} (n={})", values.len()), counts)
                        })
                        .collect();
                    plot::bar_chart(
                        &format!("{} by class", spec.name),
                        &x_label,
                        "rows",
                        &labels,
                        &series,
                    )
                }
                // Shares per class, not counts: a rare class is as visible as a common one.
                FeatureKind::Numeric | FeatureKind::Integer if dataset.target.is_some() => {
                    plot::distribution_lines(
                        &format!("{}: distribution within each class", spec.name),
                        &x_label,
                        &groups,
                        20,
                    )
                }
                FeatureKind::Numeric | FeatureKind::Integer => {
                    plot::histogram(&spec.name, &x_label, &groups, 20)
                }
            };
            write(&file, &chart)?;
            let _ = write!(
                html,
                "<div><img src=\"{file}\" alt=\"histogram of {}\"><br><small>{}</small></div>",
                escape(&spec.name),
                escape(&spec.description)
            );
        }
        let _ = writeln!(html, "</div></body></html>");
        write("report.html", &html)?;
        Ok(out_dir.join("report.html"))
    }
}

impl Summary {
    /// The alerts and the association of each feature with the target, as HTML sections.
    fn findings_html(&self, html: &mut String) {
        html.push_str("<h2>Alerts</h2>");
        if self.alerts.is_empty() {
            html.push_str("<p>None.</p>");
        } else {
            html.push_str("<table><tr><th>alert</th><th>about</th><th>detail</th></tr>");
            for alert in &self.alerts {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    alert.kind.as_str(),
                    escape(&alert.subject),
                    escape(&alert.detail)
                );
            }
            html.push_str("</table>");
        }
        if self.associations.is_empty() {
            return;
        }
        html.push_str("<h2>Association with the target</h2><p>Each feature on its own, strongest first: for a binary target the ROC-AUC of the feature's values as a score (direction-free, 0.5 = none), Cramér's V for categorical and 0/1 features, the correlation ratio η for numeric features of a multiclass target (0 = none, 1 = the feature alone separates the classes). Above 0.95 the alerts suspect leakage.</p><table><tr><th>feature</th><th>measure</th><th>value</th><th>records</th></tr>");
        for association in &self.associations {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&association.feature),
                association.measure.as_str(),
                if association.value.is_finite() {
                    format!("{:.3}", association.value)
                } else {
                    "–".into()
                },
                association.n
            );
        }
        html.push_str("</table>");
    }
}

/// A file-name-safe version of a column name (`fixed acidity` → `fixed_acidity`).
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                ch.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "–".into()
    } else if value.abs() >= 1000.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_is_one_for_a_line_and_skips_missing() {
        let r = pearson(&[1.0, 2.0, f64::NAN, 4.0], &[2.0, 4.0, 5.0, 8.0]);
        assert!((r - 1.0).abs() < 1e-12);
        assert_eq!(slug("fixed acidity"), "fixed_acidity");
    }
}
