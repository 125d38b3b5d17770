//! Where a run's products go: the one interface between the run's stages, which do no file or
//! terminal I/O, and the outside world (files, a progress bar, and later a tracking store).
//!
//! The run reports what happens as [`RunEvent`]s, possibly from several worker threads at
//! once, and hands its finished [`TrainOutcome`] to [`RunSink::finished`], whose errors end
//! the run. [`FileSink`] writes the artifact and reports; [`MemorySink`] keeps everything in
//! memory for tests; [`Sinks`] fans out to several.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::learners::ModelKind;
use crate::{ModelResult, TrainError, TrainOutcome};

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and validating the data file.
    Load,
    /// Class balance and data warnings.
    Profile,
    /// Cross-validating every model.
    CrossValidate,
    /// Ranking the models.
    Select,
    /// Refitting the chosen model on all rows, while permutation importance scores its folds.
    FinalFit,
    /// Calibration and the decision threshold.
    Decide,
    /// Building the artifact and rendering reports.
    Package,
}

impl Stage {
    /// A short label for progress displays.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Load => "loading",
            Stage::Profile => "profiling",
            Stage::CrossValidate => "cross-validating",
            Stage::Select => "selecting",
            Stage::FinalFit => "final fit and importance",
            Stage::Decide => "threshold and calibration",
            Stage::Package => "packaging",
        }
    }
}

/// Something that happened during a run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A stage begins.
    Stage(Stage),
    /// Cross-validation is about to fit `fits` pipelines (models × folds × repeats).
    Planned {
        /// The models, in order.
        models: &'a [ModelKind],
        /// Outer fits in all.
        fits: usize,
    },
    /// A finding worth showing (small classes, unused columns, out-of-range values).
    Warning(&'a str),
    /// One outer fold of one model is scored (sent from worker threads, in any order).
    FoldFinished {
        /// The model.
        kind: ModelKind,
        /// Repeat, 0-based.
        repeat: usize,
        /// Fold, 0-based.
        fold: usize,
    },
    /// A model's cross-validation is complete.
    ModelFinished(&'a ModelResult),
}

/// Receives a run's events and its outcome.
pub trait RunSink: Sync {
    /// Called as the run progresses, possibly from several threads at once.
    fn event(&self, event: &RunEvent<'_>) {
        let _ = event;
    }

    /// Called once with everything the run produced; an error fails the run.
    fn finished(&self, outcome: &TrainOutcome) -> Result<(), TrainError> {
        let _ = outcome;
        Ok(())
    }
}

/// Several sinks, each receiving everything in order.
pub struct Sinks<'a>(pub Vec<&'a dyn RunSink>);

impl RunSink for Sinks<'_> {
    fn event(&self, event: &RunEvent<'_>) {
        for sink in &self.0 {
            sink.event(event);
        }
    }

    fn finished(&self, outcome: &TrainOutcome) -> Result<(), TrainError> {
        self.0.iter().try_for_each(|sink| sink.finished(outcome))
    }
}

/// Writes the artifact and the reports into a folder as one set (see [`crate::publish`]): a
/// crash at any moment leaves the previous set or the new one, and `model.json` always names
/// the `model.bin` beside it.
pub struct FileSink {
    out_dir: PathBuf,
    written: Mutex<Vec<PathBuf>>,
}

impl FileSink {
    /// A sink writing into `out_dir` (created if needed).
    pub fn new(out_dir: &Path) -> Self {
        FileSink {
            out_dir: out_dir.to_path_buf(),
            written: Mutex::new(Vec::new()),
        }
    }

    /// The files written so far.
    pub fn written(&self) -> Vec<PathBuf> {
        self.written
            .lock()
            .map(|written| written.clone())
            .unwrap_or_default()
    }
}

impl RunSink for FileSink {
    fn finished(&self, outcome: &TrainOutcome) -> Result<(), TrainError> {
        let files = outcome.files();
        crate::publish::publish(&self.out_dir, &files).map_err(|source| TrainError::Write {
            path: self.out_dir.clone(),
            source,
        })?;
        if let Ok(mut written) = self.written.lock() {
            written.extend(files.iter().map(|(path, _)| self.out_dir.join(path)));
        }
        Ok(())
    }
}

/// An event as a [`MemorySink`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A stage began.
    Stage(Stage),
    /// The plan: model names and the number of outer fits.
    Planned(Vec<&'static str>, usize),
    /// A warning's text.
    Warning(String),
    /// A fold finished.
    Fold(&'static str, usize, usize),
    /// A model finished, by name.
    Model(&'static str),
    /// The run finished; the leaderboard's model names, best first.
    Finished(Vec<&'static str>),
}

/// Keeps a run's events in memory, for tests and embedding.
#[derive(Default)]
pub struct MemorySink {
    events: Mutex<Vec<Recorded>>,
}

impl MemorySink {
    /// The events so far, in the order received.
    pub fn events(&self) -> Vec<Recorded> {
        self.events
            .lock()
            .map(|events| events.clone())
            .unwrap_or_default()
    }

    fn push(&self, recorded: Recorded) {
        if let Ok(mut events) = self.events.lock() {
            events.push(recorded);
        }
    }
}

impl RunSink for MemorySink {
    fn event(&self, event: &RunEvent<'_>) {
        self.push(match event {
            RunEvent::Stage(stage) => Recorded::Stage(*stage),
            RunEvent::Planned { models, fits } => {
                Recorded::Planned(models.iter().map(|kind| kind.name()).collect(), *fits)
            }
            RunEvent::Warning(text) => Recorded::Warning((*text).to_owned()),
            RunEvent::FoldFinished { kind, repeat, fold } => {
                Recorded::Fold(kind.name(), *repeat, *fold)
            }
            RunEvent::ModelFinished(result) => Recorded::Model(result.kind.name()),
        });
    }

    fn finished(&self, outcome: &TrainOutcome) -> Result<(), TrainError> {
        self.push(Recorded::Finished(
            outcome
                .results
                .iter()
                .map(|result| result.kind.name())
                .collect(),
        ));
        Ok(())
    }
}
