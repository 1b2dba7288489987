//! Compact human-readable progress lines for headless runs (stderr): step lines at most once
//! per interval, averaged over the steps since the previous line, plus one line per evaluation,
//! change, checkpoint, summary and fault, and `flow` lines of gradient magnitudes per block
//! every `flow_every` probe steps (`resdash --headless 2>&1 | grep flow`).

use std::time::{Duration, Instant};

use crate::number::decimal;
use crate::protocol::{Change, Event, Net, ProbeReport, RunState};

/// Minimum time between two step lines.
pub const STEP_LINE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Progress {
    /// Print gradient-flow lines every this many probe steps (0 = never).
    flow_every: u64,
    /// Probe reports seen (both nets count once per probe step).
    probes_seen: u64,
    last_line: Option<Instant>,
    window: StepWindow,
}

/// Sums over the steps since the last step line.
#[derive(Debug, Default)]
struct StepWindow {
    /// `[plain, residual]`.
    loss: [f64; 2],
    accuracy: [f64; 2],
    steps: u32,
    images: usize,
    millis: f64,
}

fn log10s(values: impl Iterator<Item = f64>) -> String {
    values
        .map(|v| format!("{:5.1}", v.max(1e-30).log10()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `flow` lines: log10 gradient magnitudes per block, input side first. The plain net has one
/// line (total dL/dx_b); the residual net has its shortcut and branch parts.
pub fn flow_lines(report: &ProbeReport) -> String {
    let head = format!("flow   step {:>6} {:<8}", report.step, report.net.name());
    let tail = format!(
        "| stem {:5.1} head {:5.1}",
        report.input_grad.max(1e-30).log10(),
        report.classifier_grad.max(1e-30).log10()
    );
    match report.net {
        Net::Plain => format!(
            "{head} total    {} {tail}",
            log10s(report.blocks.iter().map(|b| b.total))
        ),
        Net::Residual => format!(
            "{head} shortcut {} {tail}\n{head} branch   {}",
            log10s(report.blocks.iter().map(|b| b.shortcut.unwrap_or(0.0))),
            log10s(report.blocks.iter().map(|b| b.branch.unwrap_or(0.0)))
        ),
    }
}

impl Progress {
    /// A printer that also prints `flow` lines every `flow_every` probe steps (0 = never).
    pub fn new(flow_every: u64) -> Self {
        Self {
            flow_every,
            ..Self::default()
        }
    }
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

impl Progress {
    /// The line to print for `event` at time `now`, if any.
    pub fn line(&mut self, event: &Event, now: Instant) -> Option<String> {
        match event {
            Event::Started(info) => {
                // A new depth's first step line averages its own steps only, and comes at once.
                self.window = StepWindow::default();
                self.last_line = None;
                Some(format!(
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
                ))
            }
            Event::State { step, state } => match state {
                RunState::WarmingUp => Some(format!(
                    "state  step {step} | warming up (the first step at this batch size builds kernels)…"
                )),
                RunState::Finished => Some(format!("state  step {step} | step limit reached")),
                RunState::Paused => Some(format!("state  step {step} | paused")),
                _ => None,
            },
            Event::Step(report) => {
                let w = &mut self.window;
                for net in Net::BOTH {
                    w.loss[net.index()] += report.scores[net.index()].loss;
                    w.accuracy[net.index()] += report.scores[net.index()].accuracy;
                }
                w.steps += 1;
                w.images += report.batch_size;
                w.millis += report.step_ms;
                let due = self
                    .last_line
                    .is_none_or(|t| now.duration_since(t) >= STEP_LINE_INTERVAL);
                if !due {
                    return None;
                }
                let w = std::mem::take(&mut self.window);
                self.last_line = Some(now);
                let n = f64::from(w.steps);
                let line = format!(
                    "step   {:>6} ep {:>3} | loss plain {} residual {} | acc plain {:5.1}% residual {:5.1}% | lr {} | {:.0} img/s",
                    report.step,
                    report.epoch,
                    decimal(w.loss[0] / n, 4),
                    decimal(w.loss[1] / n, 4),
                    pct(w.accuracy[0] / n),
                    pct(w.accuracy[1] / n),
                    decimal(report.lr, 4),
                    w.images as f64 / (w.millis / 1e3).max(1e-9)
                );
                Some(line)
            }
            Event::Eval(e) => Some(format!(
                "eval   {:>6}        | loss plain {} residual {} | test acc plain {:5.1}% residual {:5.1}% ({} images)",
                e.step,
                decimal(e.scores[0].loss, 4),
                decimal(e.scores[1].loss, 4),
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
                Change::Restarted { depth } => {
                    format!("change step {step} | depth {depth} restarted, both nets afresh")
                }
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
            Event::Probe(report) => {
                if report.net == Net::Plain {
                    self.probes_seen += 1;
                }
                let due = self.flow_every > 0 && (self.probes_seen - 1) % self.flow_every == 0;
                due.then(|| flow_lines(report))
            }
            Event::Fault(fault) => Some(format!("FAULT  {fault}")),
            Event::Warning { message } => Some(format!("warn   {message}")),
            Event::Stopped => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BlockFlow;

    fn report(net: Net, step: u64) -> Event {
        let block = |i| BlockFlow {
            block: i,
            stage: 0,
            activation_rms: 1.0,
            total: 10f64.powi(-(i as i32)),
            branch: (net == Net::Residual).then_some(0.01),
            shortcut: (net == Net::Residual).then_some(1.0),
            sum: 1.0,
            param_grad_norm: 1.0,
            update_ratio: 0.01,
        };
        Event::Probe(ProbeReport {
            step,
            net,
            input_grad: 1e-3,
            classifier_grad: 0.1,
            blocks: (0..3).map(block).collect(),
        })
    }

    fn step(s: u64, loss: f64, step_ms: f64) -> Event {
        step_at_lr(s, loss, step_ms, 0.1)
    }

    fn step_at_lr(s: u64, loss: f64, step_ms: f64, lr: f64) -> Event {
        let score = crate::protocol::Score {
            loss,
            accuracy: 0.5,
        };
        Event::Step(crate::protocol::StepReport {
            step: s,
            epoch: 0,
            lr,
            batch_size: 8,
            scores: [score; 2],
            step_ms,
        })
    }

    #[test]
    fn a_small_learning_rate_and_a_huge_loss_keep_their_digits() {
        // `l` pressed twelve times from lr 0.1 (or `--set optim.lr=2e-5`); before, "lr 0.0000".
        let mut p = Progress::new(0);
        let line = p
            .line(&step_at_lr(1, 1.4e28, 10.0, 0.1 / 4096.0), Instant::now())
            .expect("a step line");
        assert!(
            line.contains("loss plain 1.40e28 residual 1.40e28") && line.contains("| lr 2.44e-5 |"),
            "{line}"
        );
        let line = p
            .line(
                &step_at_lr(2, 0.5, 10.0, 0.1),
                Instant::now() + STEP_LINE_INTERVAL,
            )
            .expect("a step line");
        assert!(line.contains("| lr 0.1000 |"), "{line}");
    }

    #[test]
    fn a_new_depths_first_step_line_is_its_own() {
        let mut p = Progress::new(0);
        let now = Instant::now();
        assert!(p.line(&step(1, 2.0, 10.0), now).is_some());
        // Within the line interval: depth 20's steps wait in the window.
        assert!(p.line(&step(2, 2.0, 10.0), now).is_none());
        assert!(p.line(&step(3, 2.0, 10.0), now).is_none());
        let started = p.line(&Event::Started(crate::state::script::info(56, 3)), now);
        assert!(started.unwrap().contains("depth 56"));
        // Depth 56's first step is printed at once, with its loss and speed alone (before, it
        // waited out the interval and then averaged in depth 20's steps).
        let line = p.line(&step(4, 1.0, 40.0), now).expect("a step line");
        assert!(
            line.contains("loss plain 1.0000 residual 1.0000") && line.ends_with("| 200 img/s"),
            "{line}"
        );
    }

    #[test]
    fn flow_lines_come_every_n_probe_steps_with_log10_magnitudes() {
        let mut p = Progress::new(2);
        let now = Instant::now();
        let step = |s| step(s, 1.0, 1.0);
        // Step lines in between must not reset the flow cadence.
        let mut lines = Vec::new();
        for s in 1..=3 {
            p.line(&step(s), now);
            lines.push(p.line(&report(Net::Plain, s), now));
            lines.push(p.line(&report(Net::Residual, s), now));
        }
        let printed: Vec<bool> = lines.iter().map(Option::is_some).collect();
        assert_eq!(printed, [true, true, false, false, true, true]);
        let plain = lines[0].as_deref().unwrap();
        assert!(
            plain.starts_with("flow   step      1 plain")
                && plain.contains("total      0.0  -1.0  -2.0"),
            "{plain}"
        );
        assert!(plain.contains("stem  -3.0 head  -1.0"), "{plain}");
        let residual = lines[1].as_deref().unwrap();
        assert!(
            residual.contains("shortcut   0.0   0.0   0.0")
                && residual.contains("branch    -2.0  -2.0  -2.0"),
            "{residual}"
        );
        assert!(Progress::new(0).line(&report(Net::Plain, 1), now).is_none());
    }
}
