//! Batch scoring of files many chunks long: rows leave in file order, each scored exactly as
//! one-row prediction scores it, and a bad row deep in the file stops the run naming its line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use model::Artifact;
use rand::{Rng, SeedableRng};
use serve::score::{ScoreError, ScoreOptions, score};

fn sepsis() -> Artifact {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/sepsis/model.bin");
    Artifact::load(&path).unwrap()
}

/// `n_rows` seeded sepsis-shaped rows with an id (some `SK` cells empty), and each row's values.
fn rows(n_rows: usize, seed: u64) -> (String, Vec<Vec<f64>>) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut text = String::from("ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\n");
    let mut raws = Vec::with_capacity(n_rows);
    for row in 0..n_rows {
        let values = [
            f64::from(rng.gen_range(0..12)),
            f64::from(rng.gen_range(60..190)),
            f64::from(rng.gen_range(40..110)),
            f64::from(rng.gen_range(0..50)),
            f64::from(rng.gen_range(0..400)),
            f64::from(rng.gen_range(180..500)) / 10.0,
            f64::from(rng.gen_range(80..2000)) / 1000.0,
            f64::from(rng.gen_range(21..80)),
            f64::from(rng.gen_range(0..2)),
        ];
        let _ = write!(text, "R{row}");
        let mut raw = Vec::with_capacity(values.len());
        for (column, value) in values.iter().enumerate() {
            // Every so often an empty cell in `SK`, a column the model accepts missing.
            if column == 3 && rng.gen_bool(0.05) {
                text.push(',');
                raw.push(f64::NAN);
            } else {
                let _ = write!(text, ",{value}");
                raw.push(*value);
            }
        }
        text.push('\n');
        raws.push(raw);
    }
    (text, raws)
}

fn run(artifact: &Artifact, input: &str) -> Result<String, ScoreError> {
    let mut output = Vec::new();
    score(
        artifact,
        Path::new("rows.csv"),
        input.as_bytes(),
        Path::new("scores.csv"),
        &mut output,
        &ScoreOptions::default(),
    )?;
    Ok(String::from_utf8(output).unwrap())
}

#[test]
fn many_chunks_leave_in_order_and_score_as_single_rows() {
    let artifact = sepsis();
    // Three full chunks of 4,096 rows and a partial one.
    let (input, raws) = rows(13_000, 3);
    let output = run(&artifact, &input).unwrap();
    let lines: Vec<&str> = output.lines().skip(1).collect();
    assert_eq!(lines.len(), raws.len());
    let raw_row = |raw: &Vec<f64>| -> Vec<f64> {
        // The schema's raw row, from the cells as written (the categorical as its code).
        let cells: Vec<String> = raw
            .iter()
            .map(|value| {
                if value.is_nan() {
                    String::new()
                } else {
                    value.to_string()
                }
            })
            .collect();
        let mut encoded = Vec::new();
        artifact
            .schema
            .encode_text_row(cells.iter().map(String::as_str), &mut encoded)
            .unwrap();
        encoded
    };
    for (row_idx, (line, raw)) in lines.iter().zip(&raws).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], format!("R{row_idx}"));
        let expected = artifact.predict_raw(&raw_row(raw));
        let scored: Vec<f64> = cells[1..3]
            .iter()
            .map(|cell| cell.parse().unwrap())
            .collect();
        assert_eq!(scored, expected.probabilities, "row {row_idx}");
        assert_eq!(cells[3], artifact.schema.classes[expected.label_idx]);
    }
}

#[test]
fn a_bad_row_in_a_late_chunk_is_named_by_its_line() {
    let artifact = sepsis();
    let (input, _) = rows(10_000, 4);
    // Row 9,000 is on line 9,002 (the header is line 1).
    let broken: String = input
        .lines()
        .enumerate()
        .map(|(line_idx, line)| {
            if line_idx == 9_001 {
                let mut cells: Vec<&str> = line.split(',').collect();
                cells[1] = "high";
                format!("{}\n", cells.join(","))
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let error = run(&artifact, &broken).unwrap_err().to_string();
    assert!(error.contains("line 9002"), "{error}");
}
