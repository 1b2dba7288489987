//! The global average pool on channels-last activations: `[b, h, w, c]` -> `[b, c]`.
//!
//! Recorded op by op, its backward on burn's fusion (0.21) ran as three kernels (lavapipe,
//! `scripts/cubecl-lavapipe.sh`): autodiff's mean backward sums the gradient over the pooled
//! axis (of size one), fills a tensor of ones and multiplies. Here it is one element-wise pass
//! that broadcasts `dy / (h·w)` over the pixels. `Autodiff<B>` records [`recorded`] (see
//! `super::backend::ModelBackend`).

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

/// The mean over the pixels of `x` `[b, h, w, c]`: `[b, c]`, untracked.
pub fn forward<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [b, h, w, c] = x.dims();
    x.reshape([b, h * w, c]).mean_dim(1).reshape([b, c])
}

/// The gradient in `x` `[b, h, w, c]` of [`forward`] for the output gradient `dy` `[b, c]`:
/// `dy / (h·w)` at every pixel, written contiguously.
pub fn backward<B: Backend>(dy: Tensor<B, 2>, [b, h, w, c]: [usize; 4]) -> Tensor<B, 4> {
    // The reshape first and the zeros' shape from the start, so that the pass fuses into one.
    let dy = dy.reshape([b, 1, 1, c]);
    (Tensor::zeros([b, h, w, c], &dy.device()) + dy).div_scalar((h * w) as f64)
}

/// The recorded operation: parent `x`, state its shape.
#[derive(Debug)]
struct AveragePool;

impl<B: Backend> Backward<B, 1> for AveragePool {
    type State = [usize; 4];

    fn backward(self, ops: Ops<[usize; 4], 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy =
            Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(grads.consume::<B>(&ops.node)));
        if let [Some(parent)] = ops.parents {
            let dx = backward(dy, ops.state);
            grads.register::<B>(parent.id, dx.into_primitive().tensor());
        }
    }
}

/// [`forward`] as one recorded operation with [`backward`] as its backward.
pub fn recorded<B: Backend, C: CheckpointStrategy>(
    x: Tensor<Autodiff<B, C>, 4>,
) -> Tensor<Autodiff<B, C>, 2> {
    let dims = x.dims();
    let x = x.into_primitive().tensor();
    let output = forward(Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(
        x.primitive.clone(),
    )))
    .into_primitive()
    .tensor();
    let output = match AveragePool
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(dims, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::normal_tensor;
    use crate::rng::Rng;

    type B = Autodiff<burn::backend::Flex>;

    #[test]
    fn the_mean_over_pixels_and_its_gradient_match_burns_own() {
        let device = Default::default();
        let rng = &mut Rng::new(5);
        let x = normal_tensor::<B, 4>([2, 3, 4, 5], 0.0, 1.0, rng, &device).require_grad();
        let weights = normal_tensor::<B, 2>([2, 5], 0.0, 1.0, rng, &device);
        let run = |y: Tensor<B, 2>| {
            let grads = (y.clone() * weights.clone()).sum().backward();
            let values = |t: Tensor<burn::backend::Flex, 2>| t.into_data().to_vec::<f32>();
            let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().to_vec().unwrap();
            (values(y.inner()).unwrap(), dx)
        };
        let (y, dx) = run(recorded(x.clone()));
        let (y_ref, dx_ref) = run(x.clone().mean_dim(1).mean_dim(2).reshape([2, 5]));
        for (a, b) in y.iter().zip(&y_ref).chain(dx.iter().zip(&dx_ref)) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Every pixel of image 1, channel 2 gets weight[1][2] / 12.
        let w: Vec<f32> = weights.into_data().to_vec().unwrap();
        let at = |n: usize, i: usize, j: usize, k: usize| ((n * 3 + i) * 4 + j) * 5 + k;
        assert!((dx[at(1, 2, 3, 2)] - w[5 + 2] / 12.0).abs() < 1e-7);
    }
}
