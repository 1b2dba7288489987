//! Proofs that the probes measure what DESIGN §4 says, on a tiny net in f64 (burn-ndarray):
//! the shortcut and branch parts add up to the total input gradient, the total matches central
//! finite differences, a zeroed branch carries nothing, option A's shortcut gradient lives only
//! on the subsampled positions, and probes change nothing.

use burn::module::{Module, Param};
use burn::prelude::*;

use super::{ProbePoint, Probes};
use crate::config::Shortcut;
use crate::model::{ResNet, ResNetConfig};
use crate::rng::Rng;
use crate::train::loss::loss_and_correct;
use crate::train::nets::{NetState, read_back};

type B = burn::backend::Autodiff<burn::backend::NdArray<f64>>;
type Grads = <B as burn::tensor::backend::AutodiffBackend>::Gradients;

const BATCH: usize = 4;
const SIDE: usize = 8;

fn config(residual: bool, shortcut: Shortcut) -> ResNetConfig {
    ResNetConfig {
        depth: 8,
        width: 1,
        shortcut,
        residual,
        in_channels: 1,
        classes: 10,
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // a device is passed by reference everywhere in burn
fn batch(device: &burn::tensor::Device<B>) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let mut rng = Rng::new(11);
    let x: Vec<f64> = (0..BATCH * SIDE * SIDE)
        .map(|_| f64::from(rng.normal()))
        .collect();
    let y: Vec<i64> = (0..BATCH).map(|_| rng.below(10) as i64).collect();
    (
        Tensor::from_data(TensorData::new(x, [BATCH, 1, SIDE, SIDE]), device),
        Tensor::from_data(TensorData::new(y, [BATCH]), device),
    )
}

fn model(residual: bool, shortcut: Shortcut) -> ResNet<B> {
    config(residual, shortcut).init(5, &Default::default())
}

fn probed(model: &ResNet<B>) -> (f64, Probes<B>, Grads) {
    let device = Default::default();
    let (x, y) = batch(&device);
    // With an input probe too, so the total is measured independently of its two parts.
    let mut source = |_, _, dims: [usize; 4], device: &burn::tensor::Device<B>| {
        Some(Tensor::<B, 4>::zeros(dims, device).require_grad())
    };
    let (logits, probes) = model.forward_probed_with(x, &mut source);
    let (loss, _) = loss_and_correct(logits, y);
    let value = loss.clone().into_scalar();
    (value, probes, loss.backward())
}

fn values<const D: usize>(t: Option<Tensor<burn::backend::NdArray<f64>, D>>) -> Vec<f64> {
    t.expect("probe has a gradient")
        .into_data()
        .to_vec()
        .expect("f64 data")
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Loss with `h` added at one element of the input probe of `block`.
fn perturbed_loss(model: &ResNet<B>, block: usize, element: usize, h: f64) -> f64 {
    let device = Default::default();
    let (x, y) = batch(&device);
    let mut source =
        |b: usize, point: ProbePoint, dims: [usize; 4], device: &burn::tensor::Device<B>| {
            let mut data = vec![0.0; dims.iter().product()];
            if b == block && point == ProbePoint::Input {
                data[element] = h;
            }
            Some(Tensor::from_data(TensorData::new(data, dims), device))
        };
    let (logits, _) = model.forward_probed_with(x, &mut source);
    loss_and_correct(logits, y).0.into_scalar()
}

#[test]
fn shortcut_plus_branch_is_the_total_and_the_total_matches_finite_differences() {
    let m = model(true, Shortcut::A);
    let (_, probes, grads) = probed(&m);
    for (b, p) in probes.blocks.iter().enumerate() {
        let total = values(p.input.as_ref().expect("input probe").grad(&grads));
        let branch = values(p.branch.grad(&grads));
        let shortcut = values(p.shortcut.as_ref().expect("residual net").grad(&grads));
        let sum: Vec<f64> = branch.iter().zip(&shortcut).map(|(a, b)| a + b).collect();
        assert!(max_abs_diff(&sum, &total) < 1e-12, "block {b}");
        assert!(
            total.iter().any(|v| v.abs() > 1e-6),
            "block {b} has a real gradient"
        );

        let h = 1e-5;
        for element in [0, total.len() / 3, total.len() - 1] {
            let fd = (perturbed_loss(&m, b, element, h) - perturbed_loss(&m, b, element, -h))
                / (2.0 * h);
            let scale = total[element].abs().max(1e-8);
            assert!(
                (fd - total[element]).abs() / scale < 1e-5 || (fd - total[element]).abs() < 1e-10,
                "block {b} element {element}: fd {fd} vs autodiff {}",
                total[element]
            );
        }
    }
}

#[test]
fn a_zeroed_branch_carries_nothing_and_the_shortcut_carries_dl_ds() {
    let mut m = model(true, Shortcut::A);
    let device = Default::default();
    // Block 0 is an identity block (16 -> 16 channels, stride 1).
    m.blocks_mut()[0].bn2.gamma = Param::from_tensor(Tensor::zeros([16], &device));
    let (_, probes, grads) = probed(&m);
    let p = &probes.blocks[0];
    let branch = values(p.branch.grad(&grads));
    let shortcut = values(p.shortcut.as_ref().expect("residual net").grad(&grads));
    let sum = values(p.sum.grad(&grads));
    assert!(
        branch.iter().all(|v| v.abs() < 1e-14),
        "branch part must vanish"
    );
    assert!(max_abs_diff(&shortcut, &sum) < 1e-14);
    assert!(sum.iter().any(|v| v.abs() > 1e-6));
}

#[test]
fn the_plain_net_has_no_shortcut_part() {
    let m = model(false, Shortcut::A);
    let (_, probes, grads) = probed(&m);
    for p in &probes.blocks {
        assert!(p.shortcut.is_none());
        assert_eq!(
            values(p.branch.grad(&grads)),
            values(p.input.as_ref().expect("input probe").grad(&grads))
        );
    }
}

#[test]
fn option_a_shortcut_gradient_lives_on_subsampled_positions_of_the_unpadded_channels() {
    let m = model(true, Shortcut::A);
    let (_, probes, grads) = probed(&m);
    // Block 1 opens stage 2: stride 2, 16 -> 32 channels; its shortcut keeps even rows and
    // columns and appends 16 zero channels, whose gradient goes nowhere.
    let p = &probes.blocks[1];
    let shortcut = values(p.shortcut.as_ref().expect("residual net").grad(&grads));
    let sum = values(p.sum.grad(&grads));
    let (c_in, c_out, h, w) = (16, 32, SIDE, SIDE);
    for n in 0..BATCH {
        for c in 0..c_in {
            for y in 0..h {
                for x in 0..w {
                    let g = shortcut[((n * c_in + c) * h + y) * w + x];
                    if y % 2 == 0 && x % 2 == 0 {
                        let s = sum[((n * c_out + c) * (h / 2) + y / 2) * (w / 2) + x / 2];
                        assert!((g - s).abs() < 1e-14, "({n},{c},{y},{x}): {g} vs dL/ds {s}");
                    } else {
                        assert_eq!(g, 0.0, "({n},{c},{y},{x}) is not subsampled");
                    }
                }
            }
        }
    }
}

/// Every float parameter (and running statistic) of a module, flattened.
struct AllValues(Vec<f64>);

impl burn::module::ModuleVisitor<B> for AllValues {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0
            .extend(param.val().into_data().to_vec::<f64>().expect("f64 data"));
    }
}

#[test]
fn probes_change_neither_the_loss_nor_the_update() {
    let device = Default::default();
    let (x, y) = batch(&device);
    for shortcut in [Shortcut::A, Shortcut::B] {
        let plain = NetState::<B>::new(&config(true, shortcut), 3, 0.9, 1e-4, &device);
        let probed = NetState::<B>::new(&config(true, shortcut), 3, 0.9, 1e-4, &device);
        let a = plain.forward_backward(x.clone(), y.clone(), false);
        let b = probed.forward_backward(x.clone(), y.clone(), true);
        assert!(b.probes.is_some() && a.probes.is_none());
        let (sa, sb) = (read_back(a.stats.to_vec()), read_back(b.stats.to_vec()));
        assert!(max_abs_diff(&sa, &sb) < 1e-12, "{sa:?} vs {sb:?}");
        let (plain, probed) = (plain.apply(0.1, a.grads), probed.apply(0.1, b.grads));
        let after = |n: &NetState<B>| {
            let mut all = AllValues(Vec::new());
            n.model.visit(&mut all);
            all.0
        };
        let (wa, wb) = (after(&plain), after(&probed));
        assert!(wa.len() > 1000);
        assert!(max_abs_diff(&wa, &wb) < 1e-12);
    }
}
