//! The dashboard's model: a pure reducer over [`Event`]s. Owns bounded histories of everything
//! the panels draw; knows nothing about burn or ratatui, so it can be fed from a live trainer, a
//! `metrics.jsonl` replay or a test script alike.

mod history;
pub mod script;

use std::collections::VecDeque;

pub use history::History;

use crate::protocol::{
    Change, DepthSummary, Event, Fault, HyperState, Net, ProbeReport, RunInfo, RunState,
};
use crate::runlog::replay::Past;

/// Points kept per time series; older points are merged pairwise (see [`History`]).
pub const SERIES_CAPACITY: usize = 2_048;
/// Probe steps kept for the blocks × time heat strip.
pub const PROBE_HISTORY: usize = 256;
/// Lines kept in the log pane.
pub const LOG_CAPACITY: usize = 200;
/// Smoothing of the img/s figure (weight of the newest step).
const THROUGHPUT_EMA: f64 = 0.2;

/// A vertical marker on the time charts: something changed at `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub step: u64,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Fault,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub step: u64,
    pub level: Level,
    pub text: String,
}

/// Per-block magnitudes of one probe step, kept for the heat strip.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSample {
    pub step: u64,
    /// Total |dL/dx_b| per block, `[plain, residual]`.
    pub totals: [Vec<f64>; 2],
}

/// Everything the panels show, updated only by [`Dashboard::apply`].
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub info: Option<RunInfo>,
    pub state: RunState,
    pub step: u64,
    /// Epoch and learning rate of the latest step at the current depth (`None` before it: a
    /// new depth restarts both, and a resumed run has not stepped yet).
    pub epoch: Option<u64>,
    pub lr: Option<f64>,
    pub hyper: Option<HyperState>,
    /// Batch loss per step, `[plain, residual]`.
    pub loss: [History; 2],
    /// Batch accuracy per step (0..=1).
    pub train_accuracy: [History; 2],
    /// Test accuracy at each evaluation.
    pub test_accuracy: [History; 2],
    pub test_loss: [History; 2],
    pub markers: Vec<Marker>,
    /// The global step after which each depth after the first began: smoothed curves start
    /// afresh there (see [`Dashboard::smoothed`]).
    pub depth_starts: Vec<u64>,
    /// The latest probe report of each net.
    pub probes: [Option<ProbeReport>; 2],
    /// The report before the latest, for trends.
    pub previous_probes: [Option<ProbeReport>; 2],
    pub flow_history: VecDeque<FlowSample>,
    pub summaries: Vec<DepthSummary>,
    pub log: VecDeque<LogEntry>,
    /// Images per second (both nets see each image), smoothed.
    pub images_per_sec: Option<f64>,
    pub last_checkpoint: Option<(u64, String)>,
    pub fault: Option<String>,
    /// The fault left a net whose weights overflowed: resuming cannot help, restarting can.
    pub fault_needs_restart: bool,
    /// The trainer thread has exited.
    pub stopped: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self {
            info: None,
            state: RunState::WarmingUp,
            step: 0,
            epoch: None,
            lr: None,
            hyper: None,
            loss: [History::new(SERIES_CAPACITY), History::new(SERIES_CAPACITY)],
            train_accuracy: [History::new(SERIES_CAPACITY), History::new(SERIES_CAPACITY)],
            test_accuracy: [History::new(SERIES_CAPACITY), History::new(SERIES_CAPACITY)],
            test_loss: [History::new(SERIES_CAPACITY), History::new(SERIES_CAPACITY)],
            markers: Vec::new(),
            depth_starts: Vec::new(),
            probes: [None, None],
            previous_probes: [None, None],
            flow_history: VecDeque::new(),
            summaries: Vec::new(),
            log: VecDeque::new(),
            images_per_sec: None,
            last_checkpoint: None,
            fault: None,
            fault_needs_restart: false,
            stopped: false,
            dirty: true,
        }
    }
}

impl Dashboard {
    /// A dashboard that starts from a resumed run's past (see [`crate::runlog::replay`]): its
    /// curves, markers and degradation rows up to the checkpoint, and a log line saying where
    /// they came from or why some are missing.
    pub fn replayed(past: &Past) -> Self {
        let mut dash = Self::default();
        for event in &past.events {
            dash.apply(event);
        }
        if !past.logs.is_empty() {
            let logs: Vec<String> = past.logs.iter().map(|l| l.display().to_string()).collect();
            dash.push_log(
                Level::Info,
                format!(
                    "history: {} events from {}",
                    past.events.len(),
                    logs.join(", ")
                ),
            );
        }
        for problem in &past.problems {
            dash.push_log(Level::Warning, format!("history incomplete: {problem}"));
        }
        dash
    }

    /// Folds one event into the state.
    pub fn apply(&mut self, event: &Event) {
        self.dirty = true;
        match event {
            Event::Started(info) => {
                self.hyper = Some(info.hyper.clone());
                // A new depth (or a resumed run, maybe on another backend) runs at its own speed:
                // the last one's throughput would misstate it, and the ETA with it.
                self.images_per_sec = None;
                self.step = self.step.max(info.start_step);
                // A resumed run announces the depth it was at again: that is not a new depth,
                // and what the past showed of it stays.
                let same_depth = self
                    .info
                    .as_ref()
                    .is_some_and(|i| (i.depth, i.start_step) == (info.depth, info.start_step));
                if !same_depth {
                    self.epoch = None;
                    self.lr = None;
                    if info.start_step > 0 {
                        self.depth_starts.push(info.start_step);
                    }
                    self.probes = [None, None];
                    self.previous_probes = [None, None];
                    self.flow_history.clear();
                }
                self.push_log(
                    Level::Info,
                    format!(
                        "depth {} on {} ({} backend)",
                        info.depth, info.dataset, info.backend
                    ),
                );
                self.info = Some(info.clone());
            }
            Event::State { step, state } => {
                self.step = *step;
                self.state = *state;
                if *state != RunState::Faulted {
                    self.fault = None;
                    self.fault_needs_restart = false;
                }
            }
            Event::Step(s) => {
                self.step = s.step;
                self.epoch = Some(s.epoch);
                self.lr = Some(s.lr);
                let x = s.step as f64;
                for net in Net::BOTH {
                    let score = s.scores[net.index()];
                    self.loss[net.index()].push(x, score.loss);
                    self.train_accuracy[net.index()].push(x, score.accuracy);
                }
                if s.step_ms > 0.0 {
                    let rate = s.batch_size as f64 / (s.step_ms / 1e3);
                    self.images_per_sec = Some(match self.images_per_sec {
                        Some(old) => old + THROUGHPUT_EMA * (rate - old),
                        None => rate,
                    });
                }
            }
            Event::Eval(e) => {
                for net in Net::BOTH {
                    self.test_accuracy[net.index()]
                        .push(e.step as f64, e.scores[net.index()].accuracy);
                    self.test_loss[net.index()].push(e.step as f64, e.scores[net.index()].loss);
                }
            }
            Event::Probe(report) => self.apply_probe(report),
            Event::Changed { step, change } => {
                let label = match change {
                    Change::Hyper { hyper } => {
                        self.apply_hyper(*hyper);
                        format!("{}={}", short_key(hyper.key()), hyper.value_text())
                    }
                    Change::Depth { from, to } => format!("depth {from}→{to}"),
                    Change::Restarted { depth } => format!("depth {depth} restarted"),
                    Change::Resumed { from } => format!("resumed {from}"),
                };
                self.push_log(Level::Info, format!("step {step}: {label}"));
                self.markers.push(Marker { step: *step, label });
            }
            Event::Checkpointed { step, path } => {
                self.last_checkpoint = Some((*step, path.clone()));
                self.push_log(Level::Info, format!("checkpoint {path}"));
            }
            Event::DepthSummary(s) => {
                self.summaries.retain(|r| r.depth != s.depth);
                self.summaries.push(s.clone());
                self.summaries.sort_by_key(|r| r.depth);
            }
            Event::Fault(fault) => {
                let text = fault.to_string();
                self.fault = Some(text.clone());
                self.fault_needs_restart = matches!(
                    fault,
                    Fault::NonFinite {
                        weights_overflowed: true,
                        ..
                    }
                );
                if !matches!(fault, Fault::NonFinite { .. }) {
                    self.state = RunState::Faulted;
                }
                self.push_log(Level::Fault, text);
            }
            Event::Warning { message } => self.push_log(Level::Warning, message.clone()),
            Event::Stopped => {
                self.stopped = true;
                self.push_log(Level::Info, "trainer stopped".into());
            }
        }
    }

    fn apply_probe(&mut self, report: &ProbeReport) {
        let i = report.net.index();
        self.previous_probes[i] = self.probes[i].take();
        self.probes[i] = Some(report.clone());
        let totals: Vec<f64> = report.blocks.iter().map(|b| b.total).collect();
        match self.flow_history.back_mut() {
            Some(sample) if sample.step == report.step => sample.totals[i] = totals,
            _ => {
                let mut sample = FlowSample {
                    step: report.step,
                    totals: [Vec::new(), Vec::new()],
                };
                sample.totals[i] = totals;
                if self.flow_history.len() == PROBE_HISTORY {
                    self.flow_history.pop_front();
                }
                self.flow_history.push_back(sample);
            }
        }
    }

    fn apply_hyper(&mut self, hyper: crate::protocol::Hyper) {
        use crate::protocol::Hyper;
        let Some(h) = self.hyper.as_mut() else { return };
        match hyper {
            Hyper::LearningRate(v) => h.lr = v,
            Hyper::Momentum(v) => h.momentum = v,
            Hyper::WeightDecay(v) => h.weight_decay = v,
            Hyper::BatchSize(v) => h.batch_size = v,
            Hyper::EvalEvery(v) => h.eval_every = v,
            Hyper::ProbeEvery(v) => h.probe_every = v,
        }
    }

    fn push_log(&mut self, level: Level, text: String) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            step: self.step,
            level,
            text,
        });
    }

    /// Adds a line to the log pane from the UI side (e.g. a rejected key).
    pub fn note(&mut self, level: Level, text: impl Into<String>) {
        self.push_log(level, text.into());
        self.dirty = true;
    }

    /// `series` smoothed with weight `alpha` for the newest point, started afresh at each depth
    /// change: a curve never blends the previous depth's networks into the current ones.
    pub fn smoothed(&self, series: &History, alpha: f64) -> Vec<(f64, f64)> {
        let restarts: Vec<f64> = self.depth_starts.iter().map(|&s| s as f64).collect();
        series.smoothed(alpha, &restarts)
    }

    /// The newest point of `series` taken at the current depth, if any (an older one belongs
    /// to other networks).
    pub fn current(&self, series: &History) -> Option<(f64, f64)> {
        series.last().filter(|p| self.is_current(p.0))
    }

    /// Whether global step `x` was taken at the current depth.
    pub fn is_current(&self, x: f64) -> bool {
        x > self.start_step() as f64
    }

    /// The global step after which the current depth began.
    pub fn start_step(&self) -> u64 {
        self.info.as_ref().map_or(0, |i| i.start_step)
    }

    /// Steps done at the current depth.
    pub fn depth_step(&self) -> u64 {
        self.step - self.start_step()
    }

    /// Seconds left to the step limit at the current throughput, if there is a limit and the run
    /// can still get there.
    pub fn eta_secs(&self) -> Option<f64> {
        if self.stopped || matches!(self.state, RunState::Finished | RunState::Faulted) {
            return None;
        }
        let info = self.info.as_ref()?;
        let batch = self.hyper.as_ref()?.batch_size as f64;
        let rate = self.images_per_sec?;
        if info.max_steps == 0 || rate <= 0.0 {
            return None;
        }
        let left = info.max_steps.saturating_sub(self.depth_step()) as f64;
        Some(left * batch / rate)
    }
}

/// `optim.lr` → `lr`, for marker labels.
fn short_key(key: &str) -> &str {
    match key {
        "optim.lr" => "lr",
        "optim.momentum" => "mom",
        "optim.weight_decay" => "wd",
        "run.batch_size" => "batch",
        "run.eval_every" => "eval",
        "run.probe_every" => "probe",
        other => other,
    }
}

#[cfg(test)]
mod tests;
