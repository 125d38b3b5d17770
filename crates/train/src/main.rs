//! The `train` command: `train [options]` trains and evaluates, `train eda` explores a dataset,
//! `train families` lists the model families; `runs`, `models`, `promote`, `rollback` and
//! `retrain` manage the model's lifecycle (`commands.rs`).

mod commands;

/// See `mimalloc` in the workspace manifest: freed memory goes back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use data::eda::Summary;
use data::{DatasetConfig, Labels, LoadOptions};
use model::Metric;
use preprocess::{Balance, Imputation, PreprocessParams, Scaling};
use train::learners::ModelKind;
use train::sink::{FileSink, RunEvent, RunSink, Sinks, Stage};
use train::threshold::{CalibrationKind, ThresholdRule};
use train::{TrainError, TrainOptions, TrainOutcome, lifecycle, report};

/// Train, cross-validate and compare classifiers on a clinical table, then save the best as a
/// versioned artifact that `serve` loads.
#[derive(Debug, Parser)]
#[command(name = "train", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explore a dataset: print a summary and write an HTML report with plots.
    Eda(EdaArgs),
    /// List the model families: names, defaults and what `--tune` searches.
    Families,
    /// Recorded training runs: `list`, `show RUN`, `compare RUN RUN`.
    Runs(commands::RunsArgs),
    /// Registered model versions: `list`.
    Models(commands::ModelsArgs),
    /// Point an alias (default `production`) at a registered version, through the promotion
    /// gate.
    Promote(commands::PromoteArgs),
    /// Point an alias back where it was before its latest promotion.
    Rollback(commands::RollbackArgs),
    /// The retraining cycle as resumable steps: validate, train, gate, register, promote.
    Retrain(commands::RetrainArgs),
    /// Score a labelled file with a trained model and report its figures with bootstrap 95%
    /// intervals at the shipped threshold (JSON, HTML, plots; recorded in the run store).
    Evaluate(commands::EvaluateArgs),
}

#[derive(Debug, Args)]
struct DatasetArgs {
    /// Dataset config (TOML) describing columns, target and quirks.
    #[arg(long, default_value = "data/sepsis.toml", env = "VIGIL_CONFIG")]
    config: PathBuf,
    /// CSV file to read instead of the config's `path`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Quote offending cell values in errors and warnings. Off by default: they are patient
    /// data, and line and column already locate them.
    #[arg(long)]
    show_values: bool,
}

#[derive(Debug, Args)]
struct EdaArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Output folder for the report [default: artifacts/<dataset>/eda/].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TrainArgs {
    #[command(flatten)]
    modeling: ModelingArgs,
    /// Output folder for the artifact and reports [default: artifacts/<dataset>/].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run store (SQLite) recording every run [default: runs.sqlite beside the output folder].
    #[arg(long, env = "VIGIL_RUN_STORE")]
    store: Option<PathBuf>,
    /// Also register the model as a new version (alias `candidate`) in the registry.
    #[arg(long)]
    register: bool,
    /// Registry folder for `--register` [default: registry/<dataset>/ beside the output folder].
    #[arg(long, env = "VIGIL_REGISTRY")]
    registry: Option<PathBuf>,
    /// Also log the run to this MLflow tracking server (`http://HOST:PORT`) and register its
    /// model there with the alias `candidate`.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    tracking_uri: Option<String>,
    /// No progress bar or table: only errors (for scripts).
    #[arg(long)]
    quiet: bool,
}

/// What determines a trained model: the dataset and every modeling option.
#[derive(Debug, Args)]
pub(crate) struct ModelingArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Random seed: same seed and data give a byte-identical artifact.
    #[arg(long, default_value_t = train::DEFAULT_SEED)]
    seed: u64,
    /// Cross-validation folds (stratified).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Cross-validation repeats, each with a fresh shuffle.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Metric that ranks models, e.g. `roc_auc`, `pr_auc`, `brier` (binary) or `accuracy`,
    /// `macro_f1` (multiclass) [default: the config's, else roc_auc or accuracy].
    #[arg(long)]
    metric: Option<Metric>,
    /// Class balancing of training folds: none, oversample, smote or class-weight
    /// [default: the config's, else none].
    #[arg(long)]
    balance: Option<Balance>,
    /// Models to train, comma-separated (`train families` lists them) [default: every family
    /// except `et`].
    #[arg(long, value_delimiter = ',')]
    models: Vec<ModelKind>,
    /// Random-search candidates per model, scored by inner 3-fold CV inside each outer fold
    /// (nested CV, with successive halving: the best third of the candidates after one inner
    /// fold see all three), so the leaderboard stays honest. 0 trains default hyperparameters.
    #[arg(long, default_value_t = 0)]
    tune: usize,
    /// Members of the soft-voting and stacking candidates: the best this many single families
    /// of the run by `--metric`, each cross-validated like any family (0 or 1: no ensembles).
    #[arg(long, default_value_t = 3)]
    ensemble_size: usize,
    /// Decision-threshold rule for binary tasks: `sensitivity>=0.80`, `max_f1`, `youden` or
    /// `fixed:0.5` [default: the config's, else youden].
    #[arg(long)]
    threshold: Option<ThresholdRule>,
    /// Calibration of the chosen model's probabilities, fitted on out-of-fold predictions:
    /// auto (whichever of none, platt and isotonic has the lowest cross-fitted Brier score),
    /// none, platt or isotonic.
    #[arg(long, default_value = "auto")]
    calibration: CalibrationKind,
    /// Which candidate ships: one-se (among those within one standard error of the best by
    /// `--metric`, the best Brier score, or log loss for multiclass), best (the best by
    /// `--metric`) or model:<family> (that family, e.g. `model:stacking`, to ship and compare it).
    #[arg(long, default_value = "one-se")]
    selection: train::selection::SelectionRule,
    /// Keep this share of the rows (stratified, seeded) out of everything — tuning, model
    /// choice, threshold, calibration, prediction sets — and report the shipped model's
    /// figures on it beside the cross-validated ones (`holdout/`, `leaderboard.md`,
    /// `model_report.md`).
    #[arg(long, default_value_t = 0.0)]
    holdout: f64,
    /// With `--holdout`: refit the shipped model on the training rows only (`train`: the test
    /// figures describe it exactly) or on every row (`all`: measured on the training-only fit
    /// first, the test figures estimate it; hyperparameters, threshold, calibration and
    /// prediction sets are still chosen without the test rows).
    #[arg(long, default_value = "train")]
    holdout_refit: train::options::HoldoutRefit,
    /// Target coverage of the conformal prediction sets the server returns beside each
    /// probability (class-conditional, calibrated on out-of-fold probabilities); 0 turns them
    /// off.
    #[arg(long, default_value_t = 0.9)]
    coverage: f64,
    /// Imputation of numeric features: median, mean or most-frequent (integer features always
    /// use the median, binary and categorical ones the most frequent value).
    #[arg(long, default_value = "median")]
    impute: Imputation,
    /// Scaling: standard, robust or none.
    #[arg(long, default_value = "standard")]
    scaling: Scaling,
    /// Add a 0/1 "was missing" input for every numeric column with missing values.
    #[arg(long)]
    missing_indicator: bool,
}

/// Writes to standard output; a reader that went away (`train families | head`) is not an error.
pub(crate) fn emit(text: &str) -> std::io::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error),
        _ => Ok(()),
    }
}

fn load_config(args: &DatasetArgs) -> Result<(DatasetConfig, PathBuf)> {
    let config = DatasetConfig::load(&args.config)?;
    let data = args.data.clone().unwrap_or_else(|| config.path.clone());
    if !data.exists() {
        bail!(
            "data file `{}` not found: download it as data/README.md explains, or pass `--data PATH`",
            data.display()
        );
    }
    Ok((config, data))
}

fn run_eda(args: &EdaArgs) -> Result<()> {
    let (config, data_path) = load_config(&args.dataset)?;
    let dataset = data::load(
        &config,
        &data_path,
        LoadOptions {
            labels: Labels::Optional,
            show_values: args.dataset.show_values,
        },
    )
    .with_context(|| format!("cannot explore `{}`", data_path.display()))?;
    for warning in &dataset.warnings {
        eprintln!("warning: {warning}");
    }
    let summary = Summary::compute(&config, &dataset);
    emit(&summary.to_text()).context("cannot write to standard output")?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| train::default_out_dir(&config).join("eda"));
    let report = summary
        .write_report(&dataset, &out)
        .with_context(|| format!("cannot write the EDA report to `{}`", out.display()))?;
    emit(&format!("report: {}\n", report.display())).context("cannot write to standard output")
}

fn list_models() -> Result<()> {
    let mut out = String::new();
    for kind in ModelKind::all() {
        let info = kind.info();
        let _ = writeln!(
            out,
            "{:<6} {:<22} {}{}",
            info.short,
            info.name,
            info.description,
            if info.in_default_run {
                ""
            } else {
                " [not in the default run]"
            }
        );
        let defaults: Vec<String> = kind
            .default_params()
            .pairs()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let _ = writeln!(out, "       defaults: {}", defaults.join(", "));
        for (name, range) in kind.search_space() {
            let _ = writeln!(out, "       --tune searches {name}: {range}");
        }
    }
    emit(&out).context("cannot write to standard output")
}

/// The config's defaults, overridden by whatever the command line gives.
pub(crate) fn parse_options(args: &ModelingArgs) -> Result<TrainOptions> {
    let (config, data_path) = load_config(&args.dataset)?;
    let mut options = TrainOptions::from_config(config, args.dataset.config.clone(), data_path)?;
    options.seed = args.seed;
    options.folds = args.folds;
    options.repeats = args.repeats;
    options.metric = args.metric.unwrap_or(options.metric);
    options.balance = args.balance.unwrap_or(options.balance);
    if !args.models.is_empty() {
        options.models.clear();
        for kind in &args.models {
            if !options.models.contains(kind) {
                options.models.push(*kind);
            }
        }
    }
    options.tune = args.tune;
    options.ensemble_size = args.ensemble_size;
    options.threshold = args.threshold.unwrap_or(options.threshold);
    options.calibration = args.calibration;
    options.selection = args.selection;
    options.coverage = args.coverage;
    options.holdout = args.holdout;
    options.holdout_refit = args.holdout_refit;
    options.show_values = args.dataset.show_values;
    options.preprocess = PreprocessParams {
        numeric_imputation: args.impute,
        scaling: args.scaling,
        missing_indicator: args.missing_indicator,
    }
    .check()?;
    options.validate()?;
    Ok(options)
}

/// The terminal: a progress bar over the cross-validation fits while the run goes, then the
/// warnings, the leaderboard and what was written (unless `--quiet`).
pub(crate) struct TerminalSink<'a> {
    bar: ProgressBar,
    quiet: bool,
    options: &'a TrainOptions,
    out_dir: &'a Path,
    started: Instant,
    /// When each stage began, in order: the summary says where a long run's time went.
    stages: Mutex<Vec<(Stage, Instant)>>,
}

impl TerminalSink<'_> {
    /// `time: loading 0.41 s, profiling 0.12 s, …`: each stage's seconds, up to now.
    fn stage_times(&self) -> String {
        let Ok(stages) = self.stages.lock() else {
            return String::new();
        };
        let now = Instant::now();
        let parts: Vec<String> = stages
            .iter()
            .enumerate()
            .map(|(idx, (stage, began))| {
                let ended = stages.get(idx + 1).map_or(now, |(_, next)| *next);
                format!("{} {:.2} s", stage.label(), (ended - *began).as_secs_f64())
            })
            .collect();
        format!("time: {}\n", parts.join(", "))
    }
}

impl RunSink for TerminalSink<'_> {
    fn event(&self, event: &RunEvent<'_>) {
        match event {
            RunEvent::Stage(stage) => {
                if let Ok(mut stages) = self.stages.lock() {
                    stages.push((*stage, Instant::now()));
                }
                self.bar.set_message(stage.label());
            }
            RunEvent::Planned { fits, .. } => self.bar.set_length(*fits as u64),
            RunEvent::FoldFinished { kind, .. } => {
                self.bar.set_message(kind.name());
                self.bar.inc(1);
            }
            RunEvent::Warning(_) | RunEvent::ModelFinished(_) => {}
        }
    }

    fn finished(&self, outcome: &TrainOutcome) -> Result<(), TrainError> {
        self.bar.finish_and_clear();
        if self.quiet {
            return Ok(());
        }
        for warning in &outcome.warnings {
            eprintln!("warning: {warning}");
        }
        let options = self.options;
        let mut out = format!(
            "{}: {} rows, {}, seed {}\n",
            options.config.name,
            outcome.artifact.provenance.n_training_rows,
            options.cv_scheme(),
            options.seed
        );
        out.push_str(&report::leaderboard_table(
            &outcome.results,
            outcome.metrics,
            options.metric,
        ));
        let _ = writeln!(
            out,
            "selection: {}\ndecision: {}; {}",
            outcome.selection.describe(),
            report::decision_summary(&outcome.artifact.decision),
            outcome.calibration.describe()
        );
        if let Some(holdout) = &outcome.holdout {
            out.push_str(&train::evaluate::holdout_summary(
                holdout,
                &outcome.artifact,
            ));
        }
        out.push_str(&self.stage_times());
        let _ = writeln!(
            out,
            "wrote {} and reports in {} ({:.2} s)",
            self.out_dir.join("model.bin").display(),
            self.out_dir.display(),
            self.started.elapsed().as_secs_f64()
        );
        emit(&out).map_err(|source| TrainError::Write {
            path: PathBuf::from("standard output"),
            source,
        })
    }
}

/// The progress bar over cross-validation fits (hidden with `--quiet`).
pub(crate) fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} fits, {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    // A fold can take minutes (an SVM on many rows): the spinner and the elapsed time keep
    // moving between finished fits, so a long fold does not look like a hang.
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    bar
}

fn run_train(args: &TrainArgs) -> Result<()> {
    let options = parse_options(&args.modeling)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| train::default_out_dir(&options.config));
    let terminal = TerminalSink {
        bar: progress_bar(args.quiet),
        quiet: args.quiet,
        options: &options,
        out_dir: &out_dir,
        started: Instant::now(),
        stages: Mutex::default(),
    };
    let store_path = args
        .store
        .clone()
        .unwrap_or_else(|| lifecycle::default_store(&out_dir));
    let mut store = tracking::Store::open(&store_path)?;
    // Files first: the terminal reports what was written only once it is.
    let files = FileSink::new(&out_dir);
    let (outcome, run_id) = lifecycle::tracked_run(
        &options,
        &Sinks(vec![&files, &terminal]),
        &mut store,
        std::env::args().collect(),
    )
    .with_context(|| format!("training on `{}` failed", options.data_path.display()))?;
    let mut lines = vec![format!(
        "run {} recorded in {}",
        &run_id[..8],
        store_path.display()
    )];
    if args.register {
        let root = args
            .registry
            .clone()
            .unwrap_or_else(|| lifecycle::default_registry(&out_dir, &options.config.name));
        let registered = lifecycle::register(
            &registry::Registry::at(&root),
            &outcome,
            &options,
            &store,
            &run_id,
        )
        .with_context(|| format!("cannot register the model in `{}`", root.display()))?;
        lines.push(commands::registered_line(&registered, &root));
    }
    if let Some(uri) = &args.tracking_uri {
        lines.push(
            commands::log_to_mlflow(uri, &store, &run_id, &outcome).with_context(|| {
                format!(
                    "the run is recorded locally as `{}`, but sending it to MLflow failed",
                    &run_id[..8]
                )
            })?,
        );
    }
    if !args.quiet {
        emit(&(lines.join("\n") + "\n")).context("cannot write to standard output")?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Eda(args)) => run_eda(args),
        Some(Command::Families) => list_models(),
        Some(Command::Runs(args)) => commands::runs(args),
        Some(Command::Models(args)) => commands::models(args),
        Some(Command::Promote(args)) => commands::promote(args),
        Some(Command::Rollback(args)) => commands::rollback(args),
        Some(Command::Retrain(args)) => commands::retrain(args),
        Some(Command::Evaluate(args)) => commands::evaluate(args),
        None => run_train(&cli.train),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
