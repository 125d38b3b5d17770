//! The `train` command: `train [options]` trains and evaluates, `train eda` explores a dataset.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use data::eda::Summary;
use data::{DatasetConfig, Labels};
use preprocess::{Balance, Imputation, PreprocessParams, Scaling};
use train::learners::ModelKind;
use train::threshold::{CalibrationKind, ThresholdRule};
use train::{TrainOptions, report};

/// Train, cross-validate and compare seven classifiers on a clinical table, then save the best
/// as a versioned artifact that `serve` loads.
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
}

#[derive(Debug, Args)]
struct DatasetArgs {
    /// Dataset config (TOML) describing columns, target and quirks.
    #[arg(long, default_value = "data/sepsis.toml", env = "VIGIL_CONFIG")]
    config: PathBuf,
    /// CSV file to read instead of the config's `path`.
    #[arg(long)]
    data: Option<PathBuf>,
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
    dataset: DatasetArgs,
    /// Output folder for the artifact and reports [default: artifacts/<dataset>/].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Random seed: same seed and data give a byte-identical artifact.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Cross-validation folds (stratified).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Cross-validation repeats, each with a fresh shuffle.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Metric that ranks models [default: the config's, else roc_auc (binary) or accuracy].
    #[arg(long)]
    metric: Option<String>,
    /// Class balancing of training folds: none, oversample, smote or class-weight
    /// [default: the config's, else none].
    #[arg(long)]
    balance: Option<String>,
    /// Models to train, comma-separated: lr, dt, rf, gbm, knn, svm, nb.
    #[arg(long, value_delimiter = ',', default_value = "lr,dt,rf,gbm,knn,svm,nb")]
    models: Vec<String>,
    /// Random-search candidates per model, scored by inner 3-fold CV inside each outer fold
    /// (nested CV, with successive halving: the best third of the candidates after one inner
    /// fold see all three), so the leaderboard stays honest. 0 trains default hyperparameters.
    #[arg(long, default_value_t = 0)]
    tune: usize,
    /// Decision-threshold rule for binary tasks: `sensitivity>=0.80`, `max_f1`, `youden` or
    /// `fixed:0.5` [default: the config's, else youden].
    #[arg(long)]
    threshold: Option<String>,
    /// Calibration of the chosen model's probabilities, fitted on out-of-fold predictions:
    /// none, platt or isotonic.
    #[arg(long, default_value = "none")]
    calibration: String,
    /// Imputation of numeric features: median, mean or most-frequent.
    #[arg(long, default_value = "median")]
    impute: String,
    /// Scaling: standard, robust or none.
    #[arg(long, default_value = "standard")]
    scaling: String,
    /// Add a 0/1 "was missing" input for every numeric column with missing values.
    #[arg(long)]
    missing_indicator: bool,
    /// No progress bar or table: only errors (for scripts).
    #[arg(long)]
    quiet: bool,
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
    let dataset = data::load(&config, &data_path, Labels::Optional)
        .with_context(|| format!("cannot explore `{}`", data_path.display()))?;
    for warning in &dataset.warnings {
        eprintln!("warning: {warning}");
    }
    let summary = Summary::compute(&config, &dataset);
    print!("{}", summary.to_text());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| train::default_out_dir(&config).join("eda"));
    let report = summary
        .write_report(&dataset, &out)
        .with_context(|| format!("cannot write the EDA report to `{}`", out.display()))?;
    println!("report: {}", report.display());
    Ok(())
}

fn parse_options(args: &TrainArgs) -> Result<TrainOptions> {
    let (config, data_path) = load_config(&args.dataset)?;
    let metric = args
        .metric
        .clone()
        .or_else(|| config.training.metric.clone())
        .unwrap_or_else(|| match config.task {
            model::Task::Binary => "roc_auc".into(),
            model::Task::Multiclass => "accuracy".into(),
        });
    let balance_text = args
        .balance
        .clone()
        .or_else(|| config.training.balance.clone())
        .unwrap_or_else(|| "none".into());
    let Some(balance) = Balance::parse(&balance_text) else {
        bail!(
            "unknown balance `{balance_text}`, expected `none`, `oversample`, `smote` or `class-weight`"
        );
    };
    let mut models = Vec::new();
    for name in &args.models {
        let Some(kind) = ModelKind::parse(name.trim()) else {
            bail!(
                "unknown model `{name}`, expected some of `lr`, `dt`, `rf`, `gbm`, `knn`, `svm`, `nb`"
            );
        };
        if !models.contains(&kind) {
            models.push(kind);
        }
    }
    let threshold_text = args
        .threshold
        .clone()
        .or_else(|| config.training.threshold.clone())
        .unwrap_or_else(|| "youden".into());
    let threshold = ThresholdRule::parse(&threshold_text)
        .map_err(anyhow::Error::msg)
        .context("invalid `--threshold`")?;
    let Some(calibration) = CalibrationKind::parse(&args.calibration) else {
        bail!(
            "unknown calibration `{}`, expected `none`, `platt` or `isotonic`",
            args.calibration
        );
    };
    let numeric_imputation = match args.impute.as_str() {
        "median" => Imputation::Median,
        "mean" => Imputation::Mean,
        "most-frequent" => Imputation::MostFrequent,
        other => {
            bail!("unknown imputation `{other}`, expected `median`, `mean` or `most-frequent`")
        }
    };
    let scaling = match args.scaling.as_str() {
        "standard" => Scaling::Standard,
        "robust" => Scaling::Robust,
        "none" => Scaling::None,
        other => bail!("unknown scaling `{other}`, expected `standard`, `robust` or `none`"),
    };
    let preprocess = PreprocessParams {
        numeric_imputation,
        scaling,
        missing_indicator: args.missing_indicator,
    }
    .check()?;
    if args.repeats == 0 {
        bail!("`--repeats` must be at least 1");
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| train::default_out_dir(&config));
    Ok(TrainOptions {
        config_path: args.dataset.config.clone(),
        config,
        data_path,
        out_dir,
        seed: args.seed,
        folds: args.folds,
        repeats: args.repeats,
        metric,
        balance,
        models,
        tune: args.tune,
        threshold,
        calibration,
        preprocess,
    })
}

fn run_train(args: &TrainArgs) -> Result<()> {
    let options = parse_options(args)?;
    let started = Instant::now();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(options.models.len() as u64 + 1);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    };
    let progress = |stage: &str| {
        if !bar.message().is_empty() {
            bar.inc(1);
        }
        bar.set_message(stage.to_owned());
    };
    let outcome = train::run(&options, &progress)
        .with_context(|| format!("training on `{}` failed", options.data_path.display()))?;
    bar.finish_and_clear();
    if args.quiet {
        return Ok(());
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}: {} rows, {}-fold stratified CV{}, seed {}",
        options.config.name,
        outcome.artifact.provenance.n_training_rows,
        options.folds,
        if options.repeats > 1 {
            format!(" x {} repeats", options.repeats)
        } else {
            String::new()
        },
        options.seed
    );
    print!(
        "{}",
        report::leaderboard_table(&outcome.results, &outcome.metric_names, &options.metric)
    );
    let decision = &outcome.artifact.decision;
    print!(
        "chosen: {} by {}",
        outcome.artifact.model_name, options.metric
    );
    if let (Some(threshold), Some(sensitivity), Some(specificity)) = (
        decision.threshold,
        decision.oof_sensitivity,
        decision.oof_specificity,
    ) {
        print!(
            "; threshold {threshold:.4} ({}): out-of-fold sensitivity {sensitivity:.3}, specificity {specificity:.3}",
            decision.rule
        );
    }
    println!();
    let model_path = options.out_dir.join("model.bin");
    println!(
        "wrote {} and reports in {} ({:.2} s)",
        model_path.display(),
        options.out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Eda(args)) => run_eda(args),
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
