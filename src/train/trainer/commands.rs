//! Commands, applied between steps: pause/resume/step, hyperparameters, depth, checkpoint.

use super::Trainer;
use crate::backend::TrainBackend;
use crate::data::{Cursor, Sampler};
use crate::protocol::{Change, Command, Event, Hyper, RunState};

impl<B: TrainBackend> Trainer<B> {
    /// Applies one command; `false` means stop.
    #[allow(clippy::needless_pass_by_value)] // commands are consumed one by one off the channel
    pub(super) fn apply(&mut self, command: Command) -> bool {
        match command {
            Command::Quit => return false,
            Command::Pause => {
                if !matches!(self.state, RunState::Faulted | RunState::Finished) {
                    self.set_state(RunState::Paused);
                }
            }
            Command::Resume => {
                if self.is_waiting() && !self.at_step_limit() {
                    self.set_state(RunState::Running);
                }
            }
            Command::Step { steps } => {
                if self.is_waiting() && steps > 0 && !self.at_step_limit() {
                    self.steps_left = steps;
                    self.set_state(RunState::Stepping);
                }
            }
            Command::Set { hyper } => self.set_hyper(hyper),
            Command::SetDepth { depth } => self.change_depth(depth),
            Command::Restart => self.restart_depth(),
            Command::Checkpoint => self.checkpoint(),
        }
        true
    }

    pub(super) fn at_step_limit(&self) -> bool {
        self.config.run.max_steps > 0 && self.depth_step() >= self.config.run.max_steps
    }

    pub(super) fn set_hyper(&mut self, hyper: Hyper) {
        if let Err(message) = hyper.validate() {
            self.events.emit(Event::Warning {
                message: format!("ignored: {message}"),
            });
            return;
        }
        match hyper {
            Hyper::LearningRate(v) => self.hyper.lr = v,
            Hyper::Momentum(v) => self.hyper.momentum = v,
            Hyper::WeightDecay(v) => self.hyper.weight_decay = v,
            Hyper::BatchSize(v) => self.hyper.batch_size = v,
            Hyper::EvalEvery(v) => self.hyper.eval_every = v,
            Hyper::ProbeEvery(v) => self.hyper.probe_every = v,
        }
        if matches!(hyper, Hyper::Momentum(_) | Hyper::WeightDecay(_)) {
            let (momentum, weight_decay) = (self.hyper.momentum, self.hyper.weight_decay);
            for net in &mut self.nets {
                net.reconfigure(momentum, weight_decay);
            }
        }
        self.events.emit(Event::Changed {
            step: self.step,
            change: Change::Hyper { hyper },
        });
    }

    pub(super) fn change_depth(&mut self, depth: usize) {
        if depth < 8 || (depth - 2) % 6 != 0 {
            self.events.emit(Event::Warning {
                message: format!("ignored: depth {depth} is not 6n+2 (8, 14, 20, 32, 44, 56, 110)"),
            });
            return;
        }
        if !self.summarized && self.depth_step() > 0 {
            self.summarize();
        }
        let from = self.config.model.depth;
        self.start_afresh(depth, Change::Depth { from, to: depth });
    }

    pub(super) fn restart_depth(&mut self) {
        if self.depth_step() == 0 {
            self.events.emit(Event::Warning {
                message: format!(
                    "ignored: depth {} has made no step since it started",
                    self.config.model.depth
                ),
            });
            return;
        }
        let depth = self.config.model.depth;
        self.start_afresh(depth, Change::Restarted { depth });
    }

    /// Fresh nets at `depth`, the batches from their start again. A fault belonged to the nets
    /// it replaces: the new ones wait, paused, for the user (who may first lower the learning
    /// rate that caused it); a finished depth's successor runs.
    fn start_afresh(&mut self, depth: usize, change: Change) {
        self.config.model.depth = depth;
        self.nets = self.fresh_nets();
        self.sampler = Sampler::new(
            self.config.run.seed,
            self.data.train.len(),
            Cursor::default(),
        );
        self.depth_start_step = self.step;
        self.summarized = false;
        self.events.emit(Event::Changed {
            step: self.step,
            change,
        });
        self.events.emit(Event::Started(self.info()));
        match self.state {
            RunState::Finished => self.set_state(RunState::Running),
            RunState::Faulted => self.set_state(RunState::Paused),
            _ => {}
        }
    }
}
