//! resdash's SGD: the paper's and `PyTorch`'s (momentum, dampening 0, no Nesterov, weight decay
//! coupled; the maths is `model::sgd_step`). Through burn's optimiser adaptor it steps one
//! parameter at a time; a backend with an update kernel of its own gets each parameter shape's
//! steps together instead (`train::grouped_sgd`, same state). burn's `Sgd` offers neither hook,
//! and keeps its momentum buffer in a private field that only a device read-back can reach.
//!
//! The state is burn's `SgdState`'s, field for field (`momentum: Option<{ velocity }>`), so the
//! optimiser files of checkpoints written with burn's `Sgd` load, and the files written now load
//! with it.

use burn::optim::SimpleOptimizer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::prelude::*;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;

use crate::model::{ModelBackend, SgdRates, sgd_step};

/// The optimiser's rates other than the learning rate, which each step passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    pub momentum: f64,
    pub weight_decay: f64,
}

/// One parameter's state: its momentum buffer (none before its first step).
#[derive(Record, Clone)]
pub struct SgdState<B: Backend, const D: usize> {
    pub momentum: Option<MomentumState<B, D>>,
}

/// A momentum buffer, named as burn names it.
#[derive(Record, Clone)]
pub struct MomentumState<B: Backend, const D: usize> {
    pub velocity: Tensor<B, D>,
}

impl Sgd {
    /// The optimiser for a module of autodiff backend `B`.
    pub fn init<B: AutodiffBackend, M: burn::module::AutodiffModule<B>>(
        self,
    ) -> OptimizerAdaptor<Sgd, M, B>
    where
        B::InnerBackend: ModelBackend,
    {
        OptimizerAdaptor::from(self)
    }
}

impl<B: Backend> SimpleOptimizer<B> for Sgd {
    type State<const D: usize> = SgdState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.momentum).map(|m| m.velocity);
        let rates = SgdRates {
            lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        };
        let (tensor, velocity) = sgd_step(tensor, grad, velocity, rates);
        let momentum = Some(MomentumState { velocity });
        (tensor, Some(SgdState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        SgdState {
            momentum: state.momentum.map(|m| MomentumState {
                velocity: m.velocity.to_device(device),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResNet;
    use crate::train::loss::loss_and_correct;
    use crate::train::nets::OptimRecord;
    use crate::train::nets::tests::{B, batch, config, deep_copy};
    use burn::module::AutodiffModule;
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, Optimizer, SgdConfig};
    use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};

    /// One step of `model` on batch `seed` with `optim` (large rate: the momentum matters).
    fn train<O: Optimizer<ResNet<B>, B>>(model: ResNet<B>, optim: &mut O, seed: u64) -> ResNet<B> {
        let (images, labels) = batch(seed);
        let (loss, _) = loss_and_correct(model.forward(images), labels);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(0.2, model, grads)
    }

    fn logits(model: &ResNet<B>) -> Vec<f32> {
        let (images, _) = batch(99);
        model
            .valid()
            .forward(images.inner())
            .into_data()
            .to_vec()
            .unwrap()
    }

    #[test]
    fn steps_as_burns_sgd_does_and_resumes_from_its_optimiser_files() {
        let device = Default::default();
        let mut burns = SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(Some(WeightDecayConfig { penalty: 1e-3 }))
            .init::<B, ResNet<B>>();
        let mut ours = Sgd {
            momentum: 0.9,
            weight_decay: 1e-3,
        }
        .init::<B, ResNet<B>>();
        let start = config().init(3, &device);
        let (mut theirs, mut mine) = (deep_copy(&start), deep_copy(&start));
        for seed in 1..=2 {
            theirs = train(theirs, &mut burns, seed);
            mine = train(mine, &mut ours, seed);
        }
        assert_eq!(
            logits(&mine),
            logits(&theirs),
            "bit for bit after two steps"
        );
        assert_ne!(logits(&mine), logits(&start));

        // burn's optimiser file (as checkpoints written before resdash had its own SGD hold it),
        // loaded into resdash's optimiser: the third step, momentum included, is burn's.
        let dir = tempfile::tempdir().unwrap();
        let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
        let path = dir.path().join("residual-optim");
        Recorder::<B>::record(&recorder, burns.to_record(), path.clone()).unwrap();
        let record: OptimRecord<B> = Recorder::<B>::load(&recorder, path, &device).unwrap();
        assert_eq!(record.len(), burns.to_record().len());
        let mut resumed = Sgd {
            momentum: 0.9,
            weight_decay: 1e-3,
        }
        .init::<B, ResNet<B>>()
        .load_record(record);
        let theirs = train(theirs, &mut burns, 3);
        let resumed = train(deep_copy(&mine), &mut resumed, 3);
        assert_eq!(logits(&resumed), logits(&theirs), "the step after loading");
        // Without the momentum buffers the step differs: the file carried them.
        let fresh = train(
            mine,
            &mut Sgd {
                momentum: 0.9,
                weight_decay: 1e-3,
            }
            .init(),
            3,
        );
        assert_ne!(logits(&fresh), logits(&theirs));
    }
}
