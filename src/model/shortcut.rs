//! The shortcut path `S_b` of a block whose shape changes (stride 2, channels doubled).
//! Option A (paper default): subsample by 2 and append zero channels — no parameters, and the
//! shortcut's contribution lives in the first `in` channels. Option B: 1x1 convolution + BN.

use burn::module::{Module, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use super::backend::ModelBackend;
use super::conv;
use super::layout::Layout;
use super::norm::BatchNorm2d;

use super::he_conv;
use crate::rng::Rng;

/// Option B's projection: 1x1 convolution with stride 2, then BN.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm2d<B>,
}

impl<B: Backend> Projection<B> {
    pub fn new(channels: [usize; 2], stride: usize, rng: &mut Rng, device: &B::Device) -> Self {
        Self {
            conv: he_conv(
                &Conv2dConfig::new(channels, [1, 1]).with_stride([stride, stride]),
                rng,
                device,
            ),
            bn: BatchNorm2d::new(channels[1], device),
        }
    }

    /// The projection with its activations and convolution weight moved from `from` to `to`.
    pub(crate) fn with_layout(mut self, from: Layout, to: Layout) -> Self {
        self.bn.layout = to;
        self.conv = conv::relayout(self.conv, from, to);
        self
    }

    pub(crate) fn conv_weight_id(&self) -> ParamId {
        self.conv.weight.id
    }

    pub fn trainable_params(&self) -> usize {
        self.conv.weight.shape().num_elements() + 2 * self.bn.gamma.shape().num_elements()
    }
}

impl<B: ModelBackend> Projection<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.bn
            .forward(conv::forward(&self.conv, x, self.bn.layout))
    }
}

/// Option A: keep every second row and column, then append `extra` zero channels.
///
/// Subsampling is a reshape that splits `h` and `w` into `[h/2, 2]` and `[w/2, 2]` and a plain
/// slice of index 0 in the two size-2 axes: no stepped slice, which is a slow path on some
/// backends. With channels-last the same is done on the `[b, h, w, c]` view, and where the
/// channels double (always, in the paper's nets) by the backend's
/// [`ModelBackend::subsample_double`]: one fused kernel each way on burn's fusion backends.
pub fn subsample_pad<B: ModelBackend>(
    x: Tensor<B, 4>,
    extra: usize,
    layout: Layout,
) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    let (h2, w2) = (h / 2, w / 2);
    match layout {
        Layout::ChannelsFirst => {
            let x = x
                .reshape([b, c, h2, 2, w2, 2])
                .slice([0..b, 0..c, 0..h2, 0..1, 0..w2, 0..1])
                .reshape([b, c, h2, w2]); // [b, c, h/2, w/2]
            append_zeros(x, extra, 1) // [b, c + extra, h/2, w/2]
        }
        Layout::ChannelsLast if extra == c => layout.map(x, B::subsample_double),
        Layout::ChannelsLast => layout.map(x, |x| {
            let x = x
                .reshape([b, h2, 2, w2, 2, c])
                .slice([0..b, 0..h2, 0..1, 0..w2, 0..1, 0..c])
                .reshape([b, h2, w2, c]); // [b, h/2, w/2, c]
            append_zeros(x, extra, 3) // [b, h/2, w/2, c + extra]
        }),
    }
}

/// `x` with `extra` zero entries appended along `axis`.
fn append_zeros<B: Backend>(x: Tensor<B, 4>, extra: usize, axis: usize) -> Tensor<B, 4> {
    if extra == 0 {
        return x;
    }
    let mut dims = x.dims();
    dims[axis] = extra;
    let zeros = Tensor::zeros(dims, &x.device());
    Tensor::cat(vec![x, zeros], axis)
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;

    #[test]
    fn subsample_keeps_even_positions_and_pads_zero_channels() {
        let device = Default::default();
        let x = Tensor::<B, 1, Int>::arange(0..32, &device)
            .float()
            .reshape([1, 2, 4, 4]);
        for layout in [Layout::ChannelsFirst, Layout::ChannelsLast] {
            let y = subsample_pad(x.clone(), 2, layout);
            assert_eq!(y.dims(), [1, 4, 2, 2]);
            let v: Vec<f32> = y.into_data().to_vec().unwrap();
            assert_eq!(
                v,
                vec![
                    0., 2., 8., 10., 16., 18., 24., 26., 0., 0., 0., 0., 0., 0., 0., 0.
                ],
                "{layout:?}"
            );
        }
    }

    #[test]
    fn padding_other_than_doubling_takes_the_general_path_in_both_layouts() {
        let device = Default::default();
        let x = Tensor::<B, 1, Int>::arange(0..32, &device)
            .float()
            .reshape([1, 2, 4, 4]);
        let [first, last] = [Layout::ChannelsFirst, Layout::ChannelsLast]
            .map(|layout| subsample_pad(x.clone(), 1, layout).into_data());
        assert_eq!(first.shape.dims::<4>(), [1, 3, 2, 2]);
        assert_eq!(last, first);
        let v: Vec<f32> = first.to_vec().unwrap();
        assert_eq!(v[..8], [0., 2., 8., 10., 16., 18., 24., 26.]);
        assert_eq!(v[8..], [0.; 4]);
    }
}
