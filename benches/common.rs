//! One training step of the plain + residual pair, exactly as the trainer runs it, shared by the
//! criterion bench and the throughput harness.

use burn::prelude::*;
use resdash::backend::TrainBackend;
use resdash::config::Shortcut;
use resdash::data::Batch;
use resdash::model::{Layout, ResNetConfig};
use resdash::train::eval::batch_tensors;
use resdash::train::nets::{NetState, forward_backward_all, read_back};

/// Which nets take part in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each bench binary uses a subset
pub enum Nets {
    /// Both nets, one thread each, as the trainer runs them.
    Pair,
    /// Both nets, one after the other on the calling thread.
    PairSerial,
    ResidualOnly,
    PlainOnly,
}

#[allow(dead_code)] // each bench binary uses a subset
impl Nets {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "pair" => Ok(Nets::Pair),
            "pair-serial" => Ok(Nets::PairSerial),
            "residual" => Ok(Nets::ResidualOnly),
            "plain" => Ok(Nets::PlainOnly),
            other => Err(format!(
                "--nets {other}: expected pair, pair-serial, residual or plain"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Nets::Pair => "pair",
            Nets::PairSerial => "pair-serial",
            Nets::ResidualOnly => "residual",
            Nets::PlainOnly => "plain",
        }
    }

    /// `residual` of each net that takes part.
    fn kinds(self) -> &'static [bool] {
        match self {
            Nets::Pair | Nets::PairSerial => &[false, true],
            Nets::ResidualOnly => &[true],
            Nets::PlainOnly => &[false],
        }
    }
}

pub struct Bench<B: TrainBackend> {
    pub nets: Vec<NetState<B>>,
    serial: bool,
    /// The batch on the host, stored channels-first.
    batch: Batch,
    pub images: Tensor<B, 4>,
    pub labels: Tensor<B, 1, Int>,
}

/// `batch` on the device, its images stored in `layout`'s order as the trainer's data thread
/// stores them.
fn upload<B: TrainBackend>(
    batch: &Batch,
    layout: Layout,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let batch = match layout {
        Layout::ChannelsFirst => batch.clone(),
        Layout::ChannelsLast => batch.clone().into_channels_last(),
    };
    batch_tensors::<B>(batch, device)
}

impl<B: TrainBackend> Bench<B> {
    /// A seeded random batch of `shape` = `[channels, height, width]` images, 10 classes
    /// (`[3, 32, 32]` is CIFAR's shape).
    pub fn new(
        depth: usize,
        batch: usize,
        [channels, height, width]: [usize; 3],
        nets: Nets,
        device: &B::Device,
    ) -> Self {
        let config = |residual| ResNetConfig {
            depth,
            width: 1,
            shortcut: Shortcut::A,
            residual,
            in_channels: channels,
            classes: 10,
        };
        let serial = nets == Nets::PairSerial;
        let nets = nets
            .kinds()
            .iter()
            .map(|&r| NetState::new(&config(r), 0, 0.9, 1e-4, device))
            .collect();
        let mut rng = resdash::rng::Rng::new(1);
        let batch = Batch {
            images: (0..batch * channels * height * width)
                .map(|_| rng.normal())
                .collect(),
            labels: (0..batch).map(|_| rng.below(10) as i64).collect(),
            shape: [batch, channels, height, width],
            channels_last: false,
        };
        let (images, labels) = upload::<B>(&batch, Layout::preferred::<B>(), device);
        Self {
            nets,
            serial,
            batch,
            images,
            labels,
        }
    }

    /// The same nets with their activations and convolution weights, and the batch's images,
    /// stored in `layout` (default: the backend's [`Layout::preferred`]).
    #[allow(dead_code)] // each bench binary uses a subset
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        (self.images, self.labels) = upload::<B>(&self.batch, layout, &self.images.device());
        self.nets = self
            .nets
            .into_iter()
            .map(|net| net.with_layout(layout))
            .collect();
        self
    }

    /// Every net's forward and backward on the calling thread (as `pair-serial` does).
    #[allow(dead_code)] // each bench binary uses a subset
    #[must_use]
    pub fn on_one_thread(mut self) -> Self {
        self.serial = true;
        self
    }

    /// Uploads the batch again, as the trainer uploads a new batch every step (the bench keeps
    /// one on the device otherwise).
    #[allow(dead_code)] // each bench binary uses a subset
    pub fn upload_again(&mut self) {
        let device = self.images.device();
        (self.images, self.labels) = upload::<B>(&self.batch, self.layout(), &device);
    }

    #[allow(dead_code)] // each bench binary uses a subset
    pub fn layout(&self) -> Layout {
        self.nets[0].model.layout()
    }

    /// One step: forward + backward of every net (one thread each, unless serial), one read-back
    /// of the losses, SGD update.
    #[allow(dead_code)] // each bench binary uses a subset
    pub fn step(&mut self) -> Vec<f64> {
        self.step_with(true)
    }

    /// [`Self::step`], the SGD update skipped when `update` is false (the gradients are dropped):
    /// an A/B of what the update costs.
    #[allow(dead_code)] // each bench binary uses a subset
    pub fn step_with(&mut self, update: bool) -> Vec<f64> {
        let passes = if self.serial {
            self.nets
                .iter()
                .map(|n| n.forward_backward(self.images.clone(), self.labels.clone(), false))
                .collect()
        } else {
            forward_backward_all(&self.nets, &self.images, &self.labels, false)
        };
        let stats = read_back(passes.iter().flat_map(|p| p.stats.clone()).collect());
        if !update {
            return stats;
        }
        let nets = std::mem::take(&mut self.nets);
        self.nets = nets
            .into_iter()
            .zip(passes)
            .map(|(n, p)| n.apply(0.1, p.grads))
            .collect();
        stats
    }
}
