//! The loss: mean cross-entropy of the logits, and the batch's number of correct predictions.
//!
//! Written for burn's fusion backends (CUDA), where each kernel launch counts. burn's
//! `log_softmax` + `gather`, recorded as autodiff ops, and the accuracy's `bool -> int -> float`
//! casts ran as 22 kernels forward and backward (lavapipe, `scripts/cubecl-lavapipe.sh`). Here
//! the forward is reductions with element-wise prologues, the masks are `mask_fill`s (which fuse;
//! a cast from bool does not), and the backward is the closed form `(softmax - one_hot) / n`,
//! recorded as the loss's gradient in the logits (see [`loss_and_correct`]): 12 kernels.
//! A surrogate with that gradient and a cancelling value (`s - s.detach() + loss`) took 16
//! (405 -> 399 launches per residual ResNet-20 step); recording the gradient instead dropped the
//! surrogate's sum and its backward (384 -> 380).

use burn::prelude::*;

use crate::model::ModelBackend;

/// Mean cross-entropy `[1]` and number of correct predictions `[1]` (as float) of `logits`
/// `[n, classes]`, differentiable in `logits`.
///
/// The gradient of the mean cross-entropy in the logits is `g = (softmax - one_hot) / n`. It is
/// computed in the forward, detached, and recorded as the loss's gradient
/// ([`ModelBackend::with_gradient`]): the backward is one element-wise pass.
pub fn loss_and_correct<B: ModelBackend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [n, _] = logits.dims();
    let parts = Parts::of(logits.clone().detach(), labels);
    let grad = (parts.logits - parts.log_sum_exp)
        .exp()
        .sub(parts.one_hot)
        .div_scalar(n as f64);
    (B::with_gradient(parts.loss, logits, grad), parts.correct)
}

/// [`loss_and_correct`]'s values alone, not differentiable: for evaluation.
pub fn scores<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let parts = Parts::of(logits.detach(), labels);
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::activation::log_softmax;

    type B = Autodiff<NdArray<f64>>;

    /// burn's own cross-entropy: `-mean(log_softmax(logits)[label])`, and `argmax == label`.
    fn reference(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> (Tensor<B, 1>, f64) {
        let [n, _] = logits.dims();
        let correct = logits
            .clone()
            .argmax(1)
            .reshape([n])
            .equal(labels.clone())
            .int()
            .sum()
            .into_scalar();
        let picked = log_softmax(logits, 1).gather(1, labels.reshape([n, 1]));
        (picked.mean().neg(), correct as f64)
    }

    fn logits_and_labels() -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let device = Default::default();
        // Large and spread logits (exp would overflow without the shift), and a tie in row 3.
        let logits = Tensor::<B, 2>::from_data(
            [
                [2.0, -1.0, 0.5, 3.0],
                [900.0, 880.0, -900.0, 0.0],
                [-3.0, -3.5, -2.0, -40.0],
                [1.0, 1.0, 0.0, -1.0],
                [0.1, 0.2, 0.3, 0.4],
            ],
            &device,
        )
        .require_grad();
        let labels = Tensor::from_data([3, 1, 0, 1, 2], &device);
        (logits, labels)
    }

    fn values<const D: usize>(t: Tensor<NdArray<f64>, D>) -> Vec<f64> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn loss_gradient_and_correct_count_are_burns_cross_entropy() {
        let (logits, labels) = logits_and_labels();
        let (loss, correct) = loss_and_correct(logits.clone(), labels.clone());
        let (expected, expected_correct) = reference(logits.clone(), labels.clone());
        let (value, want) = (loss.clone().into_scalar(), expected.clone().into_scalar());
        assert!(
            (value - want).abs() < 1e-12 * want.abs(),
            "{value} vs {want}"
        );
        // Row 0 (3 is the max) is right; row 3's tie goes to the first maximum, so its label 1
        // is wrong.
        assert_eq!(correct.into_scalar(), expected_correct);
        assert_eq!(expected_correct, 1.0);

        let grad = values(logits.grad(&loss.backward()).unwrap());
        let want = values(logits.grad(&expected.backward()).unwrap());
        for (i, (g, w)) in grad.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-12, "d loss / d logits [{i}]: {g} vs {w}");
        }
        assert!(grad.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn scores_are_the_same_values_without_a_graph() {
        let (logits, labels) = logits_and_labels();
        let (loss, correct) = loss_and_correct(logits.clone(), labels.clone());
        let (eval_loss, eval_correct) = scores(logits.inner(), labels.inner());
        assert_eq!(loss.into_scalar(), eval_loss.into_scalar());
        assert_eq!(correct.into_scalar(), eval_correct.into_scalar());
    }
}
