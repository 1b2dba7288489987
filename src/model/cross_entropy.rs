//! The cross-entropy's maths: mean cross-entropy of logits `[n, classes]`, the number of correct
//! predictions, and the loss's gradient in the logits, `(softmax - one_hot) / n`, in closed form.
//! `train::loss` records the gradient as the loss's ([`super::ModelBackend::with_gradient`]);
//! cubecl without burn-fusion computes all three in one kernel (`cross_entropy_kernel`).
//!
//! Written for burn's fusion backends (CUDA), where each kernel launch counts. burn's
//! `log_softmax` + `gather`, recorded as autodiff ops, and the accuracy's `bool -> int -> float`
//! casts ran as 22 kernels forward and backward (lavapipe, `scripts/cubecl-lavapipe.sh`). Here
//! the forward is reductions with element-wise prologues, the masks are `mask_fill`s (which fuse;
//! a cast from bool does not), and the backward is the closed form: 12 kernels. A surrogate with
//! that gradient and a cancelling value (`s - s.detach() + loss`) took 16 (405 -> 399 launches
//! per residual ResNet-20 step); recording the gradient instead dropped the surrogate's sum and
//! its backward (384 -> 380).

use burn::prelude::*;

/// The loss of a batch and its gradient, none of them tracked.
pub struct CrossEntropy<B: Backend> {
    /// Mean cross-entropy `[1]`.
    pub loss: Tensor<B, 1>,
    /// Number of rows whose first maximum is at the label `[1]`, as float.
    pub correct: Tensor<B, 1>,
    /// `d loss / d logits` `[n, classes]`: `(softmax - one_hot) / n`.
    pub gradient: Tensor<B, 2>,
}

/// [`CrossEntropy`] of `logits` `[n, classes]` and `labels` `[n]` with burn's ops.
pub fn maths<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> CrossEntropy<B> {
    let [n, _] = logits.dims();
    let parts = Parts::of(logits, labels);
    let gradient = (parts.logits - parts.log_sum_exp)
        .exp()
        .sub(parts.one_hot)
        .div_scalar(n as f64);
    CrossEntropy {
        loss: parts.loss,
        correct: parts.correct,
        gradient,
    }
}

/// The loss and the number correct alone, with burn's ops: for evaluation.
pub fn scores<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let parts = Parts::of(logits, labels);
    (parts.loss, parts.correct)
}

/// The values the loss and its gradient are made of.
struct Parts<B: Backend> {
    logits: Tensor<B, 2>,
    /// `[n, 1]`: `log Σ_j exp(logits_j)` per row, taken around the row's maximum.
    log_sum_exp: Tensor<B, 2>,
    /// `[n, classes]`: 1 at each row's label.
    one_hot: Tensor<B, 2>,
    loss: Tensor<B, 1>,
    correct: Tensor<B, 1>,
}

impl<B: Backend> Parts<B> {
    fn of(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> Self {
        let [n, classes] = logits.dims();
        let device = logits.device();
        // Masks rather than `bool.float()`: burn-fusion fuses `mask_fill` with its neighbours,
        // not a cast from bool. `argmax` picks the first of tied maxima, as burn's own does.
        let ones_where =
            |mask: Tensor<B, 2, Bool>| Tensor::zeros(mask.shape(), &device).mask_fill(mask, 1.0);
        let predicted = logits.clone().argmax(1);
        let correct = ones_where(predicted.equal(labels.clone().reshape([n, 1]))).sum();
        let class = Tensor::<B, 1, Int>::arange(0..classes as i64, &device).reshape([1, classes]);
        let one_hot = ones_where(labels.reshape([n, 1]).equal(class));
        let max = logits.clone().max_dim(1);
        let log_sum_exp = (logits.clone() - max.clone()).exp().sum_dim(1).log() + max;
        let picked = (logits.clone() * one_hot.clone()).sum_dim(1);
        let loss = (log_sum_exp.clone() - picked).mean();
        Self {
            logits,
            log_sum_exp,
            one_hot,
            loss,
            correct,
        }
    }
}
