//! The run store: a run round-trips, older schemas migrate forward with their data, newer ones
//! are refused, and writers on separate connections do not lose runs.

use tracking::{ModelRecord, Provenance, RunFinish, RunStart, RunStatus, SCHEMA_VERSION, Store};

fn start(run_id: &str, started_at_ms: i64) -> RunStart {
    RunStart {
        run_id: run_id.into(),
        dataset: "sepsis".into(),
        started_at_ms,
        provenance: Provenance {
            git_commit: Some("abc123".into()),
            dataset_path: "data/train.csv".into(),
            dataset_sha256: "d".repeat(64),
            config: "name = \"sepsis\"\n".into(),
            seed: 42,
            arguments: vec!["train".into(), "--seed".into(), "42".into()],
        },
    }
}

/// A file of megabytes, as a million-row run's out-of-fold table is (tens of them).
fn large_file() -> &'static [u8] {
    static LARGE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        (0..2_621_447_u32)
            .map(|idx| (idx.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    });
    &LARGE
}

fn finish() -> RunFinish<'static> {
    RunFinish {
        ended_at_ms: 2_000,
        chosen_model: "random_forest".into(),
        ranking_metric: "roc_auc".into(),
        artifact_sha256: "a".repeat(64),
        models: vec![
            ModelRecord {
                model: "random_forest".into(),
                params: vec![("n_trees".into(), "200".into())],
                fold_metrics: vec![("roc_auc".into(), vec![0.8, 0.9, f64::NAN])],
            },
            ModelRecord {
                model: "logistic_regression".into(),
                params: vec![("c".into(), "1".into())],
                fold_metrics: vec![("roc_auc".into(), vec![0.7, 0.8, 0.75])],
            },
        ],
        leaderboard: "{}".into(),
        files: vec![
            ("plots/roc.svg".into(), b"<svg/>"),
            ("out_of_fold.csv".into(), large_file()),
            ("empty.txt".into(), b""),
        ],
    }
}

#[test]
fn a_run_round_trips_with_its_folds_files_and_status() {
    let folder = tempfile::tempdir().unwrap();
    let mut store = Store::open(&folder.path().join("runs.sqlite")).unwrap();
    store
        .start_run(&start("0123456789abcdef0123456789abcdef", 1_000))
        .unwrap();
    let running = store.list(None, 10).unwrap();
    assert_eq!(running[0].status, RunStatus::Running);
    store
        .finish_run("0123456789abcdef0123456789abcdef", &finish())
        .unwrap();
    store
        .set_registry_version("0123456789abcdef0123456789abcdef", 4)
        .unwrap();
    let run = store.get("01234567").unwrap();
    assert_eq!(run.summary.status, RunStatus::Finished);
    assert_eq!(run.summary.registry_version, Some(4));
    let mean = run.summary.ranking_value.unwrap();
    assert!(
        (mean - 0.85).abs() < 1e-12,
        "the mean of the finite folds: {mean}"
    );
    assert_eq!(run.models.len(), 2);
    assert_eq!(
        run.models[0].params,
        vec![("n_trees".to_owned(), "200".to_owned())]
    );
    let folds = &run.models[0].fold_metrics[0].1;
    assert_eq!(&folds[..2], &[0.8, 0.9]);
    assert!(folds[2].is_nan(), "a failed fold reads back as NaN");
    assert_eq!(run.provenance.arguments, vec!["train", "--seed", "42"]);
    for (path, contents) in finish().files {
        let stored = store.file(&run.summary.run_id, &path).unwrap().unwrap();
        assert!(stored == contents, "`{path}` reads back as written");
        let listed = run.files.iter().find(|file| file.path == path).unwrap();
        assert_eq!(listed.bytes, contents.len() as u64);
        assert_eq!(listed.sha256, tracking::sha256_hex(contents));
    }
    store
        .start_run(&start("ffff0000ffff0000ffff0000ffff0000", 3_000))
        .unwrap();
    store
        .fail_run(
            "ffff0000ffff0000ffff0000ffff0000",
            3_500,
            "cannot read `x.csv`",
        )
        .unwrap();
    let listed = store.list(Some("sepsis"), 10).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].status, RunStatus::Failed, "most recent first");
    assert!(store.list(Some("wine"), 10).unwrap().is_empty());
    let error = store.get("9999").unwrap_err().to_string();
    assert!(error.contains("no run `9999`"), "{error}");
}

#[test]
fn ambiguous_prefixes_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(&folder.path().join("runs.sqlite")).unwrap();
    store.start_run(&start("aaaa1111", 1)).unwrap();
    store.start_run(&start("aaaa2222", 2)).unwrap();
    let error = store.get("aaaa").unwrap_err().to_string();
    assert!(
        error.contains("more than one run starts with `aaaa`"),
        "{error}"
    );
    assert_eq!(store.get("aaaa2").unwrap().summary.run_id, "aaaa2222");
}

#[test]
fn every_older_schema_migrates_forward_keeping_its_runs() {
    for version in 1..SCHEMA_VERSION {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("runs.sqlite");
        {
            let old = Store::open_at_version(&path, version).unwrap();
            assert_eq!(old.schema_version().unwrap(), version);
            old.start_run(&start("0123456789abcdef", 1_000)).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        store.finish_run("0123456789abcdef", &finish()).unwrap();
        let run = store.get("0123").unwrap();
        assert_eq!(run.summary.chosen_model.as_deref(), Some("random_forest"));
        assert_eq!(run.files.len(), finish().files.len());
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }
}

#[test]
fn a_store_from_a_newer_build_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("runs.sqlite");
    drop(Store::open(&path).unwrap());
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(connection);
    let error = Store::open(&path).err().unwrap().to_string();
    assert!(
        error.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{error}"
    );
    assert!(error.contains("upgrade vigil"), "{error}");
}

#[test]
fn writers_on_separate_connections_lose_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("runs.sqlite");
    let threads: Vec<_> = (0..4)
        .map(|thread_idx| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                for run_idx in 0..10 {
                    let id = format!("{thread_idx:02}{run_idx:02}0000000000000000000000000000");
                    store
                        .start_run(&start(&id, (thread_idx * 100 + run_idx) as i64))
                        .unwrap();
                    store.finish_run(&id, &finish()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let runs = store.list(None, 100).unwrap();
    assert_eq!(runs.len(), 40);
    assert!(runs.iter().all(|run| run.status == RunStatus::Finished));
    assert_eq!(store.integrity_check().unwrap(), "ok");
}
