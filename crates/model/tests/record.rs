//! The two ways a record is validated agree: `Schema::encode_text_row` (CSV cells in schema
//! order, the batch scorer's fast path) gives exactly what `Schema::encode_record` gives for
//! the same cells as named text values — the raw row, or the same problems in the same order —
//! on the committed artifacts' schemas, for cells drawn from typical values, edge cases and
//! junk. `PROPTEST_CASES` sets how many are tried.

use std::path::PathBuf;

use model::{Artifact, Schema, Value};
use proptest::prelude::*;

fn schema(dataset: &str) -> Schema {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../artifacts")
        .join(dataset)
        .join("model.bin");
    Artifact::load(&path).unwrap().schema
}

/// A cell: a number in or out of range, a category of the schema, missing text, or junk.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (-50.0f64..500.0).prop_map(|number| format!("{number}")),
        (-5i64..300).prop_map(|number| number.to_string()),
        Just(String::new()),
        Just(" NA ".to_owned()),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just(" 2.5".to_owned()),
        Just("red".to_owned()),
        Just("white".to_owned()),
        "[a-z]{1,4}",
    ]
}

proptest! {
    #[test]
    fn text_rows_validate_exactly_as_named_records(
        dataset in prop_oneof![Just("sepsis"), Just("heart_failure"), Just("wine_quality")],
        cells in proptest::collection::vec(cell(), 14),
    ) {
        let schema = schema(dataset);
        let cells = &cells[..schema.features.len()];
        let values: Vec<Value> = cells.iter().map(|cell| Value::Text(cell.clone())).collect();
        let named = schema.encode_record(
            schema
                .features
                .iter()
                .map(|feature| feature.name.as_str())
                .zip(values.iter()),
        );
        let mut raw = Vec::new();
        let fast = schema.encode_text_row(cells.iter().map(String::as_str), &mut raw);
        match (named, fast) {
            (Ok(expected), Ok(())) => {
                prop_assert_eq!(expected.len(), raw.len());
                for (a, b) in expected.iter().zip(&raw) {
                    prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                }
            }
            (Err(expected), Err(found)) => prop_assert_eq!(expected, found),
            (expected, found) => prop_assert!(false, "{:?} vs {:?}", expected, found),
        }
    }
}
