//! A scalar whose gradient in its input is already known, recorded as such: the loss, whose
//! gradient in the logits has a closed form (`crate::train::loss`).
//!
//! Reached through a surrogate instead (`s - s.detach() + value`, `s = Σ input·gradient`),
//! autodiff runs a sum forward and the sum's, the subtraction's and the product's backward: five
//! kernels on burn's fusion (lavapipe, `scripts/cubecl-lavapipe.sh`) that only hand `gradient`
//! back. Recorded as one operation, the backward is `gradient · dy`, a single element-wise pass.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

/// The recorded operation: parent the input, state the gradient (inner backend).
#[derive(Debug)]
struct KnownGradient;

impl<B: Backend> Backward<B, 1> for KnownGradient {
    type State = Tensor<B, 2>;

    fn backward(self, ops: Ops<Tensor<B, 2>, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy =
            Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(grads.consume::<B>(&ops.node)));
        if let [Some(parent)] = ops.parents {
            let grad = ops.state * dy.reshape([1, 1]);
            grads.register::<B>(parent.id, grad.into_primitive().tensor());
        }
    }
}

/// `value` `[1]`, recorded as a function of `input` whose gradient in `input` is `gradient`
/// (same shape as `input`, not differentiated itself).
pub fn recorded<B: Backend, C: CheckpointStrategy>(
    value: Tensor<Autodiff<B, C>, 1>,
    input: Tensor<Autodiff<B, C>, 2>,
    gradient: Tensor<Autodiff<B, C>, 2>,
) -> Tensor<Autodiff<B, C>, 1> {
    let input = input.into_primitive().tensor();
    let value = value.inner().into_primitive().tensor();
    let output = match KnownGradient
        .prepare::<C>([input.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(gradient.inner(), value),
        OpsKind::UnTracked(prep) => prep.finish(value),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = Autodiff<burn::backend::Flex>;

    #[test]
    fn the_value_is_kept_and_the_gradient_is_the_given_one_times_the_output_gradient() {
        let device = Default::default();
        let input = Tensor::<B, 2>::from_data([[1.0, 2.0], [3.0, 4.0]], &device).require_grad();
        let gradient = Tensor::<B, 2>::from_data([[0.5, -1.0], [0.0, 2.0]], &device);
        let value = Tensor::<B, 1>::from_data([7.0], &device);
        let y = recorded(value, input.clone(), gradient);
        let y_value: Vec<f32> = y.clone().into_data().to_vec().unwrap();
        assert_eq!(y_value, vec![7.0]);
        let grads = (y * 3.0).backward();
        let dx: Vec<f32> = input.grad(&grads).unwrap().into_data().to_vec().unwrap();
        assert_eq!(dx, vec![1.5, -3.0, 0.0, 6.0]);
    }
}
