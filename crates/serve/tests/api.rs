//! In-process tests of every endpoint and every error class, against the committed artifacts.

use std::path::PathBuf;

use actix_web::http::{StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{App, test, web};
use serde_json::{Value, json};
use serve::{AppState, Limits, ServedModel, Settings};

fn artifact_path(dataset: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../artifacts")
        .join(dataset)
        .join("model.bin")
}

fn state(dataset: &str, limits: Limits) -> web::Data<AppState> {
    web::Data::new(AppState::load(&artifact_path(dataset), limits).unwrap())
}

macro_rules! app {
    ($state:expr) => {{
        let state = $state;
        test::init_service(
            App::new()
                .wrap(from_fn(serve::request_log))
                .configure(|cfg| serve::configure(cfg, state.clone())),
        )
        .await
    }};
}

fn patient() -> Value {
    json!({"PRG": 6, "PL": 148, "PR": 72, "SK": 35, "TS": 0, "M11": 33.6, "BD2": 0.627, "Age": 50, "Insurance": 0})
}

/// Posts JSON text (which may repeat keys) and returns the status and the JSON body.
macro_rules! post_text {
    ($app:expr, $path:expr, $text:expr) => {{
        let request = test::TestRequest::post()
            .uri($path)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload($text)
            .to_request();
        let response = test::call_service($app, request).await;
        let status = response.status();
        let body: Value = test::read_body_json(response).await;
        (status, body)
    }};
}

/// Posts a JSON value and returns the status and the JSON body.
macro_rules! post_json {
    ($app:expr, $path:expr, $body:expr) => {{ post_text!($app, $path, serde_json::to_string($body).unwrap()) }};
}

#[actix_web::test]
async fn info_health_ready_model_and_metrics() {
    let app = app!(state("sepsis", Limits::default()));
    for (path, key) in [
        ("/", "links"),
        ("/health", "status"),
        ("/ready", "status"),
        ("/model", "features"),
        ("/openapi.json", "paths"),
    ] {
        let response =
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        let body: Value = test::read_body_json(response).await;
        assert!(body.get(key).is_some(), "{path} lacks `{key}`");
    }
    let card: Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/model").to_request())
            .await;
    let pl = card["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "PL")
        .unwrap();
    assert_eq!(pl["kind"], "integer");
    assert!(pl["missing_values"].as_str().unwrap().contains("`0`"));
    // The published training range lies strictly outside the observed one: the extremes are
    // single patients' values.
    let artifact = model::Artifact::load(&artifact_path("sepsis")).unwrap();
    let (min, max) = artifact.schema.features[1].training_range.unwrap();
    assert!(pl["training_range"]["min"].as_f64().unwrap() < min);
    assert!(pl["training_range"]["max"].as_f64().unwrap() > max);
    assert!(card["decision"]["threshold"].as_f64().is_some());
    assert_eq!(
        card["leaderboard"].as_array().unwrap().len(),
        10,
        "the eight families of a default run and the two ensembles of its best"
    );
    let info: Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(info["classes"], json!(["Negative", "Positive"]));
    assert!(info["metrics"]["roc_auc"].as_f64().unwrap() > 0.8);

    let _ = post_json!(&app, "/predict", &patient());
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        text.contains(
            "vigil_http_requests_total{route=\"/predict\",method=\"POST\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("vigil_predictions_total{label="), "{text}");
}

#[actix_web::test]
async fn predict_returns_label_probabilities_threshold_and_echoes_the_id() {
    let app = app!(state("sepsis", Limits::default()));
    let mut record = patient();
    record["ID"] = json!("ICU200010");
    let (status, body) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "ICU200010");
    let p = body["probability"].as_f64().unwrap();
    assert_eq!(p, body["probabilities"]["Positive"].as_f64().unwrap());
    assert!((p + body["probabilities"]["Negative"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    let threshold = body["threshold"].as_f64().unwrap();
    assert_eq!(
        body["label"],
        if p >= threshold {
            "Positive"
        } else {
            "Negative"
        }
    );
    assert!(
        body["model_version"]
            .as_str()
            .unwrap()
            .starts_with("random_forest@")
            || body["model_version"].is_string()
    );
    // A missing measurement may be null or, where configured, 0.
    record["SK"] = Value::Null;
    record["TS"] = json!(0);
    let (status, _) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn every_bad_field_is_reported_with_its_location() {
    let app = app!(state("sepsis", Limits::default()));
    let mut record = patient();
    record["PL"] = json!("high");
    record["PR"] = json!(1e6);
    record["Insurance"] = json!(3);
    record["PRG"] = json!(2.5);
    record["BD2"] = json!([1]);
    record["extra"] = json!(1);
    record.as_object_mut().unwrap().remove("Age");
    let (status, body) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut found: Vec<(String, String)> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            assert_eq!(item["loc"][0], "body");
            (
                item["loc"][1].as_str().unwrap().to_owned(),
                item["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let expected = [
        ("Age", "missing"),
        ("BD2", "type_error"),
        ("Insurance", "binary_value"),
        ("PL", "type_error"),
        ("PR", "out_of_range"),
        ("PRG", "int_type"),
        ("extra", "extra_forbidden"),
    ];
    assert_eq!(
        found,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    for body in [json!([1, 2]), json!("text"), json!(null)] {
        let (status, response) = post_json!(&app, "/predict", &body);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(response["detail"][0]["loc"], json!(["body"]));
    }
}

#[actix_web::test]
async fn null_and_json_types_follow_the_schema() {
    // A feature configured with `allow_missing = false` refuses null.
    let mut artifact = model::Artifact::load(&artifact_path("sepsis")).unwrap();
    artifact.schema.features[1].allow_missing = false;
    let app = app!(web::Data::new(AppState::new(
        ServedModel::new(artifact, "test".into(), &Settings::default()),
        Limits::default()
    )));
    let mut record = patient();
    record["PL"] = Value::Null;
    let (status, body) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "PL"]));
    assert_eq!(body["detail"][0]["type"], "null_not_allowed");
    let openapi: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    let pl = &openapi["components"]["schemas"]["Record"]["properties"]["PL"]["anyOf"];
    assert!(
        pl.as_array()
            .unwrap()
            .iter()
            .all(|alternative| alternative["type"] != "null"),
        "{pl}"
    );
    // JSON booleans and numeric strings are type errors, as the document's types say.
    let mut record = patient();
    record["Insurance"] = json!(true);
    record["Age"] = json!("50");
    let (status, body) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let kinds: Vec<&str> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["type_error", "type_error"]);
}

#[actix_web::test]
async fn a_prediction_says_what_it_assumed() {
    let app = app!(state("sepsis", Limits::default()));
    let (status, body) = post_json!(&app, "/predict", &patient());
    assert_eq!(status, StatusCode::OK);
    // TS = 0 means "not measured" in the sepsis data: filled, and said so.
    assert_eq!(body["imputed"], json!(["TS"]), "{body}");
    assert_eq!(body["out_of_training_range"], json!([]));
    let mut record = patient();
    record["SK"] = Value::Null;
    let artifact = model::Artifact::load(&artifact_path("sepsis")).unwrap();
    let (_, pl_max) = artifact.schema.features[1].training_range.unwrap();
    record["PL"] = json!(pl_max + 1.0);
    let (status, body) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imputed"], json!(["SK", "TS"]));
    assert_eq!(body["out_of_training_range"], json!(["PL"]));
    // Age was never missing in training, so a request may not leave it out by default.
    let mut record = patient();
    record["Age"] = Value::Null;
    let (status, body) = post_json!(&app, "/predict", &record);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "Age"]));
    assert_eq!(body["detail"][0]["type"], "null_not_allowed");
}

#[actix_web::test]
async fn transport_errors_have_their_own_statuses() {
    let app = app!(state(
        "sepsis",
        Limits {
            body_limit: 1000,
            max_batch: 3,
            ..Limits::default()
        }
    ));
    let malformed = test::TestRequest::post()
        .uri("/predict")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload("{\"PRG\": 6,\n \"PL\": }")
        .to_request();
    let response = test::call_service(&app, malformed).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = test::read_body_json(response).await;
    assert!(
        body["detail"].as_str().unwrap().contains("line 2, column"),
        "{body}"
    );

    let wrong_type = test::TestRequest::post()
        .uri("/predict")
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .set_payload(patient().to_string())
        .to_request();
    assert_eq!(
        test::call_service(&app, wrong_type).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let no_type = test::TestRequest::post()
        .uri("/predict")
        .set_payload(patient().to_string())
        .to_request();
    assert_eq!(
        test::call_service(&app, no_type).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let big = test::TestRequest::post()
        .uri("/predict")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(" ".repeat(2000))
        .to_request();
    assert_eq!(
        test::call_service(&app, big).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let (status, body) = post_json!(
        &app,
        "/predict/batch",
        &json!([patient(), patient(), patient(), patient()])
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "too_long");

    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/no/such/path").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = test::read_body_json(response).await;
    assert!(body["detail"].as_str().unwrap().contains("/no/such/path"));

    let response =
        test::call_service(&app, test::TestRequest::get().uri("/predict").to_request()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get(header::ALLOW).unwrap(), "POST");
    let response =
        test::call_service(&app, test::TestRequest::delete().uri("/model").to_request()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get(header::ALLOW).unwrap(), "GET, HEAD");
}

#[actix_web::test]
async fn batch_keeps_order_and_locates_bad_records_by_index() {
    let app = app!(state("sepsis", Limits::default()));
    let mut low = patient();
    low["PL"] = json!(80);
    low["ID"] = json!(7);
    let (status, body) = post_json!(&app, "/predict/batch", &json!([patient(), low]));
    assert_eq!(status, StatusCode::OK);
    let results = body.as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["id"], "7");
    let (_, single) = post_json!(&app, "/predict", &patient());
    assert_eq!(results[0], single);

    let mut bad = patient();
    bad["PL"] = json!(-5);
    let (status, body) = post_json!(&app, "/predict/batch", &json!([patient(), bad, "x"]));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", 1, "PL"]));
    assert_eq!(body["detail"][1]["loc"], json!(["body", 2]));
    // Ids are strings or integers (of any size, as JSON Schema counts integers).
    let big: Value = serde_json::from_str("15958819715736458493952").unwrap();
    let mut with_big_id = patient();
    with_big_id["ID"] = big;
    let mut with_fraction_id = patient();
    with_fraction_id["ID"] = json!(2.5);
    let (status, body) = post_json!(
        &app,
        "/predict/batch",
        &json!([with_big_id, with_fraction_id])
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", 1, "ID"]));
    let (status, body) = post_json!(&app, "/predict/batch", &json!([]));
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}

#[actix_web::test]
async fn a_long_batch_answers_each_record_as_a_single_prediction_does() {
    // Enough records for the block walk of the soft vote's forest and boosting members.
    for dataset in ["sepsis", "heart_failure", "wine_quality"] {
        let state = state(dataset, Limits::default());
        let example = Value::Object(serve::api::example_record(&state.model().artifact));
        let app = app!(state);
        let records: Vec<Value> = (0..70)
            .map(|idx| {
                let mut record = example.clone();
                // Vary the example's decimal fields by up to 1%, inside the accepted ranges.
                for (offset, value) in record.as_object_mut().unwrap().values_mut().enumerate() {
                    if let Some(number) = value.as_f64().filter(|_| value.is_f64()) {
                        let factor = 0.99 + ((idx * 7 + offset * 3) % 21) as f64 / 1000.0;
                        *value = json!(number * factor);
                    }
                }
                record
            })
            .collect();
        let (status, batch) = post_json!(&app, "/predict/batch", &json!(records));
        assert_eq!(status, StatusCode::OK, "{dataset}: {batch}");
        for (idx, record) in records.iter().enumerate() {
            let (status, single) = post_json!(&app, "/predict", record);
            assert_eq!(status, StatusCode::OK, "{dataset} record {idx}: {single}");
            assert_eq!(batch[idx], single, "{dataset} record {idx}");
        }
    }
}

#[actix_web::test]
async fn ids_are_echoed_as_sent_by_the_api_and_by_score_alike() {
    let app = app!(state("sepsis", Limits::default()));
    let patient_text = serde_json::to_string(&patient()).unwrap();
    let with_id = |id: &str| format!("{{\"ID\": {id}, {}", &patient_text[1..]);
    for id in ["123456789012345678901", "1e3", "-0", "\"ICU 7\""] {
        let (status, body) = post_text!(&app, "/predict", with_id(id));
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
        let expected = serde_json::from_str::<Value>(id)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_else(|| id.to_owned());
        assert_eq!(body["id"], json!(expected), "{id}");
    }
    let (status, body) = post_text!(
        &app,
        "/predict/batch",
        format!("[{}]", with_id("123456789012345678901"))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["id"], "123456789012345678901");

    let artifact = model::Artifact::load(&artifact_path("sepsis")).unwrap();
    let input = "ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\n\
                 123456789012345678901,6,148,72,35,0,33.6,0.627,50,0\n";
    let mut output = Vec::new();
    serve::score::score(
        &artifact,
        std::path::Path::new("in.csv"),
        input.as_bytes(),
        std::path::Path::new("out.csv"),
        &mut output,
        &serve::score::ScoreOptions::default(),
    )
    .unwrap();
    let output = String::from_utf8(output).unwrap();
    assert!(
        output
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("123456789012345678901,"),
        "{output}"
    );
}

#[actix_web::test]
async fn a_batch_is_refused_at_the_first_record_past_the_limit() {
    let app = app!(state(
        "sepsis",
        Limits {
            max_batch: 3,
            ..Limits::default()
        }
    ));
    // The parse stops at the fourth element, so what follows it (here, broken JSON) is never
    // read: the refusal is about the length.
    let (status, body) = post_text!(&app, "/predict/batch", "[0, 0, 0, 0, this is not JSON");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["type"], "too_long");
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("at most 3"),
        "{body}"
    );
}

#[actix_web::test]
async fn many_bad_records_make_a_short_answer() {
    let app = app!(state("sepsis", Limits::default()));
    let (status, body) = post_text!(
        &app,
        "/predict/batch",
        format!("[{}{{}}]", "{},".repeat(999))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = body["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 101);
    assert_eq!(detail[100]["type"], "too_many_errors");
    // 1,000 records of nine missing fields each: 9,000 problems, 100 listed.
    assert!(
        detail[100]["msg"]
            .as_str()
            .unwrap()
            .starts_with("8900 more problem(s)"),
        "{}",
        detail[100]
    );
    // The same cap holds within one record of many unknown keys.
    let keys: Vec<String> = (0..500).map(|idx| format!("\"x{idx}\": 0")).collect();
    let (status, body) = post_text!(&app, "/predict", format!("{{{}}}", keys.join(",")));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"].as_array().unwrap().len(), 101);
}

#[actix_web::test]
async fn a_full_batch_queue_answers_503_with_retry_after() {
    let app = app!(state(
        "sepsis",
        Limits {
            batch_queue: 0,
            ..Limits::default()
        }
    ));
    let request = test::TestRequest::post()
        .uri("/predict/batch")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(serde_json::to_string(&json!([patient()])).unwrap())
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    // Single predictions do not queue.
    let (status, _) = post_json!(&app, "/predict", &patient());
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn multiclass_artifact_serves_without_code_changes() {
    let app = app!(state("wine_quality", Limits::default()));
    let openapi: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    let example = openapi["components"]["schemas"]["Record"]["example"].clone();
    assert_eq!(example["type"], "white", "most frequent category");
    let (status, body) = post_json!(&app, "/predict", &example);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("threshold").is_none());
    let label = body["label"].as_str().unwrap();
    let top = body["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(body["probability"].as_f64().unwrap(), top);
    assert_eq!(body["probabilities"][label].as_f64().unwrap(), top);
    let mut unknown = example.clone();
    unknown["type"] = json!("rosé");
    let (status, body) = post_json!(&app, "/predict", &unknown);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("`red`, `white`"),
        "{body}"
    );
}

#[actix_web::test]
async fn docs_and_web_page_are_served_from_the_binary() {
    let app = app!(state("sepsis", Limits::default()));
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/docs").to_request()).await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    for path in [
        "/docs/",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
    ] {
        let response =
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let bytes = test::read_body(response).await;
        assert!(bytes.len() > 100, "{path}");
        if path.ends_with("initializer.js") {
            assert!(String::from_utf8_lossy(&bytes).contains("/openapi.json"));
        }
    }
    let response = test::call_service(&app, test::TestRequest::get().uri("/ui").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    for field in ["PRG", "PL", "M11", "Insurance"] {
        assert!(page.contains(&format!("name=\"{field}\"")), "{field}");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );
}

#[actix_web::test]
async fn openapi_document_describes_what_the_server_accepts() {
    let app = app!(state("sepsis", Limits::default()));
    let document: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    assert_eq!(document["openapi"], "3.1.0");
    let record = &document["components"]["schemas"]["Record"];
    assert_eq!(record["additionalProperties"], false);
    let required: Vec<&str> = record["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "PRG",
            "PL",
            "PR",
            "SK",
            "TS",
            "M11",
            "BD2",
            "Age",
            "Insurance"
        ]
    );
    for code in ["200", "400", "405", "413", "415", "422"] {
        assert!(
            document["paths"]["/predict"]["post"]["responses"][code].is_object(),
            "{code}"
        );
    }
    // The documented example is accepted.
    let (status, _) = post_json!(&app, "/predict", &record["example"]);
    assert_eq!(status, StatusCode::OK);
    // Every documented bound is where the server's acceptance changes.
    for (name, schema) in record["properties"].as_object().unwrap() {
        let alternatives: Vec<Value> = schema["anyOf"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![schema.clone()]);
        let measured = &alternatives[0];
        let (Some(min), Some(max)) = (measured["minimum"].as_f64(), measured["maximum"].as_f64())
        else {
            continue;
        };
        for (value, expected) in [
            (min, StatusCode::OK),
            (max, StatusCode::OK),
            (max + 1.0, StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let mut body = record["example"].clone();
            body[name] = if measured["type"] == "integer" {
                json!(value as i64)
            } else {
                json!(value)
            };
            let (status, response) = post_json!(&app, "/predict", &body);
            assert_eq!(status, expected, "{name} = {value}: {response}");
        }
        let nullable = alternatives
            .iter()
            .any(|alternative| alternative["type"] == "null");
        let mut body = record["example"].clone();
        body[name] = Value::Null;
        let (status, _) = post_json!(&app, "/predict", &body);
        assert_eq!(status == StatusCode::OK, nullable, "{name}: null");
    }
}

#[actix_web::test]
async fn a_repeated_key_is_a_validation_error_naming_it() {
    let app = app!(state("sepsis", Limits::default()));
    let text = patient().to_string();
    let repeated = text.replacen("{", "{\"PL\": 0, ", 1);
    let (status, body) = post_text!(&app, "/predict", repeated.clone());
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "PL"]));
    assert_eq!(body["detail"][0]["type"], "duplicate_key");
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("`PL` appears more than once")
    );
    let (status, body) = post_text!(&app, "/predict/batch", format!("[{text}, {repeated}]"));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", 1, "PL"]));
    let (status, _) = post_text!(&app, "/predict", text);
    assert_eq!(status, StatusCode::OK, "the same record without the repeat");
}

#[actix_web::test]
async fn the_served_model_can_be_swapped_between_requests() {
    let state = state("sepsis", Limits::default());
    let app = app!(state.clone());
    let (status, body) = post_json!(&app, "/predict", &patient());
    assert_eq!(status, StatusCode::OK);
    assert!(body["probabilities"].get("Positive").is_some());
    let wine = ServedModel::load(&artifact_path("wine_quality"), &Settings::default()).unwrap();
    let example = Value::Object(serve::api::example_record(&wine.artifact));
    let replaced = state.replace_model(wine);
    assert_eq!(replaced.artifact.schema.dataset, "sepsis");
    // The next requests see the new model everywhere: predictions, card and documents.
    let (status, body) = post_json!(&app, "/predict", &example);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("threshold").is_none());
    let (status, _) = post_json!(&app, "/predict", &patient());
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let card: Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/model").to_request())
            .await;
    assert_eq!(card["dataset"], "wine_quality");
    // The replaced model lives on for whoever still holds a snapshot.
    assert!(replaced.is_ready());
}

#[actix_web::test]
async fn the_model_card_names_how_each_fill_value_was_computed() {
    let mut artifact = model::Artifact::load(&artifact_path("sepsis")).unwrap();
    let pl = artifact.schema.feature_index("PL").unwrap();
    let sk = artifact.schema.feature_index("SK").unwrap();
    let age = artifact.schema.feature_index("Age").unwrap();
    if let model::ColumnTransform::Numeric { fill_rule, .. } =
        &mut artifact.pipeline.preprocessor.columns[pl]
    {
        *fill_rule = model::FillRule::Mean;
    }
    let app = app!(web::Data::new(AppState::new(
        ServedModel::new(artifact, "test".into(), &Settings::default()),
        Limits::default()
    )));
    let card: Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/model").to_request())
            .await;
    let rule = |idx: usize| {
        card["features"][idx]["missing_values"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(rule(pl).contains("(training mean)"), "{}", rule(pl));
    assert!(rule(sk).contains("(training median)"), "{}", rule(sk));
    // Age was never missing in training: required.
    assert_eq!(rule(age), "required; may not be missing");
}

const API_TOKEN: &str = "api-token-0123456789";
const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// Sends `request` and returns the status, headers and JSON body (null when not JSON).
macro_rules! call {
    ($app:expr, $request:expr) => {{
        let response = test::call_service($app, $request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = test::read_body(response).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, body)
    }};
}

fn guarded_state(model_path: &std::path::Path) -> web::Data<AppState> {
    web::Data::new(
        AppState::load(model_path, Limits::default())
            .unwrap()
            .with_access(serve::access::Access {
                api_token: Some(serve::access::Token::new(API_TOKEN)),
                admin_token: Some(serve::access::Token::new(ADMIN_TOKEN)),
                allowed_hosts: Some(vec!["localhost".into(), "127.0.0.1".into()]),
                cors_origins: Some(vec!["https://front.example".into()]),
            }),
    )
}

fn post_predict(token: Option<&str>) -> test::TestRequest {
    let mut request = test::TestRequest::post()
        .uri("/predict")
        .insert_header((header::HOST, "127.0.0.1:8000"))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(serde_json::to_string(&patient()).unwrap());
    if let Some(token) = token {
        request = request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
    }
    request
}

#[actix_web::test]
async fn tokens_guard_predictions_and_administration() {
    let app = app!(guarded_state(&artifact_path("sepsis")));
    let (status, headers, body) = call!(&app, post_predict(None));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(headers.get(header::WWW_AUTHENTICATE).is_some());
    let (status, _, _) = call!(&app, post_predict(Some("api-token-wrong-guess")));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call!(&app, post_predict(Some(API_TOKEN)));
    assert_eq!(status, StatusCode::OK, "{body}");
    // The admin token is not an API token, nor the other way round.
    let (status, _, _) = call!(&app, post_predict(Some(ADMIN_TOKEN)));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let drift = || {
        test::TestRequest::get()
            .uri("/drift")
            .insert_header((header::HOST, "localhost"))
    };
    assert_eq!(call!(&app, drift()).0, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call!(
        &app,
        drift().insert_header((header::AUTHORIZATION, format!("bearer {API_TOKEN}")))
    );
    assert_eq!(status, StatusCode::OK);
    // Health, readiness and documentation stay open.
    for path in ["/health", "/ready", "/openapi.json"] {
        let request = test::TestRequest::get()
            .uri(path)
            .insert_header((header::HOST, "localhost"));
        assert_eq!(call!(&app, request).0, StatusCode::OK, "{path}");
    }
    let reload = |token: &str| {
        test::TestRequest::post()
            .uri("/admin/reload")
            .insert_header((header::HOST, "localhost"))
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
    };
    assert_eq!(call!(&app, reload(API_TOKEN)).0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call!(&app, reload(ADMIN_TOKEN));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["model_version"].as_str().unwrap().contains('@'));

    // Without an admin token, there is no administration at all.
    let open = app!(state("sepsis", Limits::default()));
    let (status, _, _) = call!(&open, test::TestRequest::post().uri("/admin/reload"));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_failed_reload_keeps_the_model_serving() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.bin");
    std::fs::copy(artifact_path("sepsis"), &model_path).unwrap();
    let state = guarded_state(&model_path);
    let app = app!(state.clone());
    let before = state.model().model_version.clone();
    std::fs::write(&model_path, b"not an artifact").unwrap();
    let request = test::TestRequest::post()
        .uri("/admin/reload")
        .insert_header((header::HOST, "localhost"))
        .insert_header((header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}")));
    let (status, _, body) = call!(&app, request);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("previous model keeps serving"),
        "{body}"
    );
    assert_eq!(state.model().model_version, before);
    let (status, _, _) = call!(&app, post_predict(Some(API_TOKEN)));
    assert_eq!(status, StatusCode::OK);
    let metrics = state.telemetry.render();
    assert!(
        metrics.contains("vigil_model_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn other_host_names_are_refused_and_pages_cannot_be_framed() {
    let app = app!(guarded_state(&artifact_path("sepsis")));
    let request = test::TestRequest::get()
        .uri("/health")
        .insert_header((header::HOST, "rebound.example:8000"));
    let (status, _, body) = call!(&app, request);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("rebound.example"));
    let request = test::TestRequest::get()
        .uri("/ui")
        .insert_header((header::HOST, "LOCALHOST:8000"));
    let (status, headers, _) = call!(&app, request);
    assert_eq!(status, StatusCode::OK);
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert_eq!(
        headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
        "nosniff"
    );
    for (path, kind) in [("/ui.js", "text/javascript"), ("/ui.css", "text/css")] {
        let request = test::TestRequest::get()
            .uri(path)
            .insert_header((header::HOST, "localhost"));
        let (status, headers, _) = call!(&app, request);
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers
                .get(header::CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
}

#[actix_web::test]
async fn cors_answers_only_the_configured_origins() {
    let app = app!(guarded_state(&artifact_path("sepsis")));
    let preflight = |origin: &str| {
        test::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/predict")
            .insert_header((header::HOST, "localhost"))
            .insert_header((header::ORIGIN, origin.to_owned()))
            .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "POST"))
    };
    let response = test::call_service(&app, preflight("https://front.example").to_request()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .unwrap(),
        "https://front.example"
    );
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let response =
        test::call_service(&app, preflight("https://elsewhere.example").to_request()).await;
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let (status, headers, _) = call!(
        &app,
        post_predict(Some(API_TOKEN)).insert_header((header::ORIGIN, "https://front.example"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "https://front.example"
    );
    // Off by default.
    let open = app!(state("sepsis", Limits::default()));
    let response = test::call_service(&open, preflight("https://front.example").to_request()).await;
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

/// The example record of the served artifact's OpenAPI document.
macro_rules! example {
    ($app:expr) => {{
        let openapi: Value = test::call_and_read_body_json(
            $app,
            test::TestRequest::get().uri("/openapi.json").to_request(),
        )
        .await;
        openapi["components"]["schemas"]["Record"]["example"].clone()
    }};
}

#[actix_web::test]
async fn explanations_add_up_to_the_output_on_every_committed_artifact() {
    for dataset in ["sepsis", "heart_failure", "wine_quality"] {
        let state = state(dataset, Limits::default());
        let schema = state.model().artifact.schema.clone();
        let positive = schema.positive_class;
        // A feature that may be missing, where the dataset has one (not heart failure).
        let optional = schema
            .features
            .iter()
            .find(|feature| feature.allow_missing)
            .map(|feature| feature.name.clone());
        // Trees are explained exactly; the committed ensembles by sampled Shapley values.
        let expected_method = match state.model().artifact.pipeline.classifier {
            model::Classifier::SoftVote(_) | model::Classifier::Stacked(_) => "sampled_shapley",
            _ => "tree_shap",
        };
        let app = app!(state);
        let plain = example!(&app);
        let mut records = vec![plain.clone()];
        if let Some(name) = &optional {
            let mut missing = plain.clone();
            missing[name] = Value::Null;
            records.push(missing);
        }
        for record in &records {
            let (status, body) = post_json!(&app, "/predict?explain=true", record);
            assert_eq!(status, StatusCode::OK, "{dataset}: {body}");
            let explanation = &body["explanation"];
            assert_eq!(explanation["method"], expected_method, "{dataset}");
            let contributions = explanation["contributions"].as_array().unwrap();
            assert_eq!(contributions.len(), record.as_object().unwrap().len());
            let total: f64 = explanation["base_value"].as_f64().unwrap()
                + contributions
                    .iter()
                    .map(|entry| entry["contribution"].as_f64().unwrap())
                    .sum::<f64>();
            let output = explanation["output_value"].as_f64().unwrap();
            assert!(
                (total - output).abs() < 1e-9,
                "{dataset}: {total} vs {output}"
            );
            // The explained output is the reported probability, or its log-odds.
            let reported = match explanation["scale"].as_str().unwrap() {
                "log_odds" => 1.0 / (1.0 + (-output).exp()),
                "probability" => output,
                other => panic!("{dataset}: unexpected scale {other}"),
            };
            let class = explanation["class"].as_str().unwrap();
            assert!((reported - body["probabilities"][class].as_f64().unwrap()).abs() < 1e-9);
            if positive.is_none() {
                assert_eq!(
                    class, body["label"],
                    "multiclass explains the decided class"
                );
            }
            let magnitudes: Vec<f64> = contributions
                .iter()
                .map(|entry| entry["contribution"].as_f64().unwrap().abs())
                .collect();
            assert!(
                magnitudes.windows(2).all(|pair| pair[0] >= pair[1]),
                "largest first"
            );
        }
        // A missing value is shown as missing; without the flag there is no explanation.
        if let (Some(name), Some(missing)) = (&optional, records.get(1)) {
            let (_, body) = post_json!(&app, "/predict?explain=true", missing);
            let entry = body["explanation"]["contributions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|entry| entry["feature"] == name.as_str())
                .unwrap()
                .clone();
            assert_eq!(entry["value"], Value::Null, "{dataset}: {entry}");
        }
        let (_, body) = post_json!(&app, "/predict", &plain);
        assert!(body.get("explanation").is_none());
        let (status, body) = post_json!(&app, "/explain/batch", &json!([plain, plain]));
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.as_array()
                .unwrap()
                .iter()
                .all(|item| item["explanation"].is_object())
        );
    }
}

#[actix_web::test]
async fn explained_batches_have_their_own_smaller_limit() {
    let app = app!(state(
        "sepsis",
        Limits {
            max_explain_batch: 2,
            ..Limits::default()
        }
    ));
    let three = json!([patient(), patient(), patient()]);
    let (status, body) = post_json!(&app, "/explain/batch", &three);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("at most 2"),
        "{body}"
    );
    let (status, _) = post_json!(&app, "/predict/batch", &three);
    assert_eq!(
        status,
        StatusCode::OK,
        "the plain batch keeps its own limit"
    );
    // Asking the plain batch for explanations points at the endpoint that gives them.
    let (status, body) = post_json!(&app, "/predict/batch?explain=true", &three);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("/explain/batch"),
        "{body}"
    );
    let openapi: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    let schema = &openapi["paths"]["/explain/batch"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(schema["maxItems"], 2);
}

#[actix_web::test]
async fn an_unreadable_explain_flag_is_refused_naming_the_parameter() {
    let app = app!(state("sepsis", Limits::default()));
    let (status, body) = post_json!(&app, "/predict?explain=maybe", &patient());
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "explain"]));
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("`maybe`"),
        "{body}"
    );
}

#[actix_web::test]
async fn the_model_card_is_html_for_a_browser_and_json_otherwise() {
    let app = app!(state("sepsis", Limits::default()));
    for (accept, html) in [
        ("text/html,application/xhtml+xml,*/*;q=0.8", true),
        ("application/json", false),
        ("*/*", false),
        ("text/html;q=0, application/json", false),
    ] {
        let response = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/model")
                .insert_header((header::ACCEPT, accept))
                .to_request(),
        )
        .await;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(response.headers().get(header::VARY).unwrap(), "Accept");
        assert_eq!(
            content_type.starts_with("text/html"),
            html,
            "{accept}: {content_type}"
        );
        let body = test::read_body(response).await;
        if html {
            let text = std::str::from_utf8(&body).unwrap();
            assert!(text.contains("<h1>Model card: sepsis</h1>"));
            assert!(text.contains("Intended use") && text.contains("Limitations"));
            assert!(
                text.matches("<svg").count() >= 5,
                "ROC, PR, calibration, confusion, importance"
            );
        } else {
            let card: Value = serde_json::from_slice(&body).unwrap();
            assert!(card["evidence"]["figures"].is_array());
        }
    }
}

#[actix_web::test]
async fn service_info_gives_figures_at_the_threshold_not_at_one_half() {
    let app = app!(state("sepsis", Limits::default()));
    let info: Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/").to_request()).await;
    let metrics = info["metrics"].as_object().unwrap();
    assert!(metrics.contains_key("roc_auc"));
    assert!(!metrics.contains_key("recall") && !metrics.contains_key("specificity"));
    let sensitivity = &info["at_threshold"]["sensitivity"];
    assert!(sensitivity["lower"].as_f64().unwrap() <= sensitivity["value"].as_f64().unwrap());
    // Every imputable field left out: the answer says it says little about the record.
    let mut sparse = patient();
    for name in ["PL", "PR", "SK", "TS", "M11"] {
        sparse[name] = json!(0);
    }
    let (status, body) = post_json!(&app, "/predict", &sparse);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["low_information"], true, "{body}");
    let (_, body) = post_json!(&app, "/predict", &patient());
    assert_eq!(body["low_information"], false);
}

#[actix_web::test]
async fn an_uploaded_csv_is_scored_exactly_as_serve_score_scores_it() {
    let state = state("sepsis", Limits::default());
    let artifact = state.model().artifact.clone();
    let app = app!(state);
    // CRLF line endings and a byte-order mark, as spreadsheets write them.
    let csv = "\u{feff}ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\r\nP1,6,148,72,35,0,33.6,0.627,50,0\r\nP2,1,85,66,29,0,26.6,0.351,31,1\r\n";
    let mut expected = Vec::new();
    serve::score::score(
        &artifact,
        std::path::Path::new("upload"),
        csv.as_bytes(),
        std::path::Path::new("response"),
        &mut expected,
        &serve::score::ScoreOptions::default(),
    )
    .unwrap();
    let request = test::TestRequest::post()
        .uri("/score")
        .insert_header((header::CONTENT_TYPE, "text/csv"))
        .set_payload(csv)
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = test::read_body(response).await;
    assert_eq!(body.as_ref(), expected.as_slice());
    assert!(std::str::from_utf8(&body).unwrap().starts_with("ID,"));
    // A bad row: 422 naming its line and column; another media type: 415 saying which.
    let bad = "PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\n6,148,72,35,0,33.6,0.627,50,0\n1,eighty,66,29,0,26.6,0.351,31,1\n";
    let (status, body) = {
        let request = test::TestRequest::post()
            .uri("/score")
            .insert_header((header::CONTENT_TYPE, "text/csv"))
            .set_payload(bad)
            .to_request();
        let response = test::call_service(&app, request).await;
        let status = response.status();
        let body: Value = test::read_body_json(response).await;
        (status, body)
    };
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["detail"][0]["msg"].as_str().unwrap();
    assert!(
        message.contains("line 3") && message.contains("`PL`"),
        "{message}"
    );
    let (status, body) = post_json!(&app, "/score", &json!([]));
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body["detail"].as_str().unwrap().contains("`text/csv`"),
        "{body}"
    );
}

/// Posts a CSV body to `path` with an `Accept` header; the status and the body as text.
macro_rules! post_csv {
    ($app:expr, $path:expr, $accept:expr, $csv:expr) => {{
        let request = test::TestRequest::post()
            .uri($path)
            .insert_header((header::CONTENT_TYPE, "text/csv"))
            .insert_header((header::ACCEPT, $accept))
            .set_payload($csv)
            .to_request();
        let response = test::call_service($app, request).await;
        let status = response.status();
        let body = test::read_body(response).await;
        (status, String::from_utf8(body.to_vec()).unwrap())
    }};
}

/// A labelled sepsis-shaped file: 80 generated patients whose label follows plasma glucose
/// (`PL`) with some exceptions, so the model is good but not perfect on it.
fn labelled_csv() -> (String, Vec<&'static str>) {
    let mut csv = String::from("ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance,Sepssis\r\n");
    let mut labels = Vec::new();
    for idx in 0..80u32 {
        let glucose = 80 + (idx * 37) % 110;
        let label = if (glucose > 135) != (idx % 9 == 0) {
            "Positive"
        } else {
            "Negative"
        };
        labels.push(label);
        csv.push_str(&format!(
            "ICU{idx},{},{glucose},{},{},{},{:.1},{:.3},{},{},{label}\r\n",
            idx % 8,
            60 + idx % 25,
            20 + idx % 15,
            if idx % 3 == 0 { 0 } else { 90 + idx % 80 },
            22.0 + f64::from(idx % 20),
            0.2 + f64::from(idx % 10) / 20.0,
            21 + idx % 50,
            idx % 2
        ));
    }
    (csv, labels)
}

#[actix_web::test]
async fn a_labelled_upload_is_evaluated_at_the_served_threshold() {
    let state = state("sepsis", Limits::default());
    let artifact = state.model().artifact.clone();
    let app = app!(state);
    let (csv, labels) = labelled_csv();
    let (status, body) = post_csv!(
        &app,
        "/evaluate?resamples=300&seed=7",
        "application/json",
        csv.clone()
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["n_records"], 80);
    assert_eq!(answer["resamples"], 300);
    assert_eq!(answer["seed"], 7);
    let n_positive = labels.iter().filter(|label| **label == "Positive").count();
    assert_eq!(answer["class_counts"][1]["n"], n_positive);
    // The file's records predicted one by one through `/predict`'s path: the confusion matrix
    // at the served threshold and the ROC-AUC must be theirs.
    let threshold = artifact.decision.threshold.unwrap();
    let (mut scores, mut positive) = (Vec::new(), Vec::new());
    let mut confusion = [[0u64; 2]; 2];
    for (line, label) in csv.lines().skip(1).zip(&labels) {
        let cells: Vec<&str> = line.split(',').collect();
        let record = json!({"PRG": cells[1].parse::<f64>().unwrap(), "PL": cells[2].parse::<f64>().unwrap(), "PR": cells[3].parse::<f64>().unwrap(), "SK": cells[4].parse::<f64>().unwrap(), "TS": cells[5].parse::<f64>().unwrap(), "M11": cells[6].parse::<f64>().unwrap(), "BD2": cells[7].parse::<f64>().unwrap(), "Age": cells[8].parse::<f64>().unwrap(), "Insurance": cells[9].parse::<f64>().unwrap()});
        let (status, prediction) = post_json!(&app, "/predict", &record);
        assert_eq!(status, StatusCode::OK, "{prediction}");
        let risk = prediction["probabilities"]["Positive"].as_f64().unwrap();
        let truth = usize::from(*label == "Positive");
        confusion[truth][usize::from(risk >= threshold)] += 1;
        scores.push(risk);
        positive.push(truth == 1);
    }
    assert_eq!(answer["confusion"], json!(confusion));
    let figure = |name: &str| {
        answer["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|figure| figure["name"] == name)
            .unwrap()
            .clone()
    };
    let auc = figure("roc_auc");
    let expected_auc = model::evaluation::roc_auc(&scores, &positive);
    assert!(
        (auc["value"].as_f64().unwrap() - expected_auc).abs() < 1e-12,
        "{auc}"
    );
    let sensitivity = figure("sensitivity");
    let value = sensitivity["value"].as_f64().unwrap();
    assert!(
        (value - confusion[1][1] as f64 / (confusion[1][0] + confusion[1][1]) as f64).abs() < 1e-12
    );
    assert!(
        sensitivity["lower"].as_f64().unwrap() < value
            && value < sensitivity["upper"].as_f64().unwrap(),
        "{sensitivity}"
    );
    assert_eq!(answer["roc"][0], json!([0.0, 0.0]));
    assert!(answer["operating_point"].is_array());
    // The same seed gives the same answer; the page's HTML holds the same figures and plots.
    let (_, again) = post_csv!(
        &app,
        "/evaluate?resamples=300&seed=7",
        "application/json",
        csv.clone()
    );
    assert_eq!(again, body);
    let (status, html) = post_csv!(&app, "/evaluate?resamples=300&seed=7", "text/html", csv);
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<section id=\"evaluation\""), "{html}");
    assert!(html.contains(&format!(
        "<tr data-figure=\"sensitivity\"><th scope=\"row\">sensitivity</th><td>{value:.3}</td>"
    )));
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "ROC, precision-recall, calibration, confusion"
    );
}

#[actix_web::test]
async fn an_evaluation_refuses_what_it_cannot_use_naming_line_and_column() {
    let app = app!(state("sepsis", Limits::default()));
    let header = "PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance";
    let row = "6,148,72,35,0,33.6,0.627,50,0";
    let cases = [
        (format!("{header}\n{row}\n"), "line 1: no `Sepssis` column"),
        (
            format!("{header},Sepssis\n{row},Positive\n{row},maybe\n"),
            "line 3, column `Sepssis`",
        ),
        (
            format!("{header},Sepssis\n{row},\n"),
            "the label is missing",
        ),
        (format!("{header},Sepssis\n"), "no records to evaluate"),
    ];
    for (csv, expected) in cases {
        let (status, body) = post_csv!(&app, "/evaluate", "application/json", csv);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains(expected), "{expected}: {body}");
        // Patient data stays out of messages unless the operator asks for it.
        assert!(!body.contains("maybe"), "{body}");
    }
    let csv = format!("{header},Sepssis\n{row},Positive\n");
    for (query, loc) in [("resamples=99999", "resamples"), ("seed=-1", "seed")] {
        let (status, body) = post_csv!(
            &app,
            &format!("/evaluate?{query}"),
            "application/json",
            csv.clone()
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", loc]), "{body}");
    }
}
