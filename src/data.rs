//! Datasets in memory (8-bit pixels, normalised when a batch is assembled), the seeded per-epoch
//! order, and batch assembly with the paper's crop+flip augmentation.

mod augment;
mod cifar;
mod idx;
mod sampler;
mod synthetic;

use std::path::{Path, PathBuf};

use crate::config::{Config, DataSource};

pub use cifar::{CIFAR_RECORD, load_cifar10};
pub use idx::{load_idx_pair, read_idx};
pub use sampler::{Cursor, Sampler};
pub use synthetic::generate as generate_synthetic;

/// A dataset that could not be loaded. Names the path, what was expected and how to get it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {problem}. {hint}")]
    File {
        path: PathBuf,
        problem: String,
        hint: String,
    },
}

impl DataError {
    pub(crate) fn file(path: &Path, problem: impl Into<String>, hint: impl Into<String>) -> Self {
        DataError::File {
            path: path.to_path_buf(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

/// Images and labels of one split, row-major `[n, c, h, w]` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Keeps only the first `limit` examples (0 = keep all).
    fn truncate(&mut self, limit: usize, image_len: usize) {
        if limit > 0 && limit < self.len() {
            self.labels.truncate(limit);
            self.images.truncate(limit * image_len);
        }
    }
}

/// A loaded dataset: both splits plus what is needed to normalise and augment them.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    pub classes: usize,
    pub train: Split,
    pub test: Split,
    /// Per-channel mean and standard deviation of the training pixels, in 0..=1 units.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Pad-4 random crop and horizontal flip on training batches.
    pub augment: bool,
}

/// A batch ready to become tensors: normalised pixels and class indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Stored `[n, c, h, w]`, or `[n, h, w, c]` if `channels_last`.
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    /// `[n, c, h, w]` whatever the storage order.
    pub shape: [usize; 4],
    pub channels_last: bool,
}

impl Batch {
    /// The same batch with its pixels stored `[n, h, w, c]`: the order burn's cubecl backends
    /// convolve in, so the first convolution does not copy its input on the device (see
    /// `model::Layout`). Meant for the data thread, off the trainer's.
    #[must_use]
    pub fn into_channels_last(mut self) -> Self {
        let [n, c, h, w] = self.shape;
        if !self.channels_last && c > 1 {
            let first = std::mem::take(&mut self.images);
            self.images = Vec::with_capacity(first.len());
            for image in first.chunks_exact(c * h * w) {
                self.images
                    .extend((0..h * w).flat_map(|p| (0..c).map(move |ch| image[ch * h * w + p])));
            }
            debug_assert_eq!(self.images.len(), n * c * h * w);
        }
        self.channels_last = true;
        self
    }
}

impl Dataset {
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Builds a dataset from raw splits, computing normalisation statistics from `train`.
    pub fn from_splits(
        name: &str,
        shape: [usize; 3],
        classes: usize,
        train: Split,
        test: Split,
    ) -> Self {
        let (mean, std) = channel_stats(&train.images, shape);
        Self {
            name: name.into(),
            shape,
            classes,
            train,
            test,
            mean,
            std,
            augment: false,
        }
    }

    /// Assembles the batch of `split` at `indices`. `augment` carries the stream key of this
    /// batch (seed, epoch, position) so that crops are reproducible after a resume.
    pub fn batch(&self, split: &Split, indices: &[u32], augment: Option<[u64; 3]>) -> Batch {
        let image_len = self.image_len();
        let [c, h, w] = self.shape;
        let mut images = Vec::with_capacity(indices.len() * image_len);
        let mut labels = Vec::with_capacity(indices.len());
        for (k, &i) in indices.iter().enumerate() {
            let i = i as usize;
            let raw = &split.images[i * image_len..(i + 1) * image_len];
            let start = images.len();
            for ch in 0..c {
                let (mean, std) = (self.mean[ch], self.std[ch]);
                images.extend(
                    raw[ch * h * w..(ch + 1) * h * w]
                        .iter()
                        .map(|&p| (f32::from(p) / 255.0 - mean) / std),
                );
            }
            if let (true, Some([seed, epoch, position])) = (self.augment, augment) {
                let key = [epoch, position + k as u64];
                augment::crop_flip(&mut images[start..], self.shape, seed, key);
            }
            labels.push(i64::from(split.labels[i]));
        }
        Batch {
            images,
            labels,
            shape: [indices.len(), c, h, w],
            channels_last: false,
        }
    }
}

/// Loads the dataset the config names, applying `train_limit`/`test_limit`.
pub fn load(config: &Config) -> Result<Dataset, DataError> {
    let d = &config.data;
    let dir = config.data_dir();
    let mut data = match d.source {
        DataSource::Synthetic => {
            synthetic::generate(&synthetic::SyntheticSpec::from_config(config))
        }
        DataSource::FashionMnist | DataSource::Mnist => idx::load_idx_pair(&dir, d.source)?,
        DataSource::Cifar10 => cifar::load_cifar10(&dir)?,
    };
    let image_len = data.image_len();
    data.train.truncate(d.train_limit, image_len);
    data.test.truncate(d.test_limit, image_len);
    data.augment = d.augment;
    Ok(data)
}

fn channel_stats(images: &[u8], [c, h, w]: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
    let plane = h * w;
    let mut sum = vec![0f64; c];
    let mut sq = vec![0f64; c];
    for image in images.chunks_exact(c * plane) {
        for ch in 0..c {
            for &p in &image[ch * plane..(ch + 1) * plane] {
                let v = f64::from(p) / 255.0;
                sum[ch] += v;
                sq[ch] += v * v;
            }
        }
    }
    let n = (images.len() / c).max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt()).max(1e-3) as f32)
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let train = Split {
            images: vec![0, 255, 0, 255, 255, 255, 255, 255],
            labels: vec![0, 1],
        };
        Dataset::from_splits("tiny", [1, 2, 2], 2, train.clone(), train)
    }

    #[test]
    fn batches_are_normalised_with_train_statistics() {
        let d = tiny();
        assert!((d.mean[0] - 0.75).abs() < 1e-6);
        let b = d.batch(&d.train, &[1, 0], None);
        assert_eq!(b.shape, [2, 1, 2, 2]);
        assert_eq!(b.labels, vec![1, 0]);
        let mean: f32 = b.images.iter().sum::<f32>() / 8.0;
        assert!(mean.abs() < 1e-5, "normalised mean {mean}");
    }

    #[test]
    fn channels_last_stores_each_pixel_s_channels_together() {
        // 2 images, 3 channels, 1x2 pixels; each value names its [n, c, h, w] position.
        let images = (0..2)
            .flat_map(|n| {
                (0..3).flat_map(move |c| (0..2).map(move |x| (n * 100 + c * 10 + x) as f32))
            })
            .collect();
        let batch = Batch {
            images,
            labels: vec![0, 1],
            shape: [2, 3, 1, 2],
            channels_last: false,
        };
        let last = batch.clone().into_channels_last();
        assert!(last.channels_last);
        assert_eq!((last.shape, &last.labels), (batch.shape, &batch.labels));
        assert_eq!(
            last.images,
            vec![
                0., 10., 20., 1., 11., 21., 100., 110., 120., 101., 111., 121.
            ]
        );
        // Already channels-last: unchanged. One channel: the same memory, flagged.
        assert_eq!(last.clone().into_channels_last(), last);
        let grey = tiny().batch(&tiny().train, &[0, 1], None);
        let grey_last = grey.clone().into_channels_last();
        assert_eq!(
            (grey_last.images, grey_last.channels_last),
            (grey.images, true)
        );
    }

    #[test]
    fn limits_truncate_both_splits() {
        let mut s = tiny().train;
        s.truncate(1, 4);
        assert_eq!((s.len(), s.images.len()), (1, 4));
    }
}
