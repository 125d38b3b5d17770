//! One record's way through the server: strict conversion of JSON values, validation against
//! the schema, prediction, and what the server remembers of it (metrics and the drift window).

use model::{FeatureKind, Value};
use serde_json::{Value as Json, json};

use crate::api::PredictionResponse;
use crate::body::Record;
use crate::error::ValidationItem;
use crate::metrics::Telemetry;
use crate::state::ServedModel;

/// A validated, predicted record: the JSON answer and what the model saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The answer.
    pub response: PredictionResponse,
    /// The raw row (schema order) the model was given.
    pub raw: Vec<f64>,
    /// The decided class.
    pub label_idx: usize,
}

/// Converts a JSON value into a model value, strictly: JSON types must match the feature kind,
/// as the OpenAPI document says (numbers for numeric features, strings for categories).
fn to_model_value(kind: Option<FeatureKind>, value: &Json) -> Value {
    match (kind, value) {
        (_, Json::Null) => Value::Missing,
        (Some(FeatureKind::Categorical), Json::String(text)) => Value::Text(text.clone()),
        (Some(_), Json::String(_)) => Value::Other("a string"),
        (_, Json::String(text)) => Value::Text(text.clone()),
        (_, Json::Number(number)) => number
            .as_f64()
            .map_or(Value::Other("a number out of range"), Value::Number),
        (_, Json::Bool(_)) => Value::Other("a boolean"),
        (_, Json::Array(_)) => Value::Other("an array"),
        (_, Json::Object(_)) => Value::Other("an object"),
    }
}

/// The value an alias stands for: the value itself, or the category its code means.
fn resolve_alias(alias: &model::InputAlias, value: &Json) -> Result<Json, ValidationItem> {
    if alias.values.is_empty() {
        return Ok(value.clone());
    }
    let text = value.to_string();
    let category = alias
        .values
        .iter()
        .find(|(sent, _)| *sent == text || matches!(value, Json::String(given) if given == sent));
    match category {
        Some((_, category)) => Ok(Json::String(category.clone())),
        None => Err(ValidationItem {
            loc: Vec::new(),
            msg: format!(
                "expected one of {} (standing for `{}`)",
                alias
                    .values
                    .iter()
                    .map(|(sent, category)| format!("{sent} for `{category}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                alias.feature
            ),
            kind: "enum".into(),
        }),
    }
}

/// The location of a field: `["body", index?, field]`.
fn location(index: Option<usize>, field: &str) -> Vec<Json> {
    let mut loc = vec![json!("body")];
    if let Some(index) = index {
        loc.push(json!(index));
    }
    loc.push(json!(field));
    loc
}

/// A record's id field: a string or an integral number, echoed as text.
fn parse_id(value: &Json) -> Result<Option<String>, ()> {
    match value {
        Json::String(text) => Ok(Some(text.clone())),
        Json::Number(number) if number.is_i64() || number.is_u64() => Ok(Some(number.to_string())),
        // JSON Schema calls any integral number an integer, however large.
        Json::Number(number) if number.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            Ok(number.as_f64().map(|f| format!("{f:.0}")))
        }
        Json::Null => Ok(None),
        _ => Err(()),
    }
}

impl ServedModel {
    /// Validates and predicts one record; errors are located under `["body", index?, field]`.
    pub fn predict(
        &self,
        record: &Record,
        index: Option<usize>,
    ) -> Result<Scored, Vec<ValidationItem>> {
        let (id, raw) = self.validate(record, index)?;
        let prediction = self.artifact.predict_raw(&raw);
        Ok(self.scored(id, raw, &prediction))
    }

    /// Predicts records already validated by [`ServedModel::validate`] (id and raw row each),
    /// all at once: exactly what [`ServedModel::predict`] gives for each, faster for tree
    /// ensembles (`Artifact::predict_rows`).
    pub fn predict_validated(&self, validated: Vec<(Option<String>, Vec<f64>)>) -> Vec<Scored> {
        let n_classes = self.artifact.schema.classes.len();
        let raws: Vec<f64> = validated
            .iter()
            .flat_map(|(_, raw)| raw.iter().copied())
            .collect();
        let mut probabilities = vec![0.0; validated.len() * n_classes];
        let mut labels = vec![0; validated.len()];
        self.artifact
            .predict_rows(&raws, &mut probabilities, &mut labels);
        validated
            .into_iter()
            .zip(probabilities.chunks(n_classes.max(1)).zip(labels))
            .map(|((id, raw), (row, label_idx))| {
                let prediction = model::Prediction {
                    label_idx,
                    probabilities: row.to_vec(),
                };
                self.scored(id, raw, &prediction)
            })
            .collect()
    }

    /// Validates one record: its id and raw row (schema order), or every problem found,
    /// located under `["body", index?, field]`.
    pub fn validate(
        &self,
        record: &Record,
        index: Option<usize>,
    ) -> Result<(Option<String>, Vec<f64>), Vec<ValidationItem>> {
        let schema = &self.artifact.schema;
        let mut errors: Vec<ValidationItem> = record
            .duplicates
            .iter()
            .map(|name| ValidationItem {
                loc: location(index, name),
                msg: format!("duplicate key: `{name}` appears more than once"),
                kind: "duplicate_key".into(),
            })
            .collect();
        let (id, values) = self.read_fields(record, index, &mut errors);
        match schema.encode_record(values.iter().map(|(name, value)| (*name, value))) {
            Ok(raw) if errors.is_empty() => Ok((id, raw)),
            Ok(_) => Err(errors),
            Err(field_errors) => {
                errors.extend(field_errors.into_iter().map(|error| ValidationItem {
                    loc: location(index, &error.field),
                    msg: error.problem.to_string(),
                    kind: error.problem.code().to_owned(),
                }));
                Err(errors)
            }
        }
    }

    /// The answer for a predicted record.
    fn scored(&self, id: Option<String>, raw: Vec<f64>, prediction: &model::Prediction) -> Scored {
        Scored {
            response: self.response(id, &raw, prediction),
            raw,
            label_idx: prediction.label_idx,
        }
    }

    /// A record's id and its feature values (aliases resolved to the features they stand
    /// for), noting problems with ids and aliases in `errors`.
    fn read_fields<'a>(
        &'a self,
        record: &'a Record,
        index: Option<usize>,
        errors: &mut Vec<ValidationItem>,
    ) -> (Option<String>, Vec<(&'a str, Value)>) {
        let schema = &self.artifact.schema;
        let mut id = None;
        let id_error = |name: &str, msg: String| ValidationItem {
            loc: location(index, name),
            msg,
            kind: "type_error".into(),
        };
        for (name, value) in &record.ids {
            match value.echo() {
                Ok(text) => id = text,
                Err(found) => errors.push(id_error(
                    name,
                    format!("expected a string or integer id, found {found}"),
                )),
            }
        }
        let mut values: Vec<(&str, Value)> = Vec::with_capacity(record.fields.len());
        for (name, value) in &record.fields {
            if schema.id_columns.iter().any(|column| column == name) {
                match parse_id(value) {
                    Ok(parsed) => id = parsed,
                    Err(()) => {
                        errors.push(id_error(name, "expected a string or integer id".into()))
                    }
                }
                continue;
            }
            let (feature_name, value) = match schema.alias(name) {
                Some(alias) => match resolve_alias(alias, value) {
                    Ok(value) => (alias.feature.as_str(), value),
                    Err(item) => {
                        errors.push(ValidationItem {
                            loc: location(index, name),
                            ..item
                        });
                        continue;
                    }
                },
                None => (name.as_str(), value.clone()),
            };
            // A feature given under two names is as ambiguous as a repeated key.
            if values.iter().any(|(given, _)| *given == feature_name) {
                errors.push(ValidationItem {
                    loc: location(index, name),
                    msg: format!("duplicate key: `{name}` gives `{feature_name}` again"),
                    kind: "duplicate_key".into(),
                });
                continue;
            }
            let kind = schema
                .feature_index(feature_name)
                .map(|feature_idx| schema.features[feature_idx].kind);
            values.push((feature_name, to_model_value(kind, &value)));
        }
        (id, values)
    }

    /// The JSON answer for a prediction.
    fn response(
        &self,
        id: Option<String>,
        raw: &[f64],
        prediction: &model::Prediction,
    ) -> PredictionResponse {
        let schema = &self.artifact.schema;
        let names = |features: &mut dyn Iterator<Item = &model::FeatureSpec>| {
            features.map(|feature| feature.name.clone()).collect()
        };
        let imputed: Vec<String> = names(&mut schema.imputed(raw));
        PredictionResponse {
            id,
            low_information: self
                .artifact
                .purpose
                .is_low_information(imputed.len(), schema.features.len()),
            imputed,
            out_of_training_range: names(&mut schema.beyond_training(raw)),
            prediction_set: self.artifact.conformal.as_ref().map(|sets| {
                sets.set(&prediction.probabilities)
                    .into_iter()
                    .map(|class_idx| schema.classes[class_idx].clone())
                    .collect()
            }),
            label: schema.classes[prediction.label_idx].clone(),
            explanation: None,
            probability: prediction.reported_probability(schema.positive_class),
            probabilities: schema
                .classes
                .iter()
                .cloned()
                .zip(prediction.probabilities.iter().copied())
                .collect(),
            threshold: self.artifact.decision.threshold,
            model: self.artifact.model_name.clone(),
            model_version: self.model_version.clone(),
        }
    }

    /// Adds the explanation of a scored record to its answer.
    pub fn explain(&self, scored: &mut Scored) -> Result<(), model::ExplainError> {
        let artifact = &self.artifact;
        let class_idx = model::explain::target_class(&artifact.pipeline, scored.label_idx);
        let explanation = artifact
            .explainer
            .explain(&artifact.pipeline, &scored.raw, class_idx)?;
        scored.response.explanation = Some(crate::api::ExplanationResponse::new(
            artifact,
            &scored.raw,
            explanation,
        ));
        Ok(())
    }

    /// Remembers a prediction: metrics (label, probability, values outside the training
    /// range) and the drift window.
    pub fn observe(&self, scored: &Scored, telemetry: &Telemetry) {
        telemetry.record_prediction(&scored.response.label, scored.response.probability);
        for feature in self.artifact.schema.beyond_training(&scored.raw) {
            telemetry.record_out_of_training_range(&feature.name);
        }
        self.remember(&scored.raw, scored.response.probability, scored.label_idx);
    }

    /// Counts refused values by field (the schema's own names; anything else is `other`) and
    /// kind.
    pub fn count_refusals(&self, errors: &[ValidationItem], telemetry: &Telemetry) {
        let schema = &self.artifact.schema;
        for error in errors {
            let field = match error.loc.last() {
                Some(Json::String(name))
                    if schema.feature_index(name).is_some()
                        || schema.id_columns.iter().any(|id| id == name) =>
                {
                    name.as_str()
                }
                Some(Json::String(name)) if name == "body" => "body",
                Some(Json::String(_)) => "other",
                // A whole element of a batch.
                Some(_) => "record",
                None => "body",
            };
            telemetry.record_validation_failure(field, known_kind(&error.kind));
        }
    }
}

/// The closed set of validation problem kinds, as metric label values.
fn known_kind(kind: &str) -> &'static str {
    const KINDS: [&str; 14] = [
        "missing",
        "extra_forbidden",
        "null_not_allowed",
        "type_error",
        "finite_number",
        "int_type",
        "binary_value",
        "out_of_range",
        "unknown_category",
        "duplicate_key",
        "model_attributes_type",
        "list_type",
        "too_long",
        "json_invalid",
    ];
    KINDS
        .iter()
        .find(|known| **known == kind)
        .copied()
        .unwrap_or("other")
}
