//! Request counters and latency histograms in the Prometheus text exposition format.
//!
//! Labels are the matched route pattern (not the raw path) so that probing random URLs cannot
//! grow memory without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    predictions: BTreeMap<String, u64>,
}

/// Process-wide metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records one finished request.
    pub fn record_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let histogram = inner.latency.entry(route.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bucket, bound) in histogram.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// Counts predicted labels.
    pub fn record_predictions<'a>(&self, labels: impl IntoIterator<Item = &'a str>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for label in labels {
            *inner.predictions.entry(label.to_owned()).or_default() += 1;
        }
    }

    /// Renders everything, with `info` labels for the loaded model.
    pub fn render(&self, model: &str, model_version: &str, dataset: &str) -> String {
        let mut out = String::new();
        let escape = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let _ = writeln!(
            out,
            "# HELP vigil_model_info The loaded model.\n# TYPE vigil_model_info gauge"
        );
        let _ = writeln!(
            out,
            "vigil_model_info{{model=\"{}\",model_version=\"{}\",dataset=\"{}\"}} 1",
            escape(model),
            escape(model_version),
            escape(dataset)
        );
        let Ok(inner) = self.inner.lock() else {
            return out;
        };
        let _ = writeln!(
            out,
            "# HELP vigil_http_requests_total HTTP requests by route, method and status.\n# TYPE vigil_http_requests_total counter"
        );
        for ((route, method, status), count) in &inner.requests {
            let _ = writeln!(
                out,
                "vigil_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {count}",
                escape(route),
                escape(method)
            );
        }
        let _ = writeln!(
            out,
            "# HELP vigil_http_request_duration_seconds Request latency by route.\n# TYPE vigil_http_request_duration_seconds histogram"
        );
        for (route, histogram) in &inner.latency {
            let route = escape(route);
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "vigil_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "vigil_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "vigil_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "vigil_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP vigil_predictions_total Predicted labels.\n# TYPE vigil_predictions_total counter"
        );
        for (label, count) in &inner.predictions {
            let _ = writeln!(
                out,
                "vigil_predictions_total{{label=\"{}\"}} {count}",
                escape(label)
            );
        }
        out
    }
}
