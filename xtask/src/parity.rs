//! `cargo xtask parity <dir>`: runs every reference case folder under `<dir>`
//! (see `ruvector_gnn_layers::parity`) and prints one line per case; a case
//! that cannot run (a missing or extra parameter file, a `case.json`
//! `"params"` list that disagrees with the layer, ...) is a `FAIL` line too.

use std::path::Path;

use anyhow::{bail, Context, Result};
use ruvector_gnn_layers::parity::{run_dir, TOLERANCE};

/// Runs the cases; fails if any case fails to run or exceeds the tolerance
/// (exit status 1), or if `<dir>` is missing or holds no case folder.
pub(crate) fn parity(args: &[String]) -> Result<()> {
    let [dir] = args else {
        bail!("usage: cargo xtask parity <dir>  (a folder of case folders, or one case folder)");
    };
    let path = Path::new(dir);
    if !path.is_dir() {
        bail!(
            "{dir}: no such directory (cargo xtask parity <dir> needs a folder of case folders, or one case folder)"
        );
    }
    let outcomes = run_dir(path).with_context(|| format!("listing the case folders of {dir}"))?;
    if outcomes.is_empty() {
        bail!("no case folders (with a case.json) under {dir}");
    }
    println!("errors are max|got - ref| / max|ref| per array; tolerance {TOLERANCE:e}");
    let mut failed = Vec::new();
    for o in &outcomes {
        println!("{o}");
        if !o.passes(TOLERANCE) {
            failed.push(o.name.as_str());
        }
    }
    if failed.is_empty() {
        println!("all {} cases pass", outcomes.len());
        Ok(())
    } else {
        eprintln!(
            "{} of {} cases failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
        std::process::exit(1);
    }
}
