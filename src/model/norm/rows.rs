//! Batch norm's training pass over channels-last rows `[n, c]` (the cubecl backends' layout, see
//! [`super::super::layout`]): the forward maths, and on autodiff backends one recorded
//! operation with the analytic backward instead of the ops' own.
//!
//! Recorded op by op, the forward's backward ran as ten kernels per batch norm on burn's fusion
//! (0.21): a reduction for each broadcast `[1, c]` operand, the mean's and the shifted square's
//! backward, and the sums of the three gradients that reach the rows. The analytic backward is
//! `dβ = Σ dy`, `dγ = Σ dy·x̂` and `dx = γ/σ · (dy - dβ/n - x̂·dγ/n)`, with x̂ recomputed from
//! the rows where it is read: four kernels (see [`backward`]).
//!
//! burn 0.21 has no batch norm op, so the choice is made by type (`super::super::ModelBackend`):
//! `Autodiff<B>` runs [`recorded`], the plain backends [`untracked`] (they never train; their
//! models run in evaluation with the running statistics).

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

use super::super::ModelBackend;
use super::{EPSILON, ema, unbiased};

/// Batch norm's forward alone, untracked.
pub fn untracked<B: ModelBackend>(rows: Tensor<B, 2>, factors: RowFactors<B>) -> Normalized<B> {
    let forward = B::batch_norm_rows_forward(rows, factors, Tail::NONE);
    Normalized {
        rows: forward.rows,
        running: forward.running,
    }
}

/// The batch norm's `[1, c]` factors.
pub struct RowFactors<B: Backend> {
    pub running_mean: Tensor<B, 2>,
    pub running_var: Tensor<B, 2>,
    pub gamma: Tensor<B, 2>,
    pub beta: Tensor<B, 2>,
}

/// `ModelBackend::batch_norm_rows`'s result: the normalised rows `[n, c]` and the new running
/// mean and variance `[c]` (not tracked).
pub struct Normalized<B: Backend> {
    pub rows: Tensor<B, 2>,
    pub running: [Tensor<B, 1>; 2],
}

impl<B: ModelBackend> Normalized<B> {
    /// The rows followed by `+ addends[0] + …` and the `ReLU` if `relu`, as the backend's ops
    /// (`follow`).
    #[must_use]
    pub fn then(self, addends: &[Tensor<B, 2>], relu: bool) -> Self {
        Self {
            rows: follow(self.rows, addends, relu),
            running: self.running,
        }
    }
}

/// The forward's outputs (the normalised rows `[n, c]`, the new running mean and variance `[c]`),
/// and the batch statistics its backward needs (`[1, c]`).
pub struct RowsForward<B: Backend> {
    pub rows: Tensor<B, 2>,
    pub running: [Tensor<B, 1>; 2],
    pub mean: Tensor<B, 2>,
    pub inv_std: Tensor<B, 2>,
}

/// What the batch norm operation computes after the normalisation, in the same operation: the
/// residual block's `+ S(x)` and the `ReLU` (`relu(BN(x) + addend)`). Only where the inner backend
/// runs them in its own kernels ([`ModelBackend::OWN_TAIL`]: cubecl without burn-fusion); elsewhere
/// the operation is batch norm alone and burn's ops follow it, which burn-fusion fuses.
pub struct Tail<B: Backend> {
    pub addend: Option<Tensor<B, 2>>,
    pub relu: bool,
}

impl<B: Backend> Tail<B> {
    /// Batch norm alone.
    pub const NONE: Self = Self {
        addend: None,
        relu: false,
    };
}

/// `relu(y + addends[0] + …)` (`ReLU` if `relu`) with the backend's ops, one add at a time: a
/// block's tail after batch norm where it is not inside the batch norm operation.
pub fn follow<B: ModelBackend>(
    y: Tensor<B, 2>,
    addends: &[Tensor<B, 2>],
    relu: bool,
) -> Tensor<B, 2> {
    let y = addends.iter().fold(y, |y, a| y + a.clone());
    if relu { B::relu_rows(y) } else { y }
}

/// The maths, written so that burn's fusion (0.21) runs it as three kernels: two fused
/// reductions and one element-wise pass that also takes the caller's epilogue.
///
/// - Both statistics reduce the rows shifted by the running mean `k` (a constant here):
///   `m1 = E[x - k]` and `m2 = E[(x - k)²]`, so `mean = k + m1` and `var = m2 - m1²`. The shift
///   and the square fuse into the reductions' reads. Centring on the batch mean first
///   (`E[(x - E[x])²]`) ran as reduce, subtract, square, reduce: four kernels and a `[n, c]`
///   temporary written and read back. The shift keeps `m2 - m1²` from cancelling once the
///   running mean tracks the batch mean (the shifted-data algorithm); inputs far from zero,
///   first steps included, are tested against the centred path.
/// - Each running statistic's update is issued right after its reduction, so it fuses onto that
///   reduction's `[1, c]` output instead of running as tiny kernels of its own.
/// - The `[1, c]` factors come already reshaped (the caller reshapes them before the layout
///   change): burn fuses a reduction with its prologue only when the block starts with an
///   element-wise op of the reduced shape, not with a reshape.
///
/// The [`Tail`] follows as the backend's ops ([`follow`]).
pub fn forward<B: ModelBackend>(
    rows: Tensor<B, 2>,
    factors: RowFactors<B>,
    tail: Tail<B>,
) -> RowsForward<B> {
    let [n, _] = rows.dims();
    let Tail { addend, relu } = tail;
    let RowFactors {
        running_mean: k,
        running_var,
        gamma,
        beta,
    } = factors;
    let m1 = (rows.clone() - k.clone()).mean_dim(0); // [1, c]
    let mean = k.clone() + m1.clone();
    let running_mean = ema(k.clone(), mean.clone(), 1.0);
    let m2 = (rows.clone() - k).square().mean_dim(0); // [1, c]
    let var = (m2 - m1.square()).clamp_min(0.0);
    let running_var = ema(running_var, var.clone(), unbiased(n));
    let inv_std = var.add_scalar(EPSILON).sqrt().recip();
    let scale = gamma * inv_std.clone();
    let shift = beta - mean.clone() * scale.clone();
    RowsForward {
        rows: follow(rows * scale + shift, addend.as_slice(), relu),
        running: [running_mean, running_var],
        mean,
        inv_std,
    }
}

/// What the backward keeps from the forward (inner-backend tensors): the rows `[n, c]`, the batch
/// mean, `1/σ` and γ `[1, c]`; with a [`Tail`], the operation's output where it ends in the `ReLU`
/// (its mask), and whether the addend wants its gradient.
#[derive(Debug, Clone)]
pub struct RowsSaved<B: Backend> {
    pub rows: Tensor<B, 2>,
    pub mean: Tensor<B, 2>,
    pub inv_std: Tensor<B, 2>,
    pub gamma: Tensor<B, 2>,
    pub relu_output: Option<Tensor<B, 2>>,
    pub addend_grad: bool,
}

/// The backward's gradients: the rows' `[n, c]`, γ's and β's `[1, c]`, and the addend's `[n, c]`
/// where [`RowsSaved::addend_grad`] (the gradient at the sum, before the `ReLU`).
pub struct RowsGrads<B: Backend> {
    pub rows: Tensor<B, 2>,
    pub gamma: Tensor<B, 2>,
    pub beta: Tensor<B, 2>,
    pub addend: Option<Tensor<B, 2>>,
}

/// `[dx, dγ, dβ]` for the output gradient `dy` `[n, c]`. x̂ is recomputed from the rows in each
/// pass that reads it rather than stored: a fused kernel reads one `[n, c]` tensor either way.
/// With a [`Tail`], `dy` first goes back through the `ReLU` (burn's mask: zero where the output
/// is `<= 0`), and that is also the addend's gradient.
pub fn backward<B: Backend>(dy: Tensor<B, 2>, saved: RowsSaved<B>) -> RowsGrads<B> {
    let [n, _] = dy.dims();
    let RowsSaved {
        rows,
        mean,
        inv_std,
        gamma,
        relu_output,
        addend_grad,
    } = saved;
    let dy = match relu_output {
        Some(y) => dy.mask_fill(y.lower_equal_elem(0.0), 0.0),
        None => dy,
    };
    let addend = addend_grad.then(|| dy.clone());
    let normalized = || (rows.clone() - mean.clone()) * inv_std.clone();
    // Four kernels on burn's fusion (0.21): one element-wise pass writes `dy` (the ReLU's
    // backward mask, issued before this) and `dy·x̂`, two plain sums, and `dx`. A fused reduction
    // does not take that pass as its prologue because `dy` is read again by the later passes.
    // Recomputing `dy` in each pass instead (the `ReLU` and the residual add moved into this op,
    // the mask read from the saved output) did not help: the sums stayed plain reductions and
    // the recomputations ran as element-wise kernels of their own, 415 -> 425 launches.
    // dγ is issued first: 416 launches per residual ResNet-20 step against 420 the other way.
    let dgamma = (dy.clone() * normalized()).sum_dim(0); // [1, c]
    let dbeta = dy.clone().sum_dim(0); // [1, c]
    let dx = (dy
        - dbeta.clone().div_scalar(n as f64)
        - normalized() * dgamma.clone().div_scalar(n as f64))
        * (gamma * inv_std);
    RowsGrads {
        rows: dx,
        gamma: dgamma,
        beta: dbeta,
        addend,
    }
}

/// The recorded operation: parents rows, γ, β (`[1, c]`), and the tail's addend where there is
/// one (`N` = 4).
#[derive(Debug)]
struct BatchNormRows<const N: usize>;

impl<B: ModelBackend, const N: usize> Backward<B, N> for BatchNormRows<N> {
    type State = RowsSaved<B>;

    fn backward(self, ops: Ops<RowsSaved<B>, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = Tensor::from_primitive(TensorPrimitive::Float(grads.consume::<B>(&ops.node)));
        let RowsGrads {
            rows,
            gamma,
            beta,
            addend,
        } = B::batch_norm_rows_backward(dy, ops.state);
        let grads_in_order = [Some(rows), Some(gamma), Some(beta), addend];
        for (parent, grad) in ops.parents.into_iter().zip(grads_in_order) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad.into_primitive().tensor());
            }
        }
    }
}

/// Batch norm as one recorded operation, with the [`Tail`] inside it: the inner backend's
/// forward and backward ([`ModelBackend::batch_norm_rows_forward`],
/// [`ModelBackend::batch_norm_rows_backward`]: by default [`forward`] and [`backward`]).
pub fn recorded<B: ModelBackend, C: CheckpointStrategy>(
    rows: Tensor<Autodiff<B, C>, 2>,
    factors: RowFactors<Autodiff<B, C>>,
    tail: Tail<Autodiff<B, C>>,
) -> Normalized<Autodiff<B, C>> {
    let node = |t: &Tensor<Autodiff<B, C>, 2>| t.clone().into_primitive().tensor().node;
    let nodes = [&rows, &factors.gamma, &factors.beta].map(node);
    let addend_node = tail.addend.as_ref().map(node);
    let [rows, gamma, beta] = [rows, factors.gamma, factors.beta].map(Tensor::inner);
    let forward = B::batch_norm_rows_forward(
        rows.clone(),
        RowFactors {
            running_mean: factors.running_mean.inner(),
            running_var: factors.running_var.inner(),
            gamma: gamma.clone(),
            beta,
        },
        Tail {
            addend: tail.addend.map(Tensor::inner),
            relu: tail.relu,
        },
    );
    let saved = RowsSaved {
        rows,
        mean: forward.mean,
        inv_std: forward.inv_std,
        gamma,
        relu_output: tail.relu.then(|| forward.rows.clone()),
        addend_grad: addend_node.is_some(),
    };
    let output = forward.rows.into_primitive().tensor();
    // The operation over three or four parents (the node type is burn's own, not nameable here).
    macro_rules! register {
        ($n:literal, $nodes:expr) => {
            match BatchNormRows::<$n>
                .prepare::<C>($nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(saved, output),
                OpsKind::UnTracked(prep) => prep.finish(output),
            }
        };
    }
    let output = match addend_node {
        None => register!(3, nodes),
        Some(addend) => {
            let [rows, gamma, beta] = nodes;
            register!(4, [rows, gamma, beta, addend])
        }
    };
    Normalized {
        rows: Tensor::from_primitive(TensorPrimitive::Float(output)),
        running: forward.running.map(Tensor::from_inner),
    }
}
