//! The convolution on flex, burn's against resdash's lowered one (`resdash::model::conv_lowered`),
//! forward and backward, for every convolution shape of a ResNet-20 step: the default data
//! (1x8x8, batch 64) and CIFAR's (3x32x32, batch 128). Both run in this one process,
//! alternating, and the medians and their ratio are printed per shape, then per step (each shape
//! weighted by how many convolutions of a ResNet-20 have it).
//!
//! `cargo bench --bench conv_lowered` (`-- --reps N`, default 15). burn's forward spreads its
//! images over rayon's threads; the lowered one runs on the calling thread, as does the lowered
//! backward except where flex's own products use rayon's (its larger ones). In training the
//! trainer's two nets already keep two cores busy; `RAYON_NUM_THREADS=1` measures both on one.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;
use resdash::model::{
    burns_conv_backward,
    conv_lowered::{Geometry, backward, forward},
};

/// One convolution shape of a ResNet-20: input dims, weight dims, stride, how many convolutions
/// have it, whether the input's gradient is wanted (not for the stem's: the images).
type Shape = ([usize; 4], [usize; 4], usize, usize, bool);

/// A ResNet-20's convolutions for inputs `[batch, channels, size, size]`.
fn resnet20(batch: usize, channels: usize, size: usize) -> Vec<Shape> {
    let (s2, s4) = (size / 2, size / 4);
    vec![
        (
            [batch, channels, size, size],
            [16, channels, 3, 3],
            1,
            1,
            false,
        ),
        ([batch, 16, size, size], [16, 16, 3, 3], 1, 6, true),
        ([batch, 16, size, size], [32, 16, 3, 3], 2, 1, true),
        ([batch, 32, s2, s2], [32, 32, 3, 3], 1, 5, true),
        ([batch, 32, s2, s2], [64, 32, 3, 3], 2, 1, true),
        ([batch, 64, s4, s4], [64, 64, 3, 3], 1, 5, true),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .map_or(15, |i| args[i + 1].parse().unwrap());
    let device = Default::default();
    for (name, batch, channels, size) in [("default data", 64, 1, 8), ("CIFAR", 128, 3, 32)] {
        println!("{name}: batch {batch}, {channels}x{size}x{size}");
        let mut step = [0.0; 4];
        for (x_dims, w_dims, stride, count, want_x) in resnet20(batch, channels, size) {
            let options = ConvOptions::new([stride, stride], [1, 1], [1, 1], 1);
            let g = Geometry::of(x_dims, w_dims, &options).unwrap();
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<Flex, 4>::random(x_dims, normal, &device);
            let w = Tensor::<Flex, 4>::random(w_dims, normal, &device);
            let dy = Tensor::<Flex, 4>::random([g.batch, g.c_out, g.oh, g.ow], normal, &device);
            let want = [want_x, true];
            let mut ms = [(); 4].map(|()| Vec::new());
            let mut time = |i: usize, run: &dyn Fn()| {
                let t = Instant::now();
                run();
                ms[i].push(t.elapsed().as_secs_f64() * 1e3);
            };
            for _ in 0..reps {
                time(0, &|| {
                    let y =
                        burn::tensor::module::conv2d(x.clone(), w.clone(), None, options.clone());
                    let _ = y.into_data();
                });
                time(1, &|| {
                    let _ = forward(x.clone(), w.clone(), &g).into_data();
                });
                time(2, &|| {
                    let grads = burns_conv_backward(
                        x.clone(),
                        w.clone(),
                        dy.clone(),
                        options.clone(),
                        want,
                    );
                    let _ = grads.map(|g| g.map(Tensor::into_data));
                });
                time(3, &|| {
                    let grads = backward(x.clone(), w.clone(), dy.clone(), &g, want);
                    let _ = grads.map(|g| g.map(Tensor::into_data));
                });
            }
            let m = ms.map(median);
            for (sum, v) in step.iter_mut().zip(m) {
                *sum += v * count as f64;
            }
            println!(
                "  x {x_dims:?} w {w_dims:?} stride {stride} x{count}: forward burn {:.3} ms, lowered {:.3} ms, {:.2}x; backward burn {:.3} ms, lowered {:.3} ms, {:.2}x",
                m[0],
                m[1],
                m[0] / m[1],
                m[2],
                m[3],
                m[2] / m[3]
            );
        }
        println!(
            "  per ResNet-20 step: forward burn {:.1} ms, lowered {:.1} ms, {:.2}x; backward burn {:.1} ms, lowered {:.1} ms, {:.2}x; both {:.2}x",
            step[0],
            step[1],
            step[0] / step[1],
            step[2],
            step[3],
            step[2] / step[3],
            (step[0] + step[2]) / (step[1] + step[3])
        );
    }
}
