//! The lifecycle through the real `train` binary: every run recorded in the store and read
//! back by `train runs`, two processes writing one store, registration with promotion,
//! the gate and rollback, and the retraining cycle's idempotence and resumption.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use registry::{Alias, Registry};
use tracking::{RunStatus, Store};

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: String,
    data: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (config, data) = common::write_binary(dir.path(), 160, 0.4, 5);
        Fixture {
            root: dir.path().to_path_buf(),
            config: config.display().to_string(),
            data: data.display().to_string(),
            _dir: dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    /// `train` on the fixture with a fast model set, writing into `out`.
    fn train(&self, out: &str, extra: &[&str]) -> Output {
        let out = self.path(out);
        let mut args = vec![
            "--models",
            "lr,nb",
            "--folds",
            "3",
            "--config",
            &self.config,
            "--data",
            &self.data,
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        train(&args)
    }
}

#[test]
fn every_run_is_recorded_and_the_runs_commands_read_it_back() {
    let fixture = Fixture::new();
    ok(fixture.train("first", &["--seed", "1"]));
    ok(fixture.train("second", &["--seed", "2"]));
    // A failed run is recorded too, with its error.
    let failure = failed(train(&[
        "--quiet",
        "--config",
        &fixture.config,
        "--data",
        &fixture.path("missing.csv"),
        "--out",
        &fixture.path("third"),
    ]));
    assert!(failure.contains("missing.csv"), "{failure}");

    let store_path = fixture.root.join("runs.sqlite");
    let store = Store::open(&store_path).unwrap();
    let runs = store.list(None, 10).unwrap();
    assert_eq!(
        runs.len(),
        2,
        "the missing file is refused before a run starts"
    );
    assert!(runs.iter().all(|run| run.status == RunStatus::Finished));
    let (newest, oldest) = (&runs[0], &runs[1]);
    let detail = store.get(&newest.run_id).unwrap();
    assert_eq!(detail.provenance.seed, 2);
    assert_eq!(
        detail.models.len(),
        4,
        "two families and the two ensembles of them"
    );
    assert_eq!(
        detail.models[0].fold_metrics[0].1.len(),
        3,
        "one value per fold"
    );
    assert!(
        detail
            .provenance
            .config
            .contains("positive_class = \"sick\"")
    );
    assert!(
        detail
            .files
            .iter()
            .any(|file| file.path == "leaderboard.json")
    );
    let artifact = std::fs::read(fixture.root.join("second/model.bin")).unwrap();
    assert_eq!(
        newest.artifact_sha256.as_deref(),
        Some(tracking::sha256_hex(&artifact).as_str())
    );

    let store_arg = store_path.display().to_string();
    let listed = ok(train(&["runs", "list", "--store", &store_arg]));
    assert!(
        listed.contains(&newest.run_id[..8]) && listed.contains(&oldest.run_id[..8]),
        "{listed}"
    );
    assert!(
        listed.lines().all(|line| line.chars().count() <= 100),
        "{listed}"
    );
    let shown = ok(train(&[
        "runs",
        "show",
        &newest.run_id[..8],
        "--store",
        &store_arg,
    ]));
    assert!(
        shown.contains("(chosen)") && shown.contains("seed            2"),
        "{shown}"
    );
    let compared = ok(train(&[
        "runs",
        "compare",
        &oldest.run_id[..8],
        &newest.run_id[..8],
        "--store",
        &store_arg,
    ]));
    let seed_line = compared
        .lines()
        .find(|line| line.starts_with("seed"))
        .unwrap();
    assert!(seed_line.contains("differs"), "{compared}");
    let data_line = compared
        .lines()
        .find(|line| line.starts_with("data sha256"))
        .unwrap();
    assert!(data_line.contains("same"), "{compared}");
    let as_json: serde_json::Value = serde_json::from_str(&ok(train(&[
        "runs", "list", "--json", "--store", &store_arg,
    ])))
    .unwrap();
    assert_eq!(as_json.as_array().unwrap().len(), 2);
    let unknown = failed(train(&["runs", "show", "zzzz", "--store", &store_arg]));
    assert!(unknown.contains("no run `zzzz`"), "{unknown}");
}

#[test]
fn two_train_processes_write_one_store_at_once() {
    let fixture = Fixture::new();
    let store = fixture.path("shared.sqlite");
    let spawn = |out: &str, seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_train"))
            .args([
                "--quiet",
                "--models",
                "lr,nb,dt",
                "--folds",
                "3",
                "--seed",
                seed,
                "--config",
                &fixture.config,
                "--data",
                &fixture.data,
                "--out",
                &fixture.path(out),
                "--store",
                &store,
            ])
            .spawn()
            .unwrap()
    };
    let mut first = spawn("a", "1");
    let mut second = spawn("b", "2");
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    let store = Store::open(Path::new(&store)).unwrap();
    let runs = store.list(None, 10).unwrap();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(run.status, RunStatus::Finished);
        // Three families and the two ensembles of them.
        assert_eq!(store.get(&run.run_id).unwrap().models.len(), 5);
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn registered_versions_are_promoted_through_the_gate_and_rolled_back() {
    let fixture = Fixture::new();
    let registry_dir = fixture.path("registry/synthetic");
    ok(fixture.train("out", &["--seed", "1", "--register"]));
    let registered = ok(fixture.train("out", &["--seed", "2", "--register"]));
    assert!(
        registered.contains("registered as version 2"),
        "{registered}"
    );
    let again = ok(fixture.train("out", &["--seed", "2", "--register"]));
    assert!(again.contains("already registered as version 2"), "{again}");

    let registry = Registry::at(&registry_dir);
    let index = registry.index().unwrap();
    assert_eq!(index.versions.len(), 2);
    assert_eq!(index.aliases.get(&Alias::Candidate), Some(&2));
    let store = Store::open(&fixture.root.join("runs.sqlite")).unwrap();
    assert_eq!(store.list(None, 10).unwrap()[0].registry_version, Some(2));

    ok(train(&["promote", "1", "--registry", &registry_dir]));
    // With no tolerance at all, the gate refuses whichever metric is worse, and names it.
    let v1 = index.version(1).unwrap();
    let v2 = index.version(2).unwrap();
    let worse_somewhere = registry::Gate::metrics(v2)
        .into_iter()
        .any(|metric| v2.metric(metric) != v1.metric(metric));
    let strict = train(&["promote", "2", "--margin=-1", "--registry", &registry_dir]);
    let refusal = failed(strict);
    assert!(
        worse_somewhere && refusal.contains("cannot promote version 2 to `production`"),
        "{refusal}"
    );
    assert!(refusal.contains("has cross-validated"), "{refusal}");
    assert_eq!(registry.resolve(Alias::Production).unwrap().0, 1);
    let moved = ok(train(&[
        "promote",
        "2",
        "--margin",
        "1",
        "--registry",
        &registry_dir,
    ]));
    assert_eq!(moved, "production: v1 -> v2\n");
    let back = ok(train(&["rollback", "--registry", &registry_dir]));
    assert_eq!(back, "production: rolled back to v1\n");
    let listed = ok(train(&["models", "list", "--registry", &registry_dir]));
    let v1_line = listed.lines().find(|line| line.starts_with("v1 ")).unwrap();
    assert!(v1_line.ends_with("production"), "{listed}");
    assert!(
        listed.contains("production v2 -> v1  (Rollback)"),
        "{listed}"
    );
    let nothing = failed(train(&[
        "rollback",
        "--alias",
        "staging",
        "--registry",
        &registry_dir,
    ]));
    assert!(
        nothing.contains("alias `staging` has no earlier version"),
        "{nothing}"
    );
}

#[test]
fn retraining_is_idempotent_resumable_and_promotes_through_the_gate() {
    let fixture = Fixture::new();
    let registry_dir = fixture.path("registry/synthetic");
    let retrain = |extra: &[&str]| {
        let mut args = vec![
            "retrain",
            "--quiet",
            "--models",
            "lr,nb",
            "--folds",
            "3",
            "--seed",
            "3",
            "--config",
            &fixture.config,
            "--data",
            &fixture.data,
            "--registry",
            &registry_dir,
        ];
        args.extend_from_slice(extra);
        train(&args)
    };
    // A step whose predecessors have not run is refused, naming the missing one.
    let early = failed(retrain(&["--step", "gate"]));
    assert!(
        early.contains("step `gate` needs step `validate` first"),
        "{early}"
    );
    // Steps one at a time, as an orchestrator runs them.
    for step in ["validate", "train", "gate", "register"] {
        ok(retrain(&["--step", step]));
    }
    let registry = Registry::at(&registry_dir);
    assert_eq!(
        registry.index().unwrap().aliases.get(&Alias::Production),
        None
    );
    // The whole cycle again: earlier steps are not redone; promotion now happens.
    let resumed = ok(retrain(&["--promote"]));
    assert_eq!(resumed.matches("(done earlier)").count(), 4, "{resumed}");
    assert!(resumed.contains("production now version 1"), "{resumed}");
    let rerun = ok(retrain(&["--promote"]));
    assert_eq!(rerun.matches("(done earlier)").count(), 5, "{rerun}");
    let index = registry.index().unwrap();
    assert_eq!(
        index.versions.len(),
        1,
        "same data and seed: no new version"
    );
    assert_eq!(index.aliases.get(&Alias::Production), Some(&1));
    // Removing the cycle's state retrains, and the same bytes are still version 1.
    std::fs::remove_dir_all(fixture.root.join("registry/synthetic/retrain")).unwrap();
    let fresh = ok(retrain(&[]));
    assert!(fresh.contains("register  version 1"), "{fresh}");
    assert_eq!(registry.index().unwrap().versions.len(), 1);
    let store = Store::open(&fixture.root.join("runs.sqlite")).unwrap();
    assert_eq!(
        store.list(None, 10).unwrap().len(),
        2,
        "two training runs, both recorded"
    );
}

#[test]
fn evaluate_reports_figures_with_intervals_reproducibly_and_records_them() {
    let fixture = Fixture::new();
    ok(fixture.train("out", &["--seed", "4"]));
    let model = fixture.path("out/model.bin");
    // A fresh labelled file from the same population, never seen in training.
    let fresh = tempfile::tempdir().unwrap();
    let (_, data) = common::write_binary(fresh.path(), 300, 0.4, 99);
    let data = data.display().to_string();
    let evaluate = |out: &str| {
        ok(train(&[
            "evaluate",
            "--model",
            &model,
            "--input",
            &data,
            "--config",
            &fixture.config,
            "--out",
            &fixture.path(out),
            "--resamples",
            "300",
            "--seed",
            "8",
        ]))
    };
    let printed = evaluate("first");
    assert!(printed.contains("on 300 labelled records"), "{printed}");
    assert!(
        printed
            .lines()
            .filter(|line| !line.contains('/'))
            .all(|line| line.chars().count() <= 100),
        "{printed}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.root.join("first/evaluation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["n_records"], 300);
    for name in [
        "roc_auc",
        "sensitivity",
        "specificity",
        "brier",
        "calibration_slope",
        "ece",
    ] {
        let figure = &report["figures"][name];
        let (value, lower, upper) = (
            figure["value"].as_f64().unwrap(),
            figure["lower"].as_f64().unwrap(),
            figure["upper"].as_f64().unwrap(),
        );
        assert!(
            lower <= value && value <= upper && lower < upper,
            "{name}: {figure}"
        );
    }
    assert!(
        report["figures"]["roc_auc"]["value"].as_f64().unwrap() > 0.8,
        "{report}"
    );
    let counts = &report["confusion"]["counts"];
    let total: u64 = counts
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 300);
    for plot in ["roc", "pr", "calibration", "confusion"] {
        assert!(
            fixture
                .root
                .join(format!("first/plots/{plot}.svg"))
                .is_file(),
            "{plot}"
        );
    }
    // Same seed and file: the same report, byte for byte.
    evaluate("second");
    assert_eq!(
        std::fs::read(fixture.root.join("first/evaluation.json")).unwrap(),
        std::fs::read(fixture.root.join("second/evaluation.json")).unwrap()
    );
    // Recorded in the store beside the model's folder, and shown with the run.
    let store = Store::open(&fixture.root.join("runs.sqlite")).unwrap();
    let run = &store.list(None, 1).unwrap()[0];
    let detail = store.get(&run.run_id).unwrap();
    assert_eq!(detail.evaluations.len(), 2);
    assert_eq!(detail.evaluations[0].n_records, 300);
    let shown = ok(train(&[
        "runs",
        "show",
        &run.run_id[..8],
        "--store",
        &fixture.path("runs.sqlite"),
    ]));
    assert!(shown.contains("evaluated"), "{shown}");
    // An unlabelled file is refused, naming the line and the column.
    let unlabelled = fresh.path().join("unlabelled.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3]
        .rsplit_once(',')
        .map(|(head, _)| format!("{head},"))
        .unwrap();
    std::fs::write(&unlabelled, lines.join("\n")).unwrap();
    let refused = failed(train(&[
        "evaluate",
        "--model",
        &model,
        "--input",
        &unlabelled.display().to_string(),
        "--config",
        &fixture.config,
        "--out",
        &fixture.path("third"),
    ]));
    assert!(
        refused.contains("line 4") && refused.contains("outcome"),
        "{refused}"
    );
}
