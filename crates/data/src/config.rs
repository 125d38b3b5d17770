//! Dataset configs: the TOML files in `data/` that describe a dataset, so no dataset lives in code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use model::{FeatureKind, Task};
use serde::{Deserialize, Serialize};

use crate::DataError;

/// What to do with a value outside a feature's configured plausible range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangePolicy {
    /// Keep the row and report a warning.
    #[default]
    Warn,
    /// Refuse the file.
    Error,
}

/// A column in the file that is deliberately not used, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DroppedColumn {
    /// Column name.
    pub column: String,
    /// Why it is not a feature (e.g. it leaks the outcome).
    pub reason: String,
}

/// One feature as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Column name exactly as in the header.
    pub name: String,
    /// How to parse and preprocess it.
    pub kind: FeatureKind,
    /// What it means.
    #[serde(default)]
    pub description: String,
    /// Unit of measurement.
    #[serde(default)]
    pub unit: Option<String>,
    /// Whether a literal `0` means "not measured".
    #[serde(default)]
    pub zero_is_missing: bool,
    /// Plausible `[min, max]`.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// Known categories for categorical features; discovered from the data when absent.
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// Whether a prediction request may leave it missing (`null`, or a zero that means
    /// missing); the imputer then fills it. Unset: allowed exactly when the training data had
    /// missing values in this column, so the fill value was learnt from real gaps and a
    /// request is not silently completed with a value the data never needed.
    #[serde(default)]
    pub allow_missing: Option<bool>,
}

/// Another name for a feature in prediction requests, e.g. a snake_case name an existing
/// client sends, or a coded flag standing for a category (`red_wine = 1` for `type = "red"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasConfig {
    /// The name clients send.
    pub name: String,
    /// The feature it stands for.
    pub feature: String,
    /// For a categorical feature: each value the client sends (as JSON text: `1`, `true`,
    /// `"r"`) and the category it means.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
}

/// Training defaults a dataset may set; command-line options override them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingDefaults {
    /// Class balancing: `none`, `oversample`, `smote` or `class-weight`.
    #[serde(default)]
    pub balance: Option<String>,
    /// Threshold rule: `sensitivity>=0.80`, `max_f1`, `youden` or `fixed:0.5`.
    #[serde(default)]
    pub threshold: Option<String>,
    /// Selection metric, e.g. `roc_auc` or `accuracy`.
    #[serde(default)]
    pub metric: Option<String>,
}

/// A dataset description, read from `data/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Short name; also the default artifact folder (`artifacts/<name>/`).
    pub name: String,
    /// What the dataset is, for people.
    #[serde(default)]
    pub description: String,
    /// What the positive class means in plain words ("sepsis"), for "Risk of sepsis: 12%".
    #[serde(default)]
    pub outcome: Option<String>,
    /// Predictions with more than this share of features imputed are flagged as
    /// low-information (default one half).
    #[serde(default = "default_low_information_share")]
    pub low_information_share: f64,
    /// What a model trained on it is for, and for whom (the model report's intended use).
    #[serde(default)]
    pub intended_use: String,
    /// Known limits of the data and of what a model trained on it was validated for.
    #[serde(default)]
    pub limitations: Vec<String>,
    /// Default CSV path, relative to the working directory.
    pub path: PathBuf,
    /// Binary or multiclass.
    pub task: Task,
    /// Target column.
    pub target: String,
    /// Every class label the target may hold; anything else is an error.
    pub classes: Vec<String>,
    /// The positive class (binary tasks).
    #[serde(default)]
    pub positive_class: Option<String>,
    /// Identifier columns: kept for echoing, never features.
    #[serde(default)]
    pub id_columns: Vec<String>,
    /// Columns present in the file but deliberately unused.
    #[serde(default)]
    pub drop: Vec<DroppedColumn>,
    /// Drop exact duplicate rows before anything else (they inflate cross-validation).
    #[serde(default)]
    pub drop_duplicates: bool,
    /// What to do with out-of-range values in the file.
    #[serde(default)]
    pub on_out_of_range: RangePolicy,
    /// Features, in the order the model takes them.
    pub features: Vec<FeatureConfig>,
    /// Other names clients may send for features (the server accepts both).
    #[serde(default)]
    pub aliases: Vec<AliasConfig>,
    /// Subgroups the reports break results down by (`[[subgroups]]`: `feature`, and `bands`
    /// for a numeric feature).
    #[serde(default)]
    pub subgroups: Vec<model::SubgroupSpec>,
    /// Training defaults.
    #[serde(default)]
    pub training: TrainingDefaults,
}

fn default_low_information_share() -> f64 {
    0.5
}

impl DatasetConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DataError> {
        let config: DatasetConfig = toml::from_str(text).map_err(|error| DataError::Config {
            path: path.to_path_buf(),
            reason: error.to_string().trim().to_owned(),
        })?;
        config.validate().map_err(|reason| DataError::Config {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(config)
    }

    /// The config as TOML text (recorded in `model.json`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), String> {
        if self.features.is_empty() {
            return Err("no features are configured".into());
        }
        if !(self.low_information_share > 0.0 && self.low_information_share <= 1.0) {
            return Err(format!(
                "`low_information_share` must be above 0 and at most 1, not {}",
                self.low_information_share
            ));
        }
        let mut names = BTreeSet::new();
        let columns = self
            .features
            .iter()
            .map(|feature| feature.name.as_str())
            .chain(self.id_columns.iter().map(String::as_str))
            .chain(self.drop.iter().map(|dropped| dropped.column.as_str()))
            .chain(std::iter::once(self.target.as_str()));
        for name in columns {
            if !names.insert(name) {
                return Err(format!("column `{name}` is configured more than once"));
            }
        }
        for subgroup in &self.subgroups {
            let Some(feature) = self
                .features
                .iter()
                .find(|feature| feature.name == subgroup.feature)
            else {
                return Err(format!(
                    "subgroup feature `{}` is not a feature",
                    subgroup.feature
                ));
            };
            let numeric = matches!(feature.kind, FeatureKind::Numeric | FeatureKind::Integer);
            let ascending = subgroup.bands.windows(2).all(|pair| pair[0] < pair[1])
                && subgroup.bands.iter().all(|cut| cut.is_finite());
            if numeric && (subgroup.bands.is_empty() || !ascending) {
                return Err(format!(
                    "subgroup `{}` is numeric: give `bands`, ascending cut points such as [50, 65]",
                    subgroup.feature
                ));
            }
            if !numeric && !subgroup.bands.is_empty() {
                return Err(format!(
                    "subgroup `{}` is binary or categorical: it splits by value, without `bands`",
                    subgroup.feature
                ));
            }
        }
        for alias in &self.aliases {
            if !names.insert(alias.name.as_str()) {
                return Err(format!(
                    "alias `{}` is also a column or another alias",
                    alias.name
                ));
            }
            let Some(feature) = self
                .features
                .iter()
                .find(|feature| feature.name == alias.feature)
            else {
                return Err(format!(
                    "alias `{}` names `{}`, which is not a feature",
                    alias.name, alias.feature
                ));
            };
            let known = feature.categories.as_deref().unwrap_or_default();
            if let Some(category) = alias
                .values
                .values()
                .find(|category| !known.is_empty() && !known.contains(category))
            {
                return Err(format!(
                    "alias `{}` maps to `{category}`, which is not a category of `{}`",
                    alias.name, alias.feature
                ));
            }
        }
        let distinct: BTreeSet<&String> = self.classes.iter().collect();
        if distinct.len() != self.classes.len() {
            return Err("`classes` lists a label twice".into());
        }
        match self.task {
            Task::Binary => {
                if self.classes.len() != 2 {
                    return Err(format!(
                        "a binary task needs exactly 2 classes, `classes` has {}",
                        self.classes.len()
                    ));
                }
                match &self.positive_class {
                    Some(positive) if self.classes.contains(positive) => {}
                    Some(positive) => {
                        return Err(format!(
                            "`positive_class` `{positive}` is not one of `classes`"
                        ));
                    }
                    None => return Err("a binary task needs `positive_class`".into()),
                }
            }
            Task::Multiclass => {
                if self.classes.len() < 3 {
                    return Err("a multiclass task needs at least 3 classes".into());
                }
            }
        }
        for feature in &self.features {
            if let Some([min, max]) = feature.range
                && !matches!(
                    min.partial_cmp(&max),
                    Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                )
            {
                return Err(format!(
                    "feature `{}` has range [{min}, {max}] with min above max",
                    feature.name
                ));
            }
            if feature.categories.is_some() && feature.kind != FeatureKind::Categorical {
                return Err(format!(
                    "feature `{}` lists categories but is {}",
                    feature.name,
                    feature.kind.as_str()
                ));
            }
            // A category's code is its place in a list, not a measurement.
            if feature.range.is_some() && feature.kind == FeatureKind::Categorical {
                return Err(format!(
                    "feature `{}` is categorical and cannot have a `range`",
                    feature.name
                ));
            }
            if feature.zero_is_missing && feature.kind == FeatureKind::Categorical {
                return Err(format!(
                    "feature `{}` is categorical and cannot use `zero_is_missing`",
                    feature.name
                ));
            }
        }
        Ok(())
    }

    /// Index of the positive class in `classes` (binary tasks).
    pub fn positive_class_idx(&self) -> Option<usize> {
        let positive = self.positive_class.as_ref()?;
        self.classes.iter().position(|class| class == positive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "toy"
path = "data/toy.csv"
task = "binary"
target = "y"
classes = ["no", "yes"]
positive_class = "yes"
[[features]]
name = "a"
kind = "numeric"
"#;

    #[test]
    fn minimal_config_parses_with_defaults() {
        let config = DatasetConfig::parse(MINIMAL, Path::new("toy.toml")).unwrap();
        assert_eq!(config.positive_class_idx(), Some(1));
        assert_eq!(config.features[0].allow_missing, None);
        assert_eq!(config.on_out_of_range, RangePolicy::Warn);
    }

    #[test]
    fn subgroups_need_a_feature_and_bands_only_when_numeric() {
        let with = |table: &str| {
            DatasetConfig::parse(
                &format!("{MINIMAL}\n[[subgroups]]\n{table}\n"),
                Path::new("toy.toml"),
            )
        };
        let config = with("feature = \"a\"\nbands = [1, 2.5]").unwrap();
        assert_eq!(config.subgroups[0].bands, vec![1.0, 2.5]);
        for (table, expected) in [
            ("feature = \"b\"", "subgroup feature `b` is not a feature"),
            ("feature = \"a\"", "give `bands`"),
            ("feature = \"a\"\nbands = [3, 2]", "ascending"),
            ("feature = \"a\"\nbands = [1]\nband = 2", "toy.toml"),
        ] {
            let error = with(table).unwrap_err().to_string();
            assert!(error.contains(expected), "{table}: {error}");
        }
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let wrong_positive =
            MINIMAL.replace("positive_class = \"yes\"", "positive_class = \"maybe\"");
        let error = DatasetConfig::parse(&wrong_positive, Path::new("toy.toml")).unwrap_err();
        assert!(error.to_string().contains("`maybe`"), "{error}");
        let unknown_key = format!("{MINIMAL}\nfoo = 1\n");
        let error = DatasetConfig::parse(&unknown_key, Path::new("toy.toml")).unwrap_err();
        assert!(error.to_string().contains("toy.toml"), "{error}");
        let twice = MINIMAL.replace("name = \"a\"", "name = \"y\"");
        let error = DatasetConfig::parse(&twice, Path::new("toy.toml")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`y` is configured more than once"),
            "{error}"
        );
        let ranged_category = MINIMAL.replace(
            "kind = \"numeric\"",
            "kind = \"categorical\"\nrange = [0, 3]",
        );
        let error = DatasetConfig::parse(&ranged_category, Path::new("toy.toml")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`a` is categorical and cannot have a `range`"),
            "{error}"
        );
    }
}
