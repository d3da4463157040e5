//! Embedding tables: streaming writer, row access, memory-mapped residency.

use ruvector_gnn_kernels::Rng;
use ruvector_gnn_weights::{
    EmbeddingTable, EmbeddingTableWriter, Error, Precision, TensorData, TensorStore,
};

fn row_of(i: usize, d: usize) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(i as u64);
    (0..d).map(|_| rng.normal_f32()).collect()
}

#[test]
fn writer_round_trip_all_precisions() {
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (257usize, 13usize); // odd sizes: int8 scales land misaligned
    for p in [Precision::F32, Precision::F16, Precision::Int8] {
        let path = dir.path().join(format!("emb-{}.safetensors", p.as_str()));
        let mut w = EmbeddingTableWriter::create(&path, d, p).unwrap();
        for i in 0..n {
            w.push(&row_of(i, d)).unwrap();
        }
        assert_eq!(w.rows(), n);
        w.finish().unwrap();
        let tables = [
            EmbeddingTable::open(&path).unwrap(),
            EmbeddingTable::from_bytes(&std::fs::read(&path).unwrap()).unwrap(),
            #[cfg(feature = "mmap")]
            EmbeddingTable::open_mmap(&path).unwrap(),
        ];
        for t in &tables {
            assert_eq!((t.len(), t.dim(), t.precision()), (n, d, p));
            let scales = match t.tensor().data() {
                TensorData::I8 { scales, .. } => scales.to_vec(),
                _ => Vec::new(),
            };
            let mut buf = vec![0.0; d];
            for i in [0, 1, n / 2, n - 1] {
                let want = row_of(i, d);
                t.row(i, &mut buf).unwrap();
                for (a, b) in want.iter().zip(&buf) {
                    let tol = match p {
                        Precision::F32 => 0.0,
                        Precision::F16 => a.abs() * 4.9e-4 + 6e-8,
                        Precision::Int8 => scales[i] / 2.0 * 1.0001,
                    };
                    assert!((a - b).abs() <= tol, "{p:?} row {i}: {a} vs {b}");
                }
                let x = row_of(i + 1000, d);
                let dot: f32 = buf.iter().zip(&x).map(|(a, b)| a * b).sum();
                assert!((t.dot_row(i, &x).unwrap() - dot).abs() < 1e-4);
            }
            assert!(matches!(t.row(n, &mut buf), Err(Error::OutOfRange { .. })));
            assert!(matches!(t.dot_row(0, &[1.0]), Err(Error::Dimension(_))));
        }
        // The file is a plain safetensors store too.
        let s = TensorStore::load(&path).unwrap();
        assert_eq!(s.get("embeddings").unwrap().shape(), &[n, d]);
    }
}

#[test]
fn writer_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    // Zero rows.
    let p = dir.path().join("empty.safetensors");
    EmbeddingTableWriter::create(&p, 8, Precision::Int8)
        .unwrap()
        .finish()
        .unwrap();
    let t = EmbeddingTable::open(&p).unwrap();
    assert!(t.is_empty());
    // Wrong row length.
    let mut w = EmbeddingTableWriter::create(dir.path().join("x"), 4, Precision::F16).unwrap();
    assert!(matches!(w.push(&[1.0; 3]), Err(Error::Dimension(_))));
    // Dropped without finish: nothing left in the directory but `empty`.
    drop(w);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["empty.safetensors"]);
    // A non-2-D tensor is not a table.
    let mut s = TensorStore::new();
    s.insert(
        "embeddings",
        ruvector_gnn_weights::Tensor::from_f32(vec![3], vec![0.0; 3]).unwrap(),
    )
    .unwrap();
    assert!(EmbeddingTable::from_store(s, "embeddings").is_err());
    assert!(EmbeddingTable::from_store(TensorStore::new(), "embeddings").is_err());
}

/// Linux: resident memory (kB) from /proc/self/status: (VmRSS, RssAnon, RssFile).
#[cfg(all(target_os = "linux", feature = "mmap"))]
fn rss_kb() -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("RssAnon:"), get("RssFile:"))
}

/// A mapped 1M × 128 int8 table (≈ 132 MB with scales) read at 1% of its
/// rows stays far below its file size in resident memory.
#[cfg(all(target_os = "linux", feature = "mmap"))]
#[test]
fn mapped_1m_table_resident_set_stays_small() {
    let (n, d) = (1_000_000usize, 128usize);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    {
        let mut w = EmbeddingTableWriter::create(&path, d, Precision::Int8).unwrap();
        let mut rng = Rng::seed_from_u64(42);
        let mut row = vec![0.0f32; d];
        for _ in 0..n {
            for v in &mut row {
                *v = rng.uniform_range(-1.0, 1.0);
            }
            w.push(&row).unwrap();
        }
        w.finish().unwrap();
    }
    let file_kb = std::fs::metadata(&path).unwrap().len() / 1024;
    assert!(file_kb > 128_000);

    let before = rss_kb();
    let table = EmbeddingTable::open_mmap(&path).unwrap();
    table.advise_random().unwrap();
    assert!(table.store().is_zero_copy("embeddings") || table.tensor().is_borrowed());
    let after_open = rss_kb();

    // 1% of the rows as one contiguous id range (a partition / a batch of
    // neighbouring ids): every row read and dotted.
    let mut rng = Rng::seed_from_u64(7);
    let mut buf = vec![0.0f32; d];
    let x = vec![0.5f32; d];
    let mut acc = 0.0f32;
    let start = rng.below(n - n / 100);
    for i in start..start + n / 100 {
        table.row(i, &mut buf).unwrap();
        acc += buf[0] + table.dot_row(i, &x).unwrap();
    }
    assert!(acc.is_finite());
    let after_range = rss_kb();

    // 1% again as 10 blocks of 1000 rows at random places.
    for _ in 0..10 {
        let start = rng.below(n - 1000);
        for i in start..start + 1000 {
            acc += table.dot_row(i, &x).unwrap();
        }
    }
    assert!(acc.is_finite());
    let after_blocks = rss_kb();

    // Also 10 000 uniformly scattered rows: file pages may be mapped in by
    // the kernel's fault-around, but anonymous memory must not grow.
    for _ in 0..10_000 {
        let i = rng.below(n);
        acc += table.dot_row(i, &x).unwrap();
    }
    assert!(acc.is_finite());
    let after_scattered = rss_kb();

    let grow = |a: (u64, u64, u64)| a.0.saturating_sub(before.0);
    println!(
        "file {file_kb} kB; RSS growth: open {} kB, 1% as one range {} kB, +1% in 10 blocks {} kB, \
         +10k scattered rows {} kB (anon +{} kB, file-backed +{} kB)",
        grow(after_open),
        grow(after_range),
        grow(after_blocks),
        grow(after_scattered),
        after_scattered.1.saturating_sub(before.1),
        after_scattered.2.saturating_sub(before.2),
    );
    assert!(
        grow(after_range) < file_kb / 4,
        "RSS grew {} kB for a {file_kb} kB file",
        grow(after_range)
    );
    assert!(grow(after_blocks) < file_kb / 4);
    assert!(after_scattered.1.saturating_sub(before.1) < file_kb / 20);
}
