//! criterion: one train step of both nets (plain + residual, same batch, as the trainer runs
//! it), batch 128, CIFAR-shaped input, at depth 20 and 56, for each CPU backend compiled in.
//!
//! `cargo bench --bench train_step` (all), `cargo bench --bench train_step -- flex` (one
//! backend). ndarray is very slow (naive convolution backward): expect minutes per sample.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Bench, Nets};
use criterion::{Criterion, criterion_group, criterion_main};
use resdash::backend::TrainBackend;

const BATCH: usize = 128;

fn bench_backend<B: TrainBackend>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("train_step/{name}"));
    group.sample_size(10);
    for depth in [20, 56] {
        let device = B::Device::default();
        let mut bench = Bench::<B>::new(depth, BATCH, [3, 32, 32], Nets::Pair, &device);
        bench.step(); // warm-up
        group.throughput(criterion::Throughput::Elements(BATCH as u64));
        group.bench_function(format!("resnet{depth}_pair_b{BATCH}"), |b| {
            b.iter(|| bench.step());
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    #[cfg(feature = "flex")]
    bench_backend::<resdash::backend::FlexAd>(c, "flex");
    #[cfg(feature = "ndarray")]
    bench_backend::<resdash::backend::NdArrayAd>(c, "ndarray");
}

criterion_group!(train_step, benches);
criterion_main!(train_step);
