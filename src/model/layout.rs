//! Where the channel axis lives in memory between two convolutions.
//!
//! Tensors are always *logically* `[batch, channels, h, w]`. The CPU backends convolve
//! channels-first and keep activations that way. burn's cubecl backends (CUDA) convolve
//! channels-last: each convolution views its input as `[b, h, w, c]` and copies it unless the
//! channel stride is already 1, and returns its output stored `[b, h, w, c]` behind an
//! `[b, c, h, w]` view. An `[b, c, h, w]`-shaped element-wise op or reshape after it would store its
//! result channels-first again, and the next convolution would copy it back: two full-activation
//! copies per convolution, plus batch norm's statistics as two reductions (over `h * w`, then
//! over the batch) where one would do.
//!
//! With [`Layout::ChannelsLast`] every op between two convolutions works on the `[b, h, w, c]`
//! view instead (batch norm's rows are `[b * h * w, c]`, one reduction per statistic, and its
//! epilogue — residual add, `ReLU` — on the same rows), so the activations stay stored
//! channels-last from one convolution to the next and the forward pass copies none of them. The
//! convolution weights follow the layout too (`super::conv`).
//! Measured on burn's cubecl stack (`scripts/cubecl-lavapipe.sh`): 908 -> 622 kernel launches
//! per residual ResNet-20 step, 486 once batch norm's statistics were fused as well, and 416 with
//! its analytic backward (`super::norm`), 415 with the weights stored channels-last (fewer on
//! CUDA: see `super::conv`), 398 with the SGD update and the loss fused (`crate::train`), 377
//! with option A's shortcut, the loss's gradient and the pool's backward recorded
//! (`super::backend`) and the batches stored channels-last by the data thread (379 since the
//! update replays cached fusion plans: `crate::train::nets::NetState::on_stream`), 370 with the
//! shortcut's rows view taken before batch norm (`super::norm`); see docs/gpu.md.

use burn::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `[b, c, h, w]` in memory: the CPU backends' convolution layout.
    #[default]
    ChannelsFirst,
    /// `[b, h, w, c]` in memory: the cubecl backends' convolution layout.
    ChannelsLast,
}

impl Layout {
    /// The layout backend `B` convolves in: channels-last on burn's cubecl backends (CUDA, and
    /// wgpu in `scripts/cubecl-lavapipe.sh`), channels-first otherwise. Only speed depends on it:
    /// both layouts compute the same values (tested).
    pub fn preferred<B: Backend>() -> Self {
        Self::for_type_name(std::any::type_name::<B>())
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::ChannelsFirst => "channels-first",
            Layout::ChannelsLast => "channels-last",
        }
    }

    /// `channels-first` or `channels-last` (the benches' `--layout`).
    pub fn parse(name: &str) -> Result<Self, String> {
        [Layout::ChannelsFirst, Layout::ChannelsLast]
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| format!("layout {name:?}: expected channels-first or channels-last"))
    }

    fn for_type_name(name: &str) -> Self {
        if name.contains("burn_cubecl::") {
            Layout::ChannelsLast
        } else {
            Layout::ChannelsFirst
        }
    }

    /// `f` applied to `x` in this layout: with channels-last, to the `[b, h, w, c]` view, and the
    /// result viewed back as `[b, c', h', w']`. `f` must keep the channel axis last.
    pub fn map<B: Backend>(
        self,
        x: Tensor<B, 4>,
        f: impl FnOnce(Tensor<B, 4>) -> Tensor<B, 4>,
    ) -> Tensor<B, 4> {
        match self {
            Layout::ChannelsFirst => f(x),
            Layout::ChannelsLast => f(x.permute(TO_NHWC)).permute(TO_NCHW),
        }
    }

    /// `a + b` in this layout.
    pub fn add<B: Backend>(self, a: Tensor<B, 4>, b: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Layout::ChannelsFirst => a + b,
            Layout::ChannelsLast => (a.permute(TO_NHWC) + b.permute(TO_NHWC)).permute(TO_NCHW),
        }
    }
}

/// `[b, c, h, w]` → `[b, h, w, c]`.
pub const TO_NHWC: [isize; 4] = [0, 2, 3, 1];
/// `[b, h, w, c]` → `[b, c, h, w]`.
pub const TO_NCHW: [isize; 4] = [0, 3, 1, 2];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Shortcut;
    use crate::model::{ResNetConfig, normal_tensor, relayout_weight};
    use crate::rng::Rng;
    use burn::module::AutodiffModule;

    type B = burn::backend::Autodiff<burn::backend::Flex>;

    fn close<const D: usize>(a: Tensor<impl Backend, D>, b: Tensor<impl Backend, D>, what: &str) {
        let (a, b): (Vec<f32>, Vec<f32>) = (
            a.into_data().to_vec().unwrap(),
            b.into_data().to_vec().unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * scale,
                "{what}[{i}]: {x} vs {y} (scale {scale})"
            );
        }
    }

    #[test]
    fn both_layouts_compute_the_same_values_gradients_and_running_statistics() {
        let device = Default::default();
        for (residual, shortcut) in [
            (true, Shortcut::A),
            (true, Shortcut::B),
            (false, Shortcut::A),
        ] {
            let config = ResNetConfig {
                depth: 8,
                width: 1,
                shortcut,
                residual,
                in_channels: 3,
                classes: 10,
            };
            let rng = &mut Rng::new(7);
            let x = normal_tensor::<B, 4>([4, 3, 8, 8], 0.0, 1.0, rng, &device);
            let weights = normal_tensor::<B, 2>([4, 10], 0.0, 1.0, rng, &device);
            let nets = [Layout::ChannelsFirst, Layout::ChannelsLast]
                .map(|layout| config.init::<B>(3, &device).with_layout(layout));
            let runs = nets.each_ref().map(|net| {
                let (logits, probes) = net.forward_probed(x.clone());
                let grads = (logits.clone() * weights.clone()).sum().backward();
                (logits, probes, grads)
            });
            let [(la, pa, ga), (lb, pb, gb)] = &runs;
            let what = format!("residual {residual}, option {shortcut:?}");
            close(la.clone(), lb.clone(), &format!("{what}: logits"));
            let [first, last] = &nets;
            // Channels-last stores convolution weights (and so their gradients) [o, kh, kw, i].
            assert_eq!(first.stem_conv.weight.dims(), [16, 3, 3, 3]);
            assert_eq!(last.blocks()[0].conv1_dims(), [16, 3, 3, 16]);
            close(
                first.stem_conv.weight.grad(ga).unwrap(),
                relayout_weight(
                    last.stem_conv.weight.grad(gb).unwrap(),
                    Layout::ChannelsLast,
                    Layout::ChannelsFirst,
                ),
                &format!("{what}: stem weight gradient"),
            );
            close(
                first.stem_bn.gamma.grad(ga).unwrap(),
                last.stem_bn.gamma.grad(gb).unwrap(),
                &format!("{what}: stem BN gamma gradient"),
            );
            close(
                pa.image.grad(ga).unwrap(),
                pb.image.grad(gb).unwrap(),
                &what,
            );
            for (i, (a, b)) in pa.blocks.iter().zip(&pb.blocks).enumerate() {
                let what = format!("{what}: block {i}");
                close(
                    a.branch.grad(ga).unwrap(),
                    b.branch.grad(gb).unwrap(),
                    &what,
                );
                close(a.sum.grad(ga).unwrap(), b.sum.grad(gb).unwrap(), &what);
                if let (Some(sa), Some(sb)) = (&a.shortcut, &b.shortcut) {
                    close(sa.grad(ga).unwrap(), sb.grad(gb).unwrap(), &what);
                }
                close(pa.outputs[i].clone(), pb.outputs[i].clone(), &what);
            }
            // The layout survives `valid()` (eval runs on the inner backend's model).
            assert_eq!(last.valid().layout(), Layout::ChannelsLast);
            // Eval mode: the running statistics both layouts accumulated.
            let [ea, eb] = nets
                .each_ref()
                .map(|n| n.valid().forward(x.clone().inner()));
            close(ea, eb, &format!("{what}: eval logits"));
        }
    }

    #[test]
    fn cubecl_backends_prefer_channels_last_and_cpu_backends_channels_first() {
        // `Autodiff<Cuda>` and `Autodiff<Wgpu>` (fusion on). The wgpu one is checked for real by
        // scripts/cubecl-lavapipe.sh ("the backend's preferred: channels-last"), the cuda one by
        // `cuda_prefers_channels_last` below when built with `--features cuda`.
        for name in [
            "burn_autodiff::backend::Autodiff<burn_fusion::backend::Fusion<burn_cubecl::backend::CubeBackend<cubecl_cuda::runtime::CudaRuntime, f32, i32, u8>>>",
            "burn_autodiff::backend::Autodiff<burn_fusion::backend::Fusion<burn_cubecl::backend::CubeBackend<cubecl_wgpu::runtime::WgpuRuntime, f32, i32, u32>>>",
        ] {
            assert_eq!(Layout::for_type_name(name), Layout::ChannelsLast, "{name}");
        }
        assert_eq!(
            Layout::preferred::<burn::backend::Autodiff<burn::backend::Flex>>(),
            Layout::ChannelsFirst
        );
        assert_eq!(
            Layout::preferred::<burn::backend::Flex>(),
            Layout::ChannelsFirst
        );
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_prefers_channels_last() {
        // A type-level check: no GPU needed.
        assert_eq!(
            Layout::preferred::<crate::backend::CudaAd>(),
            Layout::ChannelsLast
        );
        assert_eq!(
            Layout::preferred::<
                <crate::backend::CudaAd as burn::tensor::backend::AutodiffBackend>::InnerBackend,
            >(),
            Layout::ChannelsLast
        );
        // Without burn-fusion too (its batch norm kernels take channels-last rows).
        assert_eq!(
            Layout::preferred::<crate::backend::CudaUnfusedAd>(),
            Layout::ChannelsLast
        );
    }
}
