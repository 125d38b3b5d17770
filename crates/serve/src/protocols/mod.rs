//! Protocols other clients already speak, each in its own module, each turning its request
//! shape into the same records that `/predict/batch` validates and predicts
//! ([`crate::routes::answer_items`]), so every protocol gets the same checks, metrics, drift
//! window and error bodies.

pub mod mlflow;
pub mod oip;

use serde_json::Value as Json;

use crate::body::{Item, Record};

/// A record from parallel names and values.
pub(crate) fn record_from<'a>(
    names: impl IntoIterator<Item = &'a str>,
    values: impl IntoIterator<Item = Json>,
) -> Item {
    Item::Record(Record::from_fields(
        names.into_iter().map(str::to_owned).zip(values),
    ))
}
