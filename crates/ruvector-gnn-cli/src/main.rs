//! The `ruvector-gnn` command-line tool.

use std::path::PathBuf;

use anyhow::Context;
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
    /// Run the demo on the bundled Cora citation graph.
    Demo {
        /// Folder in the Planetoid layout (default: the bundled data/cora).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// The bundled data set: `data/cora` under the current directory, else the
/// copy in the source tree this binary was built from.
fn default_cora() -> PathBuf {
    let here = PathBuf::from("data/cora");
    if here.exists() {
        here
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/cora"))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { data } => {
            let dir = data.unwrap_or_else(default_cora);
            let ds = ruvector_gnn::datasets::Planetoid::load(&dir, true)
                .with_context(|| format!("loading {}", dir.display()))?;
            println!(
                "{}: {} nodes, {} features, {} edges, {} classes",
                dir.display(),
                ds.features.nrows(),
                ds.features.ncols(),
                ds.graph.n_edges(),
                ds.num_classes
            );
        }
    }
    Ok(())
}
