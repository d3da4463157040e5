//! Inference on f16 / int8 weights: [`quantize`] turns a trained layer or
//! [`Sequential`] into a [`QuantizedModel`] whose dense weight products
//! (`X·W`) run through [`QuantizedMatrix::matmul_into`] on the stored
//! f16/int8 rows — no f32 copy of `W` is ever made.
//!
//! What is quantized: GCN `weight`, GAT `weight` (its `att_src`/`att_dst`
//! stay f32: `heads × C` values), SAGE `weight_neigh` / `weight_root`
//! (mean, max and sum aggregators), residual `proj.weight`. Biases and the
//! parameters of layer norms, and LSTM-aggregator SAGE layers as a whole,
//! stay f32 (they are tiny or not products with `W`). Dropout and activation
//! layers carry over.
//!
//! Saving writes F16 tensors, or I8 tensors with `<name>.scale` (one scale
//! per output channel), in the `(out, in)` layout of `docs/FORMAT.md`, and
//! the config `{"model": <spec>, "precision": "int8"}`. Loading (copy, mmap
//! or bytes) keeps the weights in the file buffer or mapping and multiplies
//! from there.
//!
//! ```
//! use ndarray::Array2;
//! use ruvector_gnn_layers::{quantize, Activation, GCNLayer, GNNConfig, Precision, QuantizedModel};
//!
//! let gcn = GCNLayer::with_seed(GNNConfig { input_dim: 8, output_dim: 4, activation: Activation::Identity, ..Default::default() }, 1)?;
//! let q = quantize(&gcn, Precision::Int8)?;
//! let x = Array2::from_shape_fn((3, 8), |(i, j)| ((i * 8 + j) as f32 * 0.37).sin());
//! let adj = vec![vec![1], vec![0, 2], vec![1]];
//! let (y, yq) = (gcn.forward(&x, &adj)?, q.forward(&x, &adj)?);
//! assert!(y.iter().zip(&yq).all(|(a, b)| (a - b).abs() < 0.05));
//! let back = QuantizedModel::from_bytes(&q.to_bytes()?)?;
//! assert_eq!(back.forward(&x, &adj)?, yq);
//! # Ok::<(), ruvector_gnn_layers::Error>(())
//! ```

// ndarray views are cheap handles passed by value, like the kernels API.
#![allow(clippy::needless_pass_by_value)]

use std::path::Path;

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Ix1, Ix2, Zip};
use ruvector_gnn_kernels::activation::Act;
use ruvector_gnn_kernels::{sparse, vector, AsGraph, Csr};
use ruvector_gnn_weights::{Precision, QuantizedMatrix, Tensor, TensorStore};

use crate::check;
use crate::config::Aggregator;
use crate::error::{Error, Result};
use crate::gat::SelfLoopGraph;
use crate::gcn::GcnNorm;
use crate::layer::GraphLayer;
use crate::message_passing::{check_features, require_square};
use crate::persist::{
    config_json, dense_weight_names, describe, insert_parameters, is_out_in, load_parameters,
    read_config, read_parameter,
};
use crate::spec::LayerSpec;
use crate::{Residual, Sequential};

/// `F.normalize`'s epsilon (as in the SAGE layer).
const NORM_EPS: f32 = 1e-12;

/// A weight matrix held by the model or located in its store.
#[derive(Debug)]
enum QWeight {
    Owned(QuantizedMatrix<'static>),
    /// Name of an `(out, in)` matrix in the model's [`TensorStore`].
    Stored(String),
}

impl QWeight {
    fn with<R>(
        &self,
        store: Option<&TensorStore>,
        f: impl FnOnce(&QuantizedMatrix<'_>) -> Result<R>,
    ) -> Result<R> {
        match self {
            QWeight::Owned(m) => f(m),
            QWeight::Stored(name) => {
                let store = store.ok_or_else(|| {
                    Error::Config(format!("weight '{name}' refers to a missing store"))
                })?;
                f(&QuantizedMatrix::from_store(store, name)?)
            }
        }
    }

    /// `out = x·W`.
    fn mm(
        &self,
        store: Option<&TensorStore>,
        x: ArrayView2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        self.with(store, |m| Ok(m.matmul_into(x, out)?))
    }

    fn zero_copy(&self, store: Option<&TensorStore>) -> bool {
        match self {
            QWeight::Owned(_) => false,
            QWeight::Stored(n) => store.is_some_and(|s| s.is_zero_copy(n)),
        }
    }
}

/// One node of a quantized model.
enum QNode {
    Gcn {
        input_dim: usize,
        output_dim: usize,
        act: Act,
        weight: QWeight,
        bias: Array1<f32>,
    },
    Gat {
        input_dim: usize,
        heads: usize,
        c: usize,
        concat: bool,
        slope: f32,
        weight: QWeight,
        att_src: Array2<f32>,
        att_dst: Array2<f32>,
        bias: Array1<f32>,
    },
    Sage {
        input_dim: usize,
        output_dim: usize,
        aggregator: Aggregator,
        normalize: bool,
        act: Act,
        weight_neigh: QWeight,
        weight_root: Option<QWeight>,
        bias: Array1<f32>,
    },
    Residual {
        inner: Box<QNode>,
        proj: Option<QWeight>,
    },
    Sequential(Vec<QNode>),
    /// A layer kept in f32 (layer norm, dropout, activation, LSTM SAGE).
    Float(Box<dyn GraphLayer>),
}

/// An inference-only model with f16 / int8 (or f32) dense weights; see the
/// [module docs](self).
pub struct QuantizedModel {
    spec: LayerSpec,
    precision: Precision,
    root: QNode,
    store: Option<TensorStore>,
}

impl std::fmt::Debug for QuantizedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantizedModel")
            .field("spec", &self.spec)
            .field("precision", &self.precision)
            .field("from_file", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Converts a trained layer or stack to inference on `precision` weights.
/// With [`Precision::F32`] the result computes like the original (up to
/// the order of floating-point operations).
///
/// # Errors
/// [`Error::Config`] for a layer type defined outside this crate.
pub fn quantize(model: &dyn GraphLayer, precision: Precision) -> Result<QuantizedModel> {
    let spec = describe(model)?;
    let root = node_from_layer(model, &spec, precision)?;
    Ok(QuantizedModel {
        spec,
        precision,
        root,
        store: None,
    })
}

fn param(layer: &dyn GraphLayer, name: &str) -> Result<ndarray::ArrayD<f32>> {
    layer
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| Error::UnknownParameter {
            name: name.to_string(),
            known: layer
                .named_parameters()
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn as_1d(a: ndarray::ArrayD<f32>, what: &str) -> Result<Array1<f32>> {
    let shape = format!("{:?}", a.shape());
    a.into_dimensionality::<Ix1>()
        .map_err(|_| Error::shape(format!("'{what}'"), "1-D", shape))
}

fn as_2d(a: ndarray::ArrayD<f32>, what: &str) -> Result<Array2<f32>> {
    let shape = format!("{:?}", a.shape());
    a.into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape(format!("'{what}'"), "2-D", shape))
}

fn qweight(layer: &dyn GraphLayer, name: &str, p: Precision) -> Result<QWeight> {
    let w = as_2d(param(layer, name)?, name)?;
    Ok(QWeight::Owned(QuantizedMatrix::from_f32(w.view(), p)))
}

/// A copy of a layer of this crate (rebuilt from its spec, parameters copied).
fn clone_layer(layer: &dyn GraphLayer, spec: &LayerSpec) -> Result<Box<dyn GraphLayer>> {
    let mut copy = spec.build(0)?;
    for (n, v) in layer.named_parameters() {
        copy.set_parameter(&n, v)?;
    }
    Ok(copy)
}

fn node_from_layer(layer: &dyn GraphLayer, spec: &LayerSpec, p: Precision) -> Result<QNode> {
    Ok(match spec {
        LayerSpec::Gcn {
            input_dim,
            output_dim,
            activation,
            ..
        } => QNode::Gcn {
            input_dim: *input_dim,
            output_dim: *output_dim,
            act: activation.to_act(),
            weight: qweight(layer, "weight", p)?,
            bias: as_1d(param(layer, "bias")?, "bias")?,
        },
        LayerSpec::Gat {
            input_dim,
            output_dim,
            heads,
            concat,
            negative_slope,
            ..
        } => QNode::Gat {
            input_dim: *input_dim,
            heads: *heads,
            c: *output_dim,
            concat: *concat,
            slope: *negative_slope,
            weight: qweight(layer, "weight", p)?,
            att_src: as_2d(param(layer, "att_src")?, "att_src")?,
            att_dst: as_2d(param(layer, "att_dst")?, "att_dst")?,
            bias: as_1d(param(layer, "bias")?, "bias")?,
        },
        LayerSpec::Sage {
            input_dim,
            output_dim,
            aggregator,
            normalize,
            activation,
            root_weight,
        } if *aggregator != Aggregator::Lstm => QNode::Sage {
            input_dim: *input_dim,
            output_dim: *output_dim,
            aggregator: *aggregator,
            normalize: *normalize,
            act: activation.to_act(),
            weight_neigh: qweight(layer, "weight_neigh", p)?,
            weight_root: if *root_weight {
                Some(qweight(layer, "weight_root", p)?)
            } else {
                None
            },
            bias: as_1d(param(layer, "bias")?, "bias")?,
        },
        LayerSpec::Residual { inner } => {
            let res = layer
                .as_any()
                .downcast_ref::<Residual>()
                .ok_or_else(|| Error::Config("residual spec of a non-residual layer".into()))?;
            QNode::Residual {
                inner: Box::new(node_from_layer(res.inner(), inner, p)?),
                proj: if res.has_projection() {
                    Some(qweight(layer, "proj.weight", p)?)
                } else {
                    None
                },
            }
        }
        LayerSpec::Sequential { layers } => {
            let seq = layer
                .as_any()
                .downcast_ref::<Sequential>()
                .ok_or_else(|| Error::Config("sequential spec of a non-sequential layer".into()))?;
            QNode::Sequential(
                seq.layers()
                    .iter()
                    .zip(layers)
                    .map(|(l, s)| node_from_layer(l.as_ref(), s, p))
                    .collect::<Result<_>>()?,
            )
        }
        _ => QNode::Float(clone_layer(layer, spec)?),
    })
}

/// A weight matrix of the store, checked to be `(in, out)` = `dims`.
fn stored_weight(store: &TensorStore, name: &str, dims: (usize, usize)) -> Result<QWeight> {
    let m = QuantizedMatrix::from_store(store, name)?;
    if (m.in_dim(), m.out_dim()) != dims {
        return Err(Error::shape(
            format!("weight matrix '{name}' (in, out) in the file"),
            format!("{dims:?}"),
            format!("{:?}", (m.in_dim(), m.out_dim())),
        ));
    }
    Ok(if is_out_in(store, name) {
        QWeight::Stored(name.to_string())
    } else {
        // A plain `(in, out)` array: transpose once here, not per call.
        QWeight::Owned(m.into_owned())
    })
}

fn stored_vec(store: &TensorStore, name: &str, len: usize) -> Result<Array1<f32>> {
    let v = as_1d(read_parameter(store, name)?, name)?;
    if v.len() != len {
        return Err(Error::shape(
            format!("tensor '{name}' in the file"),
            len,
            v.len(),
        ));
    }
    Ok(v)
}

fn stored_mat(store: &TensorStore, name: &str, dims: (usize, usize)) -> Result<Array2<f32>> {
    let v = as_2d(read_parameter(store, name)?, name)?;
    if v.dim() != dims {
        return Err(Error::shape(
            format!("tensor '{name}' in the file"),
            format!("{dims:?}"),
            format!("{:?}", v.dim()),
        ));
    }
    Ok(v)
}

fn node_from_store(spec: &LayerSpec, store: &TensorStore, prefix: &str) -> Result<QNode> {
    let name = |n: &str| format!("{prefix}{n}");
    Ok(match spec {
        LayerSpec::Gcn {
            input_dim,
            output_dim,
            activation,
            ..
        } => QNode::Gcn {
            input_dim: *input_dim,
            output_dim: *output_dim,
            act: activation.to_act(),
            weight: stored_weight(store, &name("weight"), (*input_dim, *output_dim))?,
            bias: stored_vec(store, &name("bias"), *output_dim)?,
        },
        LayerSpec::Gat {
            input_dim,
            output_dim,
            heads,
            concat,
            negative_slope,
            ..
        } => QNode::Gat {
            input_dim: *input_dim,
            heads: *heads,
            c: *output_dim,
            concat: *concat,
            slope: *negative_slope,
            weight: stored_weight(store, &name("weight"), (*input_dim, heads * output_dim))?,
            att_src: stored_mat(store, &name("att_src"), (*heads, *output_dim))?,
            att_dst: stored_mat(store, &name("att_dst"), (*heads, *output_dim))?,
            bias: stored_vec(store, &name("bias"), spec.output_dim())?,
        },
        LayerSpec::Sage {
            input_dim,
            output_dim,
            aggregator,
            normalize,
            activation,
            root_weight,
        } if *aggregator != Aggregator::Lstm => {
            let dims = (*input_dim, *output_dim);
            QNode::Sage {
                input_dim: *input_dim,
                output_dim: *output_dim,
                aggregator: *aggregator,
                normalize: *normalize,
                act: activation.to_act(),
                weight_neigh: stored_weight(store, &name("weight_neigh"), dims)?,
                weight_root: if *root_weight {
                    Some(stored_weight(store, &name("weight_root"), dims)?)
                } else {
                    None
                },
                bias: stored_vec(store, &name("bias"), *output_dim)?,
            }
        }
        LayerSpec::Residual { inner } => QNode::Residual {
            inner: Box::new(node_from_store(inner, store, &name("inner."))?),
            proj: if inner.input_dim() == inner.output_dim() {
                None
            } else {
                Some(stored_weight(
                    store,
                    &name("proj.weight"),
                    (inner.input_dim(), inner.output_dim()),
                )?)
            },
        },
        LayerSpec::Sequential { layers } => {
            for w in layers.windows(2) {
                if w[0].output_dim() != w[1].input_dim() {
                    return Err(Error::shape(
                        format!("{prefix}layers ({} → {}) widths", w[0].kind(), w[1].kind()),
                        w[0].output_dim(),
                        w[1].input_dim(),
                    ));
                }
            }
            QNode::Sequential(
                layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| node_from_store(l, store, &name(&format!("layers.{i}."))))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let mut layer = spec.build(0)?;
            load_parameters(layer.as_mut(), store, prefix, false)?;
            QNode::Float(layer)
        }
    })
}

/// `out = Â·x` (GCN normalisation with self loops).
fn gcn_propagate(
    graph: &Csr,
    norm: &GcnNorm,
    x: ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
) {
    sparse::gather(graph, Some(norm.edge_weights()), x, 0.0, out.view_mut());
    for ((mut o, xi), &s) in out
        .axis_iter_mut(Axis(0))
        .zip(x.axis_iter(Axis(0)))
        .zip(norm.self_weights())
    {
        o.scaled_add(s, &xi);
    }
}

/// Rows per block of the quantized GCN's aggregate-first path (a
/// 4 MiB block of `Â·X` at 128 wide, instead of the whole `n × in` matrix).
const QGCN_BLOCK_ROWS: usize = 8192;

/// Rows per Rayon task inside one block's gather.
const QGCN_TASK_ROWS: usize = 256;

/// `out = (Â·x)·W`, aggregate-first in blocks of [`QGCN_BLOCK_ROWS`] rows:
/// each block of `Â·x` is gathered in parallel (row ranges of
/// [`QGCN_TASK_ROWS`]) and multiplied by the (quantized) `W` into its
/// output rows, so only one block of the aggregate exists at a time. Same
/// per-row arithmetic as [`gcn_propagate`].
fn gcn_aggregate_project_blocks(
    graph: &Csr,
    norm: &GcnNorm,
    x: ArrayView2<'_, f32>,
    store: Option<&TensorStore>,
    weight: &QWeight,
    out: &mut Array2<f32>,
) -> Result<()> {
    use rayon::prelude::*;
    let (n, din) = x.dim();
    let xs = x.as_standard_layout();
    let mut h = Array2::<f32>::zeros((QGCN_BLOCK_ROWS.min(n), din));
    for row0 in (0..n).step_by(QGCN_BLOCK_ROWS) {
        let rows = QGCN_BLOCK_ROWS.min(n - row0);
        let mut hb = h.slice_mut(s![..rows, ..]);
        if let Some(hs) = hb.as_slice_mut() {
            hs.par_chunks_mut(QGCN_TASK_ROWS * din.max(1))
                .enumerate()
                .for_each(|(k, chunk)| {
                    let r0 = row0 + k * QGCN_TASK_ROWS;
                    norm.propagate_rows(graph, xs.view(), r0, chunk, false);
                });
        }
        weight.mm(store, hb.view(), out.slice_mut(s![row0..row0 + rows, ..]))?;
    }
    Ok(())
}

fn bias_act(out: &mut Array2<f32>, bias: &Array1<f32>, act: Act) {
    for mut row in out.axis_iter_mut(Axis(0)) {
        row += bias;
        if act != Act::Identity {
            row.mapv_inplace(|v| act.apply(v));
        }
    }
}

impl QNode {
    fn input_dim(&self) -> usize {
        match self {
            QNode::Gcn { input_dim, .. }
            | QNode::Gat { input_dim, .. }
            | QNode::Sage { input_dim, .. } => *input_dim,
            QNode::Residual { inner, .. } => inner.input_dim(),
            QNode::Sequential(v) => v.first().map_or(0, QNode::input_dim),
            QNode::Float(l) => l.input_dim(),
        }
    }

    fn forward(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        store: Option<&TensorStore>,
    ) -> Result<Array2<f32>> {
        match self {
            QNode::Gcn {
                input_dim,
                output_dim,
                act,
                weight,
                bias,
            } => {
                check_features(&x, *input_dim, true)?;
                require_square("GCN", graph, x.nrows())?;
                let norm = GcnNorm::build(graph, true)?;
                let n = x.nrows();
                let mut out = Array2::zeros((n, *output_dim));
                if n > 0 {
                    if input_dim <= output_dim {
                        gcn_aggregate_project_blocks(graph, &norm, x, store, weight, &mut out)?;
                    } else {
                        let mut p = Array2::zeros((n, *output_dim));
                        weight.mm(store, x, p.view_mut())?;
                        gcn_propagate(graph, &norm, p.view(), out.view_mut());
                    }
                }
                bias_act(&mut out, bias, *act);
                Ok(out)
            }
            QNode::Gat {
                input_dim,
                heads,
                c,
                concat,
                slope,
                weight,
                att_src,
                att_dst,
                bias,
            } => {
                check_features(&x, *input_dim, true)?;
                require_square("GAT", graph, x.nrows())?;
                let aug = SelfLoopGraph::new(graph)?;
                let aug = aug.csr();
                let (n, h, c) = (x.nrows(), *heads, *c);
                let mut xp = Array2::zeros((n, h * c));
                if n > 0 {
                    weight.mm(store, x, xp.view_mut())?;
                }
                let alpha = gat_attention(aug, &xp, att_src, att_dst, h, c, *slope);
                let width = if *concat { h * c } else { c };
                let mut out = Array2::zeros((n, width));
                if n > 0 {
                    if *concat {
                        sparse::gather_multihead(aug, &alpha, h, xp.view(), out.view_mut());
                    } else {
                        let mut full = Array2::zeros((n, h * c));
                        sparse::gather_multihead(aug, &alpha, h, xp.view(), full.view_mut());
                        let inv = 1.0 / h as f32;
                        for (mut o, f) in out.axis_iter_mut(Axis(0)).zip(full.axis_iter(Axis(0))) {
                            for k in 0..h {
                                o.scaled_add(inv, &f.slice(s![k * c..(k + 1) * c]));
                            }
                        }
                    }
                }
                bias_act(&mut out, bias, Act::Identity);
                Ok(out)
            }
            QNode::Sage {
                input_dim,
                output_dim,
                aggregator,
                normalize,
                act,
                weight_neigh,
                weight_root,
                bias,
            } => {
                check::width("SAGE input", &x, *input_dim)?;
                check::rows("SAGE input (graph source nodes)", &x, graph.n_cols())?;
                if graph.n_rows() > graph.n_cols() {
                    return Err(Error::shape(
                        "SAGE graph targets (must not exceed sources)",
                        format!("at most {}", graph.n_cols()),
                        graph.n_rows(),
                    ));
                }
                check::finite("SAGE input features", &x)?;
                let n = graph.n_rows();
                let mut agg = Array2::<f32>::zeros((n, *input_dim));
                if *aggregator == Aggregator::Max {
                    let mut argmax = vec![0u32; n * input_dim];
                    sparse::gather_max(graph, x, agg.view_mut(), &mut argmax);
                } else {
                    let ones = graph.weights().map(|_| vec![1.0f32; graph.n_edges()]);
                    sparse::gather(graph, ones.as_deref(), x, 0.0, agg.view_mut());
                    if *aggregator == Aggregator::Mean {
                        for (i, mut row) in agg.axis_iter_mut(Axis(0)).enumerate() {
                            let d = graph.degree(i);
                            if d > 0 {
                                row *= 1.0 / d as f32;
                            }
                        }
                    }
                }
                let mut z = Array2::<f32>::zeros((n, *output_dim));
                if n > 0 {
                    weight_neigh.mm(store, agg.view(), z.view_mut())?;
                    if let Some(wr) = weight_root {
                        let mut r = Array2::<f32>::zeros((n, *output_dim));
                        wr.mm(store, x.slice(s![..n, ..]), r.view_mut())?;
                        z += &r;
                    }
                }
                z += bias;
                if *normalize {
                    Zip::from(z.rows_mut()).for_each(|mut row| {
                        let s = row
                            .iter()
                            .map(|&v| f64::from(v) * f64::from(v))
                            .sum::<f64>()
                            .sqrt() as f32;
                        row /= s.max(NORM_EPS);
                    });
                }
                if *act != Act::Identity {
                    z.mapv_inplace(|v| act.apply(v));
                }
                Ok(z)
            }
            QNode::Residual { inner, proj } => {
                let mut y = inner.forward(x, graph, store)?;
                let rows = y.nrows();
                if rows > x.nrows() {
                    return Err(Error::shape(
                        "residual: inner output rows",
                        format!("at most {}", x.nrows()),
                        rows,
                    ));
                }
                let xs = x.slice(s![..rows, ..]);
                match proj {
                    Some(p) => {
                        let mut t = Array2::zeros(y.dim());
                        if rows > 0 {
                            p.mm(store, xs, t.view_mut())?;
                        }
                        y += &t;
                    }
                    None => y += &xs,
                }
                Ok(y)
            }
            QNode::Sequential(layers) => {
                let mut h: Option<Array2<f32>> = None;
                for l in layers {
                    let input = h.as_ref().map_or(x.view(), |a| a.view());
                    h = Some(l.forward(input, graph, store)?);
                }
                Ok(h.unwrap_or_else(|| x.to_owned()))
            }
            QNode::Float(l) => l.forward_graph(x, graph),
        }
    }

    fn write(&self, prefix: &str, out: &mut TensorStore, src: Option<&TensorStore>) -> Result<()> {
        let name = |n: &str| format!("{prefix}{n}");
        let put_w = |out: &mut TensorStore, n: &str, w: &QWeight| {
            w.with(src, |m| Ok(out.insert_matrix(&name(n), m)?))
        };
        let put_v = |out: &mut TensorStore, n: &str, v: &[f32], shape: Vec<usize>| -> Result<()> {
            out.insert(name(n), Tensor::from_f32(shape, v.to_vec())?)?;
            Ok(())
        };
        match self {
            QNode::Gcn { weight, bias, .. } => {
                put_w(out, "weight", weight)?;
                put_v(out, "bias", &bias.to_vec(), vec![bias.len()])?;
            }
            QNode::Gat {
                weight,
                att_src,
                att_dst,
                bias,
                ..
            } => {
                put_w(out, "weight", weight)?;
                let a: Vec<f32> = att_src.iter().copied().collect();
                put_v(out, "att_src", &a, att_src.shape().to_vec())?;
                let a: Vec<f32> = att_dst.iter().copied().collect();
                put_v(out, "att_dst", &a, att_dst.shape().to_vec())?;
                put_v(out, "bias", &bias.to_vec(), vec![bias.len()])?;
            }
            QNode::Sage {
                weight_neigh,
                weight_root,
                bias,
                ..
            } => {
                put_w(out, "weight_neigh", weight_neigh)?;
                if let Some(w) = weight_root {
                    put_w(out, "weight_root", w)?;
                }
                put_v(out, "bias", &bias.to_vec(), vec![bias.len()])?;
            }
            QNode::Residual { inner, proj } => {
                inner.write(&name("inner."), out, src)?;
                if let Some(p) = proj {
                    put_w(out, "proj.weight", p)?;
                }
            }
            QNode::Sequential(layers) => {
                for (i, l) in layers.iter().enumerate() {
                    l.write(&name(&format!("layers.{i}.")), out, src)?;
                }
            }
            QNode::Float(l) => {
                let dense = dense_weight_names(&describe(l.as_ref())?);
                let dense: Vec<String> = dense.iter().map(|d| name(d)).collect();
                insert_parameters(out, prefix, l.as_ref(), &dense)?;
            }
        }
        Ok(())
    }

    fn all_zero_copy(&self, store: Option<&TensorStore>) -> bool {
        match self {
            QNode::Gcn { weight, .. } | QNode::Gat { weight, .. } => weight.zero_copy(store),
            QNode::Sage {
                weight_neigh,
                weight_root,
                ..
            } => {
                weight_neigh.zero_copy(store)
                    && weight_root.as_ref().is_none_or(|w| w.zero_copy(store))
            }
            QNode::Residual { inner, proj } => {
                inner.all_zero_copy(store) && proj.as_ref().is_none_or(|p| p.zero_copy(store))
            }
            QNode::Sequential(v) => v.iter().all(|l| l.all_zero_copy(store)),
            QNode::Float(_) => true,
        }
    }
}

/// Softmax attention of every (edge, head) of the self-looped graph.
fn gat_attention(
    aug: &Csr,
    xp: &Array2<f32>,
    att_src: &Array2<f32>,
    att_dst: &Array2<f32>,
    heads: usize,
    c: usize,
    slope: f32,
) -> Vec<f32> {
    let n = xp.nrows();
    let mut a_src = vec![0.0f32; n * heads];
    let mut a_dst = vec![0.0f32; n * heads];
    for (i, xr) in xp.axis_iter(Axis(0)).enumerate() {
        let xr = xr.to_vec();
        for h in 0..heads {
            let blk = &xr[h * c..(h + 1) * c];
            a_src[i * heads + h] = vector::dot(&att_src.row(h).to_vec(), blk);
            a_dst[i * heads + h] = vector::dot(&att_dst.row(h).to_vec(), blk);
        }
    }
    let mut alpha = vec![0.0f32; aug.n_edges() * heads];
    let mut max = vec![0.0f32; heads];
    let mut sum = vec![0.0f32; heads];
    for i in 0..n {
        let range = aug.row_range(i);
        let rows = &mut alpha[range.start * heads..range.end * heads];
        max.fill(f32::NEG_INFINITY);
        for (e, o) in range.clone().zip(rows.chunks_exact_mut(heads)) {
            let j = aug.indices()[e] as usize;
            for h in 0..heads {
                let s = a_src[j * heads + h] + a_dst[i * heads + h];
                let s = if s > 0.0 { s } else { slope * s };
                o[h] = s;
                max[h] = max[h].max(s);
            }
        }
        sum.fill(0.0);
        for o in rows.chunks_exact_mut(heads) {
            for h in 0..heads {
                o[h] = (o[h] - max[h]).exp();
                sum[h] += o[h];
            }
        }
        for o in rows.chunks_exact_mut(heads) {
            for h in 0..heads {
                o[h] /= sum[h];
            }
        }
    }
    alpha
}

impl QuantizedModel {
    /// The model's spec.
    pub fn spec(&self) -> &LayerSpec {
        &self.spec
    }

    /// The precision the model was quantized to (from the file's config
    /// when loaded).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.root.input_dim()
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.spec.output_dim()
    }

    /// `true` if every quantized weight matrix is read in place from the
    /// loaded file buffer or mapping (no copy was made at load).
    pub fn weights_zero_copy(&self) -> bool {
        self.store.is_some() && self.root.all_zero_copy(self.store.as_ref())
    }

    /// Inference over a validated graph (as [`GraphLayer::forward_graph`]).
    ///
    /// # Errors
    /// Shape mismatches, non-finite input features.
    pub fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        self.root.forward(x, graph, self.store.as_ref())
    }

    /// Inference over any graph form (the seed's `Vec<Vec<usize>>` or a [`Csr`]).
    ///
    /// # Errors
    /// Graph validation errors, then as [`QuantizedModel::forward_graph`].
    pub fn forward<G: AsGraph + ?Sized>(&self, x: &Array2<f32>, adj: &G) -> Result<Array2<f32>> {
        let g = adj.as_csr(x.nrows())?;
        self.forward_graph(x.view(), &g)
    }

    /// The model as a [`TensorStore`] (quantized tensors + config).
    ///
    /// # Errors
    /// Store errors.
    pub fn to_store(&self) -> Result<TensorStore> {
        let mut out = TensorStore::new();
        self.root.write("", &mut out, self.store.as_ref())?;
        out.set_config(&config_json(&self.spec.to_json(), self.precision))?;
        Ok(out)
    }

    /// Saves the model (atomic safetensors write).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_store()?.save(path)?;
        Ok(())
    }

    /// The bytes [`QuantizedModel::save`] writes.
    ///
    /// # Errors
    /// Store errors.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.to_store()?.to_bytes()?)
    }

    /// A model over a loaded store: the config rebuilds the structure and
    /// the weight matrices stay in the store (f32, f16 or int8 as saved;
    /// files written by `save_weights` load too).
    ///
    /// # Errors
    /// Config errors, missing tensors, shape mismatches.
    pub fn from_store(store: TensorStore) -> Result<Self> {
        let (model, precision) = read_config(&store)?;
        let spec = LayerSpec::from_json(&model)?;
        let root = node_from_store(&spec, &store, "")?;
        Ok(QuantizedModel {
            spec,
            precision,
            root,
            store: Some(store),
        })
    }

    /// Loads a model file into memory.
    ///
    /// # Errors
    /// I/O and format errors, then as [`QuantizedModel::from_store`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_store(TensorStore::load(path)?)
    }

    /// Memory-maps a model file; inference reads the f16/int8 weights from
    /// the mapping.
    ///
    /// # Errors
    /// As [`QuantizedModel::load`].
    #[cfg(feature = "mmap")]
    pub fn load_mmap(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_store(TensorStore::load_mmap(path)?)
    }

    /// A model from the bytes of a file.
    ///
    /// # Errors
    /// As [`QuantizedModel::load`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_store(TensorStore::from_bytes(bytes)?)
    }
}
