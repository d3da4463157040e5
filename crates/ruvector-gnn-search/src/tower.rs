//! The GNN tower of [`crate::GNNEmbedder`]: an input projection, then per
//! layer a residual graph convolution over the HNSW graph and a layer norm,
//! `h ← LN(h + conv(h))`. The convolution is GraphSAGE (mean) or multi-head
//! GAT ([`TowerKind`]); either way the residual branch starts at zero, so an
//! untrained tower is a random projection followed by layer norms.
//!
//! Training runs the tower over sampled mini-batch blocks (targets = the
//! first rows of the block's sources). GraphSAGE takes such rectangular
//! blocks directly; GAT attends over `neighbours ∪ {self}` of a square graph,
//! so its blocks are squared up (the extra rows get no neighbours, their
//! outputs are dropped and get zero gradient).

use ndarray::{s, Array1, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, IxDyn};
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::{
    Activation, Aggregator, AttentionConfig, Cache, ForwardCtx, GATLayer, Gradients, GraphLayer,
    LayerNorm, MiniBatch, NeighborSampler, Parameters, SAGELayer,
};

use crate::error::{Error, Result};

/// The graph convolution inside each tower layer.
///
/// ```
/// use ruvector_gnn_search::{EmbedderConfig, GNNEmbedder, TowerKind};
/// let gat = GNNEmbedder::new(EmbedderConfig {
///     input_dim: 8,
///     output_dim: 8,
///     num_heads: 4, // 4 heads of 2 features, concatenated
///     tower: TowerKind::Gat,
///     ..Default::default()
/// })?;
/// assert_eq!(gat.config().tower, TowerKind::Gat);
/// # Ok::<(), ruvector_gnn_search::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TowerKind {
    /// GraphSAGE with the mean aggregator and a root weight (the default).
    #[default]
    Sage,
    /// GAT with `num_heads` heads of `output_dim / num_heads` features,
    /// concatenated (LeakyReLU slope 0.2, attention over neighbours and self).
    Gat,
}

impl TowerKind {
    /// The name used in saved models and parameter names (`sage`, `gat`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sage => "sage",
            Self::Gat => "gat",
        }
    }

    /// The kind named `name` ([`TowerKind::name`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for another name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "sage" => Ok(Self::Sage),
            "gat" => Ok(Self::Gat),
            other => Err(Error::Invalid(format!(
                "unknown tower kind {other:?} (sage or gat)"
            ))),
        }
    }
}

/// One tower layer's convolution.
#[derive(Debug, Clone)]
enum Conv {
    Sage(SAGELayer),
    Gat(GATLayer),
}

impl Conv {
    fn layer(&self) -> &dyn GraphLayer {
        match self {
            Self::Sage(l) => l,
            Self::Gat(l) => l,
        }
    }

    fn layer_mut(&mut self) -> &mut dyn GraphLayer {
        match self {
            Self::Sage(l) => l,
            Self::Gat(l) => l,
        }
    }

    /// Training forward over a block whose `t = block.n_rows()` targets are
    /// the first rows of its sources; returns the `t` output rows.
    fn forward_train(
        &self,
        h: ArrayView2<'_, f32>,
        block: &Csr,
        fctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        match self {
            Self::Sage(l) => Ok(l.forward_train(h, block, fctx)?),
            Self::Gat(l) => {
                let t = block.n_rows();
                let (y, c) = l.forward_train(h, &squared(block)?, fctx)?;
                Ok((y.slice(s![..t, ..]).to_owned(), c))
            }
        }
    }

    /// Inference over a block (targets = its first rows, as in training).
    fn forward_block(&self, h: ArrayView2<'_, f32>, block: &Csr) -> Result<Array2<f32>> {
        match self {
            Self::Sage(l) => Ok(l.forward_graph(h, block)?),
            Self::Gat(l) => {
                let t = block.n_rows();
                let y = l.forward_graph(h, &squared(block)?)?;
                Ok(y.slice(s![..t, ..]).to_owned())
            }
        }
    }

    /// Backward of [`Conv::forward_train`]: `dy` has the `t` target rows,
    /// the input gradient has one row per source (`n_src`).
    fn backward(
        &self,
        cache: &Cache,
        dy: ArrayView2<'_, f32>,
        n_src: usize,
    ) -> Result<(Array2<f32>, Gradients)> {
        match self {
            Self::Sage(l) => Ok(l.backward(cache, dy)?),
            Self::Gat(l) => {
                let mut full = Array2::<f32>::zeros((n_src, dy.ncols()));
                full.slice_mut(s![..dy.nrows(), ..]).assign(&dy);
                Ok(l.backward(cache, full.view())?)
            }
        }
    }
}

/// A rectangular block (targets = the first rows of the sources) as a
/// square graph over the sources: the rows past the targets are empty.
fn squared(block: &Csr) -> Result<Csr> {
    let n = block.n_cols();
    let lists: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            if i < block.n_rows() {
                block.row(i).iter().map(|&j| j as usize).collect()
            } else {
                Vec::new()
            }
        })
        .collect();
    Csr::from_lists(&lists, n, false).map_err(|e| Error::Invalid(format!("tower block: {e}")))
}

/// The tower (see the [module docs](self)).
#[derive(Debug, Clone)]
pub(crate) struct Tower {
    kind: TowerKind,
    pub(crate) p0: ArrayD<f32>,
    convs: Vec<Conv>,
    norms: Vec<LayerNorm>,
}

/// What the tower's backward pass needs.
pub(crate) struct TowerCache {
    x_in: Array2<f32>,
    /// Per layer: the convolution's and the norm's caches, targets, sources.
    layers: Vec<(Cache, Cache, usize, usize)>,
}

impl Tower {
    /// `d → w` projection and `layers` residual layers of width `w`
    /// (`heads` attention heads for [`TowerKind::Gat`]).
    pub(crate) fn new(
        kind: TowerKind,
        d: usize,
        w: usize,
        layers: usize,
        heads: usize,
        rng: &mut Rng,
        seed: u64,
    ) -> Result<Self> {
        if kind == TowerKind::Gat && (heads == 0 || w % heads != 0) {
            return Err(Error::Invalid(format!(
                "a GAT tower needs num_heads ≥ 1 dividing output_dim, got {heads} heads for {w}"
            )));
        }
        let s = 1.0 / (w as f32).sqrt();
        let p0 = ArrayD::from_shape_simple_fn(IxDyn(&[d, w]), || rng.normal_f32() * s);
        let mut convs = Vec::with_capacity(layers);
        let mut norms = Vec::with_capacity(layers);
        for l in 0..layers {
            let layer_seed = seed.wrapping_add(l as u64 + 1);
            let mut conv = match kind {
                TowerKind::Sage => Conv::Sage(
                    SAGELayer::new(w, w, Aggregator::Mean, false, layer_seed)?
                        .with_activation(Activation::Identity)
                        .with_check_finite(false),
                ),
                TowerKind::Gat => Conv::Gat(
                    GATLayer::with_seed(
                        AttentionConfig {
                            input_dim: w,
                            output_dim: w / heads,
                            num_heads: heads,
                            concat_heads: true,
                            dropout: 0.0,
                            leaky_relu_slope: 0.2,
                        },
                        layer_seed,
                    )?
                    .with_check_finite(false),
                ),
            };
            // Zero-initialised residual branch.
            for (_, mut p) in conv.layer_mut().named_parameters_mut() {
                p.fill(0.0);
            }
            convs.push(conv);
            norms.push(LayerNorm::new(w, LayerNorm::DEFAULT_EPS)?);
        }
        Ok(Self {
            kind,
            p0,
            convs,
            norms,
        })
    }

    fn p0(&self) -> ArrayView2<'_, f32> {
        self.p0
            .view()
            .into_dimensionality()
            .expect("2-D by construction")
    }

    /// Output width.
    pub(crate) fn width(&self) -> usize {
        self.p0.shape()[1]
    }

    /// Every layer's output for every node of a square graph: `h⁰ … hᴸ`.
    pub(crate) fn forward_full(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
    ) -> Result<Vec<Array2<f32>>> {
        let mut out = vec![x.dot(&self.p0())];
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            let h = out.last().expect("non-empty");
            let y = conv.layer().forward_graph(h.view(), graph)?;
            let r = h + &y;
            out.push(norm.forward_graph(r.view(), graph)?);
        }
        Ok(out)
    }

    /// [`Tower::forward_full`] for `x` over `graph`, given `old`, the outputs
    /// for the first `prev_rows` rows of `x` over a graph that differed from
    /// `graph` only in the lists of rows `changed` (rows are only appended):
    /// recomputes only the rows whose receptive field changed. Layer `l`'s
    /// dirty rows are the new ones, those with a changed list, those dirty at
    /// layer `l − 1` and those listing one of them; each layer runs on a block
    /// of its dirty rows and their neighbours. Equal to the full forward up to
    /// f32 rounding (the blocks' products may round differently).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `old` does not fit (layer count or shapes), or
    /// a layer error.
    pub(crate) fn forward_update(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        old: &[Array2<f32>],
        prev_rows: usize,
        changed: &[u32],
    ) -> Result<Vec<Array2<f32>>> {
        let (n, w) = (x.nrows(), self.width());
        if old.len() != self.convs.len() + 1
            || old.iter().any(|h| h.dim() != (prev_rows, w))
            || prev_rows > n
            || graph.n_rows() != n
        {
            return Err(Error::Invalid(
                "tower update: the old outputs do not fit the items".into(),
            ));
        }
        // `h` with zero rows appended up to `n`.
        let grown = |h: &Array2<f32>| {
            let mut g = Array2::<f32>::zeros((n, w));
            g.slice_mut(s![..prev_rows, ..]).assign(h);
            g
        };
        let mut h0 = grown(&old[0]);
        h0.slice_mut(s![prev_rows.., ..])
            .assign(&x.slice(s![prev_rows.., ..]).dot(&self.p0()));
        let mut out = vec![h0];
        let mut listed = vec![false; n];
        for &i in changed {
            listed[i as usize] = true;
        }
        listed[prev_rows..].fill(true);
        let mut dirty = vec![false; n];
        dirty[prev_rows..].fill(true);
        for (l, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            // Before the first layer only the new rows are dirty, and every
            // row listing one of them has a changed list: no scan needed.
            let rows: Vec<usize> = (0..n)
                .filter(|&i| {
                    dirty[i]
                        || listed[i]
                        || (l > 0 && graph.row(i).iter().any(|&j| dirty[j as usize]))
                })
                .collect();
            let h = &out[l];
            let mut next = grown(&old[l + 1]);
            if !rows.is_empty() {
                // The one-hop block training uses (every neighbour, so no
                // draw from the generator): the targets first (the root
                // rows), then their other neighbours, numbered locally.
                let batch =
                    NeighborSampler::full(1).sample(graph, &rows, &mut Rng::seed_from_u64(0))?;
                let block = &batch.blocks()[0];
                let src = h.select(ndarray::Axis(0), batch.input_nodes());
                let y = conv.forward_block(src.view(), block)?;
                let r = &src.slice(s![..rows.len(), ..]) + &y;
                let z = norm.forward_graph(r.view(), block)?;
                for (k, &i) in rows.iter().enumerate() {
                    next.row_mut(i).assign(&z.row(k));
                }
            }
            dirty.fill(false);
            for &i in &rows {
                dirty[i] = true;
            }
            out.push(next);
        }
        Ok(out)
    }

    /// The query as a new node attached to items `neigh`, whose layer
    /// outputs are `layers[l]` rows: returns `hᴸ` of the query.
    pub(crate) fn embed_query(
        &self,
        q: &[f32],
        neigh: &[usize],
        layers: &[Array2<f32>],
    ) -> Result<Array1<f32>> {
        let w = self.width();
        let k = neigh.len();
        // Node 0 = the query, nodes 1..=k its neighbours; only row 0 is read.
        let mut lists = vec![(1..=k).collect::<Vec<usize>>()];
        if self.kind == TowerKind::Gat {
            lists.resize(k + 1, Vec::new());
        }
        let block = Csr::from_lists(&lists, k + 1, false)
            .map_err(|e| Error::Invalid(format!("query block: {e}")))?;
        // The layer norm reads one row (the query's).
        let one = Csr::from_lists(&[Vec::<usize>::new()], 1, false)
            .map_err(|e| Error::Invalid(format!("query block: {e}")))?;
        let mut hq = ndarray::ArrayView1::from(q).dot(&self.p0());
        let mut src = Array2::<f32>::zeros((k + 1, w));
        for (l, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            src.row_mut(0).assign(&hq);
            for (r, &j) in neigh.iter().enumerate() {
                src.row_mut(r + 1).assign(&layers[l].row(j));
            }
            let y = conv.layer().forward_graph(src.view(), &block)?;
            let r = &y.row(0) + &hq;
            let z = norm.forward_graph(r.view().insert_axis(ndarray::Axis(0)), &one)?;
            hq = z.row(0).to_owned();
        }
        Ok(hq)
    }

    /// Training forward over a sampled batch (rows of `x_in` = the batch's input nodes).
    pub(crate) fn forward_train(
        &self,
        x_in: Array2<f32>,
        batch: &MiniBatch,
        fctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, TowerCache)> {
        let mut h = x_in.dot(&self.p0());
        let mut layers = Vec::with_capacity(self.convs.len());
        for ((conv, norm), block) in self.convs.iter().zip(&self.norms).zip(batch.blocks()) {
            let (t, n_src) = (block.n_rows(), h.nrows());
            let (y, c1) = conv.forward_train(h.view(), block, fctx)?;
            let r = &h.slice(s![..t, ..]) + &y;
            let (z, c2) = norm.forward_train(r.view(), block, fctx)?;
            layers.push((c1, c2, t, n_src));
            h = z;
        }
        Ok((h, TowerCache { x_in, layers }))
    }

    /// Gradients of the tower's parameters given `dL/dhᴸ` (one row per batch target).
    pub(crate) fn backward(&self, cache: &TowerCache, dy: Array2<f32>) -> Result<Gradients> {
        let kind = self.kind.name();
        let mut grads = Gradients::new();
        let mut g = dy;
        for (l, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate().rev() {
            let (c1, c2, t, n_src) = &cache.layers[l];
            let (dr, gn) = norm.backward(c2, g.view())?;
            grads.merge_prefixed(&format!("tower.norm.{l}."), gn);
            let (mut dh, gs) = conv.backward(c1, dr.view(), *n_src)?;
            grads.merge_prefixed(&format!("tower.{kind}.{l}."), gs);
            let mut top = dh.slice_mut(s![..*t, ..]);
            top += &dr;
            g = dh;
        }
        grads.insert("tower.p0", cache.x_in.t().dot(&g).into_dyn());
        Ok(grads)
    }

    /// The tower's parameters: `tower.p0`, `tower.<kind>.<l>.<name>`, `tower.norm.<l>.<name>`.
    pub(crate) fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let kind = self.kind.name();
        let mut v = vec![("tower.p0".to_string(), self.p0.view())];
        for (l, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            for (n, p) in conv.layer().named_parameters() {
                v.push((format!("tower.{kind}.{l}.{n}"), p));
            }
            for (n, p) in norm.named_parameters() {
                v.push((format!("tower.norm.{l}.{n}"), p));
            }
        }
        v
    }

    /// Mutable [`Tower::named_parameters`].
    pub(crate) fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let kind = self.kind.name();
        let mut v = vec![("tower.p0".to_string(), self.p0.view_mut())];
        for (l, (conv, norm)) in self.convs.iter_mut().zip(self.norms.iter_mut()).enumerate() {
            for (n, p) in conv.layer_mut().named_parameters_mut() {
                v.push((format!("tower.{kind}.{l}.{n}"), p));
            }
            for (n, p) in norm.named_parameters_mut() {
                v.push((format!("tower.norm.{l}.{n}"), p));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: usize = 6;
    const W: usize = 8;
    const N: usize = 30;

    /// A tower whose parameters are all random (not the zero start), so the
    /// convolutions matter.
    fn tower(kind: TowerKind) -> Tower {
        let mut rng = Rng::seed_from_u64(11);
        let mut t = Tower::new(kind, D, W, 2, 4, &mut rng, 5).unwrap();
        for (_, mut p) in t.named_parameters_mut() {
            p.mapv_inplace(|_| 0.3 * rng.normal_f32());
        }
        t
    }

    fn data() -> (Array2<f32>, Csr) {
        let mut rng = Rng::seed_from_u64(2);
        let x = Array2::from_shape_simple_fn((N, D), || rng.normal_f32());
        let lists: Vec<Vec<usize>> = (0..N)
            .map(|i| vec![(i + 1) % N, (i + 5) % N, (i * 7 + 3) % N])
            .collect();
        (x, Csr::from_adjacency(&lists).unwrap())
    }

    fn close(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, tol: f32) {
        assert_eq!(a.dim(), b.dim());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn kinds_round_trip_by_name_and_gat_checks_heads() {
        for k in [TowerKind::Sage, TowerKind::Gat] {
            assert_eq!(TowerKind::from_name(k.name()).unwrap(), k);
        }
        assert!(TowerKind::from_name("gcn").is_err());
        let mut rng = Rng::seed_from_u64(1);
        assert!(Tower::new(TowerKind::Gat, D, W, 1, 3, &mut rng, 0).is_err());
        assert!(Tower::new(TowerKind::Gat, D, W, 1, 0, &mut rng, 0).is_err());
        assert!(Tower::new(TowerKind::Sage, D, W, 1, 3, &mut rng, 0).is_ok());
    }

    #[test]
    fn mini_batch_forward_equals_the_full_forward_at_the_targets() {
        let (x, g) = data();
        for kind in [TowerKind::Sage, TowerKind::Gat] {
            let t = tower(kind);
            let full = t.forward_full(x.view(), &g).unwrap();
            // Sample sizes above the degree: whole neighbourhoods.
            let sampler = NeighborSampler::new(2, &[10, 10]).unwrap();
            let seeds = [3, 17, 29, 4];
            let mb = sampler
                .sample(&g, &seeds, &mut Rng::seed_from_u64(0))
                .unwrap();
            let x_in = x.select(ndarray::Axis(0), mb.input_nodes());
            let (h, _) = t
                .forward_train(x_in, &mb, &mut ForwardCtx::training(0))
                .unwrap();
            let got = h.select(ndarray::Axis(0), mb.output_rows());
            let want = full[2].select(ndarray::Axis(0), &seeds);
            close(got.view(), want.view(), 1e-5);
        }
    }

    #[test]
    fn the_query_node_equals_a_new_node_in_the_graph() {
        let (x, g) = data();
        let mut rng = Rng::seed_from_u64(9);
        let q: Vec<f32> = (0..D).map(|_| rng.normal_f32()).collect();
        let neigh = [2usize, 11, 20];
        // The graph with the query as node N (no item lists it).
        let mut lists = g.to_adjacency();
        lists.push(neigh.to_vec());
        let g2 = Csr::from_adjacency(&lists).unwrap();
        let mut x2 = Array2::zeros((N + 1, D));
        x2.slice_mut(s![..N, ..]).assign(&x);
        x2.row_mut(N).assign(&ndarray::ArrayView1::from(&q[..]));
        for kind in [TowerKind::Sage, TowerKind::Gat] {
            let t = tower(kind);
            let layers = t.forward_full(x.view(), &g).unwrap();
            let hq = t.embed_query(&q, &neigh, &layers).unwrap();
            let with_query = t.forward_full(x2.view(), &g2).unwrap();
            let want = with_query[2].slice(s![N..N + 1, ..]).to_owned();
            close(hq.view().insert_axis(ndarray::Axis(0)), want.view(), 1e-5);
        }
    }

    /// Rows appended and some lists changed: the update equals the full
    /// forward over the new graph, and it recomputed few rows.
    #[test]
    fn updates_equal_the_full_forward_after_appended_rows() {
        let (x, g) = data();
        let mut rng = Rng::seed_from_u64(4);
        let extra = Array2::from_shape_simple_fn((3, D), || rng.normal_f32());
        let x2 = ndarray::concatenate![ndarray::Axis(0), x, extra];
        let mut lists = g.to_adjacency();
        // New rows link to old ones; two old rows now list a new row.
        lists.push(vec![0, 1]);
        lists.push(vec![N, 7]);
        lists.push(vec![12]);
        lists[5] = vec![N + 1, 6];
        lists[9].push(N + 2);
        let g2 = Csr::from_adjacency(&lists).unwrap();
        for kind in [TowerKind::Sage, TowerKind::Gat] {
            let t = tower(kind);
            let old = t.forward_full(x.view(), &g).unwrap();
            let updated = t.forward_update(x2.view(), &g2, &old, N, &[5, 9]).unwrap();
            let full = t.forward_full(x2.view(), &g2).unwrap();
            assert_eq!(updated.len(), full.len());
            for (u, f) in updated.iter().zip(&full) {
                close(u.view(), f.view(), 1e-5);
            }
            // Rows far from the change keep their old outputs exactly.
            assert_eq!(updated[2].row(20), old[2].row(20));
            // Nothing changed: the old outputs come back.
            let same = t.forward_update(x.view(), &g, &old, N, &[]).unwrap();
            assert_eq!(same, old);
            assert!(t.forward_update(x2.view(), &g2, &old[1..], N, &[]).is_err());
        }
    }

    /// `L = Σ R ∘ hᴸ` over a sampled batch; the tower's backward against
    /// central differences in f32 (step 1e-2, relative tolerance 2e-2: the
    /// layer norms make the loss curved, so finer steps drown in rounding).
    #[test]
    fn backward_matches_finite_differences() {
        let (x, g) = data();
        let sampler = NeighborSampler::new(2, &[2, 2]).unwrap();
        for kind in [TowerKind::Sage, TowerKind::Gat] {
            let mut t = tower(kind);
            let mb = sampler
                .sample(&g, &[1, 8, 15], &mut Rng::seed_from_u64(4))
                .unwrap();
            let x_in = x.select(ndarray::Axis(0), mb.input_nodes());
            let loss = |t: &Tower| {
                let (h, _) = t
                    .forward_train(x_in.clone(), &mb, &mut ForwardCtx::training(0))
                    .unwrap();
                h.iter()
                    .enumerate()
                    .map(|(i, v)| v * ((i % 7) as f32 - 3.0) * 0.25)
                    .sum::<f32>()
            };
            let (h, cache) = t
                .forward_train(x_in.clone(), &mb, &mut ForwardCtx::training(0))
                .unwrap();
            let r = Array2::from_shape_fn(h.dim(), |(i, j)| {
                ((i * h.ncols() + j) % 7) as f32 * 0.25 - 0.75
            });
            let grads = t.backward(&cache, r).unwrap();
            let names: Vec<String> = t.named_parameters().into_iter().map(|(n, _)| n).collect();
            let mut checked = 0;
            for name in names {
                let Some(gp) = grads.get(&name) else {
                    panic!("{kind:?}: no gradient for {name}");
                };
                let gp = gp.clone();
                // A few coordinates per tensor.
                for k in [0usize, 3, 7] {
                    let Some(&analytic) = gp.iter().nth(k) else {
                        continue;
                    };
                    let set = |t: &mut Tower, delta: f32| {
                        for (n, mut p) in t.named_parameters_mut() {
                            if n == name {
                                if let Some(v) = p.iter_mut().nth(k) {
                                    *v += delta;
                                }
                            }
                        }
                    };
                    set(&mut t, 1e-2);
                    let up = loss(&t);
                    set(&mut t, -2e-2);
                    let down = loss(&t);
                    set(&mut t, 1e-2);
                    let fd = (up - down) / 2e-2;
                    assert!(
                        (fd - analytic).abs() <= 2e-2 * (1.0 + fd.abs().max(analytic.abs())),
                        "{kind:?} {name}[{k}]: fd {fd} vs analytic {analytic}"
                    );
                    checked += 1;
                }
            }
            assert!(checked > 20, "{kind:?}: {checked} coordinates");
        }
    }
}
