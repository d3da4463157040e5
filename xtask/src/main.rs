//! `cargo xtask <command>`: the workspace's automation. Run `cargo xtask help`.

use std::process::Command;

use anyhow::{bail, Context, Result};

mod parity;

const HELP: &str = "\
cargo xtask <command>

Commands:
  ci       run what .ci/run runs: fmt check, clippy -D warnings, all tests and doc tests
  parity   <dir>: run the reference cases under <dir> (e.g. /work/shared/fixtures/pyg);
           prints one line per case, exits 1 if any fails or exceeds 1e-4
  help     print this help
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("parity") => parity::parity(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown command '{other}'\n\n{HELP}"),
    }
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
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
    Ok(())
}
