//! Turning named, untrusted input values into a validated raw feature row.
//!
//! The server (JSON), the batch scorer (CSV) and the training loader (CSV through polars) all
//! parse cells with [`parse_cell`], so a value means the same thing everywhere.

use std::fmt;

use crate::missing::is_missing_text;
use crate::schema::{FeatureKind, FeatureSpec, Schema};

/// One untrusted input value, before it is checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A JSON number (or a CSV cell that parsed as one).
    Number(f64),
    /// A JSON string or CSV text.
    Text(String),
    /// A JSON boolean.
    Bool(bool),
    /// Explicit `null`, an empty CSV cell or `NA`.
    Missing,
    /// Anything else (arrays, objects), described by its type name.
    Other(&'static str),
}

/// What is wrong with one field of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldProblem {
    /// A feature the schema requires is absent.
    Missing,
    /// A field the schema does not know.
    Unknown,
    /// `null` or empty for a feature that may not be missing.
    NullNotAllowed,
    /// The value has the wrong type; `expected` says what was wanted.
    WrongType {
        /// What the schema expects, e.g. "a number".
        expected: &'static str,
        /// What was found, e.g. "a string".
        found: String,
    },
    /// NaN or infinity.
    NotFinite,
    /// A fractional value for an integer feature.
    NotInteger(f64),
    /// Not 0 or 1 for a binary feature.
    NotBinary(f64),
    /// Outside the schema's plausible range.
    OutOfRange {
        /// The value given.
        value: f64,
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
    },
    /// A category the model was not trained with.
    UnknownCategory {
        /// The value given.
        value: String,
        /// The categories the model knows.
        known: Vec<String>,
    },
}

impl FieldProblem {
    /// A stable machine-readable code, like FastAPI's error `type`.
    pub fn code(&self) -> &'static str {
        match self {
            FieldProblem::Missing => "missing",
            FieldProblem::Unknown => "extra_forbidden",
            FieldProblem::NullNotAllowed => "null_not_allowed",
            FieldProblem::WrongType { .. } => "type_error",
            FieldProblem::NotFinite => "finite_number",
            FieldProblem::NotInteger(_) => "int_type",
            FieldProblem::NotBinary(_) => "binary_value",
            FieldProblem::OutOfRange { .. } => "out_of_range",
            FieldProblem::UnknownCategory { .. } => "unknown_category",
        }
    }
}

impl FieldProblem {
    /// The rule the value broke, without the value itself: for messages that must not carry
    /// patient data (logs, standard error), where [`fmt::Display`] would quote it.
    pub fn rule(&self) -> String {
        match self {
            FieldProblem::WrongType { expected, .. } => format!("expected {expected}"),
            FieldProblem::NotInteger(_) => "expected a whole number".into(),
            FieldProblem::NotBinary(_) => "expected 0 or 1".into(),
            FieldProblem::OutOfRange { min, max, .. } => {
                format!("outside the accepted range {min} to {max}")
            }
            FieldProblem::UnknownCategory { known, .. } => {
                format!("unknown category, expected one of {}", quoted_list(known))
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::Missing => write!(f, "field required"),
            FieldProblem::Unknown => write!(f, "unknown field"),
            FieldProblem::NullNotAllowed => write!(f, "value may not be missing"),
            FieldProblem::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            FieldProblem::NotFinite => write!(f, "expected a finite number"),
            FieldProblem::NotInteger(value) => {
                write!(f, "expected a whole number, found `{value}`")
            }
            FieldProblem::NotBinary(value) => write!(f, "expected 0 or 1, found `{value}`"),
            FieldProblem::OutOfRange { value, min, max } => {
                write!(f, "`{value}` is outside the accepted range {min} to {max}")
            }
            FieldProblem::UnknownCategory { value, known } => write!(
                f,
                "unknown category `{value}`, expected one of {}",
                quoted_list(known)
            ),
        }
    }
}

/// A problem with a named field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field's name as given (or as the schema names it, when missing).
    pub field: String,
    /// What is wrong.
    pub problem: FieldProblem,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.problem)
    }
}

/// Names in backticks, comma-separated, for error messages: `` `a`, `b` ``.
pub fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses one value for a feature into its raw encoding (NaN = missing, category = code).
///
/// Range checks are separate ([`check_range`]) because training may only warn about them.
pub fn parse_value(feature: &FeatureSpec, value: &Value) -> Result<f64, FieldProblem> {
    let number = match (feature.kind, value) {
        (_, Value::Missing) => return Ok(f64::NAN),
        (_, Value::Text(text)) => return parse_text(feature, text),
        (FeatureKind::Categorical, other) => {
            return Err(FieldProblem::WrongType {
                expected: "a category name (string)",
                found: type_name(other),
            });
        }
        (_, Value::Number(number)) => *number,
        (FeatureKind::Binary, Value::Bool(flag)) => f64::from(u8::from(*flag)),
        (_, other) => {
            return Err(FieldProblem::WrongType {
                expected: "a number",
                found: type_name(other),
            });
        }
    };
    check_number(feature, number)
}

/// Parses text (a CSV cell, a JSON string) for a feature: missing text, a category name, or a
/// number, without allocating unless it is refused.
pub fn parse_text(feature: &FeatureSpec, text: &str) -> Result<f64, FieldProblem> {
    if is_missing_text(text) {
        return Ok(f64::NAN);
    }
    let text = text.trim();
    if feature.kind == FeatureKind::Categorical {
        return match feature.categories.iter().position(|known| known == text) {
            Some(code) => Ok(code as f64),
            None => Err(FieldProblem::UnknownCategory {
                value: text.to_owned(),
                known: feature.categories.clone(),
            }),
        };
    }
    match text.parse::<f64>() {
        Ok(number) => check_number(feature, number),
        Err(_) => Err(FieldProblem::WrongType {
            expected: "a number",
            found: format!("`{text}`"),
        }),
    }
}

/// A number's checks by kind: finite, whole for an integer, 0 or 1 for a binary feature.
fn check_number(feature: &FeatureSpec, number: f64) -> Result<f64, FieldProblem> {
    if !number.is_finite() {
        return Err(FieldProblem::NotFinite);
    }
    match feature.kind {
        FeatureKind::Integer if number.fract() != 0.0 => Err(FieldProblem::NotInteger(number)),
        FeatureKind::Binary if number != 0.0 && number != 1.0 => {
            Err(FieldProblem::NotBinary(number))
        }
        _ => Ok(number),
    }
}

/// Checks a parsed raw value against the feature's plausible range.
///
/// Missing values and configured zeros are exempt: they are imputed, not measured.
pub fn check_range(feature: &FeatureSpec, raw: f64) -> Result<(), FieldProblem> {
    if feature.is_missing(raw) {
        return Ok(());
    }
    match feature.valid_range {
        Some((min, max)) if raw < min || raw > max => Err(FieldProblem::OutOfRange {
            value: raw,
            min,
            max,
        }),
        _ => Ok(()),
    }
}

fn type_name(value: &Value) -> String {
    match value {
        Value::Number(_) => "a number".into(),
        Value::Text(_) => "a string".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Missing => "null".into(),
        Value::Other(name) => (*name).into(),
    }
}

/// A parsed raw value admitted for the feature: missing only where allowed, within the
/// plausible range.
fn admit(feature: &FeatureSpec, raw_value: f64) -> Result<f64, FieldProblem> {
    if !feature.allow_missing && feature.is_missing(raw_value) {
        Err(FieldProblem::NullNotAllowed)
    } else {
        check_range(feature, raw_value).map(|()| raw_value)
    }
}

impl Schema {
    /// Validates a row of text cells given in schema order (a CSV row whose columns were
    /// mapped once per file) into `raw`, without looking names up or allocating for a valid
    /// row: the same rules and problems as [`Schema::encode_record`] with every value as text.
    pub fn encode_text_row<'a>(
        &self,
        cells: impl IntoIterator<Item = &'a str>,
        raw: &mut Vec<f64>,
    ) -> Result<(), Vec<FieldError>> {
        raw.clear();
        let mut errors = Vec::new();
        for (feature, cell) in self.features.iter().zip(cells) {
            match parse_text(feature, cell).and_then(|raw_value| admit(feature, raw_value)) {
                Ok(raw_value) => raw.push(raw_value),
                Err(problem) => {
                    raw.push(f64::NAN);
                    errors.push(FieldError {
                        field: feature.name.clone(),
                        problem,
                    });
                }
            }
        }
        if raw.len() < self.features.len() {
            for feature in &self.features[raw.len()..] {
                errors.push(FieldError {
                    field: feature.name.clone(),
                    problem: FieldProblem::Missing,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Validates a named record and returns its raw row, or every problem found.
    ///
    /// `fields` is the record in the order given; id columns are accepted and ignored here.
    /// Unknown and duplicate handling is strict: an unknown field is an error, so a typo in a
    /// feature name cannot silently fall back to imputation.
    pub fn encode_record<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> Result<Vec<f64>, Vec<FieldError>> {
        let mut raw = vec![f64::NAN; self.features.len()];
        let mut seen = vec![false; self.features.len()];
        let mut errors = Vec::new();
        for (name, value) in fields {
            let Some(feature_idx) = self.feature_index(name) else {
                if !self.id_columns.iter().any(|id| id == name) {
                    errors.push(FieldError {
                        field: name.to_owned(),
                        problem: FieldProblem::Unknown,
                    });
                }
                continue;
            };
            seen[feature_idx] = true;
            let feature = &self.features[feature_idx];
            let parsed =
                parse_value(feature, value).and_then(|raw_value| admit(feature, raw_value));
            match parsed {
                Ok(raw_value) => raw[feature_idx] = raw_value,
                Err(problem) => errors.push(FieldError {
                    field: name.to_owned(),
                    problem,
                }),
            }
        }
        for (feature, seen) in self.features.iter().zip(&seen) {
            if !seen {
                errors.push(FieldError {
                    field: feature.name.clone(),
                    problem: FieldProblem::Missing,
                });
            }
        }
        if errors.is_empty() {
            Ok(raw)
        } else {
            Err(errors)
        }
    }
}
