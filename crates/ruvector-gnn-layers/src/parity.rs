//! Runs reference fixture cases (feature `parity`): folders holding a
//! `case.json` and `.npy` arrays in the format of
//! `/work/shared/fixtures/README.md` (PyTorch Geometric outputs and
//! gradients). Used by `tests/parity.rs` and `cargo xtask parity <dir>`.
//!
//! For one case folder, [`run_case`]:
//! 1. builds the layer from `case.json` with [`LayerSpec::from_case_json`];
//! 2. takes the set of parameters from the layer itself
//!    ([`Parameters::named_parameters`](crate::Parameters::named_parameters)),
//!    not from `case.json`: every one must have `<name>.npy` and
//!    `grad_<name>.npy` in the folder, and every other `.npy` file must be
//!    one of the case's data files (`x`, `y`, `grad_x`, `grad_y`, `offsets`,
//!    `indices`, and `attention` for GAT). A missing file
//!    ([`ParityError::MissingParameterFile`]), a file for a parameter the
//!    layer does not have ([`ParityError::UnknownParameterFile`]) or a
//!    `case.json` `"params"` list that disagrees with the layer
//!    ([`ParityError::ParamsListMismatch`]) fails the case, naming it and the
//!    parameter; `"params"` may be absent;
//! 3. sets every parameter from `<name>.npy`;
//! 4. builds the graph from `offsets.npy` / `indices.npy` (`i64`, validated);
//! 5. runs an inference [`GraphLayer::forward_train`] on `x.npy` and
//!    [`GraphLayer::backward`] with `grad_y.npy`;
//! 6. compares `y`, `grad_x`, every `grad_<param>` and, for GAT cases with
//!    an `attention.npy`, the attention weights.
//!
//! Each comparison is `max|got − want| / max|want|` (the absolute maximum
//! difference when `want` is all zeros); a case passes when every one is at
//! most [`TOLERANCE`].

// ndarray views are cheap handles passed by value, like the kernels API and the
// `GraphLayer` trait; taking `&ArrayView2` would only add noise at call sites.
#![allow(clippy::needless_pass_by_value)]

use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD, ArrayViewD};
use ndarray_npy::read_npy;
use serde_json::Value;

use crate::error::Error;
use crate::layer::{ForwardCtx, GraphLayer};
use crate::spec::LayerSpec;
use crate::Csr;

/// Largest scaled error a case may have (the fixtures' float32 reordering bound).
pub const TOLERANCE: f64 = 1e-4;

/// Why a case could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParityError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An `.npy` file could not be read as the expected type/rank.
    #[error("{path}: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// `case.json` is not valid JSON.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Building or running the layer failed.
    #[error(transparent)]
    Layer(#[from] Error),
    /// The case's arrays are inconsistent (shapes, graph).
    #[error("{0}")]
    Invalid(String),
    /// A parameter of the layer has no value file (`<param>.npy`) or no
    /// gradient file (`grad_<param>.npy`) in the case folder.
    #[error(
        "case '{case}': the {kind} layer has parameter '{param}' but the case folder has no {file}{}",
        params_note(.params_list.as_deref())
    )]
    MissingParameterFile {
        /// Case folder name.
        case: String,
        /// Layer kind.
        kind: &'static str,
        /// The parameter, as the layer names it.
        param: String,
        /// The missing file name.
        file: String,
        /// How `case.json`'s `"params"` list disagrees with the layer, if it does.
        params_list: Option<Box<ParamsListDiff>>,
    },
    /// A `.npy` file of the case folder is neither a data file of the case
    /// nor the value or gradient of one of the layer's parameters.
    #[error(
        "case '{case}': {file} is for a parameter '{param}' that the {kind} layer does not have (it has: {known}){}",
        params_note(.params_list.as_deref())
    )]
    UnknownParameterFile {
        /// Case folder name.
        case: String,
        /// Layer kind.
        kind: &'static str,
        /// The parameter name the file stands for (its stem, without `grad_`).
        param: String,
        /// The file name.
        file: String,
        /// The layer's parameter names, comma separated.
        known: String,
        /// How `case.json`'s `"params"` list disagrees with the layer, if it does.
        params_list: Option<Box<ParamsListDiff>>,
    },
    /// `case.json`'s `"params"` list names other parameters than the layer has.
    #[error("case '{case}': {diff} (the {kind} layer has: {known})")]
    ParamsListMismatch {
        /// Case folder name.
        case: String,
        /// Layer kind.
        kind: &'static str,
        /// What differs.
        diff: ParamsListDiff,
        /// The layer's parameter names, comma separated.
        known: String,
    },
    /// The layer's backward pass returned no gradient for one of its parameters.
    #[error("case '{case}': backward returned no gradient for parameter '{param}'")]
    MissingGradient {
        /// Case folder name.
        case: String,
        /// The parameter.
        param: String,
    },
}

/// How a `case.json` `"params"` list differs from the layer's parameter names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamsListDiff {
    /// Parameters the layer has that the list does not name (layer order).
    pub unlisted: Vec<String>,
    /// Names in the list that the layer does not have (list order).
    pub unknown: Vec<String>,
}

impl ParamsListDiff {
    /// Compares a `"params"` list with the layer's parameter names; `None`
    /// when both name the same set.
    pub fn between(listed: &[String], layer: &[String]) -> Option<Self> {
        let unlisted: Vec<String> = layer
            .iter()
            .filter(|p| !listed.contains(p))
            .cloned()
            .collect();
        let mut unknown: Vec<String> = Vec::new();
        for p in listed {
            if !layer.contains(p) && !unknown.contains(p) {
                unknown.push(p.clone());
            }
        }
        (!unlisted.is_empty() || !unknown.is_empty()).then_some(Self { unlisted, unknown })
    }
}

impl fmt::Display for ParamsListDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "case.json 'params' disagrees with the layer:")?;
        if !self.unlisted.is_empty() {
            write!(f, " it omits {}", quoted(&self.unlisted))?;
        }
        if !self.unknown.is_empty() {
            if !self.unlisted.is_empty() {
                write!(f, " and")?;
            }
            write!(
                f,
                " it lists {}, which the layer does not have",
                quoted(&self.unknown)
            )?;
        }
        Ok(())
    }
}

/// `"; <diff>"` for an error message, or nothing when the list agrees.
fn params_note(diff: Option<&ParamsListDiff>) -> String {
    diff.map_or_else(String::new, |d| format!("; {d}"))
}

/// Scaled errors of one case that ran.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// Folder name.
    pub name: String,
    /// Layer kind from `case.json`.
    pub kind: String,
    /// `(array name, scaled error)`: `y`, `grad_x`, `grad_<param>`..., `attention`.
    pub errors: Vec<(String, f64)>,
}

impl CaseReport {
    /// The largest error of the case (NaN counts as infinite).
    pub fn worst(&self) -> f64 {
        self.errors
            .iter()
            .map(|&(_, e)| if e.is_nan() { f64::INFINITY } else { e })
            .fold(0.0, f64::max)
    }

    /// Whether every error is at most `tol`.
    pub fn passes(&self, tol: f64) -> bool {
        self.worst() <= tol
    }
}

impl fmt::Display for CaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.passes(TOLERANCE) {
            "ok  "
        } else {
            "FAIL"
        };
        write!(f, "{status} {:<16} {:<10}", self.name, self.kind)?;
        for (name, e) in &self.errors {
            write!(f, " {name}={e:.2e}")?;
        }
        Ok(())
    }
}

/// The result of one case folder.
#[derive(Debug)]
pub struct CaseOutcome {
    /// Folder name.
    pub name: String,
    /// Its report, or why it could not run.
    pub result: Result<CaseReport, ParityError>,
}

impl CaseOutcome {
    /// Whether the case ran and passed at `tol`.
    pub fn passes(&self, tol: f64) -> bool {
        self.result.as_ref().is_ok_and(|r| r.passes(tol))
    }
}

impl fmt::Display for CaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(r) => write!(f, "{r}"),
            Err(e) => write!(f, "FAIL {:<16} could not run: {e}", self.name),
        }
    }
}

/// Case folders under `dir`, sorted by name, or `[dir]` itself when it holds
/// a `case.json`.
///
/// A case folder is a sub-folder holding a `case.json` or any `.npy` file:
/// one with arrays but no `case.json` is listed too, so that running it
/// fails (naming the missing file) instead of the case being skipped.
///
/// # Errors
/// [`ParityError::Io`] if `dir` (or a sub-folder) cannot be listed.
pub fn case_dirs(dir: &Path) -> Result<Vec<PathBuf>, ParityError> {
    if dir.join("case.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut dirs = Vec::new();
    for path in list_dir(dir)? {
        // A sub-folder that cannot be listed is not a case (an unrelated,
        // unreadable folder must not fail the run).
        if path.join("case.json").is_file()
            || (path.is_dir() && list_dir(&path).is_ok_and(|l| l.iter().any(|p| is_npy(p))))
        {
            dirs.push(path);
        }
    }
    Ok(dirs)
}

/// The entries of `dir`, sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, ParityError> {
    let io = |source| ParityError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    paths.sort();
    Ok(paths)
}

/// Whether `path` is a file named `*.npy`.
fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "npy") && path.is_file()
}

/// Runs every case under `dir` (see [`case_dirs`]).
///
/// # Errors
/// Only when `dir` cannot be listed; per-case failures are in the outcomes.
pub fn run_dir(dir: &Path) -> Result<Vec<CaseOutcome>, ParityError> {
    Ok(case_dirs(dir)?
        .iter()
        .map(|d| CaseOutcome {
            name: folder_name(d),
            result: run_case(d),
        })
        .collect())
}

fn folder_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn npy<T: ndarray_npy::ReadNpyExt>(dir: &Path, file: &str) -> Result<T, ParityError> {
    let path = dir.join(file);
    read_npy(&path).map_err(|e| ParityError::Npy {
        path,
        message: e.to_string(),
    })
}

/// `max|got − want| / max|want|` (absolute when `want` is all zeros).
///
/// # Errors
/// A message when the shapes differ.
pub fn scaled_error(got: ArrayViewD<'_, f32>, want: ArrayViewD<'_, f32>) -> Result<f64, String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "shape {:?}, reference has {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let scale = want.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let diff = got
        .iter()
        .zip(want.iter())
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
        .fold(0.0f64, |m, d| {
            if d.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(d)
            }
        });
    Ok(if scale > 0.0 { diff / scale } else { diff })
}

/// The graph of a case: `offsets.npy`, `indices.npy` (`i64`) over `n_cols` sources.
fn load_graph(dir: &Path, n_cols: usize) -> Result<Csr, ParityError> {
    let offsets: Array1<i64> = npy(dir, "offsets.npy")?;
    let indices: Array1<i64> = npy(dir, "indices.npy")?;
    let offsets = offsets
        .iter()
        .map(|&o| usize::try_from(o))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| ParityError::Invalid("offsets.npy holds a negative offset".into()))?;
    let indices = indices
        .iter()
        .map(|&i| u32::try_from(i))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            ParityError::Invalid("indices.npy holds an index outside 0..u32::MAX".into())
        })?;
    if offsets.is_empty() {
        return Err(ParityError::Invalid("offsets.npy is empty".into()));
    }
    let n_rows = offsets.len() - 1;
    Ok(Csr::from_parts(n_rows, n_cols, offsets, indices, None).map_err(Error::from)?)
}

/// Data files of every case (stems of `<stem>.npy`), besides the parameters'.
const DATA_FILES: [&str; 6] = ["x", "y", "grad_x", "grad_y", "offsets", "indices"];

/// `case.json`'s optional `"params"` list.
fn listed_params(case: &Value) -> Result<Option<Vec<String>>, ParityError> {
    match case.get("params") {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ParityError::Invalid(format!("case.json: param name {v} is not a string"))
                })
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(v) => Err(ParityError::Invalid(format!(
            "case.json: 'params' must be a list, got {v}"
        ))),
    }
}

/// Checks the case folder's parameter files against the layer's parameters
/// `layer_params` (see the module docs, step 2).
fn check_parameter_files(
    dir: &Path,
    case: &str,
    spec: &LayerSpec,
    layer_params: &[String],
    listed: Option<&[String]>,
) -> Result<(), ParityError> {
    let kind = spec.kind();
    let known = layer_params.join(", ");
    let diff = listed.and_then(|l| ParamsListDiff::between(l, layer_params));
    let params_list = diff.clone().map(Box::new);
    for param in layer_params {
        for file in [format!("{param}.npy"), format!("grad_{param}.npy")] {
            if !dir.join(&file).is_file() {
                return Err(ParityError::MissingParameterFile {
                    case: case.to_string(),
                    kind,
                    param: param.clone(),
                    file,
                    params_list,
                });
            }
        }
    }
    let is_gat = matches!(spec, LayerSpec::Gat { .. });
    for path in list_dir(dir)? {
        if !is_npy(&path) {
            continue;
        }
        let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let is_data = DATA_FILES.contains(&stem.as_str()) || (is_gat && stem == "attention");
        if is_data || layer_params.contains(&stem) {
            continue;
        }
        let param = stem.strip_prefix("grad_").unwrap_or(&stem);
        if !layer_params.iter().any(|p| p == param) {
            return Err(ParityError::UnknownParameterFile {
                case: case.to_string(),
                kind,
                param: param.to_string(),
                file: format!("{stem}.npy"),
                known,
                params_list,
            });
        }
    }
    match diff {
        Some(diff) => Err(ParityError::ParamsListMismatch {
            case: case.to_string(),
            kind,
            diff,
            known,
        }),
        None => Ok(()),
    }
}

/// Runs one case folder (see the module docs).
///
/// # Errors
/// Unreadable or inconsistent files, an unknown or unbuilt layer kind, a
/// parameter file missing or extra, a `"params"` list that disagrees with
/// the layer, or a layer error.
pub fn run_case(dir: &Path) -> Result<CaseReport, ParityError> {
    let name = folder_name(dir);
    let case_path = dir.join("case.json");
    let text = std::fs::read_to_string(&case_path).map_err(|source| ParityError::Io {
        path: case_path.clone(),
        source,
    })?;
    let case: Value = serde_json::from_str(&text).map_err(|source| ParityError::Json {
        path: case_path.clone(),
        source,
    })?;
    let spec = LayerSpec::from_case_json(&case)?;
    let listed = listed_params(&case)?;
    let mut layer = spec.build(0)?;
    // The parameters to load and compare are the layer's own, never only
    // those `case.json` happens to list.
    let params: Vec<String> = layer
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    check_parameter_files(dir, &name, &spec, &params, listed.as_deref())?;

    let mut values = Vec::with_capacity(params.len());
    for param in &params {
        let v: ArrayD<f32> = npy(dir, &format!("{param}.npy"))?;
        values.push((param.as_str(), v));
    }
    let set_all = |layer: &mut dyn GraphLayer| -> Result<(), ParityError> {
        for (param, v) in &values {
            layer.set_parameter(param, v.view())?;
        }
        Ok(())
    };
    set_all(layer.as_mut())?;

    let x: Array2<f32> = npy(dir, "x.npy")?;
    let graph = load_graph(dir, x.nrows())?;
    let (y, cache) = layer.forward_train(x.view(), &graph, &mut ForwardCtx::inference())?;
    let mut errors = Vec::new();
    let mut compare =
        |what: &str, got: ArrayViewD<'_, f32>, file: &str| -> Result<(), ParityError> {
            let want: ArrayD<f32> = npy(dir, file)?;
            let e = scaled_error(got, want.view())
                .map_err(|m| ParityError::Invalid(format!("{what}: {m}")))?;
            errors.push((what.to_string(), e));
            Ok(())
        };
    compare("y", y.view().into_dyn(), "y.npy")?;
    let grad_y: Array2<f32> = npy(dir, "grad_y.npy")?;
    let (dx, grads) = layer.backward(&cache, grad_y.view())?;
    compare("grad_x", dx.view().into_dyn(), "grad_x.npy")?;
    for param in &params {
        let g = grads
            .get(param)
            .ok_or_else(|| ParityError::MissingGradient {
                case: name.clone(),
                param: param.clone(),
            })?;
        let what = format!("grad_{param}");
        compare(&what, g.view(), &format!("{what}.npy"))?;
    }
    if matches!(spec, LayerSpec::Gat { .. }) && dir.join("attention.npy").is_file() {
        let mut gat = spec.build_gat(0)?;
        set_all(&mut gat)?;
        let (_, att) = gat.forward_with_attention_heads(&x, &graph)?;
        compare("attention", att.weights.view().into_dyn(), "attention.npy")?;
    }
    Ok(CaseReport {
        name,
        kind: spec.kind().to_string(),
        errors,
    })
}
