//! Loader behaviour on the project's own fixtures: quirks that must load, errors that must name
//! the file, line, column and value.

use std::path::{Path, PathBuf};

use data::eda::Summary;
use data::{DataError, DatasetConfig, Labels, LoadOptions, RangePolicy, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn config() -> DatasetConfig {
    DatasetConfig::load(&fixture("toy.toml")).unwrap()
}

fn load_error(name: &str, labels: Labels) -> String {
    let error = load(&config(), &fixture(name), labels).unwrap_err();
    let text = error.to_string();
    assert!(text.contains(name), "error does not name the file: {text}");
    text
}

#[test]
fn good_file_loads_with_zeros_kept_and_na_as_missing() {
    let dataset = load(&config(), &fixture("good.csv"), Labels::Required).unwrap();
    assert_eq!(dataset.n_rows(), 80);
    assert_eq!(dataset.raw.ncols(), 4);
    let glucose = dataset.raw.column(0);
    assert!(glucose.iter().any(|value| *value == 0.0), "zeros stay raw");
    assert!(
        dataset.raw.column(1).iter().any(|value| value.is_nan()),
        "NA is missing"
    );
    assert_eq!(
        dataset.features[3].categories,
        vec!["east", "north", "south"]
    );
    assert_eq!(dataset.lines[0], 2);
    let target = dataset.target.as_ref().unwrap();
    assert_eq!(target.len(), 80);
    assert_eq!(dataset.ids.as_ref().unwrap()[0], "P0000");
    let (min, _) = dataset.features[0].training_range.unwrap();
    assert!(
        min > 0.0,
        "configured zeros do not count towards the training range"
    );
}

#[test]
fn bom_cr_only_and_crlf_files_load_identically() {
    let reference = load(&config(), &fixture("good.csv"), Labels::Required).unwrap();
    for name in ["bom_cr.csv", "crlf.csv"] {
        let dataset = load(&config(), &fixture(name), Labels::Required).unwrap();
        assert_eq!(dataset.n_rows(), reference.n_rows(), "{name}");
        assert_eq!(dataset.columns_found, reference.columns_found, "{name}");
        assert_eq!(dataset.target, reference.target, "{name}");
        for (a, b) in dataset.raw.iter().zip(reference.raw.iter()) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{name}");
        }
        assert_eq!(dataset.lines, reference.lines, "{name}");
    }
}

#[test]
fn unlabelled_file_loads_for_scoring_but_not_for_training() {
    let dataset = load(&config(), &fixture("unlabelled.csv"), Labels::Optional).unwrap();
    assert_eq!(dataset.n_rows(), 20);
    assert!(dataset.target.is_none());
    let text = load_error("unlabelled.csv", Labels::Required);
    assert!(text.contains("no target column `outcome`"), "{text}");
}

#[test]
fn bad_number_names_line_column_and_rule_but_the_value_only_on_request() {
    let text = load_error("bad_number_line57.csv", Labels::Required);
    assert!(text.contains("line 57"), "{text}");
    assert!(text.contains("column `glucose`"), "{text}");
    assert!(text.contains("expected a number"), "{text}");
    assert!(!text.contains("12x"), "a cell value in an error: {text}");
    let shown = load(
        &config(),
        &fixture("bad_number_line57.csv"),
        LoadOptions {
            labels: Labels::Required,
            show_values: true,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(shown.contains("invalid value `12x`"), "{shown}");
}

#[test]
fn missing_column_lists_expected_and_found() {
    let text = load_error("missing_column.csv", Labels::Required);
    assert!(text.contains("missing column(s) `body mass`"), "{text}");
    assert!(text.contains("found `pid`, `glucose`, `smoker`"), "{text}");
}

#[test]
fn label_problems_name_the_line() {
    let text = load_error("unknown_label.csv", Labels::Required);
    assert!(
        text.contains("line 5") && !text.contains("maybe") && text.contains("`no`, `yes`"),
        "{text}"
    );
    let text = load_error("missing_label.csv", Labels::Required);
    assert!(
        text.contains("line 8") && text.contains("missing class label"),
        "{text}"
    );
}

#[test]
fn structural_problems_are_errors_not_panics() {
    let text = load_error("duplicate_column.csv", Labels::Required);
    assert!(text.contains("`glucose` appears twice"), "{text}");
    assert!(load_error("header_only.csv", Labels::Required).contains("no data rows"));
    assert!(load_error("empty.csv", Labels::Required).contains("is empty"));
    let text = load_error("short_row.csv", Labels::Required);
    assert!(
        text.contains("line 4") && text.contains("5 fields, expected 7"),
        "{text}"
    );
    let error = load(&config(), &fixture("does_not_exist.csv"), Labels::Required).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }));
    assert!(error.to_string().contains("does_not_exist.csv"));
}

#[test]
fn out_of_range_warns_or_fails_by_policy() {
    let dataset = load(&config(), &fixture("out_of_range.csv"), Labels::Required).unwrap();
    assert!(
        dataset
            .warnings
            .iter()
            .any(|w| w.contains("line 3") && w.contains("`glucose`")),
        "{:?}",
        dataset.warnings
    );
    let mut strict = config();
    strict.on_out_of_range = RangePolicy::Error;
    let text = load(&strict, &fixture("out_of_range.csv"), Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("line 3")
            && text.contains("outside the accepted range")
            && !text.contains("999"),
        "{text}"
    );
    assert!(dataset_warnings_hide_values(), "warnings quote no value");
}

#[test]
fn duplicates_are_counted_and_dropped_when_configured() {
    let kept = load(&config(), &fixture("duplicates.csv"), Labels::Required).unwrap();
    assert_eq!((kept.n_rows(), kept.n_duplicates), (12, 2));
    let mut dedup = config();
    dedup.drop_duplicates = true;
    let dropped = load(&dedup, &fixture("duplicates.csv"), Labels::Required).unwrap();
    assert_eq!((dropped.n_rows(), dropped.n_duplicates), (10, 2));
    assert!(dropped.duplicates_dropped);
    // With the repeats moved between the rows they repeat, the rows kept are the first of
    // each, in file order, with their lines and labels.
    let text = std::fs::read_to_string(fixture("duplicates.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let repeats = lines.split_off(lines.len() - 2);
    lines.splice(4..4, repeats);
    let folder = tempfile::tempdir().unwrap();
    let moved = folder.path().join("moved.csv");
    std::fs::write(&moved, lines.join("\n")).unwrap();
    let kept = load(&config(), &moved, Labels::Required).unwrap();
    let dropped = load(&dedup, &moved, Labels::Required).unwrap();
    assert_eq!((dropped.n_rows(), dropped.n_duplicates), (10, 2));
    let duplicate = kept.duplicate_rows();
    assert!(duplicate[3] && duplicate[6], "{duplicate:?}");
    let first_of_each = |dataset: &data::Dataset, keep: &dyn Fn(usize) -> bool| {
        (0..dataset.n_rows())
            .filter(|row_idx| keep(*row_idx))
            .map(|row_idx| {
                let cells: Vec<u64> = dataset
                    .raw
                    .row(row_idx)
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                let label = dataset.target.as_ref().map(|target| target[row_idx]);
                (cells, label, dataset.lines[row_idx])
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        first_of_each(&dropped, &|_| true),
        first_of_each(&kept, &|row_idx| !duplicate[row_idx])
    );
}

#[test]
fn duplicate_rows_match_a_set_of_whole_rows() {
    // Rows drawn from a few values each (missing, both zeros, a number) so that many repeat;
    // the target tells apart rows whose features agree.
    let mut dataset = load(&config(), &fixture("good.csv"), Labels::Required).unwrap();
    let n_columns = dataset.raw.ncols();
    let values = [f64::NAN, 0.0, -0.0, 1.5];
    let mut state = 11u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    let n_rows = 3_000;
    dataset.raw = ndarray::Array2::from_shape_fn((n_rows, n_columns), |_| {
        values[next(3) + usize::from(next(4) == 0)]
    });
    dataset.target = Some((0..n_rows).map(|_| next(2)).collect());
    let mut seen = std::collections::HashSet::new();
    let expected: Vec<bool> = (0..n_rows)
        .map(|row| {
            let mut key: Vec<u64> = dataset
                .raw
                .row(row)
                .iter()
                .map(|value| match value {
                    v if v.is_nan() => u64::MAX,
                    v if *v == 0.0 => 0,
                    v => v.to_bits(),
                })
                .collect();
            key.push(dataset.target.as_ref().unwrap()[row] as u64);
            !seen.insert(key)
        })
        .collect();
    let found = dataset.duplicate_rows();
    assert!(expected.iter().filter(|duplicate| **duplicate).count() > 100);
    assert!(expected.iter().any(|duplicate| !duplicate));
    assert_eq!(found, expected);
}

#[test]
fn eda_report_has_tables_and_every_plot() {
    let dataset = load(&config(), &fixture("good.csv"), Labels::Required).unwrap();
    let summary = Summary::compute(&config(), &dataset);
    let text = summary.to_text();
    assert!(
        text.contains("rows: 80") && text.contains("glucose"),
        "{text}"
    );
    let glucose = &summary.columns[0];
    assert_eq!(glucose.count + glucose.missing, 80);
    assert!(glucose.missing > 0, "configured zeros count as missing");
    let out = tempfile::tempdir().unwrap();
    let report = summary.write_report(&dataset, out.path()).unwrap();
    let html = std::fs::read_to_string(report).unwrap();
    for needle in [
        "Class balance",
        "Per-class means",
        "Correlation matrix",
        "plots/hist_body_mass.svg",
    ] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
    for plot in [
        "class_balance",
        "missing_values",
        "correlation_heatmap",
        "hist_glucose",
        "hist_ward",
    ] {
        let svg = std::fs::read_to_string(out.path().join(format!("plots/{plot}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text"), "{plot}");
    }
}

#[test]
fn shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    for name in ["sepsis.toml", "heart_failure.toml", "wine_quality.toml"] {
        let config = DatasetConfig::load(&root.join(name)).unwrap();
        assert!(!config.features.is_empty(), "{name}");
    }
}

fn dataset_warnings_hide_values() -> bool {
    let dataset = load(&config(), &fixture("out_of_range.csv"), Labels::Required).unwrap();
    dataset
        .warnings
        .iter()
        .all(|warning| !warning.contains("999"))
}

#[test]
fn header_names_with_spaces_around_them_are_trimmed() {
    let text = std::fs::read_to_string(fixture("good.csv")).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let spaced = format!("{}\n{rows}", header.replace(',', " , "));
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("spaced.csv");
    std::fs::write(&path, spaced).unwrap();
    let dataset = load(&config(), &path, Labels::Required).unwrap();
    let reference = load(&config(), &fixture("good.csv"), Labels::Required).unwrap();
    assert_eq!(dataset.n_rows(), reference.n_rows());
    assert!(
        dataset
            .raw
            .iter()
            .zip(reference.raw.iter())
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
    );
}

#[test]
fn a_stray_quote_is_an_error_naming_its_line() {
    let text = std::fs::read_to_string(fixture("good.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[9] = format!("\"{}", lines[9]);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("quote.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let error = load(&config(), &path, Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 10") && error.contains("never closed"),
        "{error}"
    );
}

#[test]
fn eda_alerts_name_a_leaking_feature_and_zeros_meaning_missing() {
    use data::findings::{AlertKind, Measure};
    // `body mass` separates the classes perfectly; `glucose` has zeros meaning not measured.
    let mut csv = String::from("pid,glucose,body mass,smoker,ward,followup,outcome\n");
    for row in 0..40 {
        let sick = row % 2 == 0;
        let glucose = if row % 5 == 0 { 0 } else { 100 + row };
        let mass = if sick {
            40.0 + row as f64 / 10.0
        } else {
            20.0 + row as f64 / 10.0
        };
        let ward = ["north", "south"][row % 2];
        csv.push_str(&format!(
            "P{row},{glucose},{mass},{},{ward},1,{}\n",
            row % 3 % 2,
            if sick { "yes" } else { "no" }
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaky.csv");
    std::fs::write(&path, csv).unwrap();
    let dataset = load(&config(), &path, Labels::Required).unwrap();
    let summary = Summary::compute(&config(), &dataset);
    let mass = summary
        .associations
        .iter()
        .find(|association| association.feature == "body mass")
        .unwrap();
    assert_eq!((mass.measure, mass.value), (Measure::UnivariateAuc, 1.0));
    // The ward alternates with the outcome too: Cramér's V of a perfect 2 × 2 table.
    let ward = summary
        .associations
        .iter()
        .find(|a| a.feature == "ward")
        .unwrap();
    assert_eq!(ward.measure, Measure::CramersV);
    assert!((ward.value - 1.0).abs() < 1e-12);
    let kinds: Vec<(AlertKind, &str)> = summary
        .alerts
        .iter()
        .map(|alert| (alert.kind, alert.subject.as_str()))
        .collect();
    assert!(
        kinds.contains(&(AlertKind::PossibleLeakage, "body mass")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(AlertKind::ZeroAsMissing, "glucose")),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&(AlertKind::PossibleLeakage, "glucose")),
        "{kinds:?}"
    );
    let out = tempfile::tempdir().unwrap();
    let html =
        std::fs::read_to_string(summary.write_report(&dataset, out.path()).unwrap()).unwrap();
    assert!(html.contains("<h2>Alerts</h2>") && html.contains("possible leakage"));
    assert!(html.contains("<h2>Association with the target</h2>"));
    assert!(
        summary
            .to_text()
            .contains("alert: possible leakage: body mass")
    );
}
