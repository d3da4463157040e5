//! The seed's [`MessagePassing`] interface, plus helpers shared by the
//! message-passing layers ([`crate::GCNLayer`], [`crate::GATLayer`]).
//!
//! `MessagePassing` splits a layer into `aggregate` (gather from neighbours)
//! and `update` (combine with the node itself and project). Its two halves are
//! infallible in the seed's signature, so they are *lenient*: the fallible,
//! validating entry point is [`MessagePassing::forward`] (or the layers'
//! inherent `forward`, which also accepts a [`Csr`]).

use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Size of a projected `nodes × out` intermediate (f32 bytes) from which the
/// GCN's [`crate::GcnOrder::Auto`] computes it half the source nodes at a
/// time ([`crate::GcnOrder::Halves`], when `input_dim >= output_dim`): half
/// the 32 MiB L3 of the benchmark machine (AMD EPYC, 2 cores). At 100K nodes
/// × 64 (25.6 MB) halves is as fast as projecting all at once and at × 128
/// (51.2 MB) 0.81 – 0.88× its time; at 10K – 30K nodes × 64 (2.6 – 7.7 MB,
/// where the whole intermediate stays in cache) it costs 1.1 – 1.2× (`benches/examples/gcn_orders.rs`, `docs/BENCHMARKS.md`
/// "Session 20"). (SAGE's mean/sum layers do not use halves: measured
/// 0.95 – 1.03× of their own paths at 128→64 and 128→128.)
pub const HALVES_MIN_BYTES: usize = 16 << 20;

/// Whether a `nodes × out` f32 intermediate reaches [`HALVES_MIN_BYTES`].
pub(crate) fn halves_pay(nodes: usize, out: usize) -> bool {
    nodes.saturating_mul(out).saturating_mul(4) >= HALVES_MIN_BYTES
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

/// Reusable scratch memory for repeated inference on large graphs.
///
/// Fresh memory is expensive to touch (page faults), so the layers' prepared
/// entry points ([`crate::GCNLayer::forward_normalized`],
/// [`crate::GATLayer::forward_prepared`]) take their intermediate buffers
/// from a `Workspace` and hand them back afterwards: after the first call on
/// a graph, later calls of the same size allocate nothing. A workspace holds
/// on to its largest buffers until dropped (see [`Workspace::capacity_bytes`]);
/// it can be shared between layers and is not tied to one graph.
///
/// The plain entry points (`forward`, [`crate::GraphLayer::forward_graph`],
/// `forward_graph_into`, GCN's and GAT's `forward_into`) borrow a workspace
/// kept per thread instead, so repeated
/// plain calls reuse their intermediates too (only the returned output is
/// fresh). That workspace keeps at most [`Workspace::thread_local_limit`]
/// bytes between calls (default [`THREAD_SCRATCH_MAX_BYTES`], 256 MiB; more is
/// freed after the call that needed it; [`Workspace::set_thread_local_limit`]
/// changes it for every thread, 0 keeps nothing);
/// [`Workspace::release_thread_local`] frees the calling thread's at once.
/// (The fused block paths' per-task buffers — at most 256 rows × a layer
/// width each, 128 KiB at 128 wide — are kept per thread apart from it.)
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{gcn::GcnNorm, message_passing::Workspace, Csr, GCNLayer, GNNConfig};
/// // 8 → 4 projects first: the 3 × 4 intermediate `X·W` lives in the workspace.
/// let gcn = GCNLayer::new(GNNConfig { input_dim: 8, output_dim: 4, ..Default::default() })?;
/// let g = Csr::from_adjacency(&[vec![1], vec![0], vec![]])?;
/// let norm = GcnNorm::new(&g)?;
/// let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
/// for _ in 0..3 {
///     gcn.forward_normalized(Array2::ones((3, 8)).view(), &g, &norm, &mut ws, &mut out)?;
/// }
/// assert!(ws.capacity_bytes() >= 3 * 4 * 4);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    slots: Vec<Vec<f32>>,
}

impl Workspace {
    /// An empty workspace (allocates on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes currently reserved.
    pub fn capacity_bytes(&self) -> usize {
        self.slots.iter().map(|s| s.capacity() * 4).sum::<usize>()
    }

    /// Takes buffer `slot`, resized to `len` zeros (capacity kept).
    pub(crate) fn take(&mut self, slot: usize, len: usize) -> Vec<f32> {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, Vec::new);
        }
        let mut v = std::mem::take(&mut self.slots[slot]);
        v.clear();
        ruvector_gnn_kernels::alloc::grow_zeroed(&mut v, len);
        v
    }

    /// Takes buffer `slot` resized to `len` without clearing it: the old
    /// contents stay (new entries are 0), for callers that overwrite every
    /// entry (saves a pass over memory that is written anyway).
    pub(crate) fn take_dirty(&mut self, slot: usize, len: usize) -> Vec<f32> {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, Vec::new);
        }
        let mut v = std::mem::take(&mut self.slots[slot]);
        ruvector_gnn_kernels::alloc::grow_zeroed(&mut v, len);
        v
    }

    /// [`Workspace::take_dirty`] as a `rows × cols` matrix.
    pub(crate) fn take_matrix_dirty(
        &mut self,
        slot: usize,
        rows: usize,
        cols: usize,
    ) -> Array2<f32> {
        Array2::from_shape_vec((rows, cols), self.take_dirty(slot, rows * cols))
            .unwrap_or_else(|_| Array2::zeros((rows, cols)))
    }

    /// [`Workspace::take_matrix_dirty`] with the first element on a 64-byte
    /// cache line, for intermediates whose rows are gathered at random: a
    /// 64-wide f32 row then spans 4 lines, not 5 (a large `Vec` starts 16
    /// bytes past a page with glibc), and at 100K nodes × 16 in-edges the
    /// gathers read a fifth fewer lines. Hand it back with
    /// [`Workspace::give_matrix`] (the whole buffer is kept).
    pub(crate) fn take_matrix_lines(
        &mut self,
        slot: usize,
        rows: usize,
        cols: usize,
    ) -> Array2<f32> {
        use ruvector_gnn_kernels::alloc::{matrix_at_line, LINE_F32};
        matrix_at_line(
            self.take_dirty(slot, rows * cols + LINE_F32 - 1),
            rows,
            cols,
        )
    }

    /// Takes buffer `slot` as a `rows × cols` zero matrix.
    pub(crate) fn take_matrix(&mut self, slot: usize, rows: usize, cols: usize) -> Array2<f32> {
        Array2::from_shape_vec((rows, cols), self.take(slot, rows * cols))
            .unwrap_or_else(|_| Array2::zeros((rows, cols)))
    }

    /// Returns a buffer taken with [`Workspace::take`].
    pub(crate) fn give(&mut self, slot: usize, v: Vec<f32>) {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, Vec::new);
        }
        self.slots[slot] = v;
    }

    /// Returns a matrix taken with [`Workspace::take_matrix`],
    /// [`Workspace::take_matrix_dirty`] or [`Workspace::take_matrix_lines`]
    /// (the whole buffer is kept, also the part before a line-aligned start).
    pub(crate) fn give_matrix(&mut self, slot: usize, m: Array2<f32>) {
        self.give(slot, m.into_raw_vec_and_offset().0);
    }

    /// Runs `f` with the calling thread's workspace (the plain entry
    /// points' scratch), or with a fresh one when this thread's is already
    /// lent out (a nested call; see [`lend_thread_local`]). Afterwards the
    /// thread's workspace is emptied if it holds more than
    /// [`Workspace::thread_local_limit`].
    pub(crate) fn with_thread_local<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
        lend_thread_local(&THREAD_WORKSPACE, |ws| {
            let r = f(ws);
            ws.trim(Self::thread_local_limit());
            r
        })
    }

    /// Frees every buffer when together they hold more than `max_bytes`.
    fn trim(&mut self, max_bytes: usize) {
        if self.capacity_bytes() > max_bytes {
            *self = Workspace::new();
        }
    }

    /// Bytes the calling thread's plain-entry-point scratch holds now.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Csr, GATLayer, AttentionConfig, GraphLayer, Workspace};
    /// let gat = GATLayer::new(AttentionConfig { input_dim: 4, output_dim: 2, num_heads: 2, ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
    /// gat.forward_graph(ndarray::Array2::ones((2, 4)).view(), &g)?;
    /// let kept = Workspace::thread_local_bytes(); // the projection and scores, for the next call
    /// assert!(kept > 0);
    /// assert_eq!(Workspace::release_thread_local(), kept);
    /// assert_eq!(Workspace::thread_local_bytes(), 0);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn thread_local_bytes() -> usize {
        THREAD_WORKSPACE
            .try_with(|cell| cell.try_borrow().map_or(0, |ws| ws.capacity_bytes()))
            .unwrap_or(0)
    }

    /// Most bytes a thread's plain-entry-point scratch keeps between calls
    /// (every thread's; [`THREAD_SCRATCH_MAX_BYTES`] unless set).
    pub fn thread_local_limit() -> usize {
        THREAD_SCRATCH_LIMIT.load(Ordering::Relaxed)
    }

    /// Sets [`Workspace::thread_local_limit`] for every thread, from each
    /// thread's next plain call on (0: plain calls keep nothing, as if each
    /// used a fresh workspace). Scratch already kept is not freed here; see
    /// [`Workspace::release_thread_local`].
    ///
    /// ```
    /// use ruvector_gnn_layers::{Csr, GATLayer, AttentionConfig, GraphLayer, Workspace};
    /// let gat = GATLayer::new(AttentionConfig { input_dim: 4, output_dim: 2, num_heads: 2, ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
    /// Workspace::set_thread_local_limit(0);
    /// gat.forward_graph(ndarray::Array2::ones((2, 4)).view(), &g)?;
    /// assert_eq!(Workspace::thread_local_bytes(), 0);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn set_thread_local_limit(bytes: usize) {
        THREAD_SCRATCH_LIMIT.store(bytes, Ordering::Relaxed);
    }

    /// Frees the calling thread's plain-entry-point scratch; returns the
    /// bytes freed (0 while a call on this thread is using it). Only the
    /// calling thread's: plain calls made on Rayon's threads keep theirs
    /// (free those with `rayon::broadcast(|_| Workspace::release_thread_local())`,
    /// or keep nothing with [`Workspace::set_thread_local_limit`]`(0)`).
    pub fn release_thread_local() -> usize {
        THREAD_WORKSPACE
            .try_with(|cell| {
                cell.try_borrow_mut().map_or(0, |mut ws| {
                    let bytes = ws.capacity_bytes();
                    *ws = Workspace::new();
                    bytes
                })
            })
            .unwrap_or(0)
    }
}

/// Runs `f` with the calling thread's value in `key`, or with a fresh
/// `T::default()` when this thread's is already lent out (a nested call on
/// the same thread, e.g. a Rayon task stolen while a layer holds it) or its
/// thread-locals are being destroyed. The per-thread scratch of the plain
/// entry points ([`Workspace::with_thread_local`]) and of the fused block
/// kernels (`fused::project_row_blocks`) both go through it.
pub(crate) fn lend_thread_local<T: Default + 'static, R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut f = Some(f);
    let lent = key.try_with(|cell| {
        let mut value = cell.try_borrow_mut().ok()?;
        Some((f.take()?)(&mut value))
    });
    if let Ok(Some(r)) = lent {
        return r;
    }
    // Not lent: `f` has not run; a fresh value then.
    let f = f.expect("`f` runs only when the value is lent");
    f(&mut T::default())
}

/// The default of [`Workspace::thread_local_limit`]: 256 MiB per thread
/// (at 100K nodes a 128→64 GCN or GAT layer keeps 26–32 MB, a `Sequential`
/// of SAGE 128→128→64 ≈ 26 MB, the fused pair's projected rows). Larger
/// scratch is freed after the call that needed it.
pub const THREAD_SCRATCH_MAX_BYTES: usize = 256 << 20;

/// [`Workspace::set_thread_local_limit`]'s value.
static THREAD_SCRATCH_LIMIT: AtomicUsize = AtomicUsize::new(THREAD_SCRATCH_MAX_BYTES);

thread_local! {
    /// [`Workspace::with_thread_local`]'s workspace.
    static THREAD_WORKSPACE: std::cell::RefCell<Workspace> =
        std::cell::RefCell::new(Workspace::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread's workspace is lent once; a nested borrow gets a fresh
    /// one, and what the outer call gives back is kept (under the cap).
    #[test]
    fn thread_workspace_nests_and_keeps_its_buffers() {
        Workspace::release_thread_local();
        Workspace::with_thread_local(|outer| {
            let v = outer.take(0, 100);
            Workspace::with_thread_local(|inner| {
                assert_eq!(inner.capacity_bytes(), 0, "nested: a fresh workspace");
                inner.give(0, vec![0.0; 10_000]);
            });
            outer.give(0, v);
        });
        assert_eq!(Workspace::thread_local_bytes(), 100 * 4);
        assert_eq!(Workspace::release_thread_local(), 100 * 4);
        assert_eq!(Workspace::thread_local_bytes(), 0);
    }

    /// Gathered intermediates start on a cache line (large buffers from
    /// the huge-page path, small ones, empty ones), keep their values'
    /// layout row-major, and go back whole: the next take reuses the buffer.
    #[test]
    fn line_matrices_start_on_a_line_and_are_reused() {
        let mut ws = Workspace::new();
        for (rows, cols) in [(100_000, 64), (3, 5), (0, 64), (7, 0)] {
            let mut m = ws.take_matrix_lines(1, rows, cols);
            assert_eq!(m.dim(), (rows, cols));
            assert!(m.is_standard_layout());
            if rows * cols > 0 {
                assert_eq!(m.as_ptr() as usize % 64, 0, "{rows} × {cols}");
            }
            m.fill(2.0);
            assert!(m.as_slice().is_some_and(|s| s.len() == rows * cols));
            ws.give_matrix(1, m);
        }
        let kept = ws.capacity_bytes();
        assert!(kept >= 100_000 * 64 * 4);
        let m = ws.take_matrix_lines(1, 1000, 64);
        assert_eq!(m.as_ptr() as usize % 64, 0);
        ws.give_matrix(1, m);
        assert_eq!(ws.capacity_bytes(), kept, "the buffer was reused");
    }

    /// Over the cap, every buffer goes; at or under it, all stay.
    #[test]
    fn trim_frees_only_over_the_cap() {
        let mut ws = Workspace::new();
        ws.give(0, Vec::with_capacity(64));
        ws.give(3, Vec::with_capacity(36));
        ws.trim(400);
        assert_eq!(ws.capacity_bytes(), 400);
        ws.trim(399);
        assert_eq!(ws.capacity_bytes(), 0);
    }
}
