//! Report building blocks with no dependencies: SVG charts and HTML text escaping.
//!
//! The EDA report, the training reports and the server's web page all render through this
//! crate, so a chart or an escaped string looks and behaves the same wherever it appears. It
//! links nothing, which keeps it usable from the lean server.

pub mod html;
pub mod plot;

pub use html::escape;
