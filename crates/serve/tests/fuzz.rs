//! Property tests of everything a client sends: request bodies (arbitrary bytes and
//! JSON-shaped text) through the strict body reader and the record validator, and CSV files
//! through `serve score`. Each gives an answer or an error, never a panic. `PROPTEST_CASES`
//! sets how many inputs are tried.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use serve::body::{Body, BodyReader, Item};
use serve::{ServedModel, Settings};

fn served() -> &'static ServedModel {
    static MODEL: OnceLock<ServedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/sepsis/model.bin");
        ServedModel::load(&path, &Settings::default()).unwrap()
    })
}

/// Reads a body as `/predict/batch` does and validates every record in it.
fn read_and_predict(bytes: &[u8]) {
    let model = served();
    let reader = BodyReader {
        id_columns: &model.artifact.schema.id_columns,
        max_items: 50,
    };
    let records = match reader.parse(bytes) {
        Ok(Body::Object(record)) => vec![record],
        Ok(Body::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Item::Record(record) => Some(record),
                Item::Other(_) => None,
            })
            .collect(),
        Ok(Body::Other(_)) | Err(_) => Vec::new(),
    };
    for (index, record) in records.iter().enumerate() {
        if let Ok(scored) = model.predict(record, Some(index)) {
            assert!(scored.response.probability.is_finite());
        }
    }
}

/// JSON values built from the schema's own names, ids of every type, and hostile numbers.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("0".to_owned()),
        Just("-0".to_owned()),
        Just("148".to_owned()),
        Just("1e400".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        Just("0.1e-400".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"NA\"".to_owned()),
        Just("\"\\u0000\\ud800\"".to_owned()),
        any::<f64>().prop_map(|value| format!("{value:?}")),
        any::<i64>().prop_map(|value| value.to_string()),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![
            Just("PRG"),
            Just("PL"),
            Just("PR"),
            Just("SK"),
            Just("TS"),
            Just("M11"),
            Just("BD2"),
            Just("Age"),
            Just("Insurance"),
            Just("ID"),
            Just("x"),
            Just(""),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((key, inner), 0..12).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(key, value)| format!("\"{key}\":{value}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_body_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        read_and_predict(&bytes);
    }

    #[test]
    fn json_shaped_bodies_never_panic(text in json_value()) {
        read_and_predict(text.as_bytes());
    }

    #[test]
    fn any_csv_is_scored_or_refused_by_line(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just("148".to_owned()), Just("0".to_owned()), Just(String::new()),
                    Just("\"".to_owned()), Just("\"a\"\"b\"".to_owned()), Just("x\ry".to_owned()),
                    Just("1e999".to_owned()), Just("NA".to_owned()), ".{0,4}".prop_map(|text: String| text),
                ],
                0..12,
            ),
            0..8,
        ),
    ) {
        let mut input = String::from("ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\n");
        for row in rows {
            input.push_str(&row.join(","));
            input.push('\n');
        }
        let mut output = Vec::new();
        let result = serve::score::score(
            &served().artifact,
            Path::new("fuzzed.csv"),
            input.as_bytes(),
            Path::new("out.csv"),
            &mut output,
            &serve::score::ScoreOptions::default(),
        );
        if let Err(error) = result {
            prop_assert!(error.to_string().contains("fuzzed.csv"), "{error}");
        }
    }
}
