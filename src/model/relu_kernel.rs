//! The `ReLU` after batch norm outside training (evaluation, with the running statistics) as one
//! cubecl kernel, for burn's cubecl backends without burn-fusion: `y = max(x, 0)`, where burn's
//! `ReLU` launches a compare and a mask fill. In training the `ReLU` runs inside batch norm's
//! kernels (`norm::kernel`). Checked on burn-wgpu over lavapipe (`scripts/cubecl-lavapipe.sh
//! --norm-check`, against burn's `ReLU` in float64).

use burn::tensor::TensorMetadata;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement};

use super::launch::elementwise;

/// `y = max(x, 0)`.
#[cube(launch)]
fn relu_forward<F: Float + CubeElement>(x: &Array<F>, y: &mut Array<F>, len: usize) {
    let i = ABSOLUTE_POS;
    if i < len {
        y[i] = F::max(x[i], F::new(0.0));
    }
}

/// Whether the kernel applies: the backend's float type.
pub fn applies<R: CubeRuntime, F: FloatElement>(x: &CubeTensor<R>) -> bool {
    x.dtype == F::dtype()
}

/// `max(x, 0)`: one launch (a strided `x` is copied first: the kernel pairs elements by offset).
pub fn forward<R: CubeRuntime, F: FloatElement>(x: CubeTensor<R>) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let y = empty_device::<R, F>(x.client.clone(), x.device.clone(), x.shape());
    let len = x.meta.num_elements();
    let client = x.client.clone();
    let (cube_count, cube_dim) = elementwise(&client, len);
    relu_forward::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        x.into_array_arg(),
        y.clone().into_array_arg(),
        len,
    );
    y
}
