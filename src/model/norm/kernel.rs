//! Batch norm's training pass over channels-last rows `[n, c]` as cubecl kernels, for burn's
//! cubecl backends without burn-fusion (`--fusion off`). Without fusion each operation of
//! [`super::rows`]'s maths is a kernel launch of its own: 38 per batch norm per step (forward
//! and backward), 722 of an unfused residual ResNet-20 step's 1,119 launches. Here the forward is
//! three kernels and the backward three (the step: 511 launches, counted on burn-wgpu over
//! lavapipe, `scripts/cubecl-lavapipe.sh --unfused`):
//!
//! 1. partial sums: unit `(p, j)` sums channel `j` over rows `p, p + P, p + 2P, ...` (consecutive
//!    units read consecutive addresses, as channels-last rows lie);
//! 2. finalize: one cube per channel adds its `P` partial sums (a tree in shared memory) and
//!    computes the channel's statistics or gradients and the factors of pass 3;
//! 3. one element-wise pass over the rows: `y = x·scale + shift`, or `dx`.
//!
//! The maths and its order are [`super::rows`]'s (sums taken in a different order: a float32
//! rounding apart). No CPU backend runs cubecl, so this is checked where cubecl runs: on
//! burn-wgpu over lavapipe (`scripts/cubecl-lavapipe.sh --norm-check`: both passes' outputs against
//! the maths in float64, for row counts that do and do not divide the chunks, up to ResNet's
//! largest batch norm; `--update-check`: training steps against flex).
//!
//! burn-fusion's backends keep the maths: they fuse it into a few kernels already.

use burn::tensor::{Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::calculate_cube_count_elemwise;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement};

use super::{EPSILON, MOMENTUM, unbiased};

/// Rows each unit of the partial sums adds (at most): enough work per unit, and a few thousand
/// partial sums per channel at most for ResNet's largest batch norm (batch 128, 32x32: 131,072
/// rows, 4,096 chunks).
const ROWS_PER_UNIT: usize = 32;
/// Units per cube of the finalize pass (one cube per channel): a power of two, one per partial
/// sum up to 256 (a GPU's warp at least). Idle units still cost each of the tree's
/// synchronisations: on lavapipe, 256 units for 8 partial sums per channel (batch 4, 8x8 images)
/// made the two finalize passes a quarter of an unfused step's kernel time.
fn finalize_units(chunks: usize) -> usize {
    chunks.next_power_of_two().clamp(32, 256)
}

/// Forward pass 1: `s1[p, j] = Σ (x - k[j])`, `s2[p, j] = Σ (x - k[j])²` over rows `p + i·chunks`.
#[cube(launch)]
fn shifted_sums<F: Float + CubeElement>(
    rows: &Array<F>,
    shift: &Array<F>,
    s1: &mut Array<F>,
    s2: &mut Array<F>,
    n: usize,
    c: usize,
    chunks: usize,
) {
    let unit = ABSOLUTE_POS;
    if unit < chunks * c {
        let j = unit % c;
        let k = shift[j];
        let mut sum = F::new(0.0);
        let mut squares = F::new(0.0);
        let mut r = unit / c;
        while r < n {
            let a = rows[r * c + j] - k;
            sum += a;
            squares += a * a;
            r += chunks;
        }
        s1[unit] = sum;
        s2[unit] = squares;
    }
}

/// Backward pass 1: `s1[p, j] = Σ dy·x̂`, `s2[p, j] = Σ dy` with `x̂ = (x - mean[j])·inv_std[j]`.
#[cube(launch)]
fn gradient_sums<F: Float + CubeElement>(
    rows: &Array<F>,
    dy: &Array<F>,
    mean: &Array<F>,
    inv_std: &Array<F>,
    s1: &mut Array<F>,
    s2: &mut Array<F>,
    n: usize,
    c: usize,
    chunks: usize,
) {
    let unit = ABSOLUTE_POS;
    if unit < chunks * c {
        let j = unit % c;
        let (m, s) = (mean[j], inv_std[j]);
        let mut dot = F::new(0.0);
        let mut sum = F::new(0.0);
        let mut r = unit / c;
        while r < n {
            let i = r * c + j;
            let g = dy[i];
            dot += g * ((rows[i] - m) * s);
            sum += g;
            r += chunks;
        }
        s1[unit] = dot;
        s2[unit] = sum;
    }
}

/// Pass 2's first half, in the cube of channel `CUBE_POS_X`: the channel's two sums over its
/// `chunks` partial sums, returned to every unit.
#[cube]
fn channel_sums<F: Float + CubeElement>(
    s1: &Array<F>,
    s2: &Array<F>,
    c: usize,
    chunks: usize,
    #[comptime] units: usize,
) -> (F, F) {
    let j = CUBE_POS_X as usize;
    let u = UNIT_POS_X as usize;
    let mut shared1 = SharedMemory::<F>::new(units);
    let mut shared2 = SharedMemory::<F>::new(units);
    let mut a = F::new(0.0);
    let mut b = F::new(0.0);
    let mut p = u;
    while p < chunks {
        a += s1[p * c + j];
        b += s2[p * c + j];
        p += units;
    }
    shared1[u] = a;
    shared2[u] = b;
    sync_cube();
    // A runtime value: a loop cannot change a comptime one (`units`).
    let mut half = CUBE_DIM_X as usize / 2;
    while half > 0 {
        if u < half {
            shared1[u] = shared1[u] + shared1[u + half];
            shared2[u] = shared2[u] + shared2[u + half];
        }
        sync_cube();
        half /= 2;
    }
    (shared1[0], shared2[0])
}

/// Forward pass 2: channel `CUBE_POS_X`'s batch statistics from its shifted sums (`k` the
/// running mean, the shift of pass 1), its running statistics' update, and pass 3's factors.
/// Scalars: the rows `n`, the running statistics' momentum, `n / (n - 1)` (the running variance
/// is unbiased), epsilon.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn statistics<F: Float + CubeElement>(
    s1: &Array<F>,
    s2: &Array<F>,
    k: &Array<F>,
    running_var: &Array<F>,
    gamma: &Array<F>,
    beta: &Array<F>,
    new_mean: &mut Array<F>,
    new_var: &mut Array<F>,
    mean: &mut Array<F>,
    inv_std: &mut Array<F>,
    scale: &mut Array<F>,
    shift: &mut Array<F>,
    n: F,
    momentum: F,
    unbiased: F,
    epsilon: F,
    c: usize,
    chunks: usize,
    #[comptime] units: usize,
) {
    let (sum, squares) = channel_sums::<F>(s1, s2, c, chunks, units);
    if UNIT_POS_X == 0 {
        let j = CUBE_POS_X as usize;
        let keep = F::new(1.0) - momentum;
        let m1 = sum / n;
        let batch_mean = k[j] + m1;
        let m2 = squares / n;
        let var = F::max(m2 - m1 * m1, F::new(0.0));
        let s = F::new(1.0) / F::sqrt(var + epsilon);
        let g = gamma[j] * s;
        new_mean[j] = k[j] * keep + batch_mean * momentum;
        new_var[j] = running_var[j] * keep + var * (momentum * unbiased);
        mean[j] = batch_mean;
        inv_std[j] = s;
        scale[j] = g;
        shift[j] = beta[j] - batch_mean * g;
    }
}

/// Backward pass 2: `dγ`, `dβ` of channel `CUBE_POS_X`, and pass 3's factors `γ·inv_std`,
/// `dβ/n`, `dγ/n`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn gradients<F: Float + CubeElement>(
    s1: &Array<F>,
    s2: &Array<F>,
    inv_std: &Array<F>,
    gamma: &Array<F>,
    dgamma: &mut Array<F>,
    dbeta: &mut Array<F>,
    factors: &mut Array<F>,
    n: F,
    c: usize,
    chunks: usize,
    #[comptime] units: usize,
) {
    let (dot, sum) = channel_sums::<F>(s1, s2, c, chunks, units);
    if UNIT_POS_X == 0 {
        let j = CUBE_POS_X as usize;
        dgamma[j] = dot;
        dbeta[j] = sum;
        // factors: [γ·inv_std, dβ/n, dγ/n] x c.
        factors[j] = gamma[j] * inv_std[j];
        factors[c + j] = sum / n;
        factors[2 * c + j] = dot / n;
    }
}

/// Forward pass 3: `y = x·scale[j] + shift[j]`.
#[cube(launch)]
fn normalize<F: Float + CubeElement>(
    rows: &Array<F>,
    scale: &Array<F>,
    shift: &Array<F>,
    y: &mut Array<F>,
    c: usize,
    len: usize,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let j = i % c;
        y[i] = rows[i] * scale[j] + shift[j];
    }
}

/// Backward pass 3: `dx = (dy - dβ/n - x̂·dγ/n)·γ·inv_std`, as [`super::rows`] writes it.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn input_gradient<F: Float + CubeElement>(
    rows: &Array<F>,
    dy: &Array<F>,
    mean: &Array<F>,
    inv_std: &Array<F>,
    factors: &Array<F>,
    dx: &mut Array<F>,
    c: usize,
    len: usize,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let j = i % c;
        let normalized = (rows[i] - mean[j]) * inv_std[j];
        dx[i] = (dy[i] - factors[c + j] - normalized * factors[2 * c + j]) * factors[j];
    }
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

/// The training forward's results (see [`super::rows`]'s `RowsForward`).
pub struct Forward<R: CubeRuntime> {
    pub rows: CubeTensor<R>,
    pub running_mean: CubeTensor<R>,
    pub running_var: CubeTensor<R>,
    pub mean: CubeTensor<R>,
    pub inv_std: CubeTensor<R>,
}

/// Rows `[n, c]` in, `y` `[n, c]`, the new running mean and variance `[c]`, the batch mean and
/// `1/σ` `[1, c]` out (see [`super::rows`]'s `forward`): three launches.
pub fn forward<R: CubeRuntime, F: FloatElement>(
    rows: CubeTensor<R>,
    [running_mean, running_var, gamma, beta]: [CubeTensor<R>; 4],
) -> Forward<R> {
    // The kernels index by offset: a strided view is copied first (a contiguous one is kept).
    let rows = into_contiguous(rows);
    let [k, running_var, gamma, beta] =
        [running_mean, running_var, gamma, beta].map(into_contiguous);
    let [n, c] = [rows.shape()[0], rows.shape()[1]];
    let client = rows.client.clone();
    let alloc = |dims: Vec<usize>| {
        empty_device::<R, F>(client.clone(), rows.device.clone(), Shape::from(dims))
    };
    let chunks = n.div_ceil(ROWS_PER_UNIT).max(1);
    let [s1, s2] = std::array::from_fn(|_| alloc(vec![chunks, c]));
    let (cube_count, cube_dim) = elementwise(&client, chunks * c);
    shifted_sums::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.clone().into_array_arg(),
        k.clone().into_array_arg(),
        s1.clone().into_array_arg(),
        s2.clone().into_array_arg(),
        n,
        c,
        chunks,
    );
    let [new_mean, new_var, scale, shift] = std::array::from_fn(|_| alloc(vec![c]));
    let [mean, inv_std] = std::array::from_fn(|_| alloc(vec![1, c]));
    statistics::launch::<F, R>(
        &client,
        CubeCount::Static(c as u32, 1, 1),
        CubeDim::new_1d(finalize_units(chunks) as u32),
        s1.into_array_arg(),
        s2.into_array_arg(),
        k.into_array_arg(),
        running_var.into_array_arg(),
        gamma.into_array_arg(),
        beta.into_array_arg(),
        new_mean.clone().into_array_arg(),
        new_var.clone().into_array_arg(),
        mean.clone().into_array_arg(),
        inv_std.clone().into_array_arg(),
        scale.clone().into_array_arg(),
        shift.clone().into_array_arg(),
        F::from_elem(n as f64),
        F::from_elem(MOMENTUM),
        F::from_elem(unbiased(n)),
        F::from_elem(EPSILON),
        c,
        chunks,
        finalize_units(chunks),
    );
    let y = alloc(vec![n, c]);
    let (cube_count, cube_dim) = elementwise(&client, n * c);
    normalize::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.into_array_arg(),
        scale.into_array_arg(),
        shift.into_array_arg(),
        y.clone().into_array_arg(),
        c,
        n * c,
    );
    Forward {
        rows: y,
        running_mean: new_mean,
        running_var: new_var,
        mean,
        inv_std,
    }
}

/// `[dx, dγ, dβ]` (`[n, c]`, `[1, c]`, `[1, c]`) for the output gradient `dy` `[n, c]`, from the
/// forward's rows, batch mean, `1/σ` and γ (see [`super::rows`]'s `backward`): three launches.
pub fn backward<R: CubeRuntime, F: FloatElement>(
    dy: CubeTensor<R>,
    rows: CubeTensor<R>,
    [mean, inv_std, gamma]: [CubeTensor<R>; 3],
) -> [CubeTensor<R>; 3] {
    let [dy, rows, mean, inv_std, gamma] = [dy, rows, mean, inv_std, gamma].map(into_contiguous);
    let [n, c] = [rows.shape()[0], rows.shape()[1]];
    let client = rows.client.clone();
    let alloc = |dims: Vec<usize>| {
        empty_device::<R, F>(client.clone(), rows.device.clone(), Shape::from(dims))
    };
    let chunks = n.div_ceil(ROWS_PER_UNIT).max(1);
    let [s1, s2] = std::array::from_fn(|_| alloc(vec![chunks, c]));
    let (cube_count, cube_dim) = elementwise(&client, chunks * c);
    gradient_sums::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.clone().into_array_arg(),
        dy.clone().into_array_arg(),
        mean.clone().into_array_arg(),
        inv_std.clone().into_array_arg(),
        s1.clone().into_array_arg(),
        s2.clone().into_array_arg(),
        n,
        c,
        chunks,
    );
    let [dgamma, dbeta] = std::array::from_fn(|_| alloc(vec![1, c]));
    let factors = alloc(vec![3, c]);
    gradients::launch::<F, R>(
        &client,
        CubeCount::Static(c as u32, 1, 1),
        CubeDim::new_1d(finalize_units(chunks) as u32),
        s1.into_array_arg(),
        s2.into_array_arg(),
        inv_std.clone().into_array_arg(),
        gamma.into_array_arg(),
        dgamma.clone().into_array_arg(),
        dbeta.clone().into_array_arg(),
        factors.clone().into_array_arg(),
        F::from_elem(n as f64),
        c,
        chunks,
        finalize_units(chunks),
    );
    let dx = alloc(vec![n, c]);
    let (cube_count, cube_dim) = elementwise(&client, n * c);
    input_gradient::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.into_array_arg(),
        dy.into_array_arg(),
        mean.into_array_arg(),
        inv_std.into_array_arg(),
        factors.into_array_arg(),
        dx.clone().into_array_arg(),
        c,
        n * c,
    );
    [dx, dgamma, dbeta]
}

/// One unit per element (or per partial sum) of `len`.
fn elementwise<R: CubeRuntime>(client: &ComputeClient<R>, len: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(client, len);
    (
        calculate_cube_count_elemwise(client, len, cube_dim),
        cube_dim,
    )
}
