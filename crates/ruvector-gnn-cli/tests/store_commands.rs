//! The store commands end to end: build → search → feedback → train →
//! search --gnn → inspect, plus bad input (a clear message, never a panic).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ruvector-gnn"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run ruvector-gnn")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails_with(args: &[&str], needle: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
}

/// Writes `rows` as raw little-endian f32.
fn write_raw(path: &Path, rows: &[Vec<f32>]) {
    let bytes: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(path, bytes).unwrap();
}

/// 60 vectors of width 8: item `i` is near axis `i % 8`.
fn items() -> Vec<Vec<f32>> {
    (0..60)
        .map(|i| {
            (0..8)
                .map(|d| {
                    if d == i % 8 {
                        1.0
                    } else {
                        0.01 * ((i * 7 + d * 3) % 11) as f32
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn build_search_feedback_train_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base.f32");
    let queries = d.join("queries.f32");
    write_raw(&base, &items());
    let q: Vec<Vec<f32>> = (0..20).map(|i| items()[i * 3 % 60].clone()).collect();
    write_raw(&queries, &q);
    // qrels: query i's relevant item is the 3rd plain result's id (set below).
    let db = d.join("db");
    let db_s = db.to_str().unwrap();
    let built = ok(&[
        "build",
        "--db",
        db_s,
        "--vectors",
        base.to_str().unwrap(),
        "--dim",
        "8",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(built.trim()).unwrap();
    assert_eq!(v["vectors"], 60);

    let out = ok(&[
        "search",
        "--db",
        db_s,
        "--queries",
        queries.to_str().unwrap(),
        "--dim",
        "8",
        "-k",
        "5",
        "--json",
    ]);
    let res: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(res.as_array().unwrap().len(), 20);
    assert_eq!(res[0]["hits"].as_array().unwrap().len(), 5);
    let third = |r: &serde_json::Value, qi: usize| r[qi]["hits"][2]["id"].as_u64().unwrap();
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for qi in 0..20 {
        writeln!(qrels, "{qi}\t{}\t1", third(&res, qi)).unwrap();
    }
    let qrels_path = d.join("qrels.tsv");
    std::fs::write(&qrels_path, qrels).unwrap();

    let fb = ok(&[
        "feedback",
        "--db",
        db_s,
        "--queries",
        queries.to_str().unwrap(),
        "--dim",
        "8",
        "--qrels",
        qrels_path.to_str().unwrap(),
        "--shown-k",
        "5",
    ]);
    assert!(fb.contains("recorded 20 events"), "{fb}");
    ok(&[
        "feedback",
        "--db",
        db_s,
        "--vector",
        "1,0,0,0,0,0,0,0",
        "--shown",
        "0,8",
        "--chosen",
        "8",
    ]);
    let graded = ok(&[
        "feedback",
        "--db",
        db_s,
        "--vector",
        "0,1,0,0,0,0,0,0",
        "--shown",
        "1,2,3",
        "--chosen",
        "2,3",
        "--grades",
        "2,1",
        "--json",
    ]);
    let gj: serde_json::Value = serde_json::from_str(graded.trim()).unwrap();
    assert_eq!(
        (gj["graded"].as_bool(), gj["events_in_store"].as_u64()),
        (Some(true), Some(22))
    );
    for (grades, error) in [("-1", "negative"), ("1,2", "2 grades for 1 chosen")] {
        fails_with(
            &[
                "feedback",
                "--db",
                db_s,
                "--vector",
                "0,1,0,0,0,0,0,0",
                "--shown",
                "1",
                "--chosen",
                "1",
                "--grades",
                grades,
            ],
            error,
        );
    }

    let tr = ok(&["train", "--db", db_s, "--epochs", "5", "--json"]);
    let t: serde_json::Value = serde_json::from_str(tr.trim()).unwrap();
    assert!(t["published"].is_boolean());

    let g = ok(&[
        "search",
        "--db",
        db_s,
        "--vector",
        "1,0,0,0,0,0,0,0",
        "-k",
        "3",
        "--gnn",
        "--json",
    ]);
    let g: serde_json::Value = serde_json::from_str(g.trim()).unwrap();
    assert_eq!(g[0]["hits"].as_array().unwrap().len(), 3);

    let ins = ok(&["inspect", "--db", db_s, "--json"]);
    let s: serde_json::Value = serde_json::from_str(ins.trim()).unwrap();
    assert_eq!(s["vectors"], 60);
    assert_eq!(s["feedback_events"], 22);
    assert!(s["graph"]["edges"].as_u64().unwrap() > 0);
    let text = ok(&["inspect", "--db", db_s]);
    assert!(text.contains("60 × 8"), "{text}");

    // Bad input: clear messages, no panics, nothing changed.
    fails_with(
        &["search", "--db", db_s, "--vector", "1,2"],
        "expected 8 dimensions",
    );
    fails_with(
        &["search", "--db", db_s, "--vector", "1,x,0,0,0,0,0,0"],
        "not a number",
    );
    fails_with(
        &[
            "feedback",
            "--db",
            db_s,
            "--vector",
            "1,0,0,0,0,0,0,0",
            "--shown",
            "999",
            "--chosen",
            "999",
        ],
        "unknown id 999",
    );
    fails_with(
        &[
            "build",
            "--db",
            db_s,
            "--vectors",
            base.to_str().unwrap(),
            "--dim",
            "8",
        ],
        "already holds a store",
    );
    fails_with(
        &[
            "build",
            "--db",
            d.join("db2").to_str().unwrap(),
            "--vectors",
            base.to_str().unwrap(),
            "--dim",
            "7",
        ],
        "multiple",
    );
    fails_with(
        &[
            "search",
            "--db",
            d.join("nope").to_str().unwrap(),
            "--vector",
            "1",
        ],
        "no manifest",
    );
    let nan = d.join("nan.f32");
    write_raw(&nan, &[vec![f32::NAN; 8]]);
    fails_with(
        &[
            "build",
            "--db",
            d.join("db3").to_str().unwrap(),
            "--vectors",
            nan.to_str().unwrap(),
            "--dim",
            "8",
        ],
        "non-finite",
    );
    let s2: serde_json::Value =
        serde_json::from_str(ok(&["inspect", "--db", db_s, "--json"]).trim()).unwrap();
    assert_eq!(s2["feedback_events"], 22);
}

#[test]
fn help_lists_every_command() {
    let out = ok(&["--help"]);
    for c in [
        "demo", "build", "search", "feedback", "train", "inspect", "classify",
    ] {
        assert!(out.contains(c), "--help lacks {c}: {out}");
    }
    for c in [
        "build", "search", "feedback", "train", "inspect", "demo", "classify",
    ] {
        let h = ok(&[c, "--help"]);
        assert!(h.contains("Usage"), "{c} --help: {h}");
    }
}

/// The README's first command on the bundled data, in its JSON form: the
/// learning curve rises and the model beats static HNSW on held-out questions.
#[test]
fn demo_on_the_bundled_data_learns() {
    let out = ok(&["demo", "--json", "--checkpoints", "0,100,2000"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["items"], 877);
    assert_eq!(
        v["feedback_queries"].as_u64().unwrap() + v["held_out_queries"].as_u64().unwrap(),
        v["judged_queries"].as_u64().unwrap()
    );
    let curve = v["checkpoints"].as_array().unwrap();
    let ndcg = |c: &serde_json::Value| c["gnn"]["ndcg@10"].as_f64().unwrap();
    let stat = v["static"]["ndcg@10"].as_f64().unwrap();
    assert_eq!(curve.len(), 3);
    assert_eq!(ndcg(&curve[0]), stat, "no feedback: the static ranking");
    assert!(
        ndcg(&curve[1]) >= stat && ndcg(&curve[2]) > ndcg(&curve[1]),
        "{v}"
    );
    assert!(v["ndcg_gain"].as_f64().unwrap() > 0.10, "{v}");
    let last_recall = curve[2]["gnn"]["recall@10"].as_f64().unwrap();
    assert!(
        last_recall >= v["static"]["recall@10"].as_f64().unwrap(),
        "{v}"
    );
}
