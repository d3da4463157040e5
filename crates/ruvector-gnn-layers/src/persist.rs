//! Saving and loading layers and models as safetensors files (through
//! `ruvector-gnn-weights`' [`TensorStore`]; layout in `docs/FORMAT.md`).
//!
//! - Tensors are named by [`Parameters::named_parameters`]; dense weight
//!   matrices (`Y = X·W`: GCN/GAT `weight`, SAGE `weight_neigh` /
//!   `weight_root`, residual `proj.weight`) are stored `(out, in)` with
//!   `ruvector_gnn.layout.<name> = out_in` (PyTorch `nn.Linear` order, the
//!   same layout [`crate::quantized`] uses for f16/int8), everything else in
//!   its parameter shape.
//! - The model configuration is the JSON of its [`LayerSpec`] (or of a
//!   [`GraphSAGE`] model) under the metadata key [`CONFIG_KEY`], wrapped as
//!   `{"model": <spec>, "precision": "f32"}`: [`load_model`] rebuilds a
//!   model from the file alone.
//! - `load_weights` checks that the file's config equals the layer's
//!   ([`Error::ConfigMismatch`] names the first differing field), that every
//!   parameter is present with its shape ([`Error::Shape`] /
//!   `Error::Weights(MissingTensor)`), and that the file holds no other
//!   tensor. A quantized (f16/int8) file loads into an f32 layer
//!   dequantized.
//!
//! Every layer type has the seed's inherent methods (`save_weights`,
//! `load_weights`, plus `load_weights_mmap`, `to_bytes`,
//! `load_weights_from_bytes`, `load`, `from_bytes`):
//!
//! ```
//! use ruvector_gnn_layers::{Activation, GCNLayer, GNNConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("ruvector-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("model.safetensors");
//! let gcn = GCNLayer::with_seed(GNNConfig { input_dim: 4, output_dim: 2, activation: Activation::ReLU, ..Default::default() }, 7)?;
//! gcn.save_weights(&path)?;
//! let back = GCNLayer::load(&path)?; // rebuilt from the config in the file
//! assert_eq!(back.weight(), gcn.weight());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use ndarray::{ArrayD, Ix2, IxDyn};
use ruvector_gnn_weights::{
    Precision, QuantizedMatrix, Tensor, TensorStore, CONFIG_KEY, LAYOUT_KEY_PREFIX, LAYOUT_OUT_IN,
};
use serde_json::{json, Value};

use crate::config::{Aggregator, SAGEConfig};
use crate::error::{Error, Result};
use crate::layer::GraphLayer;
use crate::params::Parameters;
use crate::spec::LayerSpec;
use crate::{
    ActivationLayer, Dropout, GATLayer, GCNLayer, GraphSAGE, LayerNorm, Residual, SAGELayer,
    Sequential,
};

/// A layer that can describe itself as a [`LayerSpec`] (enough to rebuild
/// it exactly, up to its parameter values).
pub trait Describe {
    /// The layer's spec.
    ///
    /// # Errors
    /// [`Error::Config`] when a nested layer (inside a [`Sequential`] or
    /// [`Residual`]) is of a type this crate cannot describe.
    fn spec(&self) -> Result<LayerSpec>;
}

impl Describe for GCNLayer {
    fn spec(&self) -> Result<LayerSpec> {
        let c = self.config();
        Ok(LayerSpec::Gcn {
            input_dim: c.input_dim,
            output_dim: c.output_dim,
            activation: c.activation,
            dropout: c.dropout,
        })
    }
}

impl Describe for GATLayer {
    fn spec(&self) -> Result<LayerSpec> {
        let c = self.config();
        Ok(LayerSpec::Gat {
            input_dim: c.input_dim,
            output_dim: c.output_dim,
            heads: c.num_heads,
            concat: c.concat_heads,
            negative_slope: c.leaky_relu_slope,
            dropout: c.dropout,
        })
    }
}

impl Describe for SAGELayer {
    fn spec(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::Sage {
            input_dim: self.input_dim(),
            output_dim: self.output_dim(),
            aggregator: self.aggregator(),
            normalize: self.normalize(),
            activation: self.activation(),
            root_weight: self.has_root_weight(),
        })
    }
}

impl Describe for LayerNorm {
    fn spec(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::LayerNorm {
            dim: self.input_dim(),
            eps: self.eps(),
        })
    }
}

impl Describe for Dropout {
    fn spec(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::Dropout {
            dim: self.input_dim(),
            p: self.p(),
        })
    }
}

impl Describe for ActivationLayer {
    fn spec(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::Activation {
            dim: self.input_dim(),
            activation: self.activation(),
        })
    }
}

impl Describe for Residual {
    fn spec(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::Residual {
            inner: Box::new(describe(self.inner())?),
        })
    }
}

impl Describe for Sequential {
    fn spec(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::Sequential {
            layers: self
                .layers()
                .iter()
                .map(|l| describe(l.as_ref()))
                .collect::<Result<_>>()?,
        })
    }
}

/// The [`LayerSpec`] of any layer of this crate behind a `&dyn GraphLayer`.
///
/// # Errors
/// [`Error::Config`] for a layer type defined outside this crate.
pub fn describe(layer: &dyn GraphLayer) -> Result<LayerSpec> {
    let any = layer.as_any();
    macro_rules! try_types {
        ($($t:ty),*) => {
            $(if let Some(l) = any.downcast_ref::<$t>() {
                return l.spec();
            })*
        };
    }
    try_types!(
        GCNLayer,
        GATLayer,
        SAGELayer,
        LayerNorm,
        Dropout,
        ActivationLayer,
        Residual,
        Sequential
    );
    Err(Error::Config(format!(
        "cannot describe a '{}' layer: only this crate's layer types can be saved",
        layer.kind()
    )))
}

/// The names (with prefixes) of the dense weight matrices `W` (`Y = X·W`)
/// of a spec: the tensors stored `(out, in)` and quantized by
/// [`crate::quantized::quantize`].
pub fn dense_weight_names(spec: &LayerSpec) -> Vec<String> {
    let mut out = Vec::new();
    collect_dense(spec, "", &mut out);
    out
}

fn collect_dense(spec: &LayerSpec, prefix: &str, out: &mut Vec<String>) {
    match spec {
        LayerSpec::Gcn { .. } | LayerSpec::Gat { .. } => out.push(format!("{prefix}weight")),
        LayerSpec::Sage { root_weight, .. } => {
            out.push(format!("{prefix}weight_neigh"));
            if *root_weight {
                out.push(format!("{prefix}weight_root"));
            }
        }
        LayerSpec::Residual { inner } => {
            collect_dense(inner, &format!("{prefix}inner."), out);
            if inner.input_dim() != inner.output_dim() {
                out.push(format!("{prefix}proj.weight"));
            }
        }
        LayerSpec::Sequential { layers } => {
            for (i, l) in layers.iter().enumerate() {
                collect_dense(l, &format!("{prefix}layers.{i}."), out);
            }
        }
        _ => {}
    }
}

/// The config JSON string stored in a file: `{"model": spec, "precision": p}`.
pub fn config_json(model: &Value, precision: Precision) -> String {
    json!({"model": model, "precision": precision.as_str()}).to_string()
}

/// Reads a file's config: `(model JSON, precision)`.
///
/// # Errors
/// [`Error::Config`] when the file has no config or it lacks `model` /
/// has an unknown `precision`.
pub fn read_config(store: &TensorStore) -> Result<(Value, Precision)> {
    let text = store.config().ok_or_else(|| {
        Error::Config(format!(
            "the file has no model config (metadata key '{CONFIG_KEY}')"
        ))
    })?;
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::Config(format!("model config is not valid JSON: {e}")))?;
    let model = v
        .get("model")
        .cloned()
        .ok_or_else(|| Error::Config("model config has no key 'model'".to_string()))?;
    let precision = match v.get("precision") {
        None | Some(Value::Null) => Precision::F32,
        Some(p) => p
            .as_str()
            .and_then(Precision::parse)
            .ok_or_else(|| Error::Config(format!("model config: unknown precision {p}")))?,
    };
    Ok((model, precision))
}

/// The spec of a file written by `save_weights` on a layer or stack.
///
/// # Errors
/// As [`read_config`], plus [`LayerSpec::from_json`] errors.
pub fn read_spec(store: &TensorStore) -> Result<LayerSpec> {
    let (model, _) = read_config(store)?;
    LayerSpec::from_json(&model)
}

/// Adds `model`'s parameters to `store` (names prefixed with `prefix`),
/// dense weights in the `(out, in)` layout.
///
/// # Errors
/// Store errors (name collisions).
pub fn insert_parameters<P: Parameters + ?Sized>(
    store: &mut TensorStore,
    prefix: &str,
    model: &P,
    dense: &[String],
) -> Result<()> {
    for (name, v) in model.named_parameters() {
        let full = format!("{prefix}{name}");
        if dense.contains(&full) {
            if let Ok(w) = v.view().into_dimensionality::<Ix2>() {
                store.insert_matrix(&full, &QuantizedMatrix::from_f32(w, Precision::F32))?;
                continue;
            }
        }
        let t = Tensor::from_f32(v.shape().to_vec(), v.iter().copied().collect::<Vec<f32>>())?;
        store.insert(full, t)?;
    }
    Ok(())
}

/// Reads tensor `name` as f32 in its parameter shape: matrices stored
/// `out_in` are transposed back to `(in, out)`; f16/int8 are dequantized.
///
/// # Errors
/// [`ruvector_gnn_weights::Error::MissingTensor`] (as [`Error::Weights`]) if
/// absent; layout errors.
pub fn read_parameter(store: &TensorStore, name: &str) -> Result<ArrayD<f32>> {
    let t = store.get(name)?;
    if t.shape().len() == 2 && store.layout(name).is_some() {
        let m = QuantizedMatrix::from_store(store, name)?;
        return Ok(m.to_f32().into_dyn());
    }
    ArrayD::from_shape_vec(IxDyn(t.shape()), t.to_f32_vec())
        .map_err(|e| Error::Config(format!("tensor '{name}': {e}")))
}

/// Sets every parameter of `model` from `store` (names prefixed with
/// `prefix`), checking shapes; with `exact`, also errors on tensors in the
/// store that are not parameters of the model.
///
/// # Errors
/// Missing tensors, shape mismatches, unexpected tensors.
pub fn load_parameters<P: Parameters + ?Sized>(
    model: &mut P,
    store: &TensorStore,
    prefix: &str,
    exact: bool,
) -> Result<()> {
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    // Read and check everything before touching the model, so a failed
    // load leaves it unchanged.
    let mut values = Vec::with_capacity(names.len());
    for n in &names {
        let full = format!("{prefix}{n}");
        let v = read_parameter(store, &full)?;
        values.push(v);
    }
    {
        let params = model.named_parameters();
        for ((n, cur), v) in params.iter().zip(&values) {
            if cur.shape() != v.shape() {
                return Err(Error::shape(
                    format!("tensor '{prefix}{n}' in the file"),
                    format!("{:?}", cur.shape()),
                    format!("{:?}", v.shape()),
                ));
            }
            if let Some(pos) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::Weights(ruvector_gnn_weights::Error::NonFinite(
                    format!("tensor '{prefix}{n}' value #{pos}"),
                )));
            }
        }
    }
    if exact {
        let expected: Vec<String> = names.iter().map(|n| format!("{prefix}{n}")).collect();
        if let Some(extra) = store.names().find(|n| !expected.iter().any(|e| e == n)) {
            return Err(Error::Weights(ruvector_gnn_weights::Error::Tensor {
                name: extra.to_string(),
                reason: "is not a parameter of this model".to_string(),
            }));
        }
    }
    for (n, v) in names.iter().zip(&values) {
        model.set_parameter(n, v.view())?;
    }
    Ok(())
}

/// The first difference between two config JSON values, as
/// `(path, file value, model value)`.
fn json_diff(file: &Value, model: &Value, path: &str) -> Option<(String, String, String)> {
    match (file, model) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = json_diff(x, y, &p) {
                            return Some(d);
                        }
                    }
                    (x, y) => {
                        let show =
                            |v: Option<&Value>| v.map_or("(absent)".into(), Value::to_string);
                        return Some((p, show(x), show(y)));
                    }
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some((
                    format!("{path}.len"),
                    a.len().to_string(),
                    b.len().to_string(),
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| json_diff(x, y, &format!("{path}[{i}]")))
        }
        (x, y) if x == y => None,
        (x, y) => Some((path.to_string(), x.to_string(), y.to_string())),
    }
}

/// Errors with [`Error::ConfigMismatch`] unless the file's model config
/// equals `expected`.
///
/// # Errors
/// As described.
pub fn check_config(store: &TensorStore, expected: &Value) -> Result<()> {
    let (model, _) = read_config(store)?;
    // Compare through the parsed spec when possible, so defaults and
    // number formatting do not matter.
    let file = LayerSpec::from_json(&model).map_or(model, |s| s.to_json());
    let exp = LayerSpec::from_json(expected).map_or_else(|_| expected.clone(), |s| s.to_json());
    if let Some((field, f, m)) = json_diff(&file, &exp, "") {
        return Err(Error::ConfigMismatch {
            field,
            file: f,
            model: m,
        });
    }
    Ok(())
}

/// A store holding `model`'s parameters and its spec as config.
///
/// # Errors
/// Store errors.
pub fn store_of<P: Parameters + ?Sized>(model: &P, spec: &LayerSpec) -> Result<TensorStore> {
    let mut store = TensorStore::new();
    insert_parameters(&mut store, "", model, &dense_weight_names(spec))?;
    store.set_config(&config_json(&spec.to_json(), Precision::F32))?;
    Ok(store)
}

/// Rebuilds a model (any layer kind or a [`Sequential`]) from a store's
/// config and loads its parameters (dequantizing f16/int8 tensors).
///
/// # Errors
/// Config errors, missing / extra tensors, shape mismatches.
pub fn model_from_store(store: &TensorStore) -> Result<Box<dyn GraphLayer>> {
    let spec = read_spec(store)?;
    let mut layer = spec.build(0)?;
    load_parameters(layer.as_mut(), store, "", true)?;
    Ok(layer)
}

/// Loads a model saved by `save_weights` (any layer or a [`Sequential`]),
/// rebuilding it from the config in the file (read into memory).
///
/// ```
/// use ruvector_gnn_layers::{persist, GraphLayer, LayerSpec};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = LayerSpec::Sequential { layers: vec![
///     LayerSpec::Gcn { input_dim: 4, output_dim: 3, activation: ruvector_gnn_layers::Activation::ReLU, dropout: 0.5 },
///     LayerSpec::LayerNorm { dim: 3, eps: 1e-5 },
/// ]};
/// let model = spec.build_sequential(1)?;
/// let bytes = model.to_bytes()?;
/// let back = persist::model_from_bytes(&bytes)?;
/// assert_eq!(back.kind(), "sequential");
/// assert_eq!(persist::describe(back.as_ref())?, spec);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// I/O and format errors ([`Error::Weights`]), then as [`model_from_store`].
pub fn load_model(path: impl AsRef<Path>) -> Result<Box<dyn GraphLayer>> {
    model_from_store(&TensorStore::load(path)?)
}

/// As [`load_model`], memory-mapping the file (the f32 parameters are
/// copied into the layers; see [`crate::quantized::QuantizedModel::load_mmap`]
/// for inference straight from the mapping).
///
/// # Errors
/// As [`load_model`].
#[cfg(feature = "mmap")]
pub fn load_model_mmap(path: impl AsRef<Path>) -> Result<Box<dyn GraphLayer>> {
    model_from_store(&TensorStore::load_mmap(path)?)
}

/// As [`load_model`], from the bytes of a file (e.g. a browser `Uint8Array`).
///
/// # Errors
/// As [`load_model`].
pub fn model_from_bytes(bytes: &[u8]) -> Result<Box<dyn GraphLayer>> {
    model_from_store(&TensorStore::from_bytes(bytes)?)
}

/// Saves `layer` (any layer of this crate behind `&dyn GraphLayer`).
///
/// # Errors
/// [`Error::Config`] for a foreign layer type, I/O errors.
pub fn save_model(layer: &dyn GraphLayer, path: impl AsRef<Path>) -> Result<()> {
    store_of(layer, &describe(layer)?)?.save(path)?;
    Ok(())
}

/// Loads the parameters of a file into `layer` after checking that the
/// file's config equals `describe(layer)`.
///
/// # Errors
/// As the inherent `load_weights` methods.
pub fn load_into(layer: &mut dyn GraphLayer, store: &TensorStore) -> Result<()> {
    let spec = describe(&*layer)?;
    check_config(store, &spec.to_json())?;
    load_parameters(layer, store, "", true)
}

/// Generates the inherent save/load methods of a layer type with a
/// [`Describe`] implementation and a builder from its spec.
macro_rules! persist_methods {
    ($t:ty, $build:expr) => {
        impl $t {
            /// Saves the parameters (safetensors, written atomically) with
            /// the layer's config in the metadata. See [`crate::persist`].
            ///
            /// # Errors
            /// I/O errors ([`Error::Weights`]).
            pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
                self.to_store()?.save(path)?;
                Ok(())
            }

            /// Loads parameters saved by `save_weights` (read into memory).
            /// The file's config must equal this layer's; on error the
            /// layer is unchanged.
            ///
            /// # Errors
            /// [`Error::ConfigMismatch`] naming the field, missing or
            /// unexpected tensors ([`Error::Weights`]), [`Error::Shape`],
            /// I/O and format errors.
            pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
                self.load_weights_from_store(&TensorStore::load(path)?)
            }

            /// As `load_weights`, memory-mapping the file.
            ///
            /// # Errors
            /// As `load_weights`.
            #[cfg(feature = "mmap")]
            pub fn load_weights_mmap(&mut self, path: impl AsRef<Path>) -> Result<()> {
                self.load_weights_from_store(&TensorStore::load_mmap(path)?)
            }

            /// The bytes `save_weights` would write.
            ///
            /// # Errors
            /// Store errors.
            pub fn to_bytes(&self) -> Result<Vec<u8>> {
                Ok(self.to_store()?.to_bytes()?)
            }

            /// As `load_weights`, from the bytes of a file.
            ///
            /// # Errors
            /// As `load_weights`.
            pub fn load_weights_from_bytes(&mut self, bytes: &[u8]) -> Result<()> {
                self.load_weights_from_store(&TensorStore::from_bytes(bytes)?)
            }

            /// The parameters and config as a [`TensorStore`].
            ///
            /// # Errors
            /// [`Error::Config`] if a nested layer cannot be described.
            pub fn to_store(&self) -> Result<TensorStore> {
                store_of(self, &Describe::spec(self)?)
            }

            /// Loads parameters from a store (config checked as in `load_weights`).
            ///
            /// # Errors
            /// As `load_weights`.
            pub fn load_weights_from_store(&mut self, store: &TensorStore) -> Result<()> {
                let spec = Describe::spec(self)?;
                check_config(store, &spec.to_json())?;
                load_parameters(self, store, "", true)
            }

            /// Rebuilds the layer from the config in a file and loads its
            /// parameters.
            ///
            /// # Errors
            /// As `load_weights`, plus [`Error::Config`] if the file holds
            /// another kind of layer.
            pub fn load(path: impl AsRef<Path>) -> Result<Self> {
                Self::from_store(&TensorStore::load(path)?)
            }

            /// As `load`, memory-mapping the file.
            ///
            /// # Errors
            /// As `load`.
            #[cfg(feature = "mmap")]
            pub fn load_mmap(path: impl AsRef<Path>) -> Result<Self> {
                Self::from_store(&TensorStore::load_mmap(path)?)
            }

            /// As `load`, from the bytes of a file.
            ///
            /// # Errors
            /// As `load`.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
                Self::from_store(&TensorStore::from_bytes(bytes)?)
            }

            /// As `load`, from a store.
            ///
            /// # Errors
            /// As `load`.
            pub fn from_store(store: &TensorStore) -> Result<Self> {
                let spec = read_spec(store)?;
                let build: fn(&LayerSpec) -> Result<Self> = $build;
                let mut layer = build(&spec)?;
                load_parameters(&mut layer, store, "", true)?;
                Ok(layer)
            }
        }
    };
}

persist_methods!(GCNLayer, |s| s.build_gcn(0));
persist_methods!(GATLayer, |s| s.build_gat(0));
persist_methods!(SAGELayer, |s| s.build_sage(0));
persist_methods!(Sequential, |s| s.build_sequential(0));
persist_methods!(LayerNorm, |s| match *s {
    LayerSpec::LayerNorm { dim, eps } => LayerNorm::new(dim, eps),
    _ => Err(Error::Config(format!(
        "the file holds a '{}' layer, not a layer norm",
        s.kind()
    ))),
});

// ---------------------------------------------------------------------
// GraphSAGE (a model, not a `GraphLayer`): its own config schema.

/// The JSON config of a [`GraphSAGE`] model: `kind: "graphsage"`,
/// `in_dim`, `out_dim`, `num_layers`, `aggr`, `sample_sizes`,
/// `normalize`, `hidden_dim`, `seed`.
pub fn graphsage_config(m: &GraphSAGE) -> Value {
    let c = m.config();
    json!({
        "kind": "graphsage",
        "in_dim": c.input_dim,
        "out_dim": c.output_dim,
        "num_layers": c.num_layers,
        "aggr": c.aggregator.name(),
        "sample_sizes": c.sample_sizes,
        "normalize": c.normalize,
        "hidden_dim": m.hidden_dim(),
        "seed": m.seed(),
    })
}

/// Builds a [`GraphSAGE`] (fresh weights) from [`graphsage_config`] JSON.
///
/// # Errors
/// [`Error::Config`] for a missing or ill-typed key.
pub fn graphsage_from_config(v: &Value) -> Result<GraphSAGE> {
    let kind = v.get("kind").and_then(Value::as_str);
    if kind != Some("graphsage") {
        return Err(Error::ConfigMismatch {
            field: "kind".to_string(),
            file: format!("{:?}", kind.unwrap_or("(absent)")),
            model: "\"graphsage\"".to_string(),
        });
    }
    let uint = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Config(format!("graphsage config: missing integer key '{k}'")))
    };
    let aggregator = match v.get("aggr").and_then(Value::as_str) {
        Some("mean") => Aggregator::Mean,
        Some("max") => Aggregator::Max,
        Some("sum") => Aggregator::Sum,
        Some("lstm") => Aggregator::Lstm,
        other => {
            return Err(Error::Config(format!(
                "graphsage config: unknown aggregator {other:?}"
            )))
        }
    };
    let sample_sizes = v
        .get("sample_sizes")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Config("graphsage config: missing array 'sample_sizes'".into()))?
        .iter()
        .map(|s| {
            s.as_u64()
                .map(|u| u as usize)
                .ok_or_else(|| Error::Config(format!("graphsage config: bad sample size {s}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = SAGEConfig {
        input_dim: uint("in_dim")? as usize,
        output_dim: uint("out_dim")? as usize,
        num_layers: uint("num_layers")? as usize,
        aggregator,
        sample_sizes,
        normalize: v
            .get("normalize")
            .and_then(Value::as_bool)
            .ok_or_else(|| Error::Config("graphsage config: missing bool 'normalize'".into()))?,
    };
    Ok(GraphSAGE::new(config)?
        .with_hidden_dim(uint("hidden_dim")? as usize)?
        .with_seed(uint("seed")?))
}

fn graphsage_dense(m: &GraphSAGE) -> Result<Vec<String>> {
    let layers = m
        .layers()
        .iter()
        .map(Describe::spec)
        .collect::<Result<Vec<_>>>()?;
    Ok(dense_weight_names(&LayerSpec::Sequential { layers }))
}

impl GraphSAGE {
    /// The parameters and config as a [`TensorStore`].
    ///
    /// # Errors
    /// Store errors.
    pub fn to_store(&self) -> Result<TensorStore> {
        let mut store = TensorStore::new();
        insert_parameters(&mut store, "", self, &graphsage_dense(self)?)?;
        store.set_config(&config_json(&graphsage_config(self), Precision::F32))?;
        Ok(store)
    }

    /// Saves the parameters and config (atomic safetensors write).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_store()?.save(path)?;
        Ok(())
    }

    /// The bytes `save_weights` would write.
    ///
    /// # Errors
    /// Store errors.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.to_store()?.to_bytes()?)
    }

    /// Loads parameters from a store whose config must equal this model's.
    ///
    /// # Errors
    /// [`Error::ConfigMismatch`], missing/unexpected tensors, shapes.
    pub fn load_weights_from_store(&mut self, store: &TensorStore) -> Result<()> {
        let (model, _) = read_config(store)?;
        if let Some((field, file, model)) = json_diff(&model, &graphsage_config(self), "") {
            return Err(Error::ConfigMismatch { field, file, model });
        }
        load_parameters(self, store, "", true)
    }

    /// Loads parameters saved by `save_weights` (read into memory).
    ///
    /// # Errors
    /// As `load_weights_from_store`, plus I/O and format errors.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.load_weights_from_store(&TensorStore::load(path)?)
    }

    /// As `load_weights`, memory-mapping the file.
    ///
    /// # Errors
    /// As `load_weights`.
    #[cfg(feature = "mmap")]
    pub fn load_weights_mmap(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.load_weights_from_store(&TensorStore::load_mmap(path)?)
    }

    /// As `load_weights`, from the bytes of a file.
    ///
    /// # Errors
    /// As `load_weights`.
    pub fn load_weights_from_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.load_weights_from_store(&TensorStore::from_bytes(bytes)?)
    }

    /// Rebuilds a model from a store's config and loads its parameters.
    ///
    /// # Errors
    /// Config errors, then as `load_weights`.
    pub fn from_store(store: &TensorStore) -> Result<Self> {
        let (model, _) = read_config(store)?;
        let mut m = graphsage_from_config(&model)?;
        load_parameters(&mut m, store, "", true)?;
        Ok(m)
    }

    /// Rebuilds a model from a file written by `save_weights`.
    ///
    /// # Errors
    /// As `from_store`, plus I/O and format errors.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_store(&TensorStore::load(path)?)
    }

    /// As `load`, memory-mapping the file.
    ///
    /// # Errors
    /// As `load`.
    #[cfg(feature = "mmap")]
    pub fn load_mmap(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_store(&TensorStore::load_mmap(path)?)
    }

    /// As `load`, from the bytes of a file.
    ///
    /// # Errors
    /// As `load`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_store(&TensorStore::from_bytes(bytes)?)
    }
}

/// `true` if the store records matrix `name` in the `(out, in)` layout.
pub(crate) fn is_out_in(store: &TensorStore, name: &str) -> bool {
    store
        .metadata()
        .get(&format!("{LAYOUT_KEY_PREFIX}{name}"))
        .is_some_and(|l| l == LAYOUT_OUT_IN)
}
