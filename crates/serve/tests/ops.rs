//! The operations files in `deploy/` against the server: every metric the Grafana dashboard
//! and the alert rules query is one the server exports after ordinary traffic.

use std::collections::BTreeSet;
use std::path::PathBuf;

use actix_web::middleware::from_fn;
use actix_web::{App, test as actix_test, web};
use serde_json::{Value, json};
use serve::{AppState, Settings};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Metric names (`vigil_*`, `process_*`) mentioned in a query or rule text.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        let at_word_start =
            idx == 0 || !(bytes[idx - 1].is_ascii_alphanumeric() || bytes[idx - 1] == b'_');
        if at_word_start
            && (text[idx..].starts_with("vigil_") || text[idx..].starts_with("process_"))
        {
            let end = text[idx..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(text.len(), |offset| idx + offset);
            names.insert(text[idx..end].to_owned());
            idx = end;
        } else {
            idx += 1;
        }
    }
    names
}

/// Series names in a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn dashboards_and_alerts_query_only_exported_metrics() {
    let state = web::Data::new(
        AppState::load(
            &root().join("artifacts/sepsis/model.bin"),
            Settings::default(),
        )
        .unwrap(),
    );
    let app = actix_test::init_service(
        App::new()
            .wrap(from_fn(serve::request_log))
            .configure(|cfg| serve::configure(cfg, state.clone())),
    )
    .await;
    // Ordinary traffic: a prediction with a value beyond the training range, a batch, a
    // refused record, a drift check.
    let patient = json!({"PRG": 6, "PL": 350, "PR": 72, "SK": 35, "TS": 0, "M11": 33.6, "BD2": 0.627, "Age": 50, "Insurance": 0});
    let mut refused = patient.clone();
    refused["PL"] = json!("high");
    for (path, body) in [
        ("/predict", patient.clone()),
        ("/predict/batch", Value::Array(vec![patient.clone(); 10])),
        ("/predict", refused),
    ] {
        let request = actix_test::TestRequest::post()
            .uri(path)
            .set_json(body)
            .to_request();
        actix_test::call_service(&app, request).await;
    }
    actix_test::call_service(
        &app,
        actix_test::TestRequest::get().uri("/drift").to_request(),
    )
    .await;
    let response = actix_test::call_service(
        &app,
        actix_test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    let metrics = exported(std::str::from_utf8(&actix_test::read_body(response).await).unwrap());

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/vigil.json")).unwrap(),
    )
    .unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let names = metric_names(target["expr"].as_str().unwrap());
            assert!(!names.is_empty(), "{}: {}", panel["title"], target["expr"]);
            queried.extend(names);
        }
    }
    let alerts = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).unwrap();
    queried.extend(metric_names(&alerts));
    let missing: Vec<&String> = queried
        .iter()
        .filter(|name| !metrics.contains(*name))
        .collect();
    assert!(missing.is_empty(), "queried but not exported: {missing:?}");
    assert!(queried.len() >= 15, "{queried:?}");
}

#[test]
fn metric_names_are_found_in_queries() {
    let names = metric_names(
        r#"sum(rate(vigil_http_requests_total{status=~"5.."}[5m])) / up + process_open_fds"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["process_open_fds", "vigil_http_requests_total"]
    );
}
