//! The seed's [`MessagePassing`] interface, plus helpers shared by the
//! message-passing layers ([`crate::GCNLayer`], [`crate::GATLayer`]).
//!
//! `MessagePassing` splits a layer into `aggregate` (gather from neighbours)
//! and `update` (combine with the node itself and project). Its two halves are
//! infallible in the seed's signature, so they are *lenient*: the fallible,
//! validating entry point is [`MessagePassing::forward`] (or the layers'
//! inherent `forward`, which also accepts a [`Csr`]).

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::{Csr, Rng};

use crate::error::{Error, Result};

/// The seed's message-passing interface.
///
/// For the layers of this crate, `update(&aggregate(x, adj), x)` equals
/// `forward(x, adj)` up to float rounding on valid input; the layers' own
/// documentation says what each half computes.
///
/// # Bad input in `aggregate` / `update`
/// These two methods cannot return an error, so:
/// - neighbour ids `>= features.nrows()` are **skipped**, duplicates and self
///   references are dropped (as [`Csr::from_adjacency`] does), nodes beyond
///   `neighbors.len()` have no neighbours and extra lists are ignored;
/// - a feature width the layer cannot use yields a matrix of the right
///   shape filled with `NaN`, so the mistake cannot pass unnoticed.
///
/// Use [`MessagePassing::forward`] to get a typed [`Error`] instead.
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{Activation, GCNLayer, GNNConfig, MessagePassing};
///
/// let gcn = GCNLayer::new(GNNConfig {
///     input_dim: 4,
///     output_dim: 3,
///     activation: Activation::Identity,
///     ..Default::default()
/// })?;
/// let x = Array2::<f32>::ones((3, 4));
/// let adj = vec![vec![1], vec![0, 2], vec![]];
/// let agg = gcn.aggregate(&x, &adj);
/// let two_step = gcn.update(&agg, &x);
/// let direct = MessagePassing::forward(&gcn, &x, &adj)?;
/// assert!((&two_step - &direct).iter().all(|d| d.abs() < 1e-5));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
pub trait MessagePassing {
    /// Gathers neighbour information for every node (lenient, see the trait docs).
    fn aggregate(&self, features: &Array2<f32>, neighbors: &[Vec<usize>]) -> Array2<f32>;

    /// Combines the aggregate with the nodes' own features into the output
    /// (lenient, see the trait docs).
    fn update(&self, aggregated: &Array2<f32>, self_features: &Array2<f32>) -> Array2<f32>;

    /// The full, validating layer forward.
    ///
    /// # Errors
    /// Wrong feature width, adjacency length different from the number of
    /// rows, out-of-range neighbours, non-finite input (when checked).
    fn forward(&self, features: &Array2<f32>, adjacency: &[Vec<usize>]) -> Result<Array2<f32>>;
}

/// A square graph over `n` nodes built leniently from neighbour lists:
/// out-of-range ids skipped, missing lists empty, extra lists ignored.
/// `None` only when `n` exceeds the 32-bit id space.
pub(crate) fn lenient_csr(neighbors: &[Vec<usize>], n: usize) -> Option<Csr> {
    let lists: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            neighbors
                .get(i)
                .map(|l| l.iter().copied().filter(|&j| j < n).collect())
                .unwrap_or_default()
        })
        .collect();
    Csr::from_lists(&lists, n, true).ok()
}

/// A `rows × cols` matrix of `NaN` (the lenient methods' "bad input" result).
pub(crate) fn nan_matrix(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_elem((rows, cols), f32::NAN)
}

/// Fails unless `graph` is square over `rows` nodes.
pub(crate) fn require_square(kind: &str, graph: &Csr, rows: usize) -> Result<()> {
    if !graph.is_square() {
        return Err(Error::shape(
            format!("{kind} graph (needs a square graph: targets == sources)"),
            format!("{0}x{0}", graph.n_cols()),
            format!("{}x{}", graph.n_rows(), graph.n_cols()),
        ));
    }
    graph.check_shape(rows, rows)?;
    Ok(())
}

/// Inverted-dropout scale factors (`0` or `1/(1-p)`), one per element, drawn
/// in order from `rng`. `None` when `p == 0`.
pub(crate) fn dropout_scales(len: usize, p: f32, rng: &mut Rng) -> Option<Vec<f32>> {
    if p <= 0.0 {
        return None;
    }
    let keep = 1.0 / (1.0 - p);
    Some(
        (0..len)
            .map(|_| if rng.bernoulli(p) { 0.0 } else { keep })
            .collect(),
    )
}

/// Validates features: width, then (optionally) finiteness.
pub(crate) fn check_features(x: &ArrayView2<'_, f32>, dim: usize, finite: bool) -> Result<()> {
    crate::check::width("node features", x, dim)?;
    if finite {
        crate::check::finite("node features", x)?;
    }
    Ok(())
}
