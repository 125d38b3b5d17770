//! Batch scoring of a CSV file in bounded memory: one row read, validated, predicted and written
//! at a time, through the same `Artifact::predict_record` path as `POST /predict`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use model::{Artifact, Value};

/// Errors from batch scoring; each names the file and, for row problems, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The input could not be opened or read.
    #[error("cannot read `{path}`")]
    Read {
        /// The input file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write `{path}`")]
    Write {
        /// The output (or `-` for standard output).
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The CSV structure is broken.
    #[error("`{path}` line {line}: {reason}")]
    Csv {
        /// The input file.
        path: PathBuf,
        /// The line.
        line: u64,
        /// The parser's message.
        reason: String,
    },
    /// Feature columns are absent from the header.
    #[error("`{path}` line 1: missing column(s) {}; found {}", model::record::quoted_list(.missing), model::record::quoted_list(.found))]
    MissingColumns {
        /// The input file.
        path: PathBuf,
        /// Absent feature columns.
        missing: Vec<String>,
        /// The header as found.
        found: Vec<String>,
    },
    /// A cell does not fit the model's schema.
    #[error("`{path}` line {line}, column `{column}`: {problem}")]
    BadValue {
        /// The input file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The column.
        column: String,
        /// What is wrong, including the value.
        problem: String,
    },
}

/// What a scoring run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreSummary {
    /// Rows scored.
    pub n_rows: u64,
    /// Input columns that are neither features nor ids (ignored, e.g. the target).
    pub ignored_columns: Vec<String>,
}

/// Scores `input`'s rows into `output` as CSV: id (if the file has one), one probability per
/// class, and the label.
pub fn score(
    artifact: &Artifact,
    input_path: &Path,
    input: impl Read,
    output: impl Write,
) -> Result<ScoreSummary, ScoreError> {
    let schema = &artifact.schema;
    let read_error = |source| ScoreError::Read {
        path: input_path.to_path_buf(),
        source,
    };
    let csv_error = |error: csv::Error| {
        let line = error.position().map_or(0, |position| position.line());
        match error.into_kind() {
            csv::ErrorKind::Io(source) => read_error(source),
            kind => ScoreError::Csv {
                path: input_path.to_path_buf(),
                line,
                reason: csv_reason(kind),
            },
        }
    };
    // The csv crate splits CR-only records but counts lines only at `\n`; normalising the
    // endings on the fly keeps line numbers right in errors. The BOM is stripped below.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(BufReader::new(LineEndings::new(input)));
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .enumerate()
        .map(|(idx, name)| {
            if idx == 0 {
                name.trim_start_matches('\u{feff}').trim().to_owned()
            } else {
                name.trim().to_owned()
            }
        })
        .collect();
    let feature_columns: Vec<Option<usize>> = schema
        .features
        .iter()
        .map(|feature| header.iter().position(|name| *name == feature.name))
        .collect();
    let missing: Vec<String> = schema
        .features
        .iter()
        .zip(&feature_columns)
        .filter(|(_, column)| column.is_none())
        .map(|(feature, _)| feature.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(ScoreError::MissingColumns {
            path: input_path.to_path_buf(),
            missing,
            found: header,
        });
    }
    let id_column = schema.id_columns.iter().find_map(|id| {
        header
            .iter()
            .position(|name| name == id)
            .map(|idx| (id.clone(), idx))
    });
    let ignored_columns: Vec<String> = header
        .iter()
        .filter(|name| schema.feature_index(name).is_none() && !schema.id_columns.contains(name))
        .cloned()
        .collect();

    let write_error = |source| ScoreError::Write {
        path: PathBuf::from("output"),
        source,
    };
    let mut writer = csv::Writer::from_writer(BufWriter::new(output));
    let mut out_header: Vec<String> = Vec::new();
    if let Some((name, _)) = &id_column {
        out_header.push(name.clone());
    }
    out_header.extend(
        schema
            .classes
            .iter()
            .map(|class| format!("probability_{class}")),
    );
    out_header.push("label".into());
    writer
        .write_record(&out_header)
        .map_err(|error| write_error(std::io::Error::other(error)))?;

    let mut record = csv::StringRecord::new();
    let mut values: Vec<Value> = Vec::with_capacity(schema.features.len());
    let mut n_rows = 0;
    let mut row_out: Vec<String> = Vec::with_capacity(out_header.len());
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |position| position.line());
        values.clear();
        values.extend(feature_columns.iter().map(|column| {
            let cell = column.and_then(|idx| record.get(idx)).unwrap_or("");
            Value::Text(cell.to_owned())
        }));
        let fields = schema
            .features
            .iter()
            .map(|feature| feature.name.as_str())
            .zip(values.iter());
        let prediction = artifact.predict_record(fields).map_err(|errors| {
            let first = &errors[0];
            let cell = schema
                .feature_index(&first.field)
                .and_then(|feature_idx| feature_columns[feature_idx])
                .and_then(|idx| record.get(idx))
                .unwrap_or("");
            ScoreError::BadValue {
                path: input_path.to_path_buf(),
                line,
                column: first.field.clone(),
                problem: format!("invalid value `{cell}`: {}", first.problem),
            }
        })?;
        row_out.clear();
        if let Some((_, idx)) = &id_column {
            row_out.push(record.get(*idx).unwrap_or("").trim().to_owned());
        }
        // `Display` for f64 is the shortest text that parses back to the same value.
        row_out.extend(prediction.probabilities.iter().map(|p| p.to_string()));
        row_out.push(schema.classes[prediction.label_idx].clone());
        writer
            .write_record(&row_out)
            .map_err(|error| write_error(std::io::Error::other(error)))?;
        n_rows += 1;
    }
    writer.flush().map_err(write_error)?;
    Ok(ScoreSummary {
        n_rows,
        ignored_columns,
    })
}

/// A reader that turns CR and CRLF line endings into LF, streaming, in constant memory.
struct LineEndings<R> {
    inner: R,
    last_was_cr: bool,
}

impl<R> LineEndings<R> {
    fn new(inner: R) -> Self {
        LineEndings {
            inner,
            last_was_cr: false,
        }
    }
}

impl<R: Read> Read for LineEndings<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buffer)?;
            if n == 0 {
                return Ok(0);
            }
            let mut written = 0;
            for idx in 0..n {
                let byte = buffer[idx];
                if byte == b'\n' && self.last_was_cr {
                    self.last_was_cr = false;
                    continue;
                }
                self.last_was_cr = byte == b'\r';
                buffer[written] = if byte == b'\r' { b'\n' } else { byte };
                written += 1;
            }
            // A chunk holding only the LF of a CRLF yields nothing; read on rather than
            // returning 0, which would mean end of file.
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

fn csv_reason(kind: csv::ErrorKind) -> String {
    match kind {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields, expected {expected_len} as in the header")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("not valid UTF-8 ({err})"),
        other => format!("{other:?}"),
    }
}

/// Scores `input` into the file `output`, written to a temporary sibling and renamed on success,
/// so a failed run never leaves a partial output file; `None` writes to standard output.
pub fn score_file(
    artifact: &Artifact,
    input: &Path,
    output: Option<&Path>,
) -> Result<ScoreSummary, ScoreError> {
    let file = File::open(input).map_err(|source| ScoreError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    let Some(output) = output else {
        let stdout = std::io::stdout();
        return score(artifact, input, file, stdout.lock());
    };
    let write_error = |source| ScoreError::Write {
        path: output.to_path_buf(),
        source,
    };
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scores.csv".into());
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let target = File::create(&temporary).map_err(write_error)?;
        let summary = score(artifact, input, file, &target).map_err(|error| match error {
            ScoreError::Write { source, .. } => write_error(source),
            other => other,
        })?;
        target.sync_all().map_err(write_error)?;
        std::fs::rename(&temporary, output).map_err(write_error)?;
        Ok(summary)
    })();
    if result.is_err() {
        std::fs::remove_file(&temporary).ok();
    }
    result
}
