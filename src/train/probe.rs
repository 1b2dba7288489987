//! Probe steps: turning the probes of a forward pass (see `model::probe`) and the optimiser's
//! update into per-block [`ProbeReport`]s. Every scalar is reduced on the device; the caller
//! reads all of them back in one transfer.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::nets::{NetState, Pass, read_back};
use crate::backend::TrainBackend;
use crate::model::{BasicBlock, Probes, ResNet};
use crate::protocol::{BlockFlow, Net, ProbeReport};

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// Scalars per block in the order [`collect`] emits them.
const PER_BLOCK: usize = 8;

/// The parameters of each block before the update, to measure the update afterwards.
pub struct Snapshot<B: AutodiffBackend> {
    /// Per block: (parameter id, flattened value) of every trainable parameter.
    blocks: Vec<Vec<(ParamId, Tensor<Inner<B>, 1>)>>,
}

/// Device scalars of one net's probe step, waiting for the update ratios and the read-back.
pub struct Pending<B: AutodiffBackend> {
    pub net: Net,
    batch: usize,
    residual: bool,
    /// Two leading scalars (input, classifier), then [`PER_BLOCK`] per block with the update
    /// ratio slots last (filled by [`finish`]).
    scalars: Vec<Tensor<Inner<B>, 1>>,
    stages: Vec<usize>,
    snapshot: Snapshot<B>,
}

fn rms<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    t.square().mean().sqrt()
}

fn grad_rms<B: AutodiffBackend, const D: usize>(
    probe: &Tensor<B, D>,
    grads: &B::Gradients,
) -> Tensor<Inner<B>, 1> {
    match probe.grad(grads) {
        Some(g) => rms(g),
        // A probe the loss does not depend on has no gradient: exactly zero.
        None => Tensor::zeros([1], &probe.device()),
    }
}

/// RMS of the total `dL/dx_b` = branch part + shortcut part (vectors add; magnitudes do not).
fn total_rms<B: AutodiffBackend>(
    p: &crate::model::BlockProbes<B>,
    raw: &B::Gradients,
) -> Tensor<Inner<B>, 1> {
    let branch = p.branch.grad(raw);
    let shortcut = p.shortcut.as_ref().and_then(|s| s.grad(raw));
    match (branch, shortcut) {
        (Some(b), Some(s)) => rms(b + s),
        (Some(g), None) | (None, Some(g)) => rms(g),
        (None, None) => Tensor::zeros([1], &p.branch.device()),
    }
}

/// Sums squares of visited parameters that have a gradient (or, with no gradients, of all
/// trainable parameters listed in `only`).
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<Inner<B>, 1>>,
    params: Vec<(ParamId, Tensor<Inner<B>, 1>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        // Running statistics are visited too, but have no gradient: skipped.
        let Some(grad) = self.grads.get::<Inner<B>, D>(param.id) else {
            return;
        };
        let s = grad.square().sum();
        self.sum = Some(match self.sum.take() {
            Some(acc) => acc + s,
            None => s,
        });
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.params.push((param.id, value.reshape([n])));
    }
}

/// Computes the device scalars of a probe step before the optimiser runs.
pub fn collect<B: AutodiffBackend>(
    net: Net,
    model: &ResNet<B>,
    probes: &Probes<B>,
    raw: &B::Gradients,
    grads: &GradientsParams,
) -> Pending<B> {
    let batch = probes.image.dims()[0];
    let mut scalars = vec![
        grad_rms(&probes.image, raw),
        grad_rms(&probes.features, raw),
    ];
    let mut snapshot = Snapshot { blocks: Vec::new() };
    let mut stages = Vec::new();
    let zero = || Tensor::<Inner<B>, 1>::zeros([1], &probes.image.device());
    for ((block, p), output) in model
        .blocks()
        .iter()
        .zip(&probes.blocks)
        .zip(&probes.outputs)
    {
        let mut norm = SquaredNorm::<B> {
            grads,
            sum: None,
            params: Vec::new(),
        };
        block.visit(&mut norm);
        scalars.push(rms(output.clone().inner()));
        scalars.push(total_rms(p, raw));
        scalars.push(grad_rms(&p.branch, raw));
        scalars.push(p.shortcut.as_ref().map_or_else(zero, |s| grad_rms(s, raw)));
        scalars.push(grad_rms(&p.sum, raw));
        scalars.push(norm.sum.map_or_else(zero, Tensor::sqrt));
        scalars.push(zero()); // update norm, filled in after the step
        scalars.push(zero()); // weight norm, filled in after the step
        snapshot.blocks.push(norm.params);
        stages.push(block.stage());
    }
    Pending {
        net,
        batch,
        residual: model.blocks().first().is_some_and(BasicBlock::is_residual),
        scalars,
        stages,
        snapshot,
    }
}

/// Adds ‖w_new − w_old‖ and ‖w_old‖ per block once the optimiser has stepped.
pub fn finish<B: AutodiffBackend>(pending: &mut Pending<B>, model: &ResNet<B>) {
    let mut current = std::collections::HashMap::new();
    for block in model.blocks() {
        collect_values::<B>(block, &mut current);
    }
    for (b, params) in pending.snapshot.blocks.iter().enumerate() {
        let mut delta: Option<Tensor<Inner<B>, 1>> = None;
        let mut weight: Option<Tensor<Inner<B>, 1>> = None;
        for (id, old) in params {
            let Some(new) = current.get(id) else { continue };
            let d = (new.clone() - old.clone()).square().sum();
            let w = old.clone().square().sum();
            delta = Some(delta.map_or(d.clone(), |acc| acc + d));
            weight = Some(weight.map_or(w.clone(), |acc| acc + w));
        }
        let base = 2 + b * PER_BLOCK;
        if let (Some(d), Some(w)) = (delta, weight) {
            pending.scalars[base + 6] = d.sqrt();
            pending.scalars[base + 7] = w.sqrt();
        }
    }
}

struct Values<'a, B: AutodiffBackend> {
    out: &'a mut std::collections::HashMap<ParamId, Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Values<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.out.insert(param.id, value.reshape([n]));
    }
}

fn collect_values<B: AutodiffBackend>(
    block: &crate::model::BasicBlock<B>,
    out: &mut std::collections::HashMap<ParamId, Tensor<Inner<B>, 1>>,
) {
    block.visit(&mut Values::<B> { out });
}

/// All device scalars of `pending`, in order, for one batched read-back.
pub fn scalars<B: AutodiffBackend>(pending: &Pending<B>) -> Vec<Tensor<Inner<B>, 1>> {
    pending.scalars.clone()
}

/// Builds the report from the values read back (same order as [`scalars`]).
pub fn report<B: AutodiffBackend>(pending: &Pending<B>, step: u64, values: &[f64]) -> ProbeReport {
    let scale = pending.batch as f64;
    let blocks = values[2..]
        .chunks_exact(PER_BLOCK)
        .zip(&pending.stages)
        .enumerate()
        .map(|(block, (v, &stage))| BlockFlow {
            block,
            stage,
            activation_rms: v[0],
            total: v[1] * scale,
            branch: pending.residual.then_some(v[2] * scale),
            shortcut: pending.residual.then_some(v[3] * scale),
            sum: v[4] * scale,
            param_grad_norm: v[5],
            update_ratio: if v[7] > 0.0 { v[6] / v[7] } else { 0.0 },
        })
        .collect();
    ProbeReport {
        step,
        net: pending.net,
        input_grad: values[0] * scale,
        classifier_grad: values[1] * scale,
        blocks,
    }
}

/// Number of scalars a pending report reads back.
pub fn len<B: AutodiffBackend>(pending: &Pending<B>) -> usize {
    pending.scalars.len()
}

/// Before the optimiser steps: takes the probes out of each pass of a probe step (`nets` and
/// `passes` in [`Net::BOTH`] order) and computes their device scalars. Empty on other steps.
pub fn collect_all<B: TrainBackend>(
    nets: &[NetState<B>],
    passes: &mut [Pass<B>],
) -> Vec<Pending<B>> {
    Net::BOTH
        .into_iter()
        .zip(nets)
        .zip(passes)
        .filter_map(|((net, state), pass)| {
            let (probes, raw) = pass.probes.take()?;
            Some(state.on_stream(|| collect(net, &state.model, &probes, &raw, &pass.grads)))
        })
        .collect()
}

/// After the optimiser steps: completes the reports with the applied updates and reads every
/// scalar of this probe step back in one transfer (one sync).
pub fn reports<B: TrainBackend>(
    mut pending: Vec<Pending<B>>,
    nets: &[NetState<B>],
    step: u64,
) -> Vec<ProbeReport> {
    if pending.is_empty() {
        return Vec::new();
    }
    for (p, net) in pending.iter_mut().zip(nets) {
        net.on_stream(|| finish(p, &net.model));
    }
    let values = read_back(pending.iter().flat_map(scalars).collect());
    let mut offset = 0;
    pending
        .iter()
        .map(|p| {
            let n = len(p);
            offset += n;
            report(p, step, &values[offset - n..offset])
        })
        .collect()
}
