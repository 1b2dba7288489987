//! Compact human-readable progress lines for headless runs (stderr): step lines at most once
//! per interval, averaged over the steps since the previous line, plus one line per evaluation,
//! change, checkpoint, summary and fault.

use std::time::{Duration, Instant};

use crate::protocol::{Change, Event, Net, RunState};

/// Minimum time between two step lines.
pub const STEP_LINE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Progress {
    last_line: Option<Instant>,
    /// Sums since the last step line: `[plain, residual]` loss and accuracy, steps, images, ms.
    loss: [f64; 2],
    accuracy: [f64; 2],
    steps: u32,
    images: usize,
    millis: f64,
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

impl Progress {
    /// The line to print for `event` at time `now`, if any.
    pub fn line(&mut self, event: &Event, now: Instant) -> Option<String> {
        match event {
            Event::Started(info) => Some(format!(
                "start  run {} | {} {}x{}x{} ({} train / {} test) | depth {} width {} shortcut {} | params plain {} residual {} | backend {}",
                info.run_id,
                info.dataset,
                info.input_shape[0],
                info.input_shape[1],
                info.input_shape[2],
                info.train_len,
                info.test_len,
                info.depth,
                info.width,
                info.shortcut,
                info.params[0],
                info.params[1],
                info.backend
            )),
            Event::State { step, state } => match state {
                RunState::WarmingUp => Some(format!(
                    "state  step {step} | warming up (first step builds kernels)…"
                )),
                RunState::Finished => Some(format!("state  step {step} | step limit reached")),
                RunState::Paused => Some(format!("state  step {step} | paused")),
                _ => None,
            },
            Event::Step(report) => {
                for net in Net::BOTH {
                    self.loss[net.index()] += report.scores[net.index()].loss;
                    self.accuracy[net.index()] += report.scores[net.index()].accuracy;
                }
                self.steps += 1;
                self.images += report.batch_size;
                self.millis += report.step_ms;
                let due = self
                    .last_line
                    .is_none_or(|t| now.duration_since(t) >= STEP_LINE_INTERVAL);
                if !due {
                    return None;
                }
                let n = f64::from(self.steps);
                let line = format!(
                    "step   {:>6} ep {:>3} | loss plain {:.4} residual {:.4} | acc plain {:5.1}% residual {:5.1}% | lr {:.4} | {:.0} img/s",
                    report.step,
                    report.epoch,
                    self.loss[0] / n,
                    self.loss[1] / n,
                    pct(self.accuracy[0] / n),
                    pct(self.accuracy[1] / n),
                    report.lr,
                    self.images as f64 / (self.millis / 1e3).max(1e-9)
                );
                *self = Progress {
                    last_line: Some(now),
                    ..Progress::default()
                };
                Some(line)
            }
            Event::Eval(e) => Some(format!(
                "eval   {:>6}        | loss plain {:.4} residual {:.4} | test acc plain {:5.1}% residual {:5.1}% ({} images)",
                e.step,
                e.scores[0].loss,
                e.scores[1].loss,
                pct(e.scores[0].accuracy),
                pct(e.scores[1].accuracy),
                e.samples
            )),
            Event::Changed { step, change } => Some(match change {
                Change::Hyper { hyper } => format!(
                    "change step {step} | {} = {}",
                    hyper.key(),
                    hyper.value_text()
                ),
                Change::Depth { from, to } => format!("change step {step} | depth {from} -> {to}"),
                Change::Resumed { from } => format!("change step {step} | resumed from {from}"),
            }),
            Event::Checkpointed { step, path } => Some(format!("ckpt   step {step} | {path}")),
            Event::DepthSummary(s) => Some(format!(
                "depth  {} after {} steps | train error plain {:.1}% residual {:.1}% | test error plain {:.1}% residual {:.1}%",
                s.depth,
                s.steps,
                s.train_error[0],
                s.train_error[1],
                s.test_error[0],
                s.test_error[1]
            )),
            Event::Fault(fault) => Some(format!("FAULT  {fault}")),
            Event::Warning { message } => Some(format!("warn   {message}")),
            Event::Stopped => None,
        }
    }
}
