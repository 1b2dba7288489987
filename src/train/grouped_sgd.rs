//! The optimiser step handed to the backend one parameter shape at a time, where the backend
//! updates a shape's parameters together ([`ModelBackend::OWN_SGD_GROUPS`]: cubecl without
//! burn-fusion, one kernel per shape where burn's adaptor made one launch per parameter).
//!
//! burn's `OptimizerAdaptor` calls the optimiser once per parameter, as it maps the module. Here
//! one pass collects every parameter that has a gradient with its momentum buffer, grouped by
//! shape in the order shapes first appear; each group is one [`ModelBackend::sgd_group`] call;
//! a second pass puts the new parameters into the module. The maths is [`super::sgd::Sgd`]'s
//! and the state is the adaptor's records, read and written as the adaptor does (the same
//! checkpoints, and a switch between the two paths keeps the momentum).

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::optim::record::AdaptorRecord;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;
use std::collections::HashMap;

use super::nets::OptimRecord;
use super::sgd::{MomentumState, Sgd, SgdState};
use crate::backend::TrainBackend;
use crate::model::{ModelBackend, SgdRates, SgdTensors};

type Inner<B> = <B as AutodiffBackend>::InnerBackend;
/// A parameter's new value and momentum buffer.
type Updated<B> = (FloatTensor<Inner<B>>, FloatTensor<Inner<B>>);

/// One SGD step of `module` with rate `lr` and `sgd`'s other rates: every parameter with a
/// gradient in `grads` is updated and its momentum buffer in `records` replaced; the others, and
/// their records, stay as they are.
pub fn step<B: TrainBackend, M: AutodiffModule<B>>(
    sgd: Sgd,
    lr: f64,
    module: M,
    grads: GradientsParams,
    records: &mut OptimRecord<B>,
) -> M {
    let mut collect = Collect::<B> {
        grads,
        records,
        groups: Vec::new(),
    };
    module.visit(&mut collect);
    let rates = SgdRates {
        lr,
        momentum: sgd.momentum,
        weight_decay: sgd.weight_decay,
    };
    let mut updated = HashMap::new();
    for group in collect.groups {
        let (ids, steps): (Vec<ParamId>, Vec<SgdTensors<Inner<B>>>) =
            group.steps.into_iter().unzip();
        let new = <Inner<B> as ModelBackend>::sgd_group(steps, rates);
        updated.extend(ids.into_iter().zip(new));
    }
    module.map(&mut Replace::<B> { updated, records })
}

/// The steps of one parameter shape, in module order.
struct Group<B: TrainBackend> {
    shape: Vec<usize>,
    steps: Vec<(ParamId, SgdTensors<Inner<B>>)>,
}

/// The first pass: each parameter with a gradient, its gradient and its momentum buffer (taken
/// out of the records), grouped by shape.
struct Collect<'a, B: TrainBackend> {
    grads: GradientsParams,
    records: &'a mut OptimRecord<B>,
    groups: Vec<Group<B>>,
}

impl<B: TrainBackend> ModuleVisitor<B> for Collect<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(grad) = self.grads.remove::<Inner<B>, D>(param.id) else {
            return;
        };
        let velocity = self.records.remove(&param.id).and_then(|record| {
            let state: SgdState<Inner<B>, D> = record.into_state();
            state.momentum.map(|m| m.velocity.into_primitive().tensor())
        });
        let shape = grad.dims().to_vec();
        let step = SgdTensors {
            param: param.val().inner().into_primitive().tensor(),
            grad: grad.into_primitive().tensor(),
            velocity,
        };
        let i = self
            .groups
            .iter()
            .position(|g| g.shape == shape)
            .unwrap_or_else(|| {
                self.groups.push(Group {
                    shape,
                    steps: Vec::new(),
                });
                self.groups.len() - 1
            });
        self.groups[i].steps.push((param.id, step));
    }
}

/// The second pass: the new parameters into the module (tracked again where they were), their
/// momentum buffers into the records.
struct Replace<'a, B: TrainBackend> {
    updated: HashMap<ParamId, Updated<B>>,
    records: &'a mut OptimRecord<B>,
}

impl<B: TrainBackend> ModuleMapper<B> for Replace<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let Some((new, velocity)) = self.updated.remove(&param.id) else {
            return param;
        };
        let (id, old, mapper) = param.consume();
        let mut tensor = Tensor::from_inner(float::<Inner<B>, D>(new));
        if old.is_require_grad() {
            tensor = tensor.require_grad();
        }
        let momentum = Some(MomentumState {
            velocity: float::<Inner<B>, D>(velocity),
        });
        self.records
            .insert(id, AdaptorRecord::from_state(SgdState { momentum }));
        Param::from_mapped_value(id, tensor, mapper)
    }
}

fn float<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

#[cfg(test)]
mod tests {
    use crate::train::nets::NetState;
    use crate::train::nets::tests::{B, batch, config, logits};
    use burn::optim::Optimizer;

    /// One step of `net` on batch `seed`, through the adaptor or the grouped path (flex runs
    /// `sgd_group`'s default maths, so this checks the passes and the records around it).
    fn step(net: NetState<B>, seed: u64, grouped: bool) -> NetState<B> {
        let (images, labels) = batch(seed);
        let pass = net.forward_backward(images, labels, false);
        if grouped {
            net.apply_grouped(0.2, pass.grads)
        } else {
            net.apply(0.2, pass.grads)
        }
    }

    #[test]
    fn grouped_steps_train_as_burns_adaptor_and_hand_its_momentum_back_and_forth() {
        let device = Default::default();
        let new = || NetState::<B>::new(&config(), 3, 0.9, 1e-3, &device);
        let (mut adaptor, mut mixed) = (new(), new());
        let start = logits(&mixed);
        // The adaptor's records into the grouped path (steps 2, 3) and back (step 4): with
        // momentum 0.9 a lost or misplaced buffer changes the step.
        for (seed, grouped) in [(1, false), (2, true), (3, true), (4, false)] {
            adaptor = step(adaptor, seed, false);
            mixed = step(mixed, seed, grouped);
            assert_eq!(logits(&mixed), logits(&adaptor), "step {seed}");
        }
        assert_ne!(logits(&mixed), start);
        assert_eq!(
            mixed.optim.to_record().len(),
            adaptor.optim.to_record().len()
        );
        // Started on the grouped path (no momentum buffers yet), the same.
        let mut grouped = new();
        for seed in 1..=2 {
            grouped = step(grouped, seed, true);
        }
        let mut reference = new();
        for seed in 1..=2 {
            reference = step(reference, seed, false);
        }
        assert_eq!(logits(&grouped), logits(&reference));
    }
}
