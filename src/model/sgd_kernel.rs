//! The SGD updates of a parameter shape's parameters as one cubecl kernel, for burn's cubecl
//! backends without burn-fusion (`--fusion off`). Without fusion each of the update's element-wise
//! operations is a kernel launch of its own: seven per parameter per step
//! ([`super::update::sgd_step`]), 413 of a residual ResNet-20 step's 1,454 launches. This kernel
//! reads each parameter, its gradient and its momentum buffer once and writes the parameter and
//! the buffer, for every parameter of one shape at once (the optimiser hands them over together:
//! `train::grouped_sgd`): 59 parameters in 11 shapes, 11 launches on CUDA (its binding limit
//! fits a shape's parameters in one; 14 on lavapipe, whose limit of 31 bindings fits 7).
//! Counted on burn-wgpu over lavapipe (`scripts/cubecl-lavapipe.sh --unfused`): 1,454 -> 1,119
//! launches per step with one kernel per parameter, 407 with batch norm's kernels and the
//! convolution weights' gradients read as views, not copied; one kernel per shape: 362.
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

/// One SGD step of each of several parameters of one shape: unit `i` updates element `i` of each.
/// `v = p·wd + g` on the first step (`first`), `v = (p·wd + g) + v·momentum` after;
/// `p' = p - v·lr`. The values of [`super::update::sgd_step`], in its order of operations (a
/// compiler may still contract a product and a sum into one rounding). The parameters are read
/// from `params` and written to `new_params` (the caller holds the old ones until it swaps them),
/// the momentum buffers in place. Parameters and buffers are contiguous; the gradients are read
/// through their strides if `strided` (element `i` of the shape in row-major order, `rank`
/// dimensions), else by offset.
#[cube(launch)]
#[allow(clippy::too_many_arguments, clippy::trivially_copy_pass_by_ref)]
fn sgd_update_group<F: Float + CubeElement>(
    params: &Sequence<Array<F>>,
    new_params: &mut Sequence<Array<F>>,
    velocities: &mut Sequence<Array<F>>,
    grads: &Sequence<Tensor<F>>,
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
        #[unroll]
        for k in 0..params.len() {
            let grad = grads.index(k);
            let mut offset = i;
            if strided {
                let mut rest = i;
                offset = 0;
                #[unroll]
                for r in 0..rank {
                    let d = rank - r - 1;
                    let size = grad.shape(d);
                    offset += (rest % size) * grad.stride(d);
                    rest /= size;
                }
            }
            let p = params.index(k)[i];
            let g = p * weight_decay + grad[offset];
            let velocity = velocities.index_mut(k);
            let v = if first { g } else { g + velocity[i] * momentum };
            velocity[i] = v;
            let new_param = new_params.index_mut(k);
            new_param[i] = p - v * lr;
        }
    }
}

/// Whether the kernel takes one step: the backend's float type and one shape throughout.
fn applies<R: CubeRuntime, F: FloatElement>(
    param: &CubeTensor<R>,
    grad: &CubeTensor<R>,
    velocity: Option<&CubeTensor<R>>,
) -> bool {
    let fits = |t: &CubeTensor<R>| t.dtype == F::dtype() && t.shape() == param.shape();
    fits(param) && fits(grad) && velocity.is_none_or(fits)
}

/// The most parameters one launch of [`sgd_update_group`] updates: the kernel unrolls one update
/// per parameter, and each count is a kernel of its own to compile.
const MAX_GROUP: usize = 32;

/// How many parameters one launch of [`sgd_update_group`] can take on `client`'s device: each
/// binds four buffers (parameter, new parameter, momentum buffer, gradient) within the device's
/// limit on bindings per kernel (31 on lavapipe, 1,024 on CUDA), one of which cubecl's metadata
/// takes.
fn group_size<R: CubeRuntime>(client: &ComputeClient<R>) -> usize {
    let bindings = client.properties().hardware.max_bindings as usize;
    (bindings.saturating_sub(1) / 4).clamp(1, MAX_GROUP)
}

/// One parameter's SGD step: the parameter, its gradient, its momentum buffer (none before its
/// first step).
pub type Step<R> = (CubeTensor<R>, CubeTensor<R>, Option<CubeTensor<R>>);

/// One parameter's step in [`sgd_group`]: its tensors and momentum buffer, ready for the kernel.
struct Prepared<R: CubeRuntime> {
    param: CubeTensor<R>,
    grad: CubeTensor<R>,
    velocity: CubeTensor<R>,
    /// What the kernel is compiled for: no momentum buffer yet, the gradient a view.
    first: bool,
    strided: bool,
}

/// Whether [`sgd_group`] applies: the kernel takes each step, and one shape throughout. Otherwise
/// the caller runs the default maths.
pub fn applies_group<R: CubeRuntime, F: FloatElement>(steps: &[Step<R>]) -> bool {
    steps.iter().all(|(param, grad, velocity)| {
        param.shape() == steps[0].0.shape() && applies::<R, F>(param, grad, velocity.as_ref())
    })
}

/// The SGD steps of parameters of one shape (where [`applies_group`]): the new parameters and
/// momentum buffers, in order. One launch per run of up to [`group_size`] consecutive steps
/// that agree on `first` and `strided` (in a training step all of a shape's do): a residual
/// ResNet-20's 59 parameters in 11 shapes take 11 launches on CUDA, where one kernel per
/// parameter took 59.
///
/// The new parameters are written to new buffers: the caller's module still holds the old ones
/// (it swaps them after all shapes are done), so writing in place would need a copy first. The
/// momentum buffers are the optimiser's alone and are written in place.
pub fn sgd_group<R: CubeRuntime, F: FloatElement>(
    steps: Vec<Step<R>>,
    rates: SgdRates,
) -> Vec<(CubeTensor<R>, CubeTensor<R>)> {
    let Some(client) = steps.first().map(|(param, ..)| param.client.clone()) else {
        return Vec::new();
    };
    let own = |t: CubeTensor<R>| match into_contiguous(t) {
        t if t.can_mut() => t,
        t => t.copy(),
    };
    let prepared: Vec<Prepared<R>> = steps
        .into_iter()
        .map(|(param, grad, velocity)| {
            let param = into_contiguous(param);
            let first = velocity.is_none();
            let velocity = match velocity {
                Some(velocity) => own(velocity),
                None => {
                    empty_device::<R, F>(param.client.clone(), param.device.clone(), param.shape())
                }
            };
            Prepared {
                strided: !grad.is_contiguous(),
                param,
                grad,
                velocity,
                first,
            }
        })
        .collect();
    let size = group_size(&client);
    let mut updated = Vec::with_capacity(prepared.len());
    let mut rest = prepared.as_slice();
    while let Some(head) = rest.first() {
        let (first, strided) = (head.first, head.strided);
        let n = rest
            .iter()
            .take(size)
            .take_while(|p| (p.first, p.strided) == (first, strided))
            .count();
        let (run, tail) = rest.split_at(n);
        updated.extend(launch_group::<R, F>(&client, run, rates));
        rest = tail;
    }
    updated
}

/// One launch of [`sgd_update_group`] over `run` (one shape, one `first` and `strided`).
fn launch_group<R: CubeRuntime, F: FloatElement>(
    client: &ComputeClient<R>,
    run: &[Prepared<R>],
    rates: SgdRates,
) -> Vec<(CubeTensor<R>, CubeTensor<R>)> {
    let head = &run[0];
    let new_params: Vec<CubeTensor<R>> = run
        .iter()
        .map(|p| empty_device::<R, F>(client.clone(), p.param.device.clone(), p.param.shape()))
        .collect();
    let n = head.param.meta.num_elements();
    let (cube_count, cube_dim) = elementwise(client, n);
    let arrays = |tensors: &mut dyn Iterator<Item = &CubeTensor<R>>| {
        tensors
            .map(|t| t.clone().into_array_arg())
            .collect::<SequenceArg<R, Array<F>>>()
    };
    sgd_update_group::launch::<F, R>(
        client,
        cube_count,
        cube_dim,
        arrays(&mut run.iter().map(|p| &p.param)),
        arrays(&mut new_params.iter()),
        arrays(&mut run.iter().map(|p| &p.velocity)),
        run.iter()
            .map(|p| p.grad.clone().into_tensor_arg())
            .collect::<SequenceArg<R, Tensor<F>>>(),
        F::from_elem(rates.lr),
        F::from_elem(rates.momentum),
        F::from_elem(rates.weight_decay),
        n,
        head.first,
        head.strided,
        head.grad.meta.num_dims(),
    );
    new_params
        .into_iter()
        .zip(run.iter().map(|p| p.velocity.clone()))
        .collect()
}
