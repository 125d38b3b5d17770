//! Cost of explaining a prediction against a plain one, per model family: the model alone,
//! the model with its explanation, and the whole `/predict` handler with and without
//! `?explain=true`. Run with `cargo bench -p serve --bench explain`.
//!
//! The committed artifacts cover two families (gradient boosting, random forest);
//! `scripts/bench-explain.sh` trains one sepsis artifact per family and passes their paths in
//! `VIGIL_BENCH_ARTIFACTS` (separated by `:`), so every family is measured on the same data.

mod common;

use common::time_per_call;

use std::hint::black_box;
use std::path::PathBuf;

use serve::ServedModel;
use serve::body::Record;

fn artifacts() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("VIGIL_BENCH_ARTIFACTS") {
        return list
            .split(':')
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts");
    ["sepsis", "heart_failure", "wine_quality"]
        .iter()
        .map(|dataset| root.join(dataset).join("model.bin"))
        .collect()
}

fn main() {
    println!(
        "{:<40} {:>16} {:>12} {:>14} {:>12} {:>14} {:>8}",
        "artifact (model)",
        "method",
        "model µs",
        "explained µs",
        "handler µs",
        "+explain µs",
        "ratio"
    );
    for path in artifacts() {
        let state = ServedModel::load(&path, &serve::Settings::default()).unwrap();
        let artifact = &state.artifact;
        let example = serve::api::example_record(artifact);
        let record = Record::from_fields(example);
        let scored = state.predict(&record, None).unwrap();
        let class_idx = model::explain::target_class(&artifact.pipeline, scored.label_idx);
        let method = model::explain::Method::for_classifier(&artifact.pipeline.classifier);
        let model = time_per_call(|| {
            black_box(artifact.predict_raw(black_box(&scored.raw)));
        });
        let explained = time_per_call(|| {
            black_box(artifact.predict_raw(black_box(&scored.raw)));
            black_box(
                artifact
                    .explainer
                    .explain(&artifact.pipeline, black_box(&scored.raw), class_idx)
                    .unwrap(),
            );
        });
        let handler = time_per_call(|| {
            black_box(state.predict(black_box(&record), None).unwrap());
        });
        let handler_explained = time_per_call(|| {
            let mut scored = state.predict(black_box(&record), None).unwrap();
            state.explain(&mut scored).unwrap();
            black_box(scored);
        });
        let name = format!(
            "{} ({})",
            path.parent()
                .and_then(|parent| parent.file_name())
                .map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            artifact.model_name
        );
        println!(
            "{name:<40} {:>16} {model:>12.2} {explained:>14.2} {handler:>12.2} {handler_explained:>14.2} {:>7.0}×",
            format!("{method:?}"),
            handler_explained / handler
        );
    }
}
