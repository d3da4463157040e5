//! `cargo xtask parity <dir>` end to end: runs the built xtask binary on the
//! shared PyG fixtures, on temp copies of fixture cases made to fail (a
//! perturbed output, a missing parameter file), and on empty and missing
//! folders, checking exit status and output.
//!
//! The fixture tests skip with a message when `../shared/fixtures/pyg` is
//! absent, and fail instead when `CI` is set (CI runs beside `../shared`,
//! see `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `../shared/fixtures/pyg` relative to the workspace root.
fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/pyg");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} not found, and CI is set: CI runs with ../shared beside the clone (.ci/run)",
        dir.display()
    );
    eprintln!("skipping: {} not found", dir.display());
    None
}

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("xtask-parity-cli-{}-{tag}-{n}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("remove a stale temp dir");
        }
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Copies the case folder `fixtures/<case>` into `into/<case>` (as fresh,
/// writable files: the shared fixtures are read-only).
fn copy_case(fixtures: &Path, case: &str, into: &Path) -> PathBuf {
    let dst = into.join(case);
    std::fs::create_dir_all(&dst).expect("create case copy");
    for entry in std::fs::read_dir(fixtures.join(case)).expect("list fixture case") {
        let src = entry.expect("fixture entry").path();
        let bytes = std::fs::read(&src).expect("read fixture file");
        std::fs::write(dst.join(src.file_name().expect("file name")), bytes)
            .expect("write fixture copy");
    }
    dst
}

/// Multiplies every value of a little-endian `float32` `.npy` file by `factor`.
fn scale_npy_f32(path: &Path, factor: f32) {
    let mut bytes = std::fs::read(path).expect("read npy");
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not an npy file",
        path.display()
    );
    let (len_at, len_bytes) = if bytes[6] == 1 { (8, 2) } else { (8, 4) };
    let header_len = bytes[len_at..len_at + len_bytes]
        .iter()
        .rev()
        .fold(0usize, |acc, &b| acc * 256 + usize::from(b));
    let start = len_at + len_bytes + header_len;
    let header = String::from_utf8_lossy(&bytes[len_at + len_bytes..start]).into_owned();
    assert!(header.contains("'<f4'"), "{}: {header}", path.display());
    for chunk in bytes[start..].chunks_exact_mut(4) {
        let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) * factor;
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write npy");
}

/// Runs `xtask parity <args>`.
fn xtask_parity(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("parity")
        .args(args)
        .output()
        .expect("run the xtask binary")
}

/// `(stdout, stderr)` as text.
fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The per-case lines of the output (`ok   <case> ...` or `FAIL <case> ...`).
fn case_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL "))
        .collect()
}

/// The line of `case` (its name is the line's second field).
fn line_of<'a>(lines: &[&'a str], case: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.split_whitespace().nth(1) == Some(case))
        .unwrap_or_else(|| panic!("no line for case {case} in {lines:#?}"))
}

/// Every case of the shared fixtures passes, one line each, and each line
/// has the errors of `y`, `grad_x` and every parameter gradient the case has.
#[test]
fn parity_passes_on_the_shared_fixtures() {
    let Some(dir) = fixtures() else { return };
    let out = xtask_parity(&[&dir]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list fixtures")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "expected the 10 PyG cases: {cases:?}");
    let lines = case_lines(&stdout);
    assert_eq!(lines.len(), cases.len(), "one line per case:\n{stdout}");
    for case in &cases {
        let name = case.file_name().expect("name").to_string_lossy();
        let line = line_of(&lines, &name);
        assert!(line.starts_with("ok "), "{line}");
        let mut wanted = vec!["y".to_string(), "grad_x".to_string()];
        for f in std::fs::read_dir(case).expect("list case") {
            let file = f
                .expect("case entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if let Some(stem) = file.strip_suffix(".npy") {
                if stem.starts_with("grad_") && stem != "grad_x" && stem != "grad_y" {
                    wanted.push(stem.to_string());
                }
            }
        }
        for w in &wanted {
            assert!(line.contains(&format!(" {w}=")), "{w} not compared: {line}");
        }
    }
    assert!(
        stdout.contains(&format!("all {} cases pass", cases.len())),
        "{stdout}"
    );
}

/// A perturbed `y.npy` fails its case (exit status 1) and only that case.
#[test]
fn parity_fails_on_a_perturbed_output() {
    let Some(fixtures) = fixtures() else { return };
    let tmp = TempDir::new("perturbed");
    let bad = copy_case(&fixtures, "gcn_small", &tmp.0);
    copy_case(&fixtures, "sage_mean", &tmp.0);
    // A relative error of 1e-3 of the largest magnitude: ten times the tolerance.
    scale_npy_f32(&bad.join("y.npy"), 1.001);
    let out = xtask_parity(&[&tmp.0]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let lines = case_lines(&stdout);
    assert_eq!(lines.len(), 2, "one line per case:\n{stdout}");
    let line = line_of(&lines, "gcn_small");
    assert!(line.starts_with("FAIL "), "{line}");
    let y_err: f64 = line
        .split_whitespace()
        .find_map(|t| t.strip_prefix("y="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no y= error in {line}"));
    assert!(
        (5e-4..2e-3).contains(&y_err),
        "y's error should be ~1e-3: {line}"
    );
    assert!(line_of(&lines, "sage_mean").starts_with("ok "), "{stdout}");
    assert!(
        stderr.contains("1 of 2 cases failed: gcn_small"),
        "{stderr}"
    );
}

/// A missing value or gradient file of a layer parameter fails the case,
/// naming the case, the parameter and the file.
#[test]
fn parity_fails_naming_a_missing_parameter_file() {
    let Some(fixtures) = fixtures() else { return };
    for (param, file) in [
        ("weight_root", "weight_root.npy"),
        ("bias", "grad_bias.npy"),
    ] {
        let tmp = TempDir::new("missing-param");
        let case = copy_case(&fixtures, "sage_mean", &tmp.0);
        std::fs::remove_file(case.join(file)).expect("remove parameter file");
        let out = xtask_parity(&[&tmp.0]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        let lines = case_lines(&stdout);
        assert_eq!(lines.len(), 1, "one line per case:\n{stdout}");
        let line = line_of(&lines, "sage_mean");
        assert!(line.starts_with("FAIL "), "{line}");
        assert!(line.contains(&format!("parameter '{param}'")), "{line}");
        assert!(line.contains(file), "{line}");
        assert!(
            stderr.contains("1 of 1 cases failed: sage_mean"),
            "{stderr}"
        );
    }
}

/// An empty folder is an error, not a pass with zero cases.
#[test]
fn parity_fails_on_an_empty_dir() {
    let tmp = TempDir::new("empty");
    let out = xtask_parity(&[&tmp.0]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("no case folders"), "{stderr}");
    assert!(case_lines(&stdout).is_empty(), "{stdout}");
}

/// A folder that does not exist is an error naming it.
#[test]
fn parity_fails_on_a_missing_dir() {
    let tmp = TempDir::new("missing");
    let missing = tmp.0.join("no-such-fixtures");
    let out = xtask_parity(&[&missing]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("no such directory"), "{stderr}");
    assert!(stderr.contains("no-such-fixtures"), "{stderr}");
}

/// Without a folder argument the command prints its usage and fails.
#[test]
fn parity_without_a_dir_prints_usage() {
    let out = xtask_parity(&[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("usage: cargo xtask parity <dir>"),
        "{stderr}"
    );
}
