//! Run tracking: an embedded SQLite store of every training run ([`store`]), tables a person
//! reads ([`render`]), and the same run sent to a team's MLflow server over its REST API
//! ([`mlflow`]).
//!
//! The types here are plain data: `train` fills them from its outcome, so this crate knows
//! nothing of training and the store's schema is its own.

pub mod mlflow;
pub mod render;
pub mod store;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use store::{SCHEMA_VERSION, Store, StoreError};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started, not finished (or the process died).
    Running,
    /// Finished and published.
    Finished,
    /// Ended with an error.
    Failed,
}

impl RunStatus {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Running,
        }
    }
}

/// What is known when a run starts.
#[derive(Debug, Clone, Serialize)]
pub struct RunStart {
    /// 32 lowercase hex digits, as MLflow's run ids.
    pub run_id: String,
    /// The dataset's name.
    pub dataset: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// What the run was given.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// What a run was given: code, data, config, seed and command line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the working folder, when it is a repository.
    pub git_commit: Option<String>,
    /// The training file.
    pub dataset_path: String,
    /// Its SHA-256.
    pub dataset_sha256: String,
    /// The dataset config's text.
    pub config: String,
    /// The seed.
    pub seed: u64,
    /// The command line.
    pub arguments: Vec<String>,
}

/// One model's parameters and per-fold metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    /// The model's name.
    pub model: String,
    /// Hyperparameters as text.
    pub params: Vec<(String, String)>,
    /// Each metric's value per fold, in fold order.
    pub fold_metrics: Vec<(String, Vec<f64>)>,
}

impl ModelRecord {
    /// Mean and population standard deviation of a metric over folds (NaN folds skipped).
    pub fn summary(&self, metric: &str) -> Option<(f64, f64)> {
        let values: Vec<f64> = self
            .fold_metrics
            .iter()
            .find(|(name, _)| name == metric)?
            .1
            .iter()
            .copied()
            .filter(|value| value.is_finite())
            .collect();
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some((mean, variance.sqrt()))
    }
}

/// What a finished run produced. The files are borrowed: a large table's out-of-fold report
/// runs to tens of megabytes, and a copy of it made a training run's peak memory.
#[derive(Debug, Clone)]
pub struct RunFinish<'a> {
    /// Milliseconds since the Unix epoch.
    pub ended_at_ms: i64,
    /// The chosen model.
    pub chosen_model: String,
    /// The metric that ranked the models.
    pub ranking_metric: String,
    /// SHA-256 of the artifact.
    pub artifact_sha256: String,
    /// Every model trained, best first.
    pub models: Vec<ModelRecord>,
    /// `leaderboard.json`'s text.
    pub leaderboard: String,
    /// The run's report files by relative path (plots, leaderboards, `model.json`).
    pub files: Vec<(String, &'a [u8])>,
}

/// One line of `train runs list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// The dataset.
    pub dataset: String,
    /// Where it is.
    pub status: RunStatus,
    /// Start, ms since the epoch.
    pub started_at_ms: i64,
    /// End, if ended.
    pub ended_at_ms: Option<i64>,
    /// The chosen model, once finished.
    pub chosen_model: Option<String>,
    /// The ranking metric, once finished.
    pub ranking_metric: Option<String>,
    /// The chosen model's mean of the ranking metric.
    pub ranking_value: Option<f64>,
    /// SHA-256 of the artifact.
    pub artifact_sha256: Option<String>,
    /// The registry version it became, if registered.
    pub registry_version: Option<u32>,
}

/// A stored file, without its contents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileEntry {
    /// Relative path.
    pub path: String,
    /// SHA-256 of the contents.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
}

/// Everything recorded about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    /// The summary line.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// What the run was given.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Every model's parameters and fold metrics, best first.
    pub models: Vec<ModelRecord>,
    /// `leaderboard.json`'s text.
    #[serde(skip)]
    pub leaderboard: Option<String>,
    /// The files stored.
    pub files: Vec<FileEntry>,
    /// The error chain of a failed run.
    pub error: Option<String>,
    /// Evaluations of the run's artifact on labelled data, oldest first.
    pub evaluations: Vec<EvaluationRecord>,
}

/// One `train evaluate` of an artifact on a labelled file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationRecord {
    /// 32 hex digits.
    pub evaluation_id: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
    /// The dataset.
    pub dataset: String,
    /// SHA-256 of the artifact evaluated (joins it to the run that produced it).
    pub artifact_sha256: String,
    /// The labelled file.
    pub input_path: String,
    /// Its SHA-256.
    pub input_sha256: String,
    /// Records scored.
    pub n_records: usize,
    /// `evaluation.json`'s text.
    pub report: String,
}

impl RunDetail {
    /// The chosen model's record.
    pub fn chosen(&self) -> Option<&ModelRecord> {
        let chosen = self.summary.chosen_model.as_deref()?;
        self.models.iter().find(|model| model.model == chosen)
    }
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A fresh run id: 32 hex digits from the operating system's randomness (an identifier, not
/// part of any result, so it needs no seed).
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut id = String::with_capacity(32);
    for part in 0..2u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(part);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or(0),
        );
        hasher.write_u32(std::process::id());
        id.push_str(&format!("{:016x}", hasher.finish()));
    }
    id
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}
