//! A convolution on the CPU, forward and backward, as matrix products over a few images' patches.
//!
//! burn 0.21's flex convolves per image and tile of 512 output positions (a copy of the input
//! to channels-last, patches gathered with a bounds test per element, one small matrix product
//! per tile); its default backward, which flex runs too, computes the input gradient as a
//! transposed convolution (per image: a small matrix product, then a scatter with a bounds test
//! per element) and the weight gradient as a convolution of the batch-swapped input by the
//! batch-swapped output gradient (an `h x w` kernel over `b` channels, through strided copies).
//! Here all three are lowered onto the same matrices, a few images at a time
//! (`images_per_pass`: what keeps a pass in a core's cache), their `m = images * oh * ow`
//! output positions as columns:
//! - `cols` `[c_in * kh * kw, m]`, the images' patches (im2col), copied as runs of input
//!   elements (a whole plane's rows as one span for a stride-1 "same" convolution), no test per
//!   element;
//! - the output `w · cols` `[c_out, m]`, moved to `[images, c_out, oh, ow]`;
//! - with the output gradient `dy` as `[c_out, m]`, the weight gradient `dy · colsᵀ`
//!   `[c_out, c_in * kh * kw]`, summed over the passes, and the patches' gradient `wᵀ · dy`
//!   `[c_in * kh * kw, m]`, added back into the input gradient over the same runs (im2col's
//!   adjoint). The products are the backend's (flex: `gemm`).
//!
//! Measured with `cargo bench --bench conv_lowered` (both in one process, shape by shape) and in
//! the whole training step (README, "Performance").
//!
//! For stride, padding and kernel size of any value; dilation 1, one group, `f32`.
//! `ModelBackend::convolution` runs it on flex and ndarray (whose own convolution backward is
//! scalar code), `super::recorded` records it for autodiff
//! (`ModelBackend::OWN_CONVOLUTION`); the unit tests below check it against burn's own
//! convolution and backward.

use std::ops::Range;

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::ops::ConvOptions;

/// A convolution's sizes: input `[batch, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`, output
/// `[batch, c_out, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// The sizes of `conv2d(x, weight, options)`, or `None` where this lowering does not apply
    /// (dilation other than 1, groups).
    pub fn of(x: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Option<Self> {
        if options.dilation != [1, 1] || options.groups != 1 || weight[1] != x[1] {
            return None;
        }
        let [batch, c_in, h, w] = x;
        let [c_out, _, kh, kw] = weight;
        let out = |len: usize, k: usize, s: usize, p: usize| {
            (len + 2 * p).checked_sub(k).map(|span| span / s + 1)
        };
        Some(Self {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride: options.stride,
            padding: options.padding,
            oh: out(h, kh, options.stride[0], options.padding[0])?,
            ow: out(w, kw, options.stride[1], options.padding[1])?,
        })
    }

    /// Rows of the patch matrix: one per input channel and kernel tap.
    fn taps(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// The output rows `oy` whose tap `ky` reads an input row inside the image.
    fn rows_reading(&self, ky: usize) -> Range<usize> {
        inside(self.oh, ky, self.stride[0], self.padding[0], self.h)
    }

    /// The output columns `ox` whose tap `kx` reads an input column inside the image.
    fn columns_reading(&self, kx: usize) -> Range<usize> {
        inside(self.ow, kx, self.stride[1], self.padding[1], self.w)
    }
}

/// The outputs `o < outputs` with `0 <= o * stride + tap - padding < len`.
fn inside(outputs: usize, tap: usize, stride: usize, padding: usize, len: usize) -> Range<usize> {
    let first = padding.saturating_sub(tap).div_ceil(stride);
    let end = match (len + padding).checked_sub(tap + 1) {
        Some(last_input) => (last_input / stride + 1).min(outputs),
        None => 0,
    };
    first..end.max(first)
}

/// How many images one pass lowers at once: as many as keep their patches within
/// `PATCH_BUDGET` elements (256 KiB: the patches, their gradient and the images' output
/// gradients stay in a core's cache between the copies and the products), at least one.
fn images_per_pass(g: &Geometry) -> usize {
    (PATCH_BUDGET / (g.taps() * g.oh * g.ow).max(1)).clamp(1, g.batch.max(1))
}

/// The patch elements one pass may hold.
const PATCH_BUDGET: usize = 1 << 16;

/// A run of patch entries that copy input elements: `rows` segments of `len` entries each, from
/// index `patch` of the patches `[taps, images * oh * ow]` (a segment's entries consecutive),
/// copying every `stride`-th element from index `input` of the images `[images, c_in, h, w]`.
///
/// Several segments only where `stride` is 1 and consecutive output rows are as far apart in
/// the images as in the patches (`step`: a stride-1 "same" convolution, `ow == w`): the run is
/// then one contiguous span in both, `(rows - 1) * step + len` long, whose entries between
/// segments (`step - len` after each but the last) lie in padding columns and copy nothing.
/// One span per tap and image keeps small images' runs long: a ResNet's 3x3 convolutions over
/// the default data's 8-wide rows would otherwise be runs of 7-8 elements.
struct Run {
    patch: usize,
    input: usize,
    len: usize,
    stride: usize,
    rows: usize,
    step: usize,
}

impl Run {
    /// Entries from the first segment's start to the last one's end.
    fn span(&self) -> usize {
        (self.rows - 1) * self.step + self.len
    }

    /// Zeroes the entries between segments of `span` (the run's `span()` entries). Column by
    /// column: the gaps are a column or two wide, and a `fill` per gap is a `memset` call each.
    fn clear_gaps(&self, span: &mut [f32]) {
        if self.rows < 2 {
            return;
        }
        for column in self.len..self.step {
            for entry in span[column..].iter_mut().step_by(self.step) {
                *entry = 0.0;
            }
        }
    }
}

/// Every run of `images` images' patches, in order. The padding's entries are in none.
fn runs(g: &Geometry, images: usize, mut visit: impl FnMut(Run)) {
    let (positions, plane_len) = (g.oh * g.ow, g.h * g.w);
    let [sy, sx] = g.stride;
    let [py, px] = g.padding;
    let spans = sx == 1 && sy * g.w == g.ow;
    for r in 0..g.taps() {
        let (ci, ky, kx) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
        let (xs, ys) = (g.columns_reading(kx), g.rows_reading(ky));
        if xs.is_empty() || ys.is_empty() {
            continue;
        }
        let first = xs.start * sx + kx - px;
        for b in 0..images {
            let plane = (b * g.c_in + ci) * plane_len;
            let run = |oy: usize, rows: usize| Run {
                patch: (r * images + b) * positions + oy * g.ow + xs.start,
                input: plane + (oy * sy + ky - py) * g.w + first,
                len: xs.len(),
                stride: sx,
                rows,
                step: g.ow,
            };
            if spans {
                visit(run(ys.start, ys.len()));
            } else {
                for oy in ys.clone() {
                    visit(run(oy, 1));
                }
            }
        }
    }
}

/// The patches of `x`'s images (`[images, c_in, h, w]`, `g.batch` ignored) as
/// `[taps, images * oh * ow]`: row `(ci, ky, kx)`, column `(b, oy, ox)` holds
/// `x[b, ci, oy * sy + ky - py, ox * sx + kx - px]`, zero in the padding.
fn im2col(x: &[f32], g: &Geometry) -> Vec<f32> {
    let images = x.len() / (g.c_in * g.h * g.w);
    let mut cols = vec![0.0; g.taps() * images * g.oh * g.ow];
    runs(g, images, |run| {
        let out = &mut cols[run.patch..][..run.span()];
        if run.stride == 1 {
            out.copy_from_slice(&x[run.input..][..run.span()]);
            run.clear_gaps(out);
        } else {
            for (o, v) in out
                .iter_mut()
                .zip(x[run.input..].iter().step_by(run.stride))
            {
                *o = *v;
            }
        }
    });
    cols
}

/// Adds to `dx` (`[images, c_in, h, w]`) the input gradient of patches whose gradient is
/// `dcols` (`[taps, images * oh * ow]`): each input element gets the patch entries that copied
/// it ([`im2col`]'s adjoint). The entries of padding columns inside a run's span are zeroed
/// first, so that a span adds as one.
fn col2im(dcols: &mut [f32], g: &Geometry, dx: &mut [f32]) {
    let images = dx.len() / (g.c_in * g.h * g.w);
    runs(g, images, |run| {
        let grads = &mut dcols[run.patch..][..run.span()];
        if run.stride == 1 {
            run.clear_gaps(grads);
            for (d, v) in dx[run.input..][..run.span()].iter_mut().zip(&*grads) {
                *d += *v;
            }
        } else {
            for (d, v) in dx[run.input..].iter_mut().step_by(run.stride).zip(&*grads) {
                *d += *v;
            }
        }
    });
}

/// `conv2d(x, weight)`'s gradients for the output gradient `dy`: the input's where `want[0]`,
/// the weight's where `want[1]`. `g` must be `Geometry::of` their shapes.
///
/// A few images at a time (`images_per_pass`), their `m` output positions as the columns of
/// one matrix: their patches `cols` `[taps, m]` and `dy` as `[c_out, m]`, then the weight
/// gradient `dy · colsᵀ` (summed over the passes) and the patches' gradient `wᵀ · dy`,
/// gathered back into the input gradient.
pub fn backward<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    dy: Tensor<B, 4>,
    g: &Geometry,
    want: [bool; 2],
) -> [Option<Tensor<B, 4>>; 2] {
    let device = dy.device();
    let (taps, positions, plane) = (g.taps(), g.oh * g.ow, g.c_in * g.h * g.w);
    let dy = values(dy);
    let x = want[1].then(|| values(x));
    let w_t = want[0].then(|| weight.reshape([g.c_out, taps]).transpose());
    let mut dw: Option<Tensor<B, 2>> = None;
    let mut dx = want[0].then(|| vec![0.0; g.batch * plane]);
    let step = images_per_pass(g);
    for start in (0..g.batch).step_by(step) {
        let images = step.min(g.batch - start);
        let m = images * positions;
        let dy = by_channel(
            &dy[start * g.c_out * positions..][..images * g.c_out * positions],
            g,
        );
        let dy = Tensor::<B, 2>::from_data(TensorData::new(dy, [g.c_out, m]), &device);
        if let Some(x) = &x {
            let cols = im2col(&x[start * plane..][..images * plane], g);
            let cols = Tensor::<B, 2>::from_data(TensorData::new(cols, [taps, m]), &device);
            let part = dy.clone().matmul(cols.transpose());
            dw = Some(match dw {
                Some(sum) => sum + part,
                None => part,
            });
        }
        if let (Some(w_t), Some(dx)) = (&w_t, &mut dx) {
            let mut dcols = values(w_t.clone().matmul(dy));
            col2im(&mut dcols, g, &mut dx[start * plane..][..images * plane]);
        }
    }
    let dx =
        dx.map(|dx| Tensor::from_data(TensorData::new(dx, [g.batch, g.c_in, g.h, g.w]), &device));
    [dx, dw.map(|dw| dw.reshape([g.c_out, g.c_in, g.kh, g.kw]))]
}

/// `conv2d(x, weight)` without bias: per pass (`images_per_pass`), the images' patches `cols`
/// `[taps, m]` and one product `w · cols` `[c_out, m]`, moved to the output's
/// `[images, c_out, oh, ow]`. `g` must be `Geometry::of` their shapes.
pub fn forward<B: Backend>(x: Tensor<B, 4>, weight: Tensor<B, 4>, g: &Geometry) -> Tensor<B, 4> {
    let device = x.device();
    let (taps, positions, plane) = (g.taps(), g.oh * g.ow, g.c_in * g.h * g.w);
    let x = values(x);
    let w = weight.reshape([g.c_out, taps]);
    let mut y = vec![0.0; g.batch * g.c_out * positions];
    let step = images_per_pass(g);
    for start in (0..g.batch).step_by(step) {
        let images = step.min(g.batch - start);
        let cols = im2col(&x[start * plane..][..images * plane], g);
        let cols =
            Tensor::<B, 2>::from_data(TensorData::new(cols, [taps, images * positions]), &device);
        let part = values(w.clone().matmul(cols));
        by_image(
            &part,
            g,
            &mut y[start * g.c_out * positions..][..images * g.c_out * positions],
        );
    }
    Tensor::from_data(TensorData::new(y, [g.batch, g.c_out, g.oh, g.ow]), &device)
}

/// `[c_out, images * oh * ow]` into `out` as `[images, c_out, oh * ow]` ([`by_channel`]'s
/// inverse).
fn by_image(by_channel: &[f32], g: &Geometry, out: &mut [f32]) {
    let positions = g.oh * g.ow;
    let images = by_channel.len() / (g.c_out * positions);
    for (co, row) in by_channel.chunks(images * positions).enumerate() {
        for (b, run) in row.chunks(positions).enumerate() {
            out[(b * g.c_out + co) * positions..][..positions].copy_from_slice(run);
        }
    }
}

/// Output gradients `[images, c_out, oh * ow]` as `[c_out, images * oh * ow]`.
fn by_channel(dy: &[f32], g: &Geometry) -> Vec<f32> {
    let positions = g.oh * g.ow;
    let images = dy.len() / (g.c_out * positions);
    let mut out = vec![0.0; dy.len()];
    for (co, row) in out.chunks_mut(images * positions).enumerate() {
        for (b, run) in row.chunks_mut(positions).enumerate() {
            run.copy_from_slice(&dy[(b * g.c_out + co) * positions..][..positions]);
        }
    }
    out
}

/// A tensor's elements in row-major order, as `f32`.
fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("a tensor converted to f32 reads as f32")
}

#[cfg(test)]
mod tests;
