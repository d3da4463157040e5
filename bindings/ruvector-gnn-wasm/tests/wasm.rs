//! The exported API inside WebAssembly under Node (`cargo xtask wasm` runs
//! these through wasm-bindgen-test-runner): results, the learning loop, and
//! bad input, which must come back as a JS `Error` with a `code`, never a
//! trap.
#![cfg(target_arch = "wasm32")]

mod common;

use js_sys::{Array, Reflect};
use ruvector_gnn_wasm::{
    isa_name, JsGatLayer, JsGcnLayer, JsGnnEmbedder, JsGraphSage, JsQuantizedModel, JsVectorDb,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const D: usize = 16;

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn num(v: &JsValue, key: &str) -> f64 {
    Reflect::get(v, &JsValue::from_str(key))
        .unwrap()
        .as_f64()
        .unwrap()
}

fn adjacency(lists: &[Vec<usize>]) -> JsValue {
    lists
        .iter()
        .map(|l| {
            JsValue::from(
                l.iter()
                    .map(|&j| JsValue::from(j as f64))
                    .collect::<Array>(),
            )
        })
        .collect::<Array>()
        .into()
}

/// Seeded rows in [-0.5, 0.5).
fn rows(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n * D)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// The failure as JS sees it: an `Error` with the message and the code.
fn thrown<T>(r: Result<T, ruvector_gnn_wasm::Fail>, code: &str, contains: &str) {
    let Err(f) = r else {
        panic!("expected an error containing '{contains}'")
    };
    assert!(
        f.message.contains(contains),
        "'{}' does not contain '{contains}'",
        f.message
    );
    assert_eq!(f.code, code, "{}", f.message);
    let js = JsValue::from(f);
    let e = js.dyn_ref::<js_sys::Error>().expect("a JS Error");
    assert!(String::from(e.message()).contains(contains));
    assert_eq!(
        Reflect::get(&js, &JsValue::from_str("code"))
            .unwrap()
            .as_string()
            .as_deref(),
        Some(code)
    );
}

fn hit_ids(hits: &Array) -> Vec<f64> {
    hits.iter().map(|h| num(&h, "id")).collect()
}

/// The package (built without `+simd128`) runs its kernels on simd128, so
/// every other test here checks those bodies against native references.
#[wasm_bindgen_test]
fn the_kernels_run_on_simd128() {
    assert_eq!(isa_name(), "simd128");
}

#[wasm_bindgen_test]
fn vectordb_build_insert_search_and_stats() {
    let v = rows(50, 3);
    let db = JsVectorDb::from_vectors(&v, D as f64, JsValue::UNDEFINED).unwrap();
    assert_eq!(db.length(), 50);
    assert_eq!(db.dimensions(), D as u32);
    let hits = db.search(&v[7 * D..8 * D], Some(3.0)).unwrap();
    assert_eq!(hits.length(), 3);
    assert_eq!(num(&hits.get(0), "id"), 7.0);
    assert!(num(&hits.get(0), "distance").abs() < 1e-5);
    let q = rows(1, 99);
    db.insert(1000.0, &q).unwrap();
    db.insert_batch(&[1001.0, 1002.0], &rows(2, 5)).unwrap();
    assert_eq!(db.length(), 53);
    assert_eq!(hit_ids(&db.search(&q, Some(1.0)).unwrap()), vec![1000.0]);
    assert_eq!(db.search(&q, None).unwrap().length(), 10);
    // k larger than the store is clamped, not an allocation of k slots.
    assert_eq!(db.search(&q, Some(1e15)).unwrap().length(), 53);
    let s: JsValue = db.stats().into();
    assert_eq!(num(&s, "len"), 53.0);
    assert_eq!(num(&s, "feedbackEvents"), 0.0);
    assert_eq!(db.ids().length(), 53);
    assert_eq!(db.get_hnsw_graph().unwrap().length(), 53);
    assert_eq!(db.get_all_vectors().unwrap().len(), 53 * D);
    // (dot needs norms <= 1: the rows are scaled down)
    let small: Vec<f32> = v.iter().map(|x| x * 0.2).collect();
    for metric in ["cosine", "l2", "dot"] {
        let o = obj(&[("metric", metric.into()), ("m", 8.into())]);
        let db = JsVectorDb::from_vectors(&small, D as f64, o).unwrap();
        assert_eq!(db.search(&small[..D], Some(1.0)).unwrap().length(), 1);
    }
}

/// Items 0..20 sit around a centre; users always choose one of them.
fn cluster() -> (JsVectorDb, Vec<f32>, impl FnMut() -> Vec<f32>) {
    let noise = rows(400, 42);
    let centre: Vec<f32> = noise[..D].to_vec();
    let n = 200;
    let mut v = vec![0.0f32; n * D];
    for i in 0..n {
        for j in 0..D {
            let r = noise[(i + 1) * D + j];
            v[i * D + j] = if i < 20 {
                centre[j] + (0.05 + 0.02 * i as f32) * r
            } else {
                r
            };
        }
    }
    let db = JsVectorDb::from_vectors(&v, D as f64, JsValue::UNDEFINED).unwrap();
    let mut k = 0u64;
    let c = centre.clone();
    let query = move || {
        k += 1;
        let r = rows(1, 1000 + k);
        c.iter().zip(&r).map(|(a, b)| a + 0.02 * b).collect()
    };
    (db, centre, query)
}

#[wasm_bindgen_test]
fn feedback_train_promotes_the_chosen_item_and_explains_it() {
    let (db, _, mut query) = cluster();
    let probe = query();
    let plain = hit_ids(&db.search(&probe, Some(10.0)).unwrap());
    let target = plain[2];
    let rank = |h: &[f64]| h.iter().position(|&x| x == target).unwrap();
    let before = rank(&hit_ids(&db.search_with_gnn(&probe, Some(10.0)).unwrap()));
    assert_eq!(before, 2, "the untrained model ranks like cosine");
    for _ in 0..60 {
        let q = query();
        let shown = hit_ids(&db.search(&q, Some(10.0)).unwrap());
        db.record_feedback(&q, &shown, &[target], None).unwrap();
    }
    let rep: JsValue = db
        .train(obj(&[("epochs", 40.into()), ("seed", 1.into())]))
        .unwrap()
        .into();
    assert_eq!(
        Reflect::get(&rep, &"published".into()).unwrap().as_bool(),
        Some(true)
    );
    let after = rank(&hit_ids(&db.search_with_gnn(&probe, Some(10.0)).unwrap()));
    assert!(after < before, "rank before {before}, after {after}");
    // The model survives bytes (as a natively trained one would arrive).
    let model = db.model();
    assert!(model.is_trained());
    let back = JsGnnEmbedder::from_bytes(&model.to_bytes().unwrap()).unwrap();
    let fresh =
        JsVectorDb::from_vectors(&db.get_all_vectors().unwrap(), D as f64, JsValue::UNDEFINED)
            .unwrap();
    let same = hit_ids(&db.search_with_model(&probe, Some(10.0), &back).unwrap());
    assert_eq!(
        same,
        hit_ids(&db.search_with_gnn(&probe, Some(10.0)).unwrap())
    );
    fresh.publish(&back).unwrap();
    let ex: JsValue = db.explain(&probe, target).unwrap().into();
    assert_eq!(num(&ex, "id"), target);
    assert!(num(&ex, "score").is_finite());
    let att = Array::from(&Reflect::get(&ex, &"attention".into()).unwrap());
    assert!(att.length() > 0, "the chosen item has past choosers");
    let feats = Array::from(&Reflect::get(&ex, &"features".into()).unwrap());
    assert!(feats.length() > 0);
}

#[wasm_bindgen_test]
fn vectordb_bad_input_throws_errors() {
    let db = JsVectorDb::from_vectors(&rows(10, 1), D as f64, JsValue::UNDEFINED).unwrap();
    let q = rows(1, 7);
    thrown(
        db.search(&q, Some(0.0)),
        "ERR_INVALID_ARG",
        "k must be at least 1",
    );
    thrown(
        db.search(&q, Some(-1.0)),
        "ERR_INVALID_ARG",
        "k must be non-negative",
    );
    thrown(
        db.search(&q[1..], Some(3.0)),
        "ERR_DIMENSION_MISMATCH",
        "expected 16 dimensions, got 15",
    );
    thrown(
        db.search(&[f32::NAN; D], Some(3.0)),
        "ERR_NOT_FINITE",
        "non-finite",
    );
    thrown(
        db.search_with_gnn(&[f32::INFINITY; D], None),
        "ERR_NOT_FINITE",
        "non-finite",
    );
    thrown(
        db.insert(-1.0, &q),
        "ERR_INVALID_ARG",
        "id must be non-negative",
    );
    thrown(
        db.insert(1.5, &q),
        "ERR_INVALID_ARG",
        "id must be an integer",
    );
    thrown(db.insert(2f64.powi(60), &q), "ERR_INVALID_ARG", "too large");
    thrown(
        db.insert(5.0, &[f32::NAN; D]),
        "ERR_NOT_FINITE",
        "non-finite",
    );
    thrown(
        db.insert_batch(&[1.0, 2.0], &rows(3, 1)),
        "ERR_DIMENSION_MISMATCH",
        "expected 2 ids x 16 dimensions = 32 values, got 48",
    );
    thrown(
        db.record_feedback(&q, &[0.0], &[12345.0], None),
        "ERR_UNKNOWN_ID",
        "12345",
    );
    thrown(
        db.record_feedback(&q, &[0.0], &[1.0], Some(vec![1.0, 2.0])),
        "ERR_INVALID_ARG",
        "2 grades for 1 chosen",
    );
    thrown(db.explain(&q, 999.0), "ERR_UNKNOWN_ID", "999");
    thrown(
        db.train(obj(&[("epochs", (-1).into())])),
        "ERR_INVALID_ARG",
        "epochs must be non-negative",
    );
    thrown(
        db.train(obj(&[("lr", "fast".into())])),
        "ERR_INVALID_ARG",
        "lr must be a number",
    );
    thrown(
        db.train("nope".into()),
        "ERR_INVALID_ARG",
        "options must be an object",
    );
    thrown(
        JsVectorDb::new(4.0, obj(&[("metric", "hamming".into())])),
        "ERR_INVALID_ARG",
        "unknown metric",
    );
    thrown(
        JsVectorDb::new(1e9, JsValue::UNDEFINED),
        "ERR_INVALID_ARG",
        "too large",
    );
    thrown(
        JsVectorDb::new(0.0, JsValue::UNDEFINED),
        "ERR_INVALID_ARG",
        "at least 1",
    );
    thrown(
        JsVectorDb::from_vectors(&rows(2, 1)[1..], D as f64, JsValue::UNDEFINED),
        "ERR_DIMENSION_MISMATCH",
        "not a multiple of the dimension",
    );
    let other = JsGnnEmbedder::new(obj(&[("inputDim", ((D + 1) as f64).into())])).unwrap();
    thrown(db.publish(&other), "ERR_DIMENSION_MISMATCH", "model input");
    thrown(
        JsGnnEmbedder::new(JsValue::UNDEFINED),
        "ERR_INVALID_ARG",
        "inputDim are required",
    );
    // Corrupt model bytes: empty, garbage, a valid file cut short.
    let good = JsGnnEmbedder::new(obj(&[("inputDim", (D as f64).into())]))
        .unwrap()
        .to_bytes()
        .unwrap();
    for bad in [&[][..], &b"not a model at all"[..], &good[..good.len() / 2]] {
        assert!(JsGnnEmbedder::from_bytes(bad).is_err());
    }
    let mut flipped = good.clone();
    flipped[9] ^= 0xff;
    assert!(JsGnnEmbedder::from_bytes(&flipped).is_err());
}

#[wasm_bindgen_test]
fn layers_forward_attention_bytes_and_quantize() {
    let n = 6;
    let x = rows(n, 11);
    let ring: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n, (i + n - 1) % n]).collect();
    let adj = adjacency(&ring);
    let opts = |extra: &[(&str, JsValue)]| {
        let mut p = vec![("inputDim", (D as f64).into()), ("outputDim", 4.into())];
        p.extend(extra.iter().cloned());
        obj(&p)
    };
    let gcn = JsGcnLayer::new(opts(&[])).unwrap();
    let y = gcn.forward(&x, n as f64, adj.clone()).unwrap();
    assert_eq!(y.len(), n * 4);
    let back = JsGcnLayer::from_bytes(&gcn.to_bytes().unwrap()).unwrap();
    assert_eq!(back.forward(&x, n as f64, adj.clone()).unwrap(), y);
    let q =
        JsQuantizedModel::from_bytes(&gcn.quantize("int8").unwrap().to_bytes().unwrap()).unwrap();
    assert_eq!(q.precision(), "int8");
    let yq = q.forward(&x, n as f64, adj.clone()).unwrap();
    let err = y
        .iter()
        .zip(&yq)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 0.05, "int8 error {err}");

    let gat = JsGatLayer::new(opts(&[("numHeads", 2.into())])).unwrap();
    assert_eq!(gat.output_dim(), 8);
    let out: JsValue = gat
        .forward_with_attention(&x, n as f64, adj.clone())
        .unwrap()
        .into();
    let y = js_sys::Float32Array::from(Reflect::get(&out, &"output".into()).unwrap()).to_vec();
    assert_eq!(y.len(), n * 8);
    let att = Array::from(&Reflect::get(&out, &"attention".into()).unwrap());
    assert_eq!(att.length(), n as u32);
    for row in att.iter() {
        let w: Vec<f64> = Array::from(&row)
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(w.len(), 3, "two neighbours then self");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
    let plain = gat.forward(&x, n as f64, adj.clone()).unwrap();
    assert!(plain.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-5));

    let sage = JsGraphSage::new(opts(&[("aggregator", "max".into())])).unwrap();
    let z = sage.forward(&x, n as f64, adj.clone()).unwrap();
    assert_eq!(z.len(), n * 4);
    let back = JsGraphSage::from_bytes(&sage.to_bytes().unwrap()).unwrap();
    assert_eq!(back.forward(&x, n as f64, adj.clone()).unwrap(), z);

    let e = JsGnnEmbedder::new(obj(&[
        ("inputDim", (D as f64).into()),
        ("outputDim", 8.into()),
    ]))
    .unwrap();
    assert_eq!(e.encode(&x, n as f64, adj).unwrap().len(), n * 8);
}

#[wasm_bindgen_test]
fn layers_bad_input_throws_errors() {
    let n = 4;
    let x = rows(n, 2);
    let ok = adjacency(&[vec![1], vec![2], vec![3], vec![0]]);
    let gcn = JsGcnLayer::new(obj(&[
        ("inputDim", (D as f64).into()),
        ("outputDim", 4.into()),
    ]))
    .unwrap();
    thrown(
        gcn.forward(&x[1..], n as f64, ok.clone()),
        "ERR_DIMENSION_MISMATCH",
        "expected 4 x 16 = 64 values, got 63",
    );
    let mut nan = x.clone();
    nan[5] = f32::NAN;
    thrown(
        gcn.forward(&nan, n as f64, ok.clone()),
        "ERR_NOT_FINITE",
        "non-finite",
    );
    thrown(
        gcn.forward(
            &x,
            n as f64,
            adjacency(&[vec![1], vec![9], vec![3], vec![0]]),
        ),
        "ERR_INVALID_ARG",
        "neighbour index 9 out of range",
    );
    thrown(
        gcn.forward(&x, n as f64, adjacency(&[vec![1]])),
        "ERR_DIMENSION_MISMATCH",
        "expected 4 neighbour lists",
    );
    thrown(
        gcn.forward(&x, n as f64, JsValue::from(3)),
        "ERR_INVALID_ARG",
        "adjacency must be",
    );
    let strings: JsValue = [JsValue::from(
        ["a"].iter().map(|s| JsValue::from(*s)).collect::<Array>(),
    )]
    .iter()
    .cloned()
    .chain((0..3).map(|_| JsValue::from(Array::new())))
    .collect::<Array>()
    .into();
    thrown(
        gcn.forward(&x, n as f64, strings),
        "ERR_INVALID_ARG",
        "adjacency[0][0] must be a number",
    );
    thrown(
        gcn.forward(&x, -1.0, ok.clone()),
        "ERR_INVALID_ARG",
        "numNodes must be non-negative",
    );
    thrown(
        JsGcnLayer::new(obj(&[
            ("inputDim", 65536.into()),
            ("outputDim", 65536.into()),
        ])),
        "ERR_INVALID_ARG",
        "too many",
    );
    thrown(
        JsGcnLayer::new(obj(&[
            ("inputDim", 4.into()),
            ("outputDim", 4.into()),
            ("activation", "swish".into()),
        ])),
        "ERR_INVALID_ARG",
        "unknown activation",
    );
    thrown(
        JsGatLayer::new(obj(&[("inputDim", 4.into())])),
        "ERR_INVALID_ARG",
        "outputDim is required",
    );
    thrown(
        JsGraphSage::new(obj(&[
            ("inputDim", 4.into()),
            ("outputDim", 4.into()),
            ("aggregator", "median".into()),
        ])),
        "ERR_INVALID_ARG",
        "unknown aggregator",
    );
    thrown(gcn.quantize("int4"), "ERR_INVALID_ARG", "unknown precision");
    for bad in [&[][..], &b"\x08\0\0\0\0\0\0\0{}"[..], &[0xffu8; 64][..]] {
        assert!(JsGcnLayer::from_bytes(bad).is_err());
        assert!(JsGatLayer::from_bytes(bad).is_err());
        assert!(JsGraphSage::from_bytes(bad).is_err());
        assert!(JsQuantizedModel::from_bytes(bad).is_err());
    }
    let good = gcn.to_bytes().unwrap();
    thrown(
        JsGcnLayer::from_bytes(&good[..good.len() - 3]).map(|_| ()),
        "ERR_CORRUPT",
        "",
    );
}

#[wasm_bindgen_test]
fn a_model_saved_natively_gives_the_native_output_in_wasm() {
    let bytes = include_bytes!("fixtures/gcn_16x4.safetensors");
    let want = common::parse_expected(include_str!("fixtures/gcn_16x4.expected.txt"));
    let layer = JsGcnLayer::from_bytes(bytes).unwrap();
    let y = layer
        .forward(
            &common::features(),
            common::N as f64,
            adjacency(&common::adjacency()),
        )
        .unwrap();
    assert_eq!(y.len(), want.len());
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}
