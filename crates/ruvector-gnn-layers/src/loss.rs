//! Losses with their gradients: masked softmax cross-entropy for node
//! classification, and listwise softmax / InfoNCE over candidate sets for
//! learning to rank from search feedback.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{Error, Result};

/// Mean softmax cross-entropy over the rows where `mask` is true (all rows
/// when `mask` is `None`). Returns the loss and `dL/dlogits` (zero on
/// unmasked rows).
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_layers::loss::softmax_cross_entropy;
/// let (l, g) = softmax_cross_entropy(array![[0.0f32, 0.0]].view(), &[1], None)?;
/// assert!((l - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(g, array![[0.5, -0.5]]);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
///
/// # Errors
/// [`Error::Shape`] when `labels`/`mask` lengths differ from the rows, or a
/// label is not a valid class; [`Error::Config`] when the mask selects no row.
pub fn softmax_cross_entropy(
    logits: ArrayView2<'_, f32>,
    labels: &[usize],
    mask: Option<&[bool]>,
) -> Result<(f32, Array2<f32>)> {
    let (n, c) = logits.dim();
    if labels.len() != n {
        return Err(Error::shape("labels", n, labels.len()));
    }
    if let Some(m) = mask {
        if m.len() != n {
            return Err(Error::shape("mask", n, m.len()));
        }
    }
    let selected: Vec<usize> = (0..n).filter(|&i| mask.is_none_or(|m| m[i])).collect();
    if selected.is_empty() {
        return Err(Error::Config("cross-entropy mask selects no rows".into()));
    }
    let inv = 1.0 / selected.len() as f32;
    let mut grad = Array2::zeros((n, c));
    let mut loss = 0.0f64;
    for &i in &selected {
        let y = labels[i];
        if y >= c {
            return Err(Error::shape(
                format!("label of row {i}"),
                format!("< {c}"),
                y,
            ));
        }
        let row: Vec<f32> = logits.row(i).to_vec();
        let lse = ruvector_gnn_kernels::softmax::log_sum_exp(&row);
        let mut p = row.clone();
        ruvector_gnn_kernels::softmax::softmax_inplace(&mut p);
        loss += f64::from(lse - row[y]);
        for k in 0..c {
            grad[[i, k]] = (p[k] - if k == y { 1.0 } else { 0.0 }) * inv;
        }
    }
    Ok(((loss * f64::from(inv)) as f32, grad))
}

/// Fraction of masked rows whose arg-max logit equals the label.
///
/// # Errors
/// [`Error::Shape`] on length mismatches.
pub fn accuracy(
    logits: ArrayView2<'_, f32>,
    labels: &[usize],
    mask: Option<&[bool]>,
) -> Result<f32> {
    let n = logits.nrows();
    if labels.len() != n {
        return Err(Error::shape("labels", n, labels.len()));
    }
    let mut hit = 0usize;
    let mut total = 0usize;
    for i in 0..n {
        if mask.is_some_and(|m| !m.get(i).copied().unwrap_or(false)) {
            continue;
        }
        total += 1;
        let row = logits.row(i);
        let arg = row
            .iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (k, &v)| if v > b.1 { (k, v) } else { b },
            )
            .0;
        hit += usize::from(arg == labels[i]);
    }
    Ok(if total == 0 {
        0.0
    } else {
        hit as f32 / total as f32
    })
}

/// Listwise softmax loss over one candidate set:
/// `L = −Σᵢ tᵢ · log softmax(s/τ)ᵢ` where `t` is `target` normalised to sum 1
/// (graded relevance allowed). Returns the loss and `dL/ds`.
///
/// # Errors
/// [`Error::Shape`] on length mismatch; [`Error::Config`] when the target has
/// no positive mass, a negative entry, or `temperature <= 0`.
pub fn listwise_softmax(
    scores: ArrayView1<'_, f32>,
    target: ArrayView1<'_, f32>,
    temperature: f32,
) -> Result<(f32, Array1<f32>)> {
    if scores.len() != target.len() {
        return Err(Error::shape("listwise target", scores.len(), target.len()));
    }
    if temperature <= 0.0 || temperature.is_nan() {
        return Err(Error::Config(format!(
            "temperature must be > 0, got {temperature}"
        )));
    }
    if target.iter().any(|&t| t < 0.0 || !t.is_finite()) {
        return Err(Error::Config(
            "listwise target has a negative or non-finite entry".into(),
        ));
    }
    let mass: f32 = target.sum();
    if mass <= 0.0 {
        return Err(Error::Config(
            "listwise target has no positive entry".into(),
        ));
    }
    let z: Vec<f32> = scores.iter().map(|s| s / temperature).collect();
    let lse = ruvector_gnn_kernels::softmax::log_sum_exp(&z);
    let mut loss = 0.0f32;
    let mut grad = Array1::zeros(z.len());
    for i in 0..z.len() {
        let t = target[i] / mass;
        let p = (z[i] - lse).exp();
        loss -= t * (z[i] - lse);
        grad[i] = (p - t) / temperature;
    }
    Ok((loss, grad))
}

/// InfoNCE with several positives over one candidate set:
/// `L = −log(Σ_{p∈pos} e^{s_p/τ} / Σ_j e^{s_j/τ})`. Returns the loss and `dL/ds`.
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_layers::loss::info_nce;
/// let (l, g) = info_nce(array![2.0f32, 0.0, 0.0].view(), &[0], 1.0)?;
/// assert!(l > 0.0 && g[0] < 0.0 && g[1] > 0.0);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] when `positives` is empty, names a candidate out of
/// range, or `temperature <= 0`.
pub fn info_nce(
    scores: ArrayView1<'_, f32>,
    positives: &[usize],
    temperature: f32,
) -> Result<(f32, Array1<f32>)> {
    if positives.is_empty() {
        return Err(Error::Config("InfoNCE needs at least one positive".into()));
    }
    if let Some(&p) = positives.iter().find(|&&p| p >= scores.len()) {
        return Err(Error::Config(format!(
            "positive {p} is out of range for {} candidates",
            scores.len()
        )));
    }
    if temperature <= 0.0 || temperature.is_nan() {
        return Err(Error::Config(format!(
            "temperature must be > 0, got {temperature}"
        )));
    }
    let z: Vec<f32> = scores.iter().map(|s| s / temperature).collect();
    let lse_all = ruvector_gnn_kernels::softmax::log_sum_exp(&z);
    let mut is_pos = vec![false; z.len()];
    for &p in positives {
        is_pos[p] = true;
    }
    let zp: Vec<f32> = (0..z.len()).filter(|&i| is_pos[i]).map(|i| z[i]).collect();
    let lse_pos = ruvector_gnn_kernels::softmax::log_sum_exp(&zp);
    let loss = lse_all - lse_pos;
    let grad = Array1::from_shape_fn(z.len(), |i| {
        let p_all = (z[i] - lse_all).exp();
        let p_pos = if is_pos[i] {
            (z[i] - lse_pos).exp()
        } else {
            0.0
        };
        (p_all - p_pos) / temperature
    });
    Ok((loss, grad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn fd_check(f: impl Fn(&[f32]) -> f32, x: &[f32], g: &[f32]) {
        for i in 0..x.len() {
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += 1e-3;
            b[i] -= 1e-3;
            let fd = (f(&a) - f(&b)) / 2e-3;
            assert!(
                (fd - g[i]).abs() < 2e-3,
                "coordinate {i}: fd {fd} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn cross_entropy_gradient() {
        let logits = array![[0.3f32, -1.0, 2.0], [1.0, 0.5, -0.2], [0.0, 0.0, 0.0]];
        let labels = [2, 0, 1];
        let mask = [true, true, false];
        let (_, g) = softmax_cross_entropy(logits.view(), &labels, Some(&mask)).unwrap();
        let flat: Vec<f32> = logits.iter().copied().collect();
        let f = |v: &[f32]| {
            let a = Array2::from_shape_vec((3, 3), v.to_vec()).unwrap();
            softmax_cross_entropy(a.view(), &labels, Some(&mask))
                .unwrap()
                .0
        };
        fd_check(f, &flat, &g.iter().copied().collect::<Vec<_>>());
        assert!(g.row(2).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn cross_entropy_bad_input() {
        let l = array![[0.0f32, 1.0]];
        assert!(softmax_cross_entropy(l.view(), &[2], None).is_err());
        assert!(softmax_cross_entropy(l.view(), &[0, 1], None).is_err());
        assert!(softmax_cross_entropy(l.view(), &[0], Some(&[false])).is_err());
        assert_eq!(accuracy(l.view(), &[1], None).unwrap(), 1.0);
    }

    #[test]
    fn listwise_and_infonce_gradients() {
        let s = [0.5f32, -0.3, 1.2, 0.0];
        let t = array![0.0f32, 2.0, 1.0, 0.0];
        let (_, g) =
            listwise_softmax(array![0.5f32, -0.3, 1.2, 0.0].view(), t.view(), 0.5).unwrap();
        fd_check(
            |v| {
                listwise_softmax(ArrayView1::from(v), t.view(), 0.5)
                    .unwrap()
                    .0
            },
            &s,
            g.as_slice().unwrap(),
        );
        let (_, g) = info_nce(ArrayView1::from(&s), &[1, 2], 0.7).unwrap();
        fd_check(
            |v| info_nce(ArrayView1::from(v), &[1, 2], 0.7).unwrap().0,
            &s,
            g.as_slice().unwrap(),
        );
        // One positive: InfoNCE equals listwise softmax with a one-hot target.
        let one_hot = array![0.0f32, 0.0, 1.0, 0.0];
        let a = info_nce(ArrayView1::from(&s), &[2], 0.7).unwrap().0;
        let b = listwise_softmax(ArrayView1::from(&s), one_hot.view(), 0.7)
            .unwrap()
            .0;
        assert!((a - b).abs() < 1e-6);
    }

    #[test]
    fn ranking_losses_reject_bad_input() {
        let s = array![1.0f32, 2.0];
        assert!(info_nce(s.view(), &[], 1.0).is_err());
        assert!(info_nce(s.view(), &[2], 1.0).is_err());
        assert!(info_nce(s.view(), &[0], 0.0).is_err());
        assert!(listwise_softmax(s.view(), array![0.0f32, 0.0].view(), 1.0).is_err());
        assert!(listwise_softmax(s.view(), array![1.0f32].view(), 1.0).is_err());
    }
}
