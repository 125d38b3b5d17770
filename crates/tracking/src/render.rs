//! Tables of runs for a person at a terminal: `train runs list`, `show` and `compare`. Each
//! fits the width it is given, dropping the least important columns first and shortening
//! long text with an ellipsis; `--json` gives scripts everything.

use std::fmt::Write as _;

use crate::{ModelRecord, RunDetail, RunSummary};

/// A table column: header, whether it may be shortened, and its cells.
struct Column {
    header: &'static str,
    /// Lower is dropped first when the table is too wide.
    priority: u8,
    /// Free text (names) that may be cut with an ellipsis rather than dropped.
    shrinkable: bool,
    cells: Vec<String>,
}

impl Column {
    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|cell| cell.chars().count())
            .chain([self.header.len()])
            .max()
            .unwrap_or(0)
    }
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Lays out columns within `width` characters (two spaces between columns).
fn table(mut columns: Vec<Column>, width: usize) -> String {
    let total = |columns: &[Column]| -> usize {
        columns.iter().map(Column::width).sum::<usize>() + 2 * columns.len().saturating_sub(1)
    };
    while total(&columns) > width && columns.len() > 1 {
        let shrink = columns
            .iter()
            .enumerate()
            .filter(|(_, column)| column.shrinkable && column.width() > 12)
            .max_by_key(|(_, column)| column.width())
            .map(|(idx, _)| idx);
        if let Some(idx) = shrink {
            let excess = total(&columns) - width;
            let target = columns[idx].width().saturating_sub(excess).max(12);
            for cell in &mut columns[idx].cells {
                *cell = shorten(cell, target);
            }
            continue;
        }
        let drop = columns
            .iter()
            .enumerate()
            .min_by_key(|(idx, column)| (column.priority, usize::MAX - idx))
            .map(|(idx, _)| idx)
            .unwrap_or(0);
        columns.remove(drop);
    }
    let widths: Vec<usize> = columns.iter().map(Column::width).collect();
    let rows = columns
        .first()
        .map(|column| column.cells.len())
        .unwrap_or(0);
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(
        columns.iter().map(|column| column.header).collect(),
        &mut out,
    );
    for row in 0..rows {
        line(
            columns
                .iter()
                .map(|column| column.cells[row].as_str())
                .collect(),
            &mut out,
        );
    }
    out
}

/// `YYYY-MM-DD HH:MM` in UTC from milliseconds since the epoch.
pub fn utc(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

fn duration(summary: &RunSummary) -> String {
    match summary.ended_at_ms {
        Some(end) => format!("{:.1} s", (end - summary.started_at_ms) as f64 / 1000.0),
        None => "-".into(),
    }
}

fn score(summary: &RunSummary) -> String {
    match (&summary.ranking_metric, summary.ranking_value) {
        (Some(metric), Some(value)) => format!("{metric} {value:.4}"),
        _ => "-".into(),
    }
}

/// `train runs list`: one line per run, most recent first.
pub fn list(runs: &[RunSummary], width: usize) -> String {
    if runs.is_empty() {
        return "no runs recorded yet\n".into();
    }
    let cells = |f: &dyn Fn(&RunSummary) -> String| runs.iter().map(f).collect::<Vec<_>>();
    let columns = vec![
        Column {
            header: "RUN",
            priority: 9,
            shrinkable: false,
            cells: cells(&|run| short_id(&run.run_id)),
        },
        Column {
            header: "STARTED (UTC)",
            priority: 8,
            shrinkable: false,
            cells: cells(&|run| utc(run.started_at_ms)),
        },
        Column {
            header: "DATASET",
            priority: 7,
            shrinkable: true,
            cells: cells(&|run| run.dataset.clone()),
        },
        Column {
            header: "STATUS",
            priority: 6,
            shrinkable: false,
            cells: cells(&|run| run.status.name().into()),
        },
        Column {
            header: "MODEL",
            priority: 5,
            shrinkable: true,
            cells: cells(&|run| run.chosen_model.clone().unwrap_or_else(|| "-".into())),
        },
        Column {
            header: "CV SCORE",
            priority: 5,
            shrinkable: false,
            cells: cells(&score),
        },
        Column {
            header: "TOOK",
            priority: 2,
            shrinkable: false,
            cells: cells(&duration),
        },
        Column {
            header: "VERSION",
            priority: 3,
            shrinkable: false,
            cells: cells(&|run| {
                run.registry_version
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "-".into())
            }),
        },
        Column {
            header: "ARTIFACT",
            priority: 1,
            shrinkable: false,
            cells: cells(&|run| {
                run.artifact_sha256
                    .as_deref()
                    .map(short_id)
                    .unwrap_or_else(|| "-".into())
            }),
        },
    ];
    table(columns, width)
}

fn mean_std(model: &ModelRecord, metric: &str) -> String {
    match model.summary(metric) {
        Some((mean, std)) => format!("{mean:.4} ± {std:.4}"),
        None => "-".into(),
    }
}

/// `train runs show RUN`: provenance, the leaderboard and the files.
pub fn show(run: &RunDetail, width: usize) -> String {
    let summary = &run.summary;
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(
            out,
            "{name:<15} {}",
            shorten(&value, width.saturating_sub(16).max(20))
        );
    };
    field("run", summary.run_id.clone());
    field("dataset", summary.dataset.clone());
    field("status", summary.status.name().into());
    field("started (UTC)", utc(summary.started_at_ms));
    field("took", duration(summary));
    field("data", run.provenance.dataset_path.clone());
    field("data sha256", run.provenance.dataset_sha256.clone());
    field("seed", run.provenance.seed.to_string());
    field(
        "git commit",
        run.provenance
            .git_commit
            .clone()
            .unwrap_or_else(|| "-".into()),
    );
    field("command", run.provenance.arguments.join(" "));
    field(
        "artifact",
        summary
            .artifact_sha256
            .clone()
            .unwrap_or_else(|| "-".into()),
    );
    field(
        "registry",
        summary
            .registry_version
            .map(|v| format!("version {v}"))
            .unwrap_or_else(|| "not registered".into()),
    );
    if let Some(error) = &run.error {
        field("error", error.clone());
    }
    let metric = summary.ranking_metric.clone().unwrap_or_default();
    if !run.models.is_empty() {
        out.push('\n');
        let models = &run.models;
        let header: &'static str = "CV (mean ± std)";
        let chosen = summary.chosen_model.as_deref();
        out.push_str(&table(
            vec![
                Column {
                    header: "MODEL",
                    priority: 9,
                    shrinkable: true,
                    cells: models
                        .iter()
                        .map(|m| {
                            format!(
                                "{}{}",
                                m.model,
                                if Some(m.model.as_str()) == chosen {
                                    " (chosen)"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect(),
                },
                Column {
                    header: "METRIC",
                    priority: 8,
                    shrinkable: false,
                    cells: models.iter().map(|_| metric.clone()).collect(),
                },
                Column {
                    header,
                    priority: 8,
                    shrinkable: false,
                    cells: models.iter().map(|m| mean_std(m, &metric)).collect(),
                },
                Column {
                    header: "FOLDS",
                    priority: 2,
                    shrinkable: false,
                    cells: models
                        .iter()
                        .map(|m| {
                            m.fold_metrics
                                .first()
                                .map(|(_, v)| v.len())
                                .unwrap_or(0)
                                .to_string()
                        })
                        .collect(),
                },
                Column {
                    header: "PARAMS",
                    priority: 1,
                    shrinkable: true,
                    cells: models
                        .iter()
                        .map(|m| {
                            m.params
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .collect(),
                },
            ],
            width,
        ));
    }
    for evaluation in &run.evaluations {
        let _ = writeln!(
            out,
            "evaluated       {} on {} ({} records)",
            utc(evaluation.created_at_ms),
            shorten(&evaluation.input_path, width.saturating_sub(50).max(20)),
            evaluation.n_records
        );
    }
    if !run.files.is_empty() {
        out.push('\n');
        let files: Vec<String> = run
            .files
            .iter()
            .map(|file| format!("{} ({} B)", file.path, file.bytes))
            .collect();
        let _ = writeln!(out, "files: {}", files.join(", "));
    }
    out
}

/// `train runs compare A B`: provenance and the chosen models' metrics side by side.
pub fn compare(first: &RunDetail, second: &RunDetail, width: usize) -> String {
    fn or_dash(value: Option<String>) -> String {
        value.unwrap_or_else(|| "-".into())
    }
    /// A row's label and how to read its value from a run.
    type Field = (&'static str, fn(&RunDetail) -> String);
    // What identifies a run's inputs and result, each shown for both runs.
    let provenance: [Field; 8] = [
        ("run", |run| short_id(&run.summary.run_id)),
        ("dataset", |run| run.summary.dataset.clone()),
        ("data sha256", |run| {
            short_id(&run.provenance.dataset_sha256)
        }),
        ("seed", |run| run.provenance.seed.to_string()),
        ("config", |run| {
            short_id(&crate::sha256_hex(run.provenance.config.as_bytes()))
        }),
        ("git commit", |run| {
            or_dash(run.provenance.git_commit.as_deref().map(short_id))
        }),
        ("chosen model", |run| {
            or_dash(run.summary.chosen_model.clone())
        }),
        ("artifact", |run| {
            or_dash(run.summary.artifact_sha256.as_deref().map(short_id))
        }),
    ];
    let mut rows: Vec<[String; 4]> = provenance
        .iter()
        .map(|(name, value)| {
            let (a, b) = (value(first), value(second));
            let note = match (*name, a == b) {
                ("run", _) => "",
                (_, true) => "same",
                (_, false) => "differs",
            };
            [(*name).to_owned(), a, b, note.to_owned()]
        })
        .collect();
    let metrics: Vec<String> = first
        .chosen()
        .map(|model| {
            model
                .fold_metrics
                .iter()
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    let cell = |summary: Option<(f64, f64)>| {
        or_dash(summary.map(|(mean, std)| format!("{mean:.4} ± {std:.4}")))
    };
    for metric in metrics {
        let a = first.chosen().and_then(|model| model.summary(&metric));
        let b = second.chosen().and_then(|model| model.summary(&metric));
        let delta = match (a, b) {
            (Some((a, _)), Some((b, _))) => format!("{:+.4}", b - a),
            _ => String::new(),
        };
        rows.push([format!("cv {metric}"), cell(a), cell(b), delta]);
    }
    let column = |header: &'static str, priority: u8, idx: usize| Column {
        header,
        priority,
        shrinkable: true,
        cells: rows.iter().map(|row| row[idx].clone()).collect(),
    };
    table(
        vec![
            column("", 9, 0),
            column("A", 8, 1),
            column("B", 8, 2),
            column("B - A", 5, 3),
        ],
        width,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunStatus;

    fn summary(run_id: &str) -> RunSummary {
        RunSummary {
            run_id: run_id.into(),
            dataset: "a_dataset_with_a_rather_long_descriptive_name".into(),
            status: RunStatus::Finished,
            started_at_ms: 1_796_219_340_000,
            ended_at_ms: Some(1_796_219_342_500),
            chosen_model: Some("gradient_boosting".into()),
            ranking_metric: Some("roc_auc".into()),
            ranking_value: Some(0.8312),
            artifact_sha256: Some("0123456789abcdef".into()),
            registry_version: Some(3),
        }
    }

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(utc(1_796_219_340_000), "2026-12-02 13:49");
    }

    #[test]
    fn list_fits_every_width_by_shortening_then_dropping_columns() {
        let runs = vec![summary("aaaaaaaa11112222"), summary("bbbbbbbb33334444")];
        for width in [40, 60, 80, 100, 200] {
            let text = list(&runs, width);
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            assert!(
                text.contains("aaaaaaaa"),
                "the run id is never dropped: {text}"
            );
        }
        let wide = list(&runs, 200);
        assert!(
            wide.contains("roc_auc 0.8312") && wide.contains("v3") && wide.contains("2.5 s"),
            "{wide}"
        );
        assert!(!list(&runs, 60).contains("ARTIFACT"));
    }
}
