//! Semantic checks after parsing: ranges, the 6n+2 depth rule, compiled-in backends. Each error
//! names the key, the value and what is allowed.

use super::{Config, ConfigError, DataSource};

/// Depths the dashboard steps through with `d`/`D` (the paper's CIFAR family plus 8 and 14).
pub const DEPTH_LADDER: [usize; 7] = [8, 14, 20, 32, 44, 56, 110];

impl Config {
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let fail = |key: &str, value: String, allowed: &str| {
            Err(ConfigError::Invalid {
                origin: origin.into(),
                key: key.into(),
                value,
                allowed: allowed.into(),
            })
        };
        let m = &self.model;
        if m.depth < 8 || (m.depth - 2) % 6 != 0 {
            return fail(
                "model.depth",
                m.depth.to_string(),
                "6n+2 with n >= 1: 8, 14, 20, 32, 44, 56, 110, …",
            );
        }
        let six_n_plus_two = |d: usize| d >= 8 && (d - 2) % 6 == 0;
        if m.ladder.is_empty()
            || !m.ladder.iter().all(|&d| six_n_plus_two(d))
            || !m.ladder.windows(2).all(|w| w[0] < w[1])
        {
            return fail(
                "model.ladder",
                format!("{:?}", m.ladder),
                "a non-empty, increasing list of 6n+2 depths, e.g. [20, 32, 44, 56]",
            );
        }
        if !(1..=16).contains(&m.width) {
            return fail("model.width", m.width.to_string(), "an integer in 1..=16");
        }
        let d = &self.data;
        if d.source == DataSource::Synthetic {
            if d.image_size < 8 || d.image_size % 4 != 0 || d.image_size > 64 {
                return fail(
                    "data.image_size",
                    d.image_size.to_string(),
                    "a multiple of 4 in 8..=64",
                );
            }
            if d.synthetic_train < 10 {
                return fail(
                    "data.synthetic_train",
                    d.synthetic_train.to_string(),
                    "an integer >= 10",
                );
            }
            if d.synthetic_test < 10 {
                return fail(
                    "data.synthetic_test",
                    d.synthetic_test.to_string(),
                    "an integer >= 10",
                );
            }
        }
        if d.augment && d.source != DataSource::Cifar10 {
            return fail(
                "data.augment",
                "true".into(),
                "false unless data.source = \"cifar10\" (crop+flip is for 32x32 colour images)",
            );
        }
        let o = &self.optim;
        for (key, value) in [("optim.lr", o.lr), ("optim.warmup_lr", o.warmup_lr)] {
            if !(value.is_finite() && value > 0.0) {
                return fail(key, value.to_string(), "a finite number > 0");
            }
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return fail(
                "optim.momentum",
                o.momentum.to_string(),
                "a number in [0, 1)",
            );
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return fail(
                "optim.weight_decay",
                o.weight_decay.to_string(),
                "a finite number >= 0",
            );
        }
        if !(o.gamma > 0.0 && o.gamma <= 1.0) {
            return fail("optim.gamma", o.gamma.to_string(), "a number in (0, 1]");
        }
        if o.milestones.windows(2).any(|w| w[0] >= w[1]) || o.milestones.first() == Some(&0) {
            return fail(
                "optim.milestones",
                format!("{:?}", o.milestones),
                "strictly increasing steps > 0",
            );
        }
        let r = &self.run;
        if !(1..=65_536).contains(&r.batch_size) {
            return fail(
                "run.batch_size",
                r.batch_size.to_string(),
                "an integer in 1..=65536",
            );
        }
        if r.eval_every == 0 {
            return fail("run.eval_every", "0".into(), "an integer >= 1");
        }
        if r.probe_every == 0 {
            return fail("run.probe_every", "0".into(), "an integer >= 1");
        }
        if r.train_eval_size == 0 {
            return fail("run.train_eval_size", "0".into(), "an integer >= 1");
        }
        if r.run_dir.is_empty() {
            return fail("run.run_dir", "\"\"".into(), "a directory path");
        }
        if crate::backend::BackendKind::parse(&r.backend).is_err() {
            return fail(
                "run.backend",
                format!("{:?}", r.backend),
                &crate::backend::BackendKind::expected(&r.backend),
            );
        }
        if !(1..=60).contains(&self.ui.fps) {
            return fail("ui.fps", self.ui.fps.to_string(), "an integer in 1..=60");
        }
        Ok(())
    }
}
