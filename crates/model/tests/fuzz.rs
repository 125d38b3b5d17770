//! Property tests of artifact decoding: arbitrary bytes, and committed artifacts with corrupted
//! payloads whose checksum was recomputed (so the decoder itself is reached), give an artifact
//! or an error, never a panic; an artifact that decodes also predicts without panicking.
//! `PROPTEST_CASES` sets how many are tried.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use model::Artifact;
use proptest::prelude::*;

/// Header: magic (8), format version (4), payload length (8); trailer: CRC-32 (4).
const HEADER_LEN: usize = 20;

fn committed(dataset: &str) -> &'static [u8] {
    static BYTES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = BYTES.get_or_init(|| {
        ["sepsis", "heart_failure", "wine_quality"]
            .iter()
            .map(|name| {
                let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../artifacts")
                    .join(name)
                    .join("model.bin");
                std::fs::read(path).unwrap()
            })
            .collect()
    });
    let idx = ["sepsis", "heart_failure", "wine_quality"]
        .iter()
        .position(|name| *name == dataset)
        .unwrap();
    &all[idx]
}

/// Decodes, and when that succeeds, predicts a row of typical values and a row of missing ones.
fn decode_and_use(bytes: &[u8]) {
    if let Ok(artifact) = Artifact::from_bytes(bytes, Path::new("fuzzed.bin")) {
        let n_features = artifact.schema.features.len();
        let _ = artifact.predict_raw(&vec![f64::NAN; n_features]);
        let _ = artifact.predict_raw(&vec![1.0; n_features]);
    }
}

/// Overwrites payload bytes and fixes the checksum, so the damage reaches the decoder.
fn corrupt(original: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let payload_end = bytes.len() - 4;
    let payload_len = payload_end - HEADER_LEN;
    for (offset, value) in edits {
        bytes[HEADER_LEN + offset % payload_len] = *value;
    }
    let crc = crc32fast::hash(&bytes[HEADER_LEN..payload_end]);
    bytes[payload_end..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_and_use(&bytes);
    }

    #[test]
    fn corrupted_committed_artifacts_never_panic(
        dataset in prop_oneof![Just("sepsis"), Just("heart_failure"), Just("wine_quality")],
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        decode_and_use(&corrupt(committed(dataset), &edits));
    }

    #[test]
    fn truncated_artifacts_are_refused(dataset in prop_oneof![Just("sepsis"), Just("wine_quality")], cut in any::<usize>()) {
        let bytes = committed(dataset);
        let kept = cut % bytes.len();
        prop_assert!(Artifact::from_bytes(&bytes[..kept], Path::new("cut.bin")).is_err());
    }
}
