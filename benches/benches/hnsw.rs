//! HNSW benchmarks on GloVe-50 100K (cosine, M 16, ef_construction 200):
//! build, search µs/query at the ef values reaching recall@10 ≥ 0.90 / 0.95,
//! graph extraction, and `sparse::gather` (64-d) with and without node
//! reordering. Peer: `benches/peers/hnswlib_glove.py`.
//!
//! ```text
//! cargo bench -p ruvector-gnn-benches --bench hnsw
//! HNSW_BENCH_BUILD=1 cargo bench -p ruvector-gnn-benches --bench hnsw   # also criterion-time the build (10 × ~20 s)
//! ```
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use ruvector_gnn_hnsw::{
    EdgeWeights, GraphOptions, HnswIndex, HnswParams, Metric, Ordering, Permutation,
};
use ruvector_gnn_kernels::{sparse, Rng};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/glove50");

struct Data {
    base: Array2<f32>,
    queries: Array2<f32>,
    gt: Array2<i32>,
}

fn load() -> Option<Data> {
    let p = format!("{DIR}/ann_base_100k.npy");
    if !std::path::Path::new(&p).exists() {
        eprintln!("skipping hnsw benches: {p} not found");
        return None;
    }
    Some(Data {
        base: ndarray_npy::read_npy(p).ok()?,
        queries: ndarray_npy::read_npy(format!("{DIR}/ann_queries_1k.npy")).ok()?,
        gt: ndarray_npy::read_npy(format!("{DIR}/ann_gt_cosine_top100.npy")).ok()?,
    })
}

fn params() -> HnswParams {
    HnswParams {
        metric: Metric::Cosine,
        m: 16,
        ef_construction: 200,
        ef_search: 64,
        ..HnswParams::default()
    }
}

fn recall(index: &HnswIndex, d: &Data, ef: usize) -> f64 {
    let mut hits = 0;
    for i in 0..d.queries.nrows() {
        let res = index
            .search_ef(d.queries.row(i).to_slice().unwrap(), 10, ef)
            .unwrap();
        let truth: Vec<u64> = d.gt.row(i).iter().take(10).map(|&x| x as u64).collect();
        hits += res.iter().filter(|h| truth.contains(&h.0)).count();
    }
    hits as f64 / (10 * d.queries.nrows()) as f64
}

fn benches(c: &mut Criterion) {
    let Some(d) = load() else { return };
    let t = Instant::now();
    let index = HnswIndex::build(params(), d.base.view(), None).unwrap();
    eprintln!("build (one run): {:.2} s", t.elapsed().as_secs_f64());
    if std::env::var_os("HNSW_BENCH_BUILD").is_some() {
        let mut g = c.benchmark_group("hnsw_build");
        g.sample_size(10).measurement_time(Duration::from_secs(60));
        g.bench_function("glove50_100k_m16_efc200", |b| {
            b.iter(|| HnswIndex::build(params(), d.base.view(), None).unwrap());
        });
        g.finish();
    }
    // Smallest ef reaching each recall target.
    let efs = [16usize, 24, 32, 48, 64, 96, 128, 192, 256];
    let mut chosen = Vec::new();
    for target in [0.90, 0.95] {
        if let Some(&(ef, r)) = efs
            .iter()
            .map(|&ef| (ef, recall(&index, &d, ef)))
            .collect::<Vec<_>>()
            .iter()
            .find(|(_, r)| *r >= target)
        {
            eprintln!("recall@10 >= {target}: ef {ef} gives {r:.3}");
            chosen.push(ef);
        }
    }
    let nq = d.queries.nrows();
    let mut g = c.benchmark_group("hnsw_search");
    // One iteration = 1000 queries (0.2–2 s here); 10 samples keep the run short.
    g.sample_size(10);
    g.throughput(Throughput::Elements(nq as u64));
    for &ef in &chosen {
        g.bench_with_input(BenchmarkId::new("ours_1000q", ef), &ef, |b, &ef| {
            b.iter(|| {
                for i in 0..nq {
                    std::hint::black_box(
                        index
                            .search_ef(d.queries.row(i).to_slice().unwrap(), 10, ef)
                            .unwrap(),
                    );
                }
            });
        });
        g.bench_with_input(BenchmarkId::new("hnsw_rs_1000q", ef), &ef, |b, &ef| {
            b.iter(|| {
                for i in 0..nq {
                    std::hint::black_box(
                        index
                            .search_backend(d.queries.row(i).to_slice().unwrap(), 10, ef)
                            .unwrap(),
                    );
                }
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("hnsw_extract");
    g.sample_size(10);
    g.bench_function("layer0_plain", |b| {
        b.iter(|| index.graph(&GraphOptions::default()).unwrap());
    });
    let full = GraphOptions {
        symmetrise: true,
        weights: EdgeWeights::Similarity,
        repair_unreachable: true,
    };
    g.bench_function("layer0_sym_weights_repair", |b| {
        b.iter(|| index.graph(&full).unwrap());
    });
    g.finish();

    let graph = index.graph(&GraphOptions::default()).unwrap();
    let mut rng = Rng::seed_from_u64(1);
    let x = Array2::from_shape_fn((graph.n_rows(), 64), |_| rng.normal_f32());
    let mut out = Array2::<f32>::zeros((graph.n_rows(), 64));
    let mut g = c.benchmark_group("hnsw_gather64");
    g.sample_size(30);
    g.bench_function("insertion_order", |b| {
        b.iter(|| sparse::gather(&graph, None, x.view(), 0.0, out.view_mut()));
    });
    for (name, ord) in [("bfs", Ordering::Bfs), ("rcm", Ordering::Rcm)] {
        let p = Permutation::compute(&graph, ord).unwrap();
        let pg = p.apply_csr(&graph).unwrap();
        let px = p.apply_rows(x.view()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| sparse::gather(&pg, None, px.view(), 0.0, out.view_mut()));
        });
    }
    g.finish();
}

criterion_group!(hnsw, benches);
criterion_main!(hnsw);
