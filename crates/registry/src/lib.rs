//! The model registry: numbered, immutable versions of one dataset's model, and aliases
//! (`production`, `staging`, `candidate`) that point at them with a history of every move.
//!
//! On disk a registry is one folder per dataset:
//!
//! ```text
//! <root>/registry.json        versions, aliases and alias history (format-versioned)
//! <root>/versions/<N>/        model.bin and the run's reports, never changed once written
//! <root>/.lock                held while the registry changes
//! ```
//!
//! Every change happens under an exclusive lock on `.lock`, so two processes registering or
//! promoting at once serialise; a version folder appears by one rename of a complete staging
//! folder, and `registry.json` is replaced atomically, so a crash leaves the registry as it was
//! before the change or after it. Readers (the server polling an alias) never take the lock:
//! they read `registry.json`, which is always whole.
//!
//! The registry depends on `model` only, so the server can follow an alias without linking
//! training code.

mod gate;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use model::{Metric, MetricSummary};

pub use gate::{Gate, GateRefusal};

/// Version of the `registry.json` layout; other versions are refused with a clear error.
pub const FORMAT_VERSION: u32 = 1;

/// The file every version folder holds: the artifact the server loads.
pub const MODEL_FILE: &str = "model.bin";

/// Errors from reading or changing a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file or folder could not be read or written.
    #[error("cannot access `{path}`")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// `registry.json` is not a registry this version understands.
    #[error("`{path}` is not a readable registry: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No version has this number.
    #[error("version {version} is not in the registry at `{root}` (versions: {known})")]
    UnknownVersion {
        /// The number asked for.
        version: u32,
        /// The registry.
        root: PathBuf,
        /// The versions that exist, for the message.
        known: String,
    },
    /// The alias points nowhere.
    #[error("alias `{alias}` is not set in the registry at `{root}`")]
    UnsetAlias {
        /// The alias.
        alias: Alias,
        /// The registry.
        root: PathBuf,
    },
    /// A rollback has nothing to go back to.
    #[error("alias `{alias}` has no earlier version to roll back to")]
    NothingToRollBack {
        /// The alias.
        alias: Alias,
    },
    /// The registry belongs to another dataset.
    #[error("the registry at `{root}` holds `{registry}` models, not `{given}`")]
    OtherDataset {
        /// The registry.
        root: PathBuf,
        /// Its dataset.
        registry: String,
        /// The dataset of the model offered.
        given: String,
    },
    /// The promotion gate refused the version.
    #[error(transparent)]
    Gate(#[from] GateRefusal),
    /// A version's file does not match the SHA-256 recorded when it was registered.
    #[error(
        "version {version}'s `{path}` does not match its registered SHA-256 (the file changed or was damaged)"
    )]
    Damaged {
        /// The version.
        version: u32,
        /// Its model file.
        path: PathBuf,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A named pointer to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alias {
    /// What the server serves.
    Production,
    /// Under review before production.
    Staging,
    /// The latest registered run, not yet reviewed.
    Candidate,
}

impl Alias {
    /// Every alias, in display order.
    pub const ALL: [Alias; 3] = [Alias::Production, Alias::Staging, Alias::Candidate];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Alias::Production => "production",
            Alias::Staging => "staging",
            Alias::Candidate => "candidate",
        }
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Alias {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Alias::ALL
            .into_iter()
            .find(|alias| alias.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                format!("`{text}` is not an alias: expected production, staging or candidate")
            })
    }
}

/// One registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// 1, 2, 3 … in order of registration.
    pub version: u32,
    /// SHA-256 of `model.bin`, hex: two registrations of the same bytes are one version.
    pub sha256: String,
    /// When it was registered, seconds since the Unix epoch.
    pub registered_at: u64,
    /// What the model is and how it scored.
    #[serde(flatten)]
    pub facts: VersionFacts,
}

impl VersionRecord {
    /// The record a model would have, numbered 0 until it is registered.
    pub fn unregistered(facts: &VersionFacts) -> Self {
        VersionRecord {
            version: 0,
            sha256: String::new(),
            registered_at: now(),
            facts: facts.clone(),
        }
    }

    /// The cross-validated mean of a metric, if recorded.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        self.facts
            .metrics
            .iter()
            .find(|summary| summary.metric == metric)
            .map(|summary| summary.mean)
    }
}

/// How an alias came to point where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    /// Set by registration (`candidate`) or `promote`.
    Promote,
    /// Set by `promote --force`, past a gate refusal.
    ForcedPromote,
    /// Set back by `rollback`.
    Rollback,
}

/// One move of an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasMove {
    /// Which alias.
    pub alias: Alias,
    /// Where it pointed before (`None`: unset).
    pub from: Option<u32>,
    /// Where it points after.
    pub to: u32,
    /// Why.
    pub kind: MoveKind,
    /// When, seconds since the Unix epoch.
    pub at: u64,
}

/// The contents of `registry.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The dataset whose models this registry holds.
    pub dataset: String,
    /// Every version, oldest first.
    pub versions: Vec<VersionRecord>,
    /// Where each set alias points.
    pub aliases: BTreeMap<Alias, u32>,
    /// Every alias move, oldest first.
    pub history: Vec<AliasMove>,
}

impl Index {
    fn empty(dataset: &str) -> Self {
        Index {
            format: FORMAT_VERSION,
            dataset: dataset.to_owned(),
            versions: Vec::new(),
            aliases: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    /// A version by number.
    pub fn version(&self, version: u32) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .find(|record| record.version == version)
    }

    /// The aliases pointing at `version`, for listings.
    pub fn aliases_of(&self, version: u32) -> Vec<Alias> {
        self.aliases
            .iter()
            .filter(|(_, target)| **target == version)
            .map(|(alias, _)| *alias)
            .collect()
    }

    /// Where `alias` went before its latest un-undone move: rollbacks undo promotions like a
    /// stack, so two rollbacks after two promotions return to the first version.
    fn rollback_target(&self, alias: Alias) -> Option<u32> {
        let mut undone = 0usize;
        for entry in self
            .history
            .iter()
            .rev()
            .filter(|entry| entry.alias == alias)
        {
            if entry.kind == MoveKind::Rollback {
                undone += 1;
            } else if undone == 0 {
                return entry.from;
            } else {
                undone -= 1;
            }
        }
        None
    }

    fn known_versions(&self) -> String {
        if self.versions.is_empty() {
            return "none".into();
        }
        self.versions
            .iter()
            .map(|record| record.version.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The production version a new model would be gated against, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing in production yet: any model passes.
    NoProduction,
    /// Passes against this production version.
    Passes(u32),
    /// Refused.
    Refused(GateRefusal),
}

/// What registering a model needs besides its files, and what its record keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionFacts {
    /// The dataset (must match the registry's).
    pub dataset: String,
    /// The chosen model family.
    pub model_name: String,
    /// The metric that ranked the run.
    pub ranking_metric: Metric,
    /// Its cross-validated metrics.
    pub metrics: Vec<MetricSummary>,
    /// SHA-256 of the training file.
    pub dataset_sha256: String,
    /// The training seed.
    pub seed: u64,
    /// The tracked run, if any.
    pub run_id: Option<String>,
}

/// The result of [`Registry::register`].
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The version holding these bytes.
    pub version: u32,
    /// False when the same `model.bin` was already registered (nothing was written).
    pub created: bool,
}

/// A registry folder.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// The exclusive lock on a registry, released when dropped.
struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        self.0.unlock().ok();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Registry {
    /// The registry at `root` (created on the first change).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Registry { root: root.into() }
    }

    /// Its folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("registry.json")
    }

    /// Whether anything was ever registered here.
    pub fn exists(&self) -> bool {
        self.index_path().is_file()
    }

    /// The folder of a version.
    pub fn version_dir(&self, version: u32) -> PathBuf {
        self.root.join("versions").join(version.to_string())
    }

    /// The model file of a version.
    pub fn model_path(&self, version: u32) -> PathBuf {
        self.version_dir(version).join(MODEL_FILE)
    }

    /// Reads `registry.json`; a registry never written reads as empty for `dataset`.
    pub fn read(&self) -> Result<Option<Index>, RegistryError> {
        let path = self.index_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        let index: Index =
            serde_json::from_slice(&bytes).map_err(|error| RegistryError::Corrupt {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        if index.format != FORMAT_VERSION {
            return Err(RegistryError::Corrupt {
                path,
                reason: format!(
                    "layout version {} (this build reads version {FORMAT_VERSION})",
                    index.format
                ),
            });
        }
        Ok(Some(index))
    }

    /// The index, which must exist.
    pub fn index(&self) -> Result<Index, RegistryError> {
        self.read()?.ok_or_else(|| self.missing())
    }

    fn missing(&self) -> RegistryError {
        RegistryError::Io {
            path: self.index_path(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no registry here yet: register a model first (`train --registry DIR`)",
            ),
        }
    }

    /// The version an alias points to and its model file.
    pub fn resolve(&self, alias: Alias) -> Result<(u32, PathBuf), RegistryError> {
        let index = self.index()?;
        let version =
            index
                .aliases
                .get(&alias)
                .copied()
                .ok_or_else(|| RegistryError::UnsetAlias {
                    alias,
                    root: self.root.clone(),
                })?;
        Ok((version, self.model_path(version)))
    }

    fn lock(&self) -> Result<Lock, RegistryError> {
        fs::create_dir_all(&self.root).map_err(io_error(&self.root))?;
        let path = self.root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(Lock(file))
    }

    fn write_index(&self, index: &Index) -> Result<(), RegistryError> {
        let path = self.index_path();
        let mut text =
            serde_json::to_vec_pretty(index).map_err(|error| RegistryError::Corrupt {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        text.push(b'\n');
        model::write_atomically(&path, &text).map_err(io_error(&path))
    }

    /// Runs `change` on the index under the lock and writes the result.
    fn change<T>(
        &self,
        dataset: Option<&str>,
        change: impl FnOnce(&mut Index) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let _lock = self.lock()?;
        let mut index = match (self.read()?, dataset) {
            (Some(index), _) => index,
            (None, Some(dataset)) => Index::empty(dataset),
            (None, None) => return Err(self.missing()),
        };
        let result = change(&mut index)?;
        self.write_index(&index)?;
        Ok(result)
    }

    /// Registers a model: `files` are the run's files by relative path, `model.bin` among
    /// them. The same `model.bin` bytes registered twice are one version (retraining with the
    /// same data and seed creates nothing); otherwise the next number is taken and the alias
    /// `candidate` moves to it.
    pub fn register(
        &self,
        new: &VersionFacts,
        files: &[(PathBuf, &[u8])],
    ) -> Result<Registered, RegistryError> {
        let model_bytes = files
            .iter()
            .find(|(path, _)| path == Path::new(MODEL_FILE))
            .map(|(_, bytes)| *bytes)
            .ok_or_else(|| RegistryError::Corrupt {
                path: self.root.clone(),
                reason: format!("a registered version needs a `{MODEL_FILE}`"),
            })?;
        let sha256 = sha256_hex(model_bytes);
        self.change(Some(&new.dataset), |index| {
            if index.dataset != new.dataset {
                return Err(RegistryError::OtherDataset {
                    root: self.root.clone(),
                    registry: index.dataset.clone(),
                    given: new.dataset.clone(),
                });
            }
            if let Some(existing) = index.versions.iter().find(|record| record.sha256 == sha256) {
                return Ok(Registered {
                    version: existing.version,
                    created: false,
                });
            }
            let version = index
                .versions
                .iter()
                .map(|record| record.version)
                .max()
                .unwrap_or(0)
                + 1;
            self.write_version_files(version, files)?;
            index.versions.push(VersionRecord {
                version,
                sha256: sha256.clone(),
                registered_at: now(),
                facts: new.clone(),
            });
            move_alias(index, Alias::Candidate, version, MoveKind::Promote);
            Ok(Registered {
                version,
                created: true,
            })
        })
    }

    /// Writes a version's files into a staging folder and renames it into place whole. A
    /// folder left by a crashed registration under the same number is replaced: the index,
    /// written after, never named it.
    fn write_version_files(
        &self,
        version: u32,
        files: &[(PathBuf, &[u8])],
    ) -> Result<(), RegistryError> {
        let versions = self.root.join("versions");
        let staging = versions.join(format!(".staging-{version}-{}", std::process::id()));
        let target = self.version_dir(version);
        let _ = fs::remove_dir_all(&staging);
        for (relative, bytes) in files {
            let path = staging.join(relative);
            model::write_atomically(&path, bytes).map_err(io_error(&path))?;
        }
        if target.exists() {
            fs::remove_dir_all(&target).map_err(io_error(&target))?;
        }
        fs::rename(&staging, &target).map_err(io_error(&target))?;
        if let Ok(folder) = File::open(&versions) {
            folder.sync_all().ok();
        }
        Ok(())
    }

    /// Gates a model not yet registered against the current production version.
    pub fn gate_new(&self, new: &VersionFacts, gate: &Gate) -> Result<Verdict, RegistryError> {
        let Some(index) = self.read()? else {
            return Ok(Verdict::NoProduction);
        };
        let incumbent = index
            .aliases
            .get(&Alias::Production)
            .and_then(|version| index.version(*version));
        Ok(match incumbent {
            None => Verdict::NoProduction,
            Some(incumbent) => match gate.check_new(new, incumbent) {
                Ok(()) => Verdict::Passes(incumbent.version),
                Err(refusal) => Verdict::Refused(refusal),
            },
        })
    }

    /// Checks that a version's model file still has its registered SHA-256.
    pub fn verify(&self, version: u32) -> Result<(), RegistryError> {
        let index = self.index()?;
        let record = self.record(&index, version)?;
        let path = self.model_path(version);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        if sha256_hex(&bytes) != record.sha256 {
            return Err(RegistryError::Damaged { version, path });
        }
        Ok(())
    }

    fn record<'a>(
        &self,
        index: &'a Index,
        version: u32,
    ) -> Result<&'a VersionRecord, RegistryError> {
        index
            .version(version)
            .ok_or_else(|| RegistryError::UnknownVersion {
                version,
                root: self.root.clone(),
                known: index.known_versions(),
            })
    }

    /// Points `alias` at `version`. Unless `force`, the version's file must be intact and, for
    /// `production`, pass `gate` against the current production version. Returns the version
    /// the alias pointed to before.
    pub fn promote(
        &self,
        version: u32,
        alias: Alias,
        gate: &Gate,
        force: bool,
    ) -> Result<Option<u32>, RegistryError> {
        if !force {
            self.verify(version)?;
        }
        self.change(None, |index| {
            let candidate = self.record(index, version)?.clone();
            let current = index.aliases.get(&alias).copied();
            if current == Some(version) {
                // Already there: promoting again changes nothing and records no move.
                return Ok(current);
            }
            let refusal = match current.and_then(|current| index.version(current)) {
                Some(incumbent) if alias == Alias::Production => {
                    gate.check(&candidate, incumbent).err()
                }
                _ => None,
            };
            match refusal {
                Some(refusal) if !force => Err(refusal.into()),
                Some(_) => Ok(move_alias(index, alias, version, MoveKind::ForcedPromote)),
                None => Ok(move_alias(index, alias, version, MoveKind::Promote)),
            }
        })
    }

    /// Points `alias` back where it was before its latest promotion. Returns the version it
    /// now points to.
    pub fn rollback(&self, alias: Alias) -> Result<u32, RegistryError> {
        self.change(None, |index| {
            let target = index
                .rollback_target(alias)
                .ok_or(RegistryError::NothingToRollBack { alias })?;
            move_alias(index, alias, target, MoveKind::Rollback);
            Ok(target)
        })
    }
}

/// Moves an alias and records the move; returns where it pointed before.
fn move_alias(index: &mut Index, alias: Alias, to: u32, kind: MoveKind) -> Option<u32> {
    let from = index.aliases.insert(alias, to);
    index.history.push(AliasMove {
        alias,
        from,
        to,
        kind,
        at: now(),
    });
    from
}
