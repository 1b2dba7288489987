//! Batch normalisation over `[batch, channels, h, w]`, written so that every broadcast is a
//! per-row scalar over a contiguous `[batch * channels, h * w]` view.
//!
//! Same maths as `burn::nn::BatchNorm` (and `PyTorch`'s `BatchNorm2d`: momentum 0.1, eps 1e-5,
//! unbiased running variance), but burn-flex 0.21 runs burn's version — `[b, c, h, w]` against a
//! `[1, c, 1, 1]` broadcast — through a scalar strided iterator, which took over half of a CPU
//! training step. Here the per-channel factors are repeated to `[b * c, 1]` (tiny) so the
//! backend's vectorised row-broadcast path applies, and the statistics are row means of the
//! contiguous view.
//!
//! With [`Layout::ChannelsLast`] (cubecl backends) the rows are `[b * h * w, c]` instead: a view
//! of the convolution's channels-last output, one reduction per statistic, and `[1, c]` factors
//! broadcast along the rows (see [`super::layout`]). In training those rows go through
//! [`ModelBackend::batch_norm_rows`] ([`rows`]): one autodiff operation with the analytic backward
//! (on cubecl alone with the block's residual add and `ReLU` inside it).

use burn::module::{Module, ModuleMapper, Param, RunningState};
use burn::prelude::*;
use burn::tensor::activation;

use super::backend::ModelBackend;
use super::layout::{Layout, TO_NCHW, TO_NHWC};

#[cfg(feature = "fusion")]
pub(super) mod kernel;
pub(super) mod rows;

pub use rows::{Normalized, RowFactors, RowsForward, RowsGrads, RowsSaved, Tail};

#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Channels-first as built; the net's `with_layout` sets it.
    #[module(skip)]
    pub(crate) layout: Layout,
}

const MOMENTUM: f64 = 0.1;
const EPSILON: f64 = 1e-5;

impl<B: Backend> BatchNorm2d<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            layout: Layout::ChannelsFirst,
        }
    }

    pub fn channels(&self) -> usize {
        self.gamma.shape().num_elements()
    }
}

impl<B: ModelBackend> BatchNorm2d<B> {
    /// Batch statistics when autodiff is on (training), running statistics otherwise.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_then(x, &[], false)
    }

    /// `BN(x) + addends[0] + …`, then `ReLU` if `relu`: a block's tail (`relu(BN(conv) + S(x))`)
    /// in one call, so that with channels-last the adds and the `ReLU` run on the same rows view
    /// as the normalisation and fuse with it, instead of each converting views again (on cubecl
    /// alone they run inside batch norm's own kernels: [`ModelBackend::OWN_TAIL`]).
    pub fn forward_then(
        &self,
        x: Tensor<B, 4>,
        addends: &[Tensor<B, 4>],
        relu: bool,
    ) -> Tensor<B, 4> {
        match self.layout {
            Layout::ChannelsFirst => {
                let y = addends
                    .iter()
                    .fold(self.forward_channels_first(x), |y, a| y + a.clone());
                if relu { activation::relu(y) } else { y }
            }
            Layout::ChannelsLast => {
                let [b, c, h, w] = x.dims();
                // The `[1, c]` factors first: see `normalize_rows`.
                let factors = self.row_factors();
                let rows = |t: Tensor<B, 4>| t.permute(TO_NHWC).reshape([b * h * w, c]);
                // The addends' rows views before batch norm: issued between it and the add, their
                // permute and reshape kept burn-fusion from fusing the add into batch norm's
                // element-wise pass (379 launches per residual ResNet-20 step; 370 this way).
                let addends: Vec<_> = addends.iter().map(|a| rows(a.clone())).collect();
                let y = self.normalize_rows(rows(x), factors, &addends, relu);
                y.reshape([b, h, w, c]).permute(TO_NCHW)
            }
        }
    }

    fn forward_channels_first(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, c, h, w] = x.dims();
        let rows = x.reshape([b * c, h * w]); // [b*c, hw], contiguous
        let (centered, scale) = if B::ad_enabled(&rows.device()) {
            let mean = rows.clone().mean_dim(1).reshape([b, c]).mean_dim(0); // [1, c]
            let centered = rows - per_row(mean.clone(), b);
            let var = centered
                .clone()
                .square()
                .mean_dim(1)
                .reshape([b, c])
                .mean_dim(0); // [1, c]
            self.update_running(mean, var.clone(), b * h * w);
            let scale = self.gamma.val().reshape([1, c]) / var.add_scalar(EPSILON).sqrt();
            (centered, scale)
        } else {
            let mean = stat(&self.running_mean).reshape([1, c]);
            let var = stat(&self.running_var).reshape([1, c]);
            let scale = self.gamma.val().reshape([1, c]) / var.add_scalar(EPSILON).sqrt();
            (rows - per_row(mean, b), scale)
        };
        let y = centered * per_row(scale, b) + per_row(self.beta.val().reshape([1, c]), b);
        y.reshape([b, c, h, w])
    }

    /// Running mean, running variance, gamma and beta as `[1, c]` rows.
    fn row_factors(&self) -> RowFactors<B> {
        let c = self.channels();
        RowFactors {
            running_mean: stat(&self.running_mean).reshape([1, c]),
            running_var: stat(&self.running_var).reshape([1, c]),
            gamma: self.gamma.val().reshape([1, c]),
            beta: self.beta.val().reshape([1, c]),
        }
    }

    /// The same maths on rows `[count, c]` (channels-last: `count` = `b * h * w`), then the tail
    /// (`+ addends`, the `ReLU`): in training, the backend's [`ModelBackend::batch_norm_rows`] (see
    /// [`rows`]), which also updates the running statistics; otherwise the running statistics'
    /// normalisation.
    fn normalize_rows(
        &self,
        rows: Tensor<B, 2>,
        factors: RowFactors<B>,
        addends: &[Tensor<B, 2>],
        relu: bool,
    ) -> Tensor<B, 2> {
        if B::ad_enabled(&rows.device()) {
            let Normalized {
                rows,
                running: [mean, var],
            } = B::batch_norm_rows(rows, factors, addends, relu);
            set_running(&self.running_mean, mean);
            set_running(&self.running_var, var);
            rows
        } else {
            let scale = factors.gamma / factors.running_var.add_scalar(EPSILON).sqrt();
            let shift = factors.beta - factors.running_mean * scale.clone();
            rows::follow(rows * scale + shift, addends, relu)
        }
    }

    /// The running statistics' update from `[1, c]` batch statistics (channels-first).
    fn update_running(&self, mean: Tensor<B, 2>, var: Tensor<B, 2>, count: usize) {
        let [running_mean, running_var] =
            [&self.running_mean, &self.running_var].map(|s| stat(s).unsqueeze::<2>());
        set_running(&self.running_mean, ema(running_mean, mean, 1.0));
        set_running(&self.running_var, ema(running_var, var, unbiased(count)));
    }
}

/// `(1 - momentum) * running + momentum * factor * batch` as the `[c]` a running state holds;
/// `factor` turns the batch variance unbiased (`n / (n - 1)`), as `PyTorch` does.
fn ema<B: Backend>(running: Tensor<B, 2>, batch: Tensor<B, 2>, factor: f64) -> Tensor<B, 1> {
    let [_, c] = running.dims();
    let updated = running.mul_scalar(1.0 - MOMENTUM) + batch.detach().mul_scalar(MOMENTUM * factor);
    updated.reshape([c])
}

/// `n / (n - 1)`: the factor that turns a batch variance over `n` values unbiased.
fn unbiased(n: usize) -> f64 {
    n as f64 / (n.max(2) - 1) as f64
}

/// A running statistic's value, outside any autodiff graph. burn 0.21 loads a checkpoint's
/// running statistic as a tracked tensor (the record is loaded as a parameter is, tracked, then
/// moved by a recorded `to_device`): each step's update from it then joined the last step's
/// graph, which was never freed, and a resumed run slowed step after step (1700 to 150 img/s in
/// 300 steps). Detached, a fresh net's untracked statistic is the same tensor at no cost.
fn stat<B: Backend>(state: &RunningState<Tensor<B, 1>>) -> Tensor<B, 1> {
    state.value().detach()
}

/// Replaces a running statistic's value. `RunningState`'s clones share one value (that is how
/// `update(&self)` works from `forward(&self)`), so mapping a clone sets it for every holder.
fn set_running<B: Backend>(state: &RunningState<Tensor<B, 1>>, value: Tensor<B, 1>) {
    struct Set<B: Backend>(Option<Tensor<B, 1>>);
    impl<B: Backend> ModuleMapper<B> for Set<B> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, old, _) = param.consume();
            let new = match self.0.take() {
                Some(value) => value.reshape(old.shape()),
                None => old,
            };
            Param::initialized(id, new)
        }
    }
    let _ = state.clone().map(&mut Set(Some(value)));
}

/// `[1, c]` → `[b * c, 1]`: one value per row of the `[b * c, hw]` view.
fn per_row<B: Backend>(v: Tensor<B, 2>, b: usize) -> Tensor<B, 2> {
    let [_, c] = v.dims();
    v.repeat_dim(0, b).reshape([b * c, 1])
}

#[cfg(test)]
mod tests;
