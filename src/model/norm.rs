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
//! broadcast along the rows (see [`super::layout`]).

use burn::module::{Module, ModuleMapper, Param, RunningState};
use burn::prelude::*;
use burn::tensor::activation;

use super::layout::{Layout, TO_NCHW, TO_NHWC};

#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
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
            layout: Layout::preferred::<B>(),
        }
    }

    pub fn channels(&self) -> usize {
        self.gamma.shape().num_elements()
    }

    /// Batch statistics when autodiff is on (training), running statistics otherwise.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_then(x, &[], false)
    }

    /// `BN(x) + addends[0] + …`, then `ReLU` if `relu`: a block's tail (`relu(BN(conv) + S(x))`)
    /// in one call, so that with channels-last the adds and the `ReLU` run on the same rows view
    /// as the normalisation and fuse with it, instead of each converting views again.
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
                let y = addends
                    .iter()
                    .fold(self.normalize_rows(rows(x), factors), |y, a| {
                        y + rows(a.clone())
                    });
                let y = if relu { activation::relu(y) } else { y };
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
            let mean = self.running_mean.value().reshape([1, c]);
            let var = self.running_var.value().reshape([1, c]);
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
            running_mean: self.running_mean.value().reshape([1, c]),
            running_var: self.running_var.value().reshape([1, c]),
            gamma: self.gamma.val().reshape([1, c]),
            beta: self.beta.val().reshape([1, c]),
        }
    }

    /// The same maths on rows `[count, c]` (channels-last: `count` = `b * h * w`), written so
    /// that burn's fusion (0.21) runs it in training as three kernels: two fused reductions and
    /// one element-wise pass that also takes the caller's epilogue.
    ///
    /// - Both statistics reduce the rows shifted by the running mean `k` (a constant here):
    ///   `m1 = E[x - k]` and `m2 = E[(x - k)²]`, so `mean = k + m1` and `var = m2 - m1²`. The
    ///   shift and the square fuse into the reductions' reads. Centring on the batch mean first
    ///   (`E[(x - E[x])²]`) ran as reduce, subtract, square, reduce: four kernels and a
    ///   `[count, c]` temporary written and read back. The shift keeps `m2 - m1²` from
    ///   cancelling once the running mean tracks the batch mean (the shifted-data algorithm);
    ///   inputs far from zero, first steps included, are tested against the centred path.
    /// - Each running statistic's update is issued right after its reduction, so it fuses onto
    ///   that reduction's `[1, c]` output instead of running as tiny kernels of its own.
    /// - The `[1, c]` factors come already reshaped ([`Self::row_factors`], called before the
    ///   layout change): burn fuses a reduction with its prologue only when the block starts
    ///   with an element-wise op of the reduced shape, not with a reshape.
    fn normalize_rows(&self, rows: Tensor<B, 2>, factors: RowFactors<B>) -> Tensor<B, 2> {
        let [count, _] = rows.dims();
        let RowFactors {
            running_mean: k,
            running_var,
            gamma,
            beta,
        } = factors;
        let (mean, var) = if B::ad_enabled(&rows.device()) {
            let m1 = (rows.clone() - k.clone()).mean_dim(0); // [1, c]
            let mean = k.clone() + m1.clone();
            set_running(&self.running_mean, ema(k.clone(), mean.clone(), 1.0));
            let m2 = (rows.clone() - k).square().mean_dim(0); // [1, c]
            let var = (m2 - m1.square()).clamp_min(0.0);
            set_running(
                &self.running_var,
                ema(running_var, var.clone(), unbiased(count)),
            );
            (mean, var)
        } else {
            (k, running_var)
        };
        let scale = gamma / var.add_scalar(EPSILON).sqrt();
        let shift = beta - mean * scale.clone();
        rows * scale + shift
    }

    /// The running statistics' update from `[1, c]` batch statistics (channels-first).
    fn update_running(&self, mean: Tensor<B, 2>, var: Tensor<B, 2>, count: usize) {
        let [running_mean, running_var] =
            [&self.running_mean, &self.running_var].map(|s| s.value().unsqueeze::<2>());
        set_running(&self.running_mean, ema(running_mean, mean, 1.0));
        set_running(&self.running_var, ema(running_var, var, unbiased(count)));
    }
}

/// The batch norm's `[1, c]` factors (see [`BatchNorm2d::normalize_rows`]).
struct RowFactors<B: Backend> {
    running_mean: Tensor<B, 2>,
    running_var: Tensor<B, 2>,
    gamma: Tensor<B, 2>,
    beta: Tensor<B, 2>,
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
mod tests {
    use super::*;
    use burn::module::AutodiffModule;
    use burn::nn::BatchNormConfig;

    type B = burn::backend::Autodiff<burn::backend::Flex>;

    #[test]
    fn matches_burns_batch_norm_in_training_and_eval() {
        let device = Default::default();
        B::seed(&device, 3);
        let x = Tensor::<B, 4>::random(
            [4, 3, 5, 6],
            burn::tensor::Distribution::Normal(1.0, 2.0),
            &device,
        );
        let ours = BatchNorm2d::<B>::new(3, &device);
        let theirs = BatchNormConfig::new(3).init::<B>(&device);
        let a = ours.forward(x.clone());
        let b = theirs.forward(x.clone());
        a.clone()
            .into_data()
            .assert_approx_eq::<f32>(&b.into_data(), burn::tensor::Tolerance::absolute(1e-4));
        // Running mean agrees; the running variance is unbiased here (PyTorch), biased in burn.
        ours.running_mean
            .value()
            .into_data()
            .assert_approx_eq::<f32>(
                &theirs.running_mean.value_sync().into_data(),
                burn::tensor::Tolerance::absolute(1e-5),
            );
        let n = 4.0 * 5.0 * 6.0;
        let expected = theirs
            .running_var
            .value_sync()
            .sub_scalar(0.9)
            .mul_scalar(n / (n - 1.0))
            .add_scalar(0.9);
        ours.running_var
            .value()
            .into_data()
            .assert_approx_eq::<f32>(
                &expected.into_data(),
                burn::tensor::Tolerance::absolute(1e-4),
            );
        // Eval mode uses the running statistics.
        let eval = ours.valid().forward(x.clone().inner());
        let [m, v]: [Vec<f32>; 2] = [ours.running_mean.value(), ours.running_var.value()]
            .map(|t| t.into_data().to_vec().unwrap());
        let xin: Vec<f32> = x.clone().into_data().to_vec().unwrap();
        let got: Vec<f32> = eval.into_data().to_vec().unwrap();
        for (i, (&xi, &yi)) in xin.iter().zip(&got).enumerate() {
            let ch = (i / 30) % 3;
            let want = (xi - m[ch]) / (v[ch] + 1e-5).sqrt();
            assert!((want - yi).abs() < 1e-4);
        }
    }

    #[test]
    fn running_statistics_follow_updates_made_on_other_threads() {
        // The trainer runs each step on a fresh thread; two steps must compose as two EMA
        // updates, not be averaged as if they were parallel replicas.
        let device = Default::default();
        let bn = BatchNorm2d::<B>::new(1, &device);
        for value in [10.0, 20.0] {
            std::thread::scope(|s| {
                s.spawn(|| bn.forward(Tensor::<B, 4>::full([2, 1, 2, 2], value, &device)));
            });
        }
        let mean: Vec<f32> = bn.running_mean.value().into_data().to_vec().unwrap();
        let expected = 0.9 * (0.1 * 10.0) + 0.1 * 20.0;
        assert!((mean[0] - expected).abs() < 1e-5, "{mean:?} vs {expected}");
    }

    #[test]
    fn channels_last_rows_match_channels_first_over_steps_far_from_zero() {
        // The channels-last statistics are shifted by the running mean (zero on the first step,
        // the batch mean's EMA after), so compare several steps on inputs whose mean is far from
        // zero against the centred channels-first path: outputs, gradients, running statistics.
        let device = Default::default();
        B::seed(&device, 11);
        let [first, last] = [Layout::ChannelsFirst, Layout::ChannelsLast].map(|layout| {
            let mut bn = BatchNorm2d::<B>::new(3, &device);
            bn.layout = layout;
            bn
        });
        let offsets = Tensor::<B, 4>::from_floats([[[[20.0]], [[-5.0]], [[0.5]]]], &device);
        let close = |a: Vec<f32>, b: Vec<f32>, what: &str| {
            let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
            let worst = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
            assert!(worst / scale < 1e-4, "{what}: {a:?} vs {b:?}");
        };
        let values = |data: TensorData| data.to_vec::<f32>().unwrap();
        for step in 0..4 {
            let normal = burn::tensor::Distribution::Normal(0.0, 3.0);
            let x = Tensor::<B, 4>::random([4, 3, 5, 6], normal, &device) + offsets.clone();
            let weights = Tensor::<B, 4>::random([4, 3, 5, 6], normal, &device);
            let [a, b] = [&first, &last].map(|bn| {
                let x = x.clone().require_grad();
                let y = bn.forward_then(x.clone(), &[], true);
                let grads = (y.clone() * weights.clone()).sum().backward();
                (
                    [
                        y.into_data(),
                        x.grad(&grads).unwrap().into_data(),
                        bn.gamma.grad(&grads).unwrap().into_data(),
                        bn.beta.grad(&grads).unwrap().into_data(),
                    ]
                    .map(values),
                    [bn.running_mean.value(), bn.running_var.value()]
                        .map(|t| values(t.into_data())),
                )
            });
            let names = [
                "output",
                "input gradient",
                "gamma gradient",
                "beta gradient",
            ];
            for ((u, v), name) in a.0.into_iter().zip(b.0).zip(names) {
                close(u, v, &format!("step {step}: {name}"));
            }
            for ((u, v), name) in
                a.1.into_iter()
                    .zip(b.1)
                    .zip(["running mean", "running var"])
            {
                close(u, v, &format!("step {step}: {name}"));
            }
        }
    }

    #[test]
    fn gradients_match_burns_batch_norm() {
        let device = Default::default();
        B::seed(&device, 5);
        let normal = burn::tensor::Distribution::Normal(0.5, 1.5);
        let x = Tensor::<B, 4>::random([4, 3, 5, 6], normal, &device).require_grad();
        let weights = Tensor::<B, 4>::random([4, 3, 5, 6], normal, &device);
        let ours = BatchNorm2d::<B>::new(3, &device);
        let theirs = BatchNormConfig::new(3).init::<B>(&device);
        let tolerance = burn::tensor::Tolerance::absolute(1e-4);

        let grads = (ours.forward(x.clone()) * weights.clone()).sum().backward();
        let (dx, dgamma, dbeta) = (
            x.grad(&grads).unwrap(),
            ours.gamma.grad(&grads).unwrap(),
            ours.beta.grad(&grads).unwrap(),
        );
        let grads = (theirs.forward(x.clone()) * weights).sum().backward();
        dx.into_data()
            .assert_approx_eq::<f32>(&x.grad(&grads).unwrap().into_data(), tolerance);
        dgamma
            .into_data()
            .assert_approx_eq::<f32>(&theirs.gamma.grad(&grads).unwrap().into_data(), tolerance);
        dbeta
            .into_data()
            .assert_approx_eq::<f32>(&theirs.beta.grad(&grads).unwrap().into_data(), tolerance);
    }
}
