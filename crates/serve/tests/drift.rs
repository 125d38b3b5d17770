//! Drift monitoring against the committed sepsis artifact: records drawn from the training
//! reference itself show no drift; shifted copies flag the shifted feature; the window and the
//! metrics follow.

use std::path::PathBuf;

use actix_web::middleware::from_fn;
use actix_web::{App, test as actix_test, web};
use model::{Distribution, Reference};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Map, Value, json};
use serve::body::Record;
use serve::drift::{self, DriftSettings};
use serve::{AppState, ServedModel, Settings};

fn sepsis() -> ServedModel {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/sepsis/model.bin");
    ServedModel::load(&path, &Settings::default()).unwrap()
}

/// A record drawn feature by feature from the training reference (inverse-CDF sampling),
/// with missing values at the training rate; `shift` changes it afterwards.
fn draw(
    model: &ServedModel,
    rng: &mut Xoshiro256PlusPlus,
    shift: &dyn Fn(&str, f64) -> f64,
) -> Map<String, Value> {
    let reference: &Reference = &model.artifact.reference;
    let mut record = Map::new();
    for (spec, feature) in model
        .artifact
        .schema
        .features
        .iter()
        .zip(&reference.features)
    {
        let value = if rng.gen_bool(feature.missing_rate.clamp(0.0, 1.0)) {
            Value::Null
        } else {
            match &feature.distribution {
                Distribution::Numeric(ecdf) => {
                    let value = shift(&spec.name, ecdf.quantile(rng.r#gen::<f64>().max(1e-9)));
                    if spec.kind == model::FeatureKind::Integer {
                        json!(value.round() as i64)
                    } else {
                        json!(value)
                    }
                }
                Distribution::Shares(shares) => {
                    let u: f64 = rng.r#gen();
                    let mut cumulative = 0.0;
                    let code = shares
                        .iter()
                        .position(|share| {
                            cumulative += share;
                            u < cumulative
                        })
                        .unwrap_or(shares.len() - 1);
                    json!(code)
                }
                Distribution::Empty => Value::Null,
            }
        };
        record.insert(spec.name.clone(), value);
    }
    record
}

/// Scores `n` drawn records through the model into its window; returns the drift report.
fn scored_window(n: usize, seed: u64, shift: &dyn Fn(&str, f64) -> f64) -> drift::DriftReport {
    let model = sepsis();
    let telemetry = serve::metrics::Telemetry::new(false);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut scored = 0;
    for _ in 0..20 * n {
        let record = Record::from_fields(draw(&model, &mut rng, shift));
        // Shifted values may leave the accepted range; those records are refused, as a
        // server would refuse them.
        if let Ok(result) = model.predict(&record, None) {
            model.observe(&result, &telemetry);
            scored += 1;
            if scored == n {
                break;
            }
        }
    }
    assert_eq!(scored, n, "too many drawn records were refused");
    model.drift(&DriftSettings::default()).1
}

#[test]
fn records_like_the_training_population_show_no_drift() {
    for seed in [1, 2, 3] {
        let report = scored_window(400, seed, &|_, value| value);
        assert!(report.enough_records);
        assert!(
            report.drifted_features.is_empty(),
            "seed {seed}: {:?}",
            report.drifted_features
        );
    }
}

#[test]
fn shifted_features_and_only_they_are_flagged() {
    let report = scored_window(300, 4, &|name, value| {
        if name == "PL" { value + 40.0 } else { value }
    });
    assert_eq!(report.drifted_features, ["PL"]);
    let pl = &report.features[1];
    assert!(
        pl.reasons[0].contains("distribution shifted"),
        "{:?}",
        pl.reasons
    );
    // A feature that stops being measured drifts through its missing rate.
    let report = scored_window(300, 5, &|name, value| {
        if name == "SK" { 0.0 } else { value }
    });
    assert_eq!(report.drifted_features, ["SK"]);
    assert!(report.features[3].reasons[0].contains("missing rate 100%"));
}

#[test]
fn too_few_records_give_no_verdict() {
    let report = scored_window(3, 6, &|_, value| value * 1.5);
    assert!(!report.enough_records);
    assert!(report.drifted_features.is_empty());
}

#[actix_web::test]
async fn the_server_reports_drift_as_json_and_metrics() {
    let state = web::Data::new(AppState::new(sepsis(), Settings::default()));
    let app = actix_test::init_service(
        App::new()
            .wrap(from_fn(serve::request_log))
            .configure(|cfg| serve::configure(cfg, state.clone())),
    )
    .await;
    let model = state.model();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let records: Vec<Value> = (0..200)
        .map(|_| {
            Value::Object(draw(&model, &mut rng, &|name, value| {
                if name == "Age" { value + 25.0 } else { value }
            }))
        })
        .collect();
    let request = actix_test::TestRequest::post()
        .uri("/predict/batch")
        .set_json(Value::Array(records))
        .to_request();
    let response = actix_test::call_service(&app, request).await;
    assert_eq!(response.status(), 200);
    let report: Value = actix_test::call_and_read_body_json(
        &app,
        actix_test::TestRequest::get().uri("/drift").to_request(),
    )
    .await;
    assert_eq!(report["n_records"], 200);
    assert_eq!(report["drifted_features"], json!(["Age"]), "{report}");
    let response = actix_test::call_service(
        &app,
        actix_test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    let text = String::from_utf8(actix_test::read_body(response).await.to_vec()).unwrap();
    assert!(
        text.contains(r#"vigil_drift_detected{feature="Age"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"vigil_drift_detected{feature="PL"} 0"#),
        "{text}"
    );
    assert!(text.contains("vigil_drift_window_records 200"), "{text}");
    assert!(text.contains(r#"vigil_batch_records_count 1"#), "{text}");
}

#[test]
fn the_window_of_a_replaced_model_starts_empty() {
    let state = AppState::new(sepsis(), Settings::default());
    let model = state.model();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    for _ in 0..10 {
        let record = Record::from_fields(draw(&model, &mut rng, &|_, value| value));
        if let Ok(scored) = model.predict(&record, None) {
            model.observe(&scored, &state.telemetry);
        }
    }
    assert!(state.drift().n_records > 0);
    state.replace_model(sepsis());
    assert_eq!(state.drift().n_records, 0);
    let text = state.telemetry.render();
    assert!(
        text.contains(r#"vigil_model_reloads_total{result="success"} 1"#),
        "{text}"
    );
}
