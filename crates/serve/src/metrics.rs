//! The server's Prometheus metrics, recorded through `metrics-exporter-prometheus` (text format
//! 0.0.4, `GET /metrics`).
//!
//! Every label takes its value from a closed set (routes the server defines, standard methods,
//! status codes, the schema's own field names and labels, fixed error kinds), so no request can
//! create new series at will: unknown values collapse to `other`. The recorder is this state's
//! own, not a global one, so each server state and each test counts alone.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::drift::DriftReport;

/// Latency buckets: 50 µs to 10 s, fine below a millisecond where this server answers.
const LATENCY_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 10.0,
];
/// Body size buckets: 64 B to 16 MiB.
const SIZE_BUCKETS: [f64; 10] = [
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
];
/// Probability buckets, every 0.05.
const PROBABILITY_BUCKETS: [f64; 20] = [
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
    0.9, 0.95, 1.0,
];
/// Records per batch request.
const BATCH_BUCKETS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0,
];

/// The routes the server defines; anything else is `unmatched`.
pub(crate) const ROUTES: [&str; 32] = [
    "/",
    "/health",
    "/ready",
    "/model",
    "/openapi.json",
    "/metrics",
    "/ui",
    "/ui.js",
    "/ui.css",
    "/predict",
    "/predict/",
    "/predict/batch",
    "/predict/batch/",
    "/explain/batch",
    "/explain/batch/",
    "/score",
    "/drift",
    "/admin/reload",
    "/docs",
    "/docs/{tail:.*}",
    "/invocations",
    "/ping",
    "/version",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}",
    "/v2/models/{name}/versions/{version}/ready",
    "/v2/models/{name}/versions/{version}/infer",
];

/// Every metric: name, kind and help text, described once.
const DESCRIPTIONS: [(&str, Kind, &str); 22] = [
    (
        "vigil_http_requests_total",
        Kind::Counter,
        "HTTP requests by route, method and status.",
    ),
    (
        "vigil_http_request_duration_seconds",
        Kind::Histogram,
        "Time from the request's arrival to its response, by route.",
    ),
    (
        "vigil_http_requests_in_flight",
        Kind::Gauge,
        "Requests being handled now.",
    ),
    (
        "vigil_http_request_body_bytes",
        Kind::Histogram,
        "Declared request body sizes, by route.",
    ),
    (
        "vigil_http_response_body_bytes",
        Kind::Histogram,
        "Response body sizes, by route.",
    ),
    (
        "vigil_predictions_total",
        Kind::Counter,
        "Predictions by decided label.",
    ),
    (
        "vigil_prediction_probability",
        Kind::Histogram,
        "The reported probability of each prediction (positive class, or the decided class for multiclass models).",
    ),
    (
        "vigil_batch_records",
        Kind::Histogram,
        "Records per /predict/batch request.",
    ),
    (
        "vigil_validation_failures_total",
        Kind::Counter,
        "Refused values by field and kind of problem.",
    ),
    (
        "vigil_out_of_training_range_total",
        Kind::Counter,
        "Accepted values outside the range seen in training, by feature.",
    ),
    (
        "vigil_model_info",
        Kind::Gauge,
        "The model being served (1) and models served before (0), with dataset, family, version and artifact format.",
    ),
    (
        "vigil_model_ready",
        Kind::Gauge,
        "Whether the served model passed its self-test (1) or not (0).",
    ),
    (
        "vigil_model_load_duration_seconds",
        Kind::Gauge,
        "Time taken to load and check the served artifact.",
    ),
    (
        "vigil_model_loaded_timestamp_seconds",
        Kind::Gauge,
        "When the served model was loaded, in Unix seconds.",
    ),
    (
        "vigil_model_reloads_total",
        Kind::Counter,
        "Model replacements by result (success or failure).",
    ),
    (
        "vigil_drift_window_records",
        Kind::Gauge,
        "Recent records held for drift monitoring.",
    ),
    (
        "vigil_drift_detected",
        Kind::Gauge,
        "Whether a feature (or the model's probability, feature=\"_probability\") drifted from training (1) or not (0).",
    ),
    (
        "vigil_drift_psi",
        Kind::Gauge,
        "Population stability index of a feature (or of the probability) against training.",
    ),
    (
        "vigil_drift_p_value",
        Kind::Gauge,
        "Adjusted p-value of a feature's (or the probability's) drift test.",
    ),
    (
        "vigil_drift_missing_rate",
        Kind::Gauge,
        "Share of recent records missing a feature.",
    ),
    (
        "vigil_drift_features_drifted",
        Kind::Gauge,
        "Features that drifted in the current window.",
    ),
    (
        "vigil_process_collector_errors_total",
        Kind::Counter,
        "Failures reading this process's own statistics.",
    ),
];

/// Process statistics, described separately because their names follow Prometheus' own.
const PROCESS_DESCRIPTIONS: [(&str, Kind, &str); 6] = [
    (
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
    ),
    (
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
    ),
    (
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
    ),
    (
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
    ),
    (
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
    ),
    (
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since the Unix epoch in seconds.",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The metrics of one server, or nothing at all when disabled.
pub struct Telemetry {
    recorder: Option<PrometheusRecorder>,
    handle: Option<PrometheusHandle>,
    /// Requests in flight: a plain atomic on the hot path, copied into its gauge at render.
    in_flight: Option<Arc<AtomicI64>>,
    /// Handles of the series every request touches, so the hot path looks them up without
    /// allocating or hashing a whole key.
    cached: Option<Cached>,
    started: SystemTime,
}

/// Per-route histograms, in [`ROUTES`] order and then `unmatched`.
struct RouteHandles {
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

struct Cached {
    routes: Vec<RouteHandles>,
    /// Per (route, method) slot: the status codes seen and their counters.
    requests: RwLock<Vec<Vec<(u16, Counter)>>>,
    /// Per label seen: its counter (a model has a handful of labels).
    predictions: RwLock<Vec<(String, Counter)>>,
    probability: Histogram,
    out_of_range: RwLock<HashMap<String, Counter>>,
}

/// The standard methods; anything else is `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// Increments the counter found by `find` in a small cached list, registering it (with
/// `make`) the first time.
fn increment_listed<T>(
    list: &RwLock<T>,
    find: impl Fn(&T) -> Option<&Counter>,
    make: impl FnOnce(&mut T),
) {
    if let Some(counter) = find(&list.read().unwrap_or_else(PoisonError::into_inner)) {
        counter.increment(1);
        return;
    }
    let mut guard = list.write().unwrap_or_else(PoisonError::into_inner);
    if find(&guard).is_none() {
        make(&mut guard);
    }
    if let Some(counter) = find(&guard) {
        counter.increment(1);
    }
}

/// Increments the counter cached under `key`, registering it (with `make`) the first time.
fn increment_cached<K, Q>(
    map: &RwLock<HashMap<K, Counter>>,
    key: &Q,
    make: impl FnOnce() -> (K, Counter),
) where
    K: Borrow<Q> + Eq + Hash,
    Q: Eq + Hash + ?Sized,
{
    if let Some(counter) = map.read().unwrap_or_else(PoisonError::into_inner).get(key) {
        counter.increment(1);
        return;
    }
    let (key, counter) = make();
    counter.increment(1);
    map.write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert(counter);
}

/// A label's position in its closed set (the set's length for anything else). Labels from
/// `route_label` and `method_label` are these very strings, so comparing addresses finds them
/// without comparing text on every request; text is compared only for labels made elsewhere.
fn label_index(labels: &[&'static str], label: &str) -> usize {
    labels
        .iter()
        .position(|known| std::ptr::eq(*known, label))
        .or_else(|| labels.iter().position(|known| *known == label))
        .unwrap_or(labels.len())
}

/// A route label from the closed set.
pub fn route_label(pattern: Option<&str>) -> &'static str {
    pattern
        .and_then(|pattern| ROUTES.iter().find(|route| **route == pattern))
        .copied()
        .unwrap_or("unmatched")
}

/// A method label from the closed set of standard methods.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

impl Telemetry {
    /// Metrics recorded and rendered (`enabled`), or a no-op that costs nothing.
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Telemetry {
                recorder: None,
                handle: None,
                in_flight: None,
                cached: None,
                started: SystemTime::now(),
            };
        }
        let with_buckets = |builder: PrometheusBuilder, name: &str, buckets: &[f64]| {
            builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new())
        };
        let mut builder = PrometheusBuilder::new();
        builder = with_buckets(
            builder,
            "vigil_http_request_duration_seconds",
            &LATENCY_BUCKETS,
        );
        builder = with_buckets(builder, "vigil_http_request_body_bytes", &SIZE_BUCKETS);
        builder = with_buckets(builder, "vigil_http_response_body_bytes", &SIZE_BUCKETS);
        builder = with_buckets(
            builder,
            "vigil_prediction_probability",
            &PROBABILITY_BUCKETS,
        );
        builder = with_buckets(builder, "vigil_batch_records", &BATCH_BUCKETS);
        let recorder = builder.build_recorder();
        for (name, kind, help) in DESCRIPTIONS.iter().chain(&PROCESS_DESCRIPTIONS) {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let handle = recorder.handle();
        let mut telemetry = Telemetry {
            recorder: Some(recorder),
            handle: Some(handle),
            in_flight: None,
            cached: None,
            started: SystemTime::now(),
        };
        telemetry.in_flight = Some(Arc::new(AtomicI64::new(0)));
        let route_histograms = |route: &'static str| {
            let label = || vec![Label::from_static_parts("route", route)];
            RouteHandles {
                duration: telemetry.histogram("vigil_http_request_duration_seconds", label()),
                request_bytes: telemetry.histogram("vigil_http_request_body_bytes", label()),
                response_bytes: telemetry.histogram("vigil_http_response_body_bytes", label()),
            }
        };
        telemetry.cached = Some(Cached {
            routes: ROUTES
                .iter()
                .chain(std::iter::once(&"unmatched"))
                .map(|route| route_histograms(route))
                .collect(),
            requests: RwLock::new(vec![Vec::new(); (ROUTES.len() + 1) * (METHODS.len() + 1)]),
            predictions: RwLock::new(Vec::new()),
            probability: telemetry.histogram("vigil_prediction_probability", vec![]),
            out_of_range: RwLock::new(HashMap::new()),
        });
        // Both reload results exist from the start, so alert rules see a zero, not nothing.
        for result in ["success", "failure"] {
            telemetry
                .counter(
                    "vigil_model_reloads_total",
                    vec![Label::from_static_parts("result", result)],
                )
                .absolute(0);
        }
        telemetry
    }

    /// Whether metrics are recorded.
    pub fn enabled(&self) -> bool {
        self.recorder.is_some()
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .as_ref()
            .map_or_else(Counter::noop, |recorder| {
                recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
            })
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder.as_ref().map_or_else(Gauge::noop, |recorder| {
            recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
        })
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .as_ref()
            .map_or_else(Histogram::noop, |recorder| {
                recorder.register_histogram(&Key::from_parts(name, labels), &METADATA)
            })
    }

    /// A request began; the guard ends it.
    pub fn request_started(&self) -> InFlight<'_> {
        if let Some(count) = &self.in_flight {
            count.fetch_add(1, Ordering::Relaxed);
        }
        InFlight(self.in_flight.as_deref())
    }

    /// Records one finished request.
    pub fn record_request(&self, request: &RequestRecord) {
        let Some(cached) = &self.cached else {
            return;
        };
        let route_idx = label_index(&ROUTES, request.route);
        let method_idx = label_index(&METHODS, request.method);
        let slot = route_idx * (METHODS.len() + 1) + method_idx;
        let status = request.status;
        increment_listed(
            &cached.requests,
            |slots| {
                slots
                    .get(slot)?
                    .iter()
                    .find(|(seen, _)| *seen == status)
                    .map(|(_, counter)| counter)
            },
            |slots| {
                let labels = vec![
                    Label::from_static_parts("route", request.route),
                    Label::from_static_parts("method", request.method),
                    Label::new("status", status.to_string()),
                ];
                if let Some(statuses) = slots.get_mut(slot) {
                    statuses.push((status, self.counter("vigil_http_requests_total", labels)));
                }
            },
        );
        let Some(handles) = cached.routes.get(route_idx) else {
            return;
        };
        handles.duration.record(request.seconds);
        if let Some(bytes) = request.request_bytes {
            handles.request_bytes.record(bytes as f64);
        }
        if let Some(bytes) = request.response_bytes {
            handles.response_bytes.record(bytes as f64);
        }
    }

    /// Records a prediction's label (one of the schema's classes) and reported probability.
    pub fn record_prediction(&self, label: &str, probability: f64) {
        let Some(cached) = &self.cached else {
            return;
        };
        increment_listed(
            &cached.predictions,
            |labels| {
                labels
                    .iter()
                    .find(|(seen, _)| seen == label)
                    .map(|(_, counter)| counter)
            },
            |labels| {
                let counter = self.counter(
                    "vigil_predictions_total",
                    vec![Label::new("label", label.to_owned())],
                );
                labels.push((label.to_owned(), counter));
            },
        );
        cached.probability.record(probability);
    }

    /// Records the size of a batch request.
    pub fn record_batch(&self, n_records: usize) {
        self.histogram("vigil_batch_records", vec![])
            .record(n_records as f64);
    }

    /// Records a refused value; `field` must come from the schema (or be `body` or `other`)
    /// and `kind` from the fixed problem codes.
    pub fn record_validation_failure(&self, field: &str, kind: &'static str) {
        if !self.enabled() {
            return;
        }
        self.counter(
            "vigil_validation_failures_total",
            vec![
                Label::new("field", field.to_owned()),
                Label::from_static_parts("kind", kind),
            ],
        )
        .increment(1);
    }

    /// Records an accepted value outside the training range of `feature` (a schema name).
    pub fn record_out_of_training_range(&self, feature: &str) {
        let Some(cached) = &self.cached else {
            return;
        };
        increment_cached(&cached.out_of_range, feature, || {
            let labels = vec![Label::new("feature", feature.to_owned())];
            (
                feature.to_owned(),
                self.counter("vigil_out_of_training_range_total", labels),
            )
        });
    }

    /// Marks `model` as served (1) and the model it replaces, if any, as no longer (0).
    pub fn model_loaded(
        &self,
        model: &ModelLabels,
        previous: Option<&ModelLabels>,
        load: Duration,
        ready: bool,
    ) {
        if let Some(previous) = previous {
            self.gauge("vigil_model_info", previous.labels()).set(0.0);
        }
        self.gauge("vigil_model_info", model.labels()).set(1.0);
        self.gauge("vigil_model_ready", vec![])
            .set(f64::from(u8::from(ready)));
        self.gauge("vigil_model_load_duration_seconds", vec![])
            .set(load.as_secs_f64());
        self.gauge("vigil_model_loaded_timestamp_seconds", vec![])
            .set(unix_seconds(SystemTime::now()));
    }

    /// Counts a model replacement by its result.
    pub fn record_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.counter(
            "vigil_model_reloads_total",
            vec![Label::from_static_parts("result", result)],
        )
        .increment(1);
        // Whether the latest reload worked: an alert can fire on 0 while the old model serves.
        self.gauge("vigil_model_last_reload_success", vec![])
            .set(f64::from(u8::from(success)));
    }

    /// Publishes a drift report of the current window.
    pub fn record_drift(&self, window_records: usize, report: &DriftReport) {
        if !self.enabled() {
            return;
        }
        self.gauge("vigil_drift_window_records", vec![])
            .set(window_records as f64);
        self.gauge("vigil_drift_features_drifted", vec![])
            .set(report.drifted_features.len() as f64);
        let feature_label = |name: &str| vec![Label::new("feature", name.to_owned())];
        for feature in &report.features {
            self.gauge("vigil_drift_detected", feature_label(&feature.feature))
                .set(f64::from(u8::from(feature.drifted)));
            self.gauge("vigil_drift_missing_rate", feature_label(&feature.feature))
                .set(feature.current_missing_rate);
            if let Some(comparison) = &feature.comparison {
                self.gauge("vigil_drift_psi", feature_label(&feature.feature))
                    .set(comparison.psi);
                self.gauge("vigil_drift_p_value", feature_label(&feature.feature))
                    .set(comparison.p_value);
            }
        }
        self.gauge("vigil_drift_detected", feature_label("_probability"))
            .set(f64::from(u8::from(report.probability_drifted)));
        if let Some(comparison) = &report.probability {
            self.gauge("vigil_drift_psi", feature_label("_probability"))
                .set(comparison.psi);
            self.gauge("vigil_drift_p_value", feature_label("_probability"))
                .set(comparison.p_value);
        }
    }

    /// Drains recorded histogram samples into their buckets, so memory stays bounded between
    /// scrapes; the server calls it every few seconds.
    pub fn upkeep(&self) {
        if let Some(handle) = &self.handle {
            handle.run_upkeep();
        }
    }

    /// The Prometheus text exposition (format 0.0.4), with process statistics read now; empty
    /// when disabled.
    pub fn render(&self) -> String {
        let Some(handle) = &self.handle else {
            return String::new();
        };
        self.record_process();
        handle.render()
    }

    /// Reads this process's statistics from `/proc` (Linux; elsewhere only the start time).
    fn record_process(&self) {
        if let Some(count) = &self.in_flight {
            self.gauge("vigil_http_requests_in_flight", vec![])
                .set(count.load(Ordering::Relaxed) as f64);
        }
        self.gauge("process_start_time_seconds", vec![])
            .set(unix_seconds(self.started));
        match process_stats() {
            Some(stats) => {
                self.gauge("process_resident_memory_bytes", vec![])
                    .set(stats.resident_bytes);
                self.gauge("process_virtual_memory_bytes", vec![])
                    .set(stats.virtual_bytes);
                self.counter("process_cpu_seconds_total", vec![])
                    .absolute(stats.cpu_seconds as u64);
                self.gauge("process_open_fds", vec![]).set(stats.open_fds);
                if let Some(max) = stats.max_fds {
                    self.gauge("process_max_fds", vec![]).set(max);
                }
            }
            None => self
                .counter("vigil_process_collector_errors_total", vec![])
                .increment(1),
        }
    }
}

/// Ends an in-flight request when dropped.
pub struct InFlight<'a>(Option<&'a AtomicI64>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(count) = self.0 {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What the metrics record of one request.
pub struct RequestRecord {
    /// From [`route_label`].
    pub route: &'static str,
    /// From [`method_label`].
    pub method: &'static str,
    /// The status code.
    pub status: u16,
    /// Time to the response.
    pub seconds: f64,
    /// Declared request body size, when declared.
    pub request_bytes: Option<u64>,
    /// Response body size, when known.
    pub response_bytes: Option<u64>,
}

/// The labels that identify a served model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLabels {
    /// Dataset name.
    pub dataset: String,
    /// Model family.
    pub model: String,
    /// `<model>@<checksum>`.
    pub model_version: String,
    /// Artifact format version.
    pub format_version: String,
}

impl ModelLabels {
    fn labels(&self) -> Vec<Label> {
        vec![
            Label::new("dataset", self.dataset.clone()),
            Label::new("model", self.model.clone()),
            Label::new("model_version", self.model_version.clone()),
            Label::new("format_version", self.format_version.clone()),
        ]
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

struct ProcessStats {
    resident_bytes: f64,
    virtual_bytes: f64,
    cpu_seconds: f64,
    open_fds: f64,
    max_fds: Option<f64>,
}

/// This process's memory, CPU time and file descriptors, from `/proc/self`.
fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |number: usize| -> Option<f64> { fields.get(number - 3)?.parse().ok() };
    // Clock ticks per second are 100 on every Linux this runs on (USER_HZ).
    let cpu_seconds = (field(14)? + field(15)?) / 100.0;
    let virtual_bytes = field(23)?;
    let page_size = 4096.0;
    let resident_bytes = field(24)? * page_size;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        });
    Some(ProcessStats {
        resident_bytes,
        virtual_bytes,
        cpu_seconds,
        open_fds,
        max_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_closed_sets() {
        assert_eq!(route_label(Some("/predict")), "/predict");
        assert_eq!(route_label(Some("/no/such")), "unmatched");
        assert_eq!(route_label(None), "unmatched");
        assert_eq!(method_label("POST"), "POST");
        assert_eq!(method_label(&"M".repeat(10_000)), "other");
    }

    #[test]
    fn rendered_text_has_help_type_and_values() {
        let telemetry = Telemetry::new(true);
        telemetry.record_request(&RequestRecord {
            route: "/predict",
            method: "POST",
            status: 200,
            seconds: 0.0003,
            request_bytes: Some(120),
            response_bytes: Some(200),
        });
        telemetry.record_prediction("Positive", 0.7);
        let text = telemetry.render();
        assert!(
            text.contains("# TYPE vigil_http_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP vigil_http_requests_total HTTP requests"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"vigil_http_requests_total{route="/predict",method="POST",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"vigil_http_request_duration_seconds_bucket{route="/predict",le="0.0005"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"vigil_predictions_total{label="Positive"} 1"#),
            "{text}"
        );
        assert!(text.contains("process_start_time_seconds"), "{text}");
        assert!(Telemetry::new(false).render().is_empty());
    }
}
