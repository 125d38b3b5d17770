//! The feature schema: what a record must contain, as learned from the dataset config and the training data.

use serde::{Deserialize, Serialize};

/// How a feature's values are read and preprocessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A real number.
    Numeric,
    /// A whole number (counts, years).
    Integer,
    /// 0 or 1.
    Binary,
    /// One of a fixed set of text labels; one-hot encoded.
    Categorical,
}

impl FeatureKind {
    /// The lowercase name used in configs, model cards and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Integer => "integer",
            FeatureKind::Binary => "binary",
            FeatureKind::Categorical => "categorical",
        }
    }
}

/// Whether the model predicts one of two classes or one of many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Two classes, one of which is "positive".
    Binary,
    /// More than two classes.
    Multiclass,
}

/// One input column of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Column name exactly as in the CSV header.
    pub name: String,
    /// How values are parsed and preprocessed.
    pub kind: FeatureKind,
    /// What the column means, for people.
    pub description: String,
    /// Unit of measurement, if any.
    pub unit: Option<String>,
    /// Whether a literal `0` means "not measured".
    pub zero_is_missing: bool,
    /// Plausible range from the config; values outside it are rejected at prediction time.
    pub valid_range: Option<(f64, f64)>,
    /// Smallest and largest observed (non-missing) value in the training data.
    pub training_range: Option<(f64, f64)>,
    /// Known categories, for categorical features; raw values are indices into this list.
    pub categories: Vec<String>,
    /// Whether a missing value (`null`, empty cell) may be given; the imputer then fills it.
    pub allow_missing: bool,
}

/// Everything a caller must know to build a valid record and read a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Dataset name from the config.
    pub dataset: String,
    /// Binary or multiclass.
    pub task: Task,
    /// Input features in the order the pipeline expects them.
    pub features: Vec<FeatureSpec>,
    /// Identifier columns: accepted and echoed, never used as features.
    pub id_columns: Vec<String>,
    /// Name of the target column.
    pub target: String,
    /// Class labels; probabilities are reported in this order.
    pub classes: Vec<String>,
    /// Index into `classes` of the positive class, for binary tasks.
    pub positive_class: Option<usize>,
    /// Other names clients may send for features (from the dataset config).
    pub aliases: Vec<InputAlias>,
}

/// Another name a client may send for a feature, so a client written for another API works
/// unchanged: `fixed_acidity` for `fixed acidity`, or `red_wine: 1` for `type: "red"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAlias {
    /// The name the client sends.
    pub name: String,
    /// The feature it stands for.
    pub feature: String,
    /// For a categorical feature given as a code: each sent value (as JSON text, e.g. `1`,
    /// `true`, `"r"`) and the category it means. Empty: the value is the feature's own.
    pub values: Vec<(String, String)>,
}

impl FeatureSpec {
    /// A feature with no description, unit, ranges or categories, whose missing values are
    /// allowed and where zero is a real value: the starting point for building one in code.
    pub fn new(name: &str, kind: FeatureKind) -> Self {
        FeatureSpec {
            name: name.to_owned(),
            kind,
            description: String::new(),
            unit: None,
            zero_is_missing: false,
            valid_range: None,
            training_range: None,
            categories: Vec::new(),
            allow_missing: true,
        }
    }

    /// Whether a raw value of this feature is missing (see [`crate::missing`]).
    pub fn is_missing(&self, value: f64) -> bool {
        crate::missing::is_missing_value(value, self.zero_is_missing)
    }

    /// Whether a measured raw value lies outside the range seen in training, where the model
    /// extrapolates (missing values are imputed, so never outside).
    pub fn is_beyond_training(&self, value: f64) -> bool {
        !self.is_missing(value)
            && self
                .training_range
                .is_some_and(|(min, max)| value < min || value > max)
    }
}

/// The class a label cell names: its text, spaces trimmed, equal to one of `classes`. The
/// one rule by which training, `train evaluate` and the server read a target column.
pub fn class_index(classes: &[String], cell: &str) -> Option<usize> {
    let text = cell.trim();
    classes.iter().position(|class| class == text)
}

impl Schema {
    /// The class of a label cell ([`class_index`]), or what is wrong with it: missing, or not
    /// one of the classes.
    pub fn class_of_label(&self, cell: &str) -> Result<usize, String> {
        if crate::missing::is_missing_text(cell) {
            return Err(
                "the label is missing: an evaluation needs every record's true class".into(),
            );
        }
        class_index(&self.classes, cell).ok_or_else(|| {
            format!(
                "the label is not one of the classes {}",
                crate::record::quoted_list(&self.classes)
            )
        })
    }

    /// Position of a feature by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features
            .iter()
            .position(|feature| feature.name == name)
    }

    /// The alias called `name`, if any.
    pub fn alias(&self, name: &str) -> Option<&InputAlias> {
        self.aliases.iter().find(|alias| alias.name == name)
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// The features of a raw row that the imputer fills (missing, or a zero meaning missing).
    pub fn imputed<'a>(&'a self, raw: &'a [f64]) -> impl Iterator<Item = &'a FeatureSpec> + 'a {
        self.features
            .iter()
            .zip(raw)
            .filter(|(feature, value)| feature.is_missing(**value))
            .map(|(feature, _)| feature)
    }

    /// The features of a raw row whose values lie outside their training range.
    pub fn beyond_training<'a>(
        &'a self,
        raw: &'a [f64],
    ) -> impl Iterator<Item = &'a FeatureSpec> + 'a {
        self.features
            .iter()
            .zip(raw)
            .filter(|(feature, value)| feature.is_beyond_training(**value))
            .map(|(feature, _)| feature)
    }
}
