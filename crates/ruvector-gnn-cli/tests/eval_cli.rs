//! `ruvector-gnn eval` end to end on a tiny generated data set: every input
//! format, string ids, the JSON schema, and clear errors (never a panic) for
//! bad input.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ruvector-gnn");
const DIM: usize = 8;
const N_BASE: usize = 240;
const N_QUERIES: usize = 80;

/// A small deterministic generator (xorshift) so the test needs no crates.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

struct Data {
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    /// (query row, doc row, grade)
    qrels: Vec<(usize, usize, u32)>,
}

/// Items in 12 clusters; query `q` is a noisy copy of item `3q` (grade 2),
/// and item `3q + 12` of the same cluster is also relevant (grade 1).
fn data() -> Data {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let centres: Vec<Vec<f32>> = (0..12)
        .map(|_| (0..DIM).map(|_| g.next()).collect())
        .collect();
    let base: Vec<Vec<f32>> = (0..N_BASE)
        .map(|i| centres[i % 12].iter().map(|c| c + 0.4 * g.next()).collect())
        .collect();
    let queries = (0..N_QUERIES)
        .map(|q| base[3 * q].iter().map(|v| v + 0.3 * g.next()).collect())
        .collect();
    let qrels = (0..N_QUERIES)
        .flat_map(|q| [(q, 3 * q, 2), (q, (3 * q + 12) % N_BASE, 1)])
        .collect();
    Data {
        base,
        queries,
        qrels,
    }
}

fn write_npy(path: &Path, rows: &[Vec<f32>]) {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        rows.len(),
        rows[0].len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for v in rows.iter().flatten() {
        b.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut b = Vec::new();
    for r in rows {
        b.extend_from_slice(&(r.len() as i32).to_le_bytes());
        for v in r {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, b).unwrap();
}

fn write_raw(path: &Path, rows: &[Vec<f32>]) {
    let b: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(path, b).unwrap();
}

fn eval(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("eval")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with a clear message, exit code 1, no panic.
fn expect_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

struct Files {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn files() -> Files {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let d = data();
    write_npy(&dir.join("base.npy"), &d.base);
    write_npy(&dir.join("queries.npy"), &d.queries);
    write_fvecs(&dir.join("base.fvecs"), &d.base);
    write_raw(&dir.join("queries.f32"), &d.queries);
    let mut tsv = String::from("query-id\tcorpus-id\tscore\n");
    let mut named = tsv.clone();
    for &(q, c, s) in &d.qrels {
        writeln!(tsv, "{q}\t{c}\t{s}").unwrap();
        writeln!(named, "q-{q}\tdoc/{c}\t{s}").unwrap();
    }
    std::fs::write(dir.join("qrels.tsv"), tsv).unwrap();
    std::fs::write(dir.join("qrels_named.tsv"), named).unwrap();
    let ids = |p: &str, n: usize| {
        (0..n).fold(String::new(), |mut s, i| {
            writeln!(s, "{p}{i}").unwrap();
            s
        })
    };
    std::fs::write(dir.join("query_ids.txt"), ids("q-", N_QUERIES)).unwrap();
    std::fs::write(dir.join("doc_ids.txt"), ids("doc/", N_BASE)).unwrap();
    Files { _tmp: tmp, dir }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const KEYS: [&str; 5] = ["ndcg@10", "recall@10", "mrr", "p50_us", "p99_us"];

fn check_schema(v: &serde_json::Value, events: &[u64]) {
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["checkpoints"]);
    let cps = v["checkpoints"].as_array().unwrap();
    let got: Vec<u64> = cps.iter().map(|c| c["events"].as_u64().unwrap()).collect();
    assert_eq!(got, events);
    for cp in cps {
        let mut keys: Vec<&String> = cp.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, vec!["events", "gnn", "linear", "static"]);
        for system in ["static", "linear", "gnn"] {
            let m = cp[system].as_object().unwrap();
            assert_eq!(m.len(), KEYS.len(), "{m:?}");
            for k in KEYS {
                let x = m[k]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{system}.{k} missing"));
                assert!(x.is_finite() && x >= 0.0, "{system}.{k} = {x}");
                if !k.ends_with("_us") {
                    assert!(x <= 1.0, "{system}.{k} = {x}");
                }
            }
            assert!(m["p99_us"].as_f64() >= m["p50_us"].as_f64());
        }
    }
}

#[test]
fn npy_with_hnsw_writes_the_json_schema() {
    let f = files();
    let o = eval(
        &f.dir,
        &[
            "--base",
            "base.npy",
            "--queries",
            "queries.npy",
            "--qrels",
            "qrels.tsv",
            "--checkpoints",
            "0,10,all",
            "--seed",
            "3",
            "--json",
            "out.json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("nDCG@10") && stdout.contains("gnn"),
        "{stdout}"
    );
    let v = read_json(&f.dir.join("out.json"));
    // 80 judged queries × 0.7 = 56 training events.
    check_schema(&v, &[0, 10, 56]);
    // The clusters make static search find the relevant items.
    assert!(v["checkpoints"][0]["static"]["recall@10"].as_f64().unwrap() > 0.3);
}

#[test]
fn fvecs_raw_and_string_ids_match_npy_row_ids() {
    let f = files();
    let run = |args: &[&str], out: &str| {
        let mut a = args.to_vec();
        a.extend(["--exact", "--checkpoints", "0,20", "--json", out]);
        let o = eval(&f.dir, &a);
        assert!(o.status.success(), "{}", stderr(&o));
        read_json(&f.dir.join(out))
    };
    let rows = run(
        &[
            "--base",
            "base.npy",
            "--queries",
            "queries.npy",
            "--qrels",
            "qrels.tsv",
        ],
        "rows.json",
    );
    let named = run(
        &[
            "--base",
            "base.fvecs",
            "--queries",
            "queries.f32",
            "--dim",
            "8",
            "--qrels",
            "qrels_named.tsv",
            "--query-ids",
            "query_ids.txt",
            "--doc-ids",
            "doc_ids.txt",
        ],
        "named.json",
    );
    check_schema(&named, &[0, 20]);
    for cp in 0..2 {
        for system in ["static", "linear"] {
            for k in ["ndcg@10", "recall@10", "mrr"] {
                assert_eq!(
                    rows["checkpoints"][cp][system][k], named["checkpoints"][cp][system][k],
                    "{system} {k} at checkpoint {cp}"
                );
            }
        }
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let f = files();
    let d = data();
    let dir = &f.dir;
    let base = ["--queries", "queries.npy", "--qrels", "qrels.tsv"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        eval(dir, &a)
    };

    expect_error(&with(&["--base", "missing.npy"]), "missing.npy");

    // Queries of another width.
    let narrow: Vec<Vec<f32>> = d.queries.iter().map(|q| q[..4].to_vec()).collect();
    write_npy(&dir.join("narrow.npy"), &narrow);
    expect_error(
        &eval(
            dir,
            &[
                "--base",
                "base.npy",
                "--queries",
                "narrow.npy",
                "--qrels",
                "qrels.tsv",
            ],
        ),
        "dimension mismatch",
    );
    // --dim disagreeing with a file, and raw files without --dim.
    expect_error(
        &with(&["--base", "base.fvecs", "--dim", "16"]),
        "expected 16 dimensions, got 8",
    );
    expect_error(
        &eval(
            dir,
            &[
                "--base",
                "base.npy",
                "--queries",
                "queries.f32",
                "--qrels",
                "qrels.tsv",
            ],
        ),
        "--dim",
    );
    write_raw(&dir.join("base.f32"), &d.base);
    expect_error(
        &eval(
            dir,
            &[
                "--base",
                "base.f32",
                "--queries",
                "queries.f32",
                "--dim",
                "7",
                "--qrels",
                "qrels.tsv",
            ],
        ),
        "not a multiple",
    );

    // Qrels naming a document that does not exist, or string ids without a map.
    std::fs::write(dir.join("bad_qrels.tsv"), "0\t5\t1\n1\t9999\t1\n").unwrap();
    expect_error(
        &eval(
            dir,
            &[
                "--base",
                "base.npy",
                "--queries",
                "queries.npy",
                "--qrels",
                "bad_qrels.tsv",
            ],
        ),
        "line 2: unknown corpus id '9999'",
    );
    expect_error(
        &eval(
            dir,
            &[
                "--base",
                "base.npy",
                "--queries",
                "queries.npy",
                "--qrels",
                "qrels_named.tsv",
            ],
        ),
        "unknown query id 'q-0'",
    );
    // An id list that does not cover the rows.
    std::fs::write(dir.join("short_ids.txt"), "a\nb\n").unwrap();
    expect_error(
        &with(&["--base", "base.npy", "--query-ids", "short_ids.txt"]),
        "2 query ids for 80 query rows",
    );

    // NaN in the base, and a zero base vector (no cosine direction).
    let mut nan = d.base.clone();
    nan[17][3] = f32::NAN;
    write_npy(&dir.join("nan.npy"), &nan);
    expect_error(&with(&["--base", "nan.npy"]), "row 17, column 3");
    let mut zero = d.base.clone();
    zero[200] = vec![0.0; DIM];
    write_npy(&dir.join("zero.npy"), &zero);
    expect_error(
        &with(&["--base", "zero.npy"]),
        "base row 200 is a zero vector",
    );

    // Bad settings.
    expect_error(
        &with(&["--base", "base.npy", "--train-fraction", "1.0"]),
        "--train-fraction",
    );
    expect_error(
        &with(&["--base", "base.npy", "--checkpoints", "0,lots"]),
        "'lots' is not an event count",
    );
    expect_error(&with(&["--base", "base.npy", "--k", "0"]), "at least 1");
}

#[test]
fn help_describes_the_command() {
    let o = Command::new(BIN).args(["eval", "--help"]).output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--base",
        "--queries",
        "--qrels",
        "--train-fraction",
        "--checkpoints",
        "--seed",
        "--json",
        "--dim",
        "--query-ids",
        "--doc-ids",
        "--k",
        "--ef",
        "--candidates",
        "--exact",
        ".fvecs",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
