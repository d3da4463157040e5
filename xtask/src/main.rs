//! `cargo xtask <command>`: the workspace's automation. Run `cargo xtask help`.

use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod bench_peers;
mod npm;
mod parity;
mod release;
mod search_gain;
mod wasm;

const HELP: &str = "\
cargo xtask <command>

Commands:
  ci                 run what .ci/run runs: fmt check, clippy -D warnings, all tests and
                     doc tests, a 30 s fuzz run of the weights loader, the Cora
                     accuracy check, the search-gain check, (with node) `npm`, (with the
                     wasm toolchain) `wasm`, and last `release --dry-run --no-verify`, which
                     then packs the built Node addon and wasm package
  accuracy [dir]     train GCN and GAT on a Planetoid folder (default data/cora) over
                     5 seeds with the papers' settings; fail if the mean test accuracy
                     is below GCN 0.805 / GAT 0.815
  search-gain [dir]  run `ruvector-gnn eval` on a relevance set (default the bundled
                     data/chatterbot_qa); fail if the GNN's held-out nDCG@10 gain over
                     static HNSW is below +10% or its recall@10 ever falls below static
  npm                build the Node.js package (bindings/ruvector-gnn-node): npm install,
                     napi build, node --test, tsc --strict on index.d.ts, npm pack and a
                     require/import smoke test of the tarball in a fresh temp project
  bench [kernels|layers|hnsw|search ...] [-- CRITERION ARGS]
                     the criterion benches (default all), printing each bench's named
                     workloads and which one measures each figure of the seed README
  bench-peers [--quick] [--no-write]
                     ours vs PyG (GCN, GAT, SAGE; 10k/100k/Cora, --quick: 10k/Cora) and
                     vs hnswlib (GloVe-50 100K), alternating in one run; prints one ratio
                     table with the roofline and writes it into docs/BENCHMARKS.md
                     (PY=<venv>/bin/python, default /work/.peers-venv/bin/python)
  release --dry-run [--no-verify] [--allow-dirty] [--bump patch|minor|major]
                     check versions move together, crates.io metadata, CHANGELOG.md,
                     `cargo package` every publishable crate in dependency order and
                     `npm pack --dry-run` the npm packages; `release --bump LEVEL`
                     rewrites the versions (see `cargo xtask release --help`)
  wasm [bench]       build the WebAssembly package (bindings/ruvector-gnn-wasm/pkg) with
                     Debian's rustc-web + -Zbuild-std, wasm-bindgen and wasm-opt -O3;
                     run its wasm-bindgen-test tests under Node, its JS tests and the
                     demo page in headless Chromium; `bench` also times a layer forward
                     (the wasm package, a +simd128 build, native)
  parity   <dir>: run the reference cases under <dir> (e.g. /work/shared/fixtures/pyg);
           prints one line per case, exits 1 if any fails or exceeds 1e-4
  help     print this help
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("accuracy") => accuracy(args.get(1).map_or("data/cora", String::as_str)),
        Some("npm") => npm::npm(),
        Some("wasm") => wasm::wasm(&args[1..]),
        Some("parity") => parity::parity(&args[1..]),
        Some("search-gain") => {
            search_gain::search_gain(args.get(1).map_or("data/chatterbot_qa", String::as_str))
        }
        Some("bench") => bench::bench(&args[1..]),
        Some("bench-peers") => bench_peers::bench_peers(&args[1..]),
        Some("release") => release::release(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown command '{other}'\n\n{HELP}"),
    }
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_with_env(args, &[])
}

/// [`cargo`] with extra environment variables (echoed before the command).
fn cargo_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}=\"{v}\" ")).collect();
    eprintln!("$ {}cargo {}", vars.concat(), args.join(" "));
    let status = Command::new(crate::release::cargo_bin())
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The CI steps, in the order `.ci/run` runs them.
fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // Unit, integration and doc tests of every crate; examples are built.
    // Benches are compiled by clippy above, not run: timings live in benches.
    cargo(&["test", "--workspace"])?;
    // Every crate's API docs build without warnings (broken intra-doc links,
    // stray HTML in doc comments, which clap help text invites).
    cargo_with_env(
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // The weights loader's fuzz target on the stable toolchain, time-bounded.
    cargo(&[
        "run",
        "--release",
        "--quiet",
        "-p",
        "ruvector-gnn-weights",
        "--example",
        "fuzz_stable",
        "--",
        "30",
    ])?;
    accuracy("data/cora")?;
    search_gain::search_gain("data/chatterbot_qa")?;
    // The Node.js package: needs node ≥ 20.17 and npm (.ci/run checks for them).
    if npm::node_available() {
        npm::npm()?;
    } else {
        eprintln!("note: node ≥ 20.17 / npm not found: skipping `cargo xtask npm` (the Node.js package tests)");
    }
    // The WebAssembly package: .ci/run installs its toolchain (Debian rustc-web,
    // lld-19, wasm-bindgen-cli, binaryen, chromium, playwright-core).
    if std::env::var_os("CI").is_some() || std::path::Path::new("/usr/bin/rustc").exists() {
        wasm::wasm(&[])?;
    } else {
        eprintln!("note: Debian's rustc-web not found: skipping `cargo xtask wasm` (see .ci/run)");
    }
    // Release checks without building the packaged crates (~15 s: versions, metadata,
    // CHANGELOG.md, `cargo package --no-verify`, `npm pack --dry-run`), last, so the
    // npm dry runs pack what `npm` and `wasm` just built (the Node addon, the wasm
    // `pkg/`); the full verified dry run (`cargo xtask release --dry-run`) is a
    // manual pre-release step.
    release::release(&[
        "--dry-run".into(),
        "--no-verify".into(),
        "--allow-dirty".into(),
    ])?;
    Ok(())
}

/// Mean test accuracy over 5 seeds must reach the papers' level (minus a
/// little): GCN 81.5% → 0.805, GAT 83.0% → 0.815.
fn accuracy(data: &str) -> Result<()> {
    for (model, floor) in [("gcn", 0.805f64), ("gat", 0.815)] {
        let args = [
            "run",
            "--release",
            "--quiet",
            "-p",
            "ruvector-gnn",
            "--example",
            "node_classification",
            "--",
            "--data",
            data,
            "--model",
            model,
            "--runs",
            "5",
        ];
        eprintln!("$ cargo {}", args.join(" "));
        let out = Command::new(crate::release::cargo_bin())
            .args(args)
            .output()
            .context("running the node_classification example")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        if !out.status.success() {
            bail!(
                "node_classification --model {model} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mean: f64 = stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("test_accuracy="))
            .context("no test_accuracy= line")?
            .trim()
            .parse()?;
        if mean < floor {
            bail!("{model}: mean test accuracy {mean:.3} over 5 seeds is below {floor}");
        }
        eprintln!("{model}: mean test accuracy {mean:.3} >= {floor}");
    }
    Ok(())
}
