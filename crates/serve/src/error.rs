//! HTTP errors: every failure a client can cause maps to a status and a JSON body.
//!
//! Validation errors keep FastAPI's shape, `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`,
//! so clients written against a FastAPI service keep working.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// One validation problem, located like FastAPI/pydantic locate theirs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationItem {
    /// Path to the bad value: `["body", "PL"]` or `["body", 3, "PL"]` in a batch.
    pub loc: Vec<serde_json::Value>,
    /// What is wrong, for people.
    pub msg: String,
    /// Machine-readable kind (`missing`, `type_error`, `out_of_range`, ...).
    #[serde(rename = "type")]
    pub kind: String,
}

/// Most validation items one response lists; the rest are counted in a final item, so a small
/// body of many bad records cannot make a large answer.
pub const MAX_LISTED_ERRORS: usize = 100;

/// Validation items as they are found: the first [`MAX_LISTED_ERRORS`] kept, the rest counted.
#[derive(Debug, Default)]
pub struct ErrorList {
    items: Vec<ValidationItem>,
    total: usize,
}

impl ErrorList {
    /// Notes one problem.
    pub fn push(&mut self, item: ValidationItem) {
        self.total += 1;
        if self.items.len() < MAX_LISTED_ERRORS {
            self.items.push(item);
        }
    }

    /// Notes several problems.
    pub fn extend(&mut self, items: impl IntoIterator<Item = ValidationItem>) {
        for item in items {
            self.push(item);
        }
    }

    /// Whether no problem was noted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The items to answer with: the first ones, then one `too_many_errors` item with the count
    /// of those left out.
    pub fn finish(mut self) -> Vec<ValidationItem> {
        let left_out = self.total - self.items.len();
        if left_out > 0 {
            self.items.push(ValidationItem {
                loc: vec![serde_json::json!("body")],
                msg: format!(
                    "{left_out} more problem(s) not listed; the first {} are shown",
                    self.items.len()
                ),
                kind: "too_many_errors".into(),
            });
        }
        self.items
    }
}

/// Errors returned by handlers.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON (400).
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    MalformedJson {
        /// 1-based line in the body.
        line: usize,
        /// 1-based column in the body.
        column: usize,
        /// The parser's message.
        reason: String,
    },
    /// The body is not declared as a type the endpoint takes (415).
    #[error("unsupported content type `{found}`: send {expected}")]
    UnsupportedMediaType {
        /// The Content-Type received (or `none`).
        found: String,
        /// What the endpoint takes, e.g. "`application/json`".
        expected: &'static str,
    },
    /// The body is larger than `--body-limit` (413).
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the connection (400).
    #[error("cannot read the request body: {0}")]
    Payload(String),
    /// A request a protocol cannot take, in that protocol's own terms (400).
    #[error("{0}")]
    BadRequest(String),
    /// The JSON does not match the schema (422).
    #[error("{} invalid field(s)", .0.len())]
    Validation(Vec<ValidationItem>),
    /// The body did not arrive within `--body-timeout` (408; the connection is closed).
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout {
        /// The timeout in seconds.
        seconds: u64,
    },
    /// Too many batches are waiting for a prediction thread (503, with `Retry-After`).
    #[error("the server is busy with other batches; retry after {retry_after} s")]
    Busy {
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// A required bearer token is absent or wrong (401, with `WWW-Authenticate`).
    #[error("{realm} need a token: {reason}")]
    Unauthorized {
        /// What the token protects.
        realm: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The `Host` header names a host this server does not answer to (400).
    #[error("host `{0}` is not served here (see `--allowed-hosts`)")]
    HostNotAllowed(String),
    /// A model reload failed; the previous model keeps serving (500).
    #[error("reload failed, the previous model keeps serving: {0}")]
    ReloadFailed(String),
    /// The served model cannot explain a record (500; an artifact inconsistency).
    #[error("cannot explain the prediction: {0}")]
    Unexplainable(#[from] model::ExplainError),
    /// No such path (404).
    #[error("not found: `{0}`")]
    NotFound(String),
    /// The path exists but not for this method (405).
    #[error("method `{method}` is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the path accepts, comma-separated.
        allow: String,
    },
}

impl ApiError {
    /// A body that is not JSON (400), located by the parser's line and column.
    pub fn malformed_json(error: &serde_json::Error) -> Self {
        ApiError::MalformedJson {
            line: error.line(),
            column: error.column(),
            reason: parser_reason(error),
        }
    }

    /// A single validation item at `loc` (for body-level problems).
    pub fn validation(loc: Vec<serde_json::Value>, msg: impl Into<String>, kind: &str) -> Self {
        ApiError::Validation(vec![ValidationItem {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }])
    }
}

/// The parser's message without its own location (which `MalformedJson` carries apart).
pub fn parser_reason(error: &serde_json::Error) -> String {
    error
        .to_string()
        .split(" at line")
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson { .. }
            | ApiError::Payload(_)
            | ApiError::BadRequest(_)
            | ApiError::HostNotAllowed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::ReloadFailed(_) | ApiError::Unexplainable(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::MethodNotAllowed { allow, .. } = self
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, value));
        }
        match self {
            // The rest of a late body may still be on its way: the connection cannot be reused.
            ApiError::BodyTimeout { .. } => {
                response.force_close();
            }
            ApiError::Busy { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unauthorized { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"vigil\""));
            }
            _ => {}
        }
        // `detail` is FastAPI's shape; `error` is the Open Inference Protocol's (its clients,
        // such as tritonclient, read that key), carried by every error alike.
        let body = match self {
            ApiError::Validation(items) => {
                serde_json::json!({ "detail": items, "error": self.to_string() })
            }
            other => serde_json::json!({ "detail": other.to_string(), "error": other.to_string() }),
        };
        response.json(body)
    }
}
