//! Serving a registry alias: the server follows the alias as it moves, names the registry
//! version in every answer, keeps serving when a promoted version cannot be loaded (and does
//! not retry it every poll), and reports the failure on `/ready` and `/model`.

use std::path::{Path, PathBuf};

use actix_web::{App, test as actix_test, web};
use model::Artifact;
use registry::{Alias, Gate, Registry, VersionFacts};
use serde_json::{Value, json};
use serve::state::{ModelSource, ReloadTrigger};
use serve::{AppState, Settings};

fn sepsis_artifact() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/sepsis/model.bin")
}

/// Registers `bytes` as the next version of a sepsis registry.
fn register(registry: &Registry, bytes: &[u8]) -> u32 {
    let artifact =
        Artifact::from_bytes(&std::fs::read(sepsis_artifact()).unwrap(), Path::new("x")).unwrap();
    let new = VersionFacts {
        dataset: "sepsis".into(),
        model_name: artifact.model_name.clone(),
        ranking_metric: model::Metric::RocAuc,
        metrics: artifact.chosen_metrics().to_vec(),
        dataset_sha256: artifact.provenance.dataset_sha256.clone(),
        seed: artifact.provenance.seed,
        run_id: None,
    };
    registry
        .register(&new, &[(PathBuf::from("model.bin"), bytes)])
        .unwrap()
        .version
}

/// The committed sepsis artifact, and a second one differing only in its threshold.
fn two_artifacts() -> (Vec<u8>, Vec<u8>) {
    let original = std::fs::read(sepsis_artifact()).unwrap();
    let mut artifact = Artifact::from_bytes(&original, Path::new("x")).unwrap();
    artifact.decision.threshold = Some(0.9);
    (original, artifact.to_bytes().unwrap())
}

fn promote(registry: &Registry, version: u32, force: bool) {
    registry
        .promote(version, Alias::Production, &Gate { margin: 1.0 }, force)
        .unwrap();
}

fn patient() -> Value {
    json!({"PRG": 6, "PL": 148, "PR": 72, "SK": 35, "TS": 0, "M11": 33.6, "BD2": 0.627, "Age": 50, "Insurance": 1})
}

#[actix_web::test]
async fn the_server_follows_its_alias_and_survives_a_broken_version() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path().join("sepsis"));
    let (first, second) = two_artifacts();
    let v1 = register(&registry, &first);
    let v2 = register(&registry, &second);
    promote(&registry, v1, false);
    let source = ModelSource::Registry {
        registry: registry.clone(),
        alias: Alias::Production,
        fallback: None,
    };
    let state = web::Data::new(AppState::from_source(source, Settings::default()).unwrap());
    let app =
        actix_test::init_service(App::new().configure(|cfg| serve::configure(cfg, state.clone())))
            .await;
    let predict = || {
        actix_test::TestRequest::post()
            .uri("/predict")
            .set_json(patient())
    };
    let answer: Value = actix_test::call_and_read_body_json(&app, predict().to_request()).await;
    assert!(
        answer["model_version"].as_str().unwrap().starts_with("v1-"),
        "{answer}"
    );
    assert!(state.follow_alias().is_none(), "nothing moved");

    promote(&registry, v2, false);
    let (now, before) = state.follow_alias().unwrap().unwrap();
    assert!(
        now.starts_with("v2-") && before.starts_with("v1-"),
        "{now} {before}"
    );
    let answer: Value = actix_test::call_and_read_body_json(&app, predict().to_request()).await;
    assert!(
        answer["model_version"].as_str().unwrap().starts_with("v2-"),
        "{answer}"
    );

    // A version whose file is damaged after registration, promoted past the checksum check.
    let mut damaged = second.clone();
    damaged[200] ^= 0x40;
    let v3 = register(&registry, &damaged);
    promote(&registry, v3, true);
    let error = state.follow_alias().unwrap().unwrap_err();
    assert!(serve::error_chain(&error).contains("model.bin"), "{error}");
    assert!(
        state.follow_alias().is_none(),
        "a failed version is not retried every poll"
    );
    assert!(state.model().model_version.starts_with("v2-"));
    let ready: Value = actix_test::call_and_read_body_json(
        &app,
        actix_test::TestRequest::get().uri("/ready").to_request(),
    )
    .await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["last_reload"]["succeeded"], false, "{ready}");
    assert_eq!(
        ready["last_reload"]["target_registry_version"], 3,
        "{ready}"
    );
    assert_eq!(ready["last_reload"]["trigger"], "alias", "{ready}");
    let card: Value = actix_test::call_and_read_body_json(
        &app,
        actix_test::TestRequest::get().uri("/model").to_request(),
    )
    .await;
    assert_eq!(card["last_reload"]["succeeded"], false, "{card}");
    let metrics = String::from_utf8(
        actix_test::call_and_read_body(
            &app,
            actix_test::TestRequest::get().uri("/metrics").to_request(),
        )
        .await
        .to_vec(),
    )
    .unwrap();
    assert!(
        metrics.contains("vigil_model_last_reload_success 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vigil_model_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );

    // Rolled back to version 2, which is serving: nothing to do. Forward to 1: loaded.
    registry.rollback(Alias::Production).unwrap();
    assert!(state.follow_alias().is_none());
    promote(&registry, v1, false);
    assert!(state.follow_alias().unwrap().is_ok());
    assert!(state.model().model_version.starts_with("v1-"));
    // An explicit reload reads the alias again too.
    let (now, _) = state.reload(ReloadTrigger::Signal).unwrap();
    assert!(now.starts_with("v1-"));
    assert_eq!(state.last_reload().unwrap().trigger, ReloadTrigger::Signal);
}

#[test]
fn an_unset_alias_or_a_missing_registry_is_a_clear_error_at_start() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path().join("sepsis"));
    let missing = ModelSource::Registry {
        registry: registry.clone(),
        alias: Alias::Production,
        fallback: None,
    };
    let error = AppState::from_source(missing.clone(), Settings::default())
        .err()
        .unwrap();
    assert!(
        serve::error_chain(&error).contains("no registry here yet"),
        "{error}"
    );
    register(&registry, &two_artifacts().0);
    let error = AppState::from_source(missing, Settings::default())
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("alias `production` is not set"),
        "{error}"
    );
}

#[test]
fn a_fallback_serves_until_the_first_promotion_then_the_alias_is_followed() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path().join("sepsis"));
    let source = ModelSource::Registry {
        registry: registry.clone(),
        alias: Alias::Production,
        fallback: Some(sepsis_artifact()),
    };
    let state = AppState::from_source(source, Settings::default()).unwrap();
    assert!(!state.model().model_version.starts_with('v'));
    assert!(state.follow_alias().is_none(), "no registry yet");
    let version = register(&registry, &two_artifacts().1);
    assert!(state.follow_alias().is_none(), "registered, not promoted");
    promote(&registry, version, false);
    let (now, _) = state.follow_alias().unwrap().unwrap();
    assert!(now.starts_with("v1-"), "{now}");
}

#[test]
fn every_kind_of_bad_version_leaves_the_serving_model_in_place() {
    let folder = tempfile::tempdir().unwrap();
    let registry = Registry::at(folder.path().join("sepsis"));
    let (good, _) = two_artifacts();
    let serving = register(&registry, &good);
    promote(&registry, serving, false);
    let source = ModelSource::Registry {
        registry: registry.clone(),
        alias: Alias::Production,
        fallback: None,
    };
    let state = AppState::from_source(source, Settings::default()).unwrap();
    let mut other_format = good.clone();
    other_format[8..12].copy_from_slice(&99u32.to_le_bytes());
    let heart_failure = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/heart_failure/model.bin"),
    )
    .unwrap();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("missing", b"to be deleted".to_vec(), "model.bin"),
        ("truncated", good[..good.len() / 2].to_vec(), "model.bin"),
        (
            "bit-flipped",
            {
                let mut bytes = good.clone();
                bytes[good.len() / 3] ^= 0x10;
                bytes
            },
            "corrupted",
        ),
        ("another format version", other_format, "version 99"),
        (
            "another schema",
            heart_failure,
            "is not compatible with the serving",
        ),
    ];
    for (case, bytes, expected) in cases {
        let version = register(&registry, &bytes);
        if case == "missing" {
            std::fs::remove_file(registry.model_path(version)).unwrap();
        }
        promote(&registry, version, true);
        let error = state.follow_alias().unwrap().unwrap_err();
        let chain = serve::error_chain(&error);
        assert!(chain.contains(expected), "{case}: {chain}");
        assert!(state.model().model_version.starts_with("v1-"), "{case}");
        let status = state.last_reload().unwrap();
        assert!(
            !status.succeeded && status.target_registry_version == Some(version),
            "{case}"
        );
        registry.rollback(Alias::Production).unwrap();
        assert!(
            state.follow_alias().is_none(),
            "{case}: back on the serving version"
        );
    }
}
