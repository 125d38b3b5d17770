//! Property tests of the CSV loader: whatever bytes a file holds, loading gives a dataset or an
//! error naming the file, never a panic. `PROPTEST_CASES` sets how many files are tried.

use std::path::{Path, PathBuf};

use data::{DatasetConfig, Labels, load};
use proptest::prelude::*;

fn config() -> DatasetConfig {
    DatasetConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/toy.toml"))
        .unwrap()
}

/// Cells that exercise the loader's edges: numbers, missing markers, quotes, separators, line
/// endings, a BOM, non-ASCII and invalid UTF-8.
fn cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"145".to_vec()),
        Just(b"0".to_vec()),
        Just(b"31.7".to_vec()),
        Just(b"NA".to_vec()),
        Just(b"".to_vec()),
        Just(b"north".to_vec()),
        Just(b"yes".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\"a,b\"".to_vec()),
        Just(b"\"x\"\"y\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        Just(b"1e308".to_vec()),
        Just(b"-inf".to_vec()),
        Just("é".as_bytes().to_vec()),
        Just(b"\xff\xfe".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ]
}

/// A file: mostly the fixture's header and plausible rows, sometimes broken anywhere.
fn file() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        Just(b"pid,glucose,body mass,smoker,ward,followup,outcome\n".to_vec()),
        Just(b"pid, glucose ,body mass,smoker,ward,followup,outcome\r\n".to_vec()),
        Just(b"pid,glucose,glucose,smoker,ward,followup,outcome\n".to_vec()),
        proptest::collection::vec(cell(), 0..8).prop_map(|cells| cells.join(&b","[..])),
    ];
    let row = proptest::collection::vec(cell(), 0..9).prop_map(|cells| {
        let mut line = cells.join(&b","[..]);
        line.push(b'\n');
        line
    });
    (header, proptest::collection::vec(row, 0..12)).prop_map(|(header, rows)| {
        let mut bytes = header;
        for row in rows {
            bytes.extend(row);
        }
        bytes
    })
}

proptest! {
    #[test]
    fn any_file_loads_or_is_refused_by_name(bytes in file(), labels in any::<bool>()) {
        let folder = tempfile::tempdir().unwrap();
        let path: PathBuf = folder.path().join("fuzzed.csv");
        std::fs::write(&path, &bytes).unwrap();
        let labels = if labels { Labels::Required } else { Labels::Optional };
        if let Err(error) = load(&config(), &path, labels) {
            prop_assert!(error.to_string().contains("fuzzed.csv"), "{error}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("bytes.csv");
        std::fs::write(&path, &bytes).unwrap();
        let _ = load(&config(), &path, Labels::Optional);
    }
}
