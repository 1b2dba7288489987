//! One trainable net: model plus its SGD state, and the maths of one training step.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;

use crate::backend::TrainBackend;
use crate::model::{Probes, ResNet, ResNetConfig};

pub type Optim<B> = OptimizerAdaptor<Sgd<<B as AutodiffBackend>::InnerBackend>, ResNet<B>, B>;

/// SGD as in the paper and `PyTorch`: momentum with dampening 0, no Nesterov, weight decay
/// coupled (added to the gradient before momentum).
pub fn sgd(momentum: f64, weight_decay: f64) -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig {
            penalty: weight_decay as f32,
        }))
}

/// A model and the optimiser state that belongs to it.
pub struct NetState<B: TrainBackend> {
    pub model: ResNet<B>,
    pub optim: Optim<B>,
}

/// What a forward/backward pass leaves for the caller, still on the device.
pub struct Pass<B: TrainBackend> {
    pub grads: GradientsParams,
    /// `[loss, correct]` of the batch, on the inner backend.
    pub stats: Tensor<B::InnerBackend, 1>,
    pub probes: Option<(Probes<B>, B::Gradients)>,
}

impl<B: TrainBackend> NetState<B> {
    pub fn new(
        config: &ResNetConfig,
        seed: u64,
        momentum: f64,
        weight_decay: f64,
        device: &B::Device,
    ) -> Self {
        Self {
            model: config.init(seed, device),
            optim: sgd(momentum, weight_decay).init(),
        }
    }

    /// Forward and backward on one batch. With `probe`, the probed forward is used and the raw
    /// gradients are kept so the probes can be read.
    pub fn forward_backward(
        &self,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        probe: bool,
    ) -> Pass<B> {
        let (logits, probes) = if probe {
            let (logits, probes) = self.model.forward_probed(images);
            (logits, Some(probes))
        } else {
            (self.model.forward(images), None)
        };
        let (loss, correct) = loss_and_correct(logits, labels);
        let stats = Tensor::cat(vec![loss.clone().inner(), correct.inner()], 0);
        let mut raw = loss.backward();
        let grads = GradientsParams::from_module(&mut raw, &self.model);
        Pass {
            grads,
            stats,
            probes: probes.map(|p| (p, raw)),
        }
    }

    /// Applies one optimiser step. Takes `self` so the parameters are uniquely owned during the
    /// update and backends can update them in place.
    #[must_use]
    pub fn apply(mut self, lr: f64, grads: GradientsParams) -> Self {
        self.model = self.optim.step(lr, self.model, grads);
        self
    }

    /// Rebuilds the optimiser with new momentum / weight decay, keeping the momentum buffers.
    pub fn reconfigure(&mut self, momentum: f64, weight_decay: f64) {
        let record = self.optim.to_record();
        self.optim = sgd(momentum, weight_decay).init().load_record(record);
    }

    pub fn eval_model(&self) -> ResNet<B::InnerBackend> {
        self.model.valid()
    }
}

/// Mean cross-entropy `[1]` and number of correct predictions `[1]` (as float).
pub fn loss_and_correct<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [n, _] = logits.dims();
    let correct = logits
        .clone()
        .detach()
        .argmax(1)
        .reshape([n])
        .equal(labels.clone())
        .int()
        .sum()
        .float();
    let picked = log_softmax(logits, 1).gather(1, labels.reshape([n, 1])); // [n, 1]
    (picked.mean().neg(), correct)
}

/// Forward and backward of every net on the same batch. The nets are independent until their
/// optimiser steps, so each runs on its own thread (two cores: both busy).
pub fn forward_backward_all<B: TrainBackend>(
    nets: &[NetState<B>],
    images: &Tensor<B, 4>,
    labels: &Tensor<B, 1, Int>,
    probe: bool,
) -> Vec<Pass<B>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = nets
            .iter()
            .map(|net| {
                let (images, labels) = (images.clone(), labels.clone());
                scope.spawn(move || net.forward_backward(images, labels, probe))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Concatenates scalars on the device and reads them back in one transfer (one sync).
pub fn read_back<B: Backend>(parts: Vec<Tensor<B, 1>>) -> Vec<f64> {
    Tensor::cat(parts, 0)
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap_or_default()
}
