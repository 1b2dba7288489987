//! The SGD update of one parameter: the maths every backend runs by default, and the rates it
//! takes. A backend can run a parameter shape's updates as one kernel instead
//! ([`super::ModelBackend::sgd_group`]).

use burn::prelude::*;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{TensorMetadata, TensorPrimitive};

/// The rates of one SGD step (see `train::sgd`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdRates {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

/// One SGD step of one parameter: weight decay coupled (added to the gradient), momentum with
/// dampening 0 and no Nesterov (the buffer starts as the first gradient), as in the paper and
/// `PyTorch`. Returns the new parameter and momentum buffer.
///
/// Op for op, and drop for drop, burn's `Sgd` with that configuration: the same values bit for
/// bit, and the same operation stream for burn-fusion. Both matter there: without the
/// multiplication by `1 - dampening` (exactly 1) and with the decayed gradient moved into its
/// last operation instead of dropped after it, the update has 59 operations and 59 drops fewer
/// per residual ResNet-20 step, yet burn-fusion then cut some of batch norm's operations out of
/// their fused kernels: 379 -> 389 launches per step (`scripts/cubecl-lavapipe.sh`; 442 -> 438
/// plans). Either change alone did the same; only burn's exact sequence gave 379 back. Kept as
/// burn issues it until a GPU measures the difference.
pub fn sgd_step<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    grad: Tensor<B, D>,
    velocity: Option<Tensor<B, D>>,
    rates: SgdRates,
) -> (Tensor<B, D>, Tensor<B, D>) {
    let grad = param.clone().mul_scalar(rates.weight_decay).add(grad);
    let velocity = match velocity {
        // `1 - dampening`, dampening 0.
        Some(velocity) => grad
            .clone()
            .mul_scalar(1.0)
            .add(velocity.mul_scalar(rates.momentum)),
        None => grad.clone(),
    };
    let update = velocity.clone();
    drop(grad);
    (param - update.mul_scalar(rates.lr), velocity)
}

/// One parameter's SGD step in a [`super::ModelBackend::sgd_group`]: its tensors, of any rank.
pub struct SgdTensors<B: Backend> {
    pub param: FloatTensor<B>,
    pub grad: FloatTensor<B>,
    /// The momentum buffer, none before the parameter's first step.
    pub velocity: Option<FloatTensor<B>>,
}

/// [`sgd_step`] on tensors of any rank: flattened, stepped, shaped back. The values are
/// [`sgd_step`]'s, element for element.
pub fn sgd_step_flat<B: Backend>(
    step: SgdTensors<B>,
    rates: SgdRates,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let shape = step.param.shape();
    let n = shape.num_elements();
    let flat = |t: FloatTensor<B>| {
        Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(B::float_reshape(t, Shape::new([n]))))
    };
    let (param, velocity) = sgd_step(
        flat(step.param),
        flat(step.grad),
        step.velocity.map(flat),
        rates,
    );
    let back = |t: Tensor<B, 1>| B::float_reshape(t.into_primitive().tensor(), shape.clone());
    (back(param), back(velocity))
}
