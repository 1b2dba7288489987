//! Convolution weights stored in the order their layout convolves in.
//!
//! burn's cubecl backends convolve channels-last: they view the weight `[out, in, kh, kw]` as
//! `[out, kh, kw, in]` and copy it unless `in` is already its contiguous axis. Stored
//! `[out, in, kh, kw]`, every convolution's weight is copied twice per training step (forward,
//! and the data gradient). With [`Layout::ChannelsLast`] the weight parameter is therefore
//! stored `[out, kh, kw, in]` and handed to the convolution as an `[out, in, kh, kw]` view of
//! that memory, which needs no copy; its gradient comes back in the same order, and so do the
//! optimiser's momentum buffers. With [`Layout::ChannelsFirst`] the parameter is burn's own
//! `[out, in, kh, kw]`.
//!
//! Only memory order differs; both compute the same values (tested in `super::layout`).
//! Checkpoints always hold `[out, in, kh, kw]` (see `NetState::with_layout`).
//!
//! On a backend whose convolution is resdash's own ([`ModelBackend::OWN_CONVOLUTION`]: flex
//! and ndarray, with [`lowered`]'s forward and backward), a bias-free convolution with the same
//! padding on both sides runs as [`ModelBackend::convolution`]; every other convolution is
//! burn's `Conv2d`.

pub mod lowered;
pub mod recorded;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use super::ModelBackend;
use super::layout::{Layout, TO_NCHW, TO_NHWC};

/// `conv(x)` for a convolution whose weight is stored in `layout`'s order.
pub fn forward<B: ModelBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>, layout: Layout) -> Tensor<B, 4> {
    if B::OWN_CONVOLUTION
        && let Some(options) = symmetric_options(conv)
    {
        let weight = match layout {
            Layout::ChannelsFirst => conv.weight.val(),
            Layout::ChannelsLast => conv.weight.val().permute(TO_NCHW),
        };
        return B::convolution(x, weight, options);
    }
    match layout {
        Layout::ChannelsFirst => conv.forward(x),
        Layout::ChannelsLast => {
            // The same module with its weight viewed `[out, in, kh, kw]`: burn's `Conv2d` works
            // out the padding and options. `Param::initialized` keeps the view in the autodiff
            // graph (`Param::from_tensor` would make it a new leaf).
            let view = Conv2d {
                weight: Param::initialized(conv.weight.id, conv.weight.val().permute(TO_NCHW)),
                bias: conv.bias.clone(),
                stride: conv.stride,
                kernel_size: conv.kernel_size,
                dilation: conv.dilation,
                groups: conv.groups,
                padding: conv.padding.clone(),
            };
            view.forward(x)
        }
    }
}

/// `conv`'s options where it has no bias and pads each side of an axis alike, explicitly or not
/// at all (`Same` is left to burn: it may pad one side more).
fn symmetric_options<B: Backend>(conv: &Conv2d<B>) -> Option<ConvOptions<2>> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    conv.bias
        .is_none()
        .then(|| ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups))
}

/// The convolution with its weight moved from `from`'s order to `to`'s, keeping its parameter
/// id (the optimiser's state is keyed by it).
#[must_use]
pub fn relayout<B: Backend>(mut conv: Conv2d<B>, from: Layout, to: Layout) -> Conv2d<B> {
    if from != to {
        conv.weight = conv.weight.map(|w| relayout_weight(w, from, to));
    }
    conv
}

/// A weight (or anything shaped like one: its gradient, its momentum) moved from `from`'s order
/// to `to`'s: `[out, in, kh, kw]` <-> `[out, kh, kw, in]`, stored contiguously in the new order.
/// A host round trip: it runs when a net is built, loaded or saved, never in a training step.
pub fn relayout_weight<B: Backend>(w: Tensor<B, 4>, from: Layout, to: Layout) -> Tensor<B, 4> {
    let permutation = match (from, to) {
        (Layout::ChannelsFirst, Layout::ChannelsLast) => TO_NHWC,
        (Layout::ChannelsLast, Layout::ChannelsFirst) => TO_NCHW,
        _ => return w,
    };
    let (device, require_grad) = (w.device(), w.is_require_grad());
    // `into_data` reads the permuted view in its logical order, so `from_data` stores it
    // contiguously in the new one (a permute alone would only change the strides).
    let data = w.permute(permutation).into_data();
    Tensor::from_data(data, &device).set_require_grad(require_grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;
    type Ad = burn::backend::Autodiff<B>;

    #[test]
    fn flex_convolutions_run_resdashs_lowering_with_burns_values_and_gradients() {
        use crate::model::{he_conv, normal_tensor};
        use crate::rng::Rng;
        use burn::nn::conv::Conv2dConfig;
        use burn::tensor::Tolerance;

        const { assert!(Ad::OWN_CONVOLUTION) };
        let device = Default::default();
        let mut rng = Rng::new(5);
        for (stride, padding) in [(1, 1), (2, 1), (2, 0)] {
            let kernel = if padding == 0 { 1 } else { 3 };
            let config = Conv2dConfig::new([3, 4], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(
                    padding, padding, padding, padding,
                ));
            let conv = he_conv::<Ad>(&config, &mut rng, &device);
            assert!(symmetric_options(&conv).is_some());
            let x = normal_tensor::<Ad, 4>([2, 3, 6, 6], 0.0, 1.0, &mut rng, &device);
            for layout in [Layout::ChannelsFirst, Layout::ChannelsLast] {
                let ours = relayout(conv.clone(), Layout::ChannelsFirst, layout);
                let [x_ours, x_burns] = [0, 1].map(|_| x.clone().detach().require_grad());
                let y_ours = forward(&ours, x_ours.clone(), layout);
                let y_burns = conv.forward(x_burns.clone());
                let tolerance = Tolerance::absolute(1e-5);
                y_ours
                    .clone()
                    .into_data()
                    .assert_approx_eq::<f32>(&y_burns.clone().into_data(), tolerance);
                let dy = normal_tensor::<Ad, 4>(y_ours.dims(), 0.0, 1.0, &mut rng, &device);
                let g_ours = (y_ours * dy.clone()).sum().backward();
                let g_burns = (y_burns * dy).sum().backward();
                let grad = |t: &Tensor<Ad, 4>, g| t.grad(g).expect("a gradient");
                grad(&x_ours, &g_ours)
                    .into_data()
                    .assert_approx_eq::<f32>(&grad(&x_burns, &g_burns).into_data(), tolerance);
                let w_ours = relayout_weight(
                    ours.weight.val().grad(&g_ours).expect("a weight gradient"),
                    layout,
                    Layout::ChannelsFirst,
                );
                let w_burns = conv.weight.val().grad(&g_burns).expect("a weight gradient");
                w_ours
                    .into_data()
                    .assert_approx_eq::<f32>(&w_burns.into_data(), tolerance);
            }
        }
    }

    #[test]
    fn relayout_moves_in_to_the_last_axis_and_back() {
        let device = Default::default();
        // Each element of w [2, 3, 2, 2] holds its own flat index.
        let w = Tensor::<B, 1, Int>::arange(0..2 * 3 * 2 * 2, &device)
            .float()
            .reshape([2, 3, 2, 2]);
        let values = |t: Tensor<B, 4>| t.into_data().to_vec::<f32>().unwrap();
        let last = relayout_weight(w.clone(), Layout::ChannelsFirst, Layout::ChannelsLast);
        assert_eq!(last.dims(), [2, 2, 2, 3]);
        // Element [o, y, x, i] of the new order is w[o, i, y, x].
        let v = values(last.clone());
        let w_at = |o: usize, i: usize, y: usize, x: usize| (((o * 3 + i) * 2 + y) * 2 + x) as f32;
        for (o, y, x, i) in [(0, 0, 0, 0), (0, 0, 1, 2), (1, 1, 0, 1), (1, 1, 1, 2)] {
            assert_eq!(v[((o * 2 + y) * 2 + x) * 3 + i], w_at(o, i, y, x));
        }
        let back = relayout_weight(last, Layout::ChannelsLast, Layout::ChannelsFirst);
        assert_eq!(values(back), values(w.clone()));
        let same = relayout_weight(w.clone(), Layout::ChannelsLast, Layout::ChannelsLast);
        assert_eq!(values(same), values(w));
    }
}
