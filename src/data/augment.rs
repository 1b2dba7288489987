//! The paper's CIFAR augmentation: pad 4 pixels of zeros (the mean, after normalisation) on each
//! side, take a random 32x32 crop, flip horizontally with probability 1/2.

use crate::rng::Rng;

const PAD: usize = 4;

/// Crops and flips one normalised image `[c, h, w]` in place; `key` picks its random stream.
pub fn crop_flip(image: &mut [f32], [c, h, w]: [usize; 3], seed: u64, key: [u64; 2]) {
    let mut rng = Rng::stream(seed, &[0xA0, key[0], key[1]]);
    let dy = rng.below(2 * PAD + 1);
    let dx = rng.below(2 * PAD + 1);
    let flip = rng.below(2) == 1;
    let source = image.to_vec();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                // Position in the padded image, then in the source.
                let sy = (y + dy).checked_sub(PAD).filter(|&v| v < h);
                let xx = if flip { w - 1 - x } else { x };
                let sx = (xx + dx).checked_sub(PAD).filter(|&v| v < w);
                image[(ch * h + y) * w + x] = match (sy, sx) {
                    (Some(sy), Some(sx)) => source[(ch * h + sy) * w + sx],
                    _ => 0.0,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_keeps_pixels_or_pads_with_zero_and_is_reproducible() {
        let image: Vec<f32> = (1..=3 * 8 * 8).map(|v| v as f32).collect();
        let mut a = image.clone();
        let mut b = image.clone();
        crop_flip(&mut a, [3, 8, 8], 1, [2, 3]);
        crop_flip(&mut b, [3, 8, 8], 1, [2, 3]);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| *v == 0.0 || image.contains(v)));
        let differs = (0..50).any(|k| {
            let mut c = image.clone();
            crop_flip(&mut c, [3, 8, 8], 1, [2, k]);
            c != image
        });
        assert!(differs);
    }
}
