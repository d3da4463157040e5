//! Dump → reload round trips and corrupt-dump handling.

mod common;

use common::{random, row};
use ruvector_gnn_hnsw::{
    AnnBackend, EdgeWeights, Error, GraphOptions, HnswIndex, HnswParams, HnswRs, LoadOptions,
    Metric, NativeHnsw,
};

fn build<B: AnnBackend>() -> (ndarray::Array2<f32>, HnswIndex<B>) {
    let data = random(1500, 12, 21);
    let ids: Vec<u64> = (0..1500u64).map(|i| i * 3 + 11).collect();
    let params = HnswParams {
        metric: Metric::Cosine,
        m: 8,
        ef_construction: 64,
        ..HnswParams::default()
    };
    (
        data.clone(),
        HnswIndex::<B>::build_with(params, data.view(), Some(&ids)).unwrap(),
    )
}

fn opts() -> GraphOptions {
    GraphOptions {
        symmetrise: true,
        weights: EdgeWeights::Distance,
        repair_unreachable: true,
    }
}

#[test]
fn reload_gives_identical_results_and_graph() {
    reload_identical::<NativeHnsw>();
    reload_identical::<HnswRs>();
}

fn reload_identical<B: AnnBackend>() {
    let (data, index) = build::<B>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    index.save(&path).unwrap();
    // Saving again atomically replaces the previous dump.
    index.save(&path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary directories left behind");
    for mmap in [false, true] {
        let loaded = HnswIndex::<B>::load_with(&path, LoadOptions { mmap }).unwrap();
        assert_eq!(loaded.len(), index.len());
        assert_eq!(loaded.ids(), index.ids());
        assert_eq!(loaded.params(), index.params());
        for l in 0..=index.top_layer() {
            assert_eq!(
                loaded.layer_graph(l, &opts()).unwrap(),
                index.layer_graph(l, &opts()).unwrap(),
                "layer {l} (mmap {mmap})"
            );
        }
        assert_eq!(loaded.reachability(), index.reachability());
        for i in (0..1500).step_by(7) {
            let q = row(&data, i);
            assert_eq!(
                loaded.search_ef(q, 10, 50).unwrap(),
                index.search_ef(q, 10, 50).unwrap()
            );
            assert_eq!(
                loaded.search_backend(q, 10, 50).unwrap(),
                index.search_backend(q, 10, 50).unwrap()
            );
            assert_eq!(loaded.vector(index.ids()[i]), index.vector(index.ids()[i]));
        }
        assert_eq!(
            loaded.vectors_mapped(),
            mmap && cfg!(target_endian = "little")
        );
        // Dumping a mapped index over the very files it maps leaves it intact.
        assert!(!loaded.backend().dump(&path).unwrap().is_empty());
        let q = row(&data, 11);
        assert_eq!(
            loaded.search_ef(q, 10, 50).unwrap(),
            index.search_ef(q, 10, 50).unwrap()
        );
        // Inserting into a mapped index copies the native table to the
        // heap (the dump is untouched), and searches see the new point.
        let mut grown = loaded;
        let extra: Vec<f32> = row(&data, 3).iter().map(|v| v + 1e-3).collect();
        grown.insert(999_999, &extra).unwrap();
        assert_eq!(grown.search_ef(&extra, 1, 50).unwrap()[0].0, 999_999);
        if B::NAME == NativeHnsw::NAME {
            assert!(!grown.vectors_mapped());
        }
        let again = HnswIndex::<B>::load_with(&path, LoadOptions { mmap }).unwrap();
        assert_eq!(again.len(), index.len());
    }
}

fn file_names(path: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn corrupt_truncated_and_missing_files_are_typed_errors() {
    corrupt_files::<NativeHnsw>(&["ids.bin", "manifest.json", "native.graph", "native.vectors"]);
    corrupt_files::<HnswRs>(&[
        "ids.bin",
        "index.hnsw.data",
        "index.hnsw.graph",
        "manifest.json",
    ]);
}

#[test]
fn loading_with_the_other_backend_is_a_typed_error() {
    let (_, index) = build::<NativeHnsw>();
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path().join("n")).unwrap();
    let err =
        HnswIndex::<HnswRs>::load_with(dir.path().join("n"), LoadOptions::default()).unwrap_err();
    assert!(matches!(err, Error::BackendMismatch { .. }), "{err}");
}

fn corrupt_files<B: AnnBackend>(expect_names: &[&str]) {
    let (_, index) = build::<B>();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    index.save(&good).unwrap();
    let names = file_names(&good);
    assert_eq!(names, expect_names);
    let copy = |tag: &str| {
        let p = dir.path().join(tag);
        std::fs::create_dir(&p).unwrap();
        for n in &names {
            std::fs::copy(good.join(n), p.join(n)).unwrap();
        }
        p
    };
    for name in expect_names.iter().filter(|n| **n != "manifest.json") {
        // Flipped byte in the middle.
        let p = copy(&format!("flip-{name}"));
        let mut bytes = std::fs::read(p.join(name)).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        std::fs::write(p.join(name), &bytes).unwrap();
        let err = HnswIndex::<B>::load_with(&p, LoadOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::ChecksumMismatch { .. }),
            "{name}: {err}"
        );
        // Truncated.
        let p = copy(&format!("trunc-{name}"));
        bytes.truncate(mid);
        std::fs::write(p.join(name), &bytes).unwrap();
        let err = HnswIndex::<B>::load_with(&p, LoadOptions { mmap: true }).unwrap_err();
        assert!(
            matches!(err, Error::ChecksumMismatch { .. }),
            "{name}: {err}"
        );
        // Missing.
        let p = copy(&format!("missing-{name}"));
        std::fs::remove_file(p.join(name)).unwrap();
        let err = HnswIndex::<B>::load_with(&p, LoadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::MissingFile(_)), "{name}: {err}");
    }
    // Manifest: missing, garbage, truncated, future version.
    let p = copy("no-manifest");
    std::fs::remove_file(p.join("manifest.json")).unwrap();
    assert!(matches!(
        HnswIndex::<B>::load_with(&p, LoadOptions::default()),
        Err(Error::MissingFile(_))
    ));
    let p = copy("bad-manifest");
    let text = std::fs::read_to_string(p.join("manifest.json")).unwrap();
    std::fs::write(p.join("manifest.json"), &text[..text.len() / 2]).unwrap();
    assert!(matches!(
        HnswIndex::<B>::load_with(&p, LoadOptions::default()),
        Err(Error::CorruptDump(_))
    ));
    let p = copy("version");
    std::fs::write(
        p.join("manifest.json"),
        text.replace("\"version\": 1", "\"version\": 99"),
    )
    .unwrap();
    assert!(matches!(
        HnswIndex::<B>::load_with(&p, LoadOptions::default()),
        Err(Error::UnsupportedVersion { found: 99, .. })
    ));
    let p = copy("escape");
    std::fs::write(
        p.join("manifest.json"),
        text.replace("\"ids.bin\"", "\"../good/ids.bin\""),
    )
    .unwrap();
    assert!(matches!(
        HnswIndex::<B>::load_with(&p, LoadOptions::default()),
        Err(Error::CorruptDump(_))
    ));
    assert!(matches!(
        HnswIndex::<B>::load_with(dir.path().join("nowhere"), LoadOptions::default()),
        Err(Error::MissingFile(_))
    ));
    // An empty index cannot be saved.
    let empty = HnswIndex::<B>::new_with(4, HnswParams::default()).unwrap();
    assert!(matches!(
        empty.save(dir.path().join("e")),
        Err(Error::EmptyIndex)
    ));
    // The good dump still loads.
    assert_eq!(
        HnswIndex::<B>::load_with(&good, LoadOptions::default())
            .unwrap()
            .len(),
        1500
    );
}

/// Files that pass the checksum (manifest rewritten to match) but that
/// hnsw_rs cannot parse: the loader's panics and errors become typed errors.
#[test]
fn consistent_checksums_over_garbage_still_error() {
    for cut in [3, 2] {
        garbage::<HnswRs>("index.hnsw.graph", cut);
        garbage::<NativeHnsw>("native.graph", cut);
        garbage::<NativeHnsw>("native.vectors", cut);
    }
    // A native graph with an out-of-range neighbour id.
    garbage::<NativeHnsw>("native.graph", 0);
}

fn garbage<B: AnnBackend>(file: &str, cut: usize) {
    let (_, index) = build::<B>();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    index.save(&p).unwrap();
    let graph = p.join(file);
    let mut bytes = std::fs::read(&graph).unwrap();
    if let Some(len) = bytes.len().checked_div(cut) {
        bytes.truncate(len);
    } else {
        // cut == 0: set the last 4 bytes (the last neighbour id of the last node) out of range.
        let l = bytes.len();
        bytes[l - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    std::fs::write(&graph, &bytes).unwrap();
    let crc = crc32fast::hash(&bytes);
    let text = std::fs::read_to_string(p.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["name"] == file {
            f["len"] = serde_json::json!(bytes.len());
            f["crc32"] = serde_json::json!(crc);
        }
    }
    std::fs::write(p.join("manifest.json"), serde_json::to_string(&m).unwrap()).unwrap();
    let err = HnswIndex::<B>::load_with(&p, LoadOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::CorruptDump(_)),
        "{file} / {cut}: {err}"
    );
}
