//! Batch norm's training pass over channels-last rows `[n, c]` as cubecl kernels, for burn's
//! cubecl backends without burn-fusion (`--fusion off`). Without fusion each operation of
//! [`super::rows`]'s maths is a kernel launch of its own: 38 per batch norm per step (forward
//! and backward), 722 of an unfused residual ResNet-20 step's 1,119 launches. Here the forward is
//! three kernels and the backward three (the step: 511 launches, counted on burn-wgpu over
//! lavapipe, `scripts/cubecl-lavapipe.sh --unfused`; 426 with the block's tail inside them: the
//! residual add and the `ReLU`, see [`super::rows::Tail`]):
//!
//! 1. partial sums: unit `(p, j)` sums channel `j` over rows `p, p + P, p + 2P, ...` (consecutive
//!    units read consecutive addresses, as channels-last rows lie);
//! 2. finalize: one cube per channel adds its `P` partial sums (a tree in shared memory) and
//!    computes the channel's statistics or gradients and the factors of pass 3;
//! 3. one element-wise pass over the rows: `y = x·scale + shift` (then `+ addend`, `ReLU`), or
//!    `dx` (and the addend's gradient).
//!
//! The maths and its order are [`super::rows`]'s (sums taken in a different order: a float32
//! rounding apart). No CPU backend runs cubecl, so this is checked where cubecl runs: on
//! burn-wgpu over lavapipe (`scripts/cubecl-lavapipe.sh --norm-check`: both passes' outputs against
//! the maths in float64, for row counts that do and do not divide the chunks, up to ResNet's
//! largest batch norm; `--update-check`: training steps against flex).
//!
//! burn-fusion's backends keep the maths: they fuse it into a few kernels already.

use burn::tensor::TensorMetadata;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement};

use super::super::cube_sum::sum_pairs;

mod backward;
mod forward;

pub use backward::backward;
pub use forward::forward;

/// Rows each unit of the partial sums adds (at most): enough work per unit, and a few thousand
/// partial sums per channel at most for ResNet's largest batch norm (batch 128, 32x32: 131,072
/// rows, 4,096 chunks).
const ROWS_PER_UNIT: usize = 32;
/// Pass 2's first half, in the cube of channel `CUBE_POS_X`: the channel's two sums over its
/// `chunks` partial sums, returned to every unit.
#[cube]
pub(super) fn channel_sums<F: Float + CubeElement>(
    s1: &Array<F>,
    s2: &Array<F>,
    c: usize,
    chunks: usize,
    #[comptime] units: usize,
) -> (F, F) {
    let j = CUBE_POS_X as usize;
    let u = UNIT_POS_X as usize;
    let mut a = F::new(0.0);
    let mut b = F::new(0.0);
    let mut p = u;
    while p < chunks {
        a += s1[p * c + j];
        b += s2[p * c + j];
        p += units;
    }
    sum_pairs::<F>(a, b, units)
}

/// Whether the kernels apply: the backend's float type, rows `[n, c]` and `[1, c]` factors.
/// Otherwise the caller runs the maths.
pub fn applies<R: CubeRuntime, F: FloatElement>(
    rows: &CubeTensor<R>,
    others: &[&CubeTensor<R>],
    factors: &[&CubeTensor<R>],
) -> bool {
    let shape = rows.shape();
    let float = |t: &CubeTensor<R>| t.dtype == F::dtype();
    shape.num_dims() == 2
        && float(rows)
        && others.iter().all(|t| float(t) && t.shape() == shape)
        && factors.iter().all(|t| {
            let s = t.shape();
            float(t) && s.num_dims() == 2 && s[0] == 1 && s[1] == shape[1]
        })
}
