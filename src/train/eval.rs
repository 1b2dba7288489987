//! Held-out evaluation in eval mode: running `BatchNorm` statistics, inner backend (no autodiff
//! graph), loss and accuracy of both nets reduced on the device and read back in one transfer.

use burn::prelude::*;

use super::loss::scores;
use crate::data::{Batch, Dataset, Split};
use crate::model::{ModelBackend, ResNet};
use crate::protocol::Score;

/// Images per evaluation batch.
const EVAL_BATCH: usize = 500;

/// The batch on the device: images `[n, c, h, w]` (a view of `[n, h, w, c]` memory if the batch
/// is stored channels-last) and labels `[n]`.
pub fn batch_tensors<B: Backend>(
    batch: Batch,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let n = batch.labels.len();
    let images = if batch.channels_last {
        let [n, c, h, w] = batch.shape;
        Tensor::from_data(TensorData::new(batch.images, [n, h, w, c]), device).permute([0, 3, 1, 2])
    } else {
        Tensor::from_data(TensorData::new(batch.images, batch.shape), device)
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channels_last_batch_becomes_the_same_tensor_stored_channels_last() {
        type B = burn::backend::Flex;
        let device = Default::default();
        let batch = Batch {
            images: (0..2 * 3 * 4 * 5).map(|v| v as f32).collect(),
            labels: vec![4, 2],
            shape: [2, 3, 4, 5],
            channels_last: false,
        };
        let (first, labels) = batch_tensors::<B>(batch.clone(), &device);
        let (last, last_labels) = batch_tensors::<B>(batch.into_channels_last(), &device);
        assert_eq!(last.dims(), [2, 3, 4, 5]);
        assert_eq!(last.clone().into_data(), first.into_data());
        assert_eq!(last_labels.into_data(), labels.into_data());
        // Stored [n, h, w, c]: the view back to that order is the memory, contiguous.
        let storage = last.permute([0, 2, 3, 1]);
        assert!(storage.into_primitive().tensor().is_contiguous());
    }
}
