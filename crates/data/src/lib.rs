//! Dataset configs, validated CSV loading (polars), and the exploratory data analysis report.
//!
//! This is the only crate that links polars. It hands the rest of the workspace plain
//! `ndarray` matrices and `model::Schema`s.

pub mod config;
pub mod eda;
pub mod findings;
pub mod load;

use std::path::PathBuf;

pub use config::{DatasetConfig, DroppedColumn, FeatureConfig, RangePolicy, TrainingDefaults};
pub use load::{Dataset, Labels, LoadOptions, load};

/// ` `value`` when a value may be shown, nothing otherwise.
fn quoted(value: &Option<String>) -> String {
    value
        .as_ref()
        .map(|value| format!(" `{value}`"))
        .unwrap_or_default()
}

/// Everything that can go wrong reading a config or a data file. Each variant names the file,
/// and where it applies the 1-based line (as an editor shows it), the column and the value.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file is missing or unreadable.
    #[error("cannot read `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The dataset config is malformed or inconsistent.
    #[error("invalid dataset config `{path}`: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file is not UTF-8.
    #[error("`{path}` line {line}: not valid UTF-8 text")]
    Encoding {
        /// The file.
        path: PathBuf,
        /// Line of the first invalid byte.
        line: usize,
    },
    /// No header at all.
    #[error("`{path}` is empty: expected a header line and data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A header but no data rows.
    #[error("`{path}` has a header but no data rows")]
    HeaderOnly {
        /// The file.
        path: PathBuf,
    },
    /// Two header columns share a name.
    #[error(transparent)]
    DuplicateColumn(#[from] model::header::DuplicateColumn),
    /// Configured columns are absent from the header.
    #[error(
        "`{path}` line 1: missing column(s) {}; expected {}; found {}",
        model::record::quoted_list(missing),
        model::record::quoted_list(expected),
        model::record::quoted_list(found)
    )]
    MissingColumns {
        /// Absent columns.
        missing: Vec<String>,
        /// All configured columns.
        expected: Vec<String>,
        /// The header as found.
        found: Vec<String>,
        /// The file.
        path: PathBuf,
    },
    /// Training needs the target column, and the file has none.
    #[error("`{path}` has no target column `{column}`: a file used for training must be labelled")]
    MissingTarget {
        /// The file.
        path: PathBuf,
        /// The target column.
        column: String,
    },
    /// A row has more or fewer fields than the header.
    #[error("`{path}` line {line}: {found} fields, expected {expected} as in the header")]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: usize,
        /// Fields found.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// Quotes that RFC 4180 does not allow.
    #[error("`{path}` line {line}: {reason}")]
    Quoting {
        /// The file.
        path: PathBuf,
        /// The line of the offending quote (or of an unclosed field's opening quote).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Polars could not parse the file.
    #[error("`{path}`: cannot parse as CSV: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Polars' message.
        reason: String,
    },
    /// A cell does not fit its feature.
    #[error("`{path}` line {line}, column `{column}`: invalid value{}: {problem}", quoted(.value))]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: usize,
        /// The column.
        column: String,
        /// The cell text, only when values may be shown ([`LoadOptions::show_values`]).
        value: Option<String>,
        /// The rule broken.
        problem: String,
    },
    /// The target is empty on a row of a training file.
    #[error("`{path}` line {line}, column `{column}`: missing class label")]
    MissingLabel {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: usize,
        /// The target column.
        column: String,
    },
    /// The target holds a label the config does not list.
    #[error(
        "`{path}` line {line}, column `{column}`: unknown class label{}, expected one of {}",
        quoted(.value),
        model::record::quoted_list(expected)
    )]
    UnknownLabel {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: usize,
        /// The target column.
        column: String,
        /// The label found, only when values may be shown.
        value: Option<String>,
        /// The configured classes.
        expected: Vec<String>,
    },
    /// A report file could not be written.
    #[error("cannot write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
}
