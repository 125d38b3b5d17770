//! vigil's own HTTP API: routes, handlers and strict JSON body reading. Every handler takes one
//! snapshot of the served model and answers wholly from it.

use std::pin::Pin;
use std::sync::atomic::Ordering;

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use futures_core::Stream;
use serde_json::{Value as Json, json};

use crate::body::{Body, BodyReader, Item, TOO_MANY_ITEMS};
use crate::error::{ApiError, ErrorList, ValidationItem};
use crate::protocols::{mlflow, oip};
use crate::state::{AppState, Limits, ReloadTrigger, ServedModel, log_reload};

/// Registers every route on `cfg`, with `state` as shared data.
pub fn configure(cfg: &mut ServiceConfig, state: web::Data<AppState>) {
    // Every route sits in one scope so the access guard (allowed hosts, security headers)
    // covers them all, whoever builds the App.
    let administered = state.access.admin_token.is_some();
    let mut scope = web::scope("")
        .wrap(from_fn(crate::access::guard))
        .service(get("/", info))
        .service(get("/health", health))
        .service(get("/ready", ready))
        .service(get("/model", model_card))
        .service(get("/openapi.json", openapi_document))
        .service(get("/metrics", metrics_text))
        .service(get("/ui", ui_page))
        .service(get("/ui.js", ui_script))
        .service(get("/ui.css", ui_style))
        .service(post("/predict", predict))
        .service(post("/predict/", predict))
        .service(post("/predict/batch", predict_batch))
        .service(post("/predict/batch/", predict_batch))
        .service(post("/explain/batch", explain_batch))
        .service(post("/score", score_upload))
        .service(post("/evaluate", evaluate_upload))
        .service(post("/explain/batch/", explain_batch))
        .service(get("/drift", drift))
        .service(post("/invocations", mlflow::invocations))
        .service(get("/ping", mlflow::ping))
        .service(get("/version", mlflow::version))
        .service(get("/v2", oip::server_metadata))
        .service(get("/v2/health/live", oip::live))
        .service(get("/v2/health/ready", oip::ready))
        .service(get("/v2/models/{name}", oip::model_metadata))
        .service(get("/v2/models/{name}/ready", oip::model_ready))
        .service(post("/v2/models/{name}/infer", oip::infer))
        .service(get(
            "/v2/models/{name}/versions/{version}",
            oip::model_metadata,
        ))
        .service(get(
            "/v2/models/{name}/versions/{version}/ready",
            oip::model_ready,
        ))
        .service(post(
            "/v2/models/{name}/versions/{version}/infer",
            oip::infer,
        ))
        .service(get("/docs", docs_redirect))
        .service(get("/docs/{tail:.*}", docs));
    // Without an admin token, administration does not exist (404, not 401 or 405).
    if administered {
        scope = scope.service(post("/admin/reload", admin_reload));
    }
    cfg.app_data(state)
        .service(scope.default_service(web::to(not_found)));
}

/// A GET resource that also answers HEAD (as HTTP requires); other methods get a JSON 405.
/// Resources are named by their path pattern, which metrics read without allocating.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    with_allow(
        web::resource(path)
            .name(path)
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
    with_allow(
        web::resource(path)
            .name(path)
            .route(web::post().to(handler)),
        "POST",
    )
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
    // A failed reload leaves the previous model serving: still ready, but said.
    let last_reload = state.last_reload();
    if model.is_ready() {
        let mut answer = json!({"status": "ready", "model": model.artifact.model_name, "model_version": model.model_version});
        if let Some(status) = last_reload {
            answer["last_reload"] = json!(status);
        }
        HttpResponse::Ok().json(answer)
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not ready", "detail": "the self-test prediction failed"}))
    }
}

/// Whether a client asks for HTML (a browser does; `curl` and API clients do not).
fn accepts_html(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let refused = parts.clone().any(|part| {
                    part.strip_prefix("q=")
                        .and_then(|q| q.parse::<f64>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                parts.next() == Some("text/html") && !refused
            })
        })
}

async fn model_card(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let model = state.model();
    let mut response = if accepts_html(&request) {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(model.card_page.clone())
    } else {
        model_card_json(&state, &model)
    };
    // One URL, two representations: caches must key on what was asked for.
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept"));
    response
}

fn model_card_json(state: &AppState, model: &ServedModel) -> HttpResponse {
    match state.last_reload() {
        // The card is pre-rendered; the reload status is added only once a reload happened.
        Some(status) => match serde_json::from_slice::<serde_json::Value>(&model.model_card) {
            Ok(mut card) => {
                card["last_reload"] = json!(status);
                HttpResponse::Ok().json(card)
            }
            Err(_) => json_bytes(&model.model_card),
        },
        None => json_bytes(&model.model_card),
    }
}

async fn openapi_document(state: web::Data<AppState>) -> HttpResponse {
    json_bytes(&state.model().openapi)
}

async fn metrics_text(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.telemetry.enabled() {
        return Err(ApiError::NotFound("/metrics".into()));
    }
    // Drift gauges describe the window as it is at scrape time.
    state.drift();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.telemetry.render()))
}

/// The drift report summarises recent inputs (patient data in aggregate), so it sits behind
/// the same token as predictions.
async fn drift(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.access.require_api(&request)?;
    Ok(HttpResponse::Ok().json(state.drift()))
}

async fn ui_page(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(state.model().page.clone())
}

async fn ui_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(crate::page::SCRIPT)
}

async fn ui_style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(crate::page::STYLE)
}

/// Loads the artifact again from its file and serves it from the next request on; requests in
/// flight finish with the model they started with. A file that fails its checks leaves the
/// current model serving.
async fn admin_reload(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.access.require_admin(&request)?;
    let reloading = state.clone();
    let reloaded = web::block(move || reloading.reload(ReloadTrigger::Admin))
        .await
        .map_err(|error| ApiError::ReloadFailed(error.to_string()))?;
    log_reload(ReloadTrigger::Admin, &reloaded);
    match reloaded {
        Ok((model_version, previous)) => Ok(HttpResponse::Ok().json(json!({
            "model_version": model_version,
            "previous_model_version": previous,
        }))),
        Err(error) => Err(ApiError::ReloadFailed(crate::error_chain(&error))),
    }
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
/// object's keys in order and noting repeated ones (see [`crate::body`]).
async fn read_json(
    request: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
    reader: BodyReader<'_>,
) -> Result<Body, ApiError> {
    let body = receive_json(request, payload, limits).await?;
    parse_json(reader, &body)
}

/// Receives a JSON body's bytes: checks Content-Type (415), size (413) and arrival time (408).
async fn receive_json(
    request: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
) -> Result<web::BytesMut, ApiError> {
    require_media_type(request, is_json, JSON)?;
    receive_body(request, payload, limits).await
}

/// What the JSON endpoints take, as their 415 says.
pub(crate) const JSON: &str = "`application/json`";

/// Whether a media type (lowercase, without parameters) is JSON.
pub(crate) fn is_json(essence: &str) -> bool {
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The request's media type, lowercase and without parameters (`""` when absent).
pub(crate) fn media_type(request: &HttpRequest) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Refuses (415) a body whose media type `accepted` does not take.
pub(crate) fn require_media_type(
    request: &HttpRequest,
    accepted: impl Fn(&str) -> bool,
    expected: &'static str,
) -> Result<(), ApiError> {
    if accepted(&media_type(request)) {
        return Ok(());
    }
    let found = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none");
    Err(ApiError::UnsupportedMediaType {
        found: found.to_owned(),
        expected,
    })
}

/// Receives a body's bytes: checks size (413) and arrival time (408).
pub(crate) async fn receive_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limits: &Limits,
) -> Result<web::BytesMut, ApiError> {
    let (limit, timeout) = (limits.body_limit, limits.body_timeout);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let receive = async {
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
        Ok(body)
    };
    // actix times out a slow request head, not a slow body: a client that declares a large
    // body and then stalls would otherwise hold its connection and buffer forever.
    actix_web::rt::time::timeout(timeout, receive)
        .await
        .map_err(|_| ApiError::BodyTimeout {
            seconds: timeout.as_secs(),
        })?
}

/// Parses a received body (400 for broken JSON, 422 for a batch over the limit).
fn parse_json(reader: BodyReader<'_>, body: &[u8]) -> Result<Body, ApiError> {
    reader.parse(body).map_err(|error| {
        let reason = crate::error::parser_reason(&error);
        // A batch longer than allowed is a validation error, not malformed JSON: the parse
        // stopped on purpose at the first record too many.
        if reason.starts_with(TOO_MANY_ITEMS) {
            ApiError::validation(vec![json!("body")], reason, "too_long")
        } else {
            ApiError::malformed_json(&error)
        }
    })
}

/// A record sent as `{"features": {...}}` (as some clients wrap it), unwrapped; any other
/// record as it is. Only when the model has no feature called `features`.
fn unwrap_features(record: crate::body::Record, model: &ServedModel) -> crate::body::Record {
    match record.fields.as_slice() {
        [(name, Json::Object(fields))]
            if name == "features"
                && record.ids.is_empty()
                && model.artifact.schema.feature_index(name).is_none() =>
        {
            crate::body::Record::from_fields(fields.clone())
        }
        _ => record,
    }
}

/// How bodies are read for the served model.
fn body_reader<'a>(model: &'a ServedModel, state: &AppState) -> BodyReader<'a> {
    BodyReader {
        id_columns: &model.artifact.schema.id_columns,
        max_items: state.settings.limits.max_batch,
    }
}

/// The most records a batch may hold: fewer when each is explained.
fn batch_limit(state: &AppState, explain: bool) -> usize {
    let limits = &state.settings.limits;
    if explain {
        limits.max_explain_batch.min(limits.max_batch)
    } else {
        limits.max_batch
    }
}

async fn predict(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.access.require_api(&request)?;
    let explain = explain_requested(&request)?;
    let model = state.model();
    let reader = body_reader(&model, &state);
    let Body::Object(record) = read_json(&request, payload, &state.settings.limits, reader).await?
    else {
        return Err(ApiError::validation(
            vec![json!("body")],
            "expected a JSON object keyed by column name",
            "model_attributes_type",
        ));
    };
    let record = unwrap_features(record, &model);
    match model.predict(&record, None) {
        Ok(mut scored) => {
            if explain {
                model.explain(&mut scored)?;
            }
            model.observe(&scored, &state.telemetry);
            Ok(HttpResponse::Ok().json(scored.response))
        }
        Err(errors) => {
            let mut listed = ErrorList::default();
            listed.extend(errors);
            let errors = listed.finish();
            model.count_refusals(&errors, &state.telemetry);
            Err(ApiError::Validation(errors))
        }
    }
}

async fn predict_batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_media_type(&request, is_json, JSON)?;
    if explain_requested(&request)? {
        return Err(ApiError::validation(
            vec![json!("query"), json!("explain")],
            format!(
                "explanations of several records are at `POST /explain/batch`, at most {} per request",
                state.settings.limits.max_explain_batch
            ),
            "type_error",
        ));
    }
    json_batch(request, payload, state, false).await
}

/// `POST /explain/batch`: `/predict/batch` with each record's explanation, under a smaller
/// limit on the number of records.
async fn explain_batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_media_type(&request, is_json, JSON)?;
    json_batch(request, payload, state, true).await
}

/// A JSON batch of records answered as a JSON array, with explanations when `explain`.
async fn json_batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    explain: bool,
) -> Result<HttpResponse, ApiError> {
    let encoded = run_batch(&request, payload, state, move |state, body| {
        batch_answer(state, body, explain)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(encoded))
}

/// `POST /score`: a CSV file in the body, scored exactly as `serve score` scores a file (the
/// same function), answered as CSV. The body is bounded by `--body-limit` and held only while
/// it is scored on a blocking thread, like a batch.
async fn score_upload(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_media_type(&request, |essence| essence == "text/csv", "`text/csv`")?;
    let scored = run_batch(&request, payload, state, |state, body| {
        let model = state.model();
        let mut out = Vec::new();
        let summary = crate::score::score(
            &model.artifact,
            std::path::Path::new("upload"),
            body,
            std::path::Path::new("response"),
            &mut out,
            &crate::score::ScoreOptions::default(),
        )
        .map_err(|error| ApiError::validation(vec![json!("body")], error.to_string(), "csv_row"))?;
        state
            .telemetry
            .record_batch(usize::try_from(summary.n_rows).unwrap_or(usize::MAX));
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"scores.csv\"",
        ))
        .body(scored))
}

/// `POST /evaluate`: a labelled CSV file scored like `/score`, answered with the figures,
/// intervals, curves and confusion matrix (JSON), or as a page section for a client that asks
/// for HTML (the page's upload).
async fn evaluate_upload(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_media_type(&request, |essence| essence == "text/csv", "`text/csv`")?;
    let options = evaluate_options(&request)?;
    let html = accepts_html(&request);
    let file_name = file_name(&request);
    let answer = run_batch(&request, payload, state, move |state, body| {
        let model = state.model();
        let evaluation = crate::evaluate::evaluate(
            &model.artifact,
            std::path::Path::new(&file_name),
            body,
            options,
        )
        .map_err(|error| ApiError::validation(vec![json!("body")], error.to_string(), "csv_row"))?;
        state.telemetry.record_batch(evaluation.n_records);
        Ok(if html {
            crate::card::evaluation_section(&model.artifact, &file_name, &evaluation)
        } else {
            serde_json::to_string(&crate::evaluate::EvaluationResponse::new(
                &model.artifact,
                &model.model_version,
                &evaluation,
            ))
            .map_err(|error| ApiError::Payload(error.to_string()))?
        })
    })
    .await?;
    let mut response = HttpResponse::Ok()
        .content_type(if html {
            "text/html; charset=utf-8"
        } else {
            "application/json"
        })
        .body(answer);
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept"));
    Ok(response)
}

/// The upload's file name, from the `X-File-Name` header the page sends (only letters,
/// digits and `._- ` kept, at most 100 characters), or `upload`.
fn file_name(request: &HttpRequest) -> String {
    let name: String = request
        .headers()
        .get("x-file-name")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._- ".contains(*c))
        .take(100)
        .collect();
    if name.trim().is_empty() {
        "upload".into()
    } else {
        name.trim().to_owned()
    }
}

/// `resamples` and `seed` from the query (defaults: as `train evaluate`).
fn evaluate_options(request: &HttpRequest) -> Result<crate::evaluate::EvaluateOptions, ApiError> {
    use crate::evaluate::{EvaluateOptions, MAX_RESAMPLES};
    let pairs = web::Query::<Vec<(String, String)>>::from_query(request.query_string())
        .map_err(|error| ApiError::BadRequest(format!("malformed query string: {error}")))?;
    let mut options = EvaluateOptions::default();
    for (name, value) in pairs.iter() {
        let invalid = |expected: String| {
            ApiError::validation(
                vec![json!("query"), json!(name)],
                format!("expected {expected}, found `{value}`"),
                "type_error",
            )
        };
        match name.as_str() {
            "resamples" => {
                options.resamples = value
                    .parse()
                    .ok()
                    .filter(|resamples| *resamples <= MAX_RESAMPLES)
                    .ok_or_else(|| invalid(format!("a whole number from 0 to {MAX_RESAMPLES}")))?;
            }
            "seed" => {
                options.seed = value
                    .parse()
                    .map_err(|_| invalid("a whole number from 0 to 2^64 - 1".into()))?;
            }
            _ => {}
        }
    }
    Ok(options)
}

/// Runs a batch-like request: the API token, a place in the bounded batch queue (taken
/// before the body is read, so a batch beyond it costs neither memory nor parsing), the body,
/// then `work` on a blocking thread, so large batches cannot starve the async workers that
/// answer `/health` and single predictions.
pub(crate) async fn run_batch<T, F>(
    request: &HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &[u8]) -> Result<T, ApiError> + Send + 'static,
{
    state.access.require_api(request)?;
    let Some(slot) = BatchSlot::take(&state) else {
        return Err(ApiError::Busy { retry_after: 1 });
    };
    let body = receive_body(request, payload, &state.settings.limits).await?;
    let state = state.into_inner();
    web::block(move || {
        let _slot = slot;
        work(&state, &body)
    })
    .await
    .map_err(|error| ApiError::Payload(error.to_string()))?
}

/// Whether the query asks for explanations: `explain=true` (or `1`); absent means no.
fn explain_requested(request: &HttpRequest) -> Result<bool, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(request.query_string())
        .map_err(|error| ApiError::BadRequest(format!("malformed query string: {error}")))?;
    let mut explain = false;
    for (name, value) in pairs.iter().filter(|(name, _)| name == "explain") {
        explain = match value.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(ApiError::validation(
                    vec![json!("query"), json!(name)],
                    format!("expected `true` or `false`, found `{other}`"),
                    "type_error",
                ));
            }
        };
    }
    Ok(explain)
}

/// Parses, validates and predicts a batch body, records it, and encodes the answer (with
/// each record's explanation when `explain`).
fn batch_answer(state: &AppState, body: &[u8], explain: bool) -> Result<Vec<u8>, ApiError> {
    let model = state.model();
    let reader = BodyReader {
        max_items: batch_limit(state, explain),
        ..body_reader(&model, state)
    };
    let Body::Array(items) = parse_json(reader, body)? else {
        return Err(ApiError::validation(
            vec![json!("body")],
            "expected a JSON array of records",
            "list_type",
        ));
    };
    let responses = answer_items(state, &model, &items, explain)?;
    serde_json::to_vec(&responses).map_err(|error| ApiError::Payload(error.to_string()))
}

/// Predicts every item (all or nothing), records the predictions in metrics and the drift
/// window, and returns the answers: the one path behind every batch-shaped protocol.
pub(crate) fn answer_items(
    state: &AppState,
    model: &ServedModel,
    items: &[Item],
    explain: bool,
) -> Result<Vec<crate::api::PredictionResponse>, ApiError> {
    // `/predict/batch` stops parsing at the limit; other protocols' bodies are checked here.
    let max_batch = batch_limit(state, explain);
    if items.len() > max_batch {
        return Err(ApiError::validation(
            vec![json!("body")],
            format!("{TOO_MANY_ITEMS}: at most {max_batch} per request"),
            "too_long",
        ));
    }
    let predictions = predict_items(model, items).inspect_err(|errors| {
        model.count_refusals(errors, &state.telemetry);
    });
    let mut predictions = predictions.map_err(ApiError::Validation)?;
    if explain {
        for scored in &mut predictions {
            model.explain(scored)?;
        }
    }
    state.telemetry.record_batch(predictions.len());
    for scored in &predictions {
        model.observe(scored, &state.telemetry);
    }
    Ok(predictions
        .into_iter()
        .map(|scored| scored.response)
        .collect())
}

/// Validates and predicts every item of a batch; all or nothing, with the problems of every
/// bad item (the first ones listed, the rest counted).
fn predict_items(
    model: &ServedModel,
    items: &[Item],
) -> Result<Vec<crate::Scored>, Vec<ValidationItem>> {
    let mut validated = Vec::with_capacity(items.len());
    let mut errors = ErrorList::default();
    for (index, item) in items.iter().enumerate() {
        match item {
            Item::Record(record) => match model.validate(record, Some(index)) {
                Ok(valid) if errors.is_empty() => validated.push(valid),
                Ok(_) => {}
                Err(items) => errors.extend(items),
            },
            Item::Other(_) => errors.push(ValidationItem {
                loc: vec![json!("body"), json!(index)],
                msg: "expected a JSON object keyed by column name".into(),
                kind: "model_attributes_type".into(),
            }),
        }
    }
    if errors.is_empty() {
        // Validated first, predicted together: tree ensembles walk a block of rows at once.
        Ok(model.predict_validated(validated))
    } else {
        Err(errors.finish())
    }
}

/// A place in the bounded queue of batches; given back when dropped.
struct BatchSlot(web::Data<AppState>);

impl BatchSlot {
    fn take(state: &web::Data<AppState>) -> Option<Self> {
        let queue = state.settings.limits.batch_queue;
        state
            .batches_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < queue).then_some(taken + 1)
            })
            .ok()
            .map(|_| BatchSlot(state.clone()))
    }
}

impl Drop for BatchSlot {
    fn drop(&mut self) {
        self.0.batches_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
