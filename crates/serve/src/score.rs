//! Batch scoring of a CSV file in bounded memory: rows are read and validated as `POST
//! /predict` validates a record, and predicted in chunks of [`CHUNK_ROWS`] (the block walk of
//! `Artifact::predict_rows`, the same probabilities as one-row prediction). While the other
//! cores predict one chunk, the reading thread writes the chunk before it and reads the one
//! after it, so output leaves in file order and memory holds three chunks whatever the size.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use model::{Artifact, Schema};

use crate::drift::Sample;

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
    /// An evaluation was asked of a file without the target column.
    #[error("`{path}` line 1: no `{target}` column: an evaluation needs each record's true class")]
    Unlabelled {
        /// The input file.
        path: PathBuf,
        /// The target column the schema names.
        target: String,
    },
    /// Two header columns share a name.
    #[error(transparent)]
    DuplicateColumn(#[from] model::header::DuplicateColumn),
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
    /// Input column of the target, when the file is labelled.
    target_column: Option<usize>,
}

impl Layout {
    /// Maps a header (BOM and surrounding spaces removed) onto the schema.
    fn from_header(schema: &Schema, header: Vec<String>, path: &Path) -> Result<Self, ScoreError> {
        model::header::check_unique_columns(path, &header)?;
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
            target_column: position(&schema.target),
            ignored_columns: header
                .iter()
                .filter(|name| {
                    schema.feature_index(name).is_none() && !schema.id_columns.contains(name)
                })
                .cloned()
                .collect(),
        })
    }

    /// The output header: id (if any), one probability per class, label, and the features imputed
    /// and outside the training range.
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
            .chain(["label", "imputed", "out_of_training_range"].map(str::to_owned))
            .collect()
    }
}

/// Feature names as one output cell in `cell`, separated by `;` (empty when there are none).
fn joined_names<'a>(cell: &mut String, features: impl Iterator<Item = &'a model::FeatureSpec>) {
    cell.clear();
    for feature in features {
        if !cell.is_empty() {
            cell.push(';');
        }
        cell.push_str(&feature.name);
    }
}

/// Rows scored per chunk: enough that splitting a chunk's predictions across cores costs
/// little, few enough that memory stays flat whatever the file's size.
const CHUNK_ROWS: usize = 4096;

/// Validated rows waiting for their predictions, then for the writer, kept in reused buffers.
#[derive(Default)]
struct Chunk {
    /// Raw rows, one after another.
    raws: Vec<f64>,
    /// Row width.
    n_features: usize,
    /// Id cells, one after another, and where each ends (none without an id column).
    ids: String,
    id_ends: Vec<usize>,
    /// Class probabilities, one row after another, and the decided class per row.
    probabilities: Vec<f64>,
    labels: Vec<usize>,
    n_classes: usize,
    rows: usize,
}

impl Chunk {
    fn clear(&mut self) {
        self.raws.clear();
        self.ids.clear();
        self.id_ends.clear();
        self.rows = 0;
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn push(&mut self, raw: &[f64], id: Option<&str>) {
        self.n_features = raw.len();
        self.raws.extend_from_slice(raw);
        if let Some(id) = id {
            self.ids.push_str(id);
            self.id_ends.push(self.ids.len());
        }
        self.rows += 1;
    }

    fn raw(&self, row: usize) -> &[f64] {
        &self.raws[row * self.n_features..(row + 1) * self.n_features]
    }

    fn id(&self, row: usize) -> Option<&str> {
        let end = *self.id_ends.get(row)?;
        let start = if row == 0 { 0 } else { self.id_ends[row - 1] };
        self.ids.get(start..end)
    }

    fn probabilities(&self, row: usize) -> &[f64] {
        &self.probabilities[row * self.n_classes..(row + 1) * self.n_classes]
    }

    /// The chunk's rows as parts of at most [`PART_ROWS`] rows, each with its own slices of
    /// the output, for threads to take from a queue: each row's answer is what
    /// `Artifact::predict_raw` gives for it, whichever thread computed it.
    fn parts(&mut self, n_classes: usize) -> Vec<Part<'_>> {
        self.n_classes = n_classes;
        self.probabilities.clear();
        self.probabilities.resize(self.rows * n_classes, 0.0);
        self.labels.clear();
        self.labels.resize(self.rows, 0);
        let raws = self.raws.chunks(PART_ROWS * self.n_features.max(1));
        let probabilities = self.probabilities.chunks_mut(PART_ROWS * n_classes.max(1));
        let labels = self.labels.chunks_mut(PART_ROWS);
        raws.zip(probabilities)
            .zip(labels)
            .map(|((raws, probabilities), labels)| Part {
                raws,
                probabilities,
                labels,
            })
            .collect()
    }
}

/// Rows predicted by one thread at a time: each part lays its trees out for the block walk
/// again (a tenth of a 200-tree forest's scoring time at 512 rows), and a chunk still splits
/// into two parts per core on this two-core machine.
const PART_ROWS: usize = 1024;

/// A slice of a chunk's rows and of its outputs.
struct Part<'a> {
    raws: &'a [f64],
    probabilities: &'a mut [f64],
    labels: &'a mut [usize],
}

/// Predicts parts from `queue` until it is empty.
fn drain(artifact: &Artifact, queue: &std::sync::Mutex<Vec<Part<'_>>>) {
    loop {
        // A poisoned lock means another thread panicked; the scope passes that panic on.
        let Some(part) = queue.lock().ok().and_then(|mut parts| parts.pop()) else {
            return;
        };
        artifact.predict_rows(part.raws, part.probabilities, part.labels);
    }
}

/// Reads a CSV file row by row, validating and predicting each through the artifact: the one
/// path behind `serve score` and `serve drift`.
pub struct RowReader<'a, R: Read> {
    artifact: &'a Artifact,
    path: &'a Path,
    show_values: bool,
    reader: csv::Reader<BufReader<LineEndings<R>>>,
    layout: Layout,
    record: csv::StringRecord,
    raw: Vec<f64>,
    inputs: Vec<f64>,
    prediction: model::Prediction,
}

impl<'a, R: Read> RowReader<'a, R> {
    /// Reads the header and maps it onto the artifact's schema; `path` names the input in
    /// errors.
    pub fn new(artifact: &'a Artifact, path: &'a Path, input: R) -> Result<Self, ScoreError> {
        Self::with_values(artifact, path, input, false)
    }

    /// As [`RowReader::new`]; `show_values` lets errors quote the offending cell (patient
    /// data, so off unless asked for).
    pub fn with_values(
        artifact: &'a Artifact,
        path: &'a Path,
        input: R,
        show_values: bool,
    ) -> Result<Self, ScoreError> {
        // The csv crate splits CR-only records but counts lines only at `\n`; normalising the
        // endings on the fly keeps line numbers right in errors. The BOM is stripped below.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(BufReader::new(LineEndings::new(input)));
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| csv_error(path, error))?
            .iter()
            .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        let layout = Layout::from_header(&artifact.schema, header, path)?;
        Ok(RowReader {
            artifact,
            path,
            show_values,
            reader,
            layout,
            record: csv::StringRecord::new(),
            raw: Vec::with_capacity(artifact.schema.features.len()),
            inputs: Vec::new(),
            prediction: model::Prediction {
                label_idx: 0,
                probabilities: Vec::new(),
            },
        })
    }

    /// Reads the next row without validating or predicting it (a row of another shard);
    /// `false` at the end of the file.
    pub fn skip(&mut self) -> Result<bool, ScoreError> {
        self.reader
            .read_record(&mut self.record)
            .map_err(|error| csv_error(self.path, error))
    }

    /// Reads, validates and predicts the next row; `false` at the end of the file.
    pub fn advance(&mut self) -> Result<bool, ScoreError> {
        if !self.validate_next()? {
            return Ok(false);
        }
        self.artifact
            .predict_raw_into(&self.raw, &mut self.inputs, &mut self.prediction);
        Ok(true)
    }

    /// Reads and validates the next row without predicting it (the batch scorer predicts
    /// rows in chunks, on every core); `false` at the end of the file.
    pub fn validate_next(&mut self) -> Result<bool, ScoreError> {
        if !self
            .reader
            .read_record(&mut self.record)
            .map_err(|error| csv_error(self.path, error))?
        {
            return Ok(false);
        }
        // A quote opened and never closed makes one field of every following line; a clinical
        // table has no multi-line cells, so such a field is refused at the line it starts.
        if self.record.iter().any(|cell| cell.contains(['\n', '\r'])) {
            return Err(ScoreError::Csv {
                path: self.path.to_path_buf(),
                line: self.record.position().map_or(0, csv::Position::line),
                reason: "a quoted field spans lines (is a closing `\"` missing?)".into(),
            });
        }
        let schema = &self.artifact.schema;
        let record = &self.record;
        // Columns were mapped once per file: each cell is parsed where it sits, no name looked
        // up and nothing allocated for a valid row.
        let cells = self
            .layout
            .feature_columns
            .iter()
            .map(|idx| record.get(*idx).unwrap_or(""));
        schema
            .encode_text_row(cells, &mut self.raw)
            .map_err(|errors| {
                bad_value(
                    schema,
                    &self.layout,
                    record,
                    self.path,
                    &errors,
                    self.show_values,
                )
            })?;
        Ok(true)
    }

    /// The current row's raw values (schema order).
    pub fn raw(&self) -> &[f64] {
        &self.raw
    }

    /// The current row's prediction.
    pub fn prediction(&self) -> &model::Prediction {
        &self.prediction
    }

    /// The current row's id cell as written (an id is echoed byte for byte), when the file
    /// has an id column.
    pub fn id(&self) -> Option<&str> {
        self.layout
            .id_column
            .as_ref()
            .map(|(_, idx)| self.record.get(*idx).unwrap_or(""))
    }

    /// Input columns the model does not use.
    pub fn ignored_columns(&self) -> &[String] {
        &self.layout.ignored_columns
    }

    /// Whether the file has the target column.
    pub fn is_labelled(&self) -> bool {
        self.layout.target_column.is_some()
    }

    /// The current row's true class, read from the target column by the schema's rule
    /// ([`Schema::class_of_label`]); an error names the line and column when the file has no
    /// target column, or the cell is empty or not one of the classes.
    pub fn label(&self) -> Result<usize, ScoreError> {
        let schema = &self.artifact.schema;
        let line = self.record.position().map_or(0, csv::Position::line);
        let Some(column) = self.layout.target_column else {
            return Err(ScoreError::Unlabelled {
                path: self.path.to_path_buf(),
                target: schema.target.clone(),
            });
        };
        let cell = self.record.get(column).unwrap_or("");
        schema
            .class_of_label(cell)
            .map_err(|problem| ScoreError::BadValue {
                path: self.path.to_path_buf(),
                line,
                column: schema.target.clone(),
                problem: if self.show_values && !cell.trim().is_empty() {
                    format!("invalid label `{}`: {problem}", cell.trim())
                } else {
                    problem
                },
            })
    }
}

/// A CSV reader error as a [`ScoreError`] naming the input and line.
fn csv_error(path: &Path, error: csv::Error) -> ScoreError {
    let line = error.position().map_or(0, |position| position.line());
    match error.into_kind() {
        csv::ErrorKind::Io(source) => ScoreError::Read {
            path: path.to_path_buf(),
            source,
        },
        kind => ScoreError::Csv {
            path: path.to_path_buf(),
            line,
            reason: csv_reason(kind),
        },
    }
}

/// One of `count` contiguous parts of a file's rows (`--shard INDEX/COUNT`), so a large file
/// can be scored by parallel jobs whose outputs, concatenated in order, equal one run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `INDEX/COUNT`, e.g. `0/4`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not a shard like `0/4` (index below count)");
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let index: usize = index.trim().parse().map_err(|_| invalid())?;
        let count: usize = count.trim().parse().map_err(|_| invalid())?;
        if count == 0 || index >= count {
            return Err(invalid());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The rows of this shard among `n_rows`: contiguous, every row in exactly one shard.
    pub fn rows(self, n_rows: usize) -> std::ops::Range<usize> {
        let bound = |part: usize| {
            usize::try_from(n_rows as u128 * part as u128 / self.count as u128).unwrap_or(n_rows)
        };
        bound(self.index)..bound(self.index + 1)
    }
}

/// How a file is scored.
#[derive(Debug, Clone, Default)]
pub struct ScoreOptions {
    /// Quote offending cells in errors (patient data: off by default).
    pub show_values: bool,
    /// Score only these rows (0-based, header excluded); all when `None`.
    pub rows: Option<std::ops::Range<usize>>,
    /// Leave the header row out (every shard but the first, so outputs concatenate).
    pub no_header: bool,
}

/// Scores `input`'s rows into `output` as CSV: id (if the file has one), one probability per
/// class, the label, and the features imputed and outside the training range (names separated
/// by `;`). `input_path` and `output_path` name the two in errors.
pub fn score(
    artifact: &Artifact,
    input_path: &Path,
    input: impl Read,
    output_path: &Path,
    output: impl Write,
    options: &ScoreOptions,
) -> Result<ScoreSummary, ScoreError> {
    let schema = &artifact.schema;
    let write_error = |error: csv::Error| ScoreError::Write {
        path: output_path.to_path_buf(),
        source: std::io::Error::other(error),
    };
    let mut rows = RowReader::with_values(artifact, input_path, input, options.show_values)?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(output));
    if !options.no_header {
        writer
            .write_record(rows.layout.output_header(schema))
            .map_err(write_error)?;
    }
    let mut cursor = RowCursor {
        wanted: options.rows.clone().unwrap_or(0..usize::MAX),
        row_idx: 0,
        more: true,
    };
    // Asked once per file: on Linux it reads the process's cgroup limits.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Three chunks in turn: while the other cores predict one, this thread writes the one
    // predicted before it and reads and validates the one after it, then helps predict.
    // Rows leave in file order.
    let mut to_write = Chunk::default();
    let mut to_predict = Chunk::default();
    let mut to_read = Chunk::default();
    cursor.fill(&mut rows, &mut to_predict)?;
    let mut cell = String::new();
    let mut n_rows = 0;
    while to_predict.len() > 0 || to_write.len() > 0 {
        let queue = std::sync::Mutex::new(to_predict.parts(schema.classes.len()));
        std::thread::scope(|scope| {
            for _ in 1..cores.max(2) {
                scope.spawn(|| drain(artifact, &queue));
            }
            let done = write_chunk(&mut writer, schema, &to_write, &mut cell)
                .map_err(write_error)
                .and_then(|()| cursor.fill(&mut rows, &mut to_read));
            // Then this thread helps predict what is left.
            drain(artifact, &queue);
            done
        })?;
        n_rows += to_write.len() as u64;
        // The predicted chunk is written next; the read one predicted; the written one reused.
        std::mem::swap(&mut to_write, &mut to_predict);
        std::mem::swap(&mut to_predict, &mut to_read);
    }
    writer.flush().map_err(|source| ScoreError::Write {
        path: output_path.to_path_buf(),
        source,
    })?;
    Ok(ScoreSummary {
        n_rows,
        ignored_columns: rows.ignored_columns().to_vec(),
    })
}

/// Which rows of the file a run scores, and how far the reading has got.
struct RowCursor {
    /// The rows to score (0-based, header excluded).
    wanted: std::ops::Range<usize>,
    /// The next row's index.
    row_idx: usize,
    /// Whether rows may remain.
    more: bool,
}

impl RowCursor {
    /// Reads and validates the next [`CHUNK_ROWS`] wanted rows into `chunk` (fewer at the end).
    fn fill<R: Read>(
        &mut self,
        rows: &mut RowReader<'_, R>,
        chunk: &mut Chunk,
    ) -> Result<(), ScoreError> {
        chunk.clear();
        while self.more && chunk.len() < CHUNK_ROWS {
            // Rows before the shard are read, not validated: they are another job's.
            if self.row_idx >= self.wanted.end {
                self.more = false;
                break;
            }
            let read = if self.row_idx < self.wanted.start {
                rows.skip()?
            } else {
                rows.validate_next()?
            };
            if !read {
                self.more = false;
                break;
            }
            if self.row_idx >= self.wanted.start {
                chunk.push(rows.raw(), rows.id());
            }
            self.row_idx += 1;
        }
        Ok(())
    }
}

/// Writes a predicted chunk's rows: id, probabilities, label, imputed and out-of-range names.
fn write_chunk<W: Write>(
    writer: &mut csv::Writer<W>,
    schema: &Schema,
    chunk: &Chunk,
    cell: &mut String,
) -> Result<(), csv::Error> {
    for row in 0..chunk.len() {
        if let Some(id) = chunk.id(row) {
            writer.write_field(id)?;
        }
        for probability in chunk.probabilities(row) {
            // `Display` for f64 is the shortest text that parses back to the same value.
            cell.clear();
            let _ = write!(cell, "{probability}");
            writer.write_field(&*cell)?;
        }
        writer.write_field(&schema.classes[chunk.labels[row]])?;
        let raw = chunk.raw(row);
        joined_names(cell, schema.imputed(raw));
        writer.write_field(&*cell)?;
        joined_names(cell, schema.beyond_training(raw));
        writer.write_field(&*cell)?;
        writer.write_record(None::<&[u8]>)?;
    }
    Ok(())
}

/// The error for a row that fails validation: its line, the first bad column and its cell.
fn bad_value(
    schema: &Schema,
    layout: &Layout,
    record: &csv::StringRecord,
    path: &Path,
    errors: &[model::FieldError],
    show_values: bool,
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
        problem: if show_values {
            format!("invalid value `{cell}`: {}", first.problem)
        } else {
            format!("invalid value: {}", first.problem.rule())
        },
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

/// Reads every row of the file `input` (`-`: standard input) into a drift [`Sample`]:
/// the rows as the model sees them and what it predicts for each.
pub fn sample_file(
    artifact: &Artifact,
    input: &Path,
    show_values: bool,
) -> Result<Sample, ScoreError> {
    let read = |path: &Path, reader: &mut dyn Read| -> Result<Sample, ScoreError> {
        let mut rows = RowReader::with_values(artifact, path, reader, show_values)?;
        let mut sample = Sample::new(artifact.schema.features.len());
        while rows.advance()? {
            let prediction = rows.prediction();
            let probability = prediction.reported_probability(artifact.schema.positive_class);
            sample.push(rows.raw(), probability, prediction.label_idx);
        }
        Ok(sample)
    };
    if is_dash(input) {
        return read(Path::new(STDIN), &mut std::io::stdin().lock());
    }
    let mut file = File::open(input).map_err(|source| ScoreError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    read(input, &mut file)
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
    show_values: bool,
    shard: Option<Shard>,
) -> Result<ScoreSummary, ScoreError> {
    let mut options = ScoreOptions {
        show_values,
        ..ScoreOptions::default()
    };
    if is_dash(input) {
        if shard.is_some() {
            return Err(ScoreError::Csv {
                path: PathBuf::from(STDIN),
                line: 0,
                reason: "a shard needs a file (its rows are counted first), not standard input"
                    .into(),
            });
        }
        let stdin = std::io::stdin();
        return score_into(artifact, Path::new(STDIN), stdin.lock(), output, &options);
    }
    let open = || {
        File::open(input).map_err(|source| ScoreError::Read {
            path: input.to_path_buf(),
            source,
        })
    };
    if let Some(shard) = shard {
        // Shards are contiguous, so the rows are counted first: one fast pass without parsing
        // values.
        let n_rows = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(BufReader::new(LineEndings::new(open()?)))
            .into_byte_records()
            .count();
        options.rows = Some(shard.rows(n_rows));
        options.no_header = shard.index > 0;
    }
    score_into(artifact, input, open()?, output, &options)
}

fn score_into(
    artifact: &Artifact,
    input_path: &Path,
    input: impl Read,
    output: Option<&Path>,
    options: &ScoreOptions,
) -> Result<ScoreSummary, ScoreError> {
    let Some(output) = output.filter(|path| !is_dash(path)) else {
        let stdout = std::io::stdout();
        return score(
            artifact,
            input_path,
            input,
            Path::new(STDOUT),
            stdout.lock(),
            options,
        );
    };
    let write_error = |source| ScoreError::Write {
        path: output.to_path_buf(),
        source,
    };
    let mut target = model::AtomicFile::create(output).map_err(write_error)?;
    let summary = score(artifact, input_path, input, output, &mut target, options)?;
    target.commit().map_err(write_error)?;
    Ok(summary)
}
