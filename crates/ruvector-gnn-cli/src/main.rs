//! The `ruvector-gnn` command-line tool.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod classify;
mod demo;
mod eval;
mod store_cmds;

/// Vector search that learns from use: build an HNSW store from your vectors,
/// search it, record which results were right, train the GNN re-ranker and
/// measure what it gained.
///
/// Start with `ruvector-gnn demo` (the whole loop on a bundled data set).
#[derive(Parser, Debug)]
#[command(name = "ruvector-gnn", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The whole loop on the bundled chatterbot Q&A set: build, search, feedback, train, re-measure.
    ///
    /// Builds a store of 877 answers, streams the feedback of 70% of the
    /// questions (which answer was right) through `record_feedback`, retrains
    /// at checkpoints and prints the held-out nDCG@10 / recall@10 / MRR of
    /// plain HNSW and of `search_with_gnn` as the feedback grows.
    Demo(demo::DemoArgs),
    /// Create a store from a file of vectors (.npy, .fvecs, .ivecs or raw f32 with --dim).
    Build(store_cmds::BuildArgs),
    /// Search a store with query vectors, plain HNSW or with the learned model (--gnn).
    Search(store_cmds::SearchArgs),
    /// Record feedback: one event from the command line, or many from a qrels file.
    Feedback(store_cmds::FeedbackArgs),
    /// Train the store's model on all recorded feedback and publish it if it did not lose.
    Train(store_cmds::TrainArgs),
    // `eval --help` is the doc comment of `EvalArgs`.
    Eval(Box<eval::EvalArgs>),
    /// Show a store's index, graph and model statistics.
    Inspect(store_cmds::InspectArgs),
    /// Node classification on a Planetoid graph (the bundled Cora by default).
    ///
    /// Semi-supervised node classification with the papers' settings: 140 labelled
    /// nodes, test accuracy on 1,000 held-out nodes (GCN paper: 81.5%).
    Classify(classify::ClassifyArgs),
}

/// A bundled data set: `data/<name>` under the current directory, else the
/// copy in the source tree this binary was built from.
pub(crate) fn bundled(name: &str) -> PathBuf {
    let here = PathBuf::from("data").join(name);
    if here.exists() {
        here
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")).join(name)
    }
}

/// Prints `line` above a progress bar (or plainly when the bar is hidden,
/// e.g. when output is not a terminal: a hidden bar swallows `println`).
/// A simulated user's clicks on `shown`: the ids whose grade (`grade(id)`,
/// from the qrels) is positive, with those grades.
pub(crate) fn clicks(shown: &[u64], grade: impl Fn(u64) -> Option<f32>) -> (Vec<u64>, Vec<f32>) {
    shown
        .iter()
        .filter_map(|&id| grade(id).filter(|&g| g > 0.0).map(|g| (id, g)))
        .unzip()
}

pub(crate) fn say(bar: &indicatif::ProgressBar, line: &str) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

/// A progress bar with the tool's style.
pub(crate) fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} {{msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Build(a) => store_cmds::build(a),
        Command::Search(a) => store_cmds::search(a),
        Command::Feedback(a) => store_cmds::feedback(a),
        Command::Train(a) => store_cmds::train(a),
        Command::Eval(a) => eval::run(&a),
        Command::Inspect(a) => store_cmds::inspect(a),
        Command::Classify(a) => classify::run(a),
    }
}
