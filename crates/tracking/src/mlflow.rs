//! Sends a recorded run to an MLflow tracking server over its REST API (2.0): the experiment
//! named after the dataset (created if absent), the run with its parameters, per-fold metrics
//! (folds as steps) and tags, the run's files as artifacts, and the chosen model registered as
//! a new version carrying the alias `candidate`.
//!
//! Every call is retried a bounded number of times with exponential backoff when the server
//! cannot be reached or answers 429 or 5xx; any other answer is an error at once. The local
//! run store has already recorded the run by then, so a missing server never loses a result.

use std::time::Duration;

use serde_json::{Value, json};

use crate::RunDetail;

/// Parameters, metrics and tags per `runs/log-batch` call (MLflow accepts up to 100 params and
/// 1000 entities in all).
const BATCH_PARAMS: usize = 100;
const BATCH_METRICS: usize = 800;
/// MLflow's limit on a parameter value's length.
const PARAM_VALUE_LIMIT: usize = 6000;

/// Errors talking to MLflow.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// No usable answer after every attempt.
    #[error(
        "mlflow at `{base}` did not answer `{method} {path}` after {attempts} attempts: {reason}"
    )]
    Unreachable {
        /// The tracking URI.
        base: String,
        /// HTTP method.
        method: &'static str,
        /// API path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The server refused the request.
    #[error("mlflow at `{base}` refused `{method} {path}` with {status}: {body}")]
    Refused {
        /// The tracking URI.
        base: String,
        /// HTTP method.
        method: &'static str,
        /// API path.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's error text.
        body: String,
    },
    /// The answer lacked a field the API promises.
    #[error("mlflow at `{base}` answered `{path}` without `{field}`")]
    Unexpected {
        /// The tracking URI.
        base: String,
        /// API path.
        path: String,
        /// The missing field.
        field: &'static str,
    },
    /// The tracking URI is not plain HTTP.
    #[error("tracking URI `{0}` is not supported: give `http://HOST:PORT` (put TLS in a proxy)")]
    Scheme(String),
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts per call, at least 1.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// Time limit per request.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What MLflow assigned.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// The experiment's id.
    pub experiment_id: String,
    /// MLflow's run id.
    pub run_id: String,
    /// The registered model's name.
    pub model_name: String,
    /// The new model version.
    pub model_version: String,
}

/// A client for one tracking server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    retry: Retry,
}

enum Body<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a [u8]),
}

impl Client {
    /// A client for `tracking_uri` (`http://host:port`, optionally with a path prefix).
    pub fn new(tracking_uri: &str, retry: Retry) -> Result<Self, MlflowError> {
        let base = tracking_uri.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            return Err(MlflowError::Scheme(tracking_uri.to_owned()));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(retry.timeout))
            .build()
            .into();
        Ok(Client { base, agent, retry })
    }

    /// Calls the API, retrying unreachable servers and 429/5xx answers; returns the JSON
    /// answer (an empty object for an empty body).
    fn call(&self, method: &'static str, path: &str, body: Body<'_>) -> Result<Value, MlflowError> {
        let url = format!("{}{path}", self.base);
        let mut backoff = self.retry.first_backoff;
        let mut reason = String::new();
        let attempts = self.retry.attempts.max(1);
        for attempt in 1..=attempts {
            if attempt > 1 {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            let result = match (method, &body) {
                ("GET", _) => self.agent.get(&url).call(),
                (_, Body::Json(value)) => self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(value.to_string()),
                (_, Body::Bytes(bytes)) => self
                    .agent
                    .put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .send(*bytes),
                (_, Body::None) => self.agent.post(&url).send_empty(),
            };
            let mut response = match result {
                Ok(response) => response,
                Err(error) => {
                    reason = error.to_string();
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            if status == 429 || status >= 500 {
                reason = format!("status {status}: {}", shorten(&text));
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(MlflowError::Refused {
                    base: self.base.clone(),
                    method,
                    path: path.to_owned(),
                    status,
                    body: shorten(&text),
                });
            }
            return Ok(serde_json::from_str(&text).unwrap_or_else(|_| json!({})));
        }
        Err(MlflowError::Unreachable {
            base: self.base.clone(),
            method,
            path: path.to_owned(),
            attempts,
            reason,
        })
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, MlflowError> {
        self.call("POST", path, Body::Json(body))
    }

    fn field<'a>(
        &self,
        value: &'a Value,
        path: &str,
        pointer: &'static str,
    ) -> Result<&'a str, MlflowError> {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| MlflowError::Unexpected {
                base: self.base.clone(),
                path: path.to_owned(),
                field: pointer,
            })
    }

    /// The id of the experiment called `name`, created if absent.
    pub fn experiment(&self, name: &str) -> Result<String, MlflowError> {
        let path = format!(
            "/api/2.0/mlflow/experiments/get-by-name?experiment_name={}",
            percent_encode(name)
        );
        match self.call("GET", &path, Body::None) {
            Ok(found) => Ok(self
                .field(&found, &path, "/experiment/experiment_id")?
                .to_owned()),
            Err(MlflowError::Refused { status: 404, .. }) => {
                let path = "/api/2.0/mlflow/experiments/create";
                let created = self.post(path, &json!({"name": name}))?;
                Ok(self.field(&created, path, "/experiment_id")?.to_owned())
            }
            Err(error) => Err(error),
        }
    }

    /// Logs a finished local run, uploads `files` (relative path, contents) as its artifacts,
    /// and registers `model_bytes` as a new version of the model named after the dataset with
    /// the alias `candidate`.
    pub fn log_run(
        &self,
        run: &RunDetail,
        files: &[(String, Vec<u8>)],
        model_bytes: &[u8],
    ) -> Result<Logged, MlflowError> {
        let summary = &run.summary;
        let experiment_id = self.experiment(&format!("vigil-{}", summary.dataset))?;
        let path = "/api/2.0/mlflow/runs/create";
        let created = self.post(
            path,
            &json!({
                "experiment_id": experiment_id,
                "start_time": summary.started_at_ms,
                "run_name": format!("{}-{}", summary.dataset, &summary.run_id[..8.min(summary.run_id.len())]),
                "tags": tags(run),
            }),
        )?;
        let run_id = self.field(&created, path, "/run/info/run_id")?.to_owned();
        self.log_values(&run_id, run)?;
        for (relative, contents) in files {
            self.upload(&experiment_id, &run_id, relative, contents)?;
        }
        self.upload(&experiment_id, &run_id, "model/model.bin", model_bytes)?;
        self.post(
            "/api/2.0/mlflow/runs/update",
            &json!({"run_id": run_id, "status": "FINISHED", "end_time": summary.ended_at_ms.unwrap_or(summary.started_at_ms)}),
        )?;
        let model_name = format!("vigil-{}", summary.dataset);
        let model_version = self.register(&model_name, &run_id)?;
        Ok(Logged {
            experiment_id,
            run_id,
            model_name,
            model_version,
        })
    }

    /// Parameters (the chosen model's, plus the run's seed and data), then every model's
    /// per-fold metrics as steps and the chosen model's means as plain metrics.
    fn log_values(&self, run_id: &str, run: &RunDetail) -> Result<(), MlflowError> {
        let mut params = vec![
            ("seed".to_owned(), run.provenance.seed.to_string()),
            (
                "dataset_sha256".to_owned(),
                run.provenance.dataset_sha256.clone(),
            ),
            (
                "chosen_model".to_owned(),
                run.summary.chosen_model.clone().unwrap_or_default(),
            ),
        ];
        let timestamp = run.summary.ended_at_ms.unwrap_or(run.summary.started_at_ms);
        let mut metrics = Vec::new();
        for model in &run.models {
            for (name, value) in &model.params {
                params.push((format!("{}.{name}", model.model), value.clone()));
            }
            for (metric, values) in &model.fold_metrics {
                for (fold, value) in values.iter().enumerate() {
                    if value.is_finite() {
                        metrics.push(json!({"key": format!("{}.{metric}", model.model), "value": value, "timestamp": timestamp, "step": fold}));
                    }
                }
            }
        }
        if let Some(chosen) = run.chosen() {
            for (metric, _) in &chosen.fold_metrics {
                if let Some((mean, std)) = chosen.summary(metric) {
                    metrics.push(
                        json!({"key": metric, "value": mean, "timestamp": timestamp, "step": 0}),
                    );
                    metrics.push(json!({"key": format!("{metric}_std"), "value": std, "timestamp": timestamp, "step": 0}));
                }
            }
        }
        let params: Vec<Value> = params
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value.chars().take(PARAM_VALUE_LIMIT).collect::<String>()}))
            .collect();
        for chunk in params.chunks(BATCH_PARAMS) {
            self.post(
                "/api/2.0/mlflow/runs/log-batch",
                &json!({"run_id": run_id, "params": chunk}),
            )?;
        }
        for chunk in metrics.chunks(BATCH_METRICS) {
            self.post(
                "/api/2.0/mlflow/runs/log-batch",
                &json!({"run_id": run_id, "metrics": chunk}),
            )?;
        }
        Ok(())
    }

    /// Uploads one artifact through the server's artifact proxy.
    fn upload(
        &self,
        experiment_id: &str,
        run_id: &str,
        relative: &str,
        contents: &[u8],
    ) -> Result<(), MlflowError> {
        let encoded: Vec<String> = relative.split('/').map(percent_encode).collect();
        let path = format!(
            "/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{}",
            encoded.join("/")
        );
        self.call("PUT", &path, Body::Bytes(contents)).map(|_| ())
    }

    /// Registers the run's model as a new version and points `candidate` at it.
    fn register(&self, model_name: &str, run_id: &str) -> Result<String, MlflowError> {
        match self.post(
            "/api/2.0/mlflow/registered-models/create",
            &json!({"name": model_name}),
        ) {
            Ok(_) => {}
            Err(MlflowError::Refused { body, .. }) if body.contains("RESOURCE_ALREADY_EXISTS") => {}
            Err(error) => return Err(error),
        }
        let path = "/api/2.0/mlflow/model-versions/create";
        let created = self.post(
            path,
            &json!({"name": model_name, "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
        )?;
        let version = self
            .field(&created, path, "/model_version/version")?
            .to_owned();
        self.post(
            "/api/2.0/mlflow/registered-models/alias",
            &json!({"name": model_name, "alias": "candidate", "version": version}),
        )?;
        Ok(version)
    }
}

/// Tags MLflow shows for a run: its source, commit, and the local run id.
fn tags(run: &RunDetail) -> Vec<Value> {
    let mut tags = vec![
        json!({"key": "vigil.run_id", "value": run.summary.run_id}),
        json!({"key": "vigil.dataset", "value": run.summary.dataset}),
        json!({"key": "mlflow.source.name", "value": "vigil train"}),
    ];
    if let Some(commit) = &run.provenance.git_commit {
        tags.push(json!({"key": "mlflow.source.git.commit", "value": commit}));
    }
    if let Some(sha) = &run.summary.artifact_sha256 {
        tags.push(json!({"key": "vigil.artifact_sha256", "value": sha}));
    }
    tags
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= 300 {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(300).collect();
    short.push('…');
    short
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_server_fails_after_the_bounded_retries() {
        // A port that was just free: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        let retry = Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
        };
        let client = Client::new(&format!("http://127.0.0.1:{port}"), retry).unwrap();
        let error = client.experiment("vigil-sepsis").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("after 3 attempts"), "{message}");
        assert!(message.contains("get-by-name"), "{message}");
    }

    #[test]
    fn only_plain_http_uris_are_accepted_and_names_are_encoded() {
        assert!(matches!(
            Client::new("https://mlflow.example", Retry::default()),
            Err(MlflowError::Scheme(_))
        ));
        assert_eq!(
            percent_encode("plots/roc curve.svg"),
            "plots%2Froc%20curve.svg"
        );
    }
}
