//! The registry's promises: numbered immutable versions, idempotent registration, aliases with
//! a history that rollbacks walk back, the promotion gate, and damage detection.

use std::path::PathBuf;

use model::{Metric, MetricSummary};
use registry::{Alias, Gate, MoveKind, Registry, RegistryError, VersionFacts};

fn new_version(auc: f64, brier: f64) -> VersionFacts {
    VersionFacts {
        dataset: "sepsis".into(),
        model_name: "gradient_boosting".into(),
        ranking_metric: Metric::RocAuc,
        metrics: vec![
            MetricSummary {
                metric: Metric::RocAuc,
                mean: auc,
                std: 0.02,
            },
            MetricSummary {
                metric: Metric::Brier,
                mean: brier,
                std: 0.01,
            },
        ],
        dataset_sha256: "ab".repeat(32),
        seed: 7,
        run_id: None,
    }
}

fn register(registry: &Registry, bytes: &[u8], auc: f64) -> (u32, bool) {
    let files = [
        (PathBuf::from("model.bin"), bytes),
        (PathBuf::from("plots/roc.svg"), b"<svg/>".as_slice()),
    ];
    let registered = registry.register(&new_version(auc, 0.16), &files).unwrap();
    (registered.version, registered.created)
}

#[test]
fn versions_are_numbered_and_the_same_bytes_are_one_version() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path().join("sepsis"));
    assert!(!registry.exists());
    assert_eq!(register(&registry, b"first model", 0.83), (1, true));
    assert_eq!(register(&registry, b"second model", 0.84), (2, true));
    assert_eq!(register(&registry, b"first model", 0.83), (1, false));
    let index = registry.index().unwrap();
    assert_eq!(index.versions.len(), 2);
    assert_eq!(
        std::fs::read(registry.model_path(2)).unwrap(),
        b"second model"
    );
    assert!(registry.version_dir(1).join("plots/roc.svg").is_file());
    // Registration moves `candidate`, nothing else.
    assert_eq!(index.aliases.get(&Alias::Candidate), Some(&2));
    assert_eq!(index.aliases.get(&Alias::Production), None);
    // No staging folder is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(registry.root().join("versions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn rollbacks_walk_back_promotions_like_a_stack() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path());
    for (bytes, auc) in [(b"a".as_slice(), 0.80), (b"b", 0.81), (b"c", 0.82)] {
        let (version, _) = register(&registry, bytes, auc);
        registry
            .promote(version, Alias::Production, &Gate::default(), false)
            .unwrap();
    }
    assert_eq!(registry.resolve(Alias::Production).unwrap().0, 3);
    assert_eq!(registry.rollback(Alias::Production).unwrap(), 2);
    assert_eq!(registry.rollback(Alias::Production).unwrap(), 1);
    let error = registry.rollback(Alias::Production).unwrap_err();
    assert!(
        matches!(error, RegistryError::NothingToRollBack { .. }),
        "{error}"
    );
    // A promotion after rollbacks starts a new stack.
    registry
        .promote(3, Alias::Production, &Gate::default(), false)
        .unwrap();
    assert_eq!(registry.rollback(Alias::Production).unwrap(), 1);
    let history = registry.index().unwrap().history;
    let production: Vec<_> = history
        .iter()
        .filter(|entry| entry.alias == Alias::Production)
        .map(|entry| (entry.from, entry.to, entry.kind))
        .collect();
    assert_eq!(
        production,
        vec![
            (None, 1, MoveKind::Promote),
            (Some(1), 2, MoveKind::Promote),
            (Some(2), 3, MoveKind::Promote),
            (Some(3), 2, MoveKind::Rollback),
            (Some(2), 1, MoveKind::Rollback),
            (Some(1), 3, MoveKind::Promote),
            (Some(3), 1, MoveKind::Rollback),
        ]
    );
}

#[test]
fn the_gate_names_the_metric_and_force_overrides_it() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path());
    let (good, _) = register(&registry, b"good", 0.85);
    registry
        .promote(good, Alias::Production, &Gate::default(), false)
        .unwrap();
    let (worse, _) = register(&registry, b"worse", 0.82);
    let error = registry
        .promote(worse, Alias::Production, &Gate { margin: 0.01 }, false)
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("roc_auc 0.8200"), "{message}");
    assert!(message.contains("version 1's 0.8500"), "{message}");
    assert_eq!(registry.resolve(Alias::Production).unwrap().0, good);
    // Within a wider margin it passes; staging is never gated.
    registry
        .promote(worse, Alias::Staging, &Gate { margin: 0.0 }, false)
        .unwrap();
    registry
        .promote(worse, Alias::Production, &Gate { margin: 0.05 }, false)
        .unwrap();
    registry.rollback(Alias::Production).unwrap();
    registry
        .promote(worse, Alias::Production, &Gate { margin: 0.0 }, true)
        .unwrap();
    let last = registry.index().unwrap().history.pop().unwrap();
    assert_eq!(last.kind, MoveKind::ForcedPromote);
}

#[test]
fn a_damaged_version_is_refused_unless_forced_and_unknown_versions_are_named() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path());
    let (version, _) = register(&registry, b"intact model bytes", 0.83);
    std::fs::write(registry.model_path(version), b"intact model bytez").unwrap();
    let error = registry
        .promote(version, Alias::Production, &Gate::default(), false)
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Damaged { version: 1, .. }),
        "{error}"
    );
    registry
        .promote(version, Alias::Production, &Gate::default(), true)
        .unwrap();
    let error = registry
        .promote(9, Alias::Production, &Gate::default(), true)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "version 9 is not in the registry at `{}` (versions: 1)",
            folder.path().display()
        )
    );
}

#[test]
fn another_dataset_and_another_layout_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path());
    register(&registry, b"model", 0.83);
    let mut other = new_version(0.8, 0.2);
    other.dataset = "wine_quality".into();
    let error = registry
        .register(&other, &[(PathBuf::from("model.bin"), b"x".as_slice())])
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("holds `sepsis` models, not `wine_quality`"),
        "{error}"
    );
    let path = folder.path().join("registry.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"format\": 1", "\"format\": 99");
    std::fs::write(&path, text).unwrap();
    let error = registry.index().unwrap_err();
    assert!(error.to_string().contains("layout version 99"), "{error}");
}

#[test]
fn concurrent_registrations_all_land_with_distinct_numbers() {
    let folder = tempfile::tempdir().unwrap();
    let root = folder.path().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|thread_idx| {
            let root = root.clone();
            std::thread::spawn(move || {
                let registry = Registry::at(root);
                register(&registry, format!("model {thread_idx}").as_bytes(), 0.8).0
            })
        })
        .collect();
    let mut versions: Vec<u32> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_eq!(Registry::at(&root).index().unwrap().versions.len(), 8);
}

#[test]
fn the_index_round_trips_through_its_file() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path());
    register(&registry, b"model", 0.83);
    let index = registry.index().unwrap();
    let text = serde_json::to_string(&index).unwrap();
    let back: registry::Index = serde_json::from_str(&text).unwrap();
    assert_eq!(back, index);
    assert_eq!(index.format, registry::FORMAT_VERSION);
}
