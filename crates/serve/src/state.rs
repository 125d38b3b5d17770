//! What a server holds: its settings and telemetry, and the model it serves behind an
//! atomically swappable pointer.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use model::{Artifact, ArtifactError};

use crate::drift::{self, DriftReport, DriftSettings, Window};
use crate::metrics::{ModelLabels, Telemetry};
use crate::middleware::LogSummary;
use crate::{api, body, openapi, page};

/// Limits that protect the server from oversized requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted body, in bytes.
    pub body_limit: usize,
    /// Most records in one batch request.
    pub max_batch: usize,
    /// Longest wait for a request body once its head has arrived (then 408).
    pub body_timeout: Duration,
    /// Most batch requests predicting or waiting for a prediction thread at once; the next
    /// one is answered 503 with `Retry-After`.
    pub batch_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_limit: 4 * 1024 * 1024,
            max_batch: 10_000,
            body_timeout: Duration::from_secs(10),
            batch_queue: 4,
        }
    }
}

/// How a server runs: limits, drift monitoring, and whether it keeps metrics.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Request limits.
    pub limits: Limits,
    /// Drift window and thresholds.
    pub drift: DriftSettings,
    /// Whether `/metrics` is served and metrics are recorded.
    pub metrics: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            drift: DriftSettings::default(),
            metrics: true,
        }
    }
}

impl From<Limits> for Settings {
    fn from(limits: Limits) -> Self {
        Settings {
            limits,
            ..Settings::default()
        }
    }
}

/// A loaded model, everything pre-rendered from it, and the recent records it scored. Handlers
/// take one snapshot of it per request ([`AppState::model`]), so a request never mixes two
/// models.
pub struct ServedModel {
    /// The artifact.
    pub artifact: Artifact,
    /// `<model>@<crc32 of the file>`.
    pub model_version: String,
    /// Pre-rendered `GET /openapi.json`.
    pub(crate) openapi: Bytes,
    /// Pre-rendered `GET /model`.
    pub(crate) model_card: Bytes,
    /// Pre-rendered `GET /`.
    pub(crate) info: Bytes,
    /// Pre-rendered `GET /ui`.
    pub(crate) page: Bytes,
    /// Whether the start-up self-test prediction succeeded.
    pub(crate) ready: bool,
    /// Recent records, for drift monitoring.
    window: Mutex<Window>,
    /// The last drift report and when it was computed: reports are reused for a second, so
    /// frequent scrapes or `/drift` requests cost one computation.
    drift_cache: Mutex<Option<(Instant, usize, DriftReport)>>,
    /// How long loading and checking took.
    load_duration: Duration,
}

impl ServedModel {
    /// Renders what the endpoints serve and self-tests an artifact already in memory.
    pub fn new(artifact: Artifact, model_version: String, settings: &Settings) -> Self {
        let started = Instant::now();
        let openapi = serde_json::to_vec(&openapi::document(
            &artifact,
            &model_version,
            settings.limits.max_batch,
        ))
        .unwrap_or_default();
        let model_card =
            serde_json::to_vec(&api::model_card(&artifact, &model_version)).unwrap_or_default();
        let info =
            serde_json::to_vec(&api::service_info(&artifact, &model_version)).unwrap_or_default();
        let page = page::render(&artifact, &model_version);
        let window = Window::new(settings.drift, artifact.schema.features.len());
        let mut served = ServedModel {
            artifact,
            model_version,
            openapi: Bytes::from(openapi),
            model_card: Bytes::from(model_card),
            info: Bytes::from(info),
            page: Bytes::from(page),
            ready: false,
            window: Mutex::new(window),
            drift_cache: Mutex::new(None),
            load_duration: Duration::ZERO,
        };
        // Self-test: the documented example must predict finite probabilities.
        let example = body::Record::from_fields(api::example_record(&served.artifact));
        served.ready = served
            .predict(&example, None)
            .map(|scored| {
                scored
                    .response
                    .probabilities
                    .values()
                    .all(|p| p.is_finite())
            })
            .unwrap_or(false);
        served.load_duration = started.elapsed();
        served
    }

    /// Loads an artifact file, refusing anything missing, damaged or of another version.
    pub fn load(path: &Path, settings: &Settings) -> Result<Self, ArtifactError> {
        let started = Instant::now();
        let (artifact, bytes) = load_artifact(path)?;
        let model_version = format!(
            "{}@{:08x}",
            artifact.model_name,
            model::artifact::checksum(&bytes)
        );
        let mut served = Self::new(artifact, model_version, settings);
        served.load_duration = started.elapsed();
        Ok(served)
    }

    /// Whether the self-test prediction succeeded.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The labels that identify this model in metrics.
    pub fn labels(&self) -> ModelLabels {
        ModelLabels {
            dataset: self.artifact.schema.dataset.clone(),
            model: self.artifact.model_name.clone(),
            model_version: self.model_version.clone(),
            format_version: model::artifact::FORMAT_VERSION.to_string(),
        }
    }

    /// Adds a scored record to the drift window.
    pub(crate) fn remember(&self, raw: &[f64], probability: f64, label_idx: usize) {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        window.push(Instant::now(), raw, probability, label_idx);
    }

    /// Compares the current window with the training population; returns the records held
    /// and the report. The window is copied first, so requests never wait on the statistics.
    pub fn drift(&self, settings: &DriftSettings) -> (usize, DriftReport) {
        const REUSE: Duration = Duration::from_secs(1);
        let mut cache = self
            .drift_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((computed, records, report)) = cache.as_ref()
            && computed.elapsed() < REUSE
        {
            return (*records, report.clone());
        }
        let sample = {
            let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
            window.expire(Instant::now());
            window.sample()
        };
        let report = drift::report(
            &self.artifact.schema,
            &self.artifact.reference,
            &sample,
            settings,
        );
        *cache = Some((Instant::now(), sample.len(), report.clone()));
        (sample.len(), report)
    }
}

/// Reads and checks an artifact file and the `model.json` beside it (see [`check_card`]);
/// returns the artifact and its bytes. Every command that loads a model goes through here.
pub fn load_artifact(path: &Path) -> Result<(Artifact, Vec<u8>), ArtifactError> {
    let bytes = model::artifact::read_artifact_file(path)?;
    let artifact = Artifact::from_bytes(&bytes, path)?;
    check_card(path, &bytes)?;
    Ok((artifact, bytes))
}

/// Refuses an artifact whose sibling `model.json` (written by the same `train` run) names
/// another artifact: the two belong to different runs, and the card would describe a model
/// that is not the one served. An artifact without a card, or a card without a checksum,
/// passes.
pub fn check_card(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    use sha2::{Digest, Sha256};
    let card_path = path.with_file_name("model.json");
    let Ok(text) = std::fs::read_to_string(&card_path) else {
        return Ok(());
    };
    let Some(recorded) = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|card| card["artifact_sha256"].as_str().map(str::to_owned))
    else {
        return Ok(());
    };
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if recorded == actual {
        return Ok(());
    }
    Err(ArtifactError::Inconsistent {
        path: path.to_path_buf(),
        reason: format!(
            "`{}` beside it describes another artifact (SHA-256 {}…, this file is {}…): the two come from different training runs; retrain, or restore the pair",
            card_path.display(),
            &recorded[..recorded.len().min(12)],
            &actual[..12]
        ),
    })
}

/// The server's own state, and the model it serves behind an atomically swappable pointer.
pub struct AppState {
    /// How the server runs.
    pub settings: Settings,
    /// Metrics.
    pub telemetry: Telemetry,
    /// Request counts for the periodic log summary.
    pub(crate) log_summary: LogSummary,
    /// The model now serving; replaced whole, never changed in place.
    model: ArcSwap<ServedModel>,
    /// Swagger UI configuration pointing at our document.
    pub(crate) swagger: Arc<utoipa_swagger_ui::Config<'static>>,
    pub(crate) next_request_id: AtomicU64,
    /// Batch requests holding or waiting for a prediction thread.
    pub(crate) batches_in_flight: std::sync::atomic::AtomicUsize,
    /// Tokens and allowed hosts.
    pub access: crate::access::Access,
    /// Where the model was loaded from, for `/admin/reload`.
    pub(crate) model_path: Option<std::path::PathBuf>,
}

impl AppState {
    /// State serving `model`.
    pub fn new(model: ServedModel, settings: impl Into<Settings>) -> Self {
        let settings = settings.into();
        let telemetry = Telemetry::new(settings.metrics);
        telemetry.model_loaded(&model.labels(), None, model.load_duration, model.ready);
        AppState {
            settings,
            telemetry,
            log_summary: LogSummary::default(),
            model: ArcSwap::from_pointee(model),
            swagger: Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")),
            next_request_id: AtomicU64::new(1),
            batches_in_flight: std::sync::atomic::AtomicUsize::new(0),
            access: crate::access::Access::default(),
            model_path: None,
        }
    }

    /// State serving the artifact at `path`.
    pub fn load(path: &Path, settings: impl Into<Settings>) -> Result<Self, ArtifactError> {
        let settings = settings.into();
        let mut state = Self::new(ServedModel::load(path, &settings)?, settings);
        state.model_path = Some(path.to_path_buf());
        Ok(state)
    }

    /// The same state with these access rules.
    pub fn with_access(mut self, access: crate::access::Access) -> Self {
        self.access = access;
        self
    }

    /// Loads the artifact again from where it was first loaded and serves it; on failure the
    /// current model keeps serving and the failure is counted. Returns the new and the
    /// replaced model versions.
    pub fn reload(&self) -> Result<(String, String), ArtifactError> {
        let path = self.model_path.as_deref().ok_or_else(|| ArtifactError::Io {
            path: "(no file)".into(),
            source: std::io::Error::other("this server's model was not loaded from a file"),
        });
        match path.and_then(|path| ServedModel::load(path, &self.settings)) {
            Ok(model) => {
                let version = model.model_version.clone();
                let previous = self.replace_model(model);
                Ok((version, previous.model_version.clone()))
            }
            Err(error) => {
                self.telemetry.record_reload(false);
                Err(error)
            }
        }
    }

    /// A snapshot of the model now serving. A handler takes one per request and uses it
    /// throughout, so a swap mid-request cannot mix two models in one answer.
    pub fn model(&self) -> Arc<ServedModel> {
        self.model.load_full()
    }

    /// Serves `model` from now on; requests in flight finish with the snapshot they took.
    /// Returns the model it replaces.
    pub fn replace_model(&self, model: ServedModel) -> Arc<ServedModel> {
        let labels = model.labels();
        let (load_duration, ready) = (model.load_duration, model.ready);
        let previous = self.model.swap(Arc::new(model));
        self.telemetry
            .model_loaded(&labels, Some(&previous.labels()), load_duration, ready);
        self.telemetry.record_reload(true);
        previous
    }

    /// The served model's drift report, also published as metrics.
    pub fn drift(&self) -> DriftReport {
        let (window_records, report) = self.model().drift(&self.settings.drift);
        self.telemetry.record_drift(window_records, &report);
        report
    }
}

/// Runs for the server's lifetime: every second, drains metric histograms (so their memory
/// stays small between scrapes); every `summary_period` seconds, logs the request summary.
pub async fn housekeeping(state: actix_web::web::Data<AppState>, summary_period: u64) {
    const TICK: u64 = 1;
    let mut interval = actix_web::rt::time::interval(Duration::from_secs(TICK));
    let mut since_summary = 0;
    loop {
        interval.tick().await;
        state.telemetry.upkeep();
        since_summary += TICK;
        if since_summary >= summary_period {
            state.log_summary.flush(since_summary);
            since_summary = 0;
        }
    }
}
