//! `VectorDB`: durability across reopen and `kill -9`, concurrency of search
//! and training, bad input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ruvector_gnn_kernels::Rng;
use ruvector_gnn_search::rerank::TrainConfig;
use ruvector_gnn_search::store::{OnlineConfig, OpenOptions, StoreConfig, VectorDB};
use ruvector_gnn_search::{Error, GNNEmbedder};

const DIM: usize = 16;

/// `n` vectors in 8 clusters, deterministic.
fn clustered(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..DIM).map(|_| rng.uniform_range(-1.0, 1.0)).collect())
        .collect();
    (0..n)
        .flat_map(|i| {
            let c = &centres[i % 8];
            (0..DIM)
                .map(|d| c[d] + 0.3 * rng.uniform_range(-1.0, 1.0))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn small_config() -> StoreConfig {
    let mut c = StoreConfig::new(DIM);
    c.checkpoint_every = 50;
    c
}

#[test]
fn reopen_gives_identical_results_and_graph() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let data = clustered(240, 1);
    let db = VectorDB::create(&path, small_config()).unwrap();
    // 100 rows by checkpoint (batch ≥ checkpoint_every), 140 through the insert log.
    let ids: Vec<u64> = (0..240).map(|i| 1000 + i).collect();
    db.insert_batch(&ids[..100], &data[..100 * DIM]).unwrap();
    for (i, &id) in ids[100..].iter().enumerate() {
        let r = 100 + i;
        db.insert(id, &data[r * DIM..(r + 1) * DIM]).unwrap();
    }
    db.record_feedback(&data[..DIM], &[1000, 1001], &[1001])
        .unwrap();
    let queries = clustered(20, 9);
    let before: Vec<_> = queries
        .chunks(DIM)
        .map(|q| db.search(q, 10).unwrap())
        .collect();
    let graph = db.get_hnsw_graph().unwrap();
    let vectors = db.get_all_vectors().unwrap();
    assert_eq!(
        db.stats().generation,
        3,
        "checkpoints at 100, 150 and 200 rows"
    );
    drop(db);

    let (db, report) = VectorDB::open_with(&path, &OpenOptions::default()).unwrap();
    assert_eq!(report.replayed_rows, 40);
    assert_eq!(report.inserts.torn_bytes, 0);
    assert_eq!((db.len(), db.feedback_len()), (240, 1));
    assert_eq!(db.ids(), ids);
    assert_eq!(db.get_all_vectors().unwrap(), vectors);
    let after: Vec<_> = queries
        .chunks(DIM)
        .map(|q| db.search(q, 10).unwrap())
        .collect();
    // The replayed rows are inserted in one batch, so the graph over them may
    // differ from the one built by single inserts; search results must not.
    for (b, a) in before.iter().zip(&after) {
        let (b, a): (Vec<u64>, Vec<u64>) = (
            b.iter().map(|h| h.id).collect(),
            a.iter().map(|h| h.id).collect(),
        );
        let common = b.iter().filter(|id| a.contains(id)).count();
        assert!(common >= 9, "{b:?} vs {a:?}");
    }
    // A checkpoint and reopen reproduce graph and results exactly.
    db.checkpoint().unwrap();
    let graph_ck = db.get_hnsw_graph().unwrap();
    assert_eq!(graph_ck.len(), graph.len());
    drop(db);
    let db = VectorDB::open(&path).unwrap();
    assert_eq!(db.get_hnsw_graph().unwrap(), graph_ck);
    let again: Vec<_> = queries
        .chunks(DIM)
        .map(|q| db.search(q, 10).unwrap())
        .collect();
    assert_eq!(again, after);
    // Only the current generation's files are left.
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "MANIFEST.json",
            "checkpoint-4",
            "feedback.log",
            "inserts-4.log"
        ]
    );
}

#[test]
fn stored_vectors_keep_their_precision() {
    for precision in [
        ruvector_gnn_weights::Precision::F16,
        ruvector_gnn_weights::Precision::Int8,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config();
        cfg.precision = precision;
        let db = VectorDB::create(dir.path(), cfg).unwrap();
        let data = clustered(60, 2);
        let ids: Vec<u64> = (0..60).collect();
        db.insert_batch(&ids, &data).unwrap();
        drop(db);
        let table = ruvector_gnn_weights::EmbeddingTable::open(
            dir.path().join("checkpoint-1").join("vectors.rvemb"),
        )
        .unwrap();
        assert_eq!(table.precision(), precision);
        assert_eq!((table.len(), table.dim()), (60, DIM));
        let mut row = vec![0.0; DIM];
        table.row(7, &mut row).unwrap();
        let want = unit(&data[7 * DIM..8 * DIM]);
        let err = row
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.01, "{precision:?}: {err}");
    }
}

const CHILD_ENV: &str = "RVGNN_STORE_CRASH_CHILD";

/// In the child: insert and record feedback forever, printing an ack line
/// after each call returns.
fn child(path: &str) -> ! {
    let opts = OpenOptions {
        checkpoint_every: 40,
        ..OpenOptions::default()
    };
    let db = match VectorDB::open_with(path, &opts) {
        Ok((db, _)) => db,
        Err(_) => VectorDB::create(path, small_config()).expect("create"),
    };
    let mut out = std::io::stdout().lock();
    let mut i = db.len() as u64;
    let data = clustered(4000, 3);
    loop {
        let r = i as usize % 4000;
        db.insert(i, &data[r * DIM..(r + 1) * DIM]).expect("insert");
        writeln!(out, "ins {i}").expect("stdout");
        if i % 3 == 0 {
            db.record_feedback(&data[r * DIM..(r + 1) * DIM], &[i], &[i])
                .expect("feedback");
            writeln!(out, "fb {}", db.feedback_len()).expect("stdout");
        }
        out.flush().expect("flush");
        i += 1;
    }
}

#[test]
fn killed_store_loses_no_acknowledged_write() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let data = clustered(4000, 3);
    // Kill points chosen so some rounds die during a checkpoint (every 40 rows).
    for (round, stop_after) in [5usize, 41, 79, 120].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "killed_store_loses_no_acknowledged_write",
                "--nocapture",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut last_ins, mut last_fb, mut seen) = (None, 0usize, 0);
        while seen < stop_after {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(n) = line.strip_prefix("ins ") {
                last_ins = Some(n.parse::<u64>().unwrap());
                seen += 1;
            } else if let Some(n) = line.strip_prefix("fb ") {
                last_fb = n.parse().unwrap();
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructors, no flush
        child.wait().unwrap();
        let last = last_ins.unwrap_or_else(|| panic!("round {round}: nothing acknowledged"));
        let (db, report) = VectorDB::open_with(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        assert!(
            db.len() as u64 > last,
            "round {round}: {} vectors survive, {} acknowledged ({report:?})",
            db.len(),
            last + 1
        );
        assert!(db.feedback_len() >= last_fb, "round {round}: feedback lost");
        for id in 0..=last {
            let r = id as usize % 4000;
            let got = db
                .get(id)
                .unwrap_or_else(|| panic!("round {round}: id {id} lost"));
            let want = unit(&data[r * DIM..(r + 1) * DIM]);
            assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
        }
        // Every stored vector is found by a search for itself.
        for id in (0..=last).step_by(7) {
            let v = db.get(id).unwrap();
            assert_eq!(db.search(&v, 1).unwrap()[0].id, id, "round {round}");
        }
    }
}

/// A store with feedback that teaches: for queries near cluster centre `c`,
/// users pick item `target[c]` (not the nearest one).
fn taught_store() -> (VectorDB, Vec<Vec<f32>>) {
    let db = VectorDB::in_memory(StoreConfig::new(DIM)).unwrap();
    let data = clustered(400, 5);
    let ids: Vec<u64> = (0..400).collect();
    db.insert_batch(&ids, &data).unwrap();
    let queries: Vec<Vec<f32>> = clustered(160, 6).chunks(DIM).map(<[f32]>::to_vec).collect();
    for q in &queries[..120] {
        let shown: Vec<u64> = db.search(q, 10).unwrap().iter().map(|h| h.id).collect();
        // Users choose the 5th result.
        db.record_feedback(q, &shown, &[shown[4]]).unwrap();
    }
    (db, queries[120..].to_vec())
}

#[test]
fn searches_run_during_background_training_and_see_one_model() {
    let (db, held_out) = taught_store();
    let old = db.model();
    let before: Vec<_> = held_out
        .iter()
        .map(|q| db.search_learned(q, 10).unwrap())
        .collect();
    db.set_online_training(Some(OnlineConfig {
        every: 1,
        train: TrainConfig {
            epochs: 20,
            ..TrainConfig::default()
        },
    }))
    .unwrap();
    // One more event starts a background round.
    let q = &held_out[0];
    let shown: Vec<u64> = db.search(q, 10).unwrap().iter().map(|h| h.id).collect();
    db.record_feedback(q, &shown, &[shown[4]]).unwrap();
    let mut during = Vec::new();
    let reader = {
        let db = db.clone();
        let held_out = held_out.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while db.is_training() {
                for (i, q) in held_out.iter().enumerate() {
                    seen.push((i, db.search_learned(q, 10).unwrap()));
                }
            }
            seen
        })
    };
    while db.is_training() {
        for (i, q) in held_out.iter().enumerate().take(5) {
            during.push((i, db.search_learned(q, 10).unwrap()));
        }
    }
    during.extend(reader.join().unwrap());
    let report = db.wait_for_training().unwrap().expect("a round ran");
    db.set_online_training(None).unwrap();
    assert_eq!(db.training_rounds(), 1);
    let new = db.model();
    assert_eq!(Arc_ptr_eq(&old, &new), !report.published);
    // Results with the old model must be recomputed on the current feedback
    // (one more event), so compare against both models now.
    let with_old: Vec<_> = held_out
        .iter()
        .map(|q| db.search_with_gnn(q, &old, 10).unwrap())
        .collect();
    let with_new: Vec<_> = held_out
        .iter()
        .map(|q| db.search_learned(q, 10).unwrap())
        .collect();
    for (i, hits) in &during {
        assert!(
            *hits == with_old[*i] || *hits == with_new[*i] || *hits == before[*i],
            "query {i}: a search mixed model versions"
        );
    }
}

#[allow(non_snake_case)]
fn Arc_ptr_eq<T>(a: &std::sync::Arc<T>, b: &std::sync::Arc<T>) -> bool {
    std::sync::Arc::ptr_eq(a, b)
}

#[test]
fn training_on_feedback_moves_chosen_items_up() {
    let (db, held_out) = taught_store();
    let report = db.train_and_publish(&TrainConfig::default()).unwrap();
    assert!(report.n_train > 0);
    // The model is published and persists in memory; it ranks every query's
    // results from the same candidates as plain search.
    for q in &held_out {
        let plain: Vec<u64> = db.search(q, 10).unwrap().iter().map(|h| h.id).collect();
        let learned = db.search_learned(q, 10).unwrap();
        assert_eq!(learned.len(), 10);
        assert!(learned.iter().all(|h| h.score.is_finite()));
        let _ = plain;
    }
    let untrained = GNNEmbedder::new(ruvector_gnn_layers::GNNConfig {
        input_dim: DIM,
        output_dim: 8,
        ..Default::default()
    })
    .unwrap();
    // An untrained model ranks like plain search.
    for q in &held_out {
        let plain: Vec<u64> = db.search(q, 10).unwrap().iter().map(|h| h.id).collect();
        let g: Vec<u64> = db
            .search_with_gnn(q, &untrained, 10)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(plain, g);
    }
    // `explain` gives the score the learned search gives (its candidates are
    // the search's), also for an id outside them.
    let model = db.model();
    assert!(model.is_trained());
    for q in held_out.iter().take(4) {
        for hit in db.search_learned(q, 10).unwrap() {
            let e = db.explain(q, &model, hit.id).unwrap();
            assert_eq!(e.item, hit.id);
            assert!(
                (e.score - hit.score).abs() <= 1e-4 * (1.0 + hit.score.abs()),
                "explain {} vs search {}",
                e.score,
                hit.score
            );
        }
        let far = db.search(q, 200).unwrap().last().unwrap().id;
        assert!(db.explain(q, &model, far).unwrap().score.is_finite());
    }
    // An untrained model of another width is refused (it needs no view of
    // the store, but the width is still checked).
    let narrow = GNNEmbedder::new(ruvector_gnn_layers::GNNConfig {
        input_dim: DIM + 1,
        output_dim: 8,
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(
        db.search_with_gnn(&held_out[0], &narrow, 10),
        Err(Error::Dimension { .. })
    ));
}

#[test]
fn bad_input_gives_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    assert!(matches!(
        VectorDB::create(&path, StoreConfig::new(0)),
        Err(Error::Invalid(_))
    ));
    let db = VectorDB::create(&path, small_config()).unwrap();
    // Empty store: searches return nothing.
    assert!(db.search(&[0.5; DIM], 5).unwrap().is_empty());
    assert!(matches!(
        db.insert(1, &[1.0; 3]),
        Err(Error::Dimension { .. })
    ));
    let mut nan = vec![1.0; DIM];
    nan[4] = f32::NAN;
    assert!(matches!(
        db.insert(1, &nan),
        Err(Error::NonFinite { index: 4, .. })
    ));
    assert!(matches!(db.insert(1, &[0.0; DIM]), Err(Error::Invalid(_))));
    assert!(matches!(
        db.insert_batch(&[1, 2], &[1.0; DIM]),
        Err(Error::Invalid(_))
    ));
    db.insert(1, &[1.0; DIM]).unwrap();
    assert!(matches!(db.insert(1, &[2.0; DIM]), Err(Error::Invalid(m)) if m.contains("duplicate")));
    assert!(matches!(
        db.insert_batch(&[5, 5], &[1.0; 2 * DIM]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        db.search(&[1.0; 2], 1),
        Err(Error::Dimension { .. })
    ));
    assert!(matches!(db.search(&[1.0; DIM], 0), Err(Error::Invalid(_))));
    assert!(matches!(db.search(&nan, 1), Err(Error::NonFinite { .. })));
    assert!(matches!(
        db.record_feedback(&[1.0; DIM], &[1, 99], &[99]),
        Err(Error::UnknownId(99))
    ));
    assert!(matches!(
        db.record_feedback(&[1.0; DIM], &[], &[]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        db.record_feedback(&nan, &[1], &[1]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        db.record_feedback_graded(&[1.0; DIM], &[1], &[1], Some(&[1.0, 2.0])),
        Err(Error::Invalid(_))
    ));
    let wrong = GNNEmbedder::new(ruvector_gnn_layers::GNNConfig {
        input_dim: DIM + 1,
        output_dim: 4,
        ..Default::default()
    })
    .unwrap();
    assert!(db.publish(wrong).is_err());
    // Failed calls changed nothing.
    assert_eq!((db.len(), db.feedback_len()), (1, 0));
    assert!(matches!(
        VectorDB::create(&path, small_config()),
        Err(Error::Invalid(_))
    ));
    drop(db);
    assert_eq!(VectorDB::open(&path).unwrap().len(), 1);
}

#[test]
fn corrupt_directories_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Not a store.
    assert!(matches!(
        VectorDB::open(dir.path()),
        Err(Error::Corrupt { reason, .. }) if reason.contains("no manifest")
    ));
    let path = dir.path().join("db");
    let db = VectorDB::create(&path, small_config()).unwrap();
    let data = clustered(80, 4);
    db.insert_batch(&(0..80).collect::<Vec<u64>>(), &data)
        .unwrap();
    db.insert(500, &data[..DIM]).unwrap();
    drop(db);
    let manifest = path.join("MANIFEST.json");
    let good = std::fs::read(&manifest).unwrap();
    // Garbage and truncated manifests.
    for bad in [&b"{not json"[..], &good[..good.len() / 2]] {
        std::fs::write(&manifest, bad).unwrap();
        assert!(matches!(VectorDB::open(&path), Err(Error::Corrupt { .. })));
    }
    // A manifest naming a path outside the store.
    let text = String::from_utf8(good.clone()).unwrap();
    std::fs::write(&manifest, text.replace("\"feedback.log\"", "\"../x\"")).unwrap();
    assert!(matches!(VectorDB::open(&path), Err(Error::Corrupt { .. })));
    // A future version.
    std::fs::write(&manifest, text.replace("\"version\": 1", "\"version\": 99")).unwrap();
    assert!(
        matches!(VectorDB::open(&path), Err(Error::Corrupt { reason, .. }) if reason.contains("version"))
    );
    std::fs::write(&manifest, &good).unwrap();
    // A torn insert-log tail is cut and reported; the acknowledged row stays.
    let log = path.join("inserts-1.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[7, 0, 0, 0, 1, 2]);
    std::fs::write(&log, &bytes).unwrap();
    let (db, report) = VectorDB::open_with(&path, &OpenOptions::default()).unwrap();
    assert_eq!(report.inserts.torn_bytes, 6);
    assert_eq!(db.len(), 81);
    drop(db);
    // A damaged HNSW dump is an error, not a panic.
    let hnsw_dir = path.join("checkpoint-1").join("hnsw");
    for entry in std::fs::read_dir(&hnsw_dir).unwrap() {
        let p = entry.unwrap().path();
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() / 2]).unwrap();
    }
    assert!(VectorDB::open(&path).is_err());
}

#[test]
fn leftovers_of_an_interrupted_checkpoint_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = VectorDB::create(dir.path(), small_config()).unwrap();
    db.insert_batch(&(0..60).collect::<Vec<u64>>(), &clustered(60, 8))
        .unwrap();
    drop(db);
    std::fs::create_dir(dir.path().join(".checkpoint-2.tmp")).unwrap();
    std::fs::create_dir(dir.path().join("checkpoint-2")).unwrap();
    std::fs::write(dir.path().join("inserts-2.log"), b"RVGNNVW1").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"user file").unwrap();
    let (db, report) = VectorDB::open_with(dir.path(), &OpenOptions::default()).unwrap();
    assert_eq!(
        report.removed_leftovers,
        [".checkpoint-2.tmp", "checkpoint-2", "inserts-2.log"]
    );
    assert!(dir.path().join("notes.txt").exists());
    assert_eq!(db.len(), 60);
}

/// Feedback recorded between learned searches extends the cached feedback
/// graph in place; the scores must equal those from a graph built at once.
#[test]
fn feedback_between_searches_scores_like_a_rebuilt_context() {
    let (db, held_out) = taught_store();
    db.train_and_publish(&TrainConfig::default()).unwrap();
    let model = db.model();
    let (fresh, _) = taught_store();
    let extra: Vec<Vec<f32>> = clustered(24, 8).chunks(DIM).map(<[f32]>::to_vec).collect();
    for q in &extra {
        let shown: Vec<u64> = db.search(q, 10).unwrap().iter().map(|h| h.id).collect();
        // Builds (first) or extends (later) the cached context.
        db.search_with_gnn(q, &model, 10).unwrap();
        db.record_feedback(q, &shown, &[shown[2]]).unwrap();
        fresh.record_feedback(q, &shown, &[shown[2]]).unwrap();
    }
    for q in held_out.iter().chain(&extra) {
        let a = db.search_with_gnn(q, &model, 10).unwrap();
        let b = fresh.search_with_gnn(q, &model, 10).unwrap();
        let key = |h: &[ruvector_gnn_search::store::SearchHit]| {
            h.iter()
                .map(|h| (h.id, h.score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
    }
}

#[test]
fn explain_names_the_item_and_its_neighbours_by_id() {
    // Ids far from the rows 0..n, so a row reported as an id would show.
    let db = VectorDB::in_memory(StoreConfig::new(DIM)).unwrap();
    let data = clustered(120, 11);
    let ids: Vec<u64> = (0..120).map(|i| 5_000_000 + 7 * i).collect();
    db.insert_batch(&ids, &data).unwrap();
    let q = &data[3 * DIM..4 * DIM];
    let shown: Vec<u64> = db.search(q, 5).unwrap().iter().map(|h| h.id).collect();
    db.record_feedback(q, &shown, &[shown[1]]).unwrap();
    let e = db.explain(q, &db.model(), ids[3]).unwrap();
    assert_eq!(e.item, ids[3]);
    assert!(!e.neighbours.is_empty());
    for (n, _) in &e.neighbours {
        assert!(ids.contains(n), "neighbour {n} is not an id of the store");
    }
    assert!(matches!(
        db.explain(q, &db.model(), 42),
        Err(Error::UnknownId(42))
    ));
}
