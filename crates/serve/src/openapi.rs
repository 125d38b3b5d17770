//! The OpenAPI 3.1 document, generated at start-up from the artifact's schema, so the documented
//! request body is exactly what `/predict` accepts.

use model::{Artifact, FeatureKind, FeatureSpec, Task};
use serde_json::{Map, Value, json};

use crate::api::{example_record, missing_rule};

fn feature_schema(artifact: &Artifact, feature_idx: usize, feature: &FeatureSpec) -> Value {
    let mut description = feature.description.trim().to_owned();
    if !description.is_empty() && !description.ends_with('.') {
        description.push('.');
    }
    if let Some(unit) = &feature.unit {
        description.push_str(&format!(" Unit: {unit}."));
    }
    if let Some((min, max)) = crate::api::published_range(feature.training_range) {
        description.push_str(&format!(" Training values lie within {min} to {max}."));
    }
    description.push_str(&format!(
        " Missing values: {}.",
        missing_rule(artifact, feature_idx)
    ));
    let mut measured = match feature.kind {
        FeatureKind::Numeric => json!({"type": "number"}),
        FeatureKind::Integer => json!({"type": "integer"}),
        FeatureKind::Binary => json!({"type": "integer", "enum": [0, 1]}),
        FeatureKind::Categorical => json!({"type": "string", "enum": feature.categories}),
    };
    if let (Some((min, max)), Value::Object(map)) = (feature.valid_range, &mut measured)
        && feature.kind != FeatureKind::Categorical
    {
        map.insert("minimum".into(), json!(min));
        map.insert("maximum".into(), json!(max));
    }
    let mut alternatives = vec![measured];
    // A configured zero means "not measured" and is accepted whatever the range says.
    if feature.zero_is_missing
        && feature
            .valid_range
            .is_some_and(|(min, max)| !(min <= 0.0 && 0.0 <= max))
    {
        alternatives.push(json!({"const": 0, "description": "not measured"}));
    }
    if feature.allow_missing {
        alternatives.push(json!({"type": "null", "description": "not measured"}));
    }
    let mut schema = if alternatives.len() == 1 {
        alternatives.pop().unwrap_or(Value::Null)
    } else {
        json!({"anyOf": alternatives})
    };
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), json!(description.trim()));
    }
    schema
}

fn record_schema(artifact: &Artifact) -> Value {
    let schema = &artifact.schema;
    let mut properties = Map::new();
    for (feature_idx, feature) in schema.features.iter().enumerate() {
        properties.insert(
            feature.name.clone(),
            feature_schema(artifact, feature_idx, feature),
        );
    }
    for id in &schema.id_columns {
        properties.insert(
            id.clone(),
            json!({"type": ["string", "integer", "null"], "description": "Record identifier: echoed in the response, never used as a feature."}),
        );
    }
    json!({
        "type": "object",
        "description": format!("One {} record keyed by column name. Every feature must be present; unknown fields are rejected.", schema.dataset),
        "properties": properties,
        "required": schema.features.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        "additionalProperties": false,
        "example": Value::Object(example_record(artifact)),
    })
}

fn prediction_schema(artifact: &Artifact) -> Value {
    let schema = &artifact.schema;
    let feature_names: Vec<&str> = schema
        .features
        .iter()
        .map(|feature| feature.name.as_str())
        .collect();
    let class_properties: Map<String, Value> = schema
        .classes
        .iter()
        .map(|class| {
            (
                class.clone(),
                json!({"type": "number", "minimum": 0, "maximum": 1}),
            )
        })
        .collect();
    let mut properties = json!({
        "id": {"type": "string", "description": "The record's id, when one was given."},
        "label": {"type": "string", "enum": schema.classes},
        "probability": {
            "type": "number", "minimum": 0, "maximum": 1,
            "description": match schema.task {
                Task::Binary => "Probability of the positive class; the label is positive when it is at least `threshold`.",
                Task::Multiclass => "Probability of the decided (most probable) class.",
            },
        },
        "probabilities": {"type": "object", "properties": class_properties, "required": schema.classes, "additionalProperties": false},
        "imputed": {
            "type": "array", "uniqueItems": true, "items": {"type": "string", "enum": feature_names},
            "description": "Features that were missing and filled with their training fill value: the prediction assumed a typical value for them.",
        },
        "out_of_training_range": {
            "type": "array", "uniqueItems": true, "items": {"type": "string", "enum": feature_names},
            "description": "Features whose values lie outside the range seen in training, where the model extrapolates.",
        },
        "low_information": {
            "type": "boolean",
            "description": format!("More than {:.0}% of the features were missing and imputed: the prediction says more about the training population than about this record.", artifact.purpose.low_information_share * 100.0),
        },
        "model": {"type": "string"},
        "model_version": {"type": "string"},
    });
    let mut required = vec![
        "label",
        "probability",
        "probabilities",
        "imputed",
        "out_of_training_range",
        "low_information",
        "model",
        "model_version",
    ];
    if schema.task == Task::Binary
        && let Value::Object(map) = &mut properties
    {
        map.insert("threshold".into(), json!({"type": "number", "minimum": 0, "maximum": 1, "description": "Decision threshold on the positive class."}));
        required.push("threshold");
    }
    if let Value::Object(map) = &mut properties {
        map.insert(
            "explanation".into(),
            json!({"$ref": "#/components/schemas/Explanation"}),
        );
    }
    if let (Some(sets), Value::Object(map)) = (&artifact.conformal, &mut properties) {
        map.insert("prediction_set".into(), json!({
            "type": "array", "uniqueItems": true, "items": {"type": "string", "enum": schema.classes},
            "description": format!("The classes that cannot be ruled out at {:.0}% coverage (class-conditional conformal prediction, calibrated on out-of-fold probabilities): one class is a confident answer, several mean uncertain, none means the record is unlike the training records of every class.", sets.coverage * 100.0),
        }));
        required.push("prediction_set");
    }
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The `explanation` object that `?explain=true` adds to a prediction.
fn explanation_schema(artifact: &Artifact) -> Value {
    let method = model::explain::Method::for_classifier(&artifact.pipeline.classifier);
    let feature_names: Vec<&str> = artifact
        .schema
        .features
        .iter()
        .map(|feature| feature.name.as_str())
        .collect();
    json!({
        "type": "object",
        "description": format!(
            "Present only with `?explain=true`. How much each feature moved this prediction away from the model's average: `base_value` plus every `contribution` equals `output_value`. This model's method: {}. Binary models explain the positive class, multiclass models the decided class.",
            method.describe()
        ),
        "required": ["method", "method_description", "scale", "class", "base_value", "output_value", "contributions"],
        "properties": {
            "method": {"enum": ["exact_linear", "tree_shap", "sampled_shapley"]},
            "method_description": {"type": "string"},
            "scale": {"enum": ["log_odds", "logit", "probability"], "description": "The unit of `base_value`, `output_value` and every contribution."},
            "class": {"type": "string", "enum": artifact.schema.classes},
            "base_value": {"type": "number"},
            "output_value": {"type": "number"},
            "contributions": {"type": "array", "description": "One entry per feature, largest magnitude first.", "items": {
                "type": "object",
                "required": ["feature", "value", "contribution"],
                "properties": {
                    "feature": {"type": "string", "enum": feature_names},
                    "value": {"description": "The value the model saw; `null` when missing and imputed."},
                    "contribution": {"type": "number"},
                    "standard_error": {"type": "number", "description": "Sampling standard error (sampled method only)."},
                },
            }},
            "note": {"type": "string"},
        },
    })
}

/// The `explain` query parameter of `/predict`.
fn explain_parameter() -> Value {
    json!({
        "name": "explain", "in": "query", "required": false,
        "schema": {"type": "boolean", "default": false},
        "description": "Add the record's per-feature contributions (`explanation`). Costs more than a plain prediction (`scripts/bench-explain.sh` measures it per family); several records are explained at `POST /explain/batch`.",
    })
}

fn error_responses(with_body: bool) -> Map<String, Value> {
    let mut responses = Map::new();
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let content = |name: &str| json!({"application/json": {"schema": reference(name)}});
    if with_body {
        responses.insert("400".into(), json!({"description": "Malformed JSON; `detail` says where it broke.", "content": content("Error")}));
        responses.insert("413".into(), json!({"description": "Body larger than the server's limit.", "content": content("Error")}));
        responses.insert("415".into(), json!({"description": "Content-Type is not `application/json`.", "content": content("Error")}));
        responses.insert("422".into(), json!({"description": "Invalid record(s): every bad field, located by `loc`.", "content": content("ValidationError")}));
    }
    responses.insert("405".into(), json!({"description": "Method not allowed; see the `Allow` header.", "content": content("Error")}));
    responses
}

/// Builds the OpenAPI 3.1 document.
pub fn document(artifact: &Artifact, model_version: &str, limits: &crate::Limits) -> Value {
    let max_batch = limits.max_batch;
    let max_explain_batch = limits.max_explain_batch.min(max_batch);
    let schema = &artifact.schema;
    let json_ok = |description: &str, schema_ref: Value| json!({"description": description, "content": {"application/json": {"schema": schema_ref}}});
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let get = |summary: &str, description: &str, ok: Value| {
        let mut responses = error_responses(false);
        responses.insert("200".into(), ok);
        json!({"get": {"summary": summary, "description": description, "responses": responses}})
    };
    let mut predict_responses = error_responses(true);
    predict_responses.insert(
        "200".into(),
        json_ok("The prediction.", reference("Prediction")),
    );
    let mut batch_responses = error_responses(true);
    batch_responses.insert(
        "200".into(),
        json_ok(
            "Predictions in the order of the records.",
            json!({"type": "array", "items": reference("Prediction")}),
        ),
    );
    let mut score_responses = error_responses(true);
    score_responses.insert(
        "200".into(),
        json!({"description": "The scores, one row per input row.", "content": {"text/csv": {"schema": {"type": "string"}}}}),
    );
    score_responses.insert(
        "415".into(),
        json!({"description": "Content-Type is not `text/csv`.", "content": {"application/json": {"schema": reference("Error")}}}),
    );
    let example = Value::Object(example_record(artifact));
    let free_object = json!({"type": "object"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("vigil: {} risk model", schema.dataset),
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Predictions from the `{}` model ({model_version}) trained on the `{}` dataset. Classes: {}. Every field, range and example below comes from the model artifact.",
                artifact.model_name, schema.dataset, schema.classes.join(", ")
            ),
        },
        "paths": {
            "/": get("Service information", "Name, version, dataset, model, classes, threshold, headline metrics and links.", json_ok("Service information.", free_object.clone())),
            "/health": get("Liveness", "The process is up.", json_ok("Alive.", json!({"type": "object", "properties": {"status": {"const": "ok"}}}))),
            "/ready": get("Readiness", "The model is loaded and answered a self-test prediction. After a reload (SIGHUP, `POST /admin/reload`, or the followed registry alias moving), `last_reload` says how it went; a failed reload leaves the previous model serving.", json_ok("Ready.", json!({"type": "object", "properties": {
                "status": {"const": "ready"},
                "model_version": {"type": "string"},
                "last_reload": {"type": "object", "properties": {
                    "succeeded": {"type": "boolean"},
                    "trigger": {"enum": ["admin", "signal", "alias"]},
                    "at_unix_seconds": {"type": "integer"},
                    "target_registry_version": {"type": ["integer", "null"]},
                    "error": {"type": ["string", "null"]},
                }},
            }}))),
            "/model": get("Model card", "Features with kinds, units, ranges and missing-value rules; classes; threshold and how it was chosen; cross-validated metrics and the leaderboard.", json_ok("The model card.", free_object.clone())),
            "/metrics": get("Prometheus metrics", "Requests, latencies, predictions, refused values, drift and process statistics in the Prometheus text format (0.0.4).", json!({"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}})),
            "/drift": get("Input drift", "The server's window of recent records compared with the training population: per feature a two-sample test, the population stability index and the missing rate, with a verdict; the same for the model's probability.", json_ok("The drift report.", json!({"type": "object", "required": ["n_records", "enough_records", "drifted_features", "features"], "properties": {"n_records": {"type": "integer"}, "enough_records": {"type": "boolean"}, "drifted_features": {"type": "array", "items": {"type": "string"}}, "features": {"type": "array"}}}))),
            "/predict": {"post": {
                "summary": "Predict one record",
                "parameters": [explain_parameter()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": reference("Record"), "example": example}}},
                "responses": predict_responses,
            }},
            "/predict/batch": {"post": {
                "summary": "Predict many records",
                "description": format!("Up to {max_batch} records. One bad record makes the whole request a 422; each error's `loc` carries the record's index."),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": reference("Record"), "maxItems": max_batch}}}},
                "responses": batch_responses.clone(),
            }},
            "/score": {"post": {
                "summary": "Score a CSV file",
                "description": "The body is a CSV file with a header naming the model's features (BOM, CRLF and CR-only line endings accepted); the answer is what `serve score` writes for it: the id (when the file has the id column), one probability per class, the label, and the imputed and out-of-training-range features (names separated by `;`). A bad row makes it a 422 naming its line and column. The body is bounded by the server's body limit.",
                "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
                "responses": score_responses.clone(),
            }},
            "/evaluate": evaluate_path(&schema.target, score_responses.clone()),
            "/explain/batch": {"post": {
                "summary": "Predict and explain many records",
                "description": format!("As `/predict/batch`, each answer with its `explanation`; up to {max_explain_batch} records, because an explanation costs up to thousands of predictions."),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": reference("Record"), "maxItems": max_explain_batch}}}},
                "responses": batch_responses,
            }},
        },
        "components": {"schemas": {
            "Record": record_schema(artifact),
            "Prediction": prediction_schema(artifact),
            "Explanation": explanation_schema(artifact),
            "Error": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
            "ValidationError": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "array", "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            }}}},
        }},
    })
}

/// `POST /evaluate`: a labelled CSV file in, figures with intervals out (JSON), or a page
/// section (HTML) for a client that asks for it.
fn evaluate_path(target: &str, mut responses: Map<String, Value>) -> Value {
    use crate::evaluate::{DEFAULT_RESAMPLES, MAX_RESAMPLES};
    let number = json!({"type": ["number", "null"]});
    let pairs = json!({"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}});
    let evaluation = json!({"type": "object", "required": ["n_records", "figures", "confusion", "classes"], "properties": {
        "dataset": {"type": "string"},
        "model": {"type": "string"},
        "model_version": {"type": "string"},
        "n_records": {"type": "integer"},
        "class_counts": {"type": "array", "items": {"type": "object", "properties": {"class": {"type": "string"}, "n": {"type": "integer"}}}},
        "threshold": number,
        "decision_rule": {"type": "string"},
        "resamples": {"type": "integer"},
        "seed": {"type": "integer"},
        "figures": {"type": "array", "items": {"type": "object", "required": ["name", "value", "lower", "upper"], "properties": {
            "name": {"type": "string"}, "value": number, "lower": number, "upper": number,
        }}},
        "confusion": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "classes": {"type": "array", "items": {"type": "string"}},
        "roc": pairs,
        "operating_point": {"type": ["array", "null"], "items": {"type": "number"}},
        "precision_recall": pairs,
        "calibration": pairs,
    }});
    responses.insert(
        "200".into(),
        json!({"description": "The evaluation: JSON, or a page section when the client asks for `text/html`.", "content": {
            "application/json": {"schema": evaluation},
            "text/html": {"schema": {"type": "string"}},
        }}),
    );
    json!({"post": {
        "summary": "Evaluate the model on a labelled CSV file",
        "description": format!("As `/score`, with the target column `{target}` holding each record's true class. The answer gives every figure of the task with a 95% bootstrap interval (the same function, seed and resamples give the same figures as `train evaluate`), the confusion matrix at the served decision rule and, for a binary model, the ROC, precision-recall and calibration curves. The bootstrap's cost grows with records × resamples. A missing or unknown label is a 422 naming its line."),
        "parameters": [
            {"name": "resamples", "in": "query", "required": false, "description": "Bootstrap resamples behind the intervals.", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_RESAMPLES, "default": DEFAULT_RESAMPLES}},
            {"name": "seed", "in": "query", "required": false, "description": "Seed of the resampling.", "schema": {"type": "integer", "minimum": 0, "default": model::evaluation::DEFAULT_SEED}},
        ],
        "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "responses": responses,
    }})
}
