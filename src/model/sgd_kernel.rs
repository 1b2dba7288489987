//! The SGD update of one parameter as one cubecl kernel, for burn's cubecl backends without
//! burn-fusion (`--fusion off`). Without fusion each of the update's element-wise operations is a
//! kernel launch of its own: seven per parameter per step ([`super::update::sgd_step`]), 413 of
//! a residual ResNet-20 step's 1,454 launches. This kernel reads the parameter, its gradient and
//! its momentum buffer once and writes the parameter and the buffer in place: 1,119 launches per
//! step (counted on burn-wgpu over lavapipe, `scripts/cubecl-lavapipe.sh --unfused`; 407 with
//! batch norm's kernels and the gradients of the convolution weights read as views, not copied).
//!
//! burn-fusion's backends keep the default maths: it fuses them into a few kernels already, and a
//! custom operation there would cost its host thread as much as the plans it replaced.
//!
//! No CPU backend runs cubecl, so this is checked where cubecl runs: on burn-wgpu over lavapipe
//! (`scripts/cubecl-lavapipe.sh --update-check`: the unfused step against flex, step by step).

use burn::tensor::TensorMetadata;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeRuntime, FloatElement};

use super::launch::elementwise;
use super::update::SgdRates;

/// `v = p·wd + g` on the first step, `v = (p·wd + g) + v·momentum` after; `p -= v·lr`; in place.
/// The values of [`super::update::sgd_step`], in its order of operations (a compiler may still
/// contract a product and a sum into one rounding). `param` and `velocity` are contiguous; the
/// gradient is read through its strides if `strided` (element `i` of its shape in row-major order,
/// `rank` dimensions), else by offset.
#[cube(launch)]
// cubecl kernels take their tensors by reference (`Tensor` is a zero-sized stand-in in Rust).
#[allow(clippy::too_many_arguments, clippy::trivially_copy_pass_by_ref)]
fn sgd_update<F: Float + CubeElement>(
    param: &mut Array<F>,
    velocity: &mut Array<F>,
    grad: &Tensor<F>,
    lr: F,
    momentum: F,
    weight_decay: F,
    len: usize,
    #[comptime] first: bool,
    #[comptime] strided: bool,
    #[comptime] rank: usize,
) {
    let i = ABSOLUTE_POS;
    if i < len {
        let mut offset = i;
        if strided {
            let mut rest = i;
            offset = 0;
            #[unroll]
            for k in 0..rank {
                let d = rank - k - 1;
                let size = grad.shape(d);
                offset += (rest % size) * grad.stride(d);
                rest /= size;
            }
        }
        let p = param[i];
        let g = p * weight_decay + grad[offset];
        let v = if first { g } else { g + velocity[i] * momentum };
        velocity[i] = v;
        param[i] = p - v * lr;
    }
}

/// Whether [`sgd_step`] applies: the backend's float type and one shape throughout. Otherwise the
/// caller runs the default maths.
pub fn applies<R: CubeRuntime, F: FloatElement>(
    param: &CubeTensor<R>,
    grad: &CubeTensor<R>,
    velocity: Option<&CubeTensor<R>>,
) -> bool {
    let fits = |t: &CubeTensor<R>| t.dtype == F::dtype() && t.shape() == param.shape();
    fits(param) && fits(grad) && velocity.is_none_or(fits)
}

/// One SGD step of one parameter in one launch (where [`applies`]): the new parameter and
/// momentum buffer.
///
/// The kernel pairs the parameter's and the momentum buffer's elements by their offset, so those
/// must be contiguous (a strided one is copied first); the gradient is read through its strides
/// where it is a view (the convolution weights' gradients in the channels-last layout arrive as a
/// permuted view: one launch for those too, where a copy first made two).
pub fn sgd_step<R: CubeRuntime, F: FloatElement>(
    param: CubeTensor<R>,
    grad: CubeTensor<R>,
    velocity: Option<CubeTensor<R>>,
    rates: SgdRates,
) -> (CubeTensor<R>, CubeTensor<R>) {
    // `into_contiguous` returns a contiguous tensor as it is.
    // Written in place: a tensor something else holds is copied first.
    let own = |t: CubeTensor<R>| match into_contiguous(t) {
        t if t.can_mut() => t,
        t => t.copy(),
    };
    let param = own(param);
    let (strided, rank) = (!grad.is_contiguous(), grad.meta.num_dims());
    let first = velocity.is_none();
    let velocity = match velocity {
        Some(velocity) => own(velocity),
        None => empty_device::<R, F>(param.client.clone(), param.device.clone(), param.shape()),
    };
    let n = param.meta.num_elements();
    let client = param.client.clone();
    let (cube_count, cube_dim) = elementwise(&client, n);
    sgd_update::launch::<F, R>(
        &client,
        cube_count,
        cube_dim,
        param.clone().into_array_arg(),
        velocity.clone().into_array_arg(),
        grad.into_tensor_arg(),
        F::from_elem(rates.lr),
        F::from_elem(rates.momentum),
        F::from_elem(rates.weight_decay),
        n,
        first,
        strided,
        rank,
    );
    (param, velocity)
}
