//! MLflow's scoring protocol and the Open Inference Protocol, in process: every request shape
//! gives the same predictions as `/predict/batch`, and bad records the same located errors.

use std::path::PathBuf;

use actix_web::http::{StatusCode, header};
use actix_web::{App, test, web};
use serde_json::{Value, json};
use serve::{AppState, Limits};

fn state() -> web::Data<AppState> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/sepsis/model.bin");
    web::Data::new(AppState::load(&path, Limits::default()).unwrap())
}

const NAMES: [&str; 9] = [
    "PRG",
    "PL",
    "PR",
    "SK",
    "TS",
    "M11",
    "BD2",
    "Age",
    "Insurance",
];
const ROWS: [[f64; 9]; 3] = [
    [6.0, 148.0, 72.0, 35.0, 0.0, 33.6, 0.627, 50.0, 0.0],
    [1.0, 85.0, 66.0, 29.0, 0.0, 26.6, 0.351, 31.0, 0.0],
    [8.0, 183.0, 64.0, 0.0, 0.0, 23.3, 0.672, 32.0, 1.0],
];

fn records() -> Vec<Value> {
    ROWS.iter()
        .map(|row| {
            Value::Object(
                NAMES
                    .iter()
                    .zip(row)
                    .map(|(name, value)| ((*name).to_owned(), json!(value)))
                    .collect(),
            )
        })
        .collect()
}

macro_rules! send {
    ($app:expr, $request:expr) => {{
        let response = test::call_service($app, $request.to_request()).await;
        let status = response.status();
        let body: Value = test::read_body_json(response).await;
        (status, body)
    }};
}

fn post(path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, content_type))
        .set_payload(body.into())
}

fn post_json(path: &str, body: &Value) -> test::TestRequest {
    post(path, "application/json", serde_json::to_vec(body).unwrap())
}

/// The positive-class probabilities of a list of prediction objects.
fn probabilities(predictions: &Value) -> Vec<f64> {
    predictions
        .as_array()
        .unwrap()
        .iter()
        .map(|prediction| prediction["probability"].as_f64().unwrap())
        .collect()
}

/// The data of an inference response's output tensor `name`, as numbers.
fn tensor_numbers(answer: &Value, name: &str) -> Vec<f64> {
    answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|output| output["name"] == name)
        .unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_f64().unwrap())
        .collect()
}

#[actix_web::test]
async fn mlflow_formats_predict_as_the_batch_route_does() {
    let app = test::init_service(App::new().configure(|cfg| serve::configure(cfg, state()))).await;
    let (status, batch) = send!(&app, post_json("/predict/batch", &json!(records())));
    assert_eq!(status, StatusCode::OK);
    let expected = probabilities(&batch);
    let columns: Vec<Value> = NAMES.iter().map(|name| json!(name)).collect();
    let bodies = [
        json!({"dataframe_split": {"columns": columns, "data": ROWS, "index": [0, 1, 2]}}),
        json!({"dataframe_records": records()}),
        json!({"instances": records(), "params": {}}),
        json!({"instances": ROWS}),
        json!({"inputs": records()}),
        json!({"inputs": NAMES.iter().enumerate().map(|(column, name)| ((*name).to_owned(), json!(ROWS.iter().map(|row| row[column]).collect::<Vec<_>>()))).collect::<serde_json::Map<_, _>>()}),
    ];
    for body in bodies {
        let (status, answer) = send!(&app, post_json("/invocations", &body));
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        assert_eq!(probabilities(&answer["predictions"]), expected, "{body}");
    }
    let csv = format!(
        "{}\n{}\n",
        NAMES.join(","),
        ROWS.iter()
            .map(|row| row.iter().map(f64::to_string).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (status, answer) = send!(&app, post("/invocations", "text/csv", csv));
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(probabilities(&answer["predictions"]), expected);

    // The same validation, located by record.
    let mut bad = records();
    bad[1]["PL"] = json!(-5);
    let (status, answer) = send!(
        &app,
        post_json("/invocations", &json!({"dataframe_records": bad}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["detail"][0]["loc"], json!(["body", 1, "PL"]));
    let (status, _) = send!(
        &app,
        post_json("/invocations", &json!({"instances": [], "inputs": []}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/ping").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn inference_protocol_tensors_predict_as_the_batch_route_does() {
    let app = test::init_service(App::new().configure(|cfg| serve::configure(cfg, state()))).await;
    let (_, batch) = send!(&app, post_json("/predict/batch", &json!(records())));
    let expected = probabilities(&batch);
    for path in [
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/sepsis",
        "/v2/models/sepsis/ready",
    ] {
        let (status, body) = send!(&app, test::TestRequest::get().uri(path));
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, metadata) = send!(&app, test::TestRequest::get().uri("/v2/models/sepsis"));
    assert_eq!(metadata["inputs"].as_array().unwrap().len(), 9);
    let version = metadata["versions"][0].as_str().unwrap().to_owned();

    let per_feature: Vec<Value> = NAMES
        .iter()
        .enumerate()
        .map(|(column, name)| json!({"name": name, "shape": [3, 1], "datatype": "FP64", "data": ROWS.iter().map(|row| row[column]).collect::<Vec<_>>()}))
        .collect();
    let matrix = json!([{"name": "input-0", "shape": [3, 9], "datatype": "FP64", "data": ROWS}]);
    for (inputs, path) in [
        (json!(per_feature), "/v2/models/sepsis/infer".to_owned()),
        (
            matrix,
            format!("/v2/models/sepsis/versions/{version}/infer"),
        ),
    ] {
        let (status, answer) = send!(
            &app,
            post_json(&path, &json!({"id": "r-1", "inputs": inputs}))
        );
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["id"], "r-1");
        let outputs = answer["outputs"].as_array().unwrap();
        assert_eq!(tensor_numbers(&answer, "probability"), expected);
        let probabilities = outputs
            .iter()
            .find(|output| output["name"] == "probabilities")
            .unwrap();
        assert_eq!(probabilities["shape"], json!([3, 2]));
    }
    // Only the outputs asked for; unknown models and binary tensors are refused clearly.
    let (status, answer) = send!(
        &app,
        post_json(
            "/v2/models/sepsis/infer",
            &json!({"inputs": per_feature, "outputs": [{"name": "label"}]})
        )
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["outputs"].as_array().unwrap().len(), 1);
    let (status, _) = send!(
        &app,
        post_json("/v2/models/wine/infer", &json!({"inputs": per_feature}))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The binary tensor extension: a JSON header, then the matrix as little-endian f64.
    let header = serde_json::to_vec(&json!({"inputs": [{"name": "input-0", "shape": [3, 9], "datatype": "FP64", "parameters": {"binary_data_size": 3 * 9 * 8}}]})).unwrap();
    let mut body = header.clone();
    body.extend(ROWS.iter().flatten().flat_map(|value| value.to_le_bytes()));
    let binary = |body: Vec<u8>| {
        post("/v2/models/sepsis/infer", "application/octet-stream", body)
            .insert_header(("Inference-Header-Content-Length", header.len().to_string()))
    };
    let (status, answer) = send!(&app, binary(body.clone()));
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(tensor_numbers(&answer, "probability"), expected);
    body.truncate(body.len() - 3);
    let (status, answer) = send!(&app, binary(body));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("binary_data_size"),
        "{answer}"
    );
    // A bad value is the same located 422 as elsewhere.
    let mut bad = per_feature.clone();
    bad[1]["data"][2] = json!(-5);
    let (status, answer) = send!(
        &app,
        post_json("/v2/models/sepsis/infer", &json!({"inputs": bad}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["detail"][0]["loc"], json!(["body", 2, "PL"]));
}

#[actix_web::test]
async fn a_trailing_slash_answers_like_the_route_without_it() {
    let app = test::init_service(App::new().configure(|cfg| serve::configure(cfg, state()))).await;
    let (status, with_slash) = send!(&app, post_json("/predict/", &records()[0]));
    assert_eq!(status, StatusCode::OK);
    let (_, without) = send!(&app, post_json("/predict", &records()[0]));
    assert_eq!(with_slash, without);
}

#[actix_web::test]
async fn seed_clients_work_unchanged_through_aliases_and_the_features_wrapper() {
    let app = test::init_service(App::new().configure(|cfg| serve::configure(cfg, state()))).await;
    let (_, plain) = send!(&app, post_json("/predict", &records()[0]));
    let (status, wrapped) = send!(
        &app,
        post_json("/predict", &json!({"features": records()[0]}))
    );
    assert_eq!(status, StatusCode::OK, "{wrapped}");
    assert_eq!(wrapped, plain);

    let wine =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/wine_quality/model.bin");
    let wine_app = test::init_service(App::new().configure(|cfg| {
        serve::configure(
            cfg,
            web::Data::new(AppState::load(&wine, Limits::default()).unwrap()),
        );
    }))
    .await;
    let canonical = json!({"type": "red", "fixed acidity": 7.4, "volatile acidity": 0.7, "citric acid": 0.0,
        "residual sugar": 1.9, "chlorides": 0.076, "free sulfur dioxide": 11.0, "total sulfur dioxide": 34.0,
        "density": 0.9978, "pH": 3.51, "sulphates": 0.56, "alcohol": 9.4});
    let seed_004 = json!({"red_wine": 1, "fixed_acidity": 7.4, "volatile_acidity": 0.7, "citric_acid": 0.0,
        "residual_sugar": 1.9, "chlorides": 0.076, "free_sulfur_dioxide": 11.0, "total_sulfur_dioxide": 34.0,
        "density": 0.9978, "pH": 3.51, "sulphates": 0.56, "alcohol": 9.4});
    let (status, expected) = send!(&wine_app, post_json("/predict", &canonical));
    assert_eq!(status, StatusCode::OK, "{expected}");
    let (status, aliased) = send!(&wine_app, post_json("/predict", &seed_004));
    assert_eq!(status, StatusCode::OK, "{aliased}");
    assert_eq!(aliased, expected);
    // A code the alias does not know, and a feature given under both names, are refused.
    let mut unknown_code = seed_004.clone();
    unknown_code["red_wine"] = json!(2);
    let (status, answer) = send!(&wine_app, post_json("/predict", &unknown_code));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "red_wine"]));
    let mut both = canonical.clone();
    both["red_wine"] = json!(0);
    let (status, answer) = send!(&wine_app, post_json("/predict", &both));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["detail"][0]["type"], "duplicate_key", "{answer}");
    let card: Value = test::call_and_read_body_json(
        &wine_app,
        test::TestRequest::get().uri("/model").to_request(),
    )
    .await;
    assert_eq!(card["aliases"].as_array().unwrap().len(), 7);
}
