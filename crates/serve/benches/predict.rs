//! Cost of one prediction, split into its stages, for each committed artifact: JSON parsing,
//! validation, the model itself, and what monitoring adds per request (metrics, the drift
//! window, the log summary). The model is timed twice: on the documented example record again
//! and again (where the processor learns the trees' branches, as it does under a load test
//! repeating one body), and on 256 varied records drawn from the training distributions, as
//! real traffic is. Run with `cargo bench -p serve`; `VIGIL_BENCH_ARTIFACTS` adds
//! more artifacts (comma-separated paths, e.g. an ensemble from `train --selection
//! model:soft_voting`), labelled by their folder's name.

mod common;

use common::time_per_call;

use std::hint::black_box;
use std::path::PathBuf;

use serve::ServedModel;
use serve::body::{Body, Record};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts");
    println!(
        "{:<14} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "artifact",
        "parse µs",
        "validate µs",
        "model µs",
        "handler µs",
        "monitoring µs",
        "varied µs"
    );
    let mut artifacts: Vec<(String, PathBuf)> = ["sepsis", "heart_failure", "wine_quality"]
        .iter()
        .map(|dataset| (dataset.to_string(), root.join(dataset).join("model.bin")))
        .collect();
    if let Ok(extra) = std::env::var("VIGIL_BENCH_ARTIFACTS") {
        for path in extra.split(',').filter(|path| !path.is_empty()) {
            let path = PathBuf::from(path);
            let label = path
                .parent()
                .and_then(|folder| folder.file_name())
                .map_or_else(
                    || path.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                );
            artifacts.push((label, path));
        }
    }
    for (dataset, path) in &artifacts {
        let state = ServedModel::load(path, &serve::Settings::default()).unwrap();
        let example = serde_json::Value::Object(serve::api::example_record(&state.artifact));
        let body = example.to_string();
        let values: Vec<(String, model::Value)> = example
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::String(text) => model::Value::Text(text.clone()),
                    other => model::Value::Number(other.as_f64().unwrap()),
                };
                (name.clone(), value)
            })
            .collect();
        let raw = state
            .artifact
            .schema
            .encode_record(values.iter().map(|(name, value)| (name.as_str(), value)))
            .unwrap();
        let parse = time_per_call(|| {
            black_box(serde_json::from_str::<Body>(black_box(&body)).unwrap());
        });
        let model = time_per_call(|| {
            black_box(state.artifact.predict_raw(black_box(&raw)));
        });
        let varied = varied_records(&state.artifact.reference);
        let mut record_idx = 0;
        let varied_model = time_per_call(|| {
            record_idx = (record_idx + 1) % varied.len();
            black_box(state.artifact.predict_raw(black_box(&varied[record_idx])));
        });
        let record = Record::from_fields(example.as_object().unwrap().clone());
        let handler = time_per_call(|| {
            black_box(state.predict(black_box(&record), None).unwrap());
        });
        // Everything the server does per /predict request for monitoring, with metrics on.
        let telemetry = serve::metrics::Telemetry::new(true);
        let summary = serve::middleware::LogSummary::default();
        let scored = state.predict(&record, None).unwrap();
        let monitoring = time_per_call(|| {
            let in_flight = telemetry.request_started();
            state.observe(black_box(&scored), &telemetry);
            drop(in_flight);
            telemetry.record_request(&serve::metrics::RequestRecord {
                route: "/predict",
                method: "POST",
                status: 200,
                seconds: 0.0001,
                request_bytes: Some(120),
                response_bytes: Some(230),
            });
            summary.count(200, 0.0001);
        });
        telemetry.upkeep();
        println!(
            "{dataset:<14} {parse:>14.2} {:>14.2} {model:>14.2} {handler:>14.2} {monitoring:>14.2} {varied_model:>14.2}",
            handler - model
        );
        print_members(&state.artifact.pipeline, &raw, &varied);
    }
}

/// For an ensemble, the model time of each member on the same record, so that a slow ensemble
/// points at the member to speed up.
fn print_members(pipeline: &model::Pipeline, raw: &[f64], varied: &[Vec<f64>]) {
    let members = match &pipeline.classifier {
        model::Classifier::SoftVote(members)
        | model::Classifier::Stacked(model::classifier::Stacking { members, .. }) => members,
        _ => return,
    };
    let inputs_of = |raw: &[f64]| {
        let mut inputs = Vec::new();
        pipeline.preprocessor.transform_into(raw, &mut inputs);
        inputs
    };
    let inputs = inputs_of(raw);
    let varied_inputs: Vec<Vec<f64>> = varied.iter().map(|raw| inputs_of(raw)).collect();
    let mut probabilities = vec![0.0; pipeline.n_classes];
    for member in members {
        let mut time_on = |records: &[Vec<f64>]| {
            let mut record_idx = 0;
            time_per_call(|| {
                record_idx = (record_idx + 1) % records.len();
                member.predict_proba(
                    black_box(&records[record_idx]),
                    pipeline.n_classes,
                    pipeline.positive_class,
                    &mut probabilities,
                );
                black_box(&probabilities);
            })
        };
        let member_time = time_on(std::slice::from_ref(&inputs));
        let varied_time = time_on(&varied_inputs);
        println!(
            "  member {:<20} {member_time:>14.2} {:>44.2}",
            member.type_name(),
            varied_time
        );
    }
}

/// 256 raw records, each feature drawn from its own training distribution (the artifact's
/// drift reference: missing at the training rate, otherwise a quantile of the training values
/// or a category at its training share), from a fixed seed.
fn varied_records(reference: &model::reference::Reference) -> Vec<Vec<f64>> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..256)
        .map(|_| {
            reference
                .features
                .iter()
                .map(|feature| {
                    if uniform() < feature.missing_rate {
                        return f64::NAN;
                    }
                    match &feature.distribution {
                        model::reference::Distribution::Numeric(ecdf) => ecdf.quantile(uniform()),
                        model::reference::Distribution::Shares(shares) => {
                            let draw = uniform();
                            let mut cumulative = 0.0;
                            let code = shares.iter().position(|share| {
                                cumulative += share;
                                draw < cumulative
                            });
                            code.unwrap_or(shares.len().saturating_sub(1)) as f64
                        }
                        model::reference::Distribution::Empty => f64::NAN,
                    }
                })
                .collect()
        })
        .collect()
}
