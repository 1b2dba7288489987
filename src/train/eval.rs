//! Held-out evaluation in eval mode: running `BatchNorm` statistics, inner backend (no autodiff
//! graph), loss and accuracy of both nets reduced on the device and read back in one transfer.

use burn::prelude::*;

use super::loss::scores;
use crate::data::{Batch, Dataset, Split};
use crate::model::{ModelBackend, ResNet};
use crate::protocol::Score;

/// Images per evaluation batch.
const EVAL_BATCH: usize = 500;

pub fn batch_tensors<B: Backend>(
    batch: Batch,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let n = batch.labels.len();
    let images = Tensor::from_data(TensorData::new(batch.images, batch.shape), device);
    let labels = Tensor::from_data(TensorData::new(batch.labels, [n]), device);
    (images, labels)
}

/// Loss and accuracy of each model on the first `limit` examples of `split` (0 = all).
pub fn evaluate<B: ModelBackend>(
    models: &[ResNet<B>],
    data: &Dataset,
    split: &Split,
    limit: usize,
    device: &B::Device,
) -> Vec<Score> {
    let len = if limit == 0 {
        split.len()
    } else {
        limit.min(split.len())
    };
    let mut totals: Vec<Tensor<B, 1>> = vec![Tensor::zeros([2], device); models.len()];
    let indices: Vec<u32> = (0..len as u32).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let (images, labels) = batch_tensors::<B>(data.batch(split, chunk, None), device);
        for (model, total) in models.iter().zip(&mut totals) {
            let (loss, correct) = scores(model.forward(images.clone()), labels.clone());
            let summed = Tensor::cat(vec![loss.mul_scalar(chunk.len() as f64), correct], 0);
            *total = total.clone() + summed;
        }
    }
    let values: Vec<f32> = Tensor::cat(totals, 0)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default();
    values
        .chunks_exact(2)
        .map(|v| Score {
            loss: f64::from(v[0]) / len as f64,
            accuracy: f64::from(v[1]) / len as f64,
        })
        .collect()
}
