//! `cargo xtask npm`: builds and tests the Node.js package
//! (`bindings/ruvector-gnn-node`) as npm users get it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

const PKG: &str = "bindings/ruvector-gnn-node";

/// npm install, napi build, `node --test`, `tsc --strict` on `index.d.ts`,
/// then `npm pack` and a `require` + ESM `import` smoke test of the tarball
/// installed into a fresh temporary project.
pub(crate) fn npm() -> Result<()> {
    let start = Instant::now();
    let root = workspace_root()?;
    let pkg = root.join(PKG);
    run(&pkg, "npm", &["install", "--no-audit", "--no-fund"])?;
    // The generated loader goes to binding.js; index.js is the hand-written
    // entry that gives napi's own argument errors an `ERR_*` code.
    run(
        &pkg,
        "npx",
        &[
            "napi",
            "build",
            "--platform",
            "--release",
            // no symbols or line tables in the published addon (56 MB → a few MB)
            "--strip",
            "--js",
            "binding.js",
            // string enums (ErrorCode) as a type-only union, not a const enum
            "--no-const-enum",
        ],
    )?;
    let mut tests: Vec<String> = std::fs::read_dir(pkg.join("test"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".test.js"))
        .map(|n| format!("test/{n}"))
        .collect();
    tests.sort();
    if tests.is_empty() {
        bail!("no test/*.test.js files in {PKG}");
    }
    let mut args = vec!["--test".to_string()];
    args.extend(tests);
    run(
        &pkg,
        "node",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    run(
        &pkg,
        "npx",
        &[
            "tsc",
            "--noEmit",
            "--strict",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "--types",
            "node",
            "typecheck.ts",
        ],
    )?;
    smoke_test_tarball(&pkg)?;
    eprintln!("xtask npm: ok in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// `npm pack`, install the tarball into a fresh project, `require` and `import` it.
fn smoke_test_tarball(pkg: &Path) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("ruvector-gnn-npm-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> Result<()> {
        let out = Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(&dir)
            .current_dir(pkg)
            .output()
            .context("running npm pack")?;
        if !out.status.success() {
            bail!("npm pack failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let tarball = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .context("npm pack printed no file name")?
            .trim()
            .to_string();
        eprintln!("packed {tarball}");
        let project = dir.join("project");
        std::fs::create_dir_all(&project)?;
        std::fs::write(
            project.join("package.json"),
            r#"{ "name": "smoke", "version": "0.0.0", "private": true }"#,
        )?;
        let tar_path = dir.join(&tarball);
        run(
            &project,
            "npm",
            &[
                "install",
                "--no-audit",
                "--no-fund",
                tar_path.to_str().context("non-UTF-8 temp path")?,
            ],
        )?;
        std::fs::write(project.join("smoke.cjs"), SMOKE_CJS)?;
        std::fs::write(project.join("smoke.mjs"), SMOKE_MJS)?;
        run(&project, "node", &["smoke.cjs"])?;
        run(&project, "node", &["smoke.mjs"])?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

const SMOKE_CJS: &str = r"
const assert = require('node:assert/strict')
const { VectorDB, GCNLayer } = require('ruvector-gnn')
const db = VectorDB.inMemory(3)
db.insertBatch([1, 2], new Float32Array([1, 0, 0, 0, 1, 0]))
assert.equal(db.search(new Float32Array([1, 0.1, 0]), 1)[0].id, 1)
assert.equal(new GCNLayer({ inputDim: 3, outputDim: 2 }).forward(new Float32Array(6), 2, [[1], [0]]).length, 4)
const big = 2n ** 60n + 7n
db.insert(big, new Float32Array([0, 0, 1]))
assert.equal(db.search(new Float32Array([0, 0.1, 1]), 1)[0].id, big)
assert.throws(() => db.search(new Float32Array(2), 1), { code: 'ERR_DIMENSION_MISMATCH' })
assert.throws(() => db.search('nope', 1), { code: 'ERR_INVALID_ARG' })
console.log('require: ok')
";

const SMOKE_MJS: &str = r"
import assert from 'node:assert/strict'
import { VectorDB, GNNEmbedder } from 'ruvector-gnn'
import gnn from 'ruvector-gnn'
const db = VectorDB.inMemory(3)
db.insertBatch([1, 2], new Float32Array([1, 0, 0, 0, 1, 0]))
assert.equal(db.search(new Float32Array([0, 1, 0.1]), 1)[0].id, 2)
assert.equal(new GNNEmbedder({ inputDim: 3 }).inputDim, 3)
assert.equal(typeof gnn.version(), 'string')
assert.ok(gnn.errorCodes().includes('ERR_UNKNOWN_ID'))
await assert.rejects(db.searchBatchAsync(new Float32Array([0, 1, NaN]), 1), { code: 'ERR_NOT_FINITE' })
console.log('import: ok')
";

fn workspace_root() -> Result<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(here
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf())
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ (cd {}) {program} {}", dir.display(), args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("running {program} (is it installed?)"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether `node` (≥ 20.17, what `@napi-rs/cli` needs) and `npm` are on the PATH.
pub(crate) fn node_available() -> bool {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .trim_start_matches('v')
                .to_string()
        });
    let Some(v) = version else { return false };
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let npm_ok = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    npm_ok && (major, minor) >= (20, 17)
}
