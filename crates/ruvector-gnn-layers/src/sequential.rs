//! A stack of layers applied in order, trained end to end.

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD};
use ruvector_gnn_kernels::Csr;

use crate::error::{Error, Result};
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::message_passing::Workspace;
use crate::params::{Gradients, Parameters};
use crate::sage::SAGELayer;

/// The thread workspace's slot for [`Sequential`]'s second buffer (the
/// layers use slots 0–5 during the call).
const SLOT_SPARE: usize = 8;

/// Layers applied one after another over the same graph.
///
/// Parameter names are prefixed `layers.<i>.` like a PyTorch
/// `nn.Sequential` stored as `layers`.
///
/// ```
/// use ruvector_gnn_layers::{Parameters, Sequential, GraphLayer};
/// let model = Sequential::new(vec![]);
/// assert_eq!(model.num_parameters(), 0);
/// assert!(model.is_empty());
/// ```
///
/// # Non-finite input
/// No check of its own: every layer treats NaN/Inf as it documents. Graph
/// layers (GCN, GAT, SAGE) reject it with [`Error::NonFinite`] unless their
/// check is switched off (`with_check_finite(false)`, after which it spreads
/// along edges), also when it arises mid-stack (a LayerNorm row turned NaN
/// reaches the next GCN); the row-wise layers ([`crate::LayerNorm`],
/// [`crate::Dropout`], [`crate::ActivationLayer`], a [`crate::Residual`]
/// around them) keep it in its row, without a panic. A 0-row input gives a
/// 0-row output (an empty stack is the identity).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn GraphLayer>>,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.layers
                    .iter()
                    .map(|l| format!("{}({}→{})", l.kind(), l.input_dim(), l.output_dim())),
            )
            .finish()
    }
}

struct SeqCache {
    caches: Vec<Cache>,
}

impl Sequential {
    /// A stack of `layers` (checked for matching widths by [`Sequential::validate`]).
    pub fn new(layers: Vec<Box<dyn GraphLayer>>) -> Self {
        Self { layers }
    }

    /// Appends a layer.
    ///
    /// # Errors
    /// [`Error::Shape`] when its input width differs from the current output width.
    pub fn push(&mut self, layer: Box<dyn GraphLayer>) -> Result<()> {
        if let Some(last) = self.layers.last() {
            if last.output_dim() != layer.input_dim() {
                return Err(Error::shape(
                    format!("layer {} ({}) input width", self.layers.len(), layer.kind()),
                    last.output_dim(),
                    layer.input_dim(),
                ));
            }
        }
        self.layers.push(layer);
        Ok(())
    }

    /// Checks that consecutive widths agree.
    ///
    /// # Errors
    /// [`Error::Shape`] naming the first mismatching layer.
    pub fn validate(&self) -> Result<()> {
        for (i, w) in self.layers.windows(2).enumerate() {
            if w[0].output_dim() != w[1].input_dim() {
                return Err(Error::shape(
                    format!("layer {} ({}) input width", i + 1, w[1].kind()),
                    w[0].output_dim(),
                    w[1].input_dim(),
                ));
            }
        }
        Ok(())
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn GraphLayer>] {
        &self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the stack has no layers (it is then the identity).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The inference steps on `graph` ([`inference_steps`]).
    fn steps(&self, graph: &Csr) -> Vec<Step<'_>> {
        let layers: Vec<&dyn GraphLayer> = self.layers.iter().map(|l| &**l).collect();
        inference_steps(&layers, graph)
    }
}

/// The inference steps of a stack of `layers` on `graph`: each layer alone,
/// except two adjacent SAGE layers that fuse ([`SAGELayer::fuses_with`]),
/// which run as one pair ([`SAGELayer::forward_pair_into`]). Used by
/// [`Sequential`] and [`crate::GraphSAGE`] inference.
pub(crate) fn inference_steps<'a>(layers: &[&'a dyn GraphLayer], graph: &Csr) -> Vec<Step<'a>> {
    let sage = |i: usize| {
        layers
            .get(i)
            .and_then(|l| l.as_any().downcast_ref::<SAGELayer>())
    };
    let mut steps = Vec::with_capacity(layers.len());
    let mut i = 0;
    while i < layers.len() {
        match (sage(i), sage(i + 1)) {
            (Some(first), Some(second)) if first.fuses_with(second, graph) => {
                steps.push(Step::Pair(first, second));
                i += 2;
            }
            _ => {
                steps.push(Step::One(layers[i]));
                i += 1;
            }
        }
    }
    steps
}

/// One inference step of a stack (see [`inference_steps`]).
pub(crate) enum Step<'a> {
    One(&'a dyn GraphLayer),
    Pair(&'a SAGELayer, &'a SAGELayer),
}

impl Step<'_> {
    /// Runs the step from `x` into `out`.
    pub(crate) fn run(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        match *self {
            Step::One(layer) => layer.forward_graph_into(x, graph, out),
            Step::Pair(first, second) => Workspace::with_thread_local(|ws| {
                first.forward_pair_into(second, x, graph, ws, out)
            }),
        }
    }
}

impl Parameters for Sequential {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.named_parameters()
                    .into_iter()
                    .map(move |(n, v)| (format!("layers.{i}.{n}"), v))
            })
            .collect()
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        self.layers
            .iter_mut()
            .enumerate()
            .flat_map(|(i, l)| {
                l.named_parameters_mut()
                    .into_iter()
                    .map(move |(n, v)| (format!("layers.{i}.{n}"), v))
            })
            .collect()
    }
}

impl GraphLayer for Sequential {
    fn input_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.input_dim())
    }

    fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.output_dim())
    }

    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        let mut caches = Vec::with_capacity(self.layers.len());
        // The input is not copied: the first layer reads it in place.
        let mut h: Option<Array2<f32>> = None;
        for layer in &self.layers {
            let input = h.as_ref().map_or(x, |a| a.view());
            let (y, c) = layer.forward_train(input, graph, ctx)?;
            caches.push(c);
            h = Some(y);
        }
        Ok((
            h.unwrap_or_else(|| x.to_owned()),
            Box::new(SeqCache { caches }),
        ))
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let cache = cache
            .downcast_ref::<SeqCache>()
            .ok_or(Error::BadCache("sequential"))?;
        if cache.caches.len() != self.layers.len() {
            return Err(Error::BadCache("sequential"));
        }
        let mut grads = Gradients::new();
        let mut g = dy.to_owned();
        for (i, (layer, c)) in self.layers.iter().zip(&cache.caches).enumerate().rev() {
            let (dx, lg) = layer.backward(c, g.view())?;
            grads.merge_prefixed(&format!("layers.{i}."), lg);
            g = dx;
        }
        Ok((g, grads))
    }

    /// Only the layers from the first one with parameters on are
    /// differentiated, and that one through [`GraphLayer::backward_params`]:
    /// no input gradient is computed for the data below it.
    fn backward_params(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<Gradients> {
        let cache = cache
            .downcast_ref::<SeqCache>()
            .ok_or(Error::BadCache("sequential"))?;
        if cache.caches.len() != self.layers.len() {
            return Err(Error::BadCache("sequential"));
        }
        let mut grads = Gradients::new();
        let Some(first) = self.layers.iter().position(|l| l.num_parameters() > 0) else {
            return Ok(grads);
        };
        let mut g: Option<Array2<f32>> = None;
        for (i, (layer, c)) in self.layers.iter().zip(&cache.caches).enumerate().rev() {
            if i < first {
                break;
            }
            let dyi = g.as_ref().map_or(dy, |a| a.view());
            let prefix = format!("layers.{i}.");
            if i == first {
                grads.merge_prefixed(&prefix, layer.backward_params(c, dyi)?);
            } else {
                let (dx, lg) = layer.backward(c, dyi)?;
                grads.merge_prefixed(&prefix, lg);
                g = Some(dx);
            }
        }
        Ok(grads)
    }

    /// Inference through [`GraphLayer::forward_graph_into`]: two buffers
    /// ping-pong through the stack (layer `i` reads one and writes the
    /// other), so besides the caller's input only one layer input and one
    /// output are alive at any time, and layers that reuse the buffer's
    /// allocation (GCN, SAGE) write into the one two steps back. Two
    /// adjacent SAGE layers that fuse on the graph
    /// ([`SAGELayer::fuses_with`]) run as one step,
    /// [`SAGELayer::forward_pair_into`], which never writes the hidden
    /// matrix between them (same result, bit for bit).
    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((0, 0));
        self.forward_graph_into(x, graph, &mut out)?;
        Ok(out)
    }

    fn forward_graph_into(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        if self.layers.is_empty() {
            *out = x.to_owned();
            return Ok(());
        }
        let steps = self.steps(graph);
        // The second buffer comes from the thread's workspace (kept between
        // plain calls), taken out of it so the layers can borrow it too.
        let mut spare = if steps.len() > 1 {
            Workspace::with_thread_local(|ws| ws.take_matrix_dirty(SLOT_SPARE, 0, 0))
        } else {
            Array2::zeros((0, 0))
        };
        let mut run = || -> Result<()> {
            for (k, step) in steps.iter().enumerate() {
                // The last step writes into `out`, so step k writes there when
                // an even number of steps follows it.
                let into_out = (steps.len() - 1 - k) % 2 == 0;
                match (k, into_out) {
                    (0, true) => step.run(x, graph, out)?,
                    (0, false) => step.run(x, graph, &mut spare)?,
                    (_, true) => step.run(spare.view(), graph, out)?,
                    (_, false) => step.run(out.view(), graph, &mut spare)?,
                }
            }
            Ok(())
        };
        let result = run();
        if steps.len() > 1 {
            Workspace::with_thread_local(|ws| ws.give_matrix(SLOT_SPARE, spare));
        }
        result
    }

    fn kind(&self) -> &'static str {
        "sequential"
    }
}
