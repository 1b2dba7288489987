//! The paper's CIFAR network family (He et al. 2016, §4.2): depth 6n+2, three stages of `n`
//! basic blocks with 16w, 32w and 64w channels. One type serves both nets: `residual = false`
//! switches the shortcut add off and gives the *plain* counterpart with the same layers.

mod backend;
mod block;
mod closed_form;
mod conv;
pub mod cross_entropy;
#[cfg(feature = "fusion")]
mod cross_entropy_kernel;
#[cfg(feature = "fusion")]
mod cube_sum;
#[cfg(feature = "fusion")]
mod launch;
mod layout;
mod norm;
mod pool;
mod probe;
#[cfg(feature = "fusion")]
mod relu_kernel;
#[cfg(feature = "fusion")]
mod sgd_kernel;
mod shortcut;
mod subsample;
mod update;

use burn::module::{Module, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

pub use backend::ModelBackend;
pub use block::{BasicBlock, BlockConfig};
pub use conv::recorded::burns_backward as burns_conv_backward;
pub use conv::{lowered as conv_lowered, relayout_weight};
pub use cross_entropy::CrossEntropy;
pub use layout::Layout;
pub use norm::{BatchNorm2d, Normalized, RowFactors, RowsForward, RowsGrads, RowsSaved, Tail};
pub use probe::{BlockProbes, ProbePoint, ProbeSource, Probes};
pub use update::{SgdRates, SgdTensors, sgd_step};

use crate::config::Shortcut;
use crate::rng::Rng;

/// Builds a bias-free convolution with He et al. (2015) normal weights, fan-in mode
/// (std = sqrt(2 / fan_in)), drawn from resdash's own seeded generator: the weights depend only
/// on the seed, never on the backend's global RNG or on which thread touches them first.
pub(crate) fn he_conv<B: Backend>(
    config: &Conv2dConfig,
    rng: &mut Rng,
    device: &B::Device,
) -> Conv2d<B> {
    let config = config
        .clone()
        .with_bias(false)
        .with_initializer(Initializer::Zeros);
    let mut conv = config.init(device);
    let dims = conv.weight.dims();
    let std = (2.0 / (dims[1] * dims[2] * dims[3]) as f64).sqrt();
    conv.weight = Param::from_tensor(seeded(dims, rng, device, |r| std * f64::from(r.normal())));
    conv
}

/// The classifier, initialised like PyTorch's `nn.Linear`: weights and bias U(±1/sqrt(fan_in)).
fn seeded_linear<B: Backend>(
    inputs: usize,
    outputs: usize,
    rng: &mut Rng,
    device: &B::Device,
) -> Linear<B> {
    let config = LinearConfig::new(inputs, outputs).with_initializer(Initializer::Zeros);
    let mut linear = config.init(device);
    let bound = 1.0 / (inputs as f64).sqrt();
    let uniform = |r: &mut Rng| bound * (2.0 * f64::from(r.next_f32()) - 1.0);
    linear.weight = Param::from_tensor(seeded([inputs, outputs], rng, device, uniform));
    linear.bias = Some(Param::from_tensor(seeded([outputs], rng, device, uniform)));
    linear
}

fn seeded<B: Backend, const D: usize>(
    dims: [usize; D],
    rng: &mut Rng,
    device: &B::Device,
    mut draw: impl FnMut(&mut Rng) -> f64,
) -> Tensor<B, D> {
    let values: Vec<f64> = (0..dims.iter().product()).map(|_| draw(rng)).collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Test inputs drawn from resdash's own generator, normal with `mean` and `std`. Tests can run in
/// parallel in one process and burn's backends keep one global RNG behind `Backend::seed`: a
/// test that seeds it and then draws can get another test's draws in between (seen as a CI
/// failure of a test comparing two runs on "the same" seeded batch), so no test draws from it.
#[cfg(test)]
pub(crate) fn normal_tensor<B: Backend, const D: usize>(
    dims: [usize; D],
    mean: f64,
    std: f64,
    rng: &mut Rng,
    device: &B::Device,
) -> Tensor<B, D> {
    seeded(dims, rng, device, |r| mean + std * f64::from(r.normal()))
}

pub(crate) fn conv3x3(channels: [usize; 2], stride: usize) -> Conv2dConfig {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
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

    /// Builds the net with weights drawn from `seed` (the same seed gives the plain and the
    /// residual net identical weights with option A).
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> ResNet<B> {
        let rng = &mut Rng::stream(seed, &[0x1417]);
        let stem_conv = he_conv(
            &conv3x3([self.in_channels, 16 * self.width], 1),
            rng,
            device,
        );
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
                blocks.push(block.init(rng, device));
                channels = out;
            }
        }
        ResNet {
            stem_conv,
            stem_bn: BatchNorm2d::new(base, device),
            blocks,
            fc: seeded_linear(channels, self.classes, rng, device),
        }
        .with_layout(Layout::preferred::<B>())
    }
}

impl<B: ModelBackend> ResNet<B> {
    /// Logits `[batch, classes]` for images `[batch, c, h, w]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.stem(x); // [b, 16w, h, w]
        let x = self
            .blocks
            .iter()
            .fold(x, |x, block| block.forward(x, None)); // [b, 64w, h/4, w/4]
        self.fc.forward(global_average_pool(x, self.layout())) // [b, classes]
    }

    /// Convolution, batch norm, `ReLU`.
    fn stem(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.stem_bn
            .forward_then(conv::forward(&self.stem_conv, x, self.layout()), &[], true)
    }
}

impl<B: Backend> ResNet<B> {
    /// Where the activations between convolutions are stored: the backend's
    /// [`Layout::preferred`] unless set by [`ResNet::with_layout`]. Only speed depends on it.
    /// Each batch norm holds it (it picks the formulation); the stem's speaks for the net.
    pub fn layout(&self) -> Layout {
        self.stem_bn.layout
    }

    /// The same net with its activations and convolution weights stored in `layout` (weights
    /// keep their parameter ids). An optimiser's state must move with it:
    /// `NetState::with_layout` does both.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        let from = self.layout();
        self.stem_bn.layout = layout;
        self.stem_conv = conv::relayout(self.stem_conv, from, layout);
        self.blocks = self
            .blocks
            .into_iter()
            .map(|block| block.with_layout(from, layout))
            .collect();
        self
    }

    /// Parameter ids of the convolution weights: the parameters whose storage order, and whose
    /// optimiser state's, depends on the layout.
    pub fn conv_weight_ids(&self) -> Vec<ParamId> {
        std::iter::once(self.stem_conv.weight.id)
            .chain(self.blocks.iter().flat_map(BasicBlock::conv_weight_ids))
            .collect()
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
pub(crate) fn global_average_pool<B: ModelBackend>(
    x: Tensor<B, 4>,
    layout: Layout,
) -> Tensor<B, 2> {
    let [b, c, _, _] = x.dims();
    match layout {
        Layout::ChannelsFirst => x.mean_dim(3).mean_dim(2).reshape([b, c]),
        Layout::ChannelsLast => B::average_pool_nhwc(x.permute(layout::TO_NHWC)),
    }
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
            let params = config(depth).init::<B>(0, &device).trainable_params() as f64 / 1e6;
            assert!(
                (params - millions).abs() / millions < 0.03,
                "depth {depth}: {params}M vs {millions}M"
            );
        }
        assert_eq!(config(20).init::<B>(0, &device).trainable_params(), 269_722);
    }

    #[test]
    fn the_seed_alone_decides_the_weights_and_plain_and_residual_start_equal() {
        let device = Default::default();
        let weights = |cfg: &ResNetConfig, draws_between: bool| {
            B::seed(&device, 1);
            let model = cfg.init::<B>(9, &device);
            if draws_between {
                // Unrelated random draws (other threads, other tests) must not matter.
                B::seed(&device, 2);
                let _ = Tensor::<B, 1>::random([100], burn::tensor::Distribution::Default, &device);
            }
            let x = Tensor::<B, 4>::ones([1, 3, 8, 8], &device);
            model.forward(x).into_data().to_vec::<f32>().unwrap()
        };
        let residual = config(8);
        let plain = ResNetConfig {
            residual: false,
            ..config(8)
        };
        assert_eq!(weights(&residual, false), weights(&residual, true));
        // Same parameters: the stem and first layers agree; compare the parameter lists.
        let a = residual.init::<B>(9, &device);
        let b = plain.init::<B>(9, &device);
        assert_eq!(a.fc.weight.val().into_data(), b.fc.weight.val().into_data());
        assert_eq!(
            a.stem_conv.weight.val().into_data(),
            b.stem_conv.weight.val().into_data()
        );
    }

    #[test]
    fn option_a_adds_no_parameters_and_option_b_does() {
        let device = Default::default();
        let residual = config(20).init::<B>(0, &device).trainable_params();
        let plain = ResNetConfig {
            residual: false,
            ..config(20)
        }
        .init::<B>(0, &device)
        .trainable_params();
        let option_b = ResNetConfig {
            shortcut: Shortcut::B,
            ..config(20)
        }
        .init::<B>(0, &device)
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
                        .init::<B>(0, &device)
                        .forward(Tensor::zeros([2, c, side, side], &device));
                    assert_eq!(logits.dims(), [2, 10]);
                }
            }
        }
    }
}
