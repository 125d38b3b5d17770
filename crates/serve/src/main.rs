//! The `serve` command: an HTTP API over a model artifact, and `serve score` for CSV files.

use std::path::PathBuf;
use std::process::ExitCode;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use serve::{AppState, Limits};

/// Serve predictions from a vigil model artifact over HTTP (validation, OpenAPI docs, metrics
/// and a web page), or score a CSV file with it.
#[derive(Debug, Parser)]
#[command(name = "serve", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score a CSV file (streamed, bounded memory): id, one probability per class, label.
    Score(ScoreArgs),
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
    /// Largest accepted request body, e.g. `4MiB`, `512KiB`, `100000`.
    #[arg(long, env = "VIGIL_BODY_LIMIT", default_value = "4MiB", value_parser = parse_size)]
    body_limit: usize,
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
    let limits = Limits {
        body_limit: args.body_limit,
        max_batch: args.max_batch,
    };
    let state = web::Data::new(
        AppState::load(&args.artifact.model, limits)
            .with_context(|| format!("cannot serve `{}`", args.artifact.model.display()))?,
    );
    let model = state.model();
    tracing::info!(model = %model.model_version, dataset = %model.artifact.schema.dataset, "model loaded");
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(serve::request_log))
            .configure(|cfg| serve::configure(cfg, app_state.clone()))
    })
    .shutdown_timeout(30);
    if let Some(workers) = args.workers {
        server = server.workers(workers.max(1));
    }
    let server = server
        .bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    for address in server.addrs() {
        // Printed on stdout so scripts and tests can find a port chosen by the OS.
        println!("listening on http://{address}");
    }
    // actix handles SIGINT and SIGTERM: it stops accepting, lets in-flight requests finish
    // (up to the shutdown timeout), then returns.
    actix_web::rt::System::new()
        .block_on(server.run())
        .context("server failed")?;
    tracing::info!("shut down");
    Ok(())
}

fn run_score(args: &ScoreArgs) -> Result<()> {
    let artifact = model::Artifact::load(&args.artifact.model)
        .with_context(|| format!("cannot score with `{}`", args.artifact.model.display()))?;
    let summary = serve::score::score_file(&artifact, &args.input, args.output.as_deref())
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match &cli.command {
        Some(Command::Score(args)) => run_score(args),
        None => run_server(&cli.server),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the whole chain, so a refusal to start is easy to read in any log.
            let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
