//! Throughput harness for A/B comparisons in one run (see `benches/probe-overhead.sh` for the pattern): times `--steps`
//! train steps after `--warmup` and prints one JSON line per configuration with the median step
//! time, img/s and the warm-up time (the first configuration's includes kernel compilation and
//! autotuning on a GPU backend; later ones reuse those kernels: one process, one warm-up), and
//! the host CPU time per timed step of each thread (`host_cpu_ms`, see `host_cpu.rs`).
//!
//! `cargo bench --bench throughput -- --backend flex --depth 20 --batch 128 --nets pair`
//! `--depth 20,56,110 --nets pair,pair-serial,residual,plain` runs every combination, depth-major
//! (`pair`: both nets, one thread each, as the trainer runs them; `pair-serial`: one thread).
//! (`--batch 128,32` adds a batch-size axis, innermost: a step that takes as long at 32 as at
//! 128 is bound by the per-step work of the host, not by the device's kernels)
//! (`--channels C --size S` for C x S x S inputs; default 3x32x32, CIFAR's shape)
//! (`--layout channels-first,channels-last`: where activations are stored, an A/B in one run;
//! default the backend's own, see `resdash::model::Layout`)
//! (`--fusion off`, cuda only, or `--backend cuda-unfused`: the same step on cubecl without
//! burn-fusion, every operation its own kernel launched from the thread that records it but
//! resdash's own kernels for the SGD update and batch norm (`resdash::model::ModelBackend`),
//! reported as backend `cuda-unfused`: what burn-fusion's host work costs against the launches it
//! saves, see docs/gpu.md)
//! Each line also holds `first_losses`, the first net's loss in its first four steps: runs of the
//! same nets, depth and batch train the same seeded batch, so their updates compare by it.

#![allow(clippy::unwrap_used)]

mod common;
mod host_cpu;

use std::time::Instant;

use common::{Bench, Nets};
use resdash::backend::{BackendJob, BackendKind, TrainBackend, dispatch, preflight, share_cores};
use resdash::model::Layout;

struct Args {
    backend: String,
    depths: Vec<usize>,
    batches: Vec<usize>,
    steps: usize,
    warmup: usize,
    nets: Vec<Nets>,
    channels: usize,
    size: usize,
    /// Empty: the backend's preferred layout.
    layouts: Vec<Layout>,
    /// `--fusion off`: cubecl alone instead of burn's fused backend (cuda only).
    fusion: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        backend: "flex".into(),
        depths: vec![20],
        batches: vec![128],
        steps: 5,
        warmup: 1,
        nets: vec![Nets::Pair],
        channels: 3,
        size: 32,
        layouts: Vec::new(),
        fusion: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // cargo bench passes this
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--backend" => args.backend.clone_from(&value),
            "--depth" => {
                args.depths = list(&value, |d| {
                    d.parse::<usize>().map_err(|e| format!("--depth {d}: {e}"))
                })?;
            }
            "--batch" => {
                args.batches = list(&value, |b| match b.parse::<usize>() {
                    Ok(b) if b > 0 => Ok(b),
                    _ => Err(format!("--batch {b}: expected a positive number")),
                })?;
            }
            "--steps" => args.steps = number()?.max(1),
            "--warmup" => args.warmup = number()?,
            "--channels" => args.channels = number()?,
            "--size" => args.size = number()?,
            "--nets" => args.nets = list(&value, Nets::parse)?,
            "--layout" => args.layouts = list(&value, Layout::parse)?,
            "--fusion" => {
                args.fusion = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--fusion {value}: expected on or off")),
                };
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// A comma-separated list, each item parsed by `item`.
fn list<T>(value: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(|v| item(v.trim())).collect()
}

struct Job(Args);

impl BackendJob for Job {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, backend: &'static str) {
        let a = self.0;
        for &depth in &a.depths {
            for &nets in &a.nets {
                for &batch in &a.batches {
                    let at = Config { depth, nets, batch };
                    // As many threads per net as the trainer gives them (tch only).
                    if let Ok(kind) = BackendKind::parse(backend) {
                        share_cores(kind, if nets == Nets::Pair { 2 } else { 1 });
                    }
                    if a.layouts.is_empty() {
                        measure::<B>(&a, at, None, &device, backend);
                    }
                    for &layout in &a.layouts {
                        measure::<B>(&a, at, Some(layout), &device, backend);
                    }
                }
            }
        }
    }
}

/// One point of the `--depth` x `--nets` x `--batch` grid.
#[derive(Clone, Copy)]
struct Config {
    depth: usize,
    nets: Nets,
    batch: usize,
}

fn measure<B: TrainBackend>(
    a: &Args,
    Config { depth, nets, batch }: Config,
    layout: Option<Layout>,
    device: &B::Device,
    backend: &str,
) {
    let started = Instant::now();
    let mut bench = Bench::<B>::new(depth, batch, [a.channels, a.size, a.size], nets, device);
    if let Some(layout) = layout {
        bench = bench.with_layout(layout);
    }
    // The first net's loss in the first steps (warm-up included), while it is still far from
    // zero: each of steps 2-4 follows an SGD update, the first without momentum, so runs of one
    // seed compare their updates by it (the GPU check does, cubecl alone against burn-fusion).
    // Later, the loss of the one batch the bench repeats falls towards 1e-5, where float32
    // rounding alone moves it by percents.
    let mut early = Vec::new();
    let mut step = |bench: &mut Bench<B>| {
        let stats = bench.step();
        if early.len() < 4 {
            early.push(stats[0]);
        }
    };
    for _ in 0..a.warmup {
        step(&mut bench);
    }
    sync::<B>(device);
    let warm_s = started.elapsed().as_secs_f64();
    let clock = host_cpu::ThreadClock::now();
    let mut times: Vec<f64> = (0..a.steps)
        .map(|_| {
            let t = Instant::now();
            step(&mut bench);
            sync::<B>(device);
            t.elapsed().as_secs_f64()
        })
        .collect();
    let early: Vec<String> = early
        .iter()
        // JSON has no NaN.
        .map(|l| {
            if l.is_finite() {
                format!("{l:.7}")
            } else {
                "null".into()
            }
        })
        .collect();
    let host = host_cpu::json(&clock.per_step_since(a.steps));
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"impl\":\"resdash\",\"backend\":\"{backend}\",\"depth\":{depth},\"batch\":{},\"input\":\"{}x{}x{}\",\"nets\":\"{}\",\"layout\":\"{}\",\"median_step_ms\":{:.2},\"img_per_s\":{:.1},\"warmup_s\":{:.1},\"first_losses\":[{}],\"host_cpu_ms\":{host}}}",
        batch,
        a.channels,
        a.size,
        a.size,
        nets.name(),
        bench.layout().name(),
        median * 1e3,
        batch as f64 / median,
        warm_s,
        early.join(",")
    );
}

/// Waits until the device has run everything queued (the optimiser update included), as the
/// PyTorch side's `torch.cuda.synchronize()` after each step. On cubecl backends this is also
/// where a profiling log (cubecl.toml `[profiling.logger]`) writes its per-kernel summary, so
/// each timed step gets one.
fn sync<B: TrainBackend>(device: &B::Device) {
    if let Err(e) = B::sync(device) {
        eprintln!("throughput: device error: {e:?}");
        std::process::exit(1);
    }
}

fn main() {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(2);
        }
    };
    let kind = match BackendKind::parse(&args.backend) {
        Ok(kind) => kind,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(2);
        }
    };
    // `--fusion off`: cubecl alone, the `cuda-unfused` backend (`--backend cuda-unfused` says the
    // same).
    let kind = match (args.fusion, kind) {
        (true, kind) => kind,
        (false, BackendKind::Cuda | BackendKind::CudaUnfused) => BackendKind::CudaUnfused,
        (false, kind) => {
            eprintln!(
                "throughput: --fusion off needs --backend cuda (burn-fusion is how the cuda backend \
                 runs; {} has none)",
                kind.name()
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = preflight(kind) {
        eprintln!("throughput: {e}");
        std::process::exit(2);
    }
    dispatch(kind, Job(args));
}
