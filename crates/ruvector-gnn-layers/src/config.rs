//! The seed's configuration types: [`GNNConfig`], [`AttentionConfig`],
//! [`SAGEConfig`], [`Activation`] and [`Aggregator`].

use ruvector_gnn_kernels::activation::Act;

use crate::error::{Error, Result};

/// Activation applied after a layer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    ReLU,
    /// Leaky ReLU with the given negative slope.
    LeakyReLU(f32),
    /// ELU with the given alpha (the GAT paper uses 1.0).
    ELU(f32),
    /// Exact (erf) GELU.
    GELU,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// No activation.
    Identity,
}

impl Activation {
    /// The kernel-level function.
    pub fn to_act(self) -> Act {
        match self {
            Activation::ReLU => Act::Relu,
            Activation::LeakyReLU(s) => Act::LeakyRelu(s),
            Activation::ELU(a) => Act::Elu(a),
            Activation::GELU => Act::Gelu,
            Activation::Tanh => Act::Tanh,
            Activation::Sigmoid => Act::Sigmoid,
            Activation::Identity => Act::Identity,
        }
    }

    /// Stable lowercase name (used in saved model configs).
    pub fn name(self) -> &'static str {
        match self {
            Activation::ReLU => "relu",
            Activation::LeakyReLU(_) => "leaky_relu",
            Activation::ELU(_) => "elu",
            Activation::GELU => "gelu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }
}

/// Neighbourhood aggregation of GraphSAGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregator {
    /// Mean of neighbour features (zeros for no neighbours).
    #[default]
    Mean,
    /// Elementwise max (zeros for no neighbours).
    Max,
    /// Sum of neighbour features.
    Sum,
    /// Last hidden state of an LSTM reading the neighbours in list order.
    Lstm,
}

impl Aggregator {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Aggregator::Mean => "mean",
            Aggregator::Max => "max",
            Aggregator::Sum => "sum",
            Aggregator::Lstm => "lstm",
        }
    }
}

/// Configuration of a GCN layer (and the seed's general layer config).
///
/// ```
/// use ruvector_gnn_layers::{Activation, GNNConfig};
/// let c = GNNConfig { input_dim: 32, output_dim: 8, ..Default::default() };
/// assert_eq!(c.activation, Activation::ReLU);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GNNConfig {
    /// Input feature width.
    pub input_dim: usize,
    /// Output feature width.
    pub output_dim: usize,
    /// Hidden width for multi-layer models.
    pub hidden_dim: usize,
    /// Attention heads (GAT models).
    pub num_heads: usize,
    /// Dropout probability on the layer's input during training.
    pub dropout: f32,
    /// Activation applied to the output.
    pub activation: Activation,
}

impl Default for GNNConfig {
    fn default() -> Self {
        Self {
            input_dim: 128,
            output_dim: 64,
            hidden_dim: 128,
            num_heads: 4,
            dropout: 0.1,
            activation: Activation::ReLU,
        }
    }
}

/// Configuration of a multi-head graph attention layer.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionConfig {
    /// Input feature width.
    pub input_dim: usize,
    /// Output width *per head*.
    pub output_dim: usize,
    /// Number of attention heads.
    pub num_heads: usize,
    /// Concatenate heads (`heads·output_dim` wide) or average them (`output_dim`).
    pub concat_heads: bool,
    /// Dropout on the attention coefficients during training.
    pub dropout: f32,
    /// Negative slope of the LeakyReLU on attention scores (0.2 in the paper).
    pub leaky_relu_slope: f32,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        Self {
            input_dim: 128,
            output_dim: 8,
            num_heads: 8,
            concat_heads: true,
            dropout: 0.0,
            leaky_relu_slope: 0.2,
        }
    }
}

/// Configuration of a GraphSAGE model.
#[derive(Debug, Clone, PartialEq)]
pub struct SAGEConfig {
    /// Input feature width.
    pub input_dim: usize,
    /// Output width of the last layer.
    pub output_dim: usize,
    /// Number of SAGE layers.
    pub num_layers: usize,
    /// Neighbourhood aggregator.
    pub aggregator: Aggregator,
    /// Neighbours sampled per node at each layer (outermost hop first, as in
    /// PyG's `num_neighbors`); empty = use all neighbours.
    pub sample_sizes: Vec<usize>,
    /// L2-normalise each output row of every layer.
    pub normalize: bool,
}

impl Default for SAGEConfig {
    fn default() -> Self {
        Self {
            input_dim: 128,
            output_dim: 64,
            num_layers: 2,
            aggregator: Aggregator::Mean,
            sample_sizes: Vec::new(),
            normalize: false,
        }
    }
}

/// Fails unless `p` is a probability in `[0, 1)`.
///
/// # Errors
/// [`Error::Config`] naming the value.
pub fn check_dropout(p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::Config(format!("dropout must be in [0, 1), got {p}")));
    }
    Ok(())
}

/// Fails unless `v > 0`.
///
/// # Errors
/// [`Error::Config`] naming `what`.
pub fn check_positive(what: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::Config(format!("{what} must be at least 1")));
    }
    Ok(())
}
