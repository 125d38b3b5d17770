//! Batch scoring of a CSV file in bounded memory: one row read, validated, predicted and written
//! at a time, through the same `Artifact::predict_record` path as `POST /predict`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use model::{Artifact, Schema, Value};

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
        /// The output file, or `standard output`.
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
    /// Two header columns share a name: which one holds the feature would be a guess.
    #[error("`{path}` line 1: column `{column}` appears twice (columns {first} and {second})")]
    DuplicateColumn {
        /// The input file.
        path: PathBuf,
        /// The repeated name.
        column: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
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

/// Where the model's columns sit in an input file.
struct Layout {
    /// Input column of each feature, in schema order.
    feature_columns: Vec<usize>,
    /// The first id column present: its name and input column.
    id_column: Option<(String, usize)>,
    /// Input columns that are neither features nor ids.
    ignored_columns: Vec<String>,
}

impl Layout {
    /// Maps a header (BOM and surrounding spaces removed) onto the schema.
    fn from_header(schema: &Schema, header: Vec<String>, path: &Path) -> Result<Self, ScoreError> {
        for (idx, name) in header.iter().enumerate() {
            if let Some(first) = header[..idx].iter().position(|other| other == name) {
                return Err(ScoreError::DuplicateColumn {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    first: first + 1,
                    second: idx + 1,
                });
            }
        }
        let position = |wanted: &str| header.iter().position(|name| name == wanted);
        let missing: Vec<String> = schema
            .features
            .iter()
            .filter(|feature| position(&feature.name).is_none())
            .map(|feature| feature.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ScoreError::MissingColumns {
                path: path.to_path_buf(),
                missing,
                found: header,
            });
        }
        Ok(Layout {
            feature_columns: schema
                .features
                .iter()
                .filter_map(|feature| position(&feature.name))
                .collect(),
            id_column: schema
                .id_columns
                .iter()
                .find_map(|id| position(id).map(|idx| (id.clone(), idx))),
            ignored_columns: header
                .iter()
                .filter(|name| {
                    schema.feature_index(name).is_none() && !schema.id_columns.contains(name)
                })
                .cloned()
                .collect(),
        })
    }

    /// The output header: id (if any), one probability per class, label.
    fn output_header(&self, schema: &Schema) -> Vec<String> {
        self.id_column
            .iter()
            .map(|(name, _)| name.clone())
            .chain(
                schema
                    .classes
                    .iter()
                    .map(|class| format!("probability_{class}")),
            )
            .chain(std::iter::once("label".to_owned()))
            .collect()
    }
}

/// Scores `input`'s rows into `output` as CSV: id (if the file has one), one probability per
/// class, and the label. `input_path` and `output_path` name the two in errors.
pub fn score(
    artifact: &Artifact,
    input_path: &Path,
    input: impl Read,
    output_path: &Path,
    output: impl Write,
) -> Result<ScoreSummary, ScoreError> {
    let schema = &artifact.schema;
    let csv_error = |error: csv::Error| {
        let line = error.position().map_or(0, |position| position.line());
        match error.into_kind() {
            csv::ErrorKind::Io(source) => ScoreError::Read {
                path: input_path.to_path_buf(),
                source,
            },
            kind => ScoreError::Csv {
                path: input_path.to_path_buf(),
                line,
                reason: csv_reason(kind),
            },
        }
    };
    let write_error = |error: csv::Error| ScoreError::Write {
        path: output_path.to_path_buf(),
        source: std::io::Error::other(error),
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
        .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let layout = Layout::from_header(schema, header, input_path)?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(output));
    writer
        .write_record(layout.output_header(schema))
        .map_err(write_error)?;
    let mut record = csv::StringRecord::new();
    let mut values: Vec<Value> = Vec::with_capacity(schema.features.len());
    let mut row_out: Vec<String> = Vec::new();
    let mut n_rows = 0;
    while reader.read_record(&mut record).map_err(csv_error)? {
        values.clear();
        values.extend(
            layout
                .feature_columns
                .iter()
                .map(|idx| Value::Text(record.get(*idx).unwrap_or("").to_owned())),
        );
        let fields = schema
            .features
            .iter()
            .map(|feature| feature.name.as_str())
            .zip(values.iter());
        let prediction = artifact
            .predict_record(fields)
            .map_err(|errors| bad_value(schema, &layout, &record, input_path, &errors))?;
        row_out.clear();
        if let Some((_, idx)) = &layout.id_column {
            row_out.push(record.get(*idx).unwrap_or("").trim().to_owned());
        }
        // `Display` for f64 is the shortest text that parses back to the same value.
        row_out.extend(prediction.probabilities.iter().map(|p| p.to_string()));
        row_out.push(schema.classes[prediction.label_idx].clone());
        writer.write_record(&row_out).map_err(write_error)?;
        n_rows += 1;
    }
    writer.flush().map_err(|source| ScoreError::Write {
        path: output_path.to_path_buf(),
        source,
    })?;
    Ok(ScoreSummary {
        n_rows,
        ignored_columns: layout.ignored_columns,
    })
}

/// The error for a row that fails validation: its line, the first bad column and its cell.
fn bad_value(
    schema: &Schema,
    layout: &Layout,
    record: &csv::StringRecord,
    path: &Path,
    errors: &[model::FieldError],
) -> ScoreError {
    let line = record.position().map_or(0, |position| position.line());
    let Some(first) = errors.first() else {
        return ScoreError::Csv {
            path: path.to_path_buf(),
            line,
            reason: "the row was refused".into(),
        };
    };
    let cell = schema
        .feature_index(&first.field)
        .and_then(|feature_idx| layout.feature_columns.get(feature_idx))
        .and_then(|idx| record.get(*idx))
        .unwrap_or("");
    ScoreError::BadValue {
        path: path.to_path_buf(),
        line,
        column: first.field.clone(),
        problem: format!("invalid value `{cell}`: {}", first.problem),
    }
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

/// The name standard input and output go by in messages.
pub const STDIN: &str = "standard input";
/// See [`STDIN`].
pub const STDOUT: &str = "standard output";

/// Whether a command-line path means standard input or output.
fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Scores the file `input` (`-`: standard input) into `output` (`None` or `-`: standard
/// output). A file output is written crash-safely ([`model::AtomicFile`]): a failed or
/// interrupted run leaves any previous file untouched and no partial one.
pub fn score_file(
    artifact: &Artifact,
    input: &Path,
    output: Option<&Path>,
) -> Result<ScoreSummary, ScoreError> {
    if is_dash(input) {
        let stdin = std::io::stdin();
        return score_into(artifact, Path::new(STDIN), stdin.lock(), output);
    }
    let file = File::open(input).map_err(|source| ScoreError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    score_into(artifact, input, file, output)
}

fn score_into(
    artifact: &Artifact,
    input_path: &Path,
    input: impl Read,
    output: Option<&Path>,
) -> Result<ScoreSummary, ScoreError> {
    let Some(output) = output.filter(|path| !is_dash(path)) else {
        let stdout = std::io::stdout();
        return score(
            artifact,
            input_path,
            input,
            Path::new(STDOUT),
            stdout.lock(),
        );
    };
    let write_error = |source| ScoreError::Write {
        path: output.to_path_buf(),
        source,
    };
    let mut target = model::AtomicFile::create(output).map_err(write_error)?;
    let summary = score(artifact, input_path, input, output, &mut target)?;
    target.commit().map_err(write_error)?;
    Ok(summary)
}
