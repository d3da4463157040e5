//! Peak memory of layer inference (issue #9's memory targets; the seed's
//! "Model Size / Peak Memory" table: 128→64 one layer ~50 MB, four layers
//! ~150 MB, mmap'd weights ~10 MB).
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example layers_memory
//! cargo run --profile bench -p ruvector-gnn-benches --example layers_memory -- --nodes 10000
//! cargo run --profile bench -p ruvector-gnn-benches --example layers_memory -- --cases gcn1,gcn4
//! ```
//!
//! Every case runs in a **fresh child process** (this binary re-executed with
//! `--child CASE`), so no case sees another's heap. The parent holds no data.
//! In the child, with `RAYON_NUM_THREADS` threads (default 2):
//!
//! 1. `baseline`: resident set after start-up (binary, allocator, the Rayon
//!    pool already started), before any data exists.
//! 2. The inputs are built: the graph (`N` nodes × 16 in-edges, CSR) and the
//!    `N × 128` f32 features (51.2 MB at 100K nodes), or the model file is
//!    mapped (mmap cases). `inputs` = resident set after that, minus the
//!    baseline.
//! 3. The peak counter is reset (`/proc/self/clear_refs` ← `5`, so the
//!    transient lists used to build the graph do not count), then **one**
//!    forward call runs in this fresh process (so every buffer is a first
//!    allocation, the plain `forward_graph` entry point unless said).
//! 4. `peak` = `getrusage(RUSAGE_SELF).ru_maxrss` after the call (it equals
//!    `VmHWM` here because of the reset; both are printed in the raw line).
//!    Model files are written by separate child processes, so the parent
//!    stays at a few MB: a spawned child's `ru_maxrss` starts from its
//!    parent's peak (Linux keeps the high-water mark across `exec`).
//!
//! Reported: `peak` (total, everything resident: binary, inputs, output,
//! scratch), `peak − baseline` (inputs counted, start-up not), and
//! `peak − baseline − inputs` (the forward's own memory: output and scratch,
//! input features **not** counted). Mmap cases also report the resident size
//! of the file mapping itself (`Rss` of the mapping in `/proc/self/smaps`)
//! after loading and after a forward.
#![allow(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array2;
use ruvector_gnn::kernels::Csr;
use ruvector_gnn::layers::gcn::GcnOrder;
use ruvector_gnn::layers::quantized::{quantize, QuantizedModel};
use ruvector_gnn::layers::{
    Activation, Aggregator, AttentionConfig, GATLayer, GCNLayer, GNNConfig, GcnNorm, GraphLayer,
    SAGELayer, Sequential, Workspace,
};
use ruvector_gnn::weights::Precision;
use ruvector_gnn_benches::{random_features, random_graph};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const DEGREE: usize = 16;
const IN: usize = 128;
const OUT: usize = 64;

/// `(name, description)` of every case, in run order.
const CASES: &[(&str, &str)] = &[
    ("gcn1", "GCN 128→64, 1 layer, `forward_graph`"),
    (
        "gcn1_ws",
        "GCN 128→64, 1 layer, `forward_normalized` + `GcnNorm::for_layer` + `Workspace`, 2nd call",
    ),
    (
        "gcn1_project_first",
        "GCN 128→64, 1 layer, `GcnOrder::ProjectFirst` (the default before session 20), `forward_graph`",
    ),
    (
        "gcn1_fused",
        "GCN 128→64, 1 layer, `GcnOrder::Fused`, `forward_graph`",
    ),
    (
        "gcn1_panels",
        "GCN 128→64, 1 layer, `GcnOrder::Panels`, `forward_graph`",
    ),
    ("gcn4", "GCN 128→128→128→128→64 (4 layers, ReLU), `forward_graph`"),
    (
        "gcn4_fused",
        "GCN 4 layers as above, every layer `GcnOrder::Fused`, `forward_graph`",
    ),
    ("gat1", "GAT 8 heads × 8 (128→64), `forward_graph`"),
    ("sage_mean1", "SAGE-mean 128→64, `forward_graph`"),
    ("sage_max1", "SAGE-max 128→64, `forward_graph`"),
    (
        "sage_mean2",
        "SAGE-mean 128→128→64 (2 layers, ReLU; one fused pair), `Sequential::forward_graph`",
    ),
    (
        "mmap_f32_gcn4",
        "GCN 4 layers, f32 file, `QuantizedModel::load_mmap` + forward",
    ),
    (
        "mmap_int8_gcn4",
        "GCN 4 layers, int8 file, `QuantizedModel::load_mmap` + forward",
    ),
    (
        "mmap_int8_wide",
        "GCN 128→2048→2048→2048→64 (8.8 M weights), int8 file, `load_mmap` + forward on min(N, 1000) nodes",
    ),
];

fn kb_status(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn maxrss_kb() -> u64 {
    // SAFETY: `getrusage` only writes the `rusage` struct we pass, which is
    // zero-initialised plain data of the right type.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &raw mut ru);
        ru
    };
    u64::try_from(ru.ru_maxrss).unwrap_or(0)
}

/// Resets the peak-RSS counter (Linux ≥ 4.0); `false` if not possible.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `Rss` (kB) of every mapping of `path` in `/proc/self/smaps`.
fn mapping_rss_kb(path: &Path) -> u64 {
    let s = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let name = path.to_string_lossy();
    let mut inside = false;
    let mut total = 0;
    for l in s.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            inside = l.ends_with(name.as_ref());
        } else if inside && l.starts_with("Rss:") {
            total += l
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

fn gcn(input_dim: usize, output_dim: usize, act: Activation, seed: u64) -> Res<GCNLayer> {
    Ok(GCNLayer::with_seed(
        GNNConfig {
            input_dim,
            output_dim,
            dropout: 0.0,
            activation: act,
            ..GNNConfig::default()
        },
        seed,
    )?)
}

fn gcn_stack(dims: &[usize]) -> Res<Sequential> {
    gcn_stack_ordered(dims, GcnOrder::Auto)
}

fn gcn_stack_ordered(dims: &[usize], order: GcnOrder) -> Res<Sequential> {
    let mut m = Sequential::new(Vec::new());
    for (i, w) in dims.windows(2).enumerate() {
        let act = if i + 2 < dims.len() {
            Activation::ReLU
        } else {
            Activation::Identity
        };
        m.push(Box::new(
            gcn(w[0], w[1], act, i as u64 + 1)?.with_order(order),
        ))?;
    }
    Ok(m)
}

struct Inputs {
    graph: Csr,
    x: Array2<f32>,
}

fn inputs(n: usize, d: usize) -> Inputs {
    Inputs {
        graph: random_graph(n, DEGREE, 7),
        x: random_features(n, d, 8),
    }
}

/// The model file of an mmap case, written by the parent before the child
/// starts (so writing it costs the child nothing).
fn model_file(dir: &Path, case: &str) -> PathBuf {
    dir.join(format!("{case}.rvw"))
}

fn write_model(case: &str, path: &Path) -> Res<()> {
    match case {
        "mmap_f32_gcn4" => {
            quantize(&gcn_stack(&[IN, 128, 128, 128, OUT])?, Precision::F32)?.save(path)?;
        }
        "mmap_int8_gcn4" => {
            quantize(&gcn_stack(&[IN, 128, 128, 128, OUT])?, Precision::Int8)?.save(path)?;
        }
        "mmap_int8_wide" => {
            quantize(&gcn_stack(&[IN, 2048, 2048, 2048, OUT])?, Precision::Int8)?.save(path)?;
        }
        _ => {}
    }
    Ok(())
}

/// Runs one case in this (fresh) process and prints one `key=value` line.
fn child(case: &str, n: usize, dir: &Path) -> Res<()> {
    rayon::ThreadPoolBuilder::new().build_global().ok();
    rayon::broadcast(|_| ());
    let baseline = kb_status("VmRSS:");
    let mut extra = String::new();
    let (rss_inputs, reset, out_shape) = if let Some(rest) = case.strip_prefix("mmap_") {
        let path = model_file(dir, case);
        let file_kb = std::fs::metadata(&path)?.len() / 1024;
        let model = QuantizedModel::load_mmap(&path)?;
        let map_load = mapping_rss_kb(&path);
        let after_load = kb_status("VmRSS:");
        // The wide model's 2048-wide hidden activations would take 0.8 GB
        // at 100K nodes; it runs on at most 1,000 nodes (its point is the
        // weights' resident size).
        let nodes = if rest.ends_with("wide") {
            n.min(1000)
        } else {
            n
        };
        let inp = inputs(nodes, IN);
        let rss_inputs = kb_status("VmRSS:");
        let reset = reset_peak();
        let y = model.forward_graph(inp.x.view(), &inp.graph)?;
        let map_fwd = mapping_rss_kb(&path);
        extra = format!(
            " file_kb={file_kb} zero_copy={} map_rss_after_load_kb={map_load} \
             rss_growth_at_load_kb={} map_rss_after_forward_kb={map_fwd}",
            model.weights_zero_copy(),
            after_load.saturating_sub(baseline)
        );
        (rss_inputs, reset, y.dim())
    } else {
        let inp = inputs(n, IN);
        let (layer, ws): (Box<dyn GraphLayer>, bool) = match case {
            "gcn1" => (Box::new(gcn(IN, OUT, Activation::Identity, 1)?), false),
            "gcn1_ws" => (Box::new(gcn(IN, OUT, Activation::Identity, 1)?), true),
            "gcn1_project_first" => (
                Box::new(gcn(IN, OUT, Activation::Identity, 1)?.with_order(GcnOrder::ProjectFirst)),
                false,
            ),
            "gcn1_fused" => (
                Box::new(gcn(IN, OUT, Activation::Identity, 1)?.with_order(GcnOrder::Fused)),
                false,
            ),
            "gcn1_panels" => (
                Box::new(gcn(IN, OUT, Activation::Identity, 1)?.with_order(GcnOrder::Panels)),
                false,
            ),
            "gcn4" => (Box::new(gcn_stack(&[IN, 128, 128, 128, OUT])?), false),
            "gcn4_fused" => (
                Box::new(gcn_stack_ordered(
                    &[IN, 128, 128, 128, OUT],
                    GcnOrder::Fused,
                )?),
                false,
            ),
            "gat1" => (
                Box::new(GATLayer::new(AttentionConfig {
                    input_dim: IN,
                    output_dim: 8,
                    num_heads: 8,
                    concat_heads: true,
                    dropout: 0.0,
                    leaky_relu_slope: 0.2,
                })?),
                false,
            ),
            "sage_mean1" => (
                Box::new(SAGELayer::new(IN, OUT, Aggregator::Mean, false, 2)?),
                false,
            ),
            "sage_mean2" => {
                let mut m = Sequential::new(Vec::new());
                m.push(Box::new(
                    SAGELayer::new(IN, 128, Aggregator::Mean, false, 1)?
                        .with_activation(Activation::ReLU),
                ))?;
                m.push(Box::new(SAGELayer::new(
                    128,
                    OUT,
                    Aggregator::Mean,
                    false,
                    2,
                )?))?;
                (Box::new(m), false)
            }
            "sage_max1" => (
                Box::new(SAGELayer::new(IN, OUT, Aggregator::Max, false, 3)?),
                false,
            ),
            other => return Err(format!("unknown case {other}").into()),
        };
        let rss_inputs = kb_status("VmRSS:");
        if ws {
            // Steady state of repeated calls: the normalisation, workspace and
            // output exist before the measured call (their first call also
            // counts towards the peak: it is the same size).
            let g = gcn(IN, OUT, Activation::Identity, 1)?;
            // What the layer reads: no per-edge weights for its order here.
            let norm = GcnNorm::for_layer(&g, &inp.graph)?;
            let (mut w, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
            let reset = reset_peak();
            for _ in 0..2 {
                g.forward_normalized(inp.x.view(), &inp.graph, &norm, &mut w, &mut out)?;
            }
            (rss_inputs, reset, out.dim())
        } else {
            let reset = reset_peak();
            let y = layer.forward_graph(inp.x.view(), &inp.graph)?;
            (rss_inputs, reset, y.dim())
        }
    };
    let peak = maxrss_kb();
    let hwm = kb_status("VmHWM:");
    println!(
        "case={case} nodes={} baseline_kb={baseline} inputs_kb={} peak_kb={peak} vmhwm_kb={hwm} \
         peak_reset={reset} out={}x{}{extra}",
        out_shape.0,
        rss_inputs.saturating_sub(baseline),
        out_shape.0,
        out_shape.1
    );
    Ok(())
}

fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// `kb` KiB (what `ru_maxrss` and `/proc` report) in MB of 10^6 bytes.
fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 * 1024.0 / 1e6)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n: usize = get("--nodes").map_or(Ok(100_000), |s| s.parse())?;
    let dir = std::env::temp_dir().join(format!("ruvector-layers-memory-{}", std::process::id()));
    if let Some(case) = get("--write") {
        let dir = get("--dir").map_or(dir, PathBuf::from);
        return write_model(&case, &model_file(&dir, &case));
    }
    if let Some(case) = get("--child") {
        let dir = get("--dir").map_or(dir, PathBuf::from);
        return child(&case, n, &dir);
    }
    let wanted: Vec<String> = get("--cases").map_or_else(
        || CASES.iter().map(|c| c.0.to_string()).collect(),
        |s| s.split(',').map(str::to_string).collect(),
    );
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "2".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# layers_memory: {n} nodes × {DEGREE} in-edges, {IN}-wide f32 features \
         ({:.1} MB), {threads} threads, one case per fresh process; load average {}",
        (n * IN * 4) as f64 / 1e6,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut rows = Vec::new();
    for case in &wanted {
        let desc = CASES
            .iter()
            .find(|c| c.0 == case)
            .map(|c| c.1)
            .ok_or_else(|| format!("unknown case {case}"))?;
        // Written by a child too: the parent must stay small, because a
        // spawned child's `ru_maxrss` starts from the parent's peak (Linux
        // carries the old image's high-water mark across `exec`).
        let w = Command::new(&exe)
            .args(["--write", case, "--dir"])
            .arg(&dir)
            .status()?;
        if !w.success() {
            return Err(format!("writing the model of {case} failed").into());
        }
        let out = Command::new(&exe)
            .args(["--child", case, "--nodes", &n.to_string(), "--dir"])
            .arg(&dir)
            .env("RAYON_NUM_THREADS", &threads)
            .output()?;
        let _ = std::fs::remove_file(model_file(&dir, case));
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            return Err(format!(
                "case {case} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        println!("{line}");
        std::io::stdout().flush()?;
        rows.push((desc, line));
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!(
        "| case | baseline MB | inputs MB | peak MB (total) | peak − baseline MB \
         (inputs counted) | peak − baseline − inputs MB (inputs not counted) | mapped weights resident |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (desc, line) in &rows {
        let (b, i, p) = (
            field(line, "baseline_kb").unwrap_or(0),
            field(line, "inputs_kb").unwrap_or(0),
            field(line, "peak_kb").unwrap_or(0),
        );
        let mapped = match field(line, "map_rss_after_forward_kb") {
            Some(f) => format!(
                "{} kB after load, {f} kB after forward (file {} kB)",
                field(line, "map_rss_after_load_kb").unwrap_or(0),
                field(line, "file_kb").unwrap_or(0)
            ),
            None => "—".into(),
        };
        println!(
            "| {desc} | {} | {} | {} | {} | {} | {mapped} |",
            mb(b),
            mb(i),
            mb(p),
            mb(p.saturating_sub(b)),
            mb(p.saturating_sub(b + i)),
        );
    }
    Ok(())
}
