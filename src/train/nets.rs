//! One trainable net: model plus its SGD state, and the maths of one training step.

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::AdaptorRecord;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::StreamId;

use super::loss::loss_and_correct;
use super::sgd::{MomentumState, Sgd, SgdState};
use super::{grouped_sgd, shape_groups};
use crate::backend::TrainBackend;
use crate::model::{Layout, ModelBackend, Probes, ResNet, ResNetConfig, relayout_weight};

pub type Optim<B> = OptimizerAdaptor<Sgd, ResNet<B>, B>;

/// SGD as in the paper and `PyTorch` (see `train::sgd`).
pub fn sgd<B: TrainBackend>(momentum: f64, weight_decay: f64) -> Optim<B> {
    Sgd {
        momentum,
        weight_decay,
    }
    .init()
}

/// A model and the optimiser state that belongs to it.
pub struct NetState<B: TrainBackend> {
    pub model: ResNet<B>,
    pub optim: Optim<B>,
    /// The stream its device work is issued on, from whichever thread (see [`Self::on_stream`]).
    pub stream: StreamId,
}

/// What a forward/backward pass leaves for the caller, still on the device.
pub struct Pass<B: TrainBackend> {
    pub grads: GradientsParams,
    /// Loss and number of correct predictions `[1]` of the batch, on the inner backend. Kept
    /// apart: the read-back concatenates every net's in one go (a `cat` per net here would be one
    /// more kernel launch per net).
    pub stats: [Tensor<B::InnerBackend, 1>; 2],
    pub probes: Option<(Probes<B>, B::Gradients)>,
}

impl<B: TrainBackend> NetState<B> {
    pub fn new(
        config: &ResNetConfig,
        seed: u64,
        momentum: f64,
        weight_decay: f64,
        device: &B::Device,
    ) -> Self {
        Self {
            model: config.init(seed, device),
            optim: sgd(momentum, weight_decay),
            stream: own_stream(),
        }
    }

    /// Runs `f` with this net's operations issued on the net's own stream, whatever thread runs
    /// it: the forward and backward run on a fresh worker thread each step
    /// ([`forward_backward_all`]), the update and the probe reads on the trainer's thread.
    ///
    /// burn's fusion backends (CUDA) keep one operation stream per thread. Issued from the
    /// thread they happened to run on, each step's gradients lived on the worker's stream and
    /// the parameters on the trainer's, so the update shared every one of them across two
    /// streams. burn-fusion drops shared tensors together, in hash-map order, so the update's
    /// operations came in a different order every step, its cached fusion plans never matched,
    /// and the fusion thread explored the ~400 update operations anew each step. On one stream
    /// the update replays its plans like the forward and backward do. On burn's wgpu backend
    /// over lavapipe (`scripts/cubecl-lavapipe.sh`, tiny tensors, 2 cores; the exploration
    /// was the bound before, lavapipe's execution after): a residual ResNet-20 step
    /// 290 -> 148 ms, the pair 665 -> 345 ms, the trainer's step with the demo config at batch 2
    /// about 900 -> 430 ms.
    /// On the CPU backends streams do not exist and this only calls `f`.
    pub fn on_stream<T>(&self, f: impl FnOnce() -> T) -> T {
        self.stream.executes(f)
    }

    /// Forward and backward on one batch. With `probe`, the probed forward is used and the raw
    /// gradients are kept so the probes can be read.
    pub fn forward_backward(
        &self,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        probe: bool,
    ) -> Pass<B> {
        self.on_stream(|| self.backward(self.forward(images, labels, probe)))
    }

    /// The forward half of [`Self::forward_backward`]: the autodiff graph, up to the loss.
    fn forward(&self, images: Tensor<B, 4>, labels: Tensor<B, 1, Int>, probe: bool) -> Forward<B> {
        let (logits, probes) = if probe {
            let (logits, probes) = self.model.forward_probed(images);
            (logits, Some(probes))
        } else {
            (self.model.forward(images), None)
        };
        let (loss, correct) = loss_and_correct(logits, labels);
        let stats = [loss.clone().inner(), correct.inner()];
        Forward {
            loss,
            stats,
            probes,
        }
    }

    /// The backward half of [`Self::forward_backward`].
    fn backward(&self, forward: Forward<B>) -> Pass<B> {
        let mut raw = forward.loss.backward();
        let grads = GradientsParams::from_module(&mut raw, &self.model);
        Pass {
            grads,
            stats: forward.stats,
            probes: forward.probes.map(|p| (p, raw)),
        }
    }

    /// Applies one optimiser step. Takes `self` so the update owns the parameters and their
    /// momentum buffers, and a backend can write into what nothing else holds. The parameters
    /// are updated shape by shape: a fusing backend fuses each shape's updates together (burn's
    /// adaptor, one shape's gradients at a time: see `shape_groups`), and a backend with an
    /// update kernel of its own takes each shape's parameters in one call (see `grouped_sgd`).
    #[must_use]
    pub fn apply(mut self, lr: f64, grads: GradientsParams) -> Self {
        // `on_stream` borrows `self`, which the update consumes.
        let stream = self.stream;
        stream.executes(|| {
            if <B::InnerBackend as ModelBackend>::OWN_SGD_GROUPS {
                return self.apply_grouped(lr, grads);
            }
            for group in shape_groups::by_shape::<B, _>(&self.model, grads) {
                self.model = self.optim.step(lr, self.model, group);
            }
            self
        })
    }

    /// [`Self::apply`] through `grouped_sgd`, with the adaptor's records. The adaptor is dropped
    /// while they are out, so the momentum buffers are the records' alone and can be written in
    /// place.
    pub(super) fn apply_grouped(self, lr: f64, grads: GradientsParams) -> Self {
        let sgd = *self.optim.optim();
        let mut records = self.optim.to_record();
        drop(self.optim);
        let model = grouped_sgd::step(sgd, lr, self.model, grads, &mut records);
        Self {
            model,
            optim: sgd.init().load_record(records),
            stream: self.stream,
        }
    }

    /// Rebuilds the optimiser with new momentum / weight decay, keeping the momentum buffers.
    pub fn reconfigure(&mut self, momentum: f64, weight_decay: f64) {
        let record = self.optim.to_record();
        self.optim = sgd(momentum, weight_decay).load_record(record);
    }

    /// The same net with activations, convolution weights and their momentum buffers stored in
    /// `layout` (see `model::Layout`). Checkpoints are written and read channels-first, so a
    /// checkpoint moves between backends.
    #[must_use]
    pub fn with_layout(self, layout: Layout) -> Self {
        let from = self.model.layout();
        if from == layout {
            return self;
        }
        let mut record = self.optim.to_record();
        for id in self.model.conv_weight_ids() {
            if let Some(state) = record.remove(&id) {
                record.insert(id, relayout_momentum::<B>(state, from, layout));
            }
        }
        Self {
            model: self.model.with_layout(layout),
            optim: self.optim.load_record(record),
            stream: self.stream,
        }
    }

    pub fn eval_model(&self) -> ResNet<B::InnerBackend> {
        self.model.valid()
    }

    /// Whether every weight and running statistic is finite, and small enough that its square
    /// is too (below ~1.8e19 in `f32`): batch norm squares what such a weight produces, so a
    /// net past that faults on every batch whatever the learning rate. One sum of squares per
    /// tensor, read back in one transfer; checked when a loss turns non-finite, not every step.
    pub fn weights_finite(&self) -> bool {
        struct SquareSums<B: Backend>(Vec<Tensor<B, 1>>);
        impl<B: Backend> ModuleVisitor<B> for SquareSums<B> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                self.0.push(param.val().square().sum());
            }
        }
        self.on_stream(|| {
            let mut sums = SquareSums(Vec::new());
            self.eval_model().visit(&mut sums);
            read_back(sums.0).iter().all(|v| v.is_finite())
        })
    }
}

pub(crate) type SgdRecord<B> = AdaptorRecord<Sgd, B>;
/// The optimiser's state: one [`SgdRecord`] per parameter id.
pub(crate) type OptimRecord<B> = <Optim<B> as Optimizer<ResNet<B>, B>>::Record;

/// A convolution weight's SGD state with its momentum buffer moved from `from`'s order to `to`'s.
fn relayout_momentum<B: TrainBackend>(
    record: SgdRecord<B>,
    from: Layout,
    to: Layout,
) -> SgdRecord<B> {
    let mut state: SgdState<B::InnerBackend, 4> = record.into_state();
    state.momentum = state.momentum.map(|m| MomentumState {
        velocity: relayout_weight(m.velocity, from, to),
    });
    AdaptorRecord::from_state(state)
}

/// A stream no thread issues on: the one a new thread gets (burn numbers streams as threads
/// first issue work, and never reuses a number). Falls back to the calling thread's stream.
fn own_stream() -> StreamId {
    std::thread::spawn(StreamId::current)
        .join()
        .unwrap_or_else(|_| StreamId::current())
}

/// A forward pass waiting for its backward.
struct Forward<B: TrainBackend> {
    loss: Tensor<B, 1>,
    stats: [Tensor<B::InnerBackend, 1>; 2],
    probes: Option<Probes<B>>,
}

/// Forward and backward of every net on the same batch. The nets are independent until their
/// optimiser steps, so each runs on its own thread (two cores: both busy).
///
/// Every forward ends before any backward starts. burn-autodiff 0.21 keeps one graph registry per
/// process, and the clean-up at the end of a backward pass can free a graph step that another
/// thread's forward is still building: that net's parameter then silently gets no gradient
/// (tracel-ai/burn#5573, fixed after 0.21; it lost gradients in this crate's tests, which run in
/// parallel threads). Graphs are built only in the forward, so after the barrier nothing is
/// building while a backward cleans up.
pub fn forward_backward_all<B: TrainBackend>(
    nets: &[NetState<B>],
    images: &Tensor<B, 4>,
    labels: &Tensor<B, 1, Int>,
    probe: bool,
) -> Vec<Pass<B>> {
    let forwards_done = std::sync::Barrier::new(nets.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = nets
            .iter()
            .map(|net| {
                let (images, labels) = (images.clone(), labels.clone());
                let forwards_done = &forwards_done;
                scope.spawn(move || {
                    net.on_stream(|| {
                        // A forward that panics still reaches the barrier, or the others would
                        // wait for it for ever.
                        let forward =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                net.forward(images, labels, probe)
                            }));
                        forwards_done.wait();
                        let forward =
                            forward.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        net.backward(forward)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Concatenates scalars on the device and reads them back in one transfer (one sync).
pub fn read_back<B: Backend>(parts: Vec<Tensor<B, 1>>) -> Vec<f64> {
    Tensor::cat(parts, 0)
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests;
