//! Fixtures shared by the training tests: a generated binary dataset and its config.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub const BINARY_CONFIG: &str = r#"
name = "synthetic"
path = "data/synthetic.csv"
task = "binary"
target = "outcome"
classes = ["healthy", "sick"]
positive_class = "sick"
id_columns = ["pid"]
[training]
threshold = "sensitivity>=0.80"
[[features]]
name = "marker"
kind = "numeric"
zero_is_missing = true
range = [0, 500]
[[features]]
name = "age"
kind = "integer"
range = [0, 120]
[[features]]
name = "smoker"
kind = "binary"
[[features]]
name = "ward"
kind = "categorical"
[[subgroups]]
feature = "age"
bands = [40, 75]
[[subgroups]]
feature = "ward"
"#;

/// Writes a binary dataset whose positive class is a `positive_share` minority (or majority).
pub fn write_binary(
    dir: &Path,
    n_rows: usize,
    positive_share: f64,
    seed: u64,
) -> (PathBuf, PathBuf) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut csv = String::from("pid,marker,age,smoker,ward,outcome\n");
    for row in 0..n_rows {
        let sick = rng.gen_bool(positive_share);
        let marker = if rng.gen_bool(0.08) {
            0.0
        } else {
            (if sick { 160.0 } else { 110.0 } + rng.gen_range(-45.0..45.0f64)).round()
        };
        let age = if sick {
            rng.gen_range(35..80)
        } else {
            rng.gen_range(20..65)
        };
        let smoker = u8::from(rng.gen_bool(if sick { 0.5 } else { 0.2 }));
        let ward = ["north", "south", "east"][rng.gen_range(0..3)];
        let age_text = if rng.gen_bool(0.03) {
            "NA".to_owned()
        } else {
            age.to_string()
        };
        let _ = writeln!(
            csv,
            "P{row},{marker},{age_text},{smoker},{ward},{}",
            if sick { "sick" } else { "healthy" }
        );
    }
    let data = dir.join("synthetic.csv");
    std::fs::write(&data, csv).unwrap();
    let config = dir.join("synthetic.toml");
    std::fs::write(&config, BINARY_CONFIG).unwrap();
    (config, data)
}

/// Predicts one line of a [`write_binary`] file through the server's path: its feature cells
/// as named text fields, validated and encoded by the artifact's schema.
pub fn predict_line(artifact: &model::Artifact, line: &str) -> model::Prediction {
    let cells: Vec<&str> = line.split(',').collect();
    let values: Vec<model::Value> = cells[1..5]
        .iter()
        .map(|cell| model::Value::Text((*cell).to_owned()))
        .collect();
    let names = ["marker", "age", "smoker", "ward"];
    artifact
        .predict_record(names.iter().copied().zip(values.iter()))
        .unwrap()
}
