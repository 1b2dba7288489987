//! Probes: zero tensors marked `require_grad()` added at interior points of the graph on probe
//! steps. burn keeps gradients only for leaves; a probe is a leaf whose gradient is exactly the
//! gradient at the point where it is added, and adding zero leaves the forward value unchanged.

use burn::prelude::*;

use super::{ModelBackend, ResNet, global_average_pool};

/// The probes of one block, plus its output (for the activation norm).
#[derive(Debug, Clone)]
pub struct BlockProbes<B: Backend> {
    /// At `x_b`: its gradient is the total `dL/dx_b`. Only where a [`ProbeSource`] asks for it
    /// (the proofs): in training the total is computed as branch part + shortcut part, which
    /// saves a full activation-sized tensor per block.
    pub input: Option<Tensor<B, 4>>,
    /// At the input of the residual branch `F_b`: the branch part of `dL/dx_b`.
    pub branch: Tensor<B, 4>,
    /// At the input of the shortcut `S_b` (residual net only): the shortcut part of `dL/dx_b`.
    pub shortcut: Option<Tensor<B, 4>>,
    /// At `s_b` = `F_b(x_b)` + `S_b(x_b)`, before the final `ReLU`: `dL/ds_b`.
    pub sum: Tensor<B, 4>,
}

/// Everything a probed forward pass exposes.
#[derive(Debug, Clone)]
pub struct Probes<B: Backend> {
    /// At the input images: the gradient reaching the stem.
    pub image: Tensor<B, 4>,
    pub blocks: Vec<BlockProbes<B>>,
    /// Block outputs `y_b` (forward values, not probes).
    pub outputs: Vec<Tensor<B, 4>>,
    /// At the pooled features entering the classifier.
    pub features: Tensor<B, 2>,
}

fn probe<B: Backend, const D: usize>(dims: [usize; D], device: &B::Device) -> Tensor<B, D> {
    Tensor::zeros(dims, device).require_grad()
}

/// Where a block probe sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbePoint {
    Input,
    Branch,
    Shortcut,
    Sum,
}

/// Makes the probe tensor for (block, point, shape), or `None` for no probe there. Training
/// uses zero leaves marked `require_grad()` and no input probe; tests add an input probe and put
/// a small offset into one of them for finite differences.
pub type ProbeSource<'a, B> =
    dyn FnMut(usize, ProbePoint, [usize; 4], &burn::tensor::Device<B>) -> Option<Tensor<B, 4>> + 'a;

/// The branch, shortcut and sum probes always exist (the reports need them).
fn zero_if_none<B: Backend>(
    t: Option<Tensor<B, 4>>,
    dims: [usize; 4],
    device: &B::Device,
) -> Tensor<B, 4> {
    t.unwrap_or_else(|| probe(dims, device))
}

impl<B: ModelBackend> ResNet<B> {
    /// Forward pass with probes at every block; same logits as [`ResNet::forward`].
    pub fn forward_probed(&self, x: Tensor<B, 4>) -> (Tensor<B, 2>, Probes<B>) {
        self.forward_probed_with(x, &mut |_, point, dims, device| {
            (point != ProbePoint::Input).then(|| probe(dims, device))
        })
    }

    /// [`ResNet::forward_probed`] with the block probes made by `source`.
    pub fn forward_probed_with(
        &self,
        x: Tensor<B, 4>,
        source: &mut ProbeSource<'_, B>,
    ) -> (Tensor<B, 2>, Probes<B>) {
        let device = x.device();
        let image = probe(x.dims(), &device);
        let x = x + image.clone();
        let mut x = self.stem(x); // [b, 16w, h, w]
        let mut blocks = Vec::with_capacity(self.blocks.len());
        let mut outputs = Vec::with_capacity(self.blocks.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let [b, _, h, w] = x.dims();
            let s = block.stride();
            let sum_dims = [b, block.out_channels(), h / s, w / s];
            let p = BlockProbes {
                input: source(i, ProbePoint::Input, x.dims(), &device),
                branch: zero_if_none(
                    source(i, ProbePoint::Branch, x.dims(), &device),
                    x.dims(),
                    &device,
                ),
                shortcut: block.is_residual().then(|| {
                    zero_if_none(
                        source(i, ProbePoint::Shortcut, x.dims(), &device),
                        x.dims(),
                        &device,
                    )
                }),
                sum: zero_if_none(
                    source(i, ProbePoint::Sum, sum_dims, &device),
                    sum_dims,
                    &device,
                ),
            };
            x = block.forward(x, Some(&p));
            outputs.push(x.clone());
            blocks.push(p);
        }
        let pooled = global_average_pool(x, self.layout()); // [b, 64w]
        let features = probe(pooled.dims(), &device);
        let logits = self.fc.forward(pooled + features.clone());
        (
            logits,
            Probes {
                image,
                blocks,
                outputs,
                features,
            },
        )
    }
}

#[cfg(all(test, feature = "ndarray"))]
mod tests;
