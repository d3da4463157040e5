//! Semi-supervised node classification (the GCN and GAT papers' task), used by
//! the `node_classification` example, the CLI demo and the accuracy tests.
//!
//! Models and settings follow the papers:
//! - **GCN** (Kipf & Welling 2017): 2 layers, 16 hidden, ReLU, dropout 0.5,
//!   Adam lr 0.01, weight decay 5e-4 on the first layer, 200 epochs.
//! - **GAT** (Veličković et al. 2018): 8 heads × 8 hidden, ELU, dropout 0.6 on
//!   inputs and attention, output layer 1 head, Adam lr 0.005, weight decay
//!   5e-4, 200 epochs.
//! - **SAGE** (GraphSAGE-mean, full-batch): 2 layers, 16 hidden, ReLU,
//!   dropout 0.5, Adam lr 0.01, weight decay 5e-4, 200 epochs.
//!
//! The reported test accuracy is taken at the epoch with the best validation
//! accuracy, ties broken by the lower validation loss (the usual model
//! selection on the Planetoid split; the GAT paper stops early on both).

use crate::datasets::Planetoid;
use crate::layers::loss::{accuracy, softmax_cross_entropy};
use crate::layers::optim::{Adam, Optimizer};
use crate::layers::{
    Activation, Aggregator, AttentionConfig, Dropout, ForwardCtx, GNNConfig, GraphLayer, Result,
    SAGELayer, Sequential,
};

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Two-layer GCN.
    Gcn,
    /// Two-layer multi-head GAT.
    Gat,
    /// Two-layer GraphSAGE (mean aggregator).
    Sage,
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "gcn" => Ok(Self::Gcn),
            "gat" => Ok(Self::Gat),
            "sage" | "graphsage" => Ok(Self::Sage),
            other => Err(format!(
                "unknown model '{other}' (expected gcn, gat or sage)"
            )),
        }
    }
}

/// Training settings (defaults: the papers' for the chosen model).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSettings {
    /// The model.
    pub model: ModelKind,
    /// Epochs (full-batch steps).
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Seed of initialisation and dropout.
    pub seed: u64,
}

impl TrainSettings {
    /// The paper's settings for `model`.
    pub fn paper(model: ModelKind, seed: u64) -> Self {
        let (lr, weight_decay) = match model {
            ModelKind::Gcn | ModelKind::Sage => (0.01, 5e-4),
            ModelKind::Gat => (0.005, 5e-4),
        };
        Self {
            model,
            epochs: 200,
            lr,
            weight_decay,
            seed,
        }
    }
}

/// What one training run reached.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Test accuracy at the best-validation epoch.
    pub test_accuracy: f32,
    /// Best validation accuracy.
    pub val_accuracy: f32,
    /// Epoch (0-based) of the best validation accuracy.
    pub best_epoch: usize,
    /// Training loss per epoch.
    pub losses: Vec<f32>,
}

/// Builds the paper's model for `ds`.
///
/// # Errors
/// Layer construction errors (zero dimensions).
pub fn build_model(
    kind: ModelKind,
    in_dim: usize,
    classes: usize,
    seed: u64,
) -> Result<Sequential> {
    match kind {
        ModelKind::Gcn => {
            let config = GNNConfig {
                input_dim: in_dim,
                output_dim: classes,
                hidden_dim: 16,
                num_heads: 1,
                dropout: 0.5,
                activation: Activation::ReLU,
            };
            Sequential::gcn_stack(&config, 2, seed)
        }
        ModelKind::Gat => {
            let hidden = AttentionConfig {
                input_dim: in_dim,
                output_dim: 8,
                num_heads: 8,
                concat_heads: true,
                dropout: 0.6,
                leaky_relu_slope: 0.2,
            };
            Sequential::gat_stack(&hidden, classes, 2, Activation::ELU(1.0), seed)
        }
        ModelKind::Sage => {
            let mut m = Sequential::new(Vec::new());
            m.push(Box::new(Dropout::new(in_dim, 0.5)?))?;
            m.push(Box::new(
                SAGELayer::new(in_dim, 16, Aggregator::Mean, false, seed)?
                    .with_activation(Activation::ReLU),
            ))?;
            m.push(Box::new(Dropout::new(16, 0.5)?))?;
            m.push(Box::new(SAGELayer::new(
                16,
                classes,
                Aggregator::Mean,
                false,
                seed.wrapping_add(1),
            )?))?;
            Ok(m)
        }
    }
}

/// Trains on `ds` and reports the test accuracy at the best-validation epoch.
/// `on_epoch(epoch, loss, val_acc)` is called after each epoch.
///
/// # Errors
/// Layer errors (shapes), or a data set whose masks select no node.
pub fn train(
    ds: &Planetoid,
    settings: &TrainSettings,
    mut on_epoch: impl FnMut(usize, f32, f32),
) -> Result<TrainReport> {
    let mut model = build_model(
        settings.model,
        ds.features.ncols(),
        ds.num_classes,
        settings.seed,
    )?;
    let mut opt = Adam::new(settings.lr).with_weight_decay(settings.weight_decay);
    if settings.model == ModelKind::Gcn {
        // Kipf & Welling regularise only the first layer.
        opt = opt.with_decay_filter(|name| name.starts_with("layers.0."));
    }
    let x = ds.features.view();
    let mut report = TrainReport {
        test_accuracy: 0.0,
        val_accuracy: -1.0,
        best_epoch: 0,
        losses: Vec::with_capacity(settings.epochs),
    };
    let mut best_val_loss = f32::INFINITY;
    for epoch in 0..settings.epochs {
        let mut ctx = ForwardCtx::training(
            settings
                .seed
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(epoch as u64),
        );
        let (logits, cache) = model.forward_train(x, &ds.graph, &mut ctx)?;
        let (loss, grad) = softmax_cross_entropy(logits.view(), &ds.labels, Some(&ds.train_mask))?;
        // The input is data: no gradient for it (the first layer skips `dX`).
        let grads = model.backward_params(&cache, grad.view())?;
        opt.step(&mut model, &grads)?;
        report.losses.push(loss);

        let logits = model.forward_graph(x, &ds.graph)?;
        let val = accuracy(logits.view(), &ds.labels, Some(&ds.val_mask))?;
        let (val_loss, _) = softmax_cross_entropy(logits.view(), &ds.labels, Some(&ds.val_mask))?;
        // Best validation accuracy; ties go to the lower validation loss (the
        // GAT paper's early-stopping criteria, used here for model selection).
        if val > report.val_accuracy || (val == report.val_accuracy && val_loss < best_val_loss) {
            report.val_accuracy = val;
            best_val_loss = val_loss;
            report.best_epoch = epoch;
            report.test_accuracy = accuracy(logits.view(), &ds.labels, Some(&ds.test_mask))?;
        }
        on_epoch(epoch, loss, val);
    }
    Ok(report)
}
