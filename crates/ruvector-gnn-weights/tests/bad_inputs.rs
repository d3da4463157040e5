//! The loader rejects each class of malformed or hostile input with a typed
//! error (never a panic, never UB, never an allocation beyond the input).

use ruvector_gnn_weights::{fuzz_load, Error, LoadOptions, Precision, Tensor, TensorStore};

/// A file from a raw header string and raw data bytes.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[track_caller]
fn format_err(bytes: &[u8], needle: &str) {
    fuzz_load(bytes); // the fuzz entry point must not panic either
    match TensorStore::from_bytes(bytes) {
        Err(Error::Format { reason, .. }) => {
            assert!(
                reason.to_lowercase().contains(&needle.to_lowercase()),
                "reason '{reason}' lacks '{needle}'"
            );
        }
        other => panic!("expected a format error containing '{needle}', got {other:?}"),
    }
}

#[track_caller]
fn tensor_err(bytes: &[u8], needle: &str) {
    fuzz_load(bytes);
    match TensorStore::from_bytes(bytes) {
        Err(Error::Tensor { reason, .. }) => {
            assert!(
                reason.contains(needle),
                "reason '{reason}' lacks '{needle}'"
            );
        }
        other => panic!("expected a tensor error containing '{needle}', got {other:?}"),
    }
}

#[test]
fn truncated_header() {
    format_err(&[], "truncated");
    format_err(&[8, 0, 0], "truncated");
    // A valid file cut anywhere inside its header or data fails cleanly.
    let mut s = TensorStore::new();
    s.insert(
        "w",
        Tensor::from_f32(vec![4], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
    )
    .unwrap();
    let good = s.to_bytes().unwrap();
    for cut in 0..good.len() {
        assert!(
            TensorStore::from_bytes(&good[..cut]).is_err(),
            "cut at {cut}"
        );
        fuzz_load(&good[..cut]);
    }
}

#[test]
fn header_length_larger_than_file() {
    let mut f = 1000u64.to_le_bytes().to_vec();
    f.extend_from_slice(b"{}");
    format_err(&f, "exceeds");
    let mut f = u64::MAX.to_le_bytes().to_vec();
    f.extend_from_slice(b"{}");
    format_err(&f, "exceeds");
    // Claimed 200 MB header in a 10-byte file: rejected before allocating.
    let mut f = 200_000_000u64.to_le_bytes().to_vec();
    f.extend_from_slice(b"{}");
    format_err(&f, "exceeds");
}

#[test]
fn bad_json() {
    format_err(&raw("{not json", &[]), "json");
    format_err(&raw("{\"a\": 5}", &[]), "json");
    format_err(&raw("\u{1}\u{2}", &[]), "json");
    let mut f = 2u64.to_le_bytes().to_vec();
    f.extend_from_slice(&[0xff, 0xfe]);
    format_err(&f, "utf-8");
    // __metadata__ values must be strings.
    format_err(&raw(r#"{"__metadata__":{"a":1}}"#, &[]), "json");
    // Config that is not JSON, unsupported format version.
    format_err(
        &raw(r#"{"__metadata__":{"ruvector_gnn.config":"{oops"}}"#, &[]),
        "config",
    );
    format_err(
        &raw(r#"{"__metadata__":{"format_version":"99"}}"#, &[]),
        "newer",
    );
    format_err(
        &raw(r#"{"__metadata__":{"format_version":"x"}}"#, &[]),
        "not a number",
    );
}

#[test]
fn out_of_bounds_offsets() {
    let h = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "incomplete");
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551600,18446744073709551608]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "offset");
    // Trailing bytes not covered by any tensor.
    let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "incomplete");
    // A gap between tensors.
    let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0, 3.0])), "offset");
}

#[test]
fn overlapping_ranges() {
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0, 3.0])), "offset");
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "offset");
}

#[test]
fn dtype_shape_mismatch() {
    let h = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "invalid shape");
    let h = r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "invalid shape");
    // Shape product overflows usize.
    let h = r#"{"a":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,8]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "overflow");
    // An empty tensor claiming a dimension beyond the file size.
    let h = r#"{"a":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}}"#;
    format_err(&raw(h, &[]), "exceeds the file size");
    let h = r#"{"a":{"dtype":"NOPE","shape":[2],"data_offsets":[0,8]}}"#;
    format_err(&raw(h, &f32s(&[1.0, 2.0])), "json");
    // Valid safetensors, but a dtype we do not load.
    let h = r#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#;
    tensor_err(&raw(h, &[0; 8]), "unsupported dtype");
}

#[test]
fn misaligned_data_is_copied() {
    // Header of 58 bytes: data starts at offset 66, not 4-aligned.
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    "#;
    assert_ne!((8 + h.len()) % 4, 0);
    let s = TensorStore::from_bytes(&raw(h, &f32s(&[3.0, -1.0]))).unwrap();
    assert!(!s.is_zero_copy("a"));
    assert_eq!(s.get("a").unwrap().to_f32_vec(), vec![3.0, -1.0]);
    // Misaligned f16 and int8 scales too.
    let h = r#"{"q":{"dtype":"I8","shape":[1,3],"data_offsets":[0,3]},"q.scale":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}}"#;
    let mut d = vec![1u8, 2, 0xff];
    d.extend_from_slice(&0.5f32.to_le_bytes());
    let s = TensorStore::from_bytes(&raw(h, &d)).unwrap();
    assert_eq!(s.get("q").unwrap().to_f32_vec(), vec![0.5, 1.0, -0.5]);
}

#[test]
fn nan_and_inf_rejected_unless_allowed() {
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let f = raw(h, &f32s(&[1.0, f32::NAN]));
    fuzz_load(&f);
    assert!(matches!(
        TensorStore::from_bytes(&f),
        Err(Error::NonFinite(_))
    ));
    let allow = LoadOptions {
        allow_non_finite: true,
        ..LoadOptions::default()
    };
    let s = TensorStore::from_bytes_with(&f, allow).unwrap();
    assert!(s.get("a").unwrap().to_f32_vec()[1].is_nan());
    let h = r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let f = raw(h, &[0, 0x3c, 0, 0x7c]); // 1.0, +Inf
    assert!(matches!(
        TensorStore::from_bytes(&f),
        Err(Error::NonFinite(_))
    ));
    assert!(TensorStore::from_bytes_with(&f, allow).is_ok());
    // The writer side: an embedding row with NaN is refused.
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        ruvector_gnn_weights::EmbeddingTableWriter::create(dir.path().join("e"), 2, Precision::F32)
            .unwrap();
    assert!(matches!(
        w.push(&[1.0, f32::INFINITY]),
        Err(Error::NonFinite(_))
    ));
}

#[test]
fn int8_scale_problems() {
    let q = r#""q":{"dtype":"I8","shape":[2,2],"data_offsets":[0,4]}"#;
    // Missing scale.
    tensor_err(
        &raw(&format!("{{{q}}}"), &[1, 2, 3, 4]),
        "without its F32 scale",
    );
    // Wrong scale length.
    let h = format!(
        r#"{{"q.scale":{{"dtype":"F32","shape":[3],"data_offsets":[0,12]}},{}}}"#,
        q.replace("[0,4]", "[12,16]")
    );
    let mut d = f32s(&[0.1, 0.1, 0.1]);
    d.extend_from_slice(&[1, 2, 3, 4]);
    tensor_err(&raw(&h, &d), "expected [2]");
    // Scale of the wrong dtype.
    let h = format!(
        r#"{{"q.scale":{{"dtype":"F16","shape":[2],"data_offsets":[0,4]}},{}}}"#,
        q.replace("[0,4]", "[4,8]")
    );
    tensor_err(&raw(&h, &[0, 0x3c, 0, 0x3c, 1, 2, 3, 4]), "expected F32");
    // Scale 2-D instead of 1-D.
    let h = format!(
        r#"{{"q.scale":{{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}},{}}}"#,
        q.replace("[0,4]", "[8,12]")
    );
    let mut d = f32s(&[0.1, 0.1]);
    d.extend_from_slice(&[1, 2, 3, 4]);
    tensor_err(&raw(&h, &d), "expected [2]");
    // NaN and negative scales are rejected even with allow_non_finite.
    for bad in [f32::NAN, -1.0, f32::INFINITY] {
        let h = format!(
            r#"{{"q.scale":{{"dtype":"F32","shape":[2],"data_offsets":[0,8]}},{}}}"#,
            q.replace("[0,4]", "[8,12]")
        );
        let mut d = f32s(&[0.1, bad]);
        d.extend_from_slice(&[1, 2, 3, 4]);
        tensor_err(&raw(&h, &d), "scale");
        let allow = LoadOptions {
            allow_non_finite: true,
            ..LoadOptions::default()
        };
        assert!(TensorStore::from_bytes_with(&raw(&h, &d), allow).is_err());
    }
    // The good version loads, and the scale is not listed as a tensor.
    let h = format!(
        r#"{{"q.scale":{{"dtype":"F32","shape":[2],"data_offsets":[0,8]}},{}}}"#,
        q.replace("[0,4]", "[8,12]")
    );
    let mut d = f32s(&[0.5, 0.25]);
    d.extend_from_slice(&[1, 2, 3, 4]);
    let s = TensorStore::from_bytes(&raw(&h, &d)).unwrap();
    assert_eq!(s.names().collect::<Vec<_>>(), ["q"]);
    assert_eq!(s.get("q").unwrap().to_f32_vec(), vec![0.5, 1.0, 0.75, 1.0]);
    assert_eq!(s.get("q").unwrap().precision(), Precision::Int8);
}

#[test]
fn file_level_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        TensorStore::load(dir.path().join("missing.safetensors")),
        Err(Error::Io { .. })
    ));
    let p = dir.path().join("empty.safetensors");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(TensorStore::load(&p), Err(Error::Format { .. })));
    #[cfg(feature = "mmap")]
    assert!(matches!(
        TensorStore::load_mmap(&p),
        Err(Error::Format { .. })
    ));
    // Saving into a missing directory is an I/O error, not a panic.
    let s = TensorStore::new();
    assert!(matches!(
        s.save(dir.path().join("no/such/dir/x")),
        Err(Error::Io { .. })
    ));
}

/// The truncation guard: a mapped file shrunk by "another process" is
/// detected by `check_file_unchanged` before any page past the new end is
/// touched.
#[cfg(feature = "mmap")]
#[test]
fn truncation_guard_detects_shrunk_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.safetensors");
    let mut s = TensorStore::new();
    let t = Tensor::from_f32(vec![1024, 4], vec![0.5; 4096]).unwrap();
    s.insert("w", ruvector_gnn_weights::quantize(&t, Precision::F16))
        .unwrap();
    s.save(&p).unwrap();
    let m = TensorStore::load_mmap(&p).unwrap();
    m.check_file_unchanged().unwrap();
    // Our own writers replace the file by rename: the mapping stays valid.
    s.save(&p).unwrap();
    m.check_file_unchanged().unwrap();
    assert_eq!(m.get("w").unwrap().to_f32_vec()[4095], 0.5);
    // An in-place truncation (what a foreign writer might do) is detected.
    let m = TensorStore::load_mmap(&p).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(matches!(
        m.check_file_unchanged(),
        Err(Error::Format { .. })
    ));
    drop(m); // dropping the mapping touches no page
}
