//! The persisted model artifact: a versioned, checksummed, atomically written file.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `VIGILMDL` |
//! | 4 | format version |
//! | 8 | payload length |
//! | n | payload: [`Artifact`] encoded with bincode 1.3 |
//! | 4 | CRC-32 of the payload |
//!
//! The codec is used only in this file, so it can be swapped in one place.

use std::fs;
use std::path::{Path, PathBuf};

use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::metric::Metric;
use crate::pipeline::Pipeline;
use crate::reference::Reference;
use crate::schema::{FeatureKind, Schema, Task};

/// First bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"VIGILMDL";
/// Version of the layout and payload types; bump it when either changes.
///
/// Version 2 records how each fill value was computed, names metrics by enum, and carries the
/// training population's reference distributions. Version 3 adds the schema's input aliases;
/// version 4, conformal prediction sets, subgroup figures and permutation importance; version 5,
/// node covers in every tree, what per-record explanations need, and the model card's purpose
/// and evidence; version 6, the direction of missing inputs at each tree split, fill values
/// left missing for models that route missing inputs themselves, and ensembles (soft voting,
/// stacking) as classifiers.
pub const FORMAT_VERSION: u32 = 6;
const HEADER_LEN: usize = 8 + 4 + 8;
const TRAILER_LEN: usize = 4;

/// Errors reading or writing an artifact. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read or written.
    #[error("cannot access `{path}`")]
    Io {
        /// The artifact path.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The path is not a regular file (a folder, a device such as `/dev/zero`, a pipe).
    #[error("`{path}` is not a regular file")]
    NotAFile {
        /// The artifact path.
        path: PathBuf,
    },
    /// The file is larger than any artifact this build reads.
    #[error("`{path}` is larger than {limit} bytes, the most an artifact may be")]
    TooLarge {
        /// The artifact path.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file does not start with the magic bytes.
    #[error("`{path}` is not a vigil model artifact (wrong magic bytes)")]
    NotAnArtifact {
        /// The artifact path.
        path: PathBuf,
    },
    /// The file ends before the length its header announces.
    #[error("`{path}` is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// The artifact path.
        path: PathBuf,
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// Written by another version of the format.
    #[error(
        "`{path}` has artifact format version {found}, this build reads version {supported}: retrain or use a matching build"
    )]
    UnsupportedVersion {
        /// The artifact path.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The payload's checksum does not match: the file is corrupted.
    #[error("`{path}` is corrupted: checksum {computed:08x} does not match stored {stored:08x}")]
    Checksum {
        /// The artifact path.
        path: PathBuf,
        /// Checksum in the file.
        stored: u32,
        /// Checksum of the payload as read.
        computed: u32,
    },
    /// The payload could not be decoded.
    #[error("`{path}` has an undecodable payload")]
    Decode {
        /// The artifact path.
        path: PathBuf,
        /// The codec's error.
        #[source]
        source: bincode::Error,
    },
    /// The payload could not be encoded.
    #[error("cannot encode the artifact")]
    Encode(#[source] bincode::Error),
    /// The payload decoded but is internally inconsistent.
    #[error("`{path}` is inconsistent: {reason}")]
    Inconsistent {
        /// The artifact path.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
}

/// Mean and standard deviation of one metric over cross-validation folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Which metric.
    pub metric: Metric,
    /// Mean over folds.
    pub mean: f64,
    /// Standard deviation over folds.
    pub std: f64,
}

/// Serialises metric summaries as a map from metric name to `{"mean": .., "std": ..}` (the
/// shape of the leaderboard files, `model.json` and the model card); non-finite values become
/// `null` in JSON.
pub struct MetricMap<'a>(pub &'a [MetricSummary]);

impl Serialize for MetricMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;

        #[derive(Serialize)]
        struct MeanStd {
            mean: f64,
            std: f64,
        }
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for summary in self.0 {
            map.serialize_entry(
                summary.metric.name(),
                &MeanStd {
                    mean: summary.mean,
                    std: summary.std,
                },
            )?;
        }
        map.end()
    }
}

/// Serialises name/value pairs (hyperparameters) as a map, in their order.
pub struct PairMap<'a>(pub &'a [(String, String)]);

impl Serialize for PairMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

/// One model's cross-validated results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// Model name (`logistic_regression`, ...).
    pub model: String,
    /// Metrics in a fixed order.
    pub metrics: Vec<MetricSummary>,
    /// Hyperparameters as name/value text, in a fixed order.
    pub params: Vec<(String, String)>,
}

impl LeaderboardEntry {
    /// The mean of a metric, if reported.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        self.metrics
            .iter()
            .find(|summary| summary.metric == metric)
            .map(|summary| summary.mean)
    }
}

/// How the label is decided from probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Threshold on the positive-class probability (binary tasks only).
    pub threshold: Option<f64>,
    /// The rule that chose it, e.g. `sensitivity>=0.80`.
    pub rule: String,
    /// Out-of-fold sensitivity at the threshold.
    pub oof_sensitivity: Option<f64>,
    /// Out-of-fold specificity at the threshold.
    pub oof_specificity: Option<f64>,
}

/// Where the artifact came from. No timestamps: equal inputs give equal bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Version of the crate that trained it.
    pub trainer_version: String,
    /// Random seed.
    pub seed: u64,
    /// Cross-validation folds.
    pub folds: usize,
    /// Cross-validation repeats.
    pub repeats: usize,
    /// SHA-256 of the training file, hex.
    pub dataset_sha256: String,
    /// Rows used for the final fit.
    pub n_training_rows: usize,
    /// Class balancing used.
    pub balance: String,
}

/// Everything the server needs: schema, fitted pipeline, decision rule and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// What a record must contain.
    pub schema: Schema,
    /// The fitted pipeline.
    pub pipeline: Pipeline,
    /// Name of the chosen model.
    pub model_name: String,
    /// Its hyperparameters.
    pub params: Vec<(String, String)>,
    /// Threshold and how it was chosen.
    pub decision: Decision,
    /// Cross-validated results of every model trained, best first.
    pub leaderboard: Vec<LeaderboardEntry>,
    /// Where it came from.
    pub provenance: Provenance,
    /// The training population, for drift monitoring.
    pub reference: Reference,
    /// Conformal prediction sets calibrated on out-of-fold probabilities (absent when turned
    /// off with `--coverage 0`).
    pub conformal: Option<crate::ConformalSets>,
    /// Figures per subgroup (the config's `[[subgroups]]`), from out-of-fold predictions at
    /// the shipped threshold.
    pub subgroups: Vec<crate::SubgroupFamily>,
    /// Permutation importance of each feature on out-of-fold predictions.
    pub importance: Option<crate::PermutationImportance>,
    /// What per-record explanations need (training input means, a background summary).
    pub explainer: crate::Explainer,
    /// The purpose, from the dataset config.
    pub purpose: crate::Purpose,
    /// The chosen model's out-of-fold evidence at the shipped rule.
    pub evidence: crate::Evidence,
}

impl Artifact {
    /// How the reports split records into subgroups.
    pub fn subgroup_specs(&self) -> Vec<crate::SubgroupSpec> {
        self.subgroups
            .iter()
            .map(|family| family.spec.clone())
            .collect()
    }

    /// Cross-validated metrics of the chosen model, from the leaderboard.
    pub fn chosen_metrics(&self) -> &[MetricSummary] {
        self.leaderboard
            .iter()
            .find(|entry| entry.model == self.model_name)
            .map_or(&[], |entry| entry.metrics.as_slice())
    }

    /// Encodes to the on-disk layout.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ArtifactError> {
        let payload = codec().serialize(self).map_err(ArtifactError::Encode)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len() + TRAILER_LEN);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        Ok(bytes)
    }

    /// Decodes and checks the on-disk layout; `path` is only used in error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ArtifactError> {
        let path_buf = || path.to_path_buf();
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(ArtifactError::NotAnArtifact { path: path_buf() });
        }
        if bytes.len() < HEADER_LEN {
            return Err(ArtifactError::Truncated {
                path: path_buf(),
                expected: HEADER_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4]));
        if version != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedVersion {
                path: path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let payload_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or([0; 8]));
        let expected = (HEADER_LEN as u64)
            .saturating_add(payload_len)
            .saturating_add(TRAILER_LEN as u64);
        if (bytes.len() as u64) < expected {
            return Err(ArtifactError::Truncated {
                path: path_buf(),
                expected,
                found: bytes.len() as u64,
            });
        }
        if (bytes.len() as u64) > expected {
            return Err(ArtifactError::Inconsistent {
                path: path_buf(),
                reason: format!(
                    "{} unexpected bytes after the checksum",
                    bytes.len() as u64 - expected
                ),
            });
        }
        let payload = &bytes[HEADER_LEN..HEADER_LEN + payload_len as usize];
        let trailer = &bytes[HEADER_LEN + payload_len as usize..];
        let stored = u32::from_le_bytes(trailer.try_into().unwrap_or([0; 4]));
        let computed = crc32fast::hash(payload);
        if stored != computed {
            return Err(ArtifactError::Checksum {
                path: path_buf(),
                stored,
                computed,
            });
        }
        // A size limit keeps a hostile length prefix inside the payload from allocating wildly.
        let artifact: Artifact = codec()
            .with_limit(payload.len() as u64 * 4 + 1024)
            .deserialize(payload)
            .map_err(|source| ArtifactError::Decode {
                path: path_buf(),
                source,
            })?;
        artifact
            .check_consistency()
            .map_err(|reason| ArtifactError::Inconsistent {
                path: path_buf(),
                reason,
            })?;
        Ok(artifact)
    }

    /// Reads and checks an artifact file.
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        Self::from_bytes(&read_artifact_file(path)?, path)
    }

    /// Writes the artifact crash-safely (see [`crate::atomic`]): a crash at any point leaves
    /// either the previous artifact or the new one, never a mix.
    pub fn save(&self, path: &Path) -> Result<(), ArtifactError> {
        write_atomically(path, &self.to_bytes()?).map_err(|source| ArtifactError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Checks that the parts agree, so that a decoded artifact cannot make prediction panic.
    pub fn check_consistency(&self) -> Result<(), String> {
        for alias in &self.schema.aliases {
            if self.schema.feature_index(&alias.feature).is_none() {
                return Err(format!(
                    "alias `{}` names `{}`, which is not a feature",
                    alias.name, alias.feature
                ));
            }
        }
        let schema = &self.schema;
        let pipeline = &self.pipeline;
        let n_classes = schema.classes.len();
        if n_classes < 2 {
            return Err(format!("{n_classes} classes; at least 2 are needed"));
        }
        if pipeline.n_classes != n_classes {
            return Err(format!(
                "pipeline predicts {} classes, schema lists {n_classes}",
                pipeline.n_classes
            ));
        }
        match (schema.task, schema.positive_class) {
            (Task::Binary, Some(positive)) if n_classes == 2 && positive < 2 => {
                if pipeline.positive_class != positive {
                    return Err("pipeline and schema disagree on the positive class".into());
                }
            }
            (Task::Binary, _) => {
                return Err("binary task needs 2 classes and a positive class".into());
            }
            (Task::Multiclass, _) => {}
        }
        if pipeline.preprocessor.columns.len() != schema.features.len() {
            return Err(format!(
                "preprocessing has {} columns, schema has {} features",
                pipeline.preprocessor.columns.len(),
                schema.features.len()
            ));
        }
        for (feature, column) in schema.features.iter().zip(&pipeline.preprocessor.columns) {
            let one_hot = matches!(column, crate::preprocessing::ColumnTransform::OneHot { .. });
            if one_hot != (feature.kind == FeatureKind::Categorical) {
                return Err(format!(
                    "feature `{}` is {} but its preprocessing does not match",
                    feature.name,
                    feature.kind.as_str()
                ));
            }
        }
        let n_inputs = pipeline.preprocessor.n_outputs();
        let produced: usize = pipeline
            .preprocessor
            .columns
            .iter()
            .map(|column| column.n_outputs())
            .sum();
        if produced != n_inputs {
            return Err("preprocessing output names do not match its columns".into());
        }
        if let Some(stated) = pipeline.classifier.stated_inputs()
            && stated != n_inputs
        {
            return Err(format!(
                "classifier expects {stated} inputs, preprocessing produces {n_inputs}"
            ));
        }
        if self.reference.features.len() != schema.features.len() {
            return Err(format!(
                "the drift reference describes {} features, the schema has {}",
                self.reference.features.len(),
                schema.features.len()
            ));
        }
        if let Some(threshold) = self.decision.threshold
            && !(0.0..=1.0).contains(&threshold)
        {
            return Err(format!("threshold {threshold} is not a probability"));
        }
        Ok(())
    }
}

/// The most bytes an artifact file may hold (the largest shipped one, a wine forest, is about
/// 23 MB): reading stops there, so a wrong path cannot exhaust memory.
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// Reads an artifact file's bytes, refusing anything but a regular file of at most
/// [`MAX_ARTIFACT_BYTES`] (checked while reading too, in case the file grows).
pub fn read_artifact_file(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    use std::io::Read as _;
    let io_error = |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(ArtifactError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let too_large = || ArtifactError::TooLarge {
        path: path.to_path_buf(),
        limit: MAX_ARTIFACT_BYTES,
    };
    if metadata.len() > MAX_ARTIFACT_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_ARTIFACT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_ARTIFACT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Bytes a pipeline takes in an artifact's payload (what a candidate would add to `model.bin`).
pub fn encoded_len(pipeline: &Pipeline) -> u64 {
    codec().serialized_size(pipeline).unwrap_or(0)
}

/// CRC-32 of a whole artifact file: a short fingerprint for `model_version` strings.
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The payload codec: bincode 1.3, fixed-width integers, no trailing bytes allowed.
fn codec() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding()
}
