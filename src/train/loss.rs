//! The loss: mean cross-entropy of the logits, and the batch's number of correct predictions
//! (the maths: `model::cross_entropy`).

use burn::prelude::*;

use crate::model::{CrossEntropy, ModelBackend, cross_entropy};

/// Mean cross-entropy `[1]` and number of correct predictions `[1]` (as float) of `logits`
/// `[n, classes]`, differentiable in `logits`.
///
/// The gradient of the mean cross-entropy in the logits is `g = (softmax - one_hot) / n`. It is
/// computed in the forward ([`ModelBackend::cross_entropy`]), detached, and recorded as the
/// loss's gradient ([`ModelBackend::with_gradient`]): the backward is one element-wise pass.
pub fn loss_and_correct<B: ModelBackend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let CrossEntropy {
        loss,
        correct,
        gradient,
    } = B::cross_entropy(logits.clone().detach(), labels);
    (B::with_gradient(loss, logits, gradient), correct)
}

/// [`loss_and_correct`]'s values alone, not differentiable: for evaluation.
pub fn scores<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    cross_entropy::scores(logits.detach(), labels)
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
