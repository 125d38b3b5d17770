//! A run's life beyond its files: recorded in the run store before it starts and after it
//! ends (or fails), registered as a version of the dataset's model, and sent to a team's
//! MLflow. The conversions from a run's outcome to the store's and registry's plain records
//! live here, once.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use model::{Artifact, Metric};
use registry::{Registered, Registry, VersionFacts};
use tracking::{ModelRecord, RunFinish, RunStart, Store};

use crate::sink::{RunSink, Sinks};
use crate::{TrainError, TrainOptions, TrainOutcome};

/// The store a run records into by default: `runs.sqlite` beside the output folder, so
/// `artifacts/sepsis/` and `artifacts/wine_quality/` share `artifacts/runs.sqlite`.
pub fn default_store(out_dir: &Path) -> PathBuf {
    parent_of(out_dir).join("runs.sqlite")
}

/// The registry a dataset's versions go to by default: `registry/<dataset>/` beside the
/// output folder.
pub fn default_registry(out_dir: &Path, dataset: &str) -> PathBuf {
    parent_of(out_dir).join("registry").join(dataset)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `git rev-parse HEAD` of the current folder, when it is a repository and git is installed.
pub fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && commit.len() == 40).then_some(commit)
}

/// SHA-256 of a file, lowercase hex, read in blocks.
pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// What the store records when a run starts.
pub fn run_start(
    options: &TrainOptions,
    run_id: &str,
    arguments: Vec<String>,
) -> Result<RunStart, TrainError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Read { path, source }
    };
    let dataset_sha256 = file_sha256(&options.data_path).map_err(read_error(&options.data_path))?;
    let config =
        std::fs::read_to_string(&options.config_path).map_err(read_error(&options.config_path))?;
    Ok(RunStart {
        run_id: run_id.to_owned(),
        dataset: options.config.name.clone(),
        started_at_ms: tracking::now_ms(),
        provenance: tracking::Provenance {
            git_commit: git_commit(),
            dataset_path: options.data_path.display().to_string(),
            dataset_sha256,
            config,
            seed: options.seed,
            arguments,
        },
    })
}

/// What the store records when a run ends.
pub fn run_finish<'a>(outcome: &'a TrainOutcome, options: &TrainOptions) -> RunFinish<'a> {
    let models = outcome
        .results
        .iter()
        .map(|result| ModelRecord {
            model: result.kind.name().to_owned(),
            params: result.params_with_balance(options.balance),
            fold_metrics: outcome
                .metrics
                .iter()
                .enumerate()
                .map(|(metric_idx, metric)| {
                    let values = result
                        .fold_metrics
                        .iter()
                        .map(|fold| fold.get(metric_idx).copied().unwrap_or(f64::NAN))
                        .collect();
                    (metric.name().to_owned(), values)
                })
                .collect(),
        })
        .collect();
    let report = |name: &str| {
        outcome
            .reports
            .iter()
            .find(|report| report.path == Path::new(name))
            .map(|report| report.contents.clone())
            .unwrap_or_default()
    };
    RunFinish {
        ended_at_ms: tracking::now_ms(),
        chosen_model: outcome.artifact.model_name.clone(),
        ranking_metric: options.metric.name().to_owned(),
        artifact_sha256: tracking::sha256_hex(&outcome.artifact_bytes),
        models,
        leaderboard: report("leaderboard.json"),
        files: outcome
            .reports
            .iter()
            .map(|report| {
                (
                    report.path.display().to_string(),
                    report.contents.as_bytes(),
                )
            })
            .collect(),
    }
}

/// The registry's record of an artifact.
pub fn new_version(
    artifact: &Artifact,
    ranking_metric: Metric,
    run_id: Option<String>,
) -> VersionFacts {
    VersionFacts {
        dataset: artifact.schema.dataset.clone(),
        model_name: artifact.model_name.clone(),
        ranking_metric,
        metrics: artifact.chosen_metrics().to_vec(),
        dataset_sha256: artifact.provenance.dataset_sha256.clone(),
        seed: artifact.provenance.seed,
        run_id,
    }
}

/// Runs training recorded in `store`: the run is entered as running before it starts, and
/// marked finished with everything it produced, or failed with its error chain. `sinks`
/// receive the run as usual (files first). Returns the outcome and the run id.
pub fn tracked_run(
    options: &TrainOptions,
    sinks: &Sinks<'_>,
    store: &mut Store,
    arguments: Vec<String>,
) -> Result<(TrainOutcome, String), TrainError> {
    let run_id = tracking::new_run_id();
    store.start_run(&run_start(options, &run_id, arguments)?)?;
    match crate::run(options, sinks as &dyn RunSink) {
        Ok(outcome) => {
            store.finish_run(&run_id, &run_finish(&outcome, options))?;
            Ok((outcome, run_id))
        }
        Err(error) => {
            let mut chain = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            // The run's own error matters more than a failure to record it.
            let _ = store.fail_run(&run_id, tracking::now_ms(), &chain);
            Err(error)
        }
    }
}

/// Registers a finished run's artifact and files as a version and notes it in the store.
pub fn register(
    registry: &Registry,
    outcome: &TrainOutcome,
    options: &TrainOptions,
    store: &Store,
    run_id: &str,
) -> Result<Registered, TrainError> {
    let record = new_version(&outcome.artifact, options.metric, Some(run_id.to_owned()));
    let registered = registry.register(&record, &outcome.files())?;
    store.set_registry_version(run_id, registered.version)?;
    Ok(registered)
}
