//! Writes what an independent implementation needs to replay resdash's first training steps
//! exactly: both nets' initial weights, the batches (normalised pixels and labels, in the
//! sampler's order, no augmentation), the per-step losses, the weights after the last step and
//! an eval-mode score. `benches/torch_resnet.py replay` runs the same steps in PyTorch and
//! prints where the two agree and where they part (see `benches/torch-equivalence.sh`).
//!
//! `cargo run --release --example trace -- [--f64 | --backend B] [--config F] [--set key=value]... --steps 20 --out DIR`
//!
//! Uses the trainer's own pieces (data loading, sampler, `NetState`, `forward_backward_all`,
//! `apply`, the probe step); the trainer adds scheduling and prefetch around them. The first
//! step is a probe step (the probes add zeros: the same maths), and its gradient-flow reports are
//! written too, so two traces from the same seed compare the probe on identical weights. The backend
//! is flex (float32, what users train on) or, with `--f64`, ndarray in float64: float32 runs of
//! two implementations part within a few steps through rounding alone (a ReLU input near zero
//! flips sign), float64 runs of the same maths agree to ~1e-10.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use resdash::backend::{BackendJob, BackendKind, TrainBackend, dispatch, preflight};
use resdash::config::Config;
use resdash::data::{Cursor, Dataset, Sampler};
use resdash::model::{ResNet, ResNetConfig};
use resdash::train::eval::{batch_tensors, evaluate};
use resdash::train::nets::{NetState, forward_backward_all, read_back};
use resdash::train::probe;
use serde_json::{Value, json};

struct Args {
    config: Option<PathBuf>,
    overrides: Vec<String>,
    steps: usize,
    out: PathBuf,
    f64: bool,
    backend: BackendKind,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        overrides: Vec::new(),
        steps: 20,
        out: PathBuf::new(),
        f64: false,
        backend: BackendKind::Flex,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--f64" {
            args.f64 = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--config" => args.config = Some(value.into()),
            "--set" => args.overrides.push(value),
            "--steps" => {
                args.steps = value.parse().map_err(|e| format!("--steps {value}: {e}"))?;
            }
            "--out" => args.out = value.into(),
            "--backend" => args.backend = BackendKind::parse(&value)?,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (--config, --set, --steps, --out, --backend, --f64)"
                ));
            }
        }
    }
    if args.f64 && args.backend != BackendKind::Flex {
        return Err("--f64 runs on ndarray in float64; leave out --backend".into());
    }
    if args.out.as_os_str().is_empty() {
        return Err("--out DIR is required (the directory to write the trace to)".into());
    }
    Ok(args)
}

/// Every float tensor of a module (parameters and running statistics) by its dotted path.
#[derive(Default)]
struct Weights {
    path: Vec<String>,
    found: BTreeMap<String, Value>,
}

impl<Bk: Backend> ModuleVisitor<Bk> for Weights {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values: Vec<f64> = tensor.into_data().convert::<f64>().to_vec().unwrap();
        self.found.insert(
            self.path.join("."),
            json!({ "shape": shape, "data": values }),
        );
    }
}

fn weights<Bk: Backend>(model: &ResNet<Bk>) -> Value {
    let mut visitor = Weights::default();
    model.visit(&mut visitor);
    json!(visitor.found)
}

fn write(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec(value).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("trace: {e}");
        std::process::exit(2);
    });
    let config = Config::load(args.config.as_deref(), &args.overrides).unwrap_or_else(|e| {
        eprintln!("trace: {e}");
        std::process::exit(2);
    });
    let data = resdash::data::load(&config).unwrap_or_else(|e| {
        eprintln!("trace: {e}");
        std::process::exit(2);
    });
    if let Err(e) = preflight(args.backend) {
        eprintln!("trace: {e}");
        std::process::exit(2);
    }
    std::fs::create_dir_all(&args.out).unwrap();
    let job = Trace {
        args: &args,
        config: &config,
        data: &data,
    };
    if args.f64 {
        // ndarray in float64: slow, but rounding no longer hides a difference in the maths.
        type B = burn::backend::Autodiff<burn::backend::NdArray<f64>>;
        job.run::<B>(Default::default(), "ndarray-f64");
    } else {
        dispatch(args.backend, job);
    }
}

struct Trace<'a> {
    args: &'a Args,
    config: &'a Config,
    data: &'a Dataset,
}

impl BackendJob for Trace<'_> {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, backend: &'static str) {
        trace::<B>(self.args, self.config, self.data, &device, backend);
    }
}

fn trace<B: TrainBackend>(
    args: &Args,
    config: &Config,
    data: &Dataset,
    device: &B::Device,
    backend: &str,
) {
    let m = &config.model;
    let o = &config.optim;
    let mut nets: Vec<NetState<B>> = [false, true]
        .map(|residual| ResNetConfig {
            depth: m.depth,
            width: m.width,
            shortcut: m.shortcut,
            residual,
            in_channels: data.shape[0],
            classes: data.classes,
        })
        .iter()
        .map(|c| NetState::new(c, config.run.seed, o.momentum, o.weight_decay, device))
        .collect();
    let init: Vec<Value> = nets.iter().map(|n| weights(&n.model)).collect();
    write(
        &args.out.join("init.json"),
        &json!({ "plain": init[0], "residual": init[1] }),
    );

    let mut sampler = Sampler::new(config.run.seed, data.train.len(), Cursor::default());
    let mut batches = Vec::new();
    let mut losses = Vec::new();
    let mut probes = Vec::new();
    for step in 0..args.steps {
        let draw = sampler.next_batch(config.run.batch_size);
        let batch = data.batch(&data.train, &draw.indices, None);
        batches
            .push(json!({ "shape": batch.shape, "images": batch.images, "labels": batch.labels }));
        let (images, labels) = batch_tensors::<B>(batch, device);
        let mut passes = forward_backward_all(&nets, &images, &labels, step == 0);
        let stats = read_back(passes.iter().flat_map(|p| p.stats.clone()).collect());
        let pending = probe::collect_all(&nets, &mut passes);
        losses.push([stats[0], stats[2]]);
        eprintln!(
            "step {:>3}: loss plain {:.6} residual {:.6}",
            step + 1,
            stats[0],
            stats[2]
        );
        nets = nets
            .into_iter()
            .zip(passes)
            .map(|(net, pass)| net.apply(o.lr, pass.grads))
            .collect();
        probes.extend(probe::reports(pending, &nets, step as u64 + 1));
    }
    let models: Vec<_> = nets.iter().map(NetState::eval_model).collect();
    let eval_limit = data.test.len().min(500);
    let scores = evaluate(&models, data, &data.test, eval_limit, device);
    let test = data.batch(
        &data.test,
        &(0..eval_limit as u32).collect::<Vec<_>>(),
        None,
    );
    write(
        &args.out.join("trace.json"),
        &json!({
            "depth": m.depth,
            "lr": o.lr,
            "momentum": o.momentum,
            "weight_decay": o.weight_decay,
            "shortcut": format!("{:?}", m.shortcut),
            "float": if args.f64 { "f64" } else { "f32" },
            "backend": backend,
            "batches": batches,
            "losses": losses,
            "probe": probes,
            "eval": {
                "images": test.images, "labels": test.labels, "shape": test.shape,
                "loss": [scores[0].loss, scores[1].loss],
                "accuracy": [scores[0].accuracy, scores[1].accuracy],
            },
        }),
    );
    write(
        &args.out.join("final.json"),
        &json!({ "plain": weights(&models[0]), "residual": weights(&models[1]) }),
    );
    eprintln!(
        "trace: wrote init.json, trace.json, final.json to {}",
        args.out.display()
    );
}
