//! Unit tests of the store's internals (publishing rounds).

use super::*;

const DIM: usize = 4;

/// A persistent store with 40 vectors and 12 feedback events.
fn store(dir: &Path) -> VectorDB {
    let db = VectorDB::create(dir, StoreConfig::new(DIM)).unwrap();
    let mut rng = Rng::seed_from_u64(3);
    let ids: Vec<u64> = (0..40).collect();
    let data: Vec<f32> = (0..40 * DIM).map(|_| rng.normal_f32()).collect();
    db.insert_batch(&ids, &data).unwrap();
    for i in 0..12 {
        let q = &data[i * DIM..(i + 1) * DIM];
        let shown: Vec<u64> = db.search(q, 5).unwrap().iter().map(|h| h.id).collect();
        db.record_feedback(q, &shown, &[shown[2]]).unwrap();
    }
    db
}

fn other_model(seed: u64) -> GNNEmbedder {
    GNNEmbedder::with_seed(
        EmbedderConfig {
            input_dim: DIM,
            output_dim: DIM,
            ..EmbedderConfig::default()
        },
        seed,
    )
    .unwrap()
}

fn kept_report() -> FitReport {
    FitReport {
        published: true,
        loss: 0.0,
        previous_mrr: 0.0,
        trained_mrr: 0.0,
        n_train: 12,
        n_validation: 12,
        tower: false,
    }
}

fn bytes(m: &GNNEmbedder) -> Vec<u8> {
    m.to_bytes().unwrap()
}

#[test]
fn a_round_does_not_overwrite_a_model_published_while_it_trained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    let (start, _) = db.round_start();
    // While the round "trains", someone publishes another model.
    let manual = other_model(99);
    assert_ne!(
        bytes(&manual),
        bytes(&other_model(7)),
        "distinguishable models"
    );
    db.publish(manual.clone()).unwrap();
    let report = db
        .finish_round(start, other_model(7), kept_report())
        .unwrap();
    assert!(!report.published, "the round's model must be dropped");
    assert_eq!(bytes(&db.model()), bytes(&manual));
    assert_eq!(db.model_generation(), 1);
    drop(db);
    // The file on disk is the model that was in memory.
    let db = VectorDB::open(&path).unwrap();
    assert_eq!(bytes(&db.model()), bytes(&manual));
}

#[test]
fn a_round_publishes_when_nothing_else_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    let (start, _) = db.round_start();
    let trained = other_model(7);
    let report = db
        .finish_round(start, trained.clone(), kept_report())
        .unwrap();
    assert!(report.published);
    assert_eq!(db.model_generation(), 1);
    assert_eq!(bytes(&db.model()), bytes(&trained));
    // A round the fit did not keep publishes nothing.
    let (start, _) = db.round_start();
    let dropped = FitReport {
        published: false,
        ..kept_report()
    };
    db.finish_round(start, other_model(8), dropped).unwrap();
    assert_eq!(bytes(&db.model()), bytes(&trained));
    drop(db);
    let db = VectorDB::open(&path).unwrap();
    assert_eq!(bytes(&db.model()), bytes(&trained));
}

#[test]
fn concurrent_publishes_leave_disk_and_memory_equal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    let models: Vec<GNNEmbedder> = (0..4).map(|s| other_model(100 + s)).collect();
    std::thread::scope(|s| {
        for m in &models {
            let db = db.clone();
            s.spawn(move || {
                for _ in 0..3 {
                    db.publish(m.clone()).unwrap();
                }
            });
        }
    });
    assert_eq!(db.model_generation(), 12);
    let in_memory = bytes(&db.model());
    assert!(models.iter().any(|m| bytes(m) == in_memory));
    drop(db);
    let db = VectorDB::open(&path).unwrap();
    assert_eq!(bytes(&db.model()), in_memory);
}

#[test]
fn graded_feedback_reaches_the_training_examples() {
    let db = VectorDB::in_memory(StoreConfig::new(DIM)).unwrap();
    db.insert_batch(
        &[10, 11, 12],
        &[1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0.],
    )
    .unwrap();
    let q = [1.0, 0.1, 0.0, 0.0];
    // 12 is chosen without being shown; 11 is chosen twice (one positive).
    db.record_feedback_graded(&q, &[10, 11], &[11, 12, 11], Some(&[2.0, 1.0, 5.0]))
        .unwrap();
    db.record_feedback(&q, &[10, 11], &[10]).unwrap();
    assert!(matches!(
        db.record_feedback_graded(&q, &[10], &[10], Some(&[-1.0])),
        Err(Error::Invalid(_))
    ));
    assert_eq!(db.feedback_len(), 2);
    let data = db.read();
    let ex = context::examples(&data.index, &data.events);
    assert_eq!(ex[0].candidates, vec![0, 1, 2]);
    assert_eq!(ex[0].positives, vec![1, 2]);
    assert_eq!(ex[0].grades, Some(vec![2.0, 1.0]));
    assert_eq!(ex[1].grades, None);
}

#[test]
fn small_inserts_defer_the_reachability_refresh() {
    let db = VectorDB::in_memory(StoreConfig::new(DIM)).unwrap();
    let mut rng = Rng::seed_from_u64(8);
    let n = 3000;
    let data: Vec<f32> = (0..n * DIM).map(|_| rng.normal_f32()).collect();
    let ids: Vec<u64> = (0..n as u64).collect();
    db.insert_batch(&ids[..2000], &data[..2000 * DIM]).unwrap();
    assert_eq!(db.read().index.stale_rows(), 0, "a big batch refreshes");
    for (k, &id) in ids[2000..2010].iter().enumerate() {
        let row = &data[(2000 + k) * DIM..(2001 + k) * DIM];
        db.insert(id, row).unwrap();
        // Found at once, through the backend's walk.
        assert_eq!(db.search(row, 1).unwrap()[0].id, id);
    }
    assert_eq!(db.read().index.stale_rows(), 10);
    assert_eq!(db.get_hnsw_graph().unwrap().len(), 2010);
    // 1,024 stale rows (more than 1/64 of the index) trigger the refresh on
    // the next search.
    db.insert_batch(&ids[2010..3000], &data[2010 * DIM..])
        .unwrap();
    assert_eq!(db.read().index.stale_rows(), 1000);
    db.search(&data[..DIM], 1).unwrap();
    assert_eq!(db.read().index.stale_rows(), 1000, "below the threshold");
    assert!(!refresh_due(1000, 3000) && refresh_due(1024, 3000) && refresh_due(1, 1));
    assert!(refresh_due(100_000 / 64, 100_000) && !refresh_due(1500, 100_000));
}

/// `other_model(seed)` made to use its tower: trained, blend weight 0.5.
fn tower_model(seed: u64) -> GNNEmbedder {
    let mut store =
        ruvector_gnn_weights::TensorStore::from_bytes(&bytes(&other_model(seed))).unwrap();
    store
        .insert(
            "blend.alpha",
            ruvector_gnn_weights::Tensor::from_f32(vec![1], vec![0.5]).unwrap(),
        )
        .unwrap();
    store.set_metadata("ruvector.gnn_embedder.trained", "true");
    let m = GNNEmbedder::from_bytes(&store.to_bytes().unwrap()).unwrap();
    assert!(m.uses_tower());
    m
}

fn open_report(path: &Path) -> (VectorDB, OpenReport) {
    VectorDB::open_with(path, &OpenOptions::default()).unwrap()
}

#[test]
fn published_embeddings_are_saved_and_reused_for_the_same_items() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    let q = [0.3, -0.2, 0.9, 0.1];
    db.publish(tower_model(3)).unwrap();
    let file = path.join(embeddings::EMBEDDINGS_FILE);
    assert!(file.exists());
    let before = db.search_learned(&q, 5).unwrap();
    drop(db);

    let (db, report) = open_report(&path);
    assert!(report.embeddings_loaded);
    assert_eq!(db.search_learned(&q, 5).unwrap(), before);
    // New items: the saved embeddings no longer fit and are recomputed.
    db.insert(500, &[0.3, -0.2, 0.9, 0.0]).unwrap();
    let after_insert = db.search_learned(&q, 5).unwrap();
    drop(db);
    let (db, report) = open_report(&path);
    assert!(!report.embeddings_loaded);
    assert_eq!(db.search_learned(&q, 5).unwrap(), after_insert);

    // A damaged file is ignored (recomputed), never an error.
    drop(db);
    std::fs::write(&file, b"not safetensors").unwrap();
    let (db, report) = open_report(&path);
    assert!(!report.embeddings_loaded);
    assert_eq!(db.search_learned(&q, 5).unwrap(), after_insert);

    // A model that does not use its tower leaves no embeddings behind.
    db.publish(other_model(4)).unwrap();
    assert!(!file.exists());
    drop(db);
    let (_, report) = open_report(&path);
    assert!(!report.embeddings_loaded);
}

#[test]
fn item_embeddings_are_checked_when_set() {
    let db = store(tempfile::tempdir().unwrap().path().join("db").as_path());
    let data = db.read();
    let ctx = db.context(&data).unwrap();
    let m = tower_model(5);
    let layers = m.item_embeddings(&ctx.view()).unwrap();
    assert_eq!(layers.len(), m.config().num_layers + 1);
    assert!(m.set_item_embeddings(&ctx.view(), layers.clone()).is_ok());
    assert!(m
        .set_item_embeddings(&ctx.view(), layers[1..].to_vec())
        .is_err());
    let mut bad = layers.clone();
    bad[0][[0, 0]] = f32::NAN;
    assert!(m.set_item_embeddings(&ctx.view(), bad).is_err());
    let mut short = layers;
    short[1] = short[1].slice(ndarray::s![1.., ..]).to_owned();
    assert!(m.set_item_embeddings(&ctx.view(), short).is_err());
    assert!(other_model(6)
        .set_item_embeddings(&ctx.view(), Vec::new())
        .is_err());
    assert!(other_model(6)
        .item_embeddings(&ctx.view())
        .unwrap()
        .is_empty());
}

/// `tower_model(seed)` with a random scoring head, so that every feedback
/// feature moves the scores.
fn head_model(seed: u64) -> GNNEmbedder {
    use ruvector_gnn_layers::Parameters;
    let mut m = tower_model(seed);
    let mut rng = Rng::seed_from_u64(seed);
    for (name, mut p) in m.named_parameters_mut() {
        if name.starts_with("head.") {
            p.mapv_inplace(|_| 0.5 * rng.normal_f32());
        }
    }
    m
}

/// Feedback recorded between searches updates the model's feedback
/// aggregates instead of rebuilding them, and scores exactly as a store
/// reopened from disk (which builds them afresh).
#[test]
fn feedback_between_searches_scores_as_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    db.publish(head_model(8)).unwrap();
    let queries: Vec<[f32; DIM]> = (0..6)
        .map(|i| {
            let t = i as f32;
            [t.sin(), t.cos(), 0.5 - 0.1 * t, 0.2]
        })
        .collect();
    for q in &queries {
        db.search_learned(q, 5).unwrap();
    }
    assert_eq!(db.model().feedback_cache_updates(), Some(0));
    for (i, q) in queries.iter().enumerate() {
        let shown: Vec<u64> = db.search(q, 6).unwrap().iter().map(|h| h.id).collect();
        db.record_feedback(q, &shown, &[shown[i % 3]]).unwrap();
        db.search_learned(q, 5).unwrap();
    }
    assert_eq!(db.model().feedback_cache_updates(), Some(queries.len()));
    let before = learned_hits(&db, &queries);
    drop(db);
    let (db, _) = open_report(&path);
    assert_eq!(learned_hits(&db, &queries), before);
    assert_eq!(db.model().feedback_cache_updates(), Some(0));
}

/// `search_learned(q, 5)` for each query.
fn learned_hits(db: &VectorDB, queries: &[[f32; DIM]]) -> Vec<Vec<SearchHit>> {
    queries
        .iter()
        .map(|q| db.search_learned(q, 5).unwrap())
        .collect()
}

/// Item data derived from the previous version equals item data built from
/// scratch, and names exactly the earlier rows whose neighbour lists changed.
#[test]
fn item_data_after_inserts_equals_a_fresh_build() {
    let db = store(tempfile::tempdir().unwrap().path().join("db").as_path());
    let prev = {
        let data = db.read();
        context::item_data(&data.index, data.version).unwrap()
    };
    for i in 0..3u64 {
        let t = i as f32;
        db.insert(100 + i, &[t, 1.0 - t, 0.5, -0.25]).unwrap();
    }
    let data = db.read();
    let fresh = context::item_data(&data.index, data.version).unwrap();
    let after = context::item_data_after(&data.index, data.version, &prev).unwrap();
    assert_eq!(after.matrix(), fresh.matrix());
    // The new rows were appended behind the earlier version's, in its buffer.
    assert!(after.items.shares_with(&prev.items));
    assert_eq!(prev.rows(), 40);
    assert_eq!(after.graph, fresh.graph);
    let delta = after.delta.expect("derived");
    assert_eq!((delta.prev_version, delta.prev_rows), (prev.version, 40));
    let expected: Vec<u32> = (0..40)
        .filter(|&i| fresh.graph.row(i) != prev.graph.row(i))
        .map(|i| i as u32)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(delta.changed, expected);
    // The index rebuilt the graph from its record of rewritten lists; without
    // the mark the graph is extracted in full, with the same result.
    assert!(prev.mark.is_some());
    let unmarked = ItemData {
        version: prev.version,
        items: prev.items.clone(),
        dim: prev.dim,
        graph: Arc::clone(&prev.graph),
        delta: None,
        mark: None,
    };
    let full = context::item_data_after(&data.index, data.version, &unmarked).unwrap();
    assert_eq!(
        (&full.graph, &full.delta),
        (&after.graph, &Some(delta.clone()))
    );
    // Derived from data with more rows than the index: built from scratch.
    let back = context::item_data_after(
        &data.index,
        data.version,
        &ItemData {
            version: 0,
            items: super::shared_rows::SharedRows::from_vec(vec![0.0; 50 * DIM]),
            dim: DIM,
            graph: Arc::new(
                ruvector_gnn_kernels::Csr::from_adjacency(&vec![Vec::<usize>::new(); 50]).unwrap(),
            ),
            delta: None,
            mark: None,
        },
    )
    .unwrap();
    assert!(back.delta.is_none());
    assert_eq!(back.matrix(), fresh.matrix());
}

/// Inserts between learned searches (some with feedback too) update the
/// model's caches for the changed rows (not a rebuild), and score exactly as
/// a store reopened from disk.
#[test]
fn inserts_between_searches_score_as_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    db.publish(head_model(9)).unwrap();
    let queries: Vec<[f32; DIM]> = (0..5)
        .map(|i| {
            let t = i as f32;
            [t.cos(), 0.3 * t, t.sin(), -0.4]
        })
        .collect();
    db.search_learned(&queries[0], 5).unwrap();
    assert_eq!(db.model().feedback_cache_updates(), Some(0));
    for (i, q) in queries.iter().enumerate() {
        let v = [q[0] + 0.01, q[1], q[2] - 0.02, q[3]];
        db.insert(1000 + i as u64, &v).unwrap();
        if i % 2 == 1 {
            // Feedback between the same two searches: one update for both.
            db.record_feedback(q, &[1000 + i as u64, 3], &[1000 + i as u64])
                .unwrap();
        }
        db.search_learned(q, 5).unwrap();
    }
    assert_eq!(db.model().feedback_cache_updates(), Some(queries.len()));
    let before = learned_hits(&db, &queries);
    db.checkpoint().unwrap();
    drop(db);
    let (db, _) = open_report(&path);
    assert_eq!(learned_hits(&db, &queries), before);
}

/// A checkpointed store opened with `mmap` reads its vectors from the mapped
/// checkpoint (same results as reading them), until an insert copies them.
#[test]
fn mapped_vectors_search_as_read_ones_until_an_insert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = store(&path);
    db.checkpoint().unwrap();
    drop(db);
    let open = |mmap: bool| {
        VectorDB::open_with(
            &path,
            &OpenOptions {
                mmap,
                ..OpenOptions::default()
            },
        )
        .unwrap()
        .0
    };
    let (mapped, read) = (open(true), open(false));
    assert_eq!(mapped.stats().vectors_mapped, cfg!(feature = "mmap"));
    assert!(!read.stats().vectors_mapped);
    for i in 0..8 {
        let t = i as f32;
        let q = [t.sin(), 0.5, t.cos(), -0.1 * t];
        assert_eq!(mapped.search(&q, 5).unwrap(), read.search(&q, 5).unwrap());
        assert_eq!(mapped.get(i as u64), read.get(i as u64));
    }
    mapped.insert(77, &[0.1, 0.2, 0.3, 0.4]).unwrap();
    assert!(!mapped.stats().vectors_mapped);
    assert_eq!(mapped.search(&[0.1, 0.2, 0.3, 0.4], 1).unwrap()[0].id, 77);
    assert_eq!(mapped.get(3), read.get(3));
}
