//! Batch norm's backward as three kernels (see [`super`]): gradient sums, dγ and dβ, dx. With the
//! tail, `dy` is first masked by the `ReLU` (read from the saved output, in each pass that reads
//! `dy`), and the last pass also writes that masked `dy`: the addend's gradient.

use burn::tensor::{Shape, TensorMetadata};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement};

use super::super::super::cube_sum::units_for;
use super::super::super::launch::elementwise;
use super::{ROWS_PER_UNIT, channel_sums};

/// `dy[i]`, or zero where the `ReLU`'s output `y[i] <= 0` if `relu` (burn's `relu_backward`).
#[cube]
fn masked<F: Float + CubeElement>(
    dy: &Array<F>,
    y: &Array<F>,
    i: usize,
    #[comptime] relu: bool,
) -> F {
    let mut g = dy[i];
    // `relu` is comptime: the outer `if` is settled when the kernel is expanded, the inner one
    // runs.
    #[allow(clippy::collapsible_if)]
    if relu {
        if y[i] <= F::new(0.0) {
            g = F::new(0.0);
        }
    }
    g
}

/// Backward pass 1: `s1[p, j] = Σ dy·x̂`, `s2[p, j] = Σ dy` with `x̂ = (x - mean[j])·inv_std[j]`
/// (`dy` masked by the `ReLU`'s output `y` if `relu`; `y` a placeholder otherwise).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn gradient_sums<F: Float + CubeElement>(
    rows: &Array<F>,
    dy: &Array<F>,
    y: &Array<F>,
    mean: &Array<F>,
    inv_std: &Array<F>,
    s1: &mut Array<F>,
    s2: &mut Array<F>,
    n: usize,
    c: usize,
    chunks: usize,
    #[comptime] relu: bool,
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
            let g = masked::<F>(dy, y, i, relu);
            dot += g * ((rows[i] - m) * s);
            sum += g;
            r += chunks;
        }
        s1[unit] = dot;
        s2[unit] = sum;
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

/// Backward pass 3: `dx = (dy - dβ/n - x̂·dγ/n)·γ·inv_std`, as [`super::super::rows`] writes it
/// (`dy` masked as in pass 1), and the masked `dy` itself into `da` if `write_da` (a placeholder
/// otherwise).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn input_gradient<F: Float + CubeElement>(
    rows: &Array<F>,
    dy: &Array<F>,
    y: &Array<F>,
    mean: &Array<F>,
    inv_std: &Array<F>,
    factors: &Array<F>,
    dx: &mut Array<F>,
    da: &mut Array<F>,
    c: usize,
    len: usize,
    #[comptime] relu: bool,
    #[comptime] write_da: bool,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let j = i % c;
        let g = masked::<F>(dy, y, i, relu);
        let normalized = (rows[i] - mean[j]) * inv_std[j];
        dx[i] = (g - factors[c + j] - normalized * factors[2 * c + j]) * factors[j];
        if write_da {
            da[i] = g;
        }
    }
}

/// The backward's gradients: the rows' `[n, c]`, γ's and β's `[1, c]`, and the addend's `[n, c]`
/// where asked for.
pub struct Grads<R: CubeRuntime> {
    pub rows: CubeTensor<R>,
    pub gamma: CubeTensor<R>,
    pub beta: CubeTensor<R>,
    pub addend: Option<CubeTensor<R>>,
}

/// dx, dγ, dβ (`[n, c]`, `[1, c]`, `[1, c]`) for the output gradient `dy` `[n, c]`, from the
/// forward's rows, batch mean, `1/σ` and γ (see [`super::super::rows`]'s `backward`); through the
/// `ReLU` whose output is `relu_output` where given, and with the addend's gradient if
/// `addend_grad`: three launches.
pub fn backward<R: CubeRuntime, F: FloatElement>(
    dy: CubeTensor<R>,
    rows: CubeTensor<R>,
    [mean, inv_std, gamma]: [CubeTensor<R>; 3],
    relu_output: Option<CubeTensor<R>>,
    addend_grad: bool,
) -> Grads<R> {
    let [dy, rows, mean, inv_std, gamma] = [dy, rows, mean, inv_std, gamma].map(into_contiguous);
    let relu = relu_output.is_some();
    let [n, c] = [rows.shape()[0], rows.shape()[1]];
    let client = rows.client.clone();
    let alloc = |dims: Vec<usize>| {
        empty_device::<R, F>(client.clone(), rows.device.clone(), Shape::from(dims))
    };
    // Placeholders (one element) where the kernels read or write nothing.
    let y = relu_output.map_or_else(|| alloc(vec![1]), into_contiguous);
    let chunks = n.div_ceil(ROWS_PER_UNIT).max(1);
    let [s1, s2] = std::array::from_fn(|_| alloc(vec![chunks, c]));
    let (cube_count, cube_dim) = elementwise(&client, chunks * c);
    gradient_sums::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.clone().into_array_arg(),
        dy.clone().into_array_arg(),
        y.clone().into_array_arg(),
        mean.clone().into_array_arg(),
        inv_std.clone().into_array_arg(),
        s1.clone().into_array_arg(),
        s2.clone().into_array_arg(),
        n,
        c,
        chunks,
        relu,
    );
    let [dgamma, dbeta] = std::array::from_fn(|_| alloc(vec![1, c]));
    let factors = alloc(vec![3, c]);
    gradients::launch::<F, R>(
        &client,
        CubeCount::Static(c as u32, 1, 1),
        CubeDim::new_1d(units_for(chunks) as u32),
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
        units_for(chunks),
    );
    let dx = alloc(vec![n, c]);
    let da = alloc(if addend_grad { vec![n, c] } else { vec![1] });
    let (cube_count, cube_dim) = elementwise(&client, n * c);
    input_gradient::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        rows.into_array_arg(),
        dy.into_array_arg(),
        y.into_array_arg(),
        mean.into_array_arg(),
        inv_std.into_array_arg(),
        factors.into_array_arg(),
        dx.clone().into_array_arg(),
        da.clone().into_array_arg(),
        c,
        n * c,
        relu,
        addend_grad,
    );
    Grads {
        rows: dx,
        gamma: dgamma,
        beta: dbeta,
        addend: addend_grad.then_some(da),
    }
}
