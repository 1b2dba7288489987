//! The built-in dataset: 10 classes of procedurally drawn grey-scale images, generated in
//! process from a seed (no files).
//!
//! Each class owns a few *templates*; a template is a handful of soft strokes (line segments with
//! a Gaussian profile) at random positions and orientations. An example is one template of its
//! class, shifted by a random offset, with random contrast, overlaid with a fainter template of
//! another class (a distractor) and Gaussian pixel noise. Train and test examples are independent
//! draws from the same templates, so the task is learnable only by recognising stroke
//! configurations under translation, clutter and noise — not by lookup.

use super::{Dataset, Split};
use crate::config::Config;
use crate::rng::Rng;

/// Everything the generator depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    pub seed: u64,
    pub size: usize,
    pub classes: usize,
    pub templates_per_class: usize,
    pub strokes_per_template: usize,
    pub train: usize,
    pub test: usize,
    /// Largest shift in pixels, in each direction.
    pub max_shift: usize,
    /// Pixel noise standard deviation (templates have amplitude ~1).
    pub noise: f32,
    /// Weight of the distractor template.
    pub distractor: f32,
}

impl SyntheticSpec {
    pub fn from_config(config: &Config) -> Self {
        let size = config.data.image_size;
        Self {
            seed: config.run.seed,
            size,
            classes: 10,
            templates_per_class: 3,
            strokes_per_template: 3,
            train: config.data.synthetic_train,
            test: config.data.synthetic_test,
            max_shift: size / 8,
            noise: 0.35,
            distractor: 0.5,
        }
    }
}

/// A rendered template, `size * size` values roughly in -1..=1.
type Template = Vec<f32>;

fn render_template(rng: &mut Rng, spec: &SyntheticSpec) -> Template {
    let s = spec.size as f32;
    let mut image = vec![0f32; spec.size * spec.size];
    for _ in 0..spec.strokes_per_template {
        let (cx, cy) = (
            s * (0.2 + 0.6 * rng.next_f32()),
            s * (0.2 + 0.6 * rng.next_f32()),
        );
        let angle = std::f32::consts::PI * rng.next_f32();
        let half_len = s * (0.12 + 0.18 * rng.next_f32());
        let width = s * (0.04 + 0.04 * rng.next_f32());
        let sign = if rng.below(4) == 0 { -1.0 } else { 1.0 };
        let (dx, dy) = (angle.cos(), angle.sin());
        for y in 0..spec.size {
            for x in 0..spec.size {
                let (px, py) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let along = (px * dx + py * dy).clamp(-half_len, half_len);
                let (qx, qy) = (px - along * dx, py - along * dy);
                let d2 = qx * qx + qy * qy;
                image[y * spec.size + x] += sign * (-d2 / (2.0 * width * width)).exp();
            }
        }
    }
    image
}

fn draw_example(
    rng: &mut Rng,
    spec: &SyntheticSpec,
    templates: &[Vec<Template>],
    out: &mut Vec<u8>,
) -> u8 {
    let label = rng.below(spec.classes);
    let template = &templates[label][rng.below(spec.templates_per_class)];
    let other = (label + 1 + rng.below(spec.classes - 1)) % spec.classes;
    let distractor = &templates[other][rng.below(spec.templates_per_class)];
    let span = 2 * spec.max_shift + 1;
    let shift = |rng: &mut Rng| rng.below(span) as isize - spec.max_shift as isize;
    let (sx, sy) = (shift(rng), shift(rng));
    let (tx, ty) = (shift(rng), shift(rng));
    let contrast = 0.7 + 0.6 * rng.next_f32();
    let n = spec.size as isize;
    let at = |t: &Template, x: isize, y: isize| {
        if (0..n).contains(&x) && (0..n).contains(&y) {
            t[(y * n + x) as usize]
        } else {
            0.0
        }
    };
    for y in 0..n {
        for x in 0..n {
            let v = contrast * at(template, x - sx, y - sy)
                + spec.distractor * at(distractor, x - tx, y - ty)
                + spec.noise * rng.normal();
            out.push(((0.5 + 0.35 * v).clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    label as u8
}

fn draw_split(spec: &SyntheticSpec, templates: &[Vec<Template>], len: usize, stream: u64) -> Split {
    let mut rng = Rng::stream(spec.seed, &[0x5E7, stream]);
    let mut split = Split {
        images: Vec::with_capacity(len * spec.size * spec.size),
        labels: Vec::with_capacity(len),
    };
    for _ in 0..len {
        let label = draw_example(&mut rng, spec, templates, &mut split.images);
        split.labels.push(label);
    }
    split
}

/// Generates the dataset `spec` describes. Deterministic in `spec`.
pub fn generate(spec: &SyntheticSpec) -> Dataset {
    let templates: Vec<Vec<Template>> = (0..spec.classes)
        .map(|c| {
            (0..spec.templates_per_class)
                .map(|k| {
                    render_template(
                        &mut Rng::stream(spec.seed, &[0x7E3, c as u64, k as u64]),
                        spec,
                    )
                })
                .collect()
        })
        .collect();
    let train = draw_split(spec, &templates, spec.train, 1);
    let test = draw_split(spec, &templates, spec.test, 2);
    Dataset::from_splits(
        "synthetic",
        [1, spec.size, spec.size],
        spec.classes,
        train,
        test,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SyntheticSpec {
        SyntheticSpec::from_config(&Config::default())
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let small = SyntheticSpec {
            train: 50,
            test: 20,
            ..spec()
        };
        let a = generate(&small);
        let b = generate(&small);
        assert_eq!(a.train, b.train);
        let c = generate(&SyntheticSpec { seed: 1, ..small });
        assert_ne!(a.train, c.train);
        assert_ne!(a.train.images[..256], a.test.images[..256]);
    }

    #[test]
    fn classes_are_balanced_enough() {
        let d = generate(&SyntheticSpec {
            train: 2000,
            test: 10,
            ..spec()
        });
        let mut counts = [0usize; 10];
        for &l in &d.train.labels {
            counts[l as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (120..=280).contains(&c)),
            "{counts:?}"
        );
    }
}
