//! The ReLU after batch norm on channels-last rows `[n, c]`, as one recorded operation where the
//! inner backend runs its own forward and backward (`ModelBackend::OWN_RELU`: cubecl without
//! burn-fusion, one kernel each way, `relu_kernel`). burn's own ReLU is a compare and a mask fill
//! each way: four launches per ReLU per step where nothing fuses them, 76 of an unfused residual
//! ResNet-20 step's 511; with the kernels 473 (counted on burn-wgpu over lavapipe,
//! `scripts/cubecl-lavapipe.sh --unfused`). Every other backend keeps burn's ReLU, recorded by
//! autodiff as before: burn-fusion fuses it, and the fused step's operation stream stays burn's
//! (379 launches, counted again).

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

use super::ModelBackend;

/// `dx` for the output gradient `dy` of a ReLU whose output is `y`: burn's `relu_backward`
/// (zero where `y <= 0`).
pub fn backward<B: Backend>(y: Tensor<B, 2>, dy: Tensor<B, 2>) -> Tensor<B, 2> {
    dy.mask_fill(y.lower_equal_elem(0.0), 0.0)
}

/// The recorded operation: parent `x`, state the output `y` (inner backend).
#[derive(Debug)]
struct Relu;

impl<B: ModelBackend> Backward<B, 1> for Relu {
    type State = Tensor<B, 2>;

    fn backward(self, ops: Ops<Tensor<B, 2>, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = Tensor::from_primitive(TensorPrimitive::Float(grads.consume::<B>(&ops.node)));
        let [parent] = ops.parents;
        if let Some(node) = parent {
            let dx = B::relu_rows_backward(ops.state, dy);
            grads.register::<B>(node.id, dx.into_primitive().tensor());
        }
    }
}

/// The ReLU as one recorded operation over the inner backend's `relu_rows` and
/// `relu_rows_backward`.
pub fn recorded<B: ModelBackend, C: CheckpointStrategy>(
    x: Tensor<Autodiff<B, C>, 2>,
) -> Tensor<Autodiff<B, C>, 2> {
    let x = x.into_primitive().tensor();
    let y = B::relu_rows(Tensor::from_primitive(TensorPrimitive::Float(
        x.primitive.clone(),
    )));
    let output = y.clone().into_primitive().tensor();
    let output = match Relu
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(y, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, activation};

    type B = Autodiff<burn::backend::Flex>;

    #[test]
    fn the_recorded_relu_and_its_gradient_are_burns_own() {
        let device = Default::default();
        B::seed(&device, 9);
        let x = Tensor::<B, 2>::random([6, 5], Distribution::Normal(0.0, 1.0), &device);
        // Exact zeros too: burn's gradient there is zero (`y <= 0`).
        let small = x.clone().abs().lower_elem(0.3);
        let x = x.mask_fill(small, 0.0).require_grad();
        let weights = Tensor::<B, 2>::random([6, 5], Distribution::Normal(0.0, 1.0), &device);
        let run = |y: Tensor<B, 2>| {
            let grads = (y.clone() * weights.clone()).sum().backward();
            let values = |t: Tensor<burn::backend::Flex, 2>| t.into_data().to_vec::<f32>();
            let dx = x
                .grad(&grads)
                .map(|g| g.into_data().to_vec::<f32>().unwrap());
            (values(y.inner()).unwrap(), dx)
        };
        let ours = run(recorded(x.clone()));
        assert_eq!(ours, run(activation::relu(x.clone())));
        assert!(
            ours.1
                .as_ref()
                .is_some_and(|dx| dx.contains(&0.0) && dx.iter().any(|g| *g != 0.0))
        );
    }
}
