//! The Open Inference Protocol (KServe's v2, Triton's and MLServer's HTTP API), so their
//! clients (`tritonclient`, KServe's SDK) and platforms work unchanged.
//!
//! The model is named after its dataset (`sepsis`) and versioned by its artifact checksum.
//! Inputs are one tensor per feature (shape `[n]` or `[n, 1]`; numbers, or `BYTES` for
//! categories), or one numeric tensor of shape `[n, n_features]` in the model's feature order.
//! Outputs are `label` (`BYTES`, `[n]`), `probability` (`FP64`, `[n]`: of the positive class
//! for a binary model, of the decided class otherwise) and `probabilities` (`FP64`,
//! `[n, n_classes]`, classes in `GET /model`'s order). Input tensors may be JSON or use the
//! binary tensor extension (as `tritonclient` sends by default); outputs are JSON.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value as Json, json};

use super::record_from;
use crate::body::Item;
use crate::error::ApiError;
use crate::routes::{answer_items, run_batch};
use crate::state::{AppState, ServedModel};

/// Numeric tensor types a feature may be sent as.
const NUMERIC_TYPES: [&str; 11] = [
    "FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16",
    "UINT8",
];

/// `GET /v2`: server metadata.
pub async fn server_metadata() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "vigil",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    }))
}

/// `GET /v2/health/live`.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "live": true }))
}

/// `GET /v2/health/ready`: ready when the model passed its self-test.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let ready = state.model().is_ready();
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.json(json!({ "ready": ready }))
}

/// The served model, when `name` (and `version`, if given) name it; 404 otherwise.
fn named_model(
    request: &HttpRequest,
    state: &AppState,
) -> Result<std::sync::Arc<ServedModel>, ApiError> {
    let model = state.model();
    let name = request.match_info().get("name").unwrap_or("");
    let version_matches = request
        .match_info()
        .get("version")
        .is_none_or(|version| version == model.model_version);
    if name == model.artifact.schema.dataset && version_matches {
        Ok(model)
    } else {
        Err(ApiError::NotFound(format!(
            "model `{name}` (this server serves `{}`, version `{}`)",
            model.artifact.schema.dataset, model.model_version
        )))
    }
}

/// `GET /v2/models/{name}[/versions/{version}]`: model metadata.
pub async fn model_metadata(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = named_model(&request, &state)?;
    let schema = &model.artifact.schema;
    let inputs: Vec<Json> = schema
        .features
        .iter()
        .map(|feature| {
            let datatype = if feature.kind == model::FeatureKind::Categorical {
                "BYTES"
            } else {
                "FP64"
            };
            json!({ "name": feature.name, "datatype": datatype, "shape": [-1] })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "name": schema.dataset,
        "versions": [model.model_version],
        "platform": "vigil",
        "inputs": inputs,
        "outputs": [
            { "name": "label", "datatype": "BYTES", "shape": [-1] },
            { "name": "probability", "datatype": "FP64", "shape": [-1] },
            { "name": "probabilities", "datatype": "FP64", "shape": [-1, schema.classes.len()] },
        ],
        "parameters": { "classes": schema.classes, "feature_order": schema.features.iter().map(|feature| &feature.name).collect::<Vec<_>>() },
    })))
}

/// `GET /v2/models/{name}[/versions/{version}]/ready`.
pub async fn model_ready(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = named_model(&request, &state)?;
    let ready = model.is_ready();
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    Ok(response.json(json!({ "name": model.artifact.schema.dataset, "ready": ready })))
}

/// `POST /v2/models/{name}[/versions/{version}]/infer`.
pub async fn infer(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let model = named_model(&request, &state)?;
    // The binary tensor extension: the JSON header's length is given, tensor bytes follow it.
    let header_length = match request.headers().get("inference-header-content-length") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    bad_request("`Inference-Header-Content-Length` must be a byte count")
                })?,
        ),
        None => None,
    };
    let encoded = run_batch(&request, payload, state, move |state, body| {
        let (json_part, binary_part) = match header_length {
            Some(length) if length <= body.len() => body.split_at(length),
            Some(length) => {
                return Err(bad_request(format!(
                    "`Inference-Header-Content-Length` is {length}, but the body has {} bytes",
                    body.len()
                )));
            }
            None => (body, &[][..]),
        };
        let mut request: Json =
            serde_json::from_slice(json_part).map_err(|error| ApiError::malformed_json(&error))?;
        attach_binary_data(&mut request, binary_part)?;
        let items = request_items(&request, &model)?;
        let predictions = answer_items(state, &model, &items, false)?;
        let response = response_body(&request, &model, &predictions)?;
        serde_json::to_vec(&response).map_err(|error| ApiError::Payload(error.to_string()))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(encoded))
}

/// A protocol-level problem (400), described in `detail` as every other error is.
fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Moves binary tensor data (inputs whose `parameters` give a `binary_data_size`, in order)
/// into the inputs' `data` as JSON values, so both encodings take one path.
fn attach_binary_data(request: &mut Json, mut binary: &[u8]) -> Result<(), ApiError> {
    let Some(inputs) = request.get_mut("inputs").and_then(Json::as_array_mut) else {
        return Ok(());
    };
    for input in inputs {
        let Some(size) = input["parameters"]["binary_data_size"].as_u64() else {
            continue;
        };
        let name = input["name"].as_str().unwrap_or("?").to_owned();
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > binary.len() {
            return Err(bad_request(format!(
                "input `{name}`: `binary_data_size` {size} runs past the end of the body"
            )));
        }
        let (bytes, rest) = binary.split_at(size);
        binary = rest;
        let datatype = input["datatype"].as_str().unwrap_or("");
        input["data"] = Json::Array(decode_binary(&name, datatype, bytes)?);
    }
    if binary.is_empty() {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{} bytes of binary data are not claimed by any input",
            binary.len()
        )))
    }
}

/// Little-endian tensor bytes as JSON values; a non-finite float becomes `null` (missing).
fn decode_binary(name: &str, datatype: &str, bytes: &[u8]) -> Result<Vec<Json>, ApiError> {
    fn numbers<const N: usize>(
        bytes: &[u8],
        convert: impl Fn([u8; N]) -> f64,
    ) -> Option<Vec<Json>> {
        bytes.len().is_multiple_of(N).then(|| {
            bytes
                .chunks_exact(N)
                .map(|chunk| {
                    let mut array = [0u8; N];
                    array.copy_from_slice(chunk);
                    serde_json::Number::from_f64(convert(array)).map_or(Json::Null, Json::Number)
                })
                .collect()
        })
    }
    let decoded = match datatype {
        "FP64" => numbers::<8>(bytes, f64::from_le_bytes),
        "FP32" => numbers::<4>(bytes, |b| f64::from(f32::from_le_bytes(b))),
        "INT64" => numbers::<8>(bytes, |b| i64::from_le_bytes(b) as f64),
        "INT32" => numbers::<4>(bytes, |b| f64::from(i32::from_le_bytes(b))),
        "INT16" => numbers::<2>(bytes, |b| f64::from(i16::from_le_bytes(b))),
        "INT8" => numbers::<1>(bytes, |b| f64::from(i8::from_le_bytes(b))),
        "UINT64" => numbers::<8>(bytes, |b| u64::from_le_bytes(b) as f64),
        "UINT32" => numbers::<4>(bytes, |b| f64::from(u32::from_le_bytes(b))),
        "UINT16" => numbers::<2>(bytes, |b| f64::from(u16::from_le_bytes(b))),
        "UINT8" | "BOOL" => numbers::<1>(bytes, |b| f64::from(b[0])),
        "BYTES" => decode_strings(bytes),
        other => {
            return Err(bad_request(format!(
                "input `{name}`: binary data of type `{other}` is not supported"
            )));
        }
    };
    decoded.ok_or_else(|| {
        bad_request(format!(
            "input `{name}`: {} bytes are not a whole number of `{datatype}` elements",
            bytes.len()
        ))
    })
}

/// `BYTES` elements: each a 4-byte little-endian length, then that many UTF-8 bytes.
fn decode_strings(mut bytes: &[u8]) -> Option<Vec<Json>> {
    let mut strings = Vec::new();
    while !bytes.is_empty() {
        let (length, rest) = bytes.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_le_bytes(*length)).ok()?;
        if length > rest.len() {
            return None;
        }
        let (text, rest) = rest.split_at(length);
        strings.push(Json::String(std::str::from_utf8(text).ok()?.to_owned()));
        bytes = rest;
    }
    Some(strings)
}

/// One input tensor, checked: name, shape, and data flattened row-major.
struct Tensor<'a> {
    name: &'a str,
    shape: Vec<usize>,
    datatype: &'a str,
    data: Vec<&'a Json>,
}

fn flatten<'a>(value: &'a Json, out: &mut Vec<&'a Json>) {
    match value {
        Json::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

fn tensor(input: &Json) -> Result<Tensor<'_>, ApiError> {
    let name = input["name"]
        .as_str()
        .ok_or_else(|| bad_request("every input needs a `name`"))?;
    let shape: Vec<usize> = input["shape"]
        .as_array()
        .and_then(|dims| {
            dims.iter()
                .map(|dim| dim.as_u64().and_then(|dim| usize::try_from(dim).ok()))
                .collect()
        })
        .ok_or_else(|| {
            bad_request(format!(
                "input `{name}`: `shape` must be a list of non-negative integers"
            ))
        })?;
    let datatype = input["datatype"]
        .as_str()
        .ok_or_else(|| bad_request(format!("input `{name}`: `datatype` is required")))?;
    if !NUMERIC_TYPES.contains(&datatype) && datatype != "BYTES" && datatype != "BOOL" {
        return Err(bad_request(format!(
            "input `{name}`: unsupported datatype `{datatype}`"
        )));
    }
    let mut data = Vec::new();
    flatten(&input["data"], &mut data);
    let expected = shape
        .iter()
        .try_fold(1usize, |acc, dim| acc.checked_mul(*dim));
    if expected != Some(data.len()) {
        return Err(bad_request(format!(
            "input `{name}`: shape {shape:?} needs {} values, found {}",
            expected.map_or("too many".to_owned(), |n| n.to_string()),
            data.len()
        )));
    }
    Ok(Tensor {
        name,
        shape,
        datatype,
        data,
    })
}

/// A tensor element as the JSON value `/predict` would have received.
fn element(tensor: &Tensor<'_>, value: &Json) -> Json {
    match (tensor.datatype, value) {
        ("BOOL", Json::Bool(flag)) => json!(u8::from(*flag)),
        _ => value.clone(),
    }
}

/// The records of an inference request: one tensor per feature, or one `[n, n_features]`
/// matrix in the model's feature order.
fn request_items(request: &Json, model: &ServedModel) -> Result<Vec<Item>, ApiError> {
    let schema = &model.artifact.schema;
    let inputs = request["inputs"]
        .as_array()
        .ok_or_else(|| bad_request("`inputs` must be a list of tensors"))?;
    let tensors: Vec<Tensor<'_>> = inputs.iter().map(tensor).collect::<Result<_, _>>()?;
    let names: Vec<&str> = schema
        .features
        .iter()
        .map(|feature| feature.name.as_str())
        .collect();
    if let [matrix] = tensors.as_slice()
        && matrix.shape.len() == 2
        && schema.feature_index(matrix.name).is_none()
    {
        if matrix.shape[1] != names.len() {
            return Err(bad_request(format!(
                "input `{}`: a matrix needs {} columns (the model's features, in order: {}), found {}",
                matrix.name,
                names.len(),
                names.join(", "),
                matrix.shape[1]
            )));
        }
        return Ok(matrix
            .data
            .chunks(names.len())
            .map(|row| {
                record_from(
                    names.iter().copied(),
                    row.iter().map(|value| element(matrix, value)),
                )
            })
            .collect());
    }
    let n_rows = tensors.first().map_or(0, |tensor| tensor.data.len());
    for tensor in &tensors {
        let column = tensor.shape.len() == 1 || (tensor.shape.len() == 2 && tensor.shape[1] == 1);
        if !column || tensor.data.len() != n_rows {
            return Err(bad_request(format!(
                "input `{}`: expected shape [{n_rows}] or [{n_rows}, 1] like the other inputs, found {:?}",
                tensor.name, tensor.shape
            )));
        }
    }
    Ok((0..n_rows)
        .map(|row_idx| {
            record_from(
                tensors.iter().map(|tensor| tensor.name),
                tensors
                    .iter()
                    .map(|tensor| element(tensor, tensor.data[row_idx])),
            )
        })
        .collect())
}

/// The inference response: the requested outputs (all three by default).
fn response_body(
    request: &Json,
    model: &ServedModel,
    predictions: &[crate::api::PredictionResponse],
) -> Result<Json, ApiError> {
    let schema = &model.artifact.schema;
    let n_rows = predictions.len();
    let all = ["label", "probability", "probabilities"];
    let wanted: Vec<&str> = match request["outputs"].as_array() {
        Some(outputs) => outputs
            .iter()
            .map(|output| {
                output["name"]
                    .as_str()
                    .filter(|name| all.contains(name))
                    .ok_or_else(|| bad_request(format!("unknown output {}; this model has `label`, `probability` and `probabilities`", output["name"])))
            })
            .collect::<Result<_, _>>()?,
        None => all.to_vec(),
    };
    let outputs: Vec<Json> = wanted
        .into_iter()
        .map(|name| match name {
            "label" => json!({
                "name": name, "datatype": "BYTES", "shape": [n_rows],
                "data": predictions.iter().map(|prediction| &prediction.label).collect::<Vec<_>>(),
            }),
            "probability" => json!({
                "name": name, "datatype": "FP64", "shape": [n_rows],
                "data": predictions.iter().map(|prediction| prediction.probability).collect::<Vec<_>>(),
            }),
            _ => json!({
                "name": name, "datatype": "FP64", "shape": [n_rows, schema.classes.len()],
                "data": predictions
                    .iter()
                    .flat_map(|prediction| schema.classes.iter().map(|class| prediction.probabilities.get(class).copied().unwrap_or(f64::NAN)))
                    .collect::<Vec<_>>(),
            }),
        })
        .collect();
    let mut response = json!({
        "model_name": schema.dataset,
        "model_version": model.model_version,
        "outputs": outputs,
    });
    if let Some(id) = request.get("id") {
        response["id"] = id.clone();
    }
    Ok(response)
}
