//! The learning-rate schedule of the paper: optional constant warm-up, then the base rate divided
//! by `1/gamma` at each milestone. Steps are counted from the start of the current depth.

use crate::protocol::HyperState;

/// Effective learning rate for the step with index `depth_step` (0-based) at this depth.
pub fn learning_rate(hyper: &HyperState, depth_step: u64) -> f64 {
    if depth_step < hyper.warmup_steps {
        return hyper.warmup_lr;
    }
    let passed = hyper
        .milestones
        .iter()
        .filter(|&&m| depth_step >= m)
        .count();
    hyper.lr * hyper.gamma.powi(passed as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyper() -> HyperState {
        HyperState {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            batch_size: 128,
            eval_every: 10,
            probe_every: 10,
            milestones: vec![32_000, 48_000],
            gamma: 0.1,
            warmup_steps: 400,
            warmup_lr: 0.01,
        }
    }

    #[test]
    fn paper_schedule() {
        let h = hyper();
        let at = |s| learning_rate(&h, s);
        assert!((at(0) - 0.01).abs() < 1e-12);
        assert!((at(399) - 0.01).abs() < 1e-12);
        assert!((at(400) - 0.1).abs() < 1e-12);
        assert!((at(31_999) - 0.1).abs() < 1e-12);
        assert!((at(32_000) - 0.01).abs() < 1e-12);
        assert!((at(48_000) - 0.001).abs() < 1e-12);
    }
}
