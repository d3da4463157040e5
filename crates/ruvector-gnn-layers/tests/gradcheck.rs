//! The gradient checker itself: it must flag a wrong backward and report
//! failures to run instead of panicking.

mod common;

use common::{features, random_graph};
use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD};
use ruvector_gnn_layers::gradcheck::{check_layer, check_layer_with, GradCheckOptions};
use ruvector_gnn_layers::{
    Activation, Cache, Csr, Error, ForwardCtx, GCNLayer, GNNConfig, Gradients, GraphLayer,
    Parameters,
};

/// `y = x · s` with a scalar parameter `s`, whose backward is off by `bug`.
struct Scale {
    s: ndarray::Array1<f32>,
    bug: f32,
}

impl Parameters for Scale {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![("s".into(), self.s.view().into_dyn())]
    }
    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![("s".into(), self.s.view_mut().into_dyn())]
    }
}

impl GraphLayer for Scale {
    fn input_dim(&self) -> usize {
        2
    }
    fn output_dim(&self) -> usize {
        2
    }
    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        _graph: &Csr,
        _ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache), Error> {
        Ok((&x * self.s[0], Box::new(x.to_owned())))
    }
    fn backward(
        &self,
        cache: &Cache,
        dy: ArrayView2<'_, f32>,
    ) -> Result<(Array2<f32>, Gradients), Error> {
        let x = cache
            .downcast_ref::<Array2<f32>>()
            .ok_or(Error::BadCache("scale"))?;
        let mut g = Gradients::new();
        let ds: f32 = (x * &dy).sum() * (1.0 + self.bug);
        g.insert("s", ndarray::arr1(&[ds]).into_dyn());
        Ok((&dy * self.s[0], g))
    }
    fn kind(&self) -> &'static str {
        "scale"
    }
}

#[test]
fn correct_layer_passes_and_wrong_backward_is_caught() {
    let g = Csr::from_adjacency(&[vec![], vec![], vec![]]).unwrap();
    let x = features(3, 2, 1);
    let mut good = Scale {
        s: ndarray::arr1(&[1.5]),
        bug: 0.0,
    };
    let report = check_layer(&mut good, x.view(), &g, 1);
    report.assert_ok(1e-3);
    assert_eq!(good.s[0], 1.5, "parameters restored");
    let mut bad = Scale {
        s: ndarray::arr1(&[1.5]),
        bug: 0.05,
    };
    let report = check_layer(&mut bad, x.view(), &g, 1);
    assert!(!report.is_ok(1e-2), "{report}");
    assert!(report.get("s").unwrap().max_rel_error > 0.04);
    assert!(report.get("x").unwrap().max_rel_error < 1e-3);
}

#[test]
fn failure_to_run_is_reported() {
    let mut gcn = GCNLayer::new(GNNConfig {
        input_dim: 3,
        output_dim: 2,
        ..Default::default()
    })
    .unwrap();
    let g = Csr::from_adjacency(&[vec![1], vec![0]]).unwrap();
    let report = check_layer(&mut gcn, Array2::zeros((2, 5)).view(), &g, 1);
    assert!(report.failure.as_deref().unwrap().contains("forward"));
    assert!(!report.is_ok(1.0));
    assert_eq!(report.max_rel_error(), f64::INFINITY);
}

#[test]
fn options_bound_the_work_and_restore_parameters() {
    let mut gcn = GCNLayer::with_seed(
        GNNConfig {
            input_dim: 6,
            output_dim: 5,
            activation: Activation::Identity,
            ..Default::default()
        },
        2,
    )
    .unwrap();
    let before = gcn.weight().clone();
    let g = Csr::from_adjacency(&random_graph(10, 3, 0, 3)).unwrap();
    let x = features(10, 6, 4);
    let opts = GradCheckOptions {
        max_coords: 4,
        ..Default::default()
    };
    let report = check_layer_with(&mut gcn, x.view(), &g, 5, &opts);
    report.assert_ok(1e-2);
    assert!(report.tensors.iter().all(|t| t.checked <= 4));
    assert_eq!(gcn.weight(), &before);
}
