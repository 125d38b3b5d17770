//! The lifecycle subcommands of the `train` binary: recorded runs, registered versions,
//! promotion and rollback, the retraining cycle, and sending a run to MLflow.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use registry::{Alias, Gate, Registered, Registry};
use tracking::Store;
use train::retrain::{Cycle, Step};
use train::{TrainOutcome, lifecycle};

use super::{ModelingArgs, TerminalSink, emit, parse_options, progress_bar};

/// Where the run store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Run store (SQLite).
    #[arg(long, env = "VIGIL_RUN_STORE", default_value = "artifacts/runs.sqlite")]
    store: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// The most recent runs first.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only runs of this dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Everything recorded about one run (an id or a unique prefix).
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// Run id or prefix.
        run: String,
    },
    /// Two runs side by side: provenance and the chosen models' metrics.
    Compare {
        #[command(flatten)]
        store: StoreArgs,
        /// First run id or prefix.
        first: String,
        /// Second run id or prefix.
        second: String,
    },
}

/// Where the registry is.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Registry folder of one dataset's model.
    #[arg(
        long,
        env = "VIGIL_REGISTRY",
        default_value = "artifacts/registry/sepsis"
    )]
    registry: PathBuf,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Every registered version with its aliases, and the alias history.
    List {
        #[command(flatten)]
        registry: RegistryArgs,
        /// Print the registry's JSON index.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The version to promote.
    version: u32,
    /// The alias to move: production, staging or candidate.
    #[arg(long, default_value = "production")]
    alias: Alias,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Largest tolerated loss in any gated cross-validated metric (the ranking metric, plus
    /// ROC-AUC and Brier, or accuracy and macro-F1), in the metric's units; a negative margin
    /// demands an improvement of at least that much.
    #[arg(long, default_value_t = 0.01)]
    margin: f64,
    /// Promote even if the gate refuses or the version's file fails its checksum.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The alias to move back.
    #[arg(long, default_value = "production")]
    alias: Alias,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct RetrainArgs {
    #[command(flatten)]
    modeling: ModelingArgs,
    /// Registry folder receiving the version [default: artifacts/registry/<dataset>].
    #[arg(long, env = "VIGIL_REGISTRY")]
    registry: Option<PathBuf>,
    /// Run store (SQLite) [default: runs.sqlite beside the registry folder's parent].
    #[arg(long, env = "VIGIL_RUN_STORE")]
    store: Option<PathBuf>,
    /// Run only this step (validate, train, gate, register, promote); earlier steps must have
    /// completed. Without it, every step runs, resuming after the last completed one.
    #[arg(long)]
    step: Option<Step>,
    /// Move `production` to the new version when the gate passes.
    #[arg(long)]
    promote: bool,
    /// Promotion gate margin (see `train promote --help`).
    #[arg(long, default_value_t = 0.01)]
    margin: f64,
    /// No progress bar: only the step lines and errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Model artifact to evaluate.
    #[arg(
        long,
        env = "VIGIL_MODEL",
        default_value = "artifacts/sepsis/model.bin"
    )]
    model: PathBuf,
    /// Labelled CSV file: the model's feature columns and the target, whose values may be the
    /// class names or the codes the config maps.
    #[arg(long)]
    input: PathBuf,
    /// The dataset config the model was trained with [default: data/<dataset>.toml].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output folder for `evaluation.json`, `evaluation.html` and plots [default:
    /// `evaluation/` beside the model].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Bootstrap resamples behind the 95% intervals.
    #[arg(long, default_value_t = model::evaluation::DEFAULT_RESAMPLES)]
    resamples: usize,
    /// Seed of the resampling: the same seed and file give the same intervals (and the same
    /// as the server's `POST /evaluate` with the same seed and resamples).
    #[arg(long, default_value_t = model::evaluation::DEFAULT_SEED)]
    seed: u64,
    /// Run store recording the evaluation [default: runs.sqlite beside the model's folder].
    #[arg(long, env = "VIGIL_RUN_STORE")]
    store: Option<PathBuf>,
    /// Quote offending cell values in errors (patient data: off by default).
    #[arg(long)]
    show_values: bool,
}

/// `train evaluate`: the shipped artifact on a labelled file.
pub fn evaluate(args: &EvaluateArgs) -> Result<()> {
    use train::evaluate::{EvaluateOptions, render, summary};
    let bytes = model::artifact::read_artifact_file(&args.model)
        .with_context(|| format!("cannot read the model `{}`", args.model.display()))?;
    let artifact = model::Artifact::from_bytes(&bytes, &args.model)?;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| Path::new("data").join(format!("{}.toml", artifact.schema.dataset)));
    let config = data::DatasetConfig::load(&config_path)?;
    if !args.input.is_file() {
        bail!("labelled file `{}` not found", args.input.display());
    }
    let options = data::LoadOptions {
        labels: data::Labels::Required,
        show_values: args.show_values,
    };
    let dataset = data::load(&config, &args.input, options)
        .with_context(|| format!("cannot evaluate on `{}`", args.input.display()))?;
    for warning in &dataset.warnings {
        eprintln!("warning: {warning}");
    }
    let evaluation = train::evaluate::evaluate(
        &artifact,
        &bytes,
        &dataset,
        EvaluateOptions {
            resamples: args.resamples,
            seed: args.seed,
        },
    )?;
    let files = render(&evaluation);
    let model_dir = args
        .model
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| model_dir.join("evaluation"));
    let borrowed: Vec<(PathBuf, &[u8])> = files
        .iter()
        .map(|file| (file.path.clone(), file.contents.as_bytes()))
        .collect();
    train::publish::publish(&out, &borrowed)
        .with_context(|| format!("cannot write the evaluation to `{}`", out.display()))?;
    let store_path = args
        .store
        .clone()
        .unwrap_or_else(|| lifecycle::default_store(model_dir));
    let evaluation_id = tracking::new_run_id();
    Store::open(&store_path)?.record_evaluation(&tracking::EvaluationRecord {
        evaluation_id: evaluation_id.clone(),
        created_at_ms: tracking::now_ms(),
        dataset: evaluation.dataset.clone(),
        artifact_sha256: evaluation.artifact_sha256.clone(),
        input_path: args.input.display().to_string(),
        input_sha256: evaluation.input_sha256.clone(),
        n_records: evaluation.n_records,
        report: files
            .iter()
            .find(|file| file.path == Path::new("evaluation.json"))
            .map(|file| file.contents.clone())
            .unwrap_or_default(),
    })?;
    print(&format!(
        "{}wrote {} and plots\nrecorded as evaluation {} in {}\n",
        summary(&evaluation),
        out.join("evaluation.html").display(),
        &evaluation_id[..8],
        store_path.display()
    ))
}

/// The width tables are laid out for: the terminal's, else 100 columns.
fn width() -> usize {
    console::Term::stdout()
        .size_checked()
        .map(|(_, columns)| usize::from(columns))
        .unwrap_or(100)
}

fn print(text: &str) -> Result<()> {
    emit(text).context("cannot write to standard output")
}

fn json<T: serde::Serialize>(value: &T) -> Result<()> {
    print(&(serde_json::to_string_pretty(value)? + "\n"))
}

fn open_store(path: &Path) -> Result<Store> {
    if !path.is_file() {
        bail!(
            "no run store at `{}`: train a model first, or pass `--store PATH`",
            path.display()
        );
    }
    Ok(Store::open(path)?)
}

/// `train runs …`.
pub fn runs(args: &RunsArgs) -> Result<()> {
    match &args.command {
        RunsCommand::List {
            store,
            dataset,
            limit,
        } => {
            let runs = open_store(&store.store)?.list(dataset.as_deref(), *limit)?;
            if store.json {
                return json(&runs);
            }
            print(&tracking::render::list(&runs, width()))
        }
        RunsCommand::Show { store, run } => {
            let run = open_store(&store.store)?.get(run)?;
            if store.json {
                return json(&run);
            }
            print(&tracking::render::show(&run, width()))
        }
        RunsCommand::Compare {
            store,
            first,
            second,
        } => {
            let opened = open_store(&store.store)?;
            let (first, second) = (opened.get(first)?, opened.get(second)?);
            if store.json {
                return json(&[first, second]);
            }
            print(&tracking::render::compare(&first, &second, width()))
        }
    }
}

/// `train models list`.
pub fn models(args: &ModelsArgs) -> Result<()> {
    let ModelsCommand::List {
        registry,
        json: as_json,
    } = &args.command;
    let index = Registry::at(&registry.registry).index()?;
    if *as_json {
        return json(&index);
    }
    let mut out = format!(
        "{} model versions in {}\n",
        index.dataset,
        registry.registry.display()
    );
    let _ = writeln!(
        out,
        "{:<8} {:<17} {:<20} {:<16} {:<9} ALIASES",
        "VERSION", "REGISTERED (UTC)", "MODEL", "CV SCORE", "SHA256"
    );
    for record in &index.versions {
        let aliases: Vec<&str> = index
            .aliases_of(record.version)
            .into_iter()
            .map(Alias::name)
            .collect();
        let score = record
            .metric(record.facts.ranking_metric)
            .map(|value| format!("{} {value:.4}", record.facts.ranking_metric))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<8} {:<17} {:<20} {:<16} {:<9} {}",
            format!("v{}", record.version),
            tracking::render::utc(record.registered_at as i64 * 1000),
            record.facts.model_name,
            score,
            &record.sha256[..8.min(record.sha256.len())],
            aliases.join(", ")
        );
    }
    if !index.history.is_empty() {
        let _ = writeln!(out, "\nalias moves (latest last):");
        for entry in index.history.iter().rev().take(10).rev() {
            let from = entry
                .from
                .map(|version| format!("v{version}"))
                .unwrap_or_else(|| "unset".into());
            let _ = writeln!(
                out,
                "  {}  {:<10} {from} -> v{}  ({:?})",
                tracking::render::utc(entry.at as i64 * 1000),
                entry.alias.name(),
                entry.to,
                entry.kind
            );
        }
    }
    print(&out)
}

/// `train promote VERSION --alias A`.
pub fn promote(args: &PromoteArgs) -> Result<()> {
    let registry = Registry::at(&args.registry.registry);
    let previous = registry
        .promote(
            args.version,
            args.alias,
            &Gate {
                margin: args.margin,
            },
            args.force,
        )
        .with_context(|| {
            format!(
                "cannot promote version {} to `{}`",
                args.version, args.alias
            )
        })?;
    let from = previous
        .map(|version| format!("v{version}"))
        .unwrap_or_else(|| "unset".into());
    print(&format!("{}: {from} -> v{}\n", args.alias, args.version))
}

/// `train rollback --alias A`.
pub fn rollback(args: &RollbackArgs) -> Result<()> {
    let registry = Registry::at(&args.registry.registry);
    let version = registry
        .rollback(args.alias)
        .with_context(|| format!("cannot roll back `{}`", args.alias))?;
    print(&format!("{}: rolled back to v{version}\n", args.alias))
}

/// `train retrain`: the cycle, or one step of it.
pub fn retrain(args: &RetrainArgs) -> Result<()> {
    let options = parse_options(&args.modeling)?;
    let root = &args.registry.clone().unwrap_or_else(|| {
        lifecycle::default_registry(
            &train::default_out_dir(&options.config),
            &options.config.name,
        )
    });
    let store_path = args
        .store
        .clone()
        .unwrap_or_else(|| lifecycle::default_store(root.parent().unwrap_or(Path::new("."))));
    let mut store = Store::open(&store_path)?;
    let cycle = Cycle {
        options: &options,
        registry: Registry::at(root),
        gate: Gate {
            margin: args.margin,
        },
        promote: args.promote,
        arguments: std::env::args().collect(),
    };
    let work_dir = cycle.work_dir()?;
    // The terminal shows progress only; the step lines below say what was done.
    let terminal = TerminalSink {
        bar: progress_bar(args.quiet),
        quiet: true,
        options: &options,
        out_dir: &work_dir,
        started: Instant::now(),
        stages: std::sync::Mutex::default(),
    };
    let steps: Vec<Step> = match args.step {
        Some(step) => vec![step],
        None => Step::ALL.to_vec(),
    };
    let reports = cycle
        .run(&steps, &mut store, &terminal)
        .with_context(|| format!("retraining `{}` failed", options.config.name))?;
    let mut out = format!(
        "retrain {} (cycle {}):\n",
        options.config.name,
        work_dir.display()
    );
    for report in reports {
        let _ = writeln!(
            out,
            "  {:<9} {}{}",
            report.step.name(),
            report.summary,
            if report.resumed {
                " (done earlier)"
            } else {
                ""
            }
        );
    }
    print(&out)
}

/// The line saying where a registered model went.
pub fn registered_line(registered: &Registered, root: &Path) -> String {
    if registered.created {
        format!(
            "registered as version {} in {} (alias candidate)",
            registered.version,
            root.display()
        )
    } else {
        format!(
            "already registered as version {} in {} (same model.bin)",
            registered.version,
            root.display()
        )
    }
}

/// Sends a recorded run to MLflow; returns the line saying where it went.
pub fn log_to_mlflow(
    uri: &str,
    store: &Store,
    run_id: &str,
    outcome: &TrainOutcome,
) -> Result<String> {
    let client = tracking::mlflow::Client::new(uri, tracking::mlflow::Retry::default())?;
    let run = store.get(run_id)?;
    let files: Vec<(String, Vec<u8>)> = outcome
        .reports
        .iter()
        .map(|report| {
            (
                report.path.display().to_string(),
                report.contents.as_bytes().to_vec(),
            )
        })
        .collect();
    let logged = client.log_run(&run, &files, &outcome.artifact_bytes)?;
    Ok(format!(
        "mlflow: run {} in experiment {}; model `{}` version {} (alias candidate)",
        logged.run_id, logged.experiment_id, logged.model_name, logged.model_version
    ))
}
