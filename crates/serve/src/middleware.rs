//! Per-request bookkeeping: a request id, request metrics, one log line at debug level, and the
//! counts behind the periodic summary logged at info level.
//!
//! No log line ever carries a body, a feature value or a record id: they are patient data.
//! Paths are logged as the route pattern that matched, never as sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::metrics::{RequestRecord, method_label, route_label};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client's own request id, when it is short printable ASCII (so it cannot smuggle text
/// into logs); otherwise the server numbers the request.
fn request_id(request: &ServiceRequest, state: Option<&web::Data<AppState>>) -> String {
    let given = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
        });
    match given {
        Some(id) => id.to_owned(),
        None => state
            .map_or(0, |state| {
                state.next_request_id.fetch_add(1, Ordering::Relaxed)
            })
            .to_string(),
    }
}

/// Middleware: request id, metrics, a debug log line, and the summary counts.
pub async fn request_log(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let request_id = request_id(&request, state.as_ref());
    let method = method_label(request.method().as_str());
    let request_bytes = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let in_flight = state
        .as_ref()
        .map(|state| state.telemetry.request_started());
    let mut response = next.call(request).await?;
    drop(in_flight);
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    let route = route_label(response.request().match_name());
    let response_bytes = match response.response().body().size() {
        BodySize::Sized(bytes) => Some(bytes),
        BodySize::None | BodySize::Stream => None,
    };
    if let Some(state) = &state {
        state.telemetry.record_request(&RequestRecord {
            route,
            method,
            status,
            seconds,
            request_bytes,
            response_bytes,
        });
        state.log_summary.count(status, seconds);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::debug!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        latency_ms = (seconds * 1e6).round() / 1e3,
        "request"
    );
    Ok(response)
}

/// Counts since the last summary line.
#[derive(Debug, Default)]
pub struct LogSummary {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    total_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl LogSummary {
    /// Counts one finished request.
    pub fn count(&self, status: u16, seconds: f64) {
        let micros = (seconds * 1e6) as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => self.client_errors.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.server_errors.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Logs the counts since the last call at info level (nothing when idle) and resets them.
    pub fn flush(&self, period_seconds: u64) {
        let requests = self.requests.swap(0, Ordering::Relaxed);
        let client_errors = self.client_errors.swap(0, Ordering::Relaxed);
        let server_errors = self.server_errors.swap(0, Ordering::Relaxed);
        let total = self.total_micros.swap(0, Ordering::Relaxed);
        let max = self.max_micros.swap(0, Ordering::Relaxed);
        if requests == 0 {
            return;
        }
        tracing::info!(
            period_seconds,
            requests,
            client_errors,
            server_errors,
            mean_latency_ms = (total as f64 / requests as f64 / 1e3 * 1e3).round() / 1e3,
            max_latency_ms = max as f64 / 1e3,
            "requests in the last period"
        );
    }
}
