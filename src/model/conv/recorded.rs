//! A bias-free convolution as one recorded autodiff operation: the inner backend's
//! [`ModelBackend::convolution`] forward and [`ModelBackend::convolution_backward`] backward (on
//! flex both lowered, `super::lowered`, in place of burn's).

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::ConvOptions;

use super::super::ModelBackend;

/// What the backward keeps from the forward (inner-backend tensors).
#[derive(Debug, Clone)]
struct ConvSaved<B: Backend> {
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    options: ConvOptions<2>,
}

/// The recorded operation: parents the input and the weight.
#[derive(Debug)]
struct Convolution;

impl<B: ModelBackend> Backward<B, 2> for Convolution {
    type State = ConvSaved<B>;

    fn backward(self, ops: Ops<ConvSaved<B>, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = Tensor::from_primitive(TensorPrimitive::Float(grads.consume::<B>(&ops.node)));
        let ConvSaved { x, weight, options } = ops.state;
        let want = [ops.parents[0].is_some(), ops.parents[1].is_some()];
        let computed = B::convolution_backward(x, weight, dy, options, want);
        for (parent, grad) in ops.parents.into_iter().zip(computed) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad.into_primitive().tensor());
            }
        }
    }
}

/// `conv2d(x, weight)` without bias, recorded as one operation: the inner backend's
/// `convolution`, and its `convolution_backward` for the gradients that are tracked.
pub fn recorded<B: ModelBackend, C: CheckpointStrategy>(
    x: Tensor<Autodiff<B, C>, 4>,
    weight: Tensor<Autodiff<B, C>, 4>,
    options: ConvOptions<2>,
) -> Tensor<Autodiff<B, C>, 4> {
    let node = |t: &Tensor<Autodiff<B, C>, 4>| t.clone().into_primitive().tensor().node;
    let nodes = [node(&x), node(&weight)];
    let (x, weight) = (x.inner(), weight.inner());
    let output = B::convolution(x.clone(), weight.clone(), options.clone())
        .into_primitive()
        .tensor();
    let output = match Convolution.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(ConvSaved { x, weight, options }, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// burn's own backward of a bias-free `conv2d(x, weight)` for the output gradient `dy`: the
/// input's gradient where `want[0]`, the weight's where `want[1]`.
pub fn burns_backward<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    dy: Tensor<B, 4>,
    options: ConvOptions<2>,
    want: [bool; 2],
) -> [Option<Tensor<B, 4>>; 2] {
    let [x, weight, dy] = [x, weight, dy].map(|t| t.into_primitive().tensor());
    let dx = want[0]
        .then(|| B::conv2d_x_backward(x.clone(), weight.clone(), dy.clone(), options.clone()));
    let dw = want[1].then(|| B::conv2d_weight_backward(x, weight, dy, options));
    [dx, dw].map(|g| g.map(|g| Tensor::from_primitive(TensorPrimitive::Float(g))))
}
