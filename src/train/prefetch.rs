//! Prepares the next training batch (gather, augmentation, normalisation) on a worker thread
//! while the current step runs, so a fast device is not kept waiting on the CPU.
//!
//! The trainer's [`crate::data::Sampler`] stays the single source of truth for what a batch is:
//! the trainer asks for the batch it predicts comes next, and [`Prefetcher::take`] hands over a
//! prepared batch only if it is exactly the one asked for now (same indices, same augmentation
//! key). Anything else — a batch-size change, a depth change, a resume — is prepared on the
//! spot, so prefetching can never change what is trained.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use crate::data::{Batch, Dataset};

/// A training batch: which images, and the augmentation key (seed, epoch, position).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    indices: Vec<u32>,
    key: [u64; 3],
}

pub struct Prefetcher {
    data: Arc<Dataset>,
    channels_last: bool,
    requests: Option<Sender<Request>>,
    ready: Receiver<(Request, Batch)>,
    pending: Option<Request>,
}

impl Prefetcher {
    /// Starts the worker thread (`resdash-data`); it ends when the prefetcher is dropped. If the
    /// thread cannot be started every batch is prepared on the caller's thread. With
    /// `channels_last` the batches are stored `[n, h, w, c]` (see [`Batch::into_channels_last`]).
    pub fn new(data: Arc<Dataset>, channels_last: bool) -> Self {
        let (request_tx, request_rx) = channel::<Request>();
        let (ready_tx, ready) = channel();
        let worker_data = Arc::clone(&data);
        let spawned = std::thread::Builder::new()
            .name("resdash-data".into())
            .spawn(move || {
                for request in request_rx {
                    let batch = prepare(&worker_data, &request.indices, request.key, channels_last);
                    if ready_tx.send((request, batch)).is_err() {
                        break;
                    }
                }
            });
        Self {
            data,
            channels_last,
            requests: spawned.is_ok().then_some(request_tx),
            ready,
            pending: None,
        }
    }

    /// Starts preparing the training batch of `indices` with augmentation `key`.
    pub fn request(&mut self, indices: Vec<u32>, key: [u64; 3]) {
        if self.pending.is_some() {
            return; // one batch ahead is enough; the next take() resolves it
        }
        let request = Request { indices, key };
        if let Some(tx) = &self.requests
            && tx.send(request.clone()).is_ok()
        {
            self.pending = Some(request);
        }
    }

    /// The training batch of `indices` with augmentation `key`: the prefetched one if it is
    /// exactly this batch, otherwise prepared here.
    pub fn take(&mut self, indices: &[u32], key: [u64; 3]) -> Batch {
        if self.pending.take().is_some()
            && let Ok((done, batch)) = self.ready.recv()
            && done.indices == indices
            && done.key == key
        {
            return batch;
        }
        prepare(&self.data, indices, key, self.channels_last)
    }
}

/// The training batch of `indices` with augmentation `key`, stored channels-last if asked.
fn prepare(data: &Dataset, indices: &[u32], key: [u64; 3], channels_last: bool) -> Batch {
    let batch = data.batch(&data.train, indices, Some(key));
    if channels_last {
        batch.into_channels_last()
    } else {
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn data() -> Arc<Dataset> {
        let config = Config::from_toml(
            "[data]\nimage_size = 8\nsynthetic_train = 64\nsynthetic_test = 10\n",
            "test",
            &[],
        )
        .unwrap();
        Arc::new(crate::data::load(&config).unwrap())
    }

    #[test]
    fn prefetched_batches_equal_batches_prepared_on_the_spot() {
        let data = data();
        for channels_last in [false, true] {
            let mut p = Prefetcher::new(Arc::clone(&data), channels_last);
            let direct = |indices: &[u32], key| {
                let batch = data.batch(&data.train, indices, Some(key));
                assert!(!batch.channels_last);
                if channels_last {
                    batch.into_channels_last()
                } else {
                    batch
                }
            };

            // Predicted right: the worker's batch.
            p.request(vec![3, 1, 4, 1, 5], [0, 0, 0]);
            assert_eq!(
                p.take(&[3, 1, 4, 1, 5], [0, 0, 0]),
                direct(&[3, 1, 4, 1, 5], [0, 0, 0])
            );
            // Predicted wrong (e.g. the batch size changed): prepared on the spot, still right.
            p.request(vec![9, 2, 6], [0, 0, 5]);
            assert_eq!(
                p.take(&[9, 2, 6, 5], [0, 0, 5]),
                direct(&[9, 2, 6, 5], [0, 0, 5])
            );
            assert_eq!(p.take(&[7, 7], [1, 2, 3]), direct(&[7, 7], [1, 2, 3]));
            // A stale prediction is dropped, not handed out later.
            p.request(vec![1], [0, 0, 0]);
            assert_eq!(p.take(&[2], [0, 0, 0]), direct(&[2], [0, 0, 0]));
            let last = p.take(&[1], [0, 0, 0]);
            assert_eq!(last.channels_last, channels_last);
            assert_eq!(last, direct(&[1], [0, 0, 0]));
        }
    }
}
