//! Converting polars' text cells into the raw matrix, target and ids, one run of rows at a time,
//! with the exact line, column and rule in any error.
//!
//! The loader hands over the file in runs of rows so that polars' frame of text cells (16 bytes
//! a cell however short) never holds the whole file. Everything that depends on the whole file
//! waits for [`Columns::finish`]: categories nobody listed in the config are numbered as they are
//! met and renumbered in sorted order at the end, and each feature's warnings are kept apart
//! so that they come out feature by feature whatever the runs.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use polars::prelude::DataFrame;

use model::FeatureSpec;
use model::missing::is_missing_text;
use model::record::{FieldProblem, check_range, parse_text};

use crate::DataError;
use crate::config::{DatasetConfig, FeatureConfig, RangePolicy};
use crate::load::{Labels, LoadOptions};

/// What the conversion produced.
pub(crate) struct Converted {
    pub features: Vec<FeatureSpec>,
    pub raw: Array2<f64>,
    pub target: Option<Vec<usize>>,
    pub ids: Option<Vec<String>>,
    pub warnings: Vec<String>,
}

/// One feature column on its way into the matrix.
struct FeatureColumn {
    spec: FeatureSpec,
    /// Categories met so far, numbered by first appearance, when the config does not list them.
    discovered: Option<HashMap<String, usize>>,
    /// Out-of-range findings under the `warn` policy, in row order.
    warnings: Vec<String>,
}

/// The target column's state.
enum Target {
    /// The file has no target column.
    Absent,
    /// Every row so far has a class.
    Labelled(Vec<usize>),
    /// Labels are optional and a row had none, which makes the whole column unusable.
    Unlabelled,
}

/// The first bad cell of a run of rows: the earliest row, and within a row the earliest column
/// (features in config order, then the target), whatever order the columns are converted in.
#[derive(Default)]
struct FirstError {
    found: Option<(usize, usize, DataError)>,
}

impl FirstError {
    /// Whether a problem at this row and column would come before the one kept.
    fn precedes(&self, row_idx: usize, column_order: usize) -> bool {
        self.found
            .as_ref()
            .is_none_or(|(row, order, _)| (row_idx, column_order) < (*row, *order))
    }

    fn offer(&mut self, row_idx: usize, column_order: usize, error: DataError) {
        if self.precedes(row_idx, column_order) {
            self.found = Some((row_idx, column_order, error));
        }
    }

    fn into_result(self) -> Result<(), DataError> {
        self.found.map_or(Ok(()), |(_, _, error)| Err(error))
    }
}

/// The configured columns of a file, filled a run of rows at a time.
pub(crate) struct Columns<'a> {
    config: &'a DatasetConfig,
    path: &'a Path,
    options: LoadOptions,
    /// Editor line of every row.
    lines: &'a [usize],
    features: Vec<FeatureColumn>,
    raw: Array2<f64>,
    target: Target,
    ids: Option<Vec<String>>,
}

impl<'a> Columns<'a> {
    /// Ready for `lines.len()` rows of a file whose header holds `columns_found`.
    pub(crate) fn new(
        config: &'a DatasetConfig,
        path: &'a Path,
        options: LoadOptions,
        lines: &'a [usize],
        columns_found: &[String],
    ) -> Self {
        let n_rows = lines.len();
        let has = |column: &str| columns_found.iter().any(|found| found == column);
        Columns {
            config,
            path,
            options,
            lines,
            features: config.features.iter().map(FeatureColumn::new).collect(),
            raw: Array2::from_elem((n_rows, config.features.len()), f64::NAN),
            target: if has(&config.target) {
                Target::Labelled(Vec::with_capacity(n_rows))
            } else {
                Target::Absent
            },
            ids: config
                .id_columns
                .first()
                .filter(|id_column| has(id_column))
                .map(|_| Vec::with_capacity(n_rows)),
        }
    }

    /// Converts the rows of `frame`, which start at row `first_row` of the file.
    pub(crate) fn add(&mut self, frame: &DataFrame, first_row: usize) -> Result<(), DataError> {
        let mut first_error = FirstError::default();
        for feature_idx in 0..self.features.len() {
            let name = self.features[feature_idx].spec.name.clone();
            let cells = self.cells(frame, &name)?;
            self.add_feature(feature_idx, &cells, first_row, &mut first_error);
        }
        if matches!(self.target, Target::Labelled(_)) {
            let cells = self.cells(frame, &self.config.target)?;
            self.add_target(&cells, first_row, &mut first_error);
        }
        if let Some(id_column) = self.config.id_columns.first()
            && self.ids.is_some()
        {
            let cells = self.cells(frame, id_column)?;
            if let Some(ids) = &mut self.ids {
                ids.extend(
                    cells
                        .iter()
                        .map(|cell| cell.unwrap_or_default().trim().to_owned()),
                );
            }
        }
        first_error.into_result()
    }

    /// A column's cells as optional strings (None = an empty field), borrowed from the frame: a
    /// run of rows has millions of cells, and a copy of each would be as many allocations.
    fn cells<'frame>(
        &self,
        frame: &'frame DataFrame,
        name: &str,
    ) -> Result<Vec<Option<&'frame str>>, DataError> {
        let csv_error = |error: polars::prelude::PolarsError| DataError::Csv {
            path: self.path.to_path_buf(),
            reason: format!("column `{name}`: {error}"),
        };
        let column = frame.column(name).map_err(csv_error)?;
        Ok(column.str().map_err(csv_error)?.iter().collect())
    }

    /// Converts one feature's cells; out-of-range values are errors or warnings as the config
    /// says. Stops at the column's first error, which is offered to `first_error`.
    fn add_feature(
        &mut self,
        feature_idx: usize,
        cells: &[Option<&str>],
        first_row: usize,
        first_error: &mut FirstError,
    ) {
        let (path, lines, show_values) = (self.path, self.lines, self.options.show_values);
        let policy = self.config.on_out_of_range;
        let column = &mut self.features[feature_idx];
        let describe = |problem: &FieldProblem| {
            if show_values {
                problem.to_string()
            } else {
                problem.rule()
            }
        };
        for (offset, cell) in cells.iter().enumerate() {
            let row_idx = first_row + offset;
            if !first_error.precedes(row_idx, feature_idx) {
                return;
            }
            let bad_value = |spec: &FeatureSpec, problem: FieldProblem| DataError::BadValue {
                path: path.to_path_buf(),
                line: lines[row_idx],
                column: spec.name.clone(),
                value: show_values.then(|| cell.unwrap_or_default().to_owned()),
                problem: describe(&problem),
            };
            let parsed = match cell.map_or(Ok(f64::NAN), |text| column.parse(text)) {
                Ok(parsed) => parsed,
                Err(problem) => {
                    let error = bad_value(&column.spec, problem);
                    return first_error.offer(row_idx, feature_idx, error);
                }
            };
            if let Err(problem) = check_range(&column.spec, parsed) {
                match policy {
                    RangePolicy::Error => {
                        let error = bad_value(&column.spec, problem);
                        return first_error.offer(row_idx, feature_idx, error);
                    }
                    RangePolicy::Warn => {
                        let warning = format!(
                            "`{}` line {}, column `{}`: {}",
                            path.display(),
                            lines[row_idx],
                            column.spec.name,
                            describe(&problem)
                        );
                        column.warnings.push(warning);
                    }
                }
            }
            self.raw[[row_idx, feature_idx]] = parsed;
        }
    }

    /// Converts the target's cells into class indices. Stops at the first error, or at the
    /// first unlabelled row when labels are optional (the column is then unusable).
    fn add_target(
        &mut self,
        cells: &[Option<&str>],
        first_row: usize,
        first_error: &mut FirstError,
    ) {
        let config = self.config;
        let column_order = config.features.len();
        let Target::Labelled(target) = &mut self.target else {
            return;
        };
        for (offset, cell) in cells.iter().enumerate() {
            let row_idx = first_row + offset;
            if !first_error.precedes(row_idx, column_order) {
                return;
            }
            let text = cell.map(str::trim).unwrap_or("");
            if is_missing_text(text) {
                if self.options.labels == Labels::Optional {
                    self.target = Target::Unlabelled;
                    return;
                }
                let error = DataError::MissingLabel {
                    path: self.path.to_path_buf(),
                    line: self.lines[row_idx],
                    column: config.target.clone(),
                };
                return first_error.offer(row_idx, column_order, error);
            }
            match model::schema::class_index(&config.classes, text) {
                Some(class_idx) => target.push(class_idx),
                None => {
                    let error = DataError::UnknownLabel {
                        path: self.path.to_path_buf(),
                        line: self.lines[row_idx],
                        column: config.target.clone(),
                        value: self.options.show_values.then(|| text.to_owned()),
                        expected: config.classes.clone(),
                    };
                    return first_error.offer(row_idx, column_order, error);
                }
            }
        }
    }

    /// The converted columns, once every row has been added: discovered categories numbered
    /// in sorted order, training ranges and whether each feature may be missing settled.
    pub(crate) fn finish(mut self) -> Converted {
        let mut warnings = Vec::new();
        let mut features = Vec::with_capacity(self.features.len());
        for (feature_idx, (column, feature_config)) in self
            .features
            .into_iter()
            .zip(&self.config.features)
            .enumerate()
        {
            let mut spec = column.spec;
            if let Some(discovered) = column.discovered {
                let mut categories: Vec<(String, usize)> = discovered.into_iter().collect();
                categories.sort();
                let mut code_by_appearance = vec![0.0; categories.len()];
                for (code, (_, appearance)) in categories.iter().enumerate() {
                    code_by_appearance[*appearance] = code as f64;
                }
                for value in self.raw.column_mut(feature_idx) {
                    if !value.is_nan() {
                        *value = code_by_appearance[*value as usize];
                    }
                }
                spec.categories = categories.into_iter().map(|(name, _)| name).collect();
            }
            let values = self.raw.column(feature_idx);
            spec.training_range = observed_range(&spec, values.iter().copied());
            spec.allow_missing = feature_config
                .allow_missing
                .unwrap_or_else(|| values.iter().any(|value| spec.is_missing(*value)));
            warnings.extend(column.warnings);
            features.push(spec);
        }
        Converted {
            features,
            raw: self.raw,
            target: match self.target {
                Target::Labelled(target) => Some(target),
                Target::Absent | Target::Unlabelled => None,
            },
            ids: self.ids,
            warnings,
        }
    }
}

impl FeatureColumn {
    fn new(feature_config: &FeatureConfig) -> Self {
        let discovered = (feature_config.kind == model::FeatureKind::Categorical
            && feature_config.categories.is_none())
        .then(HashMap::new);
        FeatureColumn {
            spec: FeatureSpec {
                name: feature_config.name.clone(),
                kind: feature_config.kind,
                description: feature_config.description.clone(),
                unit: feature_config.unit.clone(),
                zero_is_missing: feature_config.zero_is_missing,
                valid_range: feature_config.range.map(|[min, max]| (min, max)),
                training_range: None,
                categories: feature_config.categories.clone().unwrap_or_default(),
                // Settled once the column is read (see `FeatureConfig::allow_missing`).
                allow_missing: feature_config.allow_missing.unwrap_or(true),
            },
            discovered,
            warnings: Vec::new(),
        }
    }

    /// A cell's raw value, as `model::record::parse_text` reads it; a category the config does
    /// not list is numbered by first appearance until [`Columns::finish`] sorts them.
    fn parse(&mut self, text: &str) -> Result<f64, FieldProblem> {
        match &mut self.discovered {
            Some(discovered) if !is_missing_text(text) => {
                let name = text.trim();
                let next_code = discovered.len();
                let code = match discovered.get(name) {
                    Some(code) => *code,
                    None => *discovered.entry(name.to_owned()).or_insert(next_code),
                };
                Ok(code as f64)
            }
            _ => parse_text(&self.spec, text),
        }
    }
}

/// Smallest and largest non-missing value (configured zeros excluded).
pub(crate) fn observed_range(
    spec: &FeatureSpec,
    values: impl Iterator<Item = f64>,
) -> Option<(f64, f64)> {
    values
        .filter(|value| !spec.is_missing(*value))
        .fold(None, |range, value| match range {
            None => Some((value, value)),
            Some((min, max)) => Some((f64::min(min, value), f64::max(max, value))),
        })
}
