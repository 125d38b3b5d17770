//! The embedded run store: every `train` run's provenance, parameters, per-fold metrics and
//! files in one SQLite database, with a versioned schema migrated forward on open.
//!
//! SQLite in WAL mode with a busy timeout lets several `train` processes write one store: each
//! change is one `BEGIN IMMEDIATE` transaction, so writers queue rather than fail, and readers
//! never block them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{
    EvaluationRecord, FileEntry, ModelRecord, RunDetail, RunFinish, RunStart, RunStatus, RunSummary,
};

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied. Never edit
/// one that has shipped: add the next.
const MIGRATIONS: [&str; 3] = [
    // 1: runs with their provenance, parameters and per-fold metrics.
    "CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        dataset TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER,
        git_commit TEXT,
        dataset_path TEXT NOT NULL,
        dataset_sha256 TEXT NOT NULL,
        config TEXT NOT NULL,
        seed INTEGER NOT NULL,
        arguments TEXT NOT NULL,
        chosen_model TEXT,
        ranking_metric TEXT,
        artifact_sha256 TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_dataset ON runs (dataset, started_at_ms);
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        model TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, model, name)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        model TEXT NOT NULL,
        name TEXT NOT NULL,
        fold INTEGER NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, model, name, fold)
    );",
    // 2: the run's files (leaderboard, plots, model card) and the registry version it became.
    "CREATE TABLE files (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        contents BLOB NOT NULL,
        PRIMARY KEY (run_id, path)
    );
    ALTER TABLE runs ADD COLUMN leaderboard TEXT;
    ALTER TABLE runs ADD COLUMN registry_version INTEGER;",
    // 3: evaluations of an artifact on new labelled data (`train evaluate`).
    "CREATE TABLE evaluations (
        evaluation_id TEXT PRIMARY KEY,
        created_at_ms INTEGER NOT NULL,
        dataset TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        input_path TEXT NOT NULL,
        input_sha256 TEXT NOT NULL,
        n_records INTEGER NOT NULL,
        report TEXT NOT NULL
    );
    CREATE INDEX evaluations_by_artifact ON evaluations (artifact_sha256, created_at_ms);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Errors from the run store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("run store `{path}`: {action}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The store was written by a newer vigil.
    #[error(
        "run store `{path}` has schema version {found}; this build knows up to {SCHEMA_VERSION}: upgrade vigil"
    )]
    Newer {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
    },
    /// No run, or more than one, starts with the id given.
    #[error("{0}")]
    NotFound(String),
    /// The folder for the store could not be created.
    #[error("cannot create the folder of run store `{path}`")]
    Folder {
        /// The database file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
}

/// An open run store.
pub struct Store {
    connection: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_at_version(path, SCHEMA_VERSION)
    }

    /// Opens the store migrated only up to `version`: tests use it to build stores as older
    /// builds wrote them.
    #[doc(hidden)]
    pub fn open_at_version(path: &Path, version: u32) -> Result<Self, StoreError> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let fail = |action| failure(path, action);
        let connection = Connection::open(path).map_err(fail("opening"))?;
        // Another process may hold the write lock for a moment: wait rather than fail.
        connection
            .busy_timeout(Duration::from_secs(60))
            .map_err(fail("setting the busy timeout"))?;
        switch_to_wal(&connection).map_err(fail("switching to WAL"))?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(fail("enabling foreign keys"))?;
        let mut store = Store {
            connection,
            path: path.to_path_buf(),
        };
        store.migrate(version)?;
        Ok(store)
    }

    fn fail(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + use<> {
        failure(&self.path, action)
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.fail("reading the schema version"))
    }

    fn migrate(&mut self, target: u32) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |action| failure(&path, action);
        // The version is read inside the write transaction, so two processes opening a new
        // store at once apply each migration exactly once.
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail("starting a migration"))?;
        let found: u32 = transaction
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(fail("reading the schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer { path, found });
        }
        for migration in MIGRATIONS.iter().take(target as usize).skip(found as usize) {
            transaction
                .execute_batch(migration)
                .map_err(fail("migrating the schema"))?;
        }
        if target > found {
            transaction
                .pragma_update(None, "user_version", target)
                .map_err(fail("recording the schema version"))?;
        }
        transaction.commit().map_err(fail("committing a migration"))
    }

    /// Records a run as started.
    pub fn start_run(&self, run: &RunStart) -> Result<(), StoreError> {
        let provenance = &run.provenance;
        let arguments = serde_json::to_string(&provenance.arguments).unwrap_or_default();
        self.connection
            .execute(
                "INSERT INTO runs (run_id, dataset, status, started_at_ms, git_commit, dataset_path,
                    dataset_sha256, config, seed, arguments)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    run.run_id,
                    run.dataset,
                    RunStatus::Running.name(),
                    run.started_at_ms,
                    provenance.git_commit,
                    provenance.dataset_path,
                    provenance.dataset_sha256,
                    provenance.config,
                    provenance.seed as i64,
                    arguments,
                ],
            )
            .map_err(self.fail("recording a run's start"))?;
        Ok(())
    }

    /// Records everything a finished run produced, in one transaction.
    pub fn finish_run(&mut self, run_id: &str, finish: &RunFinish<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |action| failure(&path, action);
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail("starting to record a run"))?;
        for model in &finish.models {
            for (name, value) in &model.params {
                transaction
                    .execute(
                        "INSERT OR REPLACE INTO params VALUES (?1, ?2, ?3, ?4)",
                        params![run_id, model.model, name, value],
                    )
                    .map_err(fail("recording parameters"))?;
            }
            for (metric, values) in &model.fold_metrics {
                for (fold, value) in values.iter().enumerate() {
                    transaction
                        .execute(
                            "INSERT OR REPLACE INTO metrics VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![run_id, model.model, metric, fold as i64, finite(*value)],
                        )
                        .map_err(fail("recording metrics"))?;
                }
            }
        }
        for (file_path, contents) in &finish.files {
            insert_file(&transaction, run_id, file_path, contents)
                .map_err(fail("recording files"))?;
        }
        transaction
            .execute(
                "UPDATE runs SET status = ?2, ended_at_ms = ?3, chosen_model = ?4, ranking_metric = ?5,
                    artifact_sha256 = ?6, leaderboard = ?7 WHERE run_id = ?1",
                params![
                    run_id,
                    RunStatus::Finished.name(),
                    finish.ended_at_ms,
                    finish.chosen_model,
                    finish.ranking_metric,
                    finish.artifact_sha256,
                    finish.leaderboard,
                ],
            )
            .map_err(fail("recording a run's end"))?;
        transaction.commit().map_err(fail("committing a run"))
    }

    /// Records a run as failed, with the error chain.
    pub fn fail_run(&self, run_id: &str, ended_at_ms: i64, error: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET status = ?2, ended_at_ms = ?3, error = ?4 WHERE run_id = ?1",
                params![run_id, RunStatus::Failed.name(), ended_at_ms, error],
            )
            .map_err(self.fail("recording a run's failure"))?;
        Ok(())
    }

    /// Records the registry version a run's model became.
    pub fn set_registry_version(&self, run_id: &str, version: u32) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET registry_version = ?2 WHERE run_id = ?1",
                params![run_id, version],
            )
            .map_err(self.fail("recording the registry version"))?;
        Ok(())
    }

    /// The most recent runs first, optionally of one dataset.
    pub fn list(&self, dataset: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "{SUMMARY_SELECT} WHERE (?1 IS NULL OR r.dataset = ?1)
                 ORDER BY r.started_at_ms DESC, r.run_id LIMIT ?2"
            ))
            .map_err(self.fail("listing runs"))?;
        let rows = statement
            .query_map(params![dataset, limit as i64], summary_from_row)
            .map_err(self.fail("listing runs"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.fail("listing runs"))
    }

    /// The full id of the one run whose id starts with `prefix`.
    pub fn resolve(&self, prefix: &str) -> Result<String, StoreError> {
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        let mut statement = self
            .connection
            .prepare("SELECT run_id FROM runs WHERE run_id LIKE ?1 LIMIT 2")
            .map_err(self.fail("finding a run"))?;
        let ids = statement
            .query_map(params![pattern], |row| row.get::<_, String>(0))
            .map_err(self.fail("finding a run"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.fail("finding a run"))?;
        match ids.as_slice() {
            [only] if !prefix.is_empty() => Ok(only.clone()),
            [] => Err(StoreError::NotFound(format!(
                "no run `{prefix}` in `{}` (`train runs list` shows them)",
                self.path.display()
            ))),
            _ => Err(StoreError::NotFound(format!(
                "more than one run starts with `{prefix}` in `{}`: give more characters",
                self.path.display()
            ))),
        }
    }

    /// Everything recorded about one run (`id` may be a unique prefix).
    pub fn get(&self, id: &str) -> Result<RunDetail, StoreError> {
        let run_id = self.resolve(id)?;
        let summary = self
            .connection
            .query_row(
                &format!("{SUMMARY_SELECT} WHERE r.run_id = ?1"),
                params![run_id],
                summary_from_row,
            )
            .map_err(self.fail("reading a run"))?;
        let (git_commit, dataset_path, dataset_sha256, config, seed, arguments, leaderboard, error) =
            self.connection
                .query_row(
                    "SELECT git_commit, dataset_path, dataset_sha256, config, seed, arguments,
                        leaderboard, error FROM runs WHERE run_id = ?1",
                    params![run_id],
                    |row| {
                        Ok((
                            row.get::<_, Option<String>>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, String>(5)?,
                            row.get::<_, Option<String>>(6)?,
                            row.get::<_, Option<String>>(7)?,
                        ))
                    },
                )
                .map_err(self.fail("reading a run"))?;
        let evaluations = match &summary.artifact_sha256 {
            Some(sha256) => self.evaluations(sha256)?,
            None => Vec::new(),
        };
        Ok(RunDetail {
            evaluations,
            models: self.models(&run_id)?,
            files: self.files(&run_id)?,
            summary,
            provenance: crate::Provenance {
                git_commit,
                dataset_path,
                dataset_sha256,
                config,
                seed: seed as u64,
                arguments: serde_json::from_str(&arguments).unwrap_or_default(),
            },
            leaderboard,
            error,
        })
    }

    fn models(&self, run_id: &str) -> Result<Vec<ModelRecord>, StoreError> {
        let mut models: Vec<ModelRecord> = Vec::new();
        let mut statement = self
            .connection
            .prepare("SELECT model, name, value FROM params WHERE run_id = ?1 ORDER BY rowid")
            .map_err(self.fail("reading parameters"))?;
        let rows = statement
            .query_map(params![run_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(self.fail("reading parameters"))?;
        for row in rows {
            let (model, name, value) = row.map_err(self.fail("reading parameters"))?;
            model_entry(&mut models, &model).params.push((name, value));
        }
        let mut statement = self
            .connection
            .prepare(
                "SELECT model, name, fold, value FROM metrics WHERE run_id = ?1 ORDER BY rowid",
            )
            .map_err(self.fail("reading metrics"))?;
        let rows = statement
            .query_map(params![run_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<f64>>(3)?,
                ))
            })
            .map_err(self.fail("reading metrics"))?;
        for row in rows {
            let (model, name, value) = row.map_err(self.fail("reading metrics"))?;
            let entry = model_entry(&mut models, &model);
            let value = value.unwrap_or(f64::NAN);
            match entry
                .fold_metrics
                .iter_mut()
                .find(|(metric, _)| *metric == name)
            {
                Some((_, values)) => values.push(value),
                None => entry.fold_metrics.push((name, vec![value])),
            }
        }
        Ok(models)
    }

    fn files(&self, run_id: &str) -> Result<Vec<FileEntry>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT path, sha256, length(contents) FROM files WHERE run_id = ?1 ORDER BY path",
            )
            .map_err(self.fail("listing files"))?;
        let rows = statement
            .query_map(params![run_id], |row| {
                Ok(FileEntry {
                    path: row.get(0)?,
                    sha256: row.get(1)?,
                    bytes: row.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(self.fail("listing files"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.fail("listing files"))
    }

    /// The contents of one of a run's files.
    pub fn file(&self, run_id: &str, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection
            .query_row(
                "SELECT contents FROM files WHERE run_id = ?1 AND path = ?2",
                params![run_id, path],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.fail("reading a file"))
    }

    /// Records an evaluation of an artifact on labelled data.
    pub fn record_evaluation(&self, evaluation: &EvaluationRecord) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO evaluations VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    evaluation.evaluation_id,
                    evaluation.created_at_ms,
                    evaluation.dataset,
                    evaluation.artifact_sha256,
                    evaluation.input_path,
                    evaluation.input_sha256,
                    evaluation.n_records as i64,
                    evaluation.report,
                ],
            )
            .map_err(self.fail("recording an evaluation"))?;
        Ok(())
    }

    /// The evaluations of one artifact, oldest first.
    pub fn evaluations(&self, artifact_sha256: &str) -> Result<Vec<EvaluationRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT evaluation_id, created_at_ms, dataset, artifact_sha256, input_path,
                    input_sha256, n_records, report
                 FROM evaluations WHERE artifact_sha256 = ?1 ORDER BY created_at_ms, evaluation_id",
            )
            .map_err(self.fail("listing evaluations"))?;
        let rows = statement
            .query_map(params![artifact_sha256], |row| {
                Ok(EvaluationRecord {
                    evaluation_id: row.get(0)?,
                    created_at_ms: row.get(1)?,
                    dataset: row.get(2)?,
                    artifact_sha256: row.get(3)?,
                    input_path: row.get(4)?,
                    input_sha256: row.get(5)?,
                    n_records: row.get::<_, i64>(6)? as usize,
                    report: row.get(7)?,
                })
            })
            .map_err(self.fail("listing evaluations"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.fail("listing evaluations"))
    }

    /// SQLite's own consistency check: `ok` when the database is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(self.fail("checking integrity"))
    }
}

/// Puts the database in WAL mode. The switch needs the database to itself, and SQLite answers
/// "locked" at once (without its busy handler) while another process is creating or switching
/// the same new store, so the switch is retried for up to a minute.
fn switch_to_wal(connection: &Connection) -> rusqlite::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match connection.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < Duration::from_secs(60) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Turns a SQLite error into a [`StoreError`] naming the store and the action.
fn failure(
    path: &Path,
    action: &'static str,
) -> impl FnOnce(rusqlite::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |source| StoreError::Sqlite {
        path,
        action,
        source,
    }
}

/// Inserts one of a run's files. The row is inserted with a zero-filled blob of the file's
/// length, which SQLite stores without making it in memory, and the contents are then written
/// into it a mebibyte at a time. Bound as a parameter, the contents would be copied twice in
/// memory (the bound value and the row's record): a million-row run's 49 MB out-of-fold table
/// raised the end of a run by 96 MB, above every earlier stage's peak.
fn insert_file(
    transaction: &rusqlite::Transaction<'_>,
    run_id: &str,
    path: &str,
    contents: &[u8],
) -> rusqlite::Result<()> {
    const CHUNK_BYTES: usize = 1 << 20;
    transaction.execute(
        "INSERT OR REPLACE INTO files VALUES (?1, ?2, ?3, zeroblob(?4))",
        params![
            run_id,
            path,
            crate::sha256_hex(contents),
            contents.len() as i64
        ],
    )?;
    let mut blob = transaction.blob_open(
        rusqlite::MAIN_DB,
        "files",
        "contents",
        transaction.last_insert_rowid(),
        false,
    )?;
    for (chunk_idx, chunk) in contents.chunks(CHUNK_BYTES).enumerate() {
        blob.write_at(chunk, chunk_idx * CHUNK_BYTES)?;
    }
    Ok(())
}

/// SQLite stores NaN as NULL; a failed fold's metric reads back as NaN.
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

fn model_entry<'a>(models: &'a mut Vec<ModelRecord>, model: &str) -> &'a mut ModelRecord {
    let position = match models.iter().position(|entry| entry.model == model) {
        Some(position) => position,
        None => {
            models.push(ModelRecord {
                model: model.to_owned(),
                params: Vec::new(),
                fold_metrics: Vec::new(),
            });
            models.len() - 1
        }
    };
    &mut models[position]
}

/// A run's summary row, with the chosen model's mean of the ranking metric.
const SUMMARY_SELECT: &str = "SELECT r.run_id, r.dataset, r.status, r.started_at_ms, r.ended_at_ms,
        r.chosen_model, r.ranking_metric, r.artifact_sha256, r.registry_version,
        (SELECT avg(m.value) FROM metrics m WHERE m.run_id = r.run_id
            AND m.model = r.chosen_model AND m.name = r.ranking_metric)
    FROM runs r";

fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    let status: String = row.get(2)?;
    Ok(RunSummary {
        run_id: row.get(0)?,
        dataset: row.get(1)?,
        status: RunStatus::parse(&status),
        started_at_ms: row.get(3)?,
        ended_at_ms: row.get(4)?,
        chosen_model: row.get(5)?,
        ranking_metric: row.get(6)?,
        artifact_sha256: row.get(7)?,
        registry_version: row.get(8)?,
        ranking_value: row.get(9)?,
    })
}
