//! The retraining cycle as resumable steps: validate the data, train (recorded in the run
//! store), gate against production, register the candidate, and optionally promote it.
//!
//! Each cycle is keyed by what determines its result (the config's text, the data's SHA-256,
//! the seed and the training options), and its progress is saved after every step in
//! `<registry>/retrain/<key>/state.json`, with the trained run's files beside it. Running the
//! same cycle again resumes after the last completed step, so an orchestrator can retry a
//! failed step without redoing the ones before it, and a finished cycle is not repeated: the
//! same data and seed never create a second version (the registry also deduplicates by the
//! artifact's SHA-256).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use data::{Labels, LoadOptions};
use model::Artifact;
use registry::{Alias, Gate, Registry, Verdict};
use tracking::Store;

use crate::sink::{FileSink, RunSink, Sinks};
use crate::{TrainError, TrainOptions, lifecycle};

/// One step of the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Read and validate the data file.
    Validate,
    /// Train, recorded in the run store.
    Train,
    /// Compare with production's cross-validated metrics.
    Gate,
    /// Register as a version with the alias `candidate`.
    Register,
    /// Point `production` at it, when asked and the gate passed.
    Promote,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 5] = [
        Step::Validate,
        Step::Train,
        Step::Gate,
        Step::Register,
        Step::Promote,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Train => "train",
            Step::Gate => "gate",
            Step::Register => "register",
            Step::Promote => "promote",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.name() == text.trim())
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a step: expected validate, train, gate, register or promote"
                )
            })
    }
}

/// The gate's verdict as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    /// Whether the new model may replace production.
    pub passed: bool,
    /// The production version compared with, if any.
    pub production: Option<u32>,
    /// Why it was refused.
    pub refusal: Option<String>,
}

/// A cycle's progress, saved after every step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Rows in the validated data file.
    pub validated_rows: Option<usize>,
    /// The tracked run that trained the model.
    pub run_id: Option<String>,
    /// SHA-256 of its artifact.
    pub artifact_sha256: Option<String>,
    /// The gate's verdict.
    pub gate: Option<GateOutcome>,
    /// The registry version.
    pub version: Option<u32>,
    /// Whether production was moved (`Some(false)`: the step ran and chose not to).
    pub promoted: Option<bool>,
}

impl State {
    fn done(&self, step: Step) -> bool {
        match step {
            Step::Validate => self.validated_rows.is_some(),
            Step::Train => self.run_id.is_some(),
            Step::Gate => self.gate.is_some(),
            Step::Register => self.version.is_some(),
            Step::Promote => self.promoted.is_some(),
        }
    }
}

/// One cycle: where it keeps its state and what it may do.
pub struct Cycle<'a> {
    /// The training options.
    pub options: &'a TrainOptions,
    /// The registry receiving the version.
    pub registry: Registry,
    /// The gate production promotions must pass.
    pub gate: Gate,
    /// Whether to move `production` when the gate passes.
    pub promote: bool,
    /// The command line, for the run store.
    pub arguments: Vec<String>,
}

/// What one step did, for the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Which step.
    pub step: Step,
    /// True when it had already completed in an earlier attempt.
    pub resumed: bool,
    /// One line saying what happened.
    pub summary: String,
}

impl Cycle<'_> {
    /// Whether a step has completed. A promotion declined for want of `--promote` is done
    /// only for cycles that still do not ask for one.
    fn done(&self, step: Step, state: &State) -> bool {
        match step {
            Step::Promote if self.promote => {
                state.promoted == Some(true)
                    || state.gate.as_ref().is_some_and(|gate| !gate.passed)
                        && state.promoted.is_some()
            }
            _ => state.done(step),
        }
    }

    /// The key naming this cycle: SHA-256 of everything that determines its result.
    pub fn key(&self) -> Result<String, TrainError> {
        let options = self.options;
        let config = std::fs::read(&options.config_path).map_err(|source| TrainError::Read {
            path: options.config_path.clone(),
            source,
        })?;
        let data_sha256 =
            lifecycle::file_sha256(&options.data_path).map_err(|source| TrainError::Read {
                path: options.data_path.clone(),
                source,
            })?;
        let fingerprint = format!(
            "{data_sha256}\n{}\n{}\n{}\n{:?}\n{:?}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{}\n{:?}\n",
            options.seed,
            options.folds,
            options.repeats,
            options.models,
            options.metric,
            options.tune,
            options.threshold,
            options.calibration,
            options.balance,
            options.preprocess,
            options.coverage,
            options.selection,
        );
        let mut bytes = config;
        bytes.extend_from_slice(fingerprint.as_bytes());
        Ok(tracking::sha256_hex(&bytes)[..16].to_owned())
    }

    /// The folder holding this cycle's state and trained files.
    pub fn work_dir(&self) -> Result<PathBuf, TrainError> {
        Ok(self.registry.root().join("retrain").join(self.key()?))
    }

    fn state_path(work_dir: &Path) -> PathBuf {
        work_dir.join("state.json")
    }

    /// The saved state (empty for a new cycle).
    pub fn state(&self) -> Result<State, TrainError> {
        let path = Self::state_path(&self.work_dir()?);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                TrainError::Options(format!(
                    "retraining state `{}` is unreadable ({error}): remove it to start the cycle again",
                    path.display()
                ))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(TrainError::Read { path, source }),
        }
    }

    fn save(work_dir: &Path, state: &State) -> Result<(), TrainError> {
        let path = Self::state_path(work_dir);
        let text = serde_json::to_vec_pretty(state).unwrap_or_default();
        model::write_atomically(&path, &text).map_err(|source| TrainError::Write { path, source })
    }

    /// Runs `steps` in order, skipping those already completed; a step needing an earlier
    /// one that has not run is an error naming it. `sink` receives the training run's events
    /// (a progress bar).
    pub fn run(
        &self,
        steps: &[Step],
        store: &mut Store,
        sink: &dyn RunSink,
    ) -> Result<Vec<StepReport>, TrainError> {
        let work_dir = self.work_dir()?;
        let mut state = self.state()?;
        let mut reports = Vec::new();
        for &step in steps {
            if let Some(missing) = Step::ALL
                .iter()
                .take_while(|earlier| **earlier < step)
                .find(|earlier| !self.done(**earlier, &state))
            {
                return Err(TrainError::Options(format!(
                    "step `{step}` needs step `{missing}` first (run `train retrain --step {missing}` or without `--step`)"
                )));
            }
            if self.done(step, &state) {
                reports.push(StepReport {
                    step,
                    resumed: true,
                    summary: describe(step, &state),
                });
                continue;
            }
            self.run_step(step, &work_dir, &mut state, store, sink)?;
            Self::save(&work_dir, &state)?;
            reports.push(StepReport {
                step,
                resumed: false,
                summary: describe(step, &state),
            });
        }
        Ok(reports)
    }

    fn run_step(
        &self,
        step: Step,
        work_dir: &Path,
        state: &mut State,
        store: &mut Store,
        sink: &dyn RunSink,
    ) -> Result<(), TrainError> {
        let options = self.options;
        let run_dir = work_dir.join("run");
        match step {
            Step::Validate => {
                let dataset = data::load(
                    &options.config,
                    &options.data_path,
                    LoadOptions {
                        labels: Labels::Required,
                        show_values: options.show_values,
                    },
                )?;
                options.validate()?;
                state.validated_rows = Some(dataset.n_rows());
            }
            Step::Train => {
                let files = FileSink::new(&run_dir);
                let (outcome, run_id) = lifecycle::tracked_run(
                    options,
                    &Sinks(vec![&files, sink]),
                    store,
                    self.arguments.clone(),
                )?;
                state.artifact_sha256 = Some(tracking::sha256_hex(&outcome.artifact_bytes));
                state.run_id = Some(run_id);
            }
            Step::Gate => {
                let new = self.trained_version(&run_dir, state)?;
                state.gate = Some(match self.registry.gate_new(&new, &self.gate)? {
                    Verdict::NoProduction => GateOutcome {
                        passed: true,
                        production: None,
                        refusal: None,
                    },
                    Verdict::Passes(production) => GateOutcome {
                        passed: true,
                        production: Some(production),
                        refusal: None,
                    },
                    Verdict::Refused(refusal) => GateOutcome {
                        passed: false,
                        production: Some(refusal.incumbent),
                        refusal: Some(refusal.to_string()),
                    },
                });
            }
            Step::Register => {
                let new = self.trained_version(&run_dir, state)?;
                let files = read_tree(&run_dir)?;
                let borrowed: Vec<(PathBuf, &[u8])> = files
                    .iter()
                    .map(|(path, bytes)| (path.clone(), bytes.as_slice()))
                    .collect();
                let registered = self.registry.register(&new, &borrowed)?;
                if let Some(run_id) = &state.run_id {
                    store.set_registry_version(run_id, registered.version)?;
                }
                state.version = Some(registered.version);
            }
            Step::Promote => {
                let passed = state.gate.as_ref().is_some_and(|gate| gate.passed);
                let version = state.version.unwrap_or_default();
                state.promoted = Some(if self.promote && passed {
                    self.registry
                        .promote(version, Alias::Production, &self.gate, false)?;
                    true
                } else {
                    false
                });
            }
        }
        Ok(())
    }

    /// The registry record of the trained artifact in `run_dir`.
    fn trained_version(
        &self,
        run_dir: &Path,
        state: &State,
    ) -> Result<registry::VersionFacts, TrainError> {
        let artifact = Artifact::load(&run_dir.join("model.bin"))?;
        Ok(lifecycle::new_version(
            &artifact,
            self.options.metric,
            state.run_id.clone(),
        ))
    }
}

/// Every file under `root` by relative path, sorted.
fn read_tree(root: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, TrainError> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Read { path, source }
    };
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).map_err(read_error(&folder))? {
            let path = entry.map_err(read_error(&folder))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).map_err(read_error(&path))?;
                let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                files.push((relative, bytes));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn describe(step: Step, state: &State) -> String {
    match step {
        Step::Validate => format!("{} labelled rows", state.validated_rows.unwrap_or(0)),
        Step::Train => format!(
            "run {} produced artifact {}",
            state
                .run_id
                .as_deref()
                .map_or("-", |id| &id[..8.min(id.len())]),
            state
                .artifact_sha256
                .as_deref()
                .map_or("-", |sha| &sha[..16.min(sha.len())])
        ),
        Step::Gate => match &state.gate {
            Some(GateOutcome {
                passed: true,
                production: None,
                ..
            }) => "passed: nothing in production yet".into(),
            Some(GateOutcome {
                passed: true,
                production: Some(version),
                ..
            }) => {
                format!("passed against production version {version}")
            }
            Some(GateOutcome { refusal, .. }) => {
                format!("refused: {}", refusal.as_deref().unwrap_or(""))
            }
            None => String::new(),
        },
        Step::Register => format!("version {} (alias candidate)", state.version.unwrap_or(0)),
        Step::Promote => match state.promoted {
            Some(true) => format!("production now version {}", state.version.unwrap_or(0)),
            _ if state.gate.as_ref().is_some_and(|gate| !gate.passed) => {
                "not promoted: the gate refused".into()
            }
            _ => "not promoted (pass `--promote` to move production)".into(),
        },
    }
}
