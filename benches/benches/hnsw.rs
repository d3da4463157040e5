//! HNSW benchmarks on GloVe-50 100K (cosine, M 16, ef_construction 200).
//!
//! First an alternating comparison with hnswlib (the peer script
//! `benches/peers/hnswlib_glove.py`, run as a subprocess between our rounds):
//! per round, our build time and recall@10 / µs per query at several ef, then
//! hnswlib's; at the end, medians and the ratios ours / hnswlib for build
//! time and for µs/query at the smallest ef reaching recall@10 ≥ 0.90 and
//! ≥ 0.95. Then criterion groups: search at those ef, graph extraction, and
//! `sparse::gather` (64-d) with and without node reordering.
//!
//! ```text
//! cargo bench -p ruvector-gnn-benches --bench hnsw
//! HNSW_ROUNDS=3 HNSW_PEER_PYTHON=/work/.peers-venv/bin/python cargo bench -p ruvector-gnn-benches --bench hnsw
//! HNSW_BENCH_HNSW_RS=1 cargo bench ...   # also build once with the hnsw_rs backend (minutes)
//! ```
//!
//! `HNSW_PEER_PYTHON` defaults to `/work/.peers-venv/bin/python` when it
//! exists; without a peer only our side is measured.
#![allow(missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use ruvector_gnn_hnsw::{
    EdgeWeights, GraphOptions, HnswIndex, HnswParams, HnswRs, Metric, Ordering, Permutation,
};
use ruvector_gnn_kernels::{sparse, Rng};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/glove50");
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/hnswlib_glove.py");
const EFS: [usize; 10] = [16, 24, 32, 48, 64, 80, 96, 128, 192, 256];

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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// recall@10 and µs/query (median of 3 single-threaded passes) at `ef`.
fn sweep_point(index: &HnswIndex, d: &Data, ef: usize) -> (f64, f64) {
    let nq = d.queries.nrows();
    let mut times = Vec::new();
    let mut res = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        res = (0..nq)
            .map(|i| {
                index
                    .search_ef(d.queries.row(i).to_slice().unwrap(), 10, ef)
                    .unwrap()
            })
            .collect::<Vec<_>>();
        times.push(t.elapsed().as_secs_f64() * 1e6 / nq as f64);
    }
    let mut hits = 0;
    for (i, r) in res.iter().enumerate() {
        let truth: Vec<u64> = d.gt.row(i).iter().take(10).map(|&x| x as u64).collect();
        hits += r.iter().filter(|h| truth.contains(&h.0)).count();
    }
    (hits as f64 / (10 * nq) as f64, median(times))
}

/// `(ef, recall@10, µs/query)` per ef of one sweep.
type Sweep = Vec<(usize, f64, f64)>;

/// One peer run: build seconds and its sweep.
fn run_peer(python: &str) -> Option<(f64, Sweep)> {
    let out = Command::new(python)
        .arg(PEER)
        .args(["16", "200"])
        .env("GLOVE_DIR", DIR)
        .env("EFS", EFS.map(|e| e.to_string()).join(","))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!(
            "peer failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let mut build = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("build ") {
            build = rest
                .rsplit(": ")
                .next()
                .and_then(|s| s.trim_end_matches(" s").parse().ok());
        } else if let [ef, "|", r, us] = line.split_whitespace().collect::<Vec<_>>()[..] {
            if let (Ok(ef), Ok(r), Ok(us)) = (ef.parse(), r.parse(), us.parse()) {
                rows.push((ef, r, us));
            }
        }
    }
    Some((build?, rows))
}

/// Smallest ef whose median recall reaches `target`: (ef, recall, median µs).
fn at_target(rounds: &[Sweep], target: f64) -> Option<(usize, f64, f64)> {
    let efs: Vec<usize> = rounds.first()?.iter().map(|r| r.0).collect();
    efs.into_iter().find_map(|ef| {
        let pts: Vec<(f64, f64)> = rounds
            .iter()
            .filter_map(|r| r.iter().find(|x| x.0 == ef).map(|x| (x.1, x.2)))
            .collect();
        let rec = median(pts.iter().map(|p| p.0).collect());
        (rec >= target).then(|| (ef, rec, median(pts.iter().map(|p| p.1).collect())))
    })
}

fn compare(d: &Data) -> (HnswIndex, Vec<usize>) {
    let rounds: usize = std::env::var("HNSW_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let python = std::env::var("HNSW_PEER_PYTHON").ok().or_else(|| {
        let p = "/work/.peers-venv/bin/python";
        std::path::Path::new(p).exists().then(|| p.to_string())
    });
    eprintln!(
        "GloVe-50 100K cosine M 16 ef_c 200; rayon threads {}; load {} at start",
        rayon::current_num_threads(),
        loadavg()
    );
    let (mut ours_build, mut peer_build) = (Vec::new(), Vec::new());
    let (mut ours_rows, mut peer_rows) = (Vec::new(), Vec::new());
    let mut index = None;
    for round in 0..rounds {
        let t = Instant::now();
        let built = HnswIndex::build(params(), d.base.view(), None).unwrap();
        let secs = t.elapsed().as_secs_f64();
        ours_build.push(secs);
        let rows: Sweep = EFS
            .iter()
            .map(|&ef| {
                let (r, us) = sweep_point(&built, d, ef);
                (ef, r, us)
            })
            .collect();
        eprintln!("round {round} ours: build {secs:.2} s (load {})", loadavg());
        for (ef, r, us) in &rows {
            eprintln!("  ef {ef:>3}: recall {r:.3}  {us:>7.1} µs/query");
        }
        ours_rows.push(rows);
        index = Some(built);
        if let Some(py) = &python {
            if let Some((b, rows)) = run_peer(py) {
                eprintln!("round {round} hnswlib: build {b:.2} s (load {})", loadavg());
                for (ef, r, us) in &rows {
                    eprintln!("  ef {ef:>3}: recall {r:.3}  {us:>7.1} µs/query");
                }
                peer_build.push(b);
                peer_rows.push(rows);
            }
        }
    }
    let ob = median(ours_build.clone());
    eprintln!(
        "\n== summary ({rounds} alternating rounds, load {} at end)",
        loadavg()
    );
    eprintln!("build: ours {ours_build:.2?} s (median {ob:.2})");
    if !peer_build.is_empty() {
        let pb = median(peer_build.clone());
        eprintln!(
            "build: hnswlib {peer_build:.2?} s (median {pb:.2}); ratio ours/hnswlib {:.2}x",
            ob / pb
        );
    }
    let mut chosen = Vec::new();
    for target in [0.90, 0.95] {
        let o = at_target(&ours_rows, target);
        let p = at_target(&peer_rows, target);
        if let Some((ef, r, us)) = o {
            chosen.push(ef);
            match p {
                Some((pef, pr, pus)) => eprintln!(
                    "recall >= {target}: ours ef {ef} {r:.3} at {us:.1} µs; hnswlib ef {pef} {pr:.3} at {pus:.1} µs; ratio {:.2}x",
                    us / pus
                ),
                None => eprintln!("recall >= {target}: ours ef {ef} {r:.3} at {us:.1} µs"),
            }
        }
    }
    if std::env::var_os("HNSW_BENCH_HNSW_RS").is_some() {
        let t = Instant::now();
        let rs = HnswIndex::<HnswRs>::build_with(params(), d.base.view(), None).unwrap();
        eprintln!(
            "hnsw_rs backend build: {:.2} s (load {}); ours median {ob:.2} s",
            t.elapsed().as_secs_f64(),
            loadavg()
        );
        drop(rs);
    }
    (index.expect("at least one round"), chosen)
}

fn benches(c: &mut Criterion) {
    let Some(d) = load() else { return };
    let (index, chosen) = compare(&d);
    let nq = d.queries.nrows();
    let mut g = c.benchmark_group("hnsw_search");
    // One iteration = 1000 queries; 10 samples keep the run short.
    g.sample_size(10).measurement_time(Duration::from_secs(4));
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
    g.sample_size(20);
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
