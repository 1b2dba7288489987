//! The backends resdash's models run on, and the operations they record with a hand-written
//! backward when they train.
//!
//! On burn's fusion backends (CUDA) each kernel launch counts, and autodiff records some of the
//! model's and the loss's maths as many small ops whose backward fuses badly. Four pieces are
//! therefore recorded as one autodiff operation each, with the analytic backward written out:
//! - batch norm over channels-last rows ([`super::norm`]'s `rows`);
//! - option A's shortcut over channels-last activations ([`super::subsample`]);
//! - the global average pool over channels-last activations ([`super::pool`]);
//! - the loss, whose gradient in the logits is known in closed form ([`super::closed_form`]).
//!
//! On the CPU backends (flex, ndarray) a fifth: the bias-free convolution, which burn 0.21 runs
//! on flex per image and tile forward, and backward as a transposed convolution and a
//! batch-swapped convolution (on ndarray as scalar code); resdash's lowers all three onto
//! matrix products over the patches of a few images at a time ([`super::conv`],
//! [`ModelBackend::OWN_CONVOLUTION`]).
//!
//! The optimiser's update of each parameter shape is a method here too
//! ([`ModelBackend::sgd_group`]), so is the loss's forward ([`ModelBackend::cross_entropy`]), and
//! so are batch norm's forward and backward maths that the recorded batch norm runs on its inner
//! backend ([`ModelBackend::batch_norm_rows_forward`],
//! [`ModelBackend::batch_norm_rows_backward`]): cubecl without burn-fusion runs them as kernels of
//! resdash's own, every other backend as the maths. On cubecl alone the residual add and the
//! `ReLU` after batch norm run inside the batch norm operation, in its kernels
//! ([`ModelBackend::OWN_TAIL`]); elsewhere they stay burn's ops.
//!
//! burn 0.21 has none of them as a backend op, so the choice is made by type: the methods' defaults
//! are the forward maths alone (the plain backends never train: their models run in evaluation),
//! and `Autodiff<B>` overrides them with the recorded operations.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, FloatTensor};

use super::closed_form;
use super::cross_entropy::{self, CrossEntropy};
use super::norm::{Normalized, RowFactors, RowsForward, RowsGrads, RowsSaved, Tail, rows};
use super::update::{self, SgdRates, SgdTensors};
use super::{conv, pool, subsample};

/// A backend resdash's models run on.
pub trait ModelBackend: Backend {
    /// Batch norm with the batch's statistics over rows `[n, c]`, then `+ addends[0] + …`, then
    /// the `ReLU` if `relu` (a block's tail), and the running statistics updated from the batch's.
    /// Without autodiff this is the forward alone.
    fn batch_norm_rows(
        rows: Tensor<Self, 2>,
        factors: RowFactors<Self>,
        addends: &[Tensor<Self, 2>],
        relu: bool,
    ) -> Normalized<Self> {
        rows::untracked(rows, factors).then(addends, relu)
    }

    /// Batch norm's training forward over rows `[n, c]` on the inner backend (`norm::rows::recorded`
    /// records it), followed by its [`Tail`]: the output rows, the new running statistics, and
    /// what the backward needs. The default is `norm::rows::forward`'s maths; cubecl without
    /// burn-fusion runs three kernels, the tail inside the last.
    fn batch_norm_rows_forward(
        rows: Tensor<Self, 2>,
        factors: RowFactors<Self>,
        tail: Tail<Self>,
    ) -> RowsForward<Self> {
        rows::forward(rows, factors, tail)
    }

    /// Batch norm's backward over rows, through its tail: the gradients for the output gradient
    /// `dy` `[n, c]`. The default is `norm::rows::backward`'s maths; cubecl without burn-fusion
    /// runs three kernels.
    fn batch_norm_rows_backward(dy: Tensor<Self, 2>, saved: RowsSaved<Self>) -> RowsGrads<Self> {
        rows::backward(dy, saved)
    }

    /// Whether autodiff records batch norm's [`Tail`] (the residual add and the `ReLU`) inside
    /// the batch norm operation, run by this inner backend's `batch_norm_rows_forward` and
    /// `_backward`: where those are kernels of resdash's own (cubecl alone), it saves the add's
    /// and the `ReLU`'s launches. Elsewhere burn's ops follow the operation, and burn-fusion fuses
    /// them (the fused step's operations stay burn's).
    const OWN_TAIL: bool = false;

    /// `max(x, 0)` over channels-last rows `[n, c]` outside training (with the running
    /// statistics), and after batch norm where the tail is not the backend's own: burn's `ReLU`;
    /// cubecl without burn-fusion runs one kernel (`relu_kernel`).
    fn relu_rows(x: Tensor<Self, 2>) -> Tensor<Self, 2> {
        burn::tensor::activation::relu(x)
    }

    /// Option A's shortcut on channels-last activations: `[b, h, w, c]` (`h`, `w` even) ->
    /// `[b, h/2, w/2, 2c]`, every second row and column followed by `c` zero channels.
    fn subsample_double(x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        subsample::forward(x)
    }

    /// The mean over the pixels of channels-last activations: `[b, h, w, c]` -> `[b, c]`.
    fn average_pool_nhwc(x: Tensor<Self, 4>) -> Tensor<Self, 2> {
        pool::forward(x)
    }

    /// `value` `[1]`, differentiable in `input` with the gradient `gradient` (same shape as
    /// `input`, detached). Without autodiff this is `value`.
    fn with_gradient(
        value: Tensor<Self, 1>,
        _input: Tensor<Self, 2>,
        _gradient: Tensor<Self, 2>,
    ) -> Tensor<Self, 1> {
        value
    }

    /// The loss of logits `[n, classes]` (not tracked) for `labels` `[n]`: mean cross-entropy,
    /// number correct and the gradient in the logits. The default is `cross_entropy::maths`
    /// (burn's ops); autodiff runs its inner backend's; cubecl without burn-fusion one kernel.
    fn cross_entropy(logits: Tensor<Self, 2>, labels: Tensor<Self, 1, Int>) -> CrossEntropy<Self> {
        cross_entropy::maths(logits, labels)
    }

    /// Whether the model's bias-free convolutions run as [`Self::convolution`] rather than
    /// burn's `Conv2d`, recorded by autodiff over this backend as one operation whose backward
    /// is [`Self::convolution_backward`] (`conv::recorded`): flex and ndarray (float32), where
    /// resdash's lowered convolution and backward (`conv::lowered`) are faster than burn's.
    const OWN_CONVOLUTION: bool = false;

    /// `conv2d(x, weight)` without bias: burn's (flex, ndarray: lowered,
    /// `conv::lowered::forward`); on autodiff over a backend with [`Self::OWN_CONVOLUTION`], the
    /// inner backend's, recorded with its backward.
    fn convolution(
        x: Tensor<Self, 4>,
        weight: Tensor<Self, 4>,
        options: ConvOptions<2>,
    ) -> Tensor<Self, 4> {
        burn::tensor::module::conv2d(x, weight, None, options)
    }

    /// A bias-free convolution's gradients for the output gradient `dy`: the input's where
    /// `want[0]`, the weight's where `want[1]`. The default is burn's backward; flex and ndarray
    /// lower both onto two matrix products (`conv::lowered`).
    fn convolution_backward(
        x: Tensor<Self, 4>,
        weight: Tensor<Self, 4>,
        dy: Tensor<Self, 4>,
        options: ConvOptions<2>,
        want: [bool; 2],
    ) -> [Option<Tensor<Self, 4>>; 2] {
        conv::recorded::burns_backward(x, weight, dy, options, want)
    }

    /// Whether the optimiser hands this backend the SGD steps of each parameter shape together
    /// ([`Self::sgd_group`], `train::grouped_sgd`) rather than one step per parameter through
    /// burn's optimiser adaptor: where one kernel updates a shape's parameters
    /// together (cubecl without burn-fusion). burn-fusion fuses the per-parameter maths already,
    /// and its plans are tuned to the adaptor's exact sequence of operations.
    const OWN_SGD_GROUPS: bool = false;

    /// The SGD steps of parameters of one shape (where [`Self::OWN_SGD_GROUPS`]): each one's new
    /// parameter and momentum buffer, in order. The default is `update::sgd_step`'s maths step by
    /// step; cubecl without burn-fusion launches one kernel for the lot.
    fn sgd_group(
        steps: Vec<SgdTensors<Self>>,
        rates: SgdRates,
    ) -> Vec<(FloatTensor<Self>, FloatTensor<Self>)> {
        steps
            .into_iter()
            .map(|step| update::sgd_step_flat(step, rates))
            .collect()
    }
}

impl<B: ModelBackend, C: CheckpointStrategy> ModelBackend for Autodiff<B, C> {
    fn batch_norm_rows(
        rows: Tensor<Self, 2>,
        factors: RowFactors<Self>,
        addends: &[Tensor<Self, 2>],
        relu: bool,
    ) -> Normalized<Self> {
        if B::OWN_TAIL {
            let addend = addends.iter().cloned().reduce(|sum, a| sum + a);
            rows::recorded(rows, factors, Tail { addend, relu })
        } else {
            rows::recorded(rows, factors, Tail::NONE).then(addends, relu)
        }
    }

    fn subsample_double(x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        subsample::recorded(x)
    }

    fn average_pool_nhwc(x: Tensor<Self, 4>) -> Tensor<Self, 2> {
        pool::recorded(x)
    }

    fn with_gradient(
        value: Tensor<Self, 1>,
        input: Tensor<Self, 2>,
        gradient: Tensor<Self, 2>,
    ) -> Tensor<Self, 1> {
        closed_form::recorded(value, input, gradient)
    }

    const OWN_CONVOLUTION: bool = B::OWN_CONVOLUTION;

    fn convolution(
        x: Tensor<Self, 4>,
        weight: Tensor<Self, 4>,
        options: ConvOptions<2>,
    ) -> Tensor<Self, 4> {
        if B::OWN_CONVOLUTION {
            conv::recorded::recorded(x, weight, options)
        } else {
            burn::tensor::module::conv2d(x, weight, None, options)
        }
    }

    fn cross_entropy(logits: Tensor<Self, 2>, labels: Tensor<Self, 1, Int>) -> CrossEntropy<Self> {
        let inner = B::cross_entropy(logits.inner(), labels.inner());
        CrossEntropy {
            loss: Tensor::from_inner(inner.loss),
            correct: Tensor::from_inner(inner.correct),
            gradient: Tensor::from_inner(inner.gradient),
        }
    }
}

/// The CPU backends whose bias-free float32 convolutions run as `conv::lowered` (matrix
/// products over the patches of a few images): flex, where burn 0.21's forward gathers patches
/// per tile with a bounds test per element and its backward is a transposed and a batch-swapped
/// convolution, and ndarray, whose convolution backward is scalar code. Anything the lowering
/// does not cover (dilation, groups, another float type) stays burn's.
#[cfg(any(feature = "flex", feature = "ndarray"))]
macro_rules! lowered_convolutions {
    ($backend:ty) => {
        impl ModelBackend for $backend {
            const OWN_CONVOLUTION: bool = true;

            fn convolution(
                x: Tensor<Self, 4>,
                weight: Tensor<Self, 4>,
                options: ConvOptions<2>,
            ) -> Tensor<Self, 4> {
                match lowered_geometry(&x, &weight, &options) {
                    Some(geometry) => conv::lowered::forward(x, weight, &geometry),
                    None => burn::tensor::module::conv2d(x, weight, None, options),
                }
            }

            fn convolution_backward(
                x: Tensor<Self, 4>,
                weight: Tensor<Self, 4>,
                dy: Tensor<Self, 4>,
                options: ConvOptions<2>,
                want: [bool; 2],
            ) -> [Option<Tensor<Self, 4>>; 2] {
                match lowered_geometry(&x, &weight, &options) {
                    Some(geometry) => conv::lowered::backward(x, weight, dy, &geometry, want),
                    None => conv::recorded::burns_backward(x, weight, dy, options, want),
                }
            }
        }
    };
}

/// The lowered convolution's sizes for `conv2d(x, weight, options)`, where it applies.
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn lowered_geometry<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    options: &ConvOptions<2>,
) -> Option<conv::lowered::Geometry> {
    (x.dtype() == burn::tensor::DType::F32)
        .then(|| conv::lowered::Geometry::of(x.dims(), weight.dims(), options))
        .flatten()
}

#[cfg(feature = "flex")]
lowered_convolutions!(burn::backend::Flex);

#[cfg(feature = "ndarray")]
lowered_convolutions!(burn::backend::NdArray<f32>);

#[cfg(feature = "tch")]
impl ModelBackend for burn::backend::LibTorch<f32> {}

/// float64: the probe tests' exact reference.
#[cfg(feature = "ndarray")]
impl ModelBackend for burn::backend::NdArray<f64> {}

/// burn's fused backends: CUDA, and wgpu in `scripts/cubecl-lavapipe.sh`.
#[cfg(feature = "fusion")]
impl<B: burn_fusion::FusionBackend> ModelBackend for burn_fusion::Fusion<B> {}

#[cfg(feature = "fusion")]
mod cubecl;
