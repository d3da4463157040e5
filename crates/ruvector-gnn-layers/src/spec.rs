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
use crate::{ActivationLayer, Dropout, Residual, Sequential};

/// Mixed into the seed of a residual projection built by [`LayerSpec::build`].
pub const RESIDUAL_SEED_MIX: u64 = 0x7265_7369_6475_616c;

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
        /// Activation applied last (`Identity` for plain PyG `SAGEConv`).
        activation: Activation,
        /// Whether the root term `x_i·W_root` is used (PyG `root_weight`).
        root_weight: bool,
    },
    /// A [`LayerNorm`] over rows.
    LayerNorm {
        /// Row width.
        dim: usize,
        /// Variance epsilon (PyTorch default `1e-5`).
        eps: f32,
    },
    /// A [`Dropout`] layer (identity at inference).
    Dropout {
        /// Row width.
        dim: usize,
        /// Drop probability in training.
        p: f32,
    },
    /// An [`ActivationLayer`].
    Activation {
        /// Row width.
        dim: usize,
        /// The function.
        activation: Activation,
    },
    /// A [`Residual`] connection around `inner` (with a learned projection
    /// `proj.weight` when the inner layer changes the width).
    Residual {
        /// The wrapped layer.
        inner: Box<LayerSpec>,
    },
    /// A [`Sequential`] stack.
    Sequential {
        /// The layers, first to last.
        layers: Vec<LayerSpec>,
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
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Activation { .. } => "activation",
            LayerSpec::Residual { .. } => "residual",
            LayerSpec::Sequential { .. } => "sequential",
        }
    }

    /// Input width of the layer.
    pub fn input_dim(&self) -> usize {
        match *self {
            LayerSpec::Gcn { input_dim, .. }
            | LayerSpec::Gat { input_dim, .. }
            | LayerSpec::Sage { input_dim, .. } => input_dim,
            LayerSpec::LayerNorm { dim, .. }
            | LayerSpec::Dropout { dim, .. }
            | LayerSpec::Activation { dim, .. } => dim,
            LayerSpec::Residual { ref inner } => inner.input_dim(),
            LayerSpec::Sequential { ref layers } => layers.first().map_or(0, LayerSpec::input_dim),
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
            LayerSpec::LayerNorm { dim, .. }
            | LayerSpec::Dropout { dim, .. }
            | LayerSpec::Activation { dim, .. } => dim,
            LayerSpec::Residual { ref inner } => inner.output_dim(),
            LayerSpec::Sequential { ref layers } => layers.last().map_or(0, LayerSpec::output_dim),
        }
    }

    /// Builds the layer with parameters initialised from `seed` (layer `i`
    /// of a `Sequential` from `seed + i`; a residual projection from
    /// `seed ^ RESIDUAL_SEED_MIX`).
    ///
    /// # Errors
    /// [`Error::Config`] for invalid values, or for a kind whose layer is not
    /// part of this build; [`Error::Shape`] for a `Sequential` whose widths
    /// do not chain.
    pub fn build(&self, seed: u64) -> Result<Box<dyn GraphLayer>> {
        match self {
            LayerSpec::Gcn { .. } => Ok(Box::new(GCNLayer::with_seed(self.gcn_config()?, seed)?)),
            LayerSpec::Gat { .. } => Ok(Box::new(GATLayer::with_seed(self.gat_config()?, seed)?)),
            LayerSpec::Sage { .. } => Ok(Box::new(self.build_sage(seed)?)),
            LayerSpec::LayerNorm { dim, eps } => Ok(Box::new(LayerNorm::new(*dim, *eps)?)),
            LayerSpec::Dropout { dim, p } => Ok(Box::new(Dropout::new(*dim, *p)?)),
            LayerSpec::Activation { dim, activation } => {
                Ok(Box::new(ActivationLayer::new(*dim, *activation)?))
            }
            LayerSpec::Residual { inner } => Ok(Box::new(Residual::new(
                inner.build(seed)?,
                seed ^ RESIDUAL_SEED_MIX,
            )?)),
            LayerSpec::Sequential { .. } => Ok(Box::new(self.build_sequential(seed)?)),
        }
    }

    /// The concrete [`SAGELayer`] of a `Sage` spec.
    ///
    /// # Errors
    /// [`Error::Config`] if the spec is another kind, else as [`SAGELayer::new`].
    pub fn build_sage(&self, seed: u64) -> Result<SAGELayer> {
        match *self {
            LayerSpec::Sage {
                input_dim,
                output_dim,
                aggregator,
                normalize,
                activation,
                root_weight,
            } => Ok(
                SAGELayer::new(input_dim, output_dim, aggregator, normalize, seed)?
                    .with_activation(activation)
                    .with_root_weight(root_weight),
            ),
            _ => Err(Error::Config(format!(
                "a '{}' spec is not a SAGE layer",
                self.kind()
            ))),
        }
    }

    /// The concrete [`Sequential`] of a `Sequential` spec (layer `i` drawn
    /// from `seed + i`).
    ///
    /// # Errors
    /// [`Error::Config`] if the spec is another kind or a layer is invalid,
    /// [`Error::Shape`] if consecutive widths differ.
    pub fn build_sequential(&self, seed: u64) -> Result<Sequential> {
        let LayerSpec::Sequential { layers } = self else {
            return Err(Error::Config(format!(
                "a '{}' spec is not a Sequential",
                self.kind()
            )));
        };
        let mut m = Sequential::new(Vec::with_capacity(layers.len()));
        for (i, l) in layers.iter().enumerate() {
            m.push(l.build(seed.wrapping_add(i as u64))?)?;
        }
        Ok(m)
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

    /// Reads a fixture `case.json` (see `/work/shared/fixtures/README.md`);
    /// the same schema as [`LayerSpec::from_json`].
    ///
    /// # Errors
    /// [`Error::Config`] naming a missing/ill-typed key or an unknown kind.
    pub fn from_case_json(case: &Value) -> Result<Self> {
        Self::from_json(case)
    }

    /// Parses the JSON form written by [`LayerSpec::to_json`] (a superset
    /// of the fixtures' `case.json`): `kind` (`"gcn"`, `"gat"`, `"sage"`,
    /// `"layernorm"`, `"dropout"`, `"activation"`, `"residual"`,
    /// `"sequential"`), `in_dim`, `out_dim`, and per kind `heads`, `concat`,
    /// `negative_slope` (GAT), `aggr`, `normalize`, `root_weight` (SAGE),
    /// `eps` (layer norm, default `1e-5`), `p` (dropout layer), `inner`
    /// (residual), `layers` (sequential). Optional: `activation` (name as
    /// [`Activation::name`], default `identity`) with `activation_param`
    /// (LeakyReLU slope, ELU alpha), `dropout` (GCN input / GAT attention
    /// dropout, default 0).
    ///
    /// # Errors
    /// [`Error::Config`] naming a missing/ill-typed key or an unknown kind.
    pub fn from_json(case: &Value) -> Result<Self> {
        let kind = case
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Config("layer spec: missing string key 'kind'".to_string()))?;
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
                let aggr = match case.get("aggr") {
                    None | Some(Value::Null) => "mean",
                    Some(v) => v.as_str().ok_or_else(|| {
                        Error::Config(format!("layer spec: 'aggr' must be a string, got {v}"))
                    })?,
                };
                let aggregator = match aggr {
                    "mean" => Aggregator::Mean,
                    "max" => Aggregator::Max,
                    "sum" | "add" => Aggregator::Sum,
                    "lstm" => Aggregator::Lstm,
                    other => {
                        return Err(Error::Config(format!(
                            "layer spec: unknown SAGE aggregator '{other}'"
                        )))
                    }
                };
                Ok(LayerSpec::Sage {
                    input_dim: req_usize(case, "in_dim")?,
                    output_dim: req_usize(case, "out_dim")?,
                    aggregator,
                    normalize: opt_bool(case, "normalize")?.unwrap_or(false),
                    activation: activation(case)?,
                    root_weight: opt_bool(case, "root_weight")?.unwrap_or(true),
                })
            }
            "layernorm" => Ok(LayerSpec::LayerNorm {
                dim: req_usize(case, "in_dim")?,
                eps: opt_f32(case, "eps")?.unwrap_or(1e-5),
            }),
            "dropout" => Ok(LayerSpec::Dropout {
                dim: req_usize(case, "in_dim")?,
                p: opt_f32(case, "p")?.unwrap_or(0.5),
            }),
            "activation" => Ok(LayerSpec::Activation {
                dim: req_usize(case, "in_dim")?,
                activation: activation(case)?,
            }),
            "residual" => {
                let inner = case.get("inner").ok_or_else(|| {
                    Error::Config("layer spec: residual needs an object key 'inner'".to_string())
                })?;
                Ok(LayerSpec::Residual {
                    inner: Box::new(Self::from_json(inner)?),
                })
            }
            "sequential" => {
                let layers = case
                    .get("layers")
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        Error::Config(
                            "layer spec: sequential needs an array key 'layers'".to_string(),
                        )
                    })?;
                Ok(LayerSpec::Sequential {
                    layers: layers
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            Self::from_json(l).map_err(|e| match e {
                                Error::Config(m) => Error::Config(format!("layers[{i}]: {m}")),
                                other => other,
                            })
                        })
                        .collect::<Result<_>>()?,
                })
            }
            other => Err(Error::Config(format!("unknown layer kind '{other}'"))),
        }
    }

    /// The JSON form read by [`LayerSpec::from_json`]; every field is
    /// written, and numbers round-trip exactly (f32 → f64 is exact).
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, LayerSpec};
    /// let spec = LayerSpec::Sequential { layers: vec![
    ///     LayerSpec::Dropout { dim: 8, p: 0.6 },
    ///     LayerSpec::Gat { input_dim: 8, output_dim: 4, heads: 2, concat: true, negative_slope: 0.2, dropout: 0.6 },
    ///     LayerSpec::Activation { dim: 8, activation: Activation::ELU(1.0) },
    /// ]};
    /// assert_eq!(LayerSpec::from_json(&spec.to_json())?, spec);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        let mut v = match self {
            LayerSpec::Gcn {
                input_dim,
                output_dim,
                dropout,
                ..
            } => {
                json!({"kind": "gcn", "in_dim": input_dim, "out_dim": output_dim, "dropout": num(*dropout)})
            }
            LayerSpec::Gat {
                input_dim,
                output_dim,
                heads,
                concat,
                negative_slope,
                dropout,
            } => json!({
                "kind": "gat", "in_dim": input_dim, "out_dim": output_dim, "heads": heads,
                "concat": concat, "negative_slope": num(*negative_slope), "dropout": num(*dropout),
            }),
            LayerSpec::Sage {
                input_dim,
                output_dim,
                aggregator,
                normalize,
                root_weight,
                ..
            } => json!({
                "kind": "sage", "in_dim": input_dim, "out_dim": output_dim,
                "aggr": aggregator.name(), "normalize": normalize, "root_weight": root_weight,
            }),
            LayerSpec::LayerNorm { dim, eps } => {
                json!({"kind": "layernorm", "in_dim": dim, "eps": num(*eps)})
            }
            LayerSpec::Dropout { dim, p } => {
                json!({"kind": "dropout", "in_dim": dim, "p": num(*p)})
            }
            LayerSpec::Activation { dim, .. } => json!({"kind": "activation", "in_dim": dim}),
            LayerSpec::Residual { inner } => json!({"kind": "residual", "inner": inner.to_json()}),
            LayerSpec::Sequential { layers } => json!({
                "kind": "sequential",
                "layers": layers.iter().map(LayerSpec::to_json).collect::<Vec<_>>(),
            }),
        };
        if let (
            LayerSpec::Gcn { activation, .. }
            | LayerSpec::Sage { activation, .. }
            | LayerSpec::Activation { activation, .. },
            Value::Object(map),
        ) = (self, &mut v)
        {
            map.insert("activation".into(), activation.name().into());
            match activation {
                Activation::LeakyReLU(a) | Activation::ELU(a) => {
                    map.insert("activation_param".into(), num(*a));
                }
                _ => {}
            }
        }
        v
    }

    /// Every layer spec nested in this one, depth first (itself included).
    pub fn walk(&self) -> Vec<&LayerSpec> {
        let mut out = vec![self];
        match self {
            LayerSpec::Residual { inner } => out.extend(inner.walk()),
            LayerSpec::Sequential { layers } => {
                for l in layers {
                    out.extend(l.walk());
                }
            }
            _ => {}
        }
        out
    }
}

/// An f32 as a JSON number written with its shortest decimal form (`0.2`,
/// not `0.20000000298023224`) when that reads back to the same f32, else
/// the exact f64 value.
fn num(f: f32) -> Value {
    let short: Option<f64> = format!("{f}").parse().ok();
    let v = match short {
        Some(d) if (d as f32).to_bits() == f.to_bits() => d,
        _ => f64::from(f),
    };
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn req_usize(case: &Value, key: &str) -> Result<usize> {
    opt_usize(case, key)?
        .ok_or_else(|| Error::Config(format!("layer spec: missing integer key '{key}'")))
}

fn opt_usize(case: &Value, key: &str) -> Result<Option<usize>> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(|u| Some(u as usize)).ok_or_else(|| {
            Error::Config(format!(
                "layer spec: '{key}' must be a non-negative integer, got {v}"
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
            .ok_or_else(|| Error::Config(format!("layer spec: '{key}' must be a number, got {v}"))),
    }
}

fn opt_bool(case: &Value, key: &str) -> Result<Option<bool>> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| {
            Error::Config(format!("layer spec: '{key}' must be a boolean, got {v}"))
        }),
    }
}

/// `activation` (name) and its optional parameter `activation_param`
/// (LeakyReLU slope, default 0.01; ELU alpha, default 1).
fn activation(case: &Value) -> Result<Activation> {
    let Some(v) = case.get("activation") else {
        return Ok(Activation::Identity);
    };
    let name = v.as_str().ok_or_else(|| {
        Error::Config(format!(
            "layer spec: 'activation' must be a string, got {v}"
        ))
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
                "layer spec: unknown activation '{other}'"
            )))
        }
    })
}
