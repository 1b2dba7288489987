//! The loss of a batch as one cubecl kernel, for burn's cubecl backends without burn-fusion
//! (`--fusion off`): the mean cross-entropy, the number correct and the gradient in the logits
//! ([`super::cross_entropy`]'s values). Without fusion each of its maths' operations (argmax,
//! compares, masks, max, exp, sums, log…) is a launch of its own: 24 per step, for a batch whose
//! logits are `[batch, 10]`. Here one cube does it all: each unit takes rows `u, u + U, …`,
//! computes each row's maximum (the first, for the accuracy), log-sum-exp, loss and gradient row,
//! and the cube adds the rows' losses and hits (`cube_sum`). An unfused residual ResNet-20
//! step: 362 -> 339 launches (lavapipe, `scripts/cubecl-lavapipe.sh --unfused`).
//!
//! No CPU backend runs cubecl, so this is checked where cubecl runs: on burn-wgpu over lavapipe
//! (`scripts/cubecl-lavapipe.sh --norm-check`: the three outputs against the maths in float64,
//! ties and a label outside the classes included; `--update-check`: training steps against
//! flex).

use burn::tensor::{Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement, IntElement};

use super::cube_sum::{sum_pairs, units_for};

/// The most rows one launch takes: each unit loops over its rows, and lavapipe stops a shader's
/// loop after 65,535 iterations; with 256 units that is far beyond any batch.
const MAX_ROWS: usize = 256 * 65_535;

/// Row `r` of `logits` (`[n, classes]`, contiguous): `lse = log Σ exp(l - max) + max`, loss
/// `lse - l[label]` (a label outside the classes picks nothing, as the maths' one-hot does),
/// correct if the first maximum is at the label, gradient row `(exp(l - lse) - one_hot) / n`.
/// `loss` `[1]` gets the mean loss, `correct` `[1]` the number correct.
#[cube(launch)]
#[allow(clippy::too_many_arguments, clippy::trivially_copy_pass_by_ref)]
fn cross_entropy_rows<F: Float + CubeElement, I: Int + CubeElement>(
    logits: &Array<F>,
    labels: &Array<I>,
    gradient: &mut Array<F>,
    loss: &mut Array<F>,
    correct: &mut Array<F>,
    rows: F,
    n: usize,
    classes: usize,
    #[comptime] units: usize,
) {
    let u = UNIT_POS_X as usize;
    let mut losses = F::new(0.0);
    let mut hits = F::new(0.0);
    let mut r = u;
    while r < n {
        let base = r * classes;
        let label = usize::cast_from(labels[r]);
        let mut max = logits[base];
        let mut first = 0usize;
        for j in 1..classes {
            let v = logits[base + j];
            if v > max {
                max = v;
                first = j;
            }
        }
        let mut sum = F::new(0.0);
        for j in 0..classes {
            sum += F::exp(logits[base + j] - max);
        }
        let lse = F::ln(sum) + max;
        let mut picked = F::new(0.0);
        if label < classes {
            picked = logits[base + label];
        }
        losses += lse - picked;
        if first == label {
            hits += F::new(1.0);
        }
        for j in 0..classes {
            let mut g = F::exp(logits[base + j] - lse);
            if j == label {
                g -= F::new(1.0);
            }
            gradient[base + j] = g / rows;
        }
        r += units;
    }
    let (losses, hits) = sum_pairs::<F>(losses, hits, units);
    if u == 0 {
        loss[0] = losses / rows;
        correct[0] = hits;
    }
}

/// Whether the kernel applies: the backend's float and int types, logits `[n, classes]` with at
/// least one class, labels `[n]`, at most [`MAX_ROWS`] rows. Otherwise the caller runs the maths.
pub fn applies<R: CubeRuntime, F: FloatElement, I: IntElement>(
    logits: &CubeTensor<R>,
    labels: &CubeTensor<R>,
) -> bool {
    let (shape, label_shape) = (logits.shape(), labels.shape());
    logits.dtype == F::dtype()
        && labels.dtype == I::dtype()
        && shape.num_dims() == 2
        && label_shape.num_dims() == 1
        && label_shape[0] == shape[0]
        && (1..=MAX_ROWS).contains(&shape[0])
        && shape[1] >= 1
}

/// The loss of `logits` for `labels` (where [`applies`]): `[mean loss]`, `[number correct]`,
/// and the gradient `[n, classes]`. One launch.
pub fn cross_entropy<R: CubeRuntime, F: FloatElement, I: IntElement>(
    logits: CubeTensor<R>,
    labels: CubeTensor<R>,
) -> (CubeTensor<R>, CubeTensor<R>, CubeTensor<R>) {
    // The kernel indexes by offset: a strided view is copied first (a contiguous one is kept).
    let (logits, labels) = (into_contiguous(logits), into_contiguous(labels));
    let [n, classes] = [logits.shape()[0], logits.shape()[1]];
    let client = logits.client.clone();
    let alloc = |dims: Vec<usize>| {
        empty_device::<R, F>(client.clone(), logits.device.clone(), Shape::from(dims))
    };
    let gradient = alloc(vec![n, classes]);
    let [loss, correct] = std::array::from_fn(|_| alloc(vec![1]));
    // One unit per row up to 256.
    let units = units_for(n);
    cross_entropy_rows::launch::<F, I, R>(
        &client,
        CubeCount::Static(1, 1, 1),
        CubeDim::new_1d(units as u32),
        logits.into_array_arg(),
        labels.into_array_arg(),
        gradient.clone().into_array_arg(),
        loss.clone().into_array_arg(),
        correct.clone().into_array_arg(),
        F::from_elem(n as f64),
        n,
        classes,
        units,
    );
    (loss, correct, gradient)
}
