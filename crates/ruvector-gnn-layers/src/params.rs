//! Named parameters and gradients, in PyTorch state-dict style.
//!
//! Every layer names its tensors like PyTorch Geometric does (`weight`,
//! `bias`, `att_src`, `lin_l.weight`, ...); a stack prefixes each layer's
//! names with `layers.<i>.`. Values are row-major `(in, out)` matrices
//! (`Y = X·W`) or vectors, held as dynamic-rank arrays so one interface
//! serves all of them.

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};

use crate::error::{Error, Result};

/// Access to a module's trainable tensors by name.
pub trait Parameters {
    /// `(name, value)` for every parameter, in a stable order.
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)>;

    /// Mutable access to every parameter (for optimizers), same order and names.
    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)>;

    /// Replaces one parameter, checking its shape and that it is finite.
    ///
    /// # Errors
    /// [`Error::UnknownParameter`], [`Error::Shape`] or [`Error::NonFinite`].
    fn set_parameter(&mut self, name: &str, value: ArrayViewD<'_, f32>) -> Result<()> {
        let known = self
            .named_parameters()
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>();
        let mut params = self.named_parameters_mut();
        let Some((_, slot)) = params.iter_mut().find(|(n, _)| n == name) else {
            return Err(Error::UnknownParameter {
                name: name.to_string(),
                known: known.join(", "),
            });
        };
        if slot.shape() != value.shape() {
            return Err(Error::shape(
                format!("parameter '{name}'"),
                format!("{:?}", slot.shape()),
                format!("{:?}", value.shape()),
            ));
        }
        if let Some(pos) = value.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "parameter value",
                row: 0,
                col: pos,
            });
        }
        slot.assign(&value);
        Ok(())
    }

    /// Total number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, v)| v.len()).sum()
    }
}

/// Gradients by parameter name (mirrors [`Parameters::named_parameters`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gradients {
    map: BTreeMap<String, ArrayD<f32>>,
}

impl Gradients {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) the gradient of `name`.
    pub fn insert(&mut self, name: impl Into<String>, grad: ArrayD<f32>) {
        self.map.insert(name.into(), grad);
    }

    /// Adds `grad` to the stored gradient of `name` (inserting it if absent).
    ///
    /// # Panics
    /// If an existing gradient of that name has another shape.
    pub fn accumulate(&mut self, name: &str, grad: &ArrayD<f32>) {
        match self.map.get_mut(name) {
            Some(g) => *g += grad,
            None => {
                self.map.insert(name.to_string(), grad.clone());
            }
        }
    }

    /// The gradient of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.map.get(name)
    }

    /// Mutable access to the gradient of `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ArrayD<f32>> {
        self.map.get_mut(name)
    }

    /// Iterates `(name, gradient)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ArrayD<f32>)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of gradients stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no gradient is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Moves every gradient of `other` in, with `prefix` before its name
    /// (e.g. `"layers.0."`), accumulating on collisions.
    pub fn merge_prefixed(&mut self, prefix: &str, other: Gradients) {
        for (k, v) in other.map {
            let name = format!("{prefix}{k}");
            match self.map.get_mut(&name) {
                Some(g) => *g += &v,
                None => {
                    self.map.insert(name, v);
                }
            }
        }
    }

    /// Multiplies every gradient by `s`.
    pub fn scale(&mut self, s: f32) {
        for g in self.map.values_mut() {
            g.mapv_inplace(|v| v * s);
        }
    }

    /// Global L2 norm over all gradients.
    pub fn global_norm(&self) -> f32 {
        self.map
            .values()
            .flat_map(|g| g.iter())
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt() as f32
    }
}

/// Converts any `ndarray` array into the dynamic-rank form used here.
pub fn dyn_array<D: ndarray::Dimension>(a: ndarray::Array<f32, D>) -> ArrayD<f32> {
    a.into_dyn()
}

/// A zero gradient shaped like `shape`.
pub fn zeros(shape: &[usize]) -> ArrayD<f32> {
    ArrayD::zeros(IxDyn(shape))
}
