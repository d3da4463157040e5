//! `cargo xtask release`: the release checks (`--dry-run`) and the version bump.
//!
//! `--dry-run` checks, in order:
//! 1. versions move together: every member uses `version.workspace = true`, every
//!    internal (path) dependency of a publishable crate asks for the workspace version,
//!    and the npm packages' `package.json` versions equal it;
//! 2. crates.io metadata of every publishable crate (description, license, repository,
//!    readme, 1–5 valid keywords, categories from crates.io's list);
//! 3. CHANGELOG.md has a section for the current version;
//! 4. `cargo package` of every publishable crate, in dependency order, in one cargo
//!    call (cargo ≥ 1.89 resolves the unpublished workspace crates through a local
//!    registry overlay), verified by building each `.crate` unless `--no-verify`;
//! 5. `npm pack --dry-run` of the Node.js package, and of the wasm package when its
//!    `pkg/` has been built (skipped with a note otherwise).
//!
//! `--bump patch|minor|major` rewrites the workspace version, the internal dependency
//! versions in `[workspace.dependencies]` and the `package.json` versions; with
//! `--dry-run` it only reports what it would rewrite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The npm packages released with the crates: (directory, note when absent).
const NPM_PACKAGES: [(&str, &str); 2] = [
    ("bindings/ruvector-gnn-node", "the Node.js package"),
    (
        "bindings/ruvector-gnn-wasm/pkg",
        "the wasm package (built by `cargo xtask wasm`)",
    ),
];

/// crates.io category slugs (<https://crates.io/category_slugs>), the subset a
/// library like this could plausibly use; extend when a crate needs another.
const CATEGORIES: &[&str] = &[
    "algorithms",
    "api-bindings",
    "command-line-utilities",
    "compression",
    "concurrency",
    "data-structures",
    "database",
    "database-implementations",
    "development-tools",
    "encoding",
    "filesystem",
    "hardware-support",
    "mathematics",
    "memory-management",
    "no-std",
    "parser-implementations",
    "science",
    "science::neuroscience",
    "text-processing",
    "wasm",
    "web-programming",
];

const HELP: &str = "\
cargo xtask release --dry-run [--no-verify] [--allow-dirty] [--bump patch|minor|major]
cargo xtask release --bump patch|minor|major

  --dry-run      check versions, metadata, CHANGELOG.md, `cargo package` every publishable
                 crate in dependency order and `npm pack --dry-run` the npm packages
  --no-verify    package without building the .crate files (what CI runs: seconds, not minutes)
  --allow-dirty  package uncommitted changes (default: the git tree must be clean)
  --bump LEVEL   rewrite the versions (workspace, internal deps, package.json); with
                 --dry-run only report the rewrite
Publishing itself is not automated: after a clean dry run, `cargo publish --workspace`
and `npm publish` in each npm package directory.
";

#[derive(Default)]
struct Opts {
    dry_run: bool,
    no_verify: bool,
    allow_dirty: bool,
    bump: Option<String>,
}

/// Entry point of `cargo xtask release`.
pub(crate) fn release(args: &[String]) -> Result<()> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dry-run" => o.dry_run = true,
            "--no-verify" => o.no_verify = true,
            "--allow-dirty" => o.allow_dirty = true,
            "--bump" => o.bump = Some(it.next().context("--bump needs patch|minor|major")?.clone()),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => bail!("unknown option '{other}'\n\n{HELP}"),
        }
    }
    if !o.dry_run && o.bump.is_none() {
        bail!("nothing to do: pass --dry-run and/or --bump\n\n{HELP}");
    }
    let start = Instant::now();
    let root = workspace_root()?;
    let meta = cargo_metadata(&root)?;
    let version = workspace_version(&root)?;
    if let Some(level) = &o.bump {
        let next = bump_version(&version, level)?;
        bump(&root, &version, &next, o.dry_run)?;
        if !o.dry_run {
            eprintln!(
                "release: bumped {version} -> {next}; add a `## [{next}]` section to CHANGELOG.md, \
                 commit, then run `cargo xtask release --dry-run`"
            );
            return Ok(());
        }
    }
    let mut problems = Vec::new();
    let publishable = publishable_in_order(&meta)?;
    eprintln!(
        "release: version {version}; publishable crates in dependency order: {}",
        publishable
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    check_versions(&root, &meta, &version, &mut problems)?;
    for p in &publishable {
        check_metadata(p, &mut problems);
    }
    check_changelog(&root, &version, &mut problems);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("  problem: {p}");
        }
        bail!(
            "release --dry-run: {} problem(s) before packaging",
            problems.len()
        );
    }
    eprintln!("release: versions, metadata and CHANGELOG.md ok");

    let mut args: Vec<String> = vec!["package".into(), "--locked".into()];
    for p in &publishable {
        args.push("-p".into());
        args.push(p.name.clone());
    }
    if o.no_verify {
        args.push("--no-verify".into());
    }
    if o.allow_dirty {
        args.push("--allow-dirty".into());
    }
    let t = Instant::now();
    run(&root, &cargo_bin(), &args).context(
        "cargo package failed (see its output above; an uncommitted tree needs --allow-dirty)",
    )?;
    eprintln!(
        "release: cargo package ({}) ok in {:.0} s",
        if o.no_verify { "no verify" } else { "verified" },
        t.elapsed().as_secs_f64()
    );

    for (dir, what) in NPM_PACKAGES {
        let pkg = root.join(dir);
        if !pkg.join("package.json").exists() {
            eprintln!("note: {dir}/package.json not found: skipping `npm pack` of {what}");
            continue;
        }
        if which("npm").is_none() {
            eprintln!("note: npm not found: skipping `npm pack` of {what}");
            continue;
        }
        let has_binary = std::fs::read_dir(&pkg)?
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".node"));
        if dir.ends_with("-node") && !has_binary {
            eprintln!(
                "note: no *.node binary in {dir}: the tarball below lacks it \
                 (`cargo xtask npm` builds it before a real `npm publish`)"
            );
        }
        run(&pkg, "npm", &["pack".into(), "--dry-run".into()])?;
    }
    eprintln!(
        "release --dry-run: ok in {:.0} s ({} crates, version {version})",
        start.elapsed().as_secs_f64(),
        publishable.len()
    );
    Ok(())
}

/// A workspace member, as `cargo metadata` describes it.
struct Pkg {
    name: String,
    manifest: PathBuf,
    json: Value,
}

fn cargo_metadata(root: &Path) -> Result<Value> {
    let out = Command::new(cargo_bin())
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn members(meta: &Value) -> Vec<Pkg> {
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Pkg {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            json: p.clone(),
        })
        .collect()
}

/// `publish = false` shows as `[]` in cargo metadata; absent = publishable anywhere.
fn is_publishable(p: &Pkg) -> bool {
    !matches!(p.json["publish"].as_array(), Some(a) if a.is_empty())
}

/// Publishable members, each after the members it depends on (normal and build deps).
fn publishable_in_order(meta: &Value) -> Result<Vec<Pkg>> {
    let all = members(meta);
    let names: BTreeSet<String> = all.iter().map(|p| p.name.clone()).collect();
    let mut pending: BTreeMap<String, Pkg> = all
        .into_iter()
        .filter(is_publishable)
        .map(|p| (p.name.clone(), p))
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .values()
            .filter(|p| {
                internal_deps(p, &names)
                    .iter()
                    .all(|(d, _)| done.contains(d) || d == &p.name)
            })
            .map(|p| p.name.clone())
            .collect();
        if ready.is_empty() {
            bail!(
                "dependency cycle (or a publishable crate depends on an unpublishable one) among: {}",
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for n in ready {
            done.insert(n.clone());
            order.push(pending.remove(&n).expect("ready names come from pending"));
        }
    }
    Ok(order)
}

/// Internal normal/build dependencies of `p`: (name, version requirement).
fn internal_deps(p: &Pkg, names: &BTreeSet<String>) -> Vec<(String, String)> {
    p.json["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"].as_str() != Some("dev"))
        .filter_map(|d| {
            let n = d["name"].as_str()?;
            names
                .contains(n)
                .then(|| (n.to_string(), d["req"].as_str().unwrap_or("*").to_string()))
        })
        .collect()
}

fn workspace_version(root: &Path) -> Result<String> {
    let toml = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let mut in_section = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_section = t == "[workspace.package]";
        } else if in_section {
            if let Some(v) = t.strip_prefix("version") {
                let v = v
                    .trim_start()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches('"');
                return Ok(v.to_string());
            }
        }
    }
    bail!("no version in [workspace.package] of Cargo.toml")
}

fn check_versions(
    root: &Path,
    meta: &Value,
    version: &str,
    problems: &mut Vec<String>,
) -> Result<()> {
    let all = members(meta);
    let names: BTreeSet<String> = all.iter().map(|p| p.name.clone()).collect();
    for p in &all {
        let toml = std::fs::read_to_string(&p.manifest)?;
        if !toml
            .lines()
            .any(|l| l.trim().replace(' ', "") == "version.workspace=true")
        {
            problems.push(format!(
                "{}: does not use `version.workspace = true`",
                p.name
            ));
        }
        if p.json["version"].as_str() != Some(version) {
            problems.push(format!(
                "{}: version {} != workspace {version}",
                p.name, p.json["version"]
            ));
        }
        if !is_publishable(p) {
            continue;
        }
        for (d, req) in internal_deps(p, &names) {
            // Exact: a caret requirement lets `cargo package` (and users) resolve to
            // a newer crate of the same name on crates.io (`ruvector-gnn` exists there).
            if req != format!("={version}") {
                problems.push(format!(
                    "{}: dependency {d} asks for '{req}', expected ={version} \
                     (set version = \"={version}\" in [workspace.dependencies])",
                    p.name
                ));
            }
        }
    }
    for (dir, _) in NPM_PACKAGES {
        let path = root.join(dir).join("package.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let json: Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            if json["version"].as_str() != Some(version) {
                problems.push(format!(
                    "{dir}/package.json: version {} != workspace {version}",
                    json["version"]
                ));
            }
        }
    }
    Ok(())
}

fn check_metadata(p: &Pkg, problems: &mut Vec<String>) {
    let j = &p.json;
    for field in ["description", "license", "repository", "readme"] {
        if j[field].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{}: missing `{field}`", p.name));
        }
    }
    if let Some(readme) = j["readme"].as_str() {
        let dir = p.manifest.parent().unwrap_or(Path::new("."));
        if !dir.join(readme).exists() {
            problems.push(format!("{}: readme '{readme}' does not exist", p.name));
        }
    }
    let keywords: Vec<&str> = j["keywords"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keywords.is_empty() || keywords.len() > 5 {
        problems.push(format!(
            "{}: {} keywords (crates.io takes 1 to 5)",
            p.name,
            keywords.len()
        ));
    }
    for k in keywords {
        let ok = k.len() <= 20
            && k.starts_with(|c: char| c.is_ascii_alphabetic())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            problems.push(format!(
                "{}: keyword '{k}' is not a valid crates.io keyword",
                p.name
            ));
        }
    }
    let categories: Vec<&str> = j["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if categories.is_empty() || categories.len() > 5 {
        problems.push(format!(
            "{}: {} categories (crates.io takes 1 to 5)",
            p.name,
            categories.len()
        ));
    }
    for c in categories {
        if !CATEGORIES.contains(&c) {
            problems.push(format!(
                "{}: category '{c}' is not in crates.io's list",
                p.name
            ));
        }
    }
}

fn check_changelog(root: &Path, version: &str, problems: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(root.join("CHANGELOG.md")) else {
        problems.push("CHANGELOG.md is missing".into());
        return;
    };
    let has = text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("## ")
            && (l.contains(&format!("[{version}]"))
                || l[3..].split_whitespace().next() == Some(version))
    });
    if !has {
        problems.push(format!("CHANGELOG.md has no `## [{version}]` section"));
    }
}

fn bump_version(v: &str, level: &str) -> Result<String> {
    let parts: Vec<u64> = v
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("workspace version '{v}' is not MAJOR.MINOR.PATCH"))?;
    let [ma, mi, pa] = parts[..] else {
        bail!("workspace version '{v}' is not MAJOR.MINOR.PATCH")
    };
    Ok(match level {
        "patch" => format!("{ma}.{mi}.{}", pa + 1),
        "minor" => format!("{ma}.{}.0", mi + 1),
        "major" => format!("{}.0.0", ma + 1),
        other => bail!("--bump {other}: expected patch, minor or major"),
    })
}

/// `text` (the root Cargo.toml) with the workspace version and the exact
/// internal dependency pins moved from `old` to `new`, and the lines changed.
fn bump_cargo_toml(text: &str, old: &str, new: &str) -> (String, Vec<String>) {
    let mut section = String::new();
    let mut changed = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_string();
        }
        let internal_dep = section == "[workspace.dependencies]"
            && t.starts_with("ruvector-gnn")
            && t.contains("path =");
        let ws_version = section == "[workspace.package]" && t.starts_with("version");
        // Internal dependencies are pinned exactly (`"=x.y.z"`).
        let (needle, to) = if internal_dep {
            (format!("\"={old}\""), format!("\"={new}\""))
        } else {
            (format!("\"{old}\""), format!("\"{new}\""))
        };
        if (internal_dep || ws_version) && line.contains(&needle) {
            out.push_str(&line.replacen(&needle, &to, 1));
            changed.push(t.to_string());
        } else {
            out.push_str(line);
        }
    }
    (out, changed)
}

/// Rewrites `version = "<old>"` in [workspace.package] and on internal
/// `[workspace.dependencies]` lines, and `"version": "<old>"` in package.json files.
fn bump(root: &Path, old: &str, new: &str, dry_run: bool) -> Result<()> {
    let verb = if dry_run { "would rewrite" } else { "rewrote" };
    let cargo_toml = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo_toml)?;
    let (out, lines) = bump_cargo_toml(&text, old, new);
    for t in &lines {
        eprintln!("release: {verb} Cargo.toml: {t} -> {new}");
    }
    let changed = lines.len();
    if changed == 0 {
        bail!("found no version \"{old}\" to bump in Cargo.toml");
    }
    if !dry_run {
        std::fs::write(&cargo_toml, out)?;
    }
    for (dir, _) in NPM_PACKAGES {
        let path = root.join(dir).join("package.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let needle = format!("\"version\": \"{old}\"");
        if text.contains(&needle) {
            eprintln!("release: {verb} {dir}/package.json: {old} -> {new}");
            if !dry_run {
                std::fs::write(
                    &path,
                    text.replacen(&needle, &format!("\"version\": \"{new}\""), 1),
                )?;
            }
        }
    }
    if !dry_run {
        // Refresh Cargo.lock's own entries so `--locked` builds keep working.
        run(root, &cargo_bin(), &["update".into(), "--workspace".into()])?;
    }
    Ok(())
}

/// The workspace root (xtask's parent directory).
pub(crate) fn workspace_root() -> Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf())
}

/// The cargo that runs us (`$CARGO`), else `cargo` on PATH.
pub(crate) fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

fn run(dir: &Path, cmd: &str, args: &[String]) -> Result<()> {
    eprintln!("$ (cd {}) {cmd} {}", dir.display(), args.join(" "));
    let status = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("running {cmd}"))?;
    if !status.success() {
        bail!("{cmd} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_rewrites_the_version_and_the_exact_pins_only() {
        let toml = "[workspace.package]\nversion = \"0.1.1\"\n\n[workspace.dependencies]\n\
                    ruvector-gnn = { path = \"crates/ruvector-gnn\", version = \"=0.1.1\" }\n\
                    other = \"0.1.1\"\n";
        let (out, lines) = bump_cargo_toml(toml, "0.1.1", "0.2.0");
        assert_eq!(lines.len(), 2);
        assert!(out.contains("version = \"0.2.0\"\n"));
        assert!(out.contains("version = \"=0.2.0\" }"));
        assert!(out.contains("other = \"0.1.1\""), "{out}");
    }

    #[test]
    fn bumps_each_level() {
        assert_eq!(bump_version("0.1.1", "patch").unwrap(), "0.1.2");
        assert_eq!(bump_version("0.1.1", "minor").unwrap(), "0.2.0");
        assert_eq!(bump_version("0.1.1", "major").unwrap(), "1.0.0");
        assert!(bump_version("0.1.1", "huge").is_err());
        assert!(bump_version("0.1", "patch").is_err());
    }

    #[test]
    fn metadata_problems_are_reported() {
        let p = Pkg {
            name: "x".into(),
            manifest: PathBuf::from("/nonexistent/Cargo.toml"),
            json: serde_json::json!({
                "description": "d", "license": "MIT", "repository": "r", "readme": null,
                "keywords": ["ok", "not ok", "a", "b", "c", "d"],
                "categories": ["science", "made-up"]
            }),
        };
        let mut problems = Vec::new();
        check_metadata(&p, &mut problems);
        let all = problems.join("\n");
        assert!(all.contains("missing `readme`"), "{all}");
        assert!(all.contains("6 keywords"), "{all}");
        assert!(all.contains("'not ok'"), "{all}");
        assert!(all.contains("'made-up'"), "{all}");
        assert_eq!(problems.len(), 4, "{all}");
    }
}
