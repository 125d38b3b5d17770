//! The vigil HTTP API: a schema-driven actix-web service over a model artifact.
//!
//! Nothing here knows a dataset: every field, range, example and label comes from the
//! artifact's schema. The binary only wires this library to a listener.

pub mod access;
pub mod api;
pub mod body;
pub mod card;
pub mod drift;
pub mod error;
pub mod evaluate;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod page;
pub mod predict;
pub mod protocols;
pub mod routes;
pub mod score;
pub mod state;

pub use middleware::request_log;
pub use predict::Scored;
pub use routes::configure;
pub use state::{AppState, Limits, ServedModel, Settings};

/// An error and its sources, joined as `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
