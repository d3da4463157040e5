//! `cargo xtask wasm`: builds and tests the WebAssembly package
//! (`bindings/ruvector-gnn-wasm`) the one way that works on our machines
//! (`../shared/recipes/wasm.md`): Debian's `rustc-web` with `-Zbuild-std`,
//! linked by LLVM 19's `wasm-ld`, post-processed by the pinned `wasm-bindgen`
//! CLI and npm `binaryen`'s `wasm-opt`. `.ci/run` installs those tools.
//!
//! Steps: release build → `pkg/` (web target, `wasm-opt -O3`, `package.json`)
//! → wasm-bindgen-test tests under Node (release, so std is built once) →
//! the demo page in headless Chromium (Playwright). `cargo xtask wasm bench`
//! also builds a `+simd128` variant and times a layer forward in wasm (the
//! package, whose kernels switch their simd128 bodies on at run time, and
//! the `+simd128` build) and natively.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

const CRATE: &str = "ruvector-gnn-wasm";
const PKG_DIR: &str = "bindings/ruvector-gnn-wasm";
const WASM_FILE: &str = "ruvector_gnn_wasm.wasm";
const TARGET: &str = "wasm32-unknown-unknown";
/// Debian's rustc-web: the only compiler here that can build std for wasm32.
const DEB_RUSTC: &str = "/usr/bin/rustc";
const DEB_CARGO: &str = "/usr/bin/cargo";
const WASM_LD: &str = "/usr/lib/llvm-19/bin/wasm-ld";
/// Features rustc 1.96 emits for wasm32 by default; wasm-opt must accept them.
const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Entry: `cargo xtask wasm [bench]`.
pub(crate) fn wasm(args: &[String]) -> Result<()> {
    let start = Instant::now();
    let root = workspace_root()?;
    let tools = Tools::find(&root)?;
    let pkg = root.join(PKG_DIR);
    let t = Instant::now();
    let raw = build(&root, &tools, "target/wasm-deb", false)?;
    eprintln!(
        "xtask wasm: release build in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let out = pkg.join("pkg");
    bindgen(&tools, &raw, &out, "web", true)?;
    write_package_json(&root, &out)?;
    let opt = out.join("ruvector_gnn_wasm_bg.wasm");
    report_sizes(&raw, &opt)?;
    let t = Instant::now();
    test(&root, &tools)?;
    eprintln!(
        "xtask wasm: wasm-bindgen-test under Node in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    // The Node-target package the JS-side tests load (optimised only for `bench`:
    // wasm-opt -O3 takes minutes on 2 busy cores).
    let bench_mode = args.first().map(String::as_str) == Some("bench");
    let node_pkg = root.join("target/wasm-deb/pkg-node");
    bindgen(&tools, &raw, &node_pkg, "nodejs", bench_mode)?;
    run(
        &pkg,
        "node",
        &["--test", "tests/js/glue.test.cjs"],
        &[("RUVECTOR_WASM_PKG", node_pkg.to_str().unwrap_or_default())],
    )?;
    browser_test(&root, &tools)?;
    if bench_mode {
        bench(&root, &tools, &node_pkg)?;
    }
    eprintln!("xtask wasm: ok in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Where the tools are (installed by `.ci/run`; see the recipe).
struct Tools {
    wasm_bindgen_dir: PathBuf,
    wasm_opt: PathBuf,
    node_modules: PathBuf,
}

impl Tools {
    fn find(root: &Path) -> Result<Self> {
        for (path, what) in [
            (
                DEB_RUSTC,
                "apt-get install rustc-web cargo-web rust-web-src",
            ),
            (DEB_CARGO, "apt-get install cargo-web"),
            (WASM_LD, "apt-get install lld-19"),
        ] {
            if !Path::new(path).exists() {
                bail!("{path} is missing: {what} (see .ci/run)");
            }
        }
        let want = pinned_bindgen(root)?;
        let home = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()));
        let wasm_bindgen_dir = home.join(".cargo/bin");
        let v = Command::new(wasm_bindgen_dir.join("wasm-bindgen"))
            .arg("--version")
            .output()
            .context("wasm-bindgen is missing: cargo install wasm-bindgen-cli (see .ci/run)")?;
        let got = String::from_utf8_lossy(&v.stdout).trim().to_string();
        if got != format!("wasm-bindgen {want}") {
            bail!("{got} does not match the crate's wasm-bindgen ={want}: cargo install wasm-bindgen-cli --version {want}");
        }
        let node_modules = home.join(".wasm-tools/node_modules");
        let wasm_opt = node_modules.join(".bin/wasm-opt");
        if !wasm_opt.exists() {
            bail!(
                "{} is missing: npm install --prefix ~/.wasm-tools binaryen (see .ci/run)",
                wasm_opt.display()
            );
        }
        Ok(Self {
            wasm_bindgen_dir,
            wasm_opt,
            node_modules,
        })
    }
}

/// The wasm-bindgen version the crate pins with `=`.
fn pinned_bindgen(root: &Path) -> Result<String> {
    let toml = std::fs::read_to_string(root.join(PKG_DIR).join("Cargo.toml"))?;
    toml.lines()
        .find_map(|l| l.strip_prefix("wasm-bindgen = \"="))
        .and_then(|l| l.strip_suffix('"'))
        .map(str::to_string)
        .context("bindings/ruvector-gnn-wasm/Cargo.toml must pin wasm-bindgen = \"=x.y.z\"")
}

/// A `cargo` command on Debian's toolchain, in its own target dir (mixing
/// two compilers in one target dir forces full rebuilds).
fn deb_cargo(root: &Path, tools: &Tools, target_dir: &str, simd: bool) -> Command {
    let mut c = Command::new(DEB_CARGO);
    c.current_dir(root)
        .env("RUSTC", DEB_RUSTC)
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", WASM_LD)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            tools.wasm_bindgen_dir.join("wasm-bindgen-test-runner"),
        )
        .env("CARGO_TARGET_DIR", root.join(target_dir))
        .env("PATH", path_with(&tools.wasm_bindgen_dir))
        // The host toolchain's variables must not leak into the Debian build.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC_WRAPPER");
    if simd {
        c.env("RUSTFLAGS", "-C target-feature=+simd128");
    } else {
        c.env_remove("RUSTFLAGS");
    }
    c
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Release build of the cdylib; returns the raw `.wasm`.
fn build(root: &Path, tools: &Tools, target_dir: &str, simd: bool) -> Result<PathBuf> {
    let args = [
        "build",
        "-p",
        CRATE,
        "--release",
        "--target",
        TARGET,
        "-Zbuild-std=std,panic_abort",
    ];
    eprintln!(
        "$ {}cargo {} (Debian rustc-web, {target_dir})",
        if simd {
            "RUSTFLAGS=-Ctarget-feature=+simd128 "
        } else {
            ""
        },
        args.join(" ")
    );
    let status = deb_cargo(root, tools, target_dir, simd)
        .args(args)
        .status()
        .context("running Debian's cargo")?;
    if !status.success() {
        bail!("wasm build failed ({status})");
    }
    Ok(root
        .join(target_dir)
        .join(TARGET)
        .join("release")
        .join(WASM_FILE))
}

/// `wasm-bindgen --target <kind>`, then (if `optimize`) `wasm-opt -O3` in place.
fn bindgen(tools: &Tools, raw: &Path, out: &Path, kind: &str, optimize: bool) -> Result<()> {
    let _ = std::fs::remove_dir_all(out);
    let bg = tools.wasm_bindgen_dir.join("wasm-bindgen");
    let out_s = out.to_str().context("non-UTF-8 path")?;
    let raw_s = raw.to_str().context("non-UTF-8 path")?;
    run_tool(&bg, &["--target", kind, "--out-dir", out_s, raw_s])?;
    if !optimize {
        return Ok(());
    }
    let wasm = out.join("ruvector_gnn_wasm_bg.wasm");
    eprintln!(
        "xtask wasm: after wasm-bindgen (debug info stripped), before wasm-opt: {:.0} KiB",
        std::fs::metadata(&wasm)?.len() as f64 / 1024.0
    );
    let w = wasm.to_str().context("non-UTF-8 path")?;
    let mut args = vec!["-O3"];
    args.extend_from_slice(WASM_OPT_FEATURES);
    if raw_s.contains("wasm-deb-simd") {
        args.extend_from_slice(&["--enable-simd", "--enable-relaxed-simd"]);
    }
    args.extend_from_slice(&[w, "-o", w]);
    run_tool(&tools.wasm_opt, &args)
}

/// `pkg/package.json` (what wasm-pack would write) for the web build.
fn write_package_json(root: &Path, out: &Path) -> Result<()> {
    let version = crate_version(root)?;
    let json = serde_json::json!({
        "name": "ruvector-gnn-wasm",
        "version": version,
        "description": "ruvector-gnn in WebAssembly: vector search that learns from feedback, GNN layers (GCN, GAT, GraphSAGE)",
        "license": "MIT",
        "type": "module",
        "main": "ruvector_gnn_wasm.js",
        "module": "ruvector_gnn_wasm.js",
        "types": "ruvector_gnn_wasm.d.ts",
        "files": [
            "ruvector_gnn_wasm_bg.wasm",
            "ruvector_gnn_wasm.js",
            "ruvector_gnn_wasm.d.ts",
            "ruvector_gnn_wasm_bg.wasm.d.ts"
        ],
        "sideEffects": ["./snippets/*"],
        "keywords": ["gnn", "hnsw", "vector-search", "wasm", "webassembly"]
    });
    std::fs::write(
        out.join("package.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    Ok(())
}

fn crate_version(root: &Path) -> Result<String> {
    let toml = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let mut in_pkg = false;
    for l in toml.lines() {
        if l.starts_with('[') {
            in_pkg = l.trim() == "[workspace.package]";
        } else if in_pkg {
            if let Some(v) = l.strip_prefix("version = \"") {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    bail!("no [workspace.package] version in Cargo.toml")
}

fn report_sizes(raw: &Path, opt: &Path) -> Result<()> {
    let raw_len = std::fs::metadata(raw)?.len();
    let opt_len = std::fs::metadata(opt)?.len();
    let gz = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(opt)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| o.stdout.len());
    eprintln!(
        "xtask wasm: .wasm size: cargo output {:.2} MiB (with debug line tables); pkg after wasm-bindgen + wasm-opt -O3 {:.0} KiB{}",
        raw_len as f64 / 1_048_576.0,
        opt_len as f64 / 1024.0,
        gz.map_or(String::new(), |g| format!(", gzip -9 {:.0} KiB", g as f64 / 1024.0))
    );
    Ok(())
}

/// wasm-bindgen-test tests under Node, in release (std built once for
/// build and test).
fn test(root: &Path, tools: &Tools) -> Result<()> {
    let args = [
        "test",
        "-p",
        CRATE,
        "--release",
        "--target",
        TARGET,
        "-Zbuild-std=std,panic_abort",
    ];
    eprintln!(
        "$ cargo {} (Debian rustc-web, wasm-bindgen-test-runner)",
        args.join(" ")
    );
    let status = deb_cargo(root, tools, "target/wasm-deb", false)
        .args(args)
        .status()
        .context("running Debian's cargo test")?;
    if !status.success() {
        bail!("wasm tests failed ({status})");
    }
    Ok(())
}

/// The demo page in headless Chromium: query, click, retrain, the clicked
/// item must move up; screenshot at target/wasm-demo.png.
fn browser_test(root: &Path, tools: &Tools) -> Result<()> {
    if !Path::new("/usr/bin/chromium").exists() {
        bail!("/usr/bin/chromium is missing: apt-get install chromium (see .ci/run)");
    }
    if !tools.node_modules.join("playwright-core").exists() {
        bail!("playwright-core is missing: npm install --prefix ~/.wasm-tools playwright-core (see .ci/run)");
    }
    let shot = root.join("target/wasm-demo.png");
    run(
        &root.join(PKG_DIR),
        "node",
        &["demo/browser-test.mjs"],
        &[
            (
                "RUVECTOR_NODE_MODULES",
                tools.node_modules.to_str().unwrap_or_default(),
            ),
            ("RUVECTOR_SCREENSHOT", shot.to_str().unwrap_or_default()),
        ],
    )
}

/// Times a layer forward: the wasm package, the `+simd128` build, native.
fn bench(root: &Path, tools: &Tools, pkg_node: &Path) -> Result<()> {
    let t = Instant::now();
    let raw = build(root, tools, "target/wasm-deb-simd", true)?;
    eprintln!(
        "xtask wasm: +simd128 build in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let simd_pkg = root.join("target/wasm-deb-simd/pkg-node");
    bindgen(tools, &raw, &simd_pkg, "nodejs", true)?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("load average before timing: {}", load.trim());
    // The +simd128 build may hold relaxed-SIMD opcodes from LLVM, behind a flag in Node 20.
    for (name, pkg, flag) in [
        (
            "wasm package (simd128 switched on at run time)",
            pkg_node,
            "--no-warnings",
        ),
        (
            "wasm +simd128 build",
            simd_pkg.as_path(),
            "--experimental-wasm-relaxed-simd",
        ),
    ] {
        eprintln!("--- {name}");
        run(
            &root.join(PKG_DIR),
            "node",
            &[flag, "bench/forward.mjs", pkg.to_str().unwrap_or_default()],
            &[],
        )?;
    }
    eprintln!("--- native (host toolchain, release)");
    let status = Command::new(crate::release::cargo_bin())
        .current_dir(root)
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            CRATE,
            "--example",
            "forward_native",
        ])
        .status()?;
    if !status.success() {
        bail!("native forward bench failed");
    }
    Ok(())
}

fn run_tool(tool: &Path, args: &[&str]) -> Result<()> {
    eprintln!("$ {} {}", tool.display(), args.join(" "));
    let status = Command::new(tool)
        .args(args)
        .status()
        .with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", tool.display());
    }
    Ok(())
}

fn run(dir: &Path, cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    eprintln!("$ (cd {}) {cmd} {}", dir.display(), args.join(" "));
    let mut c = Command::new(cmd);
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let status = c.status().with_context(|| format!("running {cmd}"))?;
    if !status.success() {
        bail!("{cmd} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}
