//! MLflow's scoring protocol: `POST /invocations`, `GET /ping` and `GET /version`, as served by
//! `mlflow models serve`, so MLflow clients and deployment tooling work unchanged.
//!
//! A JSON body holds exactly one of `dataframe_split` (`columns` and row-wise `data`),
//! `dataframe_records` (a list of objects), `instances` or `inputs` (a list of objects, a list
//! of rows in the model's feature order, or for `inputs` an object of columns), with an
//! optional `params` object that is ignored; a `text/csv` body is a header row and one row per
//! record. The answer is `{"predictions": [...]}`, one prediction object (as `/predict`
//! returns) per record, in order.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value as Json, json};

use super::record_from;
use crate::body::Item;
use crate::error::ApiError;
use crate::routes::{answer_items, is_json, media_type, require_media_type, run_batch};
use crate::state::AppState;

/// The keys a JSON body may carry one of.
const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// `GET /ping`: MLflow's liveness check.
pub async fn ping() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body("\n")
}

/// `GET /version`: the server's version, as text (MLflow's client reads it so).
pub async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(concat!("vigil ", env!("CARGO_PKG_VERSION")))
}

/// `POST /invocations`.
pub async fn invocations(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_media_type(
        &request,
        |essence| is_json(essence) || essence == "text/csv",
        "`application/json` or `text/csv`",
    )?;
    let is_csv = media_type(&request) == "text/csv";
    let encoded = run_batch(&request, payload, state, move |state, body| {
        let model = state.model();
        let names: Vec<&str> = model
            .artifact
            .schema
            .features
            .iter()
            .map(|feature| feature.name.as_str())
            .collect();
        let items = if is_csv {
            csv_items(body, &model.artifact.schema)?
        } else {
            json_items(body, &names)?
        };
        let predictions = answer_items(state, &model, &items, false)?;
        serde_json::to_vec(&json!({ "predictions": predictions }))
            .map_err(|error| ApiError::Payload(error.to_string()))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(encoded))
}

fn shape_error(loc: &[&str], msg: impl Into<String>) -> ApiError {
    let mut path = vec![json!("body")];
    path.extend(loc.iter().map(|part| json!(part)));
    ApiError::validation(path, msg, "model_attributes_type")
}

/// The records of a JSON body in any of MLflow's four formats.
fn json_items(body: &[u8], names: &[&str]) -> Result<Vec<Item>, ApiError> {
    let value: Json =
        serde_json::from_slice(body).map_err(|error| ApiError::malformed_json(&error))?;
    let Json::Object(mut object) = value else {
        return Err(shape_error(&[], "expected a JSON object"));
    };
    object.remove("params");
    let present: Vec<&str> = FORMATS
        .into_iter()
        .filter(|key| object.contains_key(*key))
        .collect();
    let unknown: Vec<String> = object
        .keys()
        .filter(|key| !FORMATS.contains(&key.as_str()))
        .cloned()
        .collect();
    if present.len() != 1 || !unknown.is_empty() {
        return Err(shape_error(
            &[],
            format!(
                "expected exactly one of `dataframe_split`, `dataframe_records`, `instances` or `inputs` (and optionally `params`); found {}",
                object
                    .keys()
                    .map(|key| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let key = present[0];
    let content = object.remove(key).unwrap_or(Json::Null);
    match (key, content) {
        ("dataframe_split", Json::Object(split)) => split_items(&split),
        ("dataframe_split", _) => Err(shape_error(
            &[key],
            "expected an object with `columns` and `data`",
        )),
        ("inputs", Json::Object(columns)) => column_items(&columns),
        (_, Json::Array(rows)) => Ok(rows
            .into_iter()
            .map(|row| match row {
                Json::Object(fields) => record_from(
                    fields.keys().map(String::as_str).collect::<Vec<_>>(),
                    fields.values().cloned().collect::<Vec<_>>(),
                ),
                // A row of values is in the model's feature order (as `GET /model` lists it).
                Json::Array(values) if values.len() == names.len() => {
                    record_from(names.iter().copied(), values)
                }
                _ => Item::Other("a row of another shape"),
            })
            .collect()),
        (_, _) => Err(shape_error(&[key], "expected a list of records")),
    }
}

/// `dataframe_split`: `columns` and row-wise `data` (an `index`, if any, is ignored).
fn split_items(split: &serde_json::Map<String, Json>) -> Result<Vec<Item>, ApiError> {
    let columns: Vec<&str> = match split.get("columns") {
        Some(Json::Array(columns)) => columns
            .iter()
            .map(|column| column.as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| shape_error(&["dataframe_split", "columns"], "expected column names"))?,
        _ => {
            return Err(shape_error(
                &["dataframe_split", "columns"],
                "expected a list of column names",
            ));
        }
    };
    let Some(Json::Array(rows)) = split.get("data") else {
        return Err(shape_error(
            &["dataframe_split", "data"],
            "expected a list of rows",
        ));
    };
    Ok(rows
        .iter()
        .map(|row| match row {
            Json::Array(values) if values.len() == columns.len() => {
                record_from(columns.iter().copied(), values.iter().cloned())
            }
            _ => Item::Other("a row whose length differs from `columns`"),
        })
        .collect())
}

/// `inputs` as an object of columns, each a list of the same length.
fn column_items(columns: &serde_json::Map<String, Json>) -> Result<Vec<Item>, ApiError> {
    let mut lists = Vec::with_capacity(columns.len());
    for (name, values) in columns {
        let Json::Array(values) = values else {
            return Err(shape_error(&["inputs", name], "expected a list of values"));
        };
        lists.push((name.as_str(), values));
    }
    let n_rows = lists.first().map_or(0, |(_, values)| values.len());
    if let Some((name, _)) = lists.iter().find(|(_, values)| values.len() != n_rows) {
        return Err(shape_error(
            &["inputs", name],
            format!("expected {n_rows} values, as in the first column"),
        ));
    }
    Ok((0..n_rows)
        .map(|row_idx| {
            record_from(
                lists.iter().map(|(name, _)| *name),
                lists.iter().map(|(_, values)| values[row_idx].clone()),
            )
        })
        .collect())
}

/// A CSV body: the header names the columns; an empty or `NA` cell is missing; a cell of a
/// numeric feature is a number when it parses as one (otherwise validation names it).
fn csv_items(body: &[u8], schema: &model::Schema) -> Result<Vec<Item>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| ApiError::BadRequest(format!("CSV header: {error}")))?
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    model::header::check_unique_columns(std::path::Path::new("body"), &header)
        .map_err(|error| shape_error(&[], error.to_string()))?;
    let mut items = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|error| {
            let line = error.position().map_or(0, csv::Position::line);
            ApiError::BadRequest(format!("CSV line {line}: {error}"))
        })?;
        let values = header.iter().zip(row.iter()).map(|(name, cell)| {
            let categorical = schema
                .feature_index(name)
                .is_some_and(|idx| schema.features[idx].kind == model::FeatureKind::Categorical);
            if model::missing::is_missing_text(cell) {
                Json::Null
            } else if categorical || schema.id_columns.contains(name) {
                Json::String(cell.to_owned())
            } else {
                cell.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Json::String(cell.to_owned()), Json::Number)
            }
        });
        items.push(record_from(
            header.iter().map(String::as_str),
            values.collect::<Vec<_>>(),
        ));
    }
    Ok(items)
}
