//! The only types that cross threads: [`Command`] (UI or script → trainer) and [`Event`]
//! (trainer → UI, headless printer and `metrics.jsonl`).
//!
//! Everything here is owned plain data with serde derives, so the same stream can be written to a
//! file, replayed into the dashboard state in tests, and later sent over a socket (attach/detach).

use serde::{Deserialize, Serialize};

/// Version of the `metrics.jsonl` line format. Bump when a field changes meaning or is removed.
pub const SCHEMA_VERSION: u32 = 1;

/// Which of the two side-by-side networks a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Net {
    Plain,
    Residual,
}

impl Net {
    pub const BOTH: [Net; 2] = [Net::Plain, Net::Residual];

    pub fn name(self) -> &'static str {
        match self {
            Net::Plain => "plain",
            Net::Residual => "residual",
        }
    }

    /// Index into `[plain, residual]` arrays.
    pub fn index(self) -> usize {
        match self {
            Net::Plain => 0,
            Net::Residual => 1,
        }
    }
}

/// A hyperparameter change that the trainer applies at the next step boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "value", rename_all = "snake_case")]
pub enum Hyper {
    /// Base learning rate; the schedule (warm-up, milestones) multiplies it.
    LearningRate(f64),
    Momentum(f64),
    WeightDecay(f64),
    BatchSize(usize),
    EvalEvery(u64),
    ProbeEvery(u64),
}

impl Hyper {
    /// The config key this hyperparameter is read from (`section.key`).
    pub fn key(&self) -> &'static str {
        match self {
            Hyper::LearningRate(_) => "optim.lr",
            Hyper::Momentum(_) => "optim.momentum",
            Hyper::WeightDecay(_) => "optim.weight_decay",
            Hyper::BatchSize(_) => "run.batch_size",
            Hyper::EvalEvery(_) => "run.eval_every",
            Hyper::ProbeEvery(_) => "run.probe_every",
        }
    }

    /// Checks the value is one the trainer can use; the error says what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        let ok = match *self {
            Hyper::LearningRate(v) => v.is_finite() && v > 0.0,
            Hyper::Momentum(v) => (0.0..1.0).contains(&v),
            Hyper::WeightDecay(v) => v.is_finite() && v >= 0.0,
            Hyper::BatchSize(v) => (1..=65_536).contains(&v),
            Hyper::EvalEvery(v) | Hyper::ProbeEvery(v) => v >= 1,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} = {} is out of range: {}",
                self.key(),
                self.value_text(),
                self.allowed()
            ))
        }
    }

    /// What [`Hyper::validate`] accepts, in words.
    pub fn allowed(&self) -> &'static str {
        match self {
            Hyper::LearningRate(_) => "a finite number > 0",
            Hyper::Momentum(_) => "a number in [0, 1)",
            Hyper::WeightDecay(_) => "a finite number >= 0",
            Hyper::BatchSize(_) => "an integer in 1..=65536",
            Hyper::EvalEvery(_) | Hyper::ProbeEvery(_) => "an integer >= 1",
        }
    }

    pub fn value_text(&self) -> String {
        match *self {
            Hyper::LearningRate(v) | Hyper::Momentum(v) | Hyper::WeightDecay(v) => format!("{v}"),
            Hyper::BatchSize(v) => format!("{v}"),
            Hyper::EvalEvery(v) | Hyper::ProbeEvery(v) => format!("{v}"),
        }
    }
}

/// UI or script → trainer. Applied at step boundaries only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Pause,
    Resume,
    /// Run this many steps, then pause again (only meaningful while paused).
    Step {
        steps: u32,
    },
    Set {
        hyper: Hyper,
    },
    /// Close the current depth with a summary row and start both nets fresh at this depth.
    SetDepth {
        depth: usize,
    },
    /// Both nets fresh at the current depth, hyperparameters kept, its steps discarded (no
    /// summary row): after a net's weights overflowed, or to rerun it at another learning rate.
    Restart,
    Checkpoint,
    Quit,
}

impl Command {
    /// The command in a few words, for a log line (`pause`, `optim.lr = 0.05`, `depth 56`).
    pub fn describe(&self) -> String {
        match self {
            Command::Pause => "pause".into(),
            Command::Resume => "resume".into(),
            Command::Step { steps } => format!("step {steps}"),
            Command::Set { hyper } => format!("{} = {}", hyper.key(), hyper.value_text()),
            Command::SetDepth { depth } => format!("depth {depth}"),
            Command::Restart => "restart the depth".into(),
            Command::Checkpoint => "checkpoint".into(),
            Command::Quit => "stop".into(),
        }
    }
}

/// What the trainer is doing, as shown in the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Building models and compiling kernels for the first step.
    WarmingUp,
    Running,
    Paused,
    /// Running a fixed number of steps requested while paused.
    Stepping,
    Checkpointing,
    /// Stopped by a fault (non-finite loss, data error); waiting for a command.
    Faulted,
    /// `max_steps` reached at this depth; waiting for a command.
    Finished,
}

/// Hyperparameters as currently in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HyperState {
    /// Base learning rate (before the schedule).
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub eval_every: u64,
    pub probe_every: u64,
    /// Steps (at this depth) where the learning rate is multiplied by `gamma`.
    pub milestones: Vec<u64>,
    pub gamma: f64,
    pub warmup_steps: u64,
    pub warmup_lr: f64,
}

/// Sent once per depth when the nets are (re)built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub backend: String,
    pub device: String,
    pub dataset: String,
    /// `[channels, height, width]` of one input image.
    pub input_shape: [usize; 3],
    pub classes: usize,
    pub train_len: usize,
    pub test_len: usize,
    pub depth: usize,
    pub width: usize,
    pub shortcut: String,
    /// Trainable parameters of the plain and residual net.
    pub params: [usize; 2],
    pub blocks: usize,
    /// Per-depth step limit (0 = none).
    pub max_steps: u64,
    pub hyper: HyperState,
    /// Global step at which this depth started.
    pub start_step: u64,
}

/// Loss and accuracy of one net on one batch or one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub loss: f64,
    /// Fraction correct, 0..=1.
    pub accuracy: f64,
}

/// One optimisation step of both nets on the same batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Global step (monotonic across depth changes), counted after the step.
    pub step: u64,
    pub epoch: u64,
    /// Effective learning rate used in this step.
    pub lr: f64,
    pub batch_size: usize,
    /// `[plain, residual]`.
    pub scores: [Score; 2],
    /// Wall time of the whole step (both nets, data included), milliseconds.
    pub step_ms: f64,
}

/// Held-out evaluation of both nets, in eval mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub step: u64,
    pub scores: [Score; 2],
    pub samples: usize,
}

/// A change the trainer applied, with the step from which it is in force (a chart marker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Hyper {
        hyper: Hyper,
    },
    Depth {
        from: usize,
        to: usize,
    },
    /// Both nets started afresh at this depth ([`Command::Restart`]).
    Restarted {
        depth: usize,
    },
    Resumed {
        from: String,
    },
}

/// Gradient flow through one block on a probe step (DESIGN §4). Magnitudes are RMS × batch
/// size; `None` where the quantity does not exist (no shortcut in the plain net).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockFlow {
    /// 0-based block index, input side first.
    pub block: usize,
    /// 0, 1 or 2.
    pub stage: usize,
    /// sqrt(mean(y_b²)) of the block output.
    pub activation_rms: f64,
    /// |dL/dx_b|: the total gradient at the block input.
    pub total: f64,
    /// The part of dL/dx_b that flows back through the residual branch F_b (residual net).
    pub branch: Option<f64>,
    /// The part of dL/dx_b that flows back through the shortcut S_b (residual net).
    pub shortcut: Option<f64>,
    /// |dL/ds_b| at the pre-activation sum.
    pub sum: f64,
    /// L2 norm of the gradient of the block's parameters.
    pub param_grad_norm: f64,
    /// ‖Δw‖ / ‖w‖ of the block's parameters for the update the optimiser applied.
    pub update_ratio: f64,
}

/// Gradient flow through one net on one probe step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub step: u64,
    pub net: Net,
    /// |dL/d(input images)|: what reaches the stem.
    pub input_grad: f64,
    /// |dL/d(pooled features)|: what leaves the classifier.
    pub classifier_grad: f64,
    pub blocks: Vec<BlockFlow>,
}

/// One row of the degradation table: a depth as it was when the user left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthSummary {
    pub depth: usize,
    pub steps: u64,
    /// Error in percent on a fixed training subset, eval mode, `[plain, residual]`.
    pub train_error: [f64; 2],
    /// Error in percent on the test split, eval mode, `[plain, residual]`.
    pub test_error: [f64; 2],
}

/// Why training stopped on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    NonFinite {
        net: Net,
        step: u64,
        loss: f64,
        /// The net's weights (or running statistics) are no longer finite: its last update
        /// overflowed, and no learning rate can train on from them. Absent in older logs.
        #[serde(default)]
        weights_overflowed: bool,
    },
    /// The trainer could not start (e.g. a corrupt checkpoint).
    Setup {
        message: String,
    },
    Data {
        message: String,
    },
    Io {
        message: String,
    },
    Panic {
        message: String,
    },
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::NonFinite {
                net,
                step,
                loss,
                weights_overflowed,
            } => {
                let (what, advice) = if *weights_overflowed {
                    (
                        " and its weights overflowed",
                        "no learning rate trains on from them: restart the depth, or resume an earlier checkpoint",
                    )
                } else {
                    ("", "lower the learning rate")
                };
                let name = net.name();
                write!(
                    f,
                    "{name} net: loss became {loss} at step {step}{what}; training paused ({advice})"
                )
            }
            Fault::Setup { message } => write!(f, "cannot start training: {message}"),
            Fault::Data { message } => write!(f, "data error: {message}"),
            Fault::Io { message } => write!(f, "I/O error: {message}"),
            Fault::Panic { message } => write!(f, "trainer panicked: {message}"),
        }
    }
}

/// Trainer → consumers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started(RunInfo),
    State {
        step: u64,
        state: RunState,
    },
    Step(StepReport),
    Eval(EvalReport),
    Probe(ProbeReport),
    Changed {
        step: u64,
        change: Change,
    },
    Checkpointed {
        step: u64,
        path: String,
    },
    DepthSummary(DepthSummary),
    Fault(Fault),
    Warning {
        message: String,
    },
    /// The trainer thread has exited; no more events follow.
    Stopped,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// [`SCHEMA_VERSION`].
    pub v: u32,
    /// Seconds since the run started.
    pub t: f64,
    #[serde(flatten)]
    pub event: Event,
}
