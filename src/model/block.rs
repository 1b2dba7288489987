//! One basic block: conv3x3-BN-ReLU-conv3x3-BN (the branch `F_b`), `+ S_b(x)` in the residual net,
//! then `ReLU`.

use burn::module::{Module, ParamId};
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::backend::ModelBackend;
use super::conv;
use super::layout::Layout;
use super::norm::BatchNorm2d;
use super::probe::BlockProbes;
use super::shortcut::{Projection, subsample_pad};
use super::{conv3x3, he_conv};
use crate::config::Shortcut;
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct BlockConfig {
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    pub stride: usize,
    /// 0, 1 or 2.
    pub stage: usize,
    pub shortcut: Shortcut,
    pub residual: bool,
}

#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm2d<B>,
    conv2: Conv2d<B>,
    pub(crate) bn2: BatchNorm2d<B>,
    /// Option B where the shape changes (residual net only).
    projection: Option<Projection<B>>,
    #[module(skip)]
    residual: bool,
    #[module(skip)]
    stride: usize,
    /// Zero channels option A appends on the shortcut.
    #[module(skip)]
    pad_channels: usize,
    #[module(skip)]
    stage: usize,
}

impl BlockConfig {
    pub fn init<B: Backend>(&self, rng: &mut Rng, device: &B::Device) -> BasicBlock<B> {
        let [inp, out] = self.channels;
        let reshapes = self.stride != 1 || inp != out;
        let projection = (self.residual && reshapes && self.shortcut == Shortcut::B)
            .then(|| Projection::new(self.channels, self.stride, rng, device));
        BasicBlock {
            conv1: he_conv(&conv3x3([inp, out], self.stride), rng, device),
            bn1: BatchNorm2d::new(out, device),
            conv2: he_conv(&conv3x3([out, out], 1), rng, device),
            bn2: BatchNorm2d::new(out, device),
            projection,
            residual: self.residual,
            stride: self.stride,
            pad_channels: out - inp,
            stage: self.stage,
        }
    }
}

impl<B: ModelBackend> BasicBlock<B> {
    /// `y = relu(F(x) + S(x))` (residual) or `relu(F(x))` (plain). With `probes`, the zero probe
    /// tensors are added at the branch input, the shortcut input and the sum (and the block
    /// input if present), so their gradients are the gradients at those points.
    pub fn forward(&self, x: Tensor<B, 4>, probes: Option<&BlockProbes<B>>) -> Tensor<B, 4> {
        let layout = self.layout();
        let x = match probes.and_then(|p| p.input.as_ref()) {
            Some(input) => layout.add(x, input.clone()),
            None => x,
        };
        let branch_in = match probes {
            Some(p) => layout.add(x.clone(), p.branch.clone()),
            None => x.clone(),
        };
        let f = self
            .bn1
            .forward_then(conv::forward(&self.conv1, branch_in, layout), &[], true);
        let f = conv::forward(&self.conv2, f, layout); // [b, out, h/s, w/s]
        // s = F(x) + S(x) (+ the sum probe, zero), then ReLU: all in bn2's epilogue.
        let mut addends = Vec::with_capacity(2);
        if self.residual {
            let shortcut_in = match probes.and_then(|p| p.shortcut.as_ref()) {
                Some(p) => layout.add(x, p.clone()),
                None => x,
            };
            addends.push(self.shortcut(shortcut_in));
        }
        if let Some(p) = probes {
            addends.push(p.sum.clone());
        }
        self.bn2.forward_then(f, &addends, true)
    }

    /// `S_b(x)`: identity, option A subsample + zero channels, or option B projection.
    fn shortcut(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match &self.projection {
            Some(projection) => projection.forward(x),
            None if self.stride == 1 && self.pad_channels == 0 => x,
            None => subsample_pad(x, self.pad_channels, self.layout()),
        }
    }
}

impl<B: Backend> BasicBlock<B> {
    /// Where this block's activations are stored (its batch norms hold it).
    fn layout(&self) -> Layout {
        self.bn1.layout
    }

    /// The block with its activations and convolution weights moved from `from` to `to`.
    pub(crate) fn with_layout(mut self, from: Layout, to: Layout) -> Self {
        self.bn1.layout = to;
        self.bn2.layout = to;
        self.conv1 = conv::relayout(self.conv1, from, to);
        self.conv2 = conv::relayout(self.conv2, from, to);
        self.projection = self.projection.map(|p| p.with_layout(from, to));
        self
    }

    pub(crate) fn conv_weight_ids(&self) -> Vec<ParamId> {
        [&self.conv1, &self.conv2]
            .into_iter()
            .map(|c| c.weight.id)
            .chain(self.projection.as_ref().map(Projection::conv_weight_id))
            .collect()
    }

    pub fn is_residual(&self) -> bool {
        self.residual
    }

    pub fn stage(&self) -> usize {
        self.stage
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn pad_channels(&self) -> usize {
        self.pad_channels
    }

    #[cfg(test)]
    pub(crate) fn conv1_dims(&self) -> [usize; 4] {
        self.conv1.weight.dims()
    }

    pub fn out_channels(&self) -> usize {
        self.bn2.gamma.shape().num_elements()
    }

    pub fn trainable_params(&self) -> usize {
        let convs =
            self.conv1.weight.shape().num_elements() + self.conv2.weight.shape().num_elements();
        let bns =
            2 * (self.bn1.gamma.shape().num_elements() + self.bn2.gamma.shape().num_elements());
        convs
            + bns
            + self
                .projection
                .as_ref()
                .map_or(0, Projection::trainable_params)
    }
}
