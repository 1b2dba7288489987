//! Batch norm's training forward as three kernels (see [`super`]): shifted sums, statistics,
//! normalisation with the tail (the residual add, the `ReLU`).

use burn::tensor::{Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement};

use super::super::super::cube_sum::units_for;
use super::super::super::launch::elementwise;
use super::super::{EPSILON, MOMENTUM, unbiased};
use super::{ROWS_PER_UNIT, channel_sums};

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

/// Forward pass 3: `y = x·scale[j] + shift[j]`, then the tail: `+ addend[i]` if `add`, the `ReLU`
/// if `relu` (`addend` is a placeholder without `add`).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn normalize<F: Float + CubeElement>(
    rows: &Array<F>,
    scale: &Array<F>,
    shift: &Array<F>,
    addend: &Array<F>,
    y: &mut Array<F>,
    c: usize,
    len: usize,
    #[comptime] add: bool,
    #[comptime] relu: bool,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let j = i % c;
        let mut v = rows[i] * scale[j] + shift[j];
        if add {
            v += addend[i];
        }
        if relu {
            v = F::max(v, F::new(0.0));
        }
        y[i] = v;
    }
}

/// The training forward's results (see [`super::super::rows`]'s `RowsForward`).
pub struct Forward<R: CubeRuntime> {
    pub rows: CubeTensor<R>,
    pub running_mean: CubeTensor<R>,
    pub running_var: CubeTensor<R>,
    pub mean: CubeTensor<R>,
    pub inv_std: CubeTensor<R>,
}

/// Rows `[n, c]` in, `y` `[n, c]` (with the tail: `relu(BN(x) + addend)`), the new running mean
/// and variance `[c]`, the batch mean and `1/σ` `[1, c]` out (see [`super::super::rows`]'s
/// `forward`): three launches.
pub fn forward<R: CubeRuntime, F: FloatElement>(
    rows: CubeTensor<R>,
    [running_mean, running_var, gamma, beta]: [CubeTensor<R>; 4],
    addend: Option<CubeTensor<R>>,
    relu: bool,
) -> Forward<R> {
    // The kernels index by offset: a strided view is copied first (a contiguous one is kept).
    let rows = into_contiguous(rows);
    let addend = addend.map(into_contiguous);
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
        CubeDim::new_1d(units_for(chunks) as u32),
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
        units_for(chunks),
    );
    let y = alloc(vec![n, c]);
    let add = addend.is_some();
    // Without an addend the kernel never reads it: one element in its place.
    let addend = addend.unwrap_or_else(|| alloc(vec![1]));
    let (cube_count, cube_dim) = elementwise(&client, n * c);
    normalize::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.into_array_arg(),
        scale.into_array_arg(),
        shift.into_array_arg(),
        addend.into_array_arg(),
        y.clone().into_array_arg(),
        c,
        n * c,
        add,
        relu,
    );
    Forward {
        rows: y,
        running_mean: new_mean,
        running_var: new_var,
        mean,
        inv_std,
    }
}
