//! The training order: a fresh seeded permutation each epoch, consumed batch by batch. The
//! [`Cursor`] is all the state there is, so a checkpoint that stores it resumes the exact order.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Where the sampler stands: epoch and the position of the next example in its permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    pub position: u64,
}

/// Hands out batches of training indices. A trailing partial batch is skipped (the next epoch
/// starts), so every batch has the requested size.
#[derive(Debug, Clone)]
pub struct Sampler {
    seed: u64,
    len: usize,
    cursor: Cursor,
    order: Vec<u32>,
}

/// One batch worth of indices and where it came from (for augmentation streams).
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    pub indices: Vec<u32>,
    pub epoch: u64,
    pub position: u64,
}

impl Sampler {
    pub fn new(seed: u64, len: usize, cursor: Cursor) -> Self {
        let order = Self::order(seed, len, cursor.epoch);
        Self {
            seed,
            len,
            cursor,
            order,
        }
    }

    fn order(seed: u64, len: usize, epoch: u64) -> Vec<u32> {
        Rng::stream(seed, &[0xDA7A, epoch]).permutation(len)
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// What [`Sampler::next_batch`] would return now, without advancing (for prefetching). Copies
    /// only the batch, except at an epoch boundary where the next epoch's order is drawn.
    pub fn peek(&self, batch_size: usize) -> Draw {
        let batch_size = batch_size.min(self.len);
        if self.cursor.position as usize + batch_size > self.len {
            let epoch = self.cursor.epoch + 1;
            let order = Self::order(self.seed, self.len, epoch);
            return Draw {
                indices: order[..batch_size].to_vec(),
                epoch,
                position: 0,
            };
        }
        let start = self.cursor.position as usize;
        Draw {
            indices: self.order[start..start + batch_size].to_vec(),
            epoch: self.cursor.epoch,
            position: self.cursor.position,
        }
    }

    /// The next `batch_size` indices (at most the dataset size).
    pub fn next_batch(&mut self, batch_size: usize) -> Draw {
        let batch_size = batch_size.min(self.len);
        if self.cursor.position as usize + batch_size > self.len {
            self.cursor = Cursor {
                epoch: self.cursor.epoch + 1,
                position: 0,
            };
            self.order = Self::order(self.seed, self.len, self.cursor.epoch);
        }
        let start = self.cursor.position as usize;
        let draw = Draw {
            indices: self.order[start..start + batch_size].to_vec(),
            epoch: self.cursor.epoch,
            position: self.cursor.position,
        };
        self.cursor.position += batch_size as u64;
        draw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_predicts_the_next_batch_across_epoch_boundaries() {
        let mut s = Sampler::new(3, 10, Cursor::default());
        for size in [4, 4, 3, 5, 10, 2, 7] {
            let peeked = s.peek(size);
            assert_eq!(peeked, s.next_batch(size));
        }
    }

    #[test]
    fn epochs_cover_everything_once_and_differ() {
        let mut s = Sampler::new(1, 10, Cursor::default());
        let first: Vec<u32> = (0..2).flat_map(|_| s.next_batch(5).indices).collect();
        let second: Vec<u32> = (0..2).flat_map(|_| s.next_batch(5).indices).collect();
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(first, second);
        assert_eq!(
            s.cursor(),
            Cursor {
                epoch: 1,
                position: 10
            }
        );
    }

    #[test]
    fn resuming_from_a_cursor_continues_the_same_order() {
        let mut a = Sampler::new(9, 20, Cursor::default());
        for _ in 0..5 {
            a.next_batch(3);
        }
        let mut b = Sampler::new(9, 20, a.cursor());
        for _ in 0..10 {
            assert_eq!(a.next_batch(3), b.next_batch(3));
        }
    }
}
