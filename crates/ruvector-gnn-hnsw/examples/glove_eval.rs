//! GloVe-50 100K evaluation: build time, recall@10 and µs/query per ef (our
//! flat-layer search and hnsw_rs's own search), graph extraction time, and
//! the effect of node reordering on `sparse::gather` with 64-d features.
//!
//! ```text
//! cargo run --release -p ruvector-gnn-hnsw --example glove_eval -- [M] [ef_construction]
//! HNSW_BACKEND=hnsw_rs GLOVE_N=20000 cargo run --release -p ruvector-gnn-hnsw --example glove_eval
//! ```
//!
//! `HNSW_BACKEND`: `native` (default) or `hnsw_rs`; `GLOVE_N`: use the first
//! N base vectors (recall is then against brute force on those N).
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView1};
use ruvector_gnn_hnsw::{
    AnnBackend, GraphOptions, HnswIndex, HnswParams, HnswRs, LoadOptions, Metric, NativeHnsw,
    Ordering, Permutation,
};
use ruvector_gnn_kernels::{sparse, Csr, Rng};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/glove50");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_gather(g: &Csr, x: &Array2<f32>, out: &mut Array2<f32>, reps: usize) -> Duration {
    sparse::gather(g, None, x.view(), 0.0, out.view_mut());
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                sparse::gather(g, None, x.view(), 0.0, out.view_mut());
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    if std::env::var("HNSW_BACKEND").is_ok_and(|b| b == "hnsw_rs") {
        run::<HnswRs>();
    } else {
        run::<NativeHnsw>();
    }
}

fn run<B: AnnBackend>() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let m = args.first().copied().unwrap_or(16);
    let efc = args.get(1).copied().unwrap_or(200);
    let mut base: Array2<f32> =
        ndarray_npy::read_npy(format!("{DIR}/ann_base_100k.npy")).expect("base");
    let queries: Array2<f32> =
        ndarray_npy::read_npy(format!("{DIR}/ann_queries_1k.npy")).expect("queries");
    let mut gt: Array2<i32> =
        ndarray_npy::read_npy(format!("{DIR}/ann_gt_cosine_top100.npy")).expect("gt");
    let subset: Option<usize> = std::env::var("GLOVE_N").ok().and_then(|v| v.parse().ok());
    println!(
        "GloVe-50: base {:?}, queries {:?}, rayon threads {}",
        base.dim(),
        queries.dim(),
        rayon::current_num_threads()
    );
    let params = HnswParams {
        metric: Metric::Cosine,
        m,
        ef_construction: efc,
        ef_search: 64,
        ..HnswParams::default()
    };
    if let Some(n) = subset.filter(|&n| n < base.nrows()) {
        base = base.slice(ndarray::s![..n, ..]).to_owned();
        // Ground truth on the subset by brute force.
        let norm = |v: ArrayView1<f32>| {
            let n = v.dot(&v).sqrt();
            v.mapv(|x| x / n)
        };
        let nb: Vec<_> = base.rows().into_iter().map(norm).collect();
        gt = Array2::zeros((queries.nrows(), 10));
        for (i, q) in queries.rows().into_iter().enumerate() {
            let q = norm(q);
            let mut d: Vec<(f32, usize)> =
                nb.iter().enumerate().map(|(j, b)| (-q.dot(b), j)).collect();
            d.select_nth_unstable_by(10, |a, b| a.0.total_cmp(&b.0));
            d.truncate(10);
            for (k, &(_, j)) in d.iter().enumerate() {
                gt[[i, k]] = j as i32;
            }
        }
        println!("subset: first {n} base vectors, brute-force ground truth");
    }
    // GLOVE_INDEX_DIR: load the index from there when it exists (search-only
    // runs, to alternate with the peer), else build and save it there.
    let saved = std::env::var_os("GLOVE_INDEX_DIR").map(std::path::PathBuf::from);
    let index = if let Some(dir) = saved.as_ref().filter(|d| d.exists()) {
        let t = Instant::now();
        let index = HnswIndex::<B>::load_with(dir, LoadOptions::default()).unwrap();
        println!(
            "loaded {} in {:.2} s",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
        index
    } else {
        let t = Instant::now();
        let index = HnswIndex::<B>::build_with(params, base.view(), None).unwrap();
        println!(
            "build ({}) M {m} ef_c {efc}: {:.2} s",
            index.backend().name(),
            t.elapsed().as_secs_f64()
        );
        // SINGLE_INSERTS=1: build on 99% of the points, insert the last 1%
        // one by one (searched through the backend until a refresh).
        if std::env::var_os("SINGLE_INSERTS").is_some() {
            let mut grown = HnswIndex::<B>::build_with(
                params,
                base.slice(ndarray::s![..base.nrows() - base.nrows() / 100, ..]),
                None,
            )
            .unwrap();
            let t = Instant::now();
            let start = grown.len();
            for i in start..base.nrows() {
                grown
                    .insert(i as u64, base.row(i).to_slice().unwrap())
                    .unwrap();
            }
            let per = t.elapsed().as_secs_f64() * 1e6 / (base.nrows() - start) as f64;
            let t = Instant::now();
            let hits: usize = (0..200)
                .map(|i| {
                    let q = queries.row(i);
                    usize::from(
                        !grown
                            .search_ef(q.to_slice().unwrap(), 10, 64)
                            .unwrap()
                            .is_empty(),
                    )
                })
                .sum();
            println!(
            "single insert() after a build of {start}: {per:.0} µs each; 200 searches before refresh: {:.0} µs/query ({hits})",
            t.elapsed().as_secs_f64() * 1e6 / 200.0
        );
            let t = Instant::now();
            grown.refresh_reachability();
            println!("refresh_reachability: {:.2} s", t.elapsed().as_secs_f64());
        }
        if let Some(dir) = &saved {
            index.save(dir).unwrap();
        }
        index
    };
    let search_only = std::env::var_os("SEARCH_ONLY").is_some();
    let nq = queries.nrows();
    let recall = |res: &[Vec<(u64, f32)>]| {
        let mut hits = 0;
        for (i, r) in res.iter().enumerate() {
            let truth: Vec<u64> = gt.row(i).iter().take(10).map(|&x| x as u64).collect();
            hits += r.iter().filter(|h| truth.contains(&h.0)).count();
        }
        hits as f64 / (10 * nq) as f64
    };
    let q = |i: usize| -> &[f32] { queries.row(i).to_slice().unwrap() };
    println!("ef   | ours recall  µs/query | hnsw_rs recall  µs/query");
    for ef in [16usize, 24, 32, 48, 64, 96, 128, 192, 256] {
        let mut reps = Vec::new();
        let mut res = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            res = (0..nq)
                .map(|i| index.search_ef(q(i), 10, ef).unwrap())
                .collect();
            reps.push(t.elapsed());
        }
        let ours = median(reps);
        let r_ours = recall(&res);
        let t = Instant::now();
        let resb: Vec<_> = (0..nq)
            .map(|i| index.search_backend(q(i), 10, ef).unwrap())
            .collect();
        let back = t.elapsed();
        println!(
            "{ef:>4} | {r_ours:.3} {:>8.1}     | {:.3} {:>8.1}",
            ours.as_secs_f64() * 1e6 / nq as f64,
            recall(&resb),
            back.as_secs_f64() * 1e6 / nq as f64
        );
    }
    if search_only {
        return;
    }
    let r = index.reachability();
    println!(
        "reachability: zero in-degree {}, unreachable {}, weakly linked (< M/2 in-edges) {}",
        r.zero_in_degree.len(),
        r.unreachable.len(),
        r.weakly_linked.len()
    );
    // Extraction.
    for (name, opts) in [
        ("layer 0 plain", GraphOptions::default()),
        (
            "layer 0 symmetrised+weights+repair",
            GraphOptions {
                symmetrise: true,
                weights: ruvector_gnn_hnsw::EdgeWeights::Similarity,
                repair_unreachable: true,
            },
        ),
    ] {
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let g = index.graph(&opts).unwrap();
                std::hint::black_box(g.n_edges());
                t.elapsed()
            })
            .collect();
        println!(
            "extract {name}: {:.1} ms",
            median(times).as_secs_f64() * 1e3
        );
    }
    let t = Instant::now();
    let all = index.all_layers(&GraphOptions::default()).unwrap();
    println!(
        "extract all {} layers: {:.1} ms",
        all.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    println!("{}", index.stats().unwrap());
    // Gather with 64-d features, different orders.
    let g = index.graph(&GraphOptions::default()).unwrap();
    let mut rng = Rng::seed_from_u64(1);
    let x = Array2::from_shape_fn((g.n_rows(), 64), |_| rng.normal_f32());
    let mut out = Array2::zeros((g.n_rows(), 64));
    let base_t = time_gather(&g, &x, &mut out, 15);
    println!(
        "gather 64-d insertion order: {:.2} ms (mean edge span {:.0})",
        base_t.as_secs_f64() * 1e3,
        Permutation::mean_edge_span(&g)
    );
    let mut shuffled: Vec<u32> = (0..g.n_rows() as u32).collect();
    rng.shuffle(&mut shuffled);
    for (name, perm) in [
        ("random", None),
        ("bfs", Some(Ordering::Bfs)),
        ("rcm", Some(Ordering::Rcm)),
    ] {
        let t = Instant::now();
        let p = if let Some(o) = perm {
            Permutation::compute(&g, o).unwrap()
        } else {
            let mut new_of_old = vec![0u32; shuffled.len()];
            for (k, &o) in shuffled.iter().enumerate() {
                new_of_old[o as usize] = k as u32;
            }
            Permutation {
                new_of_old,
                old_of_new: shuffled.clone(),
            }
        };
        let pg = p.apply_csr(&g).unwrap();
        let px = p.apply_rows(x.view()).unwrap();
        let prep = t.elapsed();
        let gt_ = time_gather(&pg, &px, &mut out, 15);
        println!(
            "gather 64-d {name} order: {:.2} ms ({:.2}x vs insertion order; permutation+apply {:.0} ms; mean edge span {:.0})",
            gt_.as_secs_f64() * 1e3,
            base_t.as_secs_f64() / gt_.as_secs_f64(),
            prep.as_secs_f64() * 1e3,
            Permutation::mean_edge_span(&pg)
        );
        // Sanity: same result as the unpermuted gather, permuted.
        let mut o2 = Array2::zeros((g.n_rows(), 64));
        sparse::gather(&g, None, x.view(), 0.0, o2.view_mut());
        let a: ArrayView1<f32> = out.row(p.new_of_old[123] as usize);
        assert!((a.sum() - o2.row(123).sum()).abs() < 1e-3);
    }
    // Save / load.
    let dir = std::env::temp_dir().join(format!("glove_eval_{}", std::process::id()));
    let t = Instant::now();
    index.save(&dir).unwrap();
    println!("save: {:.2} s", t.elapsed().as_secs_f64());
    for mmap in [false, true] {
        let t = Instant::now();
        let l = HnswIndex::<B>::load_with(&dir, LoadOptions { mmap }).unwrap();
        println!(
            "load (mmap {mmap}): {:.2} s, {} points",
            t.elapsed().as_secs_f64(),
            l.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
