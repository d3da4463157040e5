//! Deep GCN and GAT stacks from the seed's configs and a layer count (the
//! seed's `num_layers`, which [`crate::SAGEConfig`] carries for GraphSAGE):
//! [`Sequential::gcn_stack`] and [`Sequential::gat_stack`] build the
//! papers' layouts, so a model is one call instead of a hand-built list.

use crate::activation_layer::ActivationLayer;
use crate::config::{check_positive, Activation, AttentionConfig, GNNConfig};
use crate::dropout::Dropout;
use crate::error::Result;
use crate::gat::GATLayer;
use crate::gcn::GCNLayer;
use crate::sequential::Sequential;

impl Sequential {
    /// `num_layers` GCN layers `input_dim → hidden_dim → … → output_dim`
    /// (one layer: `input_dim → output_dim`), as in Kipf & Welling: each
    /// layer applies `config.dropout` to its input (in training) and every
    /// layer but the last `config.activation`; the last is linear (logits
    /// or embeddings). Layer `l` draws its weights from `seed + l`.
    /// `num_heads` is not used.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, GNNConfig, GraphLayer, Sequential};
    /// let config = GNNConfig {
    ///     input_dim: 1433,
    ///     hidden_dim: 16,
    ///     output_dim: 7,
    ///     dropout: 0.5,
    ///     activation: Activation::ReLU,
    ///     ..Default::default()
    /// };
    /// let model = Sequential::gcn_stack(&config, 2, 0)?;
    /// assert_eq!((model.len(), model.input_dim(), model.output_dim()), (2, 1433, 7));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Config`] for `num_layers` 0 or a configuration the
    /// layers refuse (a zero width, a dropout outside `[0, 1)`).
    pub fn gcn_stack(config: &GNNConfig, num_layers: usize, seed: u64) -> Result<Self> {
        check_positive("GCN stack num_layers", num_layers)?;
        let mut m = Sequential::new(Vec::new());
        for l in 0..num_layers {
            let last = l + 1 == num_layers;
            let c = GNNConfig {
                input_dim: if l == 0 {
                    config.input_dim
                } else {
                    config.hidden_dim
                },
                output_dim: if last {
                    config.output_dim
                } else {
                    config.hidden_dim
                },
                activation: if last {
                    Activation::Identity
                } else {
                    config.activation
                },
                ..config.clone()
            };
            m.push(Box::new(GCNLayer::with_seed(
                c,
                seed.wrapping_add(l as u64),
            )?))?;
        }
        Ok(m)
    }

    /// `num_layers` GAT layers as in Veličković et al.: dropout
    /// (`hidden.dropout`) on every layer's input, `hidden` (its
    /// `num_heads` heads of `output_dim` features, concatenated) for every
    /// layer but the last, each followed by `activation` (the paper: ELU),
    /// and a last layer of one head with `output_dim` features (logits or
    /// embeddings). Attention dropout and the LeakyReLU slope come from
    /// `hidden` for every layer. Layer `l` draws its weights from `seed + l`.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, AttentionConfig, GraphLayer, Sequential};
    /// let hidden = AttentionConfig {
    ///     input_dim: 1433,
    ///     output_dim: 8,
    ///     num_heads: 8,
    ///     concat_heads: true,
    ///     dropout: 0.6,
    ///     leaky_relu_slope: 0.2,
    /// };
    /// let model = Sequential::gat_stack(&hidden, 7, 2, Activation::ELU(1.0), 0)?;
    /// assert_eq!((model.input_dim(), model.output_dim()), (1433, 7));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// The hidden width is `num_heads · output_dim` with
    /// `hidden.concat_heads`, else `output_dim` (heads averaged).
    ///
    /// # Errors
    /// [`crate::Error::Config`] for `num_layers` or `output_dim` 0, or a
    /// configuration the layers refuse.
    pub fn gat_stack(
        hidden: &AttentionConfig,
        output_dim: usize,
        num_layers: usize,
        activation: Activation,
        seed: u64,
    ) -> Result<Self> {
        check_positive("GAT stack num_layers", num_layers)?;
        check_positive("GAT stack output_dim", output_dim)?;
        let width = if hidden.concat_heads {
            hidden.output_dim * hidden.num_heads
        } else {
            hidden.output_dim
        };
        let mut m = Sequential::new(Vec::new());
        for l in 0..num_layers {
            let last = l + 1 == num_layers;
            let input_dim = if l == 0 { hidden.input_dim } else { width };
            m.push(Box::new(Dropout::new(input_dim, hidden.dropout)?))?;
            let c = if last {
                AttentionConfig {
                    input_dim,
                    output_dim,
                    num_heads: 1,
                    concat_heads: false,
                    ..hidden.clone()
                }
            } else {
                AttentionConfig {
                    input_dim,
                    ..hidden.clone()
                }
            };
            m.push(Box::new(GATLayer::with_seed(
                c,
                seed.wrapping_add(l as u64),
            )?))?;
            if !last {
                m.push(Box::new(ActivationLayer::new(width, activation)?))?;
            }
        }
        Ok(m)
    }
}
