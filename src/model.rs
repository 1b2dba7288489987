//! The paper's CIFAR network family (He et al. 2016, §4.2): depth 6n+2, three stages of `n`
//! basic blocks with 16w, 32w and 64w channels. One type serves both nets: `residual = false`
//! switches the shortcut add off and gives the *plain* counterpart with the same layers.

mod block;
mod norm;
mod probe;
mod shortcut;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

pub use block::{BasicBlock, BlockConfig};
pub use norm::BatchNorm2d;
pub use probe::{BlockProbes, Probes};

use crate::config::Shortcut;

/// He et al. (2015) normal initialisation, fan-in mode: std = sqrt(2 / `fan_in`).
pub(crate) fn he_normal() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

pub(crate) fn conv3x3(channels: [usize; 2], stride: usize) -> Conv2dConfig {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .with_initializer(he_normal())
}

/// Shape and switches of one net.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    pub depth: usize,
    pub width: usize,
    pub shortcut: Shortcut,
    pub residual: bool,
    pub in_channels: usize,
    pub classes: usize,
}

#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem_conv: Conv2d<B>,
    stem_bn: BatchNorm2d<B>,
    blocks: Vec<BasicBlock<B>>,
    fc: Linear<B>,
}

impl ResNetConfig {
    /// Blocks per stage: `n` in depth = 6n+2.
    pub fn blocks_per_stage(&self) -> usize {
        (self.depth - 2) / 6
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet<B> {
        let base = 16 * self.width;
        let mut blocks = Vec::new();
        let mut channels = base;
        for stage in 0..3 {
            let out = base << stage;
            for i in 0..self.blocks_per_stage() {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = BlockConfig {
                    channels: [channels, out],
                    stride,
                    stage,
                    shortcut: self.shortcut,
                    residual: self.residual,
                };
                blocks.push(block.init(device));
                channels = out;
            }
        }
        ResNet {
            stem_conv: conv3x3([self.in_channels, base], 1).init(device),
            stem_bn: BatchNorm2d::new(base, device),
            blocks,
            fc: LinearConfig::new(channels, self.classes).init(device),
        }
    }
}

impl<B: Backend> ResNet<B> {
    /// Logits `[batch, classes]` for images `[batch, c, h, w]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = relu(self.stem_bn.forward(self.stem_conv.forward(x))); // [b, 16w, h, w]
        let x = self
            .blocks
            .iter()
            .fold(x, |x, block| block.forward(x, None)); // [b, 64w, h/4, w/4]
        self.fc.forward(global_average_pool(x)) // [b, classes]
    }

    pub fn blocks(&self) -> &[BasicBlock<B>] {
        &self.blocks
    }

    /// Parameters the optimiser trains (`BatchNorm` running statistics excluded), as in the paper
    /// and in `PyTorch`'s `sum(p.numel() for p in model.parameters())`.
    pub fn trainable_params(&self) -> usize {
        let stem = self.stem_conv.weight.shape().num_elements()
            + 2 * self.stem_bn.gamma.shape().num_elements();
        let fc = self.fc.weight.shape().num_elements()
            + self
                .fc
                .bias
                .as_ref()
                .map_or(0, |b| b.shape().num_elements());
        stem + fc
            + self
                .blocks
                .iter()
                .map(BasicBlock::trainable_params)
                .sum::<usize>()
    }

    /// Mutable access for tests that need a particular parameter state (e.g. a zeroed BN scale).
    pub fn blocks_mut(&mut self) -> &mut [BasicBlock<B>] {
        &mut self.blocks
    }
}

/// Mean over the spatial dimensions: `[b, c, h, w]` → `[b, c]`.
pub(crate) fn global_average_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [b, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([b, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;

    fn config(depth: usize) -> ResNetConfig {
        ResNetConfig {
            depth,
            width: 1,
            shortcut: Shortcut::A,
            residual: true,
            in_channels: 3,
            classes: 10,
        }
    }

    #[test]
    fn residual_parameter_counts_match_the_paper() {
        // Paper, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
        let device = Default::default();
        for (depth, millions) in [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)] {
            let params = config(depth).init::<B>(&device).trainable_params() as f64 / 1e6;
            assert!(
                (params - millions).abs() / millions < 0.03,
                "depth {depth}: {params}M vs {millions}M"
            );
        }
        assert_eq!(config(20).init::<B>(&device).trainable_params(), 269_722);
    }

    #[test]
    fn option_a_adds_no_parameters_and_option_b_does() {
        let device = Default::default();
        let residual = config(20).init::<B>(&device).trainable_params();
        let plain = ResNetConfig {
            residual: false,
            ..config(20)
        }
        .init::<B>(&device)
        .trainable_params();
        let option_b = ResNetConfig {
            shortcut: Shortcut::B,
            ..config(20)
        }
        .init::<B>(&device)
        .trainable_params();
        assert_eq!(plain, residual);
        assert!(option_b > residual);
    }

    #[test]
    fn output_shapes_for_mnist_and_cifar_inputs() {
        let device = Default::default();
        for (c, side) in [(1, 28), (3, 32)] {
            for residual in [false, true] {
                for shortcut in [Shortcut::A, Shortcut::B] {
                    let cfg = ResNetConfig {
                        in_channels: c,
                        residual,
                        shortcut,
                        ..config(8)
                    };
                    let logits = cfg
                        .init::<B>(&device)
                        .forward(Tensor::zeros([2, c, side, side], &device));
                    assert_eq!(logits.dims(), [2, 10]);
                }
            }
        }
    }
}
