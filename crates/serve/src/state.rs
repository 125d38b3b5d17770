//! What a server holds: its settings and telemetry, and the model it serves behind an
//! atomically swappable pointer.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use model::{Artifact, ArtifactError, Schema};
use registry::{Alias, Registry, RegistryError};
use serde::Serialize;

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
    /// Most records in one `POST /explain/batch` request: an explanation costs up to
    /// thousands of predictions (a large forest's TreeSHAP, sampled Shapley values).
    pub max_explain_batch: usize,
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
            max_explain_batch: 16,
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
    /// `<model>@<crc32 of the file>`, prefixed `v<N>-` when it came from a registry version.
    pub model_version: String,
    /// The registry version it came from, if any.
    pub registry_version: Option<u32>,
    /// Pre-rendered `GET /openapi.json`.
    pub(crate) openapi: Bytes,
    /// Pre-rendered `GET /model`.
    pub(crate) model_card: Bytes,
    /// Pre-rendered `GET /model` for a client that asks for HTML.
    pub(crate) card_page: Bytes,
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
            &settings.limits,
        ))
        .unwrap_or_default();
        let model_card =
            serde_json::to_vec(&api::model_card(&artifact, &model_version)).unwrap_or_default();
        let info =
            serde_json::to_vec(&api::service_info(&artifact, &model_version)).unwrap_or_default();
        let page = page::render(&artifact, &model_version);
        let card_page = crate::card::render(&artifact, &model_version);
        let window = Window::new(settings.drift, artifact.schema.features.len());
        let mut served = ServedModel {
            artifact,
            model_version,
            registry_version: None,
            openapi: Bytes::from(openapi),
            model_card: Bytes::from(model_card),
            card_page: Bytes::from(card_page),
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
        Self::load_version(path, None, settings)
    }

    /// Loads an artifact file that is registry version `registry_version`, if any: its
    /// version string then names the registry version too.
    pub fn load_version(
        path: &Path,
        registry_version: Option<u32>,
        settings: &Settings,
    ) -> Result<Self, ArtifactError> {
        let started = Instant::now();
        let (artifact, bytes) = load_artifact(path)?;
        let prefix = registry_version
            .map(|version| format!("v{version}-"))
            .unwrap_or_default();
        let model_version = format!(
            "{prefix}{}@{:08x}",
            artifact.model_name,
            model::artifact::checksum(&bytes)
        );
        let mut served = Self::new(artifact, model_version, settings);
        served.registry_version = registry_version;
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
    /// Where the model was loaded from, for reloads.
    pub(crate) source: Option<ModelSource>,
    /// The latest reload attempt, for `/ready` and `/model`.
    last_reload: Mutex<Option<ReloadStatus>>,
    /// The latest error reading the followed alias, so each is logged once.
    poll_error: Mutex<Option<String>>,
}

/// Errors loading the model to serve.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The artifact is missing, damaged or inconsistent.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The registry or its alias could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// This server's model did not come from a file or registry.
    #[error("this server's model was not loaded from a file or a registry")]
    NoSource,
    /// The new model would refuse or misread requests the serving one accepts.
    #[error(
        "{new} is not compatible with the serving {serving}: {reason}; restart the server to change the model's inputs or classes"
    )]
    Incompatible {
        /// The new model's version.
        new: String,
        /// The serving model's version.
        serving: String,
        /// The first difference found.
        reason: String,
    },
}

/// Why `next` cannot replace `current` without a restart: clients of `current` would see
/// requests refused (a feature renamed, removed or added, another kind, a category dropped)
/// or answers in other terms (other classes). `None` when compatible.
fn incompatibility(current: &Schema, next: &Schema) -> Option<String> {
    if current.task != next.task || current.classes != next.classes {
        return Some(format!(
            "classes {:?} would become {:?}",
            current.classes, next.classes
        ));
    }
    let names = |schema: &Schema| -> Vec<String> {
        let mut names: Vec<String> = schema.features.iter().map(|f| f.name.clone()).collect();
        names.sort();
        names
    };
    if names(current) != names(next) {
        return Some(format!(
            "features {:?} would become {:?}",
            names(current),
            names(next)
        ));
    }
    for feature in &current.features {
        let Some(replacement) = next.features.iter().find(|f| f.name == feature.name) else {
            continue;
        };
        if replacement.kind != feature.kind {
            return Some(format!(
                "feature `{}` would change from {:?} to {:?}",
                feature.name, feature.kind, replacement.kind
            ));
        }
        if let Some(dropped) = feature
            .categories
            .iter()
            .find(|category| !replacement.categories.contains(category))
        {
            return Some(format!(
                "feature `{}` would no longer accept `{dropped}`",
                feature.name
            ));
        }
    }
    None
}

/// Where the served model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// One artifact file.
    File(PathBuf),
    /// Whatever version an alias of a registry points to.
    Registry {
        /// The registry.
        registry: Registry,
        /// The alias followed.
        alias: Alias,
        /// Served while the registry does not exist or the alias is unset (a new deployment
        /// before its first promotion); the alias is followed once it is set.
        fallback: Option<PathBuf>,
    },
}

impl ModelSource {
    /// The file to load and the registry version it is.
    fn locate(&self) -> Result<(PathBuf, Option<u32>), LoadError> {
        match self {
            ModelSource::File(path) => Ok((path.clone(), None)),
            ModelSource::Registry {
                registry,
                alias,
                fallback,
            } => match (registry.resolve(*alias), fallback) {
                (Ok((version, path)), _) => Ok((path, Some(version))),
                (Err(error), Some(fallback)) if is_absent(&error) => Ok((fallback.clone(), None)),
                (Err(error), _) => Err(error.into()),
            },
        }
    }

    /// Loads the model this source names now.
    pub fn load(&self, settings: &Settings) -> Result<ServedModel, LoadError> {
        let (path, version) = self.locate()?;
        Ok(ServedModel::load_version(&path, version, settings)?)
    }

    /// For messages: the file, or the alias and registry.
    pub fn describe(&self) -> String {
        match self {
            ModelSource::File(path) => format!("`{}`", path.display()),
            ModelSource::Registry {
                registry, alias, ..
            } => {
                format!(
                    "alias `{alias}` of registry `{}`",
                    registry.root().display()
                )
            }
        }
    }
}

/// Whether a registry error only says that nothing was promoted yet.
fn is_absent(error: &RegistryError) -> bool {
    match error {
        RegistryError::UnsetAlias { .. } => true,
        RegistryError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadTrigger {
    /// `POST /admin/reload`.
    Admin,
    /// SIGHUP.
    Signal,
    /// The followed alias moved.
    Alias,
}

/// The latest reload attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadStatus {
    /// Whether the new model is serving.
    pub succeeded: bool,
    /// What started it.
    pub trigger: ReloadTrigger,
    /// When, seconds since the Unix epoch.
    pub at_unix_seconds: u64,
    /// The registry version it tried to load, if any.
    pub target_registry_version: Option<u32>,
    /// Why it failed; the previous model kept serving.
    pub error: Option<String>,
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
            source: None,
            last_reload: Mutex::new(None),
            poll_error: Mutex::new(None),
        }
    }

    /// State serving the artifact at `path`.
    pub fn load(path: &Path, settings: impl Into<Settings>) -> Result<Self, LoadError> {
        Self::from_source(ModelSource::File(path.to_path_buf()), settings)
    }

    /// State serving what `source` names; reloads read it again.
    pub fn from_source(
        source: ModelSource,
        settings: impl Into<Settings>,
    ) -> Result<Self, LoadError> {
        let settings = settings.into();
        let mut state = Self::new(source.load(&settings)?, settings);
        state.source = Some(source);
        Ok(state)
    }

    /// Where the model comes from.
    pub fn source(&self) -> Option<&ModelSource> {
        self.source.as_ref()
    }

    /// The latest reload attempt, if any.
    pub fn last_reload(&self) -> Option<ReloadStatus> {
        self.last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The same state with these access rules.
    pub fn with_access(mut self, access: crate::access::Access) -> Self {
        self.access = access;
        self
    }

    /// Loads the model again from its source (the file, or whatever the alias points to now)
    /// and serves it; on failure the current model keeps serving, and the failure is counted
    /// and reported on `/ready` and `/model`. Returns the new and the replaced model versions.
    pub fn reload(&self, trigger: ReloadTrigger) -> Result<(String, String), LoadError> {
        let source = self.source.as_ref().ok_or(LoadError::NoSource)?;
        let target = match source.locate() {
            Ok((_, version)) => version,
            Err(_) => None,
        };
        let serving = self.model();
        let result = source.load(&self.settings).and_then(|model| {
            match incompatibility(&serving.artifact.schema, &model.artifact.schema) {
                None => Ok(model),
                Some(reason) => Err(LoadError::Incompatible {
                    new: model.model_version.clone(),
                    serving: serving.model_version.clone(),
                    reason,
                }),
            }
        });
        let status = ReloadStatus {
            succeeded: result.is_ok(),
            trigger,
            at_unix_seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or(0),
            target_registry_version: target,
            error: result.as_ref().err().map(|error| crate::error_chain(error)),
        };
        *self
            .last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(status);
        match result {
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

    /// Reloads when the followed alias points to another version than the one serving, unless
    /// that version already failed to load (it is tried again once the alias moves on).
    /// Returns the reload's result, or `None` when nothing moved.
    pub fn follow_alias(&self) -> Option<Result<(String, String), LoadError>> {
        let Some(ModelSource::Registry {
            registry, alias, ..
        }) = &self.source
        else {
            return None;
        };
        let target = match registry.resolve(*alias) {
            Ok((version, _)) => {
                *self
                    .poll_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                version
            }
            // An unreadable index or an unset alias keeps the model serving; it is logged once
            // per distinct error, not every poll.
            Err(error) => {
                let text = crate::error_chain(&error);
                let mut last = self
                    .poll_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if last.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "cannot follow the registry alias; the current model keeps serving");
                    *last = Some(text);
                }
                return None;
            }
        };
        if self.model().registry_version == Some(target) {
            return None;
        }
        let failed_before = self.last_reload().is_some_and(|status| {
            !status.succeeded && status.target_registry_version == Some(target)
        });
        if failed_before {
            return None;
        }
        Some(self.reload(ReloadTrigger::Alias))
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
/// stays small between scrapes) and, when serving a registry alias, checks whether it moved
/// (loading off the async threads); every `summary_period` seconds, logs the request summary.
pub async fn housekeeping(state: actix_web::web::Data<AppState>, summary_period: u64) {
    const TICK: u64 = 1;
    let mut interval = actix_web::rt::time::interval(Duration::from_secs(TICK));
    let mut since_summary = 0;
    loop {
        interval.tick().await;
        state.telemetry.upkeep();
        if matches!(state.source(), Some(ModelSource::Registry { .. })) {
            let following = state.clone();
            if let Ok(Some(result)) = actix_web::web::block(move || following.follow_alias()).await
            {
                log_reload(ReloadTrigger::Alias, &result);
            }
        }
        since_summary += TICK;
        if since_summary >= summary_period {
            state.log_summary.flush(since_summary);
            since_summary = 0;
        }
    }
}

/// Logs a reload's outcome.
pub fn log_reload(trigger: ReloadTrigger, result: &Result<(String, String), LoadError>) {
    match result {
        Ok((model_version, previous)) => {
            tracing::info!(model = %model_version, previous = %previous, ?trigger, "model reloaded");
        }
        Err(error) => {
            tracing::warn!(error = %crate::error_chain(error), ?trigger, "model reload failed; the previous model keeps serving");
        }
    }
}

/// Reloads the model on every SIGHUP, for the server's lifetime.
#[cfg(unix)]
pub async fn reload_on_hangup(state: actix_web::web::Data<AppState>) {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP: reload with POST /admin/reload instead");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let reloading = state.clone();
        if let Ok(result) =
            actix_web::web::block(move || reloading.reload(ReloadTrigger::Signal)).await
        {
            log_reload(ReloadTrigger::Signal, &result);
        }
    }
}
