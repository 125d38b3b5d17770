//! Reading a CSV with polars into a validated [`Dataset`]: the one place a DataFrame becomes ndarray.
//!
//! Real files have quirks polars does not handle alone (a byte-order mark, old-Mac CR-only line
//! endings), and polars' own errors do not say which line of the file is wrong. So the bytes are
//! first normalised and indexed by record ([`text`], remembering each record's line as an
//! editor shows it), then polars parses the text a run of rows at a time with every column as
//! a string, and each cell is converted and validated ([`columns`]) with the exact line, column
//! and value in any error.

mod columns;
mod text;

use std::collections::HashSet;
use std::hash::Hasher as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};
use sha2::{Digest, Sha256};

use model::{FeatureSpec, Schema};

use crate::DataError;
use crate::config::DatasetConfig;
use columns::{Columns, Converted, observed_range};
use text::{CsvText, TextProblem, count_fields, split_fields};

/// Rows polars parses at a time. Its frame holds 16 bytes a cell (a few megabytes a run here)
/// where the whole file's frame took hundreds of megabytes at a million rows; far larger runs
/// bring no speed.
const RUN_ROWS: usize = 1 << 16;

/// Whether the file must contain the target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Training and evaluation: the target must be present and valid on every row.
    Required,
    /// Scoring and EDA: use the target if present.
    Optional,
}

/// How a file is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Whether the target column must be present.
    pub labels: Labels,
    /// Whether errors and warnings may quote cell values. Off by default: they are patient
    /// data, and errors end up in terminals and logs; line and column locate the cell.
    pub show_values: bool,
}

impl From<Labels> for LoadOptions {
    fn from(labels: Labels) -> Self {
        LoadOptions {
            labels,
            show_values: false,
        }
    }
}

/// A loaded, validated dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Feature specs in config order, with categories and training ranges filled in.
    pub features: Vec<FeatureSpec>,
    /// Raw feature values, one row per record: NaN = empty/NA, categories as codes.
    /// Configured zeros are kept as 0 here; preprocessing decides they are missing.
    pub raw: Array2<f64>,
    /// Class index (into the config's `classes`) per row, when the file has the target.
    pub target: Option<Vec<usize>>,
    /// Value of the first id column per row, when configured and present.
    pub ids: Option<Vec<String>>,
    /// 1-based line number of each row in the original file.
    pub lines: Vec<usize>,
    /// Rows read before duplicates were dropped.
    pub n_rows_read: usize,
    /// Exact duplicate rows found (over features and target).
    pub n_duplicates: usize,
    /// Whether those duplicates were dropped.
    pub duplicates_dropped: bool,
    /// Header columns, as found.
    pub columns_found: Vec<String>,
    /// Non-fatal findings (out-of-range values under the `warn` policy, unused columns).
    pub warnings: Vec<String>,
}

/// Reads a file's bytes, naming the path on failure.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads and validates `path` as described by `config`.
pub fn load(
    config: &DatasetConfig,
    path: &Path,
    options: impl Into<LoadOptions>,
) -> Result<Dataset, DataError> {
    load_in_runs(config, path, options.into(), RUN_ROWS)
}

/// [`load`], with polars parsing `run_rows` rows at a time (the result does not depend on it).
fn load_in_runs(
    config: &DatasetConfig,
    path: &Path,
    options: LoadOptions,
    run_rows: usize,
) -> Result<Dataset, DataError> {
    let bytes = read_bytes(path)?;
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>();
    let text = CsvText::parse(bytes).map_err(|problem| text_error(problem, path))?;
    let columns_found = match text.n_records() {
        0 => {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        1 => {
            return Err(DataError::HeaderOnly {
                path: path.to_path_buf(),
            });
        }
        _ => check_header(config, path, text.record(0), options.labels)?,
    };
    check_field_counts(&text, path, columns_found.len())?;
    let n_rows_read = text.n_records() - 1;
    let lines: Vec<usize> = (1..text.n_records()).map(|idx| text.line(idx)).collect();
    let mut columns = Columns::new(config, path, options, &lines, &columns_found);
    convert_in_runs(&text, path, &columns_found, &mut columns, run_rows)?;
    // The text is not needed once converted; at a million rows it is the largest thing the
    // loader holds besides the matrix.
    drop(text);
    let Converted {
        features,
        raw,
        target,
        ids,
        warnings: feature_warnings,
    } = columns.finish();
    let mut warnings = unused_columns(config, path, &columns_found);
    warnings.extend(feature_warnings);
    let mut dataset = Dataset {
        path: path.to_path_buf(),
        sha256,
        features,
        raw,
        target,
        ids,
        lines,
        n_rows_read,
        n_duplicates: 0,
        duplicates_dropped: false,
        columns_found,
        warnings,
    };
    dataset.handle_duplicates(config.drop_duplicates);
    if dataset.raw.nrows() == 0 {
        return Err(DataError::HeaderOnly {
            path: path.to_path_buf(),
        });
    }
    Ok(dataset)
}

/// The error for a problem with the file's text.
fn text_error(problem: TextProblem, path: &Path) -> DataError {
    let path = path.to_path_buf();
    match problem {
        TextProblem::Encoding { line } => DataError::Encoding { path, line },
        TextProblem::Quoting { line, reason } => DataError::Quoting { path, line, reason },
    }
}

/// Has polars parse the rows `run_rows` at a time and converts each run.
fn convert_in_runs(
    text: &CsvText,
    path: &Path,
    columns_found: &[String],
    columns: &mut Columns<'_>,
    run_rows: usize,
) -> Result<(), DataError> {
    let n_rows = text.n_records() - 1;
    let run_rows = run_rows.max(1);
    for first_row in (0..n_rows).step_by(run_rows) {
        let rows = first_row..(first_row + run_rows).min(n_rows);
        // Record 0 is the header.
        let frame = parse_run(
            path,
            text.records(rows.start + 1..rows.end + 1),
            columns_found,
        )?;
        if frame.height() != rows.len() {
            return Err(DataError::Csv {
                path: path.to_path_buf(),
                reason: format!(
                    "polars read {} rows where {} records were found from line {}",
                    frame.height(),
                    rows.len(),
                    text.line(first_row + 1)
                ),
            });
        }
        columns.add(&frame, first_row)?;
    }
    Ok(())
}

/// Every record must have as many fields as the header.
fn check_field_counts(text: &CsvText, path: &Path, expected: usize) -> Result<(), DataError> {
    for record_idx in 1..text.n_records() {
        let found = count_fields(text.record(record_idx));
        if found != expected {
            return Err(DataError::FieldCount {
                path: path.to_path_buf(),
                line: text.line(record_idx),
                found,
                expected,
            });
        }
    }
    Ok(())
}

/// The header's column names, after checking for repeated names and absent configured columns
/// (the target only when labels are required).
fn check_header(
    config: &DatasetConfig,
    path: &Path,
    header: &[u8],
    labels: Labels,
) -> Result<Vec<String>, DataError> {
    // The text was checked to be UTF-8 as a whole, and a record is a whole number of its
    // characters.
    let header = std::str::from_utf8(header).map_err(|_| DataError::Encoding {
        path: path.to_path_buf(),
        line: 1,
    })?;
    let columns_found: Vec<String> = split_fields(header)
        .into_iter()
        .map(|name| name.trim().to_owned())
        .collect();
    model::header::check_unique_columns(path, &columns_found)?;
    let mut expected: Vec<&str> = config.features.iter().map(|f| f.name.as_str()).collect();
    if labels == Labels::Required {
        expected.push(&config.target);
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|name| !columns_found.iter().any(|found| found == *name))
        .map(|name| (*name).to_owned())
        .collect();
    if missing.is_empty() {
        return Ok(columns_found);
    }
    if missing == [config.target.clone()] {
        return Err(DataError::MissingTarget {
            path: path.to_path_buf(),
            column: config.target.clone(),
        });
    }
    Err(DataError::MissingColumns {
        path: path.to_path_buf(),
        missing,
        expected: expected.iter().map(|name| (*name).to_owned()).collect(),
        found: columns_found,
    })
}

/// A warning for every column of the file that the config does not mention.
fn unused_columns(config: &DatasetConfig, path: &Path, columns_found: &[String]) -> Vec<String> {
    let known: HashSet<&str> = config
        .features
        .iter()
        .map(|feature| feature.name.as_str())
        .chain(config.id_columns.iter().map(String::as_str))
        .chain(config.drop.iter().map(|dropped| dropped.column.as_str()))
        .chain(std::iter::once(config.target.as_str()))
        .collect();
    columns_found
        .iter()
        .filter(|column| !known.contains(column.as_str()))
        .map(|column| {
            format!(
                "`{}`: column `{column}` is not in the config and is ignored",
                path.display()
            )
        })
        .collect()
}

/// Polars parses a run of records with every column as a string, so that each cell is
/// converted afterwards with a precise error. Columns go by the header's trimmed names
/// (`PRG, PL` names `PL`), as the header checks used.
fn parse_run(path: &Path, records: &[u8], names: &[String]) -> Result<DataFrame, DataError> {
    let csv_error = |error: polars::prelude::PolarsError| DataError::Csv {
        path: path.to_path_buf(),
        reason: error.to_string(),
    };
    let mut frame = CsvReadOptions::default()
        .with_has_header(false)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(records))
        .finish()
        .map_err(csv_error)?;
    frame.set_column_names(names).map_err(csv_error)?;
    Ok(frame)
}

impl Dataset {
    /// Marks each row that exactly repeats an earlier row (features and target; ids ignored).
    ///
    /// Rows are grouped by a hash of their values and compared exactly within a group, so the
    /// only memory besides the answer is a hash and an index per row (a set of the rows
    /// themselves took a quarter of a gigabyte at a million rows).
    pub fn duplicate_rows(&self) -> Vec<bool> {
        let key = |row_idx: usize| {
            (0..self.raw.ncols())
                .map(move |column| canonical_bits(self.raw[[row_idx, column]]))
                .chain(self.target.as_ref().map(|target| target[row_idx] as u64))
        };
        let mut hashed: Vec<(u64, usize)> = (0..self.raw.nrows())
            .map(|row_idx| {
                let mut hasher = std::hash::DefaultHasher::new();
                key(row_idx).for_each(|bits| hasher.write_u64(bits));
                (hasher.finish(), row_idx)
            })
            .collect();
        hashed.sort_unstable();
        let mut duplicate = vec![false; self.raw.nrows()];
        for group in hashed.chunk_by(|a, b| a.0 == b.0) {
            // Within a group, rows in file order: a row repeats an earlier one if any earlier
            // row of the group has exactly its values.
            for (position, (_, row_idx)) in group.iter().enumerate() {
                duplicate[*row_idx] = group[..position]
                    .iter()
                    .any(|(_, earlier)| key(*earlier).eq(key(*row_idx)));
            }
        }
        duplicate
    }

    /// Counts exact duplicate rows and, when asked, drops them (recomputing training ranges).
    fn handle_duplicates(&mut self, drop: bool) {
        let duplicates = self.duplicate_rows();
        self.n_duplicates = duplicates.iter().filter(|duplicate| **duplicate).count();
        if !drop || self.n_duplicates == 0 {
            return;
        }
        self.keep_rows(
            &duplicates
                .iter()
                .map(|duplicate| !duplicate)
                .collect::<Vec<_>>(),
        );
        self.duplicates_dropped = true;
        for (feature_idx, spec) in self.features.iter_mut().enumerate() {
            spec.training_range =
                observed_range(spec, self.raw.column(feature_idx).iter().copied());
        }
    }

    /// Keeps only the rows where `keep` is true.
    fn keep_rows(&mut self, keep: &[bool]) {
        let kept: Vec<usize> = (0..keep.len()).filter(|idx| keep[*idx]).collect();
        // Rows move up in place: a copy of the matrix would double the loader's peak.
        let n_columns = self.raw.ncols();
        match self.raw.as_slice_mut() {
            Some(cells) => {
                for (new_idx, old_idx) in kept.iter().enumerate() {
                    let start = old_idx * n_columns;
                    cells.copy_within(start..start + n_columns, new_idx * n_columns);
                }
                self.raw
                    .slice_axis_inplace(ndarray::Axis(0), (0..kept.len()).into());
            }
            None => self.raw = self.raw.select(ndarray::Axis(0), &kept),
        }
        if let Some(target) = &mut self.target {
            *target = kept.iter().map(|idx| target[*idx]).collect();
        }
        if let Some(ids) = &mut self.ids {
            *ids = kept.iter().map(|idx| ids[*idx].clone()).collect();
        }
        self.lines = kept.iter().map(|idx| self.lines[*idx]).collect();
    }

    /// Splits the rows in two: those where `held_out` is false, then those where it is true,
    /// each with training ranges recomputed from its own rows (so the held-out rows never
    /// shape what the model's schema publishes).
    pub fn split(&self, held_out: &[bool]) -> (Dataset, Dataset) {
        let part = |keep_held: bool| {
            let mut part = self.clone();
            let keep: Vec<bool> = held_out.iter().map(|held| *held == keep_held).collect();
            part.keep_rows(&keep);
            for (feature_idx, spec) in part.features.iter_mut().enumerate() {
                spec.training_range =
                    observed_range(spec, part.raw.column(feature_idx).iter().copied());
            }
            part
        };
        (part(false), part(true))
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.raw.nrows()
    }

    /// The schema a model trained on this dataset accepts.
    pub fn schema(&self, config: &DatasetConfig) -> Schema {
        Schema {
            dataset: config.name.clone(),
            task: config.task,
            features: self.features.clone(),
            id_columns: config.id_columns.clone(),
            target: config.target.clone(),
            classes: config.classes.clone(),
            positive_class: config.positive_class_idx(),
            aliases: config
                .aliases
                .iter()
                .map(|alias| model::InputAlias {
                    name: alias.name.clone(),
                    feature: alias.feature.clone(),
                    values: alias
                        .values
                        .iter()
                        .map(|(sent, category)| (sent.clone(), category.clone()))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Rows per class (requires the target).
    pub fn class_counts(&self, n_classes: usize) -> Vec<usize> {
        let mut counts = vec![0; n_classes];
        for class_idx in self.target.iter().flatten() {
            counts[*class_idx] += 1;
        }
        counts
    }
}

/// Bits that compare equal for equal values (all NaNs alike, -0 = +0).
fn canonical_bits(value: f64) -> u64 {
    if value.is_nan() {
        u64::MAX
    } else if value == 0.0 {
        0
    } else {
        value.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_config() -> DatasetConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/toy.toml");
        DatasetConfig::load(&path).unwrap()
    }

    /// A toy file of `n_rows` generated rows: missing cells, zeros, out-of-range values,
    /// categories met in no sorted order, repeated rows, quoted fields and blank lines.
    fn toy_file(n_rows: usize, edit: impl Fn(usize, &mut Vec<String>)) -> String {
        let mut file = String::from("pid,glucose,body mass,smoker,ward,followup,outcome\r\n");
        let mut state = 7_u64;
        for row_idx in 0..n_rows {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let draw = (state >> 33) as usize;
            let glucose = ["0", "", "145", "88", "999", "NA"][draw % 6];
            let ward = ["\"south\"", "north", "east", "", " west "][draw / 7 % 5];
            let mut cells: Vec<String> = vec![
                format!("P{:04}", row_idx % 50),
                glucose.into(),
                format!("{}.{}", 15 + draw % 30, draw % 10),
                (draw / 3 % 2).to_string(),
                ward.into(),
                (draw % 300).to_string(),
                ["no", "yes"][draw / 11 % 2].into(),
            ];
            edit(row_idx, &mut cells);
            file.push_str(&cells.join(","));
            file.push_str(if row_idx % 9 == 0 { "\r\n\r\n" } else { "\n" });
        }
        file
    }

    /// Loads `file` from one path with polars parsing `run_rows` rows at a time.
    struct ToyFile {
        _folder: tempfile::TempDir,
        path: PathBuf,
    }

    impl ToyFile {
        fn new(file: &str) -> Self {
            let folder = tempfile::tempdir().unwrap();
            let path = folder.path().join("toy.csv");
            std::fs::write(&path, file).unwrap();
            ToyFile {
                _folder: folder,
                path,
            }
        }

        fn load(&self, run_rows: usize) -> Result<Dataset, DataError> {
            load_in_runs(&toy_config(), &self.path, Labels::Required.into(), run_rows)
        }

        /// The editor line of generated row `row_idx` (see the blank lines in [`toy_file`]).
        fn line_of(&self, row_idx: usize) -> usize {
            2 + row_idx + row_idx.div_ceil(9)
        }
    }

    #[test]
    fn runs_of_any_length_load_the_same_dataset() {
        let file = ToyFile::new(&toy_file(200, |_, _| {}));
        let whole = format!("{:?}", file.load(RUN_ROWS).unwrap());
        assert!(
            whole.contains("\"east\", \"north\", \"south\", \"west\""),
            "{whole}"
        );
        for run_rows in [1, 2, 7, 64, 199] {
            let dataset = file.load(run_rows).unwrap();
            assert_eq!(format!("{dataset:?}"), whole, "runs of {run_rows} rows");
        }
    }

    #[test]
    fn the_first_bad_row_is_named_whatever_the_runs() {
        let file = ToyFile::new(&toy_file(120, |row_idx, cells| match row_idx {
            // A bad label before a bad number further on, and on one row a bad number after a
            // bad label: the earliest row wins, and within a row the feature.
            30 => cells[6] = "maybe".into(),
            70 => cells[3] = "2".into(),
            90 => cells[1] = "high".into(),
            100 => {
                cells[6] = "maybe".into();
                cells[2] = "x".into();
            }
            _ => {}
        }));
        for run_rows in [1, 16, 64, RUN_ROWS] {
            let error = file.load(run_rows).unwrap_err().to_string();
            assert!(
                error.contains(&format!("line {}, column `outcome`", file.line_of(30))),
                "runs of {run_rows}: {error}"
            );
        }
        let later = ToyFile::new(&toy_file(120, |row_idx, cells| {
            if row_idx == 100 {
                cells[6] = "maybe".into();
                cells[2] = "x".into();
            }
        }));
        for run_rows in [1, 64, RUN_ROWS] {
            let error = later.load(run_rows).unwrap_err().to_string();
            let expected = format!("line {}, column `body mass`", later.line_of(100));
            assert!(error.contains(&expected), "runs of {run_rows}: {error}");
        }
    }
}
