//! The cubecl backends without burn-fusion (`cuda-unfused`): resdash's own kernels in place of
//! burn's operations where [`ModelBackend`] lets a backend choose.

use burn::prelude::*;
use burn::tensor::ops::FloatTensor;

use super::super::cross_entropy::{self, CrossEntropy};
use super::super::norm::{RowFactors, RowsForward, RowsGrads, RowsSaved, Tail, rows};
use super::super::update::{self, SgdRates, SgdTensors};
use super::ModelBackend;

/// The same cubecl backends without burn-fusion's operation stream: every operation launched as
/// its own kernel straight from the thread that issues it (`scripts/cubecl-lavapipe.sh
/// --unfused`, `throughput --fusion off`, to weigh burn-fusion's host work against the launches
/// it saves), except resdash's own kernels: batch norm's training pass with its tail (the
/// residual add and the `ReLU`; three kernels each way: `norm::kernel`), the `ReLU` outside
/// training (`relu_kernel`), the SGD update (one per parameter shape: `sgd_kernel`) and the loss
/// (`cross_entropy_kernel`).
impl<R, F, I, BT> ModelBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    const OWN_TAIL: bool = true;

    fn relu_rows(x: Tensor<Self, 2>) -> Tensor<Self, 2> {
        use super::super::relu_kernel;
        let x = primitive(x);
        if relu_kernel::applies::<R, F>(&x) {
            tensor(relu_kernel::forward::<R, F>(x))
        } else {
            burn::tensor::activation::relu(tensor(x))
        }
    }

    fn batch_norm_rows_forward(
        rows: Tensor<Self, 2>,
        factors: RowFactors<Self>,
        tail: Tail<Self>,
    ) -> RowsForward<Self> {
        use super::super::norm::kernel;
        let RowFactors {
            running_mean,
            running_var,
            gamma,
            beta,
        } = factors;
        let factors = [running_mean, running_var, gamma, beta].map(primitive);
        let rows = primitive(rows);
        let addend = tail.addend.map(primitive);
        if !kernel::applies::<R, F>(
            &rows,
            &addend.iter().collect::<Vec<_>>(),
            &factors.each_ref(),
        ) {
            let [running_mean, running_var, gamma, beta] = factors.map(tensor);
            let factors = RowFactors {
                running_mean,
                running_var,
                gamma,
                beta,
            };
            let tail = Tail {
                addend: addend.map(tensor),
                relu: tail.relu,
            };
            return rows::forward(tensor(rows), factors, tail);
        }
        let forward = kernel::forward::<R, F>(rows, factors, addend, tail.relu);
        RowsForward {
            rows: tensor(forward.rows),
            running: [forward.running_mean, forward.running_var].map(tensor),
            mean: tensor(forward.mean),
            inv_std: tensor(forward.inv_std),
        }
    }

    fn batch_norm_rows_backward(dy: Tensor<Self, 2>, saved: RowsSaved<Self>) -> RowsGrads<Self> {
        use super::super::norm::kernel;
        let RowsSaved {
            rows,
            mean,
            inv_std,
            gamma,
            relu_output,
            addend_grad,
        } = saved;
        let (dy, rows) = (primitive(dy), primitive(rows));
        let relu_output = relu_output.map(primitive);
        let stats = [mean, inv_std, gamma].map(primitive);
        let others = [Some(&dy), relu_output.as_ref()];
        if !kernel::applies::<R, F>(
            &rows,
            &others.into_iter().flatten().collect::<Vec<_>>(),
            &stats.each_ref(),
        ) {
            let [mean, inv_std, gamma] = stats.map(tensor);
            let saved = RowsSaved {
                rows: tensor(rows),
                mean,
                inv_std,
                gamma,
                relu_output: relu_output.map(tensor),
                addend_grad,
            };
            return rows::backward(tensor(dy), saved);
        }
        let grads = kernel::backward::<R, F>(dy, rows, stats, relu_output, addend_grad);
        RowsGrads {
            rows: tensor(grads.rows),
            gamma: tensor(grads.gamma),
            beta: tensor(grads.beta),
            addend: grads.addend.map(tensor),
        }
    }

    fn cross_entropy(logits: Tensor<Self, 2>, labels: Tensor<Self, 1, Int>) -> CrossEntropy<Self> {
        use super::super::cross_entropy_kernel as kernel;
        let (logits, labels) = (primitive(logits), labels.into_primitive());
        if !kernel::applies::<R, F, I>(&logits, &labels) {
            return cross_entropy::maths(tensor(logits), Tensor::from_primitive(labels));
        }
        let (loss, correct, gradient) = kernel::cross_entropy::<R, F, I>(logits, labels);
        CrossEntropy {
            loss: tensor(loss),
            correct: tensor(correct),
            gradient: tensor(gradient),
        }
    }

    const OWN_SGD_GROUPS: bool = true;

    fn sgd_group(
        steps: Vec<SgdTensors<Self>>,
        rates: SgdRates,
    ) -> Vec<(FloatTensor<Self>, FloatTensor<Self>)> {
        use super::super::sgd_kernel;
        let steps: Vec<_> = steps
            .into_iter()
            .map(|s| (s.param, s.grad, s.velocity))
            .collect();
        if sgd_kernel::applies_group::<R, F>(&steps) {
            return sgd_kernel::sgd_group::<R, F>(steps, rates);
        }
        steps
            .into_iter()
            .map(|(param, grad, velocity)| {
                let step = SgdTensors::<Self> {
                    param,
                    grad,
                    velocity,
                };
                update::sgd_step_flat(step, rates)
            })
            .collect()
    }
}

/// A float tensor's cubecl primitive.
fn primitive<
    R: burn_cubecl::CubeRuntime,
    B: Backend<FloatTensorPrimitive = burn_cubecl::tensor::CubeTensor<R>>,
    const D: usize,
>(
    t: Tensor<B, D>,
) -> burn_cubecl::tensor::CubeTensor<R> {
    t.into_primitive().tensor()
}

/// A cubecl primitive as a float tensor.
fn tensor<
    R: burn_cubecl::CubeRuntime,
    B: Backend<FloatTensorPrimitive = burn_cubecl::tensor::CubeTensor<R>>,
    const D: usize,
>(
    t: burn_cubecl::tensor::CubeTensor<R>,
) -> Tensor<B, D> {
    Tensor::from_primitive(burn::tensor::TensorPrimitive::Float(t))
}
