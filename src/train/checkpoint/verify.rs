//! Checks a loaded checkpoint against the net `state.json` describes. burn loads a tensor of
//! any shape into a parameter, and an optimiser state for any parameter id, without a word: the
//! mismatch would surface steps later as a panic inside a convolution, or as momentum silently
//! dropped. Here it is an error naming the file.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

use crate::backend::TrainBackend;
use crate::model::ResNet;
use crate::train::nets::{OptimRecord, SgdRecord};
use crate::train::sgd::SgdState;

/// Every float parameter's id and shape, in visiting order.
fn params<B: Backend>(model: &ResNet<B>) -> Vec<(ParamId, Vec<usize>)> {
    struct Shapes(Vec<(ParamId, Vec<usize>)>);
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push((param.id, param.shape().as_slice().to_vec()));
        }
    }
    let mut shapes = Shapes(Vec::new());
    model.visit(&mut shapes);
    shapes.0
}

/// `loaded` has the parameters of `skeleton` (the net built from `state.json`), shape for shape.
pub fn same_shapes<B: Backend>(skeleton: &ResNet<B>, loaded: &ResNet<B>) -> Result<(), String> {
    let (want, got) = (params(skeleton), params(loaded));
    if want.len() != got.len() {
        return Err(format!(
            "holds {} parameter tensors, the model in state.json has {}",
            got.len(),
            want.len()
        ));
    }
    match want.iter().zip(&got).position(|((_, w), (_, g))| w != g) {
        Some(i) => Err(format!(
            "parameter tensor {i} has shape {:?}, the model in state.json needs {:?}",
            got[i].1, want[i].1
        )),
        None => Ok(()),
    }
}

/// Every optimiser state in `record` belongs to a parameter of `model`, and its momentum buffer
/// has that parameter's shape.
pub fn states_fit<B: TrainBackend>(
    model: &ResNet<B>,
    record: &OptimRecord<B>,
) -> Result<(), String> {
    let shapes: HashMap<ParamId, Vec<usize>> = params(model).into_iter().collect();
    for (id, state) in record {
        let shape = shapes
            .get(id)
            .ok_or_else(|| {
                format!(
                    "holds momentum for parameter {id}, which this model lacks: is it another run's file?"
                )
            })?;
        let momentum = match shape.len() {
            1 => velocity_shape::<B, 1>(state),
            2 => velocity_shape::<B, 2>(state),
            4 => velocity_shape::<B, 4>(state),
            rank => return Err(format!("parameter {id} has rank {rank}")),
        };
        if let Some(momentum) = momentum
            && &momentum != shape
        {
            return Err(format!(
                "the momentum of parameter {id} has shape {momentum:?}, the parameter {shape:?}"
            ));
        }
    }
    Ok(())
}

/// The momentum buffer's shape. Panics if the state is not of rank `D`; the caller contains
/// panics.
fn velocity_shape<B: TrainBackend, const D: usize>(state: &SgdRecord<B>) -> Option<Vec<usize>> {
    let state: SgdState<B::InnerBackend, D> = state.clone().into_state();
    state
        .momentum
        .map(|m| m.velocity.shape().as_slice().to_vec())
}
