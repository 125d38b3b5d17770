//! The vigil HTTP API: a schema-driven actix-web service over a model artifact.
//!
//! Nothing here knows a dataset: every field, range, example and label comes from the
//! artifact's schema. The binary only wires this library to a listener.

pub mod api;
pub mod body;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod score;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use arc_swap::ArcSwap;
use futures_core::Stream;
use model::{Artifact, ArtifactError, FeatureKind, Value};
use serde_json::{Value as Json, json};

use api::PredictionResponse;
use body::{Body, Item};
use error::{ApiError, ValidationItem};

/// Limits that protect the server from oversized requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted body, in bytes.
    pub body_limit: usize,
    /// Most records in one batch request.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_limit: 4 * 1024 * 1024,
            max_batch: 10_000,
        }
    }
}

/// A loaded model and everything pre-rendered from it. Handlers take one snapshot of it per
/// request ([`AppState::model`]), so a request never mixes two models.
pub struct ServedModel {
    /// The artifact.
    pub artifact: Artifact,
    /// `<model>@<crc32 of the file>`.
    pub model_version: String,
    /// Pre-rendered `GET /openapi.json`.
    openapi: Bytes,
    /// Pre-rendered `GET /model`.
    model_card: Bytes,
    /// Pre-rendered `GET /`.
    info: Bytes,
    /// Pre-rendered `GET /ui`.
    page: Bytes,
    /// Whether the start-up self-test prediction succeeded.
    ready: bool,
}

impl ServedModel {
    /// Renders what the endpoints serve and self-tests an artifact already in memory.
    pub fn new(artifact: Artifact, model_version: String, limits: &Limits) -> Self {
        let openapi = serde_json::to_vec(&openapi::document(
            &artifact,
            &model_version,
            limits.max_batch,
        ))
        .unwrap_or_default();
        let model_card =
            serde_json::to_vec(&api::model_card(&artifact, &model_version)).unwrap_or_default();
        let info =
            serde_json::to_vec(&api::service_info(&artifact, &model_version)).unwrap_or_default();
        let page = page::render(&artifact, &model_version);
        let mut served = ServedModel {
            artifact,
            model_version,
            openapi: Bytes::from(openapi),
            model_card: Bytes::from(model_card),
            info: Bytes::from(info),
            page: Bytes::from(page),
            ready: false,
        };
        // Self-test: the documented example must predict finite probabilities.
        let example = body::Record::from_fields(api::example_record(&served.artifact));
        served.ready = served
            .predict(&example, None)
            .map(|prediction| prediction.probabilities.values().all(|p| p.is_finite()))
            .unwrap_or(false);
        served
    }

    /// Loads an artifact file, refusing anything missing, damaged or of another version.
    pub fn load(path: &Path, limits: &Limits) -> Result<Self, ArtifactError> {
        let bytes = std::fs::read(path).map_err(|source| ArtifactError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let artifact = Artifact::from_bytes(&bytes, path)?;
        let model_version = format!(
            "{}@{:08x}",
            artifact.model_name,
            model::artifact::checksum(&bytes)
        );
        Ok(Self::new(artifact, model_version, limits))
    }

    /// Whether the self-test prediction succeeded.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
}

/// The server's own state, and the model it serves behind an atomically swappable pointer.
pub struct AppState {
    /// Request limits.
    pub limits: Limits,
    /// Request counters.
    pub metrics: metrics::Metrics,
    /// The model now serving; replaced whole, never changed in place.
    model: ArcSwap<ServedModel>,
    /// Swagger UI configuration pointing at our document.
    swagger: Arc<utoipa_swagger_ui::Config<'static>>,
    next_request_id: AtomicU64,
}

impl AppState {
    /// State serving `model`.
    pub fn new(model: ServedModel, limits: Limits) -> Self {
        AppState {
            limits,
            metrics: metrics::Metrics::default(),
            model: ArcSwap::from_pointee(model),
            swagger: Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")),
            next_request_id: AtomicU64::new(1),
        }
    }

    /// State serving the artifact at `path`.
    pub fn load(path: &Path, limits: Limits) -> Result<Self, ArtifactError> {
        Ok(Self::new(ServedModel::load(path, &limits)?, limits))
    }

    /// A snapshot of the model now serving. A handler takes one per request and uses it
    /// throughout, so a swap mid-request cannot mix two models in one answer.
    pub fn model(&self) -> Arc<ServedModel> {
        self.model.load_full()
    }

    /// Serves `model` from now on; requests in flight finish with the snapshot they took.
    /// Returns the model it replaces.
    pub fn replace_model(&self, model: ServedModel) -> Arc<ServedModel> {
        self.model.swap(Arc::new(model))
    }
}

/// Registers every route on `cfg`, with `state` as shared data.
pub fn configure(cfg: &mut ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state)
        .service(get("/", info))
        .service(get("/health", health))
        .service(get("/ready", ready))
        .service(get("/model", model_card))
        .service(get("/openapi.json", openapi_document))
        .service(get("/metrics", metrics_text))
        .service(get("/ui", ui_page))
        .service(post("/predict", predict))
        .service(post("/predict/batch", predict_batch))
        .service(get("/docs", docs_redirect))
        .service(get("/docs/{tail:.*}", docs))
        .default_service(web::to(not_found));
}

/// A GET resource that also answers HEAD (as HTTP requires); other methods get a JSON 405.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    with_allow(
        web::resource(path)
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler)),
        "GET, HEAD",
    )
}

/// A POST resource; other methods get a JSON 405.
fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    with_allow(web::resource(path).route(web::post().to(handler)), "POST")
}

/// Answers unmatched methods with 405, naming the allowed ones in `Allow`.
fn with_allow(resource: actix_web::Resource, allow: &'static str) -> actix_web::Resource {
    resource.default_service(web::to(move |request: HttpRequest| async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: allow.to_owned(),
        })
    }))
}

fn json_bytes(bytes: &Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes.clone())
}

async fn info(state: web::Data<AppState>) -> HttpResponse {
    json_bytes(&state.model().info)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let model = state.model();
    if model.ready {
        HttpResponse::Ok().json(json!({"status": "ready", "model": model.artifact.model_name, "model_version": model.model_version}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not ready", "detail": "the self-test prediction failed"}))
    }
}

async fn model_card(state: web::Data<AppState>) -> HttpResponse {
    json_bytes(&state.model().model_card)
}

async fn openapi_document(state: web::Data<AppState>) -> HttpResponse {
    json_bytes(&state.model().openapi)
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    let model = state.model();
    let text = state.metrics.render(
        &model.artifact.model_name,
        &model.model_version,
        &model.artifact.schema.dataset,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

async fn ui_page(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(state.model().page.clone())
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

async fn docs(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tail = request.match_info().get("tail").unwrap_or("");
    match utoipa_swagger_ui::serve(tail, state.swagger.clone()) {
        Ok(Some(file)) => {
            let mut response = HttpResponse::Ok();
            response.content_type(file.content_type);
            if file.gzpipped {
                response.insert_header((header::CONTENT_ENCODING, "gzip"));
            }
            Ok(response.body(file.bytes.into_owned()))
        }
        _ => Err(ApiError::NotFound(request.path().to_owned())),
    }
}

async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(request.path().to_owned()))
}

/// Reads a JSON body: checks Content-Type (415), size (413) and syntax (400), keeping every
/// object's keys in order and noting repeated ones (see [`body`]).
async fn read_json(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Body, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json"
        && !(essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Err(ApiError::UnsupportedMediaType {
            found: if content_type.is_empty() {
                "none".into()
            } else {
                content_type.to_owned()
            },
        });
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) =
        std::future::poll_fn(|context| Pin::new(&mut payload).poll_next(context)).await
    {
        let chunk = chunk.map_err(|error| ApiError::Payload(error.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|error| ApiError::MalformedJson {
        line: error.line(),
        column: error.column(),
        reason: error
            .to_string()
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// Converts a JSON value into a model value, strictly: JSON types must match the feature kind,
/// as the OpenAPI document says (numbers for numeric features, strings for categories).
fn to_model_value(kind: Option<FeatureKind>, value: &Json) -> Value {
    match (kind, value) {
        (_, Json::Null) => Value::Missing,
        (Some(FeatureKind::Categorical), Json::String(text)) => Value::Text(text.clone()),
        (Some(_), Json::String(_)) => Value::Other("a string"),
        (_, Json::String(text)) => Value::Text(text.clone()),
        (_, Json::Number(number)) => number
            .as_f64()
            .map_or(Value::Other("a number out of range"), Value::Number),
        (_, Json::Bool(_)) => Value::Other("a boolean"),
        (_, Json::Array(_)) => Value::Other("an array"),
        (_, Json::Object(_)) => Value::Other("an object"),
    }
}

/// The location of a field: `["body", index?, field]`.
fn location(index: Option<usize>, field: &str) -> Vec<Json> {
    let mut loc = vec![json!("body")];
    if let Some(index) = index {
        loc.push(json!(index));
    }
    loc.push(json!(field));
    loc
}

/// A record's id field: a string or an integral number, echoed as text.
fn parse_id(value: &Json) -> Result<Option<String>, ()> {
    match value {
        Json::String(text) => Ok(Some(text.clone())),
        Json::Number(number) if number.is_i64() || number.is_u64() => Ok(Some(number.to_string())),
        // JSON Schema calls any integral number an integer, however large.
        Json::Number(number) if number.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            Ok(number.as_f64().map(|f| format!("{f:.0}")))
        }
        Json::Null => Ok(None),
        _ => Err(()),
    }
}

impl ServedModel {
    /// Validates and predicts one record; errors are located under `["body", index?, field]`.
    pub fn predict(
        &self,
        record: &body::Record,
        index: Option<usize>,
    ) -> Result<PredictionResponse, Vec<ValidationItem>> {
        let schema = &self.artifact.schema;
        let mut errors: Vec<ValidationItem> = record
            .duplicates
            .iter()
            .map(|name| ValidationItem {
                loc: location(index, name),
                msg: format!("duplicate key: `{name}` appears more than once"),
                kind: "duplicate_key".into(),
            })
            .collect();
        let mut id = None;
        let mut values: Vec<(&str, Value)> = Vec::with_capacity(record.fields.len());
        for (name, value) in &record.fields {
            if schema.id_columns.iter().any(|column| column == name) {
                match parse_id(value) {
                    Ok(parsed) => id = parsed,
                    Err(()) => errors.push(ValidationItem {
                        loc: location(index, name),
                        msg: "expected a string or integer id".into(),
                        kind: "type_error".into(),
                    }),
                }
                continue;
            }
            let kind = schema
                .feature_index(name)
                .map(|feature_idx| schema.features[feature_idx].kind);
            values.push((name.as_str(), to_model_value(kind, value)));
        }
        let prediction = self
            .artifact
            .predict_record(values.iter().map(|(name, value)| (*name, value)));
        match prediction {
            Ok(prediction) if errors.is_empty() => Ok(self.response(id, &prediction)),
            Ok(_) => Err(errors),
            Err(field_errors) => {
                errors.extend(field_errors.into_iter().map(|error| ValidationItem {
                    loc: location(index, &error.field),
                    msg: error.problem.to_string(),
                    kind: error.problem.code().to_owned(),
                }));
                Err(errors)
            }
        }
    }

    /// The JSON answer for a prediction.
    fn response(&self, id: Option<String>, prediction: &model::Prediction) -> PredictionResponse {
        let schema = &self.artifact.schema;
        let probability = match schema.positive_class {
            Some(positive) if schema.classes.len() == 2 => prediction.probabilities[positive],
            _ => prediction.probabilities[prediction.label_idx],
        };
        PredictionResponse {
            id,
            label: schema.classes[prediction.label_idx].clone(),
            probability,
            probabilities: schema
                .classes
                .iter()
                .cloned()
                .zip(prediction.probabilities.iter().copied())
                .collect(),
            threshold: self.artifact.decision.threshold,
            model: self.artifact.model_name.clone(),
            model_version: self.model_version.clone(),
        }
    }
}

async fn predict(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = state.model();
    let Body::Object(record) = read_json(&request, payload, state.limits.body_limit).await? else {
        return Err(ApiError::validation(
            vec![json!("body")],
            "expected a JSON object keyed by column name",
            "model_attributes_type",
        ));
    };
    let prediction = model.predict(&record, None).map_err(ApiError::Validation)?;
    state
        .metrics
        .record_predictions([prediction.label.as_str()]);
    Ok(HttpResponse::Ok().json(prediction))
}

async fn predict_batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = state.model();
    let Body::Array(items) = read_json(&request, payload, state.limits.body_limit).await? else {
        return Err(ApiError::validation(
            vec![json!("body")],
            "expected a JSON array of records",
            "list_type",
        ));
    };
    if items.len() > state.limits.max_batch {
        return Err(ApiError::validation(
            vec![json!("body")],
            format!(
                "at most {} records per request, found {}",
                state.limits.max_batch,
                items.len()
            ),
            "too_long",
        ));
    }
    let mut predictions = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item {
            Item::Record(record) => match model.predict(record, Some(index)) {
                Ok(prediction) => predictions.push(prediction),
                Err(items) => errors.extend(items),
            },
            Item::Other(_) => errors.push(ValidationItem {
                loc: vec![json!("body"), json!(index)],
                msg: "expected a JSON object keyed by column name".into(),
                kind: "model_attributes_type".into(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    state
        .metrics
        .record_predictions(predictions.iter().map(|p| p.label.as_str()));
    Ok(HttpResponse::Ok().json(predictions))
}

/// Middleware: a request id, one log line per request (never bodies, ids or feature values:
/// they are patient data), and request metrics.
pub async fn request_log(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let request_id = state.as_ref().map_or(0, |state| {
        state.next_request_id.fetch_add(1, Ordering::Relaxed)
    });
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let mut response = next.call(request).await?;
    let status = response.status();
    let seconds = started.elapsed().as_secs_f64();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(state) = &state {
        state
            .metrics
            .record_request(&route, &method, status.as_u16(), seconds);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("{request_id}")) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    let path_for_log = if status == StatusCode::NOT_FOUND {
        "<unmatched>"
    } else {
        path.as_str()
    };
    tracing::info!(request_id, method = %method, path = %path_for_log, status = status.as_u16(), latency_ms = (seconds * 1e6).round() / 1e3, "request");
    Ok(response)
}
