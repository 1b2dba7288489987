//! Option A's shortcut where the channels double, on channels-last activations: `[b, h, w, c]`
//! -> `[b, h/2, w/2, 2c]`, every second row and column, then `c` zero channels.
//!
//! Written for burn's fusion backends (CUDA), where each kernel launch counts. As a strided
//! slice, a reshape and a `cat` with zeros, recorded by autodiff, it ran as four kernels forward
//! (a copy of the strided view, the zeros, two slice assignments) and two backward (zeros and a
//! slice assignment), and broke the fusion of the batch norm backward next to it (lavapipe,
//! `scripts/cubecl-lavapipe.sh`). Here both directions are one broadcast multiply each, with the
//! reshapes and slices as views around it:
//! - forward: the kept pixels, viewed `[b, h/2, 1, w/2, 1, 1, c]`, times `[1, 0]` along an axis
//!   of two that splits the `2c` output channels into `[2, c]`;
//! - backward: the output gradient's first `c` channels, viewed `[b, h/2, 1, w/2, 1, 1, c]`,
//!   times a `[2, 2]` mask that is one at the kept position of each 2x2 window.
//!
//! `Autodiff<B>` records [`recorded`], one operation with that backward (see
//! `super::backend::ModelBackend`).

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

/// `[b, h, w, c]` -> `[b, h/2, w/2, 2c]` (`h` and `w` even), untracked.
pub fn forward<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, w, c] = x.dims();
    let (h2, w2) = (h / 2, w / 2);
    let kept =
        x.reshape([b, h2, 2, w2, 2, 1, c])
            .slice([0..b, 0..h2, 0..1, 0..w2, 0..1, 0..1, 0..c]);
    let first_half = constant::<B>([1, 1, 1, 1, 1, 2, 1], &[1.0, 0.0], &kept.device());
    (kept * first_half).reshape([b, h2, w2, 2 * c])
}

/// The gradient in `x` `[b, h, w, c]` of [`forward`], for the output gradient `dy`
/// `[b, h/2, w/2, 2c]`: `dy`'s first `c` channels at the kept pixels, zero elsewhere.
pub fn backward<B: Backend>(dy: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h2, w2, c2] = dy.dims();
    let c = c2 / 2;
    let first_half =
        dy.reshape([b, h2, 1, w2, 1, 2, c])
            .slice([0..b, 0..h2, 0..1, 0..w2, 0..1, 0..1, 0..c]);
    let kept = constant::<B>(
        [1, 1, 2, 1, 2, 1, 1],
        &[1.0, 0.0, 0.0, 0.0],
        &first_half.device(),
    );
    (first_half * kept).reshape([b, 2 * h2, 2 * w2, c])
}

/// A small constant tensor: an upload, no kernel.
fn constant<B: Backend>(shape: [usize; 7], values: &[f32], device: &B::Device) -> Tensor<B, 7> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// The recorded operation: parent `x`, no state (the backward needs only `dy`'s shape).
#[derive(Debug)]
struct SubsampleDouble;

impl<B: Backend> Backward<B, 1> for SubsampleDouble {
    type State = ();

    fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy =
            Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(grads.consume::<B>(&ops.node)));
        if let [Some(parent)] = ops.parents {
            grads.register::<B>(parent.id, backward(dy).into_primitive().tensor());
        }
    }
}

/// [`forward`] as one recorded operation with [`backward`] as its backward.
pub fn recorded<B: Backend, C: CheckpointStrategy>(
    x: Tensor<Autodiff<B, C>, 4>,
) -> Tensor<Autodiff<B, C>, 4> {
    let x = x.into_primitive().tensor();
    let output = forward(Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(
        x.primitive.clone(),
    )));
    let output = SubsampleDouble
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateless(output.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::normal_tensor;
    use crate::rng::Rng;

    type B = Autodiff<burn::backend::Flex>;

    /// The reference: burn's own ops, recorded op by op.
    fn by_slices(x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, w, c] = x.dims();
        let kept = x
            .reshape([b, h / 2, 2, w / 2, 2, c])
            .slice([0..b, 0..h / 2, 0..1, 0..w / 2, 0..1, 0..c])
            .reshape([b, h / 2, w / 2, c]);
        Tensor::cat(vec![kept.clone(), kept.zeros_like()], 3)
    }

    fn values<const D: usize>(t: Tensor<impl Backend, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn keeps_even_pixels_then_zero_channels_and_sends_the_gradient_back_there() {
        let device = Default::default();
        let rng = &mut Rng::new(3);
        let x = normal_tensor::<B, 4>([2, 4, 6, 3], 0.0, 1.0, rng, &device).require_grad();
        // Distinct weights per output element, so each gradient entry is identifiable.
        let weights = normal_tensor::<B, 4>([2, 2, 3, 6], 0.0, 1.0, rng, &device);
        let gradient_of = |y: Tensor<B, 4>| {
            assert_eq!(y.dims(), [2, 2, 3, 6]);
            let grads = (y.clone() * weights.clone()).sum().backward();
            (values(y), values(x.grad(&grads).unwrap()))
        };
        let (y, dx) = gradient_of(recorded(x.clone()));
        let (y_ref, dx_ref) = gradient_of(by_slices(x.clone()));
        assert_eq!(y, y_ref);
        assert_eq!(dx, dx_ref);
        // The reference itself: output pixel [0, 1, 2] channel 1 is input [0, 2, 4] channel 1,
        // channels 3..6 are zero, and an odd pixel gets no gradient.
        let x_values = values(x.clone());
        let at = |n: usize, i: usize, j: usize, k: usize| ((n * 4 + i) * 6 + j) * 3 + k;
        let y_at = |n: usize, i: usize, j: usize, k: usize| ((n * 2 + i) * 3 + j) * 6 + k;
        assert_eq!(y[y_at(0, 1, 2, 1)], x_values[at(0, 2, 4, 1)]);
        assert!(y.chunks(6).all(|pixel| pixel[3..] == [0.0; 3]));
        assert_eq!(dx[at(1, 1, 3, 2)], 0.0);
        assert_ne!(dx[at(1, 2, 4, 2)], 0.0);
    }

    #[test]
    fn untracked_on_a_plain_backend_is_the_same_forward() {
        let device = Default::default();
        let x = Tensor::<burn::backend::Flex, 1, Int>::arange(0..2 * 2 * 2 * 2, &device)
            .float()
            .reshape([2, 2, 2, 2]);
        // [n, i, j, k]: kept pixel (0, 0) of each image, channels (k, zero, zero).
        assert_eq!(values(forward(x)), vec![0., 1., 0., 0., 8., 9., 0., 0.]);
    }
}
