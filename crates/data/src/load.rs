//! Reading a CSV with polars into a validated [`Dataset`]: the one place a DataFrame becomes ndarray.
//!
//! Real files have quirks polars does not handle alone (a byte-order mark, old-Mac CR-only line
//! endings), and polars' own errors do not say which line of the file is wrong. So the bytes are
//! first normalised and indexed by record (remembering each record's line as an editor shows
//! it), then polars parses the text with every column as a string, and each cell is converted
//! and validated here with the exact line, column and value in any error.

use std::collections::HashSet;
use std::hash::Hasher as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};
use sha2::{Digest, Sha256};

use model::missing::is_missing_text;
use model::record::{FieldProblem, check_range, parse_text};
use model::{FeatureKind, FeatureSpec, Schema};

use crate::DataError;
use crate::config::{DatasetConfig, FeatureConfig, RangePolicy};

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

/// One logical CSV record with the line it starts on.
#[derive(Debug)]
struct Record {
    line: usize,
    text: String,
}

/// Strips a UTF-8 BOM, unifies line endings and splits into records, skipping blank lines.
///
/// A record spans several physical lines only inside a quoted field.
fn split_records(bytes: &[u8], path: &Path) -> Result<Vec<Record>, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        let line = 1 + bytes[..offset]
            .iter()
            .enumerate()
            .filter(|(idx, byte)| {
                **byte == b'\n' || (**byte == b'\r' && bytes.get(idx + 1) != Some(&b'\n'))
            })
            .count();
        DataError::Encoding {
            path: path.to_path_buf(),
            line,
        }
    })?;
    split_text(text).map_err(|(line, reason)| DataError::Quoting {
        path: path.to_path_buf(),
        line,
        reason,
    })
}

/// Splits text into records by RFC 4180: a field is quoted as a whole or not at all, a quote
/// inside a quoted field is doubled, and a quoted field may span lines. Anything else is an
/// error naming the line, rather than a stray quote silently swallowing the lines after it.
fn split_text(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut records = Vec::new();
    let mut current = String::new();
    let (mut current_line, mut line, mut quote_line) = (1, 1, 1);
    let (mut in_quotes, mut field_start, mut after_quote) = (false, true, false);
    let flush = |current: &mut String, start: usize, records: &mut Vec<Record>| {
        if !current.trim().is_empty() {
            records.push(Record {
                line: start,
                text: std::mem::take(current),
            });
        }
        current.clear();
    };
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        let newline = ch == '\r' || ch == '\n';
        if newline && ch == '\r' && chars.peek() == Some(&'\n') {
            chars.next();
        }
        match (in_quotes, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                current.push_str("\"\"");
            }
            (true, '"') => {
                in_quotes = false;
                after_quote = true;
                current.push('"');
            }
            (true, _) if newline => {
                line += 1;
                current.push('\n');
            }
            (true, _) => current.push(ch),
            (false, '"') if field_start => {
                in_quotes = true;
                quote_line = line;
                field_start = false;
                current.push('"');
            }
            (false, '"') => {
                return Err((
                    line,
                    "a quote inside an unquoted field: quote the whole field and double the quotes inside it".into(),
                ));
            }
            (false, ',') => {
                (field_start, after_quote) = (true, false);
                current.push(',');
            }
            (false, _) if newline => {
                line += 1;
                flush(&mut current, current_line, &mut records);
                current_line = line;
                (field_start, after_quote) = (true, false);
            }
            (false, _) if after_quote => {
                return Err((
                    line,
                    "text after the closing quote of a field: expected `,` or the end of the line"
                        .into(),
                ));
            }
            (false, _) => {
                field_start = false;
                current.push(ch);
            }
        }
    }
    if in_quotes {
        return Err((
            quote_line,
            "a quoted field opened on this line is never closed".into(),
        ));
    }
    flush(&mut current, current_line, &mut records);
    Ok(records)
}

/// Splits one record into fields (RFC 4180 quoting), for the header and field counts.
fn split_fields(record: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = record.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut field)),
            _ => field.push(ch),
        }
    }
    fields.push(field);
    fields
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
    let options = options.into();
    let labels = options.labels;
    let bytes = read_bytes(path)?;
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>();
    let records = split_records(&bytes, path)?;
    // The records hold the text from here on; at a million rows every copy is 100 MB or more.
    drop(bytes);
    let Some((header, rows)) = records.split_first() else {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    };
    if rows.is_empty() {
        return Err(DataError::HeaderOnly {
            path: path.to_path_buf(),
        });
    }
    let columns_found = check_header(config, path, header, labels)?;
    for record in rows {
        let n_fields = split_fields(&record.text).len();
        if n_fields != columns_found.len() {
            return Err(DataError::FieldCount {
                path: path.to_path_buf(),
                line: record.line,
                found: n_fields,
                expected: columns_found.len(),
            });
        }
    }
    let mut warnings = unused_columns(config, path, &columns_found);
    let n_rows_read = rows.len();
    let lines = rows.iter().map(|record| record.line).collect();
    // Only the lines are needed from the records now: they are consumed into the text polars
    // parses, so they are gone before the frame is built.
    let frame = parse_frame(path, records, &columns_found)?;
    let cells = Cells {
        frame: &frame,
        path,
        lines,
    };
    let (features, raw) = convert_features(config, &cells, options.show_values, &mut warnings)?;
    let target = if columns_found.contains(&config.target) {
        convert_target(config, &cells, options)?
    } else {
        None
    };
    let ids = match config.id_columns.first() {
        Some(id_column) if columns_found.contains(id_column) => Some(
            cells
                .column(id_column)?
                .into_iter()
                .map(|cell| cell.unwrap_or_default().trim().to_owned())
                .collect(),
        ),
        _ => None,
    };
    let mut dataset = Dataset {
        path: path.to_path_buf(),
        sha256,
        features,
        raw,
        target,
        ids,
        lines: cells.lines,
        n_rows_read,
        n_duplicates: 0,
        duplicates_dropped: false,
        columns_found,
        warnings,
    };
    // The text cells are not needed once converted; at a million rows they are the largest
    // thing the loader holds.
    drop(frame);
    dataset.handle_duplicates(config.drop_duplicates);
    if dataset.raw.nrows() == 0 {
        return Err(DataError::HeaderOnly {
            path: path.to_path_buf(),
        });
    }
    Ok(dataset)
}

/// The header's column names, after checking for repeated names and absent configured columns
/// (the target only when labels are required).
fn check_header(
    config: &DatasetConfig,
    path: &Path,
    header: &Record,
    labels: Labels,
) -> Result<Vec<String>, DataError> {
    let columns_found: Vec<String> = split_fields(&header.text)
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

/// Polars parses the normalised records with every column as a string, so that each cell is
/// converted afterwards with a precise error.
fn parse_frame(
    path: &Path,
    records: Vec<Record>,
    names: &[String],
) -> Result<DataFrame, DataError> {
    let n_rows = records.len().saturating_sub(1);
    let mut normalised =
        String::with_capacity(records.iter().map(|record| record.text.len() + 1).sum());
    // Each record is freed once copied.
    for (idx, record) in records.into_iter().enumerate() {
        if idx > 0 {
            normalised.push('\n');
        }
        normalised.push_str(&record.text);
    }
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(normalised.into_bytes()))
        .finish()
        .map_err(|error| DataError::Csv {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    // Columns go by their trimmed names (`PRG, PL` names `PL`), as the header checks used.
    let mut frame = frame;
    frame
        .set_column_names(names)
        .map_err(|error| DataError::Csv {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    if frame.height() != n_rows {
        return Err(DataError::Csv {
            path: path.to_path_buf(),
            reason: format!(
                "polars read {} rows where {n_rows} records were found",
                frame.height()
            ),
        });
    }
    Ok(frame)
}

/// The parsed text cells, with what errors need to locate a cell.
struct Cells<'a> {
    frame: &'a DataFrame,
    path: &'a Path,
    /// Editor line of each row.
    lines: Vec<usize>,
}

impl<'a> Cells<'a> {
    fn column(&self, name: &str) -> Result<Vec<Option<&'a str>>, DataError> {
        string_column(self.frame, name, self.path)
    }
}

/// Converts and validates every feature column into the raw matrix; out-of-range values are
/// errors or warnings as the config says.
fn convert_features(
    config: &DatasetConfig,
    cells: &Cells<'_>,
    show_values: bool,
    warnings: &mut Vec<String>,
) -> Result<(Vec<FeatureSpec>, Array2<f64>), DataError> {
    let n_rows = cells.lines.len();
    let mut features = Vec::with_capacity(config.features.len());
    let mut raw = Array2::<f64>::from_elem((n_rows, config.features.len()), f64::NAN);
    for (feature_idx, feature_config) in config.features.iter().enumerate() {
        let column = cells.column(&feature_config.name)?;
        let mut spec = feature_spec(feature_config, &column);
        for (row_idx, cell) in column.iter().enumerate() {
            let describe = |problem: &FieldProblem| {
                if show_values {
                    problem.to_string()
                } else {
                    problem.rule()
                }
            };
            let bad_value = |problem: FieldProblem| DataError::BadValue {
                path: cells.path.to_path_buf(),
                line: cells.lines[row_idx],
                column: spec.name.clone(),
                value: show_values.then(|| cell.unwrap_or_default().to_owned()),
                problem: describe(&problem),
            };
            // As `parse_value` reads a text value, without copying the cell into one.
            let parsed = cell
                .map_or(Ok(f64::NAN), |text| parse_text(&spec, text))
                .map_err(bad_value)?;
            if let Err(problem) = check_range(&spec, parsed) {
                match config.on_out_of_range {
                    RangePolicy::Error => return Err(bad_value(problem)),
                    RangePolicy::Warn => warnings.push(format!(
                        "`{}` line {}, column `{}`: {}",
                        cells.path.display(),
                        cells.lines[row_idx],
                        spec.name,
                        describe(&problem)
                    )),
                }
            }
            raw[[row_idx, feature_idx]] = parsed;
        }
        spec.training_range = observed_range(&spec, raw.column(feature_idx).iter().copied());
        spec.allow_missing = feature_config.allow_missing.unwrap_or_else(|| {
            raw.column(feature_idx)
                .iter()
                .any(|value| spec.is_missing(*value))
        });
        features.push(spec);
    }
    Ok((features, raw))
}

/// A feature's spec from its config, with categories discovered from the column when the
/// config does not list them.
fn feature_spec(feature_config: &FeatureConfig, column: &[Option<&str>]) -> FeatureSpec {
    let categories = match (&feature_config.categories, feature_config.kind) {
        (Some(categories), _) => categories.clone(),
        (None, FeatureKind::Categorical) => {
            let mut categories: Vec<String> = column
                .iter()
                .flatten()
                .filter(|cell| !is_missing_text(cell))
                .map(|cell| cell.trim().to_owned())
                .collect();
            categories.sort();
            categories.dedup();
            categories
        }
        (None, _) => Vec::new(),
    };
    FeatureSpec {
        name: feature_config.name.clone(),
        kind: feature_config.kind,
        description: feature_config.description.clone(),
        unit: feature_config.unit.clone(),
        zero_is_missing: feature_config.zero_is_missing,
        valid_range: feature_config.range.map(|[min, max]| (min, max)),
        training_range: None,
        categories,
        // Settled once the column is read (see `FeatureConfig::allow_missing`).
        allow_missing: feature_config.allow_missing.unwrap_or(true),
    }
}

/// The class index of every row; `None` when labels are optional and a row has none.
fn convert_target(
    config: &DatasetConfig,
    cells: &Cells<'_>,
    options: LoadOptions,
) -> Result<Option<Vec<usize>>, DataError> {
    let labels = options.labels;
    let column = cells.column(&config.target)?;
    let mut target = Vec::with_capacity(column.len());
    for (row_idx, cell) in column.iter().enumerate() {
        let text = cell.as_deref().map(str::trim).unwrap_or("");
        if is_missing_text(text) {
            if labels == Labels::Required {
                return Err(DataError::MissingLabel {
                    path: cells.path.to_path_buf(),
                    line: cells.lines[row_idx],
                    column: config.target.clone(),
                });
            }
            // An unlabelled row in an optional-label file makes the whole target unusable.
            return Ok(None);
        }
        match model::schema::class_index(&config.classes, text) {
            Some(class_idx) => target.push(class_idx),
            None => {
                return Err(DataError::UnknownLabel {
                    path: cells.path.to_path_buf(),
                    line: cells.lines[row_idx],
                    column: config.target.clone(),
                    value: options.show_values.then(|| text.to_owned()),
                    expected: config.classes.clone(),
                });
            }
        }
    }
    Ok(Some(target))
}

/// A column's cells as optional strings (None = null).
fn string_column<'a>(
    frame: &'a DataFrame,
    name: &str,
    path: &Path,
) -> Result<Vec<Option<&'a str>>, DataError> {
    let csv_error = |error: polars::prelude::PolarsError| DataError::Csv {
        path: path.to_path_buf(),
        reason: format!("column `{name}`: {error}"),
    };
    let column = frame.column(name).map_err(csv_error)?;
    let strings = column.str().map_err(csv_error)?;
    // Borrowed from the frame: a million-row file has tens of millions of cells, and a copy
    // of each would be as many allocations.
    Ok(strings.iter().collect())
}

/// Smallest and largest non-missing value (configured zeros excluded).
fn observed_range(spec: &FeatureSpec, values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|value| !spec.is_missing(*value))
        .fold(None, |range, value| match range {
            None => Some((value, value)),
            Some((min, max)) => Some((f64::min(min, value), f64::max(max, value))),
        })
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
        self.raw = self.raw.select(ndarray::Axis(0), &kept);
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

    #[test]
    fn records_remember_their_editor_lines_for_every_line_ending() {
        for ending in ["\n", "\r\n", "\r"] {
            let text = format!("a,b{ending}1,2{ending}{ending}3,\"x{ending}y\"{ending}4,5{ending}");
            let records = split_records(text.as_bytes(), Path::new("t.csv")).unwrap();
            let lines: Vec<usize> = records.iter().map(|record| record.line).collect();
            assert_eq!(lines, vec![1, 2, 4, 6], "ending {ending:?}");
            assert_eq!(split_fields(&records[2].text), vec!["3", "x\ny"]);
        }
    }

    #[test]
    fn quotes_follow_rfc_4180_and_errors_name_the_line() {
        let records = split_text("a,b\n\"x,\"\"y\"\"\",2\n").unwrap();
        assert_eq!(split_fields(&records[1].text), vec!["x,\"y\"", "2"]);
        let cases = [
            ("a,b\n1,2\"3\n4,5\n", 2, "a quote inside an unquoted field"),
            ("a,b\n\"1\"x,2\n", 2, "text after the closing quote"),
            ("a,b\n1,2\n\"3,4\n5,6\n7,8\n", 3, "never closed"),
        ];
        for (text, line, reason) in cases {
            let (found_line, found_reason) = split_text(text).unwrap_err();
            assert_eq!(found_line, line, "{text:?}");
            assert!(found_reason.contains(reason), "{text:?}: {found_reason}");
        }
    }

    #[test]
    fn bom_is_stripped_and_invalid_utf8_names_the_line() {
        let records = split_records(b"\xEF\xBB\xBFa,b\n1,2\n", Path::new("t.csv")).unwrap();
        assert_eq!(records[0].text, "a,b");
        let error = split_records(b"a\n1\n\xFF\n", Path::new("t.csv")).unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
    }
}
