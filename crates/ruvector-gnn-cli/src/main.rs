//! The `ruvector-gnn` command-line tool.

use clap::{Parser, Subcommand};

/// Try ruvector-gnn on your own vectors: GNN-enhanced HNSW search that learns from feedback.
#[derive(Parser, Debug)]
#[command(name = "ruvector-gnn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the kernels' runtime SIMD dispatch and a quick self-check.
    Info,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            let v = ruvector_gnn::kernels::vector::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
            println!("ruvector-gnn {} (dot self-check: {v})", env!("CARGO_PKG_VERSION"));
        }
    }
    Ok(())
}
