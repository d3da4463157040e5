//! [`LayerSpec`]: a plain description of one layer (kind, dimensions,
//! options) that can be built into a boxed [`GraphLayer`], and read from the
//! reference fixtures' `case.json`.
//!
//! ```
//! use ruvector_gnn_layers::{GraphLayer, LayerSpec};
//!
//! let case = serde_json::json!({
//!     "kind": "gat", "in_dim": 8, "out_dim": 4, "heads": 2,
//!     "concat": false, "negative_slope": 0.2
//! });
//! let spec = LayerSpec::from_case_json(&case)?;
//! let layer = spec.build(1)?;
//! assert_eq!((layer.kind(), layer.input_dim(), layer.output_dim()), ("gat", 8, 4));
//! assert!(LayerSpec::from_case_json(&serde_json::json!({"kind": "mlp"})).is_err());
//! # Ok::<(), ruvector_gnn_layers::Error>(())
//! ```

use serde_json::Value;

use crate::config::{Activation, Aggregator, AttentionConfig, GNNConfig};
use crate::error::{Error, Result};
use crate::gat::GATLayer;
use crate::gcn::GCNLayer;
use crate::layer::GraphLayer;
use crate::norm::LayerNorm;
use crate::sage::SAGELayer;

/// One layer, described by plain values.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LayerSpec {
    /// A [`GCNLayer`].
    Gcn {
        /// Input width.
        input_dim: usize,
        /// Output width.
        output_dim: usize,
        /// Activation after the convolution (`Identity` for plain PyG `GCNConv`).
        activation: Activation,
        /// Input dropout in training.
        dropout: f32,
    },
    /// A [`GATLayer`].
    Gat {
        /// Input width.
        input_dim: usize,
        /// Output width per head.
        output_dim: usize,
        /// Number of heads.
        heads: usize,
        /// Concatenate (`true`) or average the heads.
        concat: bool,
        /// LeakyReLU slope of the attention scores.
        negative_slope: f32,
        /// Attention dropout in training.
        dropout: f32,
    },
    /// A [`SAGELayer`].
    Sage {
        /// Input width.
        input_dim: usize,
        /// Output width.
        output_dim: usize,
        /// Neighbourhood aggregator.
        aggregator: Aggregator,
        /// L2-normalise output rows.
        normalize: bool,
    },
    /// A [`LayerNorm`] over rows.
    LayerNorm {
        /// Row width.
        dim: usize,
        /// Variance epsilon (PyTorch default `1e-5`).
        eps: f32,
    },
}

impl LayerSpec {
    /// The kind name, as in `case.json` and [`GraphLayer::kind`].
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Gcn { .. } => "gcn",
            LayerSpec::Gat { .. } => "gat",
            LayerSpec::Sage { .. } => "sage",
            LayerSpec::LayerNorm { .. } => "layernorm",
        }
    }

    /// Input width of the layer.
    pub fn input_dim(&self) -> usize {
        match *self {
            LayerSpec::Gcn { input_dim, .. }
            | LayerSpec::Gat { input_dim, .. }
            | LayerSpec::Sage { input_dim, .. } => input_dim,
            LayerSpec::LayerNorm { dim, .. } => dim,
        }
    }

    /// Output width of the layer (for GAT: `heads·output_dim` when concatenating).
    pub fn output_dim(&self) -> usize {
        match *self {
            LayerSpec::Gcn { output_dim, .. } | LayerSpec::Sage { output_dim, .. } => output_dim,
            LayerSpec::Gat {
                output_dim,
                heads,
                concat,
                ..
            } => {
                if concat {
                    heads * output_dim
                } else {
                    output_dim
                }
            }
            LayerSpec::LayerNorm { dim, .. } => dim,
        }
    }

    /// Builds the layer with parameters initialised from `seed`.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid values, or for a kind whose layer is not
    /// part of this build.
    pub fn build(&self, seed: u64) -> Result<Box<dyn GraphLayer>> {
        match self {
            LayerSpec::Gcn { .. } => Ok(Box::new(GCNLayer::with_seed(self.gcn_config()?, seed)?)),
            LayerSpec::Gat { .. } => Ok(Box::new(GATLayer::with_seed(self.gat_config()?, seed)?)),
            LayerSpec::Sage {
                input_dim,
                output_dim,
                aggregator,
                normalize,
            } => Ok(Box::new(SAGELayer::new(
                *input_dim,
                *output_dim,
                *aggregator,
                *normalize,
                seed,
            )?)),
            LayerSpec::LayerNorm { dim, eps } => Ok(Box::new(LayerNorm::new(*dim, *eps)?)),
        }
    }

    /// The concrete [`GCNLayer`] of a `Gcn` spec.
    ///
    /// # Errors
    /// [`Error::Config`] if the spec is another kind, else as [`GCNLayer::with_seed`].
    pub fn build_gcn(&self, seed: u64) -> Result<GCNLayer> {
        GCNLayer::with_seed(self.gcn_config()?, seed)
    }

    /// The concrete [`GATLayer`] of a `Gat` spec (gives access to attention weights).
    ///
    /// # Errors
    /// [`Error::Config`] if the spec is another kind, else as [`GATLayer::with_seed`].
    pub fn build_gat(&self, seed: u64) -> Result<GATLayer> {
        GATLayer::with_seed(self.gat_config()?, seed)
    }

    fn gcn_config(&self) -> Result<GNNConfig> {
        match *self {
            LayerSpec::Gcn {
                input_dim,
                output_dim,
                activation,
                dropout,
            } => Ok(GNNConfig {
                input_dim,
                output_dim,
                hidden_dim: output_dim,
                num_heads: 1,
                dropout,
                activation,
            }),
            _ => Err(Error::Config(format!(
                "a '{}' spec is not a GCN layer",
                self.kind()
            ))),
        }
    }

    fn gat_config(&self) -> Result<AttentionConfig> {
        match *self {
            LayerSpec::Gat {
                input_dim,
                output_dim,
                heads,
                concat,
                negative_slope,
                dropout,
            } => Ok(AttentionConfig {
                input_dim,
                output_dim,
                num_heads: heads,
                concat_heads: concat,
                dropout,
                leaky_relu_slope: negative_slope,
            }),
            _ => Err(Error::Config(format!(
                "a '{}' spec is not a GAT layer",
                self.kind()
            ))),
        }
    }

    /// Reads a fixture `case.json` (see `/work/shared/fixtures/README.md`):
    /// `kind` (`"gcn"`, `"gat"`, `"sage"`, `"layernorm"`), `in_dim`,
    /// `out_dim`, and per kind `heads`, `concat`, `negative_slope` (GAT),
    /// `aggr`, `normalize` (SAGE), `eps` (layer norm, default `1e-5`).
    /// Optional everywhere: `activation` (name as [`Activation::name`],
    /// default `identity`), `dropout` (default 0).
    ///
    /// # Errors
    /// [`Error::Config`] naming a missing/ill-typed key or an unknown kind.
    pub fn from_case_json(case: &Value) -> Result<Self> {
        let kind = case
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Config("case.json: missing string key 'kind'".to_string()))?;
        let dropout = opt_f32(case, "dropout")?.unwrap_or(0.0);
        match kind {
            "gcn" => Ok(LayerSpec::Gcn {
                input_dim: req_usize(case, "in_dim")?,
                output_dim: req_usize(case, "out_dim")?,
                activation: activation(case)?,
                dropout,
            }),
            "gat" => Ok(LayerSpec::Gat {
                input_dim: req_usize(case, "in_dim")?,
                output_dim: req_usize(case, "out_dim")?,
                heads: opt_usize(case, "heads")?.unwrap_or(1),
                concat: opt_bool(case, "concat")?.unwrap_or(true),
                negative_slope: opt_f32(case, "negative_slope")?.unwrap_or(0.2),
                dropout,
            }),
            "sage" => {
                let aggr = case.get("aggr").and_then(Value::as_str).unwrap_or("mean");
                let aggregator = match aggr {
                    "mean" => Aggregator::Mean,
                    "max" => Aggregator::Max,
                    "sum" | "add" => Aggregator::Sum,
                    "lstm" => Aggregator::Lstm,
                    other => {
                        return Err(Error::Config(format!(
                            "case.json: unknown SAGE aggregator '{other}'"
                        )))
                    }
                };
                Ok(LayerSpec::Sage {
                    input_dim: req_usize(case, "in_dim")?,
                    output_dim: req_usize(case, "out_dim")?,
                    aggregator,
                    normalize: opt_bool(case, "normalize")?.unwrap_or(false),
                })
            }
            "layernorm" => Ok(LayerSpec::LayerNorm {
                dim: req_usize(case, "in_dim")?,
                eps: opt_f32(case, "eps")?.unwrap_or(1e-5),
            }),
            other => Err(Error::Config(format!("unknown layer kind '{other}'"))),
        }
    }
}

fn req_usize(case: &Value, key: &str) -> Result<usize> {
    opt_usize(case, key)?
        .ok_or_else(|| Error::Config(format!("case.json: missing integer key '{key}'")))
}

fn opt_usize(case: &Value, key: &str) -> Result<Option<usize>> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(|u| Some(u as usize)).ok_or_else(|| {
            Error::Config(format!(
                "case.json: '{key}' must be a non-negative integer, got {v}"
            ))
        }),
    }
}

fn opt_f32(case: &Value, key: &str) -> Result<Option<f32>> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|f| Some(f as f32))
            .ok_or_else(|| Error::Config(format!("case.json: '{key}' must be a number, got {v}"))),
    }
}

fn opt_bool(case: &Value, key: &str) -> Result<Option<bool>> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| Error::Config(format!("case.json: '{key}' must be a boolean, got {v}"))),
    }
}

/// `activation` (name) and its optional parameter `activation_param`
/// (LeakyReLU slope, default 0.01; ELU alpha, default 1).
fn activation(case: &Value) -> Result<Activation> {
    let Some(v) = case.get("activation") else {
        return Ok(Activation::Identity);
    };
    let name = v.as_str().ok_or_else(|| {
        Error::Config(format!("case.json: 'activation' must be a string, got {v}"))
    })?;
    let param = opt_f32(case, "activation_param")?;
    Ok(match name {
        "identity" | "none" | "linear" => Activation::Identity,
        "relu" => Activation::ReLU,
        "leaky_relu" => Activation::LeakyReLU(param.unwrap_or(0.01)),
        "elu" => Activation::ELU(param.unwrap_or(1.0)),
        "gelu" => Activation::GELU,
        "tanh" => Activation::Tanh,
        "sigmoid" => Activation::Sigmoid,
        other => {
            return Err(Error::Config(format!(
                "case.json: unknown activation '{other}'"
            )))
        }
    })
}
