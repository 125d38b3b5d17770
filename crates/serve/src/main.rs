//! The `serve` command: an HTTP API over a model artifact, and `serve score` for CSV files.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use serve::state::ModelSource;
use serve::{AppState, Limits, Settings};

/// Serve predictions from a vigil model artifact over HTTP (validation, OpenAPI docs, metrics
/// and a web page), or score a CSV file with it.
#[derive(Debug, Parser)]
#[command(name = "serve", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: ServerArgs,
    /// Log line format: `text` for people, `json` for log collectors (`RUST_LOG` sets the level,
    /// default `info`).
    #[arg(long, env = "VIGIL_LOG_FORMAT", default_value = "text", global = true)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score a CSV file (streamed, bounded memory): id, one probability per class, label.
    Score(ScoreArgs),
    /// Compare a CSV file's records with the training population (input drift): writes
    /// `drift.json` and `drift.html` and prints the verdict.
    Drift(DriftCommandArgs),
    /// Ask a running server's `/health` (a container's health check, with no curl in the
    /// image): exit 0 when it answers 200 within the timeout.
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// Port of the server on this host's loopback.
    #[arg(long, env = "VIGIL_PORT", default_value_t = 8000)]
    port: u16,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct DriftArgs {
    /// Most recent records the server keeps for drift monitoring (0 turns monitoring off).
    #[arg(long, env = "VIGIL_DRIFT_WINDOW", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    drift_window: u32,
    /// Seconds after which a record leaves the server's drift window.
    #[arg(long, env = "VIGIL_DRIFT_MAX_AGE", default_value_t = 3600)]
    drift_max_age: u64,
    /// Fewest records (and observed values of a feature) before a drift verdict.
    #[arg(long, env = "VIGIL_DRIFT_MIN_RECORDS", default_value_t = 5)]
    drift_min_records: usize,
    /// A drift test rejects below this p-value.
    #[arg(long, env = "VIGIL_DRIFT_P_VALUE", default_value_t = 0.05)]
    drift_p_value: f64,
    /// Population stability index at or above which a shift is material.
    #[arg(long, env = "VIGIL_DRIFT_PSI", default_value_t = 0.1)]
    drift_psi: f64,
    /// Absolute change of a feature's missing rate that, when significant, counts as drift.
    #[arg(long, env = "VIGIL_DRIFT_MISSING_SHIFT", default_value_t = 0.1)]
    drift_missing_shift: f64,
    /// Adjustment of p-values for testing every feature at once: holm or none.
    #[arg(long, env = "VIGIL_DRIFT_CORRECTION", default_value = "holm")]
    drift_correction: serve::drift::Correction,
}

impl DriftArgs {
    fn settings(&self) -> serve::drift::DriftSettings {
        serve::drift::DriftSettings {
            window: self.drift_window as usize,
            max_age: Duration::from_secs(self.drift_max_age),
            min_records: self.drift_min_records,
            p_value: self.drift_p_value,
            psi: self.drift_psi,
            missing_shift: self.drift_missing_shift,
            correction: self.drift_correction,
        }
    }
}

#[derive(Debug, Args)]
struct DriftCommandArgs {
    #[command(flatten)]
    artifact: ModelArgs,
    /// CSV file to compare (`-`: standard input), with the model's feature columns.
    #[arg(long)]
    input: PathBuf,
    /// Folder for `drift.json` and `drift.html`.
    #[arg(long, default_value = "drift-report")]
    out: PathBuf,
    /// Exit with status 2 when drift is detected (for scripts and CI).
    #[arg(long)]
    fail_on_drift: bool,
    /// Quote the offending cell in errors (patient data: off by default).
    #[arg(long)]
    show_values: bool,
    #[command(flatten)]
    drift: DriftArgs,
}

#[derive(Debug, Args)]
struct ModelArgs {
    /// Model artifact to serve or score with.
    #[arg(
        long,
        env = "VIGIL_MODEL",
        default_value = "artifacts/sepsis/model.bin"
    )]
    model: PathBuf,
}

#[derive(Debug, Args)]
struct ServerArgs {
    #[command(flatten)]
    artifact: ModelArgs,
    /// Serve the version an alias of this model registry points to, and follow the alias: when
    /// it moves, the new version is loaded without a restart. Until the registry exists and
    /// the alias is set, `--model` is served.
    #[arg(long, env = "VIGIL_REGISTRY")]
    registry: Option<PathBuf>,
    /// The registry alias to serve: production, staging or candidate.
    #[arg(
        long,
        env = "VIGIL_ALIAS",
        default_value = "production",
        requires = "registry"
    )]
    alias: registry::Alias,
    /// Address to listen on.
    #[arg(long, env = "VIGIL_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, env = "VIGIL_PORT", default_value_t = 8000)]
    port: u16,
    /// Worker threads [default: one per core].
    #[arg(long, env = "VIGIL_WORKERS")]
    workers: Option<usize>,
    /// Most records accepted by `POST /predict/batch`.
    #[arg(long, env = "VIGIL_MAX_BATCH", default_value_t = 10_000)]
    max_batch: usize,
    /// Most records accepted by `POST /explain/batch` (each explanation costs up to
    /// thousands of predictions; `scripts/bench-explain.sh` measures it per family).
    #[arg(long, env = "VIGIL_MAX_EXPLAIN_BATCH", default_value_t = 16)]
    max_explain_batch: usize,
    /// Largest accepted request body, e.g. `4MiB`, `512KiB`, `100000`.
    #[arg(long, env = "VIGIL_BODY_LIMIT", default_value = "4MiB", value_parser = parse_size)]
    body_limit: usize,
    /// Seconds a client has to send a request's head (then 408 and the connection closes).
    #[arg(long, env = "VIGIL_REQUEST_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// Seconds a client has to send a request's body once its head arrived (then 408).
    #[arg(long, env = "VIGIL_BODY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "VIGIL_KEEP_ALIVE", default_value_t = 5)]
    keep_alive: u64,
    /// Most open connections per worker; further ones wait in the kernel's accept queue.
    #[arg(long, env = "VIGIL_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=25_600))]
    max_connections: u64,
    /// Most batch requests predicting or queued at once; the next is answered 503 with
    /// `Retry-After` (batches run on one prediction thread per worker, off the threads that
    /// answer `/health`).
    #[arg(long, env = "VIGIL_BATCH_QUEUE", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_queue: u64,
    /// Bearer token required by `/predict`, `/predict/batch` and `/drift` (prefer the
    /// environment variable: command lines are visible to other users).
    #[arg(long, env = "VIGIL_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Bearer token for `/admin/reload`; without one, `/admin` does not exist.
    #[arg(long, env = "VIGIL_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Host names (comma-separated, no port) accepted in the `Host` header, or `*` for any
    /// [default: the loopback names when listening on loopback, any otherwise].
    #[arg(long, env = "VIGIL_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Option<Vec<String>>,
    /// Origins allowed to call the API from a browser (comma-separated, e.g.
    /// `https://app.example.org`, or `*`) [default: none: no CORS headers].
    #[arg(long, env = "VIGIL_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Option<Vec<String>>,
    /// Record and serve Prometheus metrics at `/metrics` (`--metrics false` turns them off).
    #[arg(long, env = "VIGIL_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    metrics: bool,
    /// Seconds between the request summaries logged at info level (per-request lines are at
    /// debug level: `RUST_LOG=debug`).
    #[arg(long, env = "VIGIL_LOG_SUMMARY", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    log_summary: u64,
    #[command(flatten)]
    drift: DriftArgs,
}

#[derive(Debug, Args)]
struct ScoreArgs {
    #[command(flatten)]
    artifact: ModelArgs,
    /// CSV file to score, or `-` for standard input (a header row with the model's feature
    /// columns; BOM and LF, CRLF or CR-only line endings are fine).
    #[arg(long)]
    input: PathBuf,
    /// File to write the scores to, replaced only once scoring succeeds; `-` or no option
    /// writes to standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Quote the offending cell in errors. Off by default: it is patient data, and line and
    /// column already locate it.
    #[arg(long)]
    show_values: bool,
    /// Score only part INDEX of COUNT contiguous parts of the file's rows, e.g. `0/4`; only
    /// part 0 writes the header, so the parts' outputs concatenated in order equal one run's
    /// (for parallel batch jobs).
    #[arg(long, value_name = "INDEX/COUNT")]
    shard: Option<serve::score::Shard>,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `4MiB` or `100000`"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}`, expected B, KB, KiB, MB or MiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .filter(|size| *size > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

fn run_server(args: &ServerArgs) -> Result<()> {
    let settings = Settings {
        limits: Limits {
            body_limit: args.body_limit,
            max_batch: args.max_batch,
            max_explain_batch: args.max_explain_batch,
            body_timeout: Duration::from_secs(args.body_timeout),
            batch_queue: usize::try_from(args.batch_queue).unwrap_or(usize::MAX),
        },
        drift: args.drift.settings(),
        metrics: args.metrics,
    };
    let source = match &args.registry {
        Some(root) => ModelSource::Registry {
            registry: registry::Registry::at(root),
            alias: args.alias,
            fallback: Some(args.artifact.model.clone()),
        },
        None => ModelSource::File(args.artifact.model.clone()),
    };
    let state = web::Data::new(
        AppState::from_source(source.clone(), settings)
            .with_context(|| format!("cannot serve {}", source.describe()))?
            .with_access(access(args)?),
    );
    if serve::access::is_exposed(&args.host) && args.api_token.is_none() {
        tracing::warn!(host = %args.host, "listening beyond this machine without an API token: anyone who can reach it can request predictions (set VIGIL_API_TOKEN)");
    }
    let model = state.model();
    tracing::info!(model = %model.model_version, dataset = %model.artifact.schema.dataset, "model loaded");
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(serve::request_log))
            .configure(|cfg| serve::configure(cfg, app_state.clone()))
    })
    .shutdown_timeout(30)
    .client_request_timeout(Duration::from_secs(args.request_timeout))
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(Duration::from_secs(args.keep_alive))
    .max_connections(usize::try_from(args.max_connections).unwrap_or(25_600))
    .worker_max_blocking_threads(1);
    if let Some(workers) = args.workers {
        server = server.workers(workers.max(1));
    }
    let server = server
        .bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let mut stdout = std::io::stdout();
    for address in server.addrs() {
        // On stdout so scripts and tests can find a port chosen by the OS; a closed stdout
        // (`serve | true`) must not stop the server.
        let _ = writeln!(stdout, "listening on http://{address}");
    }
    let _ = stdout.flush();
    let summary_period = args.log_summary;
    // actix handles SIGINT and SIGTERM: it stops accepting, lets in-flight requests finish
    // (up to the shutdown timeout), then returns.
    actix_web::rt::System::new()
        .block_on(async move {
            #[cfg(unix)]
            actix_web::rt::spawn(serve::state::reload_on_hangup(state.clone()));
            actix_web::rt::spawn(serve::state::housekeeping(state, summary_period));
            server.run().await
        })
        .context("server failed")?;
    tracing::info!("shut down");
    Ok(())
}

/// The access rules from the options.
fn access(args: &ServerArgs) -> Result<serve::access::Access> {
    let token = |secret: &Option<String>, option: &str| -> Result<Option<serve::access::Token>> {
        match secret.as_deref() {
            None => Ok(None),
            Some(secret) if secret.trim().len() < 16 => {
                anyhow::bail!("`{option}` must be at least 16 characters (use a random secret)")
            }
            Some(secret) => Ok(Some(serve::access::Token::new(secret.trim()))),
        }
    };
    let allowed_hosts = match &args.allowed_hosts {
        Some(names) if names.iter().any(|name| name.trim() == "*") => None,
        Some(names) => Some(
            names
                .iter()
                .map(|name| name.trim().trim_matches(['[', ']']).to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect(),
        ),
        None => serve::access::default_allowed_hosts(&args.host),
    };
    Ok(serve::access::Access {
        api_token: token(&args.api_token, "--api-token")?,
        admin_token: token(&args.admin_token, "--admin-token")?,
        allowed_hosts,
        cors_origins: args.cors_origins.clone(),
    })
}

fn run_probe(args: &ProbeArgs) -> Result<()> {
    use std::io::Read as _;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .context("cannot send the request")?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .context("no answer from the server")?;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.1 200"),
        "`/health` answered `{}`",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}

fn run_score(args: &ScoreArgs) -> Result<()> {
    let (artifact, _) = serve::state::load_artifact(&args.artifact.model)
        .with_context(|| format!("cannot score with `{}`", args.artifact.model.display()))?;
    let summary = serve::score::score_file(
        &artifact,
        &args.input,
        args.output.as_deref(),
        args.show_values,
        args.shard,
    )
    .with_context(|| format!("scoring `{}` failed", args.input.display()))?;
    if !summary.ignored_columns.is_empty() {
        eprintln!(
            "note: ignored column(s) not used by the model: {}",
            summary.ignored_columns.join(", ")
        );
    }
    eprintln!("scored {} row(s)", summary.n_rows);
    Ok(())
}

/// What `serve drift` found.
enum DriftOutcome {
    NoDrift,
    Drift,
}

fn run_drift(args: &DriftCommandArgs) -> Result<DriftOutcome> {
    let artifact = model::Artifact::load(&args.artifact.model).with_context(|| {
        format!(
            "cannot check drift with `{}`",
            args.artifact.model.display()
        )
    })?;
    let sample = serve::score::sample_file(&artifact, &args.input, args.show_values)
        .with_context(|| format!("reading `{}` failed", args.input.display()))?;
    let report = serve::drift::report(
        &artifact.schema,
        &artifact.reference,
        &sample,
        &args.drift.settings(),
    );
    let title = format!(
        "Drift of `{}` against the `{}` training population ({})",
        args.input.display(),
        artifact.schema.dataset,
        artifact.model_name
    );
    let json = serde_json::to_vec_pretty(&report).context("cannot encode the drift report")?;
    for (name, bytes) in [
        ("drift.json", json),
        (
            "drift.html",
            serve::drift::html::render(&report, &title).into_bytes(),
        ),
    ] {
        let path = args.out.join(name);
        model::write_atomically(&path, &bytes)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    let mut lines = vec![format!("{} records compared", report.n_records)];
    if !report.enough_records {
        lines.push(format!(
            "too few records for a verdict (at least {})",
            report.thresholds.min_records
        ));
    }
    for feature in report.features.iter().filter(|feature| feature.drifted) {
        lines.push(format!(
            "drift: {}: {}",
            feature.feature,
            feature.reasons.join("; ")
        ));
    }
    if report.probability_drifted {
        lines.push("drift: the model's probability distribution shifted".into());
    }
    if report.enough_records && report.drifted_features.is_empty() && !report.probability_drifted {
        lines.push("no drift detected".into());
    }
    lines.push(format!("report: {}", args.out.join("drift.html").display()));
    println!("{}", lines.join("\n"));
    Ok(
        if report.drifted_features.is_empty() && !report.probability_drifted {
            DriftOutcome::NoDrift
        } else {
            DriftOutcome::Drift
        },
    )
}

/// Logs to standard error at `RUST_LOG`'s level (default `info`). The HTTP libraries are held
/// at `info` whatever `RUST_LOG` says: their debug and trace output may quote what a client
/// sent, and nothing a client sends may reach a log.
fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for library in [
        "actix_http",
        "actix_web",
        "actix_server",
        "actix_rt",
        "h2",
        "mio",
    ] {
        if let Ok(directive) = format!("{library}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match &cli.command {
        Some(Command::Score(args)) => run_score(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Probe(args)) => run_probe(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Drift(args)) => run_drift(args).map(|outcome| match outcome {
            DriftOutcome::Drift if args.fail_on_drift => ExitCode::from(2),
            _ => ExitCode::SUCCESS,
        }),
        None => run_server(&cli.server).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // One line: the whole chain, so a refusal to start is easy to read in any log.
            let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
