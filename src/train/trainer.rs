//! The training loop: both nets, same batches, commands applied between steps, every change
//! echoed as an [`Event`]. Runs on its own OS thread (see `spawn`); while paused it blocks on the
//! command channel, and it returns when that channel closes or `Quit` arrives. Commands are in
//! `trainer/commands.rs`; evaluations, depth summaries and checkpoints in `trainer/records.rs`.

mod commands;
mod records;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use super::checkpoint::{self, CheckpointError, CheckpointState};
use super::eval::batch_tensors;
use super::events::Events;
use super::nets::{NetState, forward_backward_all, read_back};
use super::prefetch::Prefetcher;
use super::probe;
use super::schedule::learning_rate;
use crate::backend::TrainBackend;
use crate::config::Config;
use crate::data::{Cursor, Dataset, Sampler};
use crate::model::{Layout, ResNetConfig};
use crate::protocol::{
    Change, Command, DepthSummary, Event, Fault, HyperState, Net, RunInfo, RunState, Score,
    StepReport,
};

/// What a trainer is started with.
#[derive(Debug, Clone)]
pub struct TrainerSetup {
    pub config: Config,
    pub data: Arc<Dataset>,
    pub run_id: String,
    /// `runs/<id>`: checkpoints go to its `checkpoints/`.
    pub run_dir: PathBuf,
    /// Continue from this checkpoint directory.
    pub resume: Option<PathBuf>,
}

pub struct Trainer<B: TrainBackend> {
    config: Config,
    data: Arc<Dataset>,
    run_id: String,
    run_dir: PathBuf,
    device: B::Device,
    backend: &'static str,
    nets: Vec<NetState<B>>,
    hyper: HyperState,
    sampler: Sampler,
    prefetch: Prefetcher,
    /// Global step: steps done so far, over all depths.
    step: u64,
    depth_start_step: u64,
    summaries: Vec<DepthSummary>,
    state: RunState,
    /// Steps left of a `Step` command.
    steps_left: u32,
    /// The current depth already has its summary row (it finished).
    summarized: bool,
    /// The checkpoint this run continues, announced once at start.
    resumed_from: Option<PathBuf>,
    /// Batch sizes trained so far in this process: a GPU backend compiles and autotunes kernels
    /// for each new shape, so the first step at a new size is shown as warming up.
    warm_batch_sizes: Vec<usize>,
    events: Events,
    commands: Receiver<Command>,
}

impl<B: TrainBackend> Trainer<B> {
    pub fn new(
        setup: TrainerSetup,
        device: B::Device,
        backend: &'static str,
        events: Events,
        commands: Receiver<Command>,
    ) -> Result<Self, CheckpointError> {
        let TrainerSetup {
            config,
            data,
            run_id,
            run_dir,
            resume,
        } = setup;
        let hyper = hyper_from(&config);
        let mut trainer = Trainer {
            sampler: Sampler::new(config.run.seed, data.train.len(), Cursor::default()),
            prefetch: Prefetcher::new(
                Arc::clone(&data),
                Layout::preferred::<B>() == Layout::ChannelsLast,
            ),
            nets: Vec::new(),
            config,
            data,
            run_id,
            run_dir,
            device,
            backend,
            hyper,
            step: 0,
            depth_start_step: 0,
            summaries: Vec::new(),
            state: RunState::WarmingUp,
            steps_left: 0,
            summarized: false,
            resumed_from: None,
            warm_batch_sizes: Vec::new(),
            events,
            commands,
        };
        match resume {
            Some(dir) => trainer.restore(&dir)?,
            None => trainer.nets = trainer.fresh_nets(),
        }
        Ok(trainer)
    }

    fn restore(&mut self, dir: &std::path::Path) -> Result<(), CheckpointError> {
        let state = CheckpointState::read(dir)?;
        state.fits(dir, &self.config)?;
        self.nets = checkpoint::load_nets::<B>(dir, &self.net_configs(), &state, &self.device)?;
        self.hyper = state.hyper;
        self.step = state.step;
        self.depth_start_step = state.depth_start_step;
        self.sampler = Sampler::new(self.config.run.seed, self.data.train.len(), state.cursor);
        self.summaries = state.summaries;
        // A checkpoint written after the depth's summary row (at its step limit) must not have
        // that row written again.
        self.summarized = self
            .summaries
            .iter()
            .any(|s| s.depth == self.config.model.depth && s.steps == self.depth_step());
        self.run_id = state.run_id;
        self.resumed_from = Some(dir.to_path_buf());
        Ok(())
    }

    fn net_configs(&self) -> [ResNetConfig; 2] {
        let m = &self.config.model;
        let [c, _, _] = self.data.shape;
        Net::BOTH.map(|net| ResNetConfig {
            depth: m.depth,
            width: m.width,
            shortcut: m.shortcut,
            residual: net == Net::Residual,
            in_channels: c,
            classes: self.data.classes,
        })
    }

    fn fresh_nets(&self) -> Vec<NetState<B>> {
        self.net_configs()
            .iter()
            .map(|c| {
                NetState::new(
                    c,
                    self.config.run.seed,
                    self.hyper.momentum,
                    self.hyper.weight_decay,
                    &self.device,
                )
            })
            .collect()
    }

    fn depth_step(&self) -> u64 {
        self.step - self.depth_start_step
    }

    fn info(&self) -> RunInfo {
        let m = &self.config.model;
        RunInfo {
            run_id: self.run_id.clone(),
            backend: self.backend.into(),
            device: format!("{:?}", self.device),
            dataset: self.data.name.clone(),
            input_shape: self.data.shape,
            classes: self.data.classes,
            train_len: self.data.train.len(),
            test_len: self.data.test.len(),
            depth: m.depth,
            width: m.width,
            shortcut: format!("{:?}", m.shortcut),
            params: [0, 1].map(|i| self.nets[i].model.trainable_params()),
            blocks: self.nets[0].model.blocks().len(),
            max_steps: self.config.run.max_steps,
            hyper: self.hyper.clone(),
            start_step: self.depth_start_step,
        }
    }

    fn set_state(&mut self, state: RunState) {
        if self.state != state {
            self.state = state;
            self.events.emit(Event::State {
                step: self.step,
                state,
            });
        }
    }

    /// The step limit: the depth's summary row (once), then `Finished`.
    fn finish(&mut self) {
        if !self.summarized {
            self.summarize();
        }
        self.set_state(RunState::Finished);
    }

    fn is_waiting(&self) -> bool {
        matches!(
            self.state,
            RunState::Paused | RunState::Faulted | RunState::Finished
        )
    }

    /// Runs until `Quit` or until the command channel closes.
    pub fn run(mut self) {
        self.events.emit(Event::Started(self.info()));
        if let Some(dir) = self.resumed_from.take() {
            let change = Change::Resumed {
                from: dir.display().to_string(),
            };
            self.events.emit(Event::Changed {
                step: self.step,
                change,
            });
            // The degradation table as it was, for whoever watches this run now.
            for summary in &self.summaries {
                self.events.emit(Event::DepthSummary(summary.clone()));
            }
        }
        if self.at_step_limit() {
            // Resumed at the step limit: finished, as the run was, not one step past it (and
            // not "warming up" for a step that will not come).
            self.finish();
        } else {
            self.events.emit(Event::State {
                step: self.step,
                state: self.state,
            });
        }
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(command) => {
                        if !self.apply(command) {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if self.is_waiting() {
                match self.commands.recv() {
                    Ok(command) => {
                        if self.apply(command) {
                            continue;
                        }
                        return;
                    }
                    Err(_) => return,
                }
            }
            self.train_step();
            self.after_step();
        }
    }

    fn train_step(&mut self) {
        let started = Instant::now();
        let draw = self.sampler.next_batch(self.hyper.batch_size);
        if self.state == RunState::Running && !self.warm_batch_sizes.contains(&draw.indices.len()) {
            self.set_state(RunState::WarmingUp);
        }
        let key = [self.config.run.seed, draw.epoch, draw.position];
        let batch = self.prefetch.take(&draw.indices, key);
        // Prepare the batch that comes next (unless a command changes it) while this one trains.
        let next = self.sampler.peek(self.hyper.batch_size);
        self.prefetch.request(
            next.indices,
            [self.config.run.seed, next.epoch, next.position],
        );
        let batch_size = batch.labels.len();
        let (images, labels) = batch_tensors::<B>(batch, &self.device);
        let lr = learning_rate(&self.hyper, self.depth_step());
        let probe_step = self.depth_step() % self.hyper.probe_every == 0;
        let mut passes = forward_backward_all(&self.nets, &images, &labels, probe_step);
        let stats = read_back(passes.iter().flat_map(|p| p.stats.clone()).collect());
        let scores: Vec<Score> = stats
            .chunks_exact(2)
            .map(|s| Score {
                loss: s[0],
                accuracy: s[1] / batch_size as f64,
            })
            .collect();
        if let Some((net, score)) = Net::BOTH
            .into_iter()
            .zip(&scores)
            .find(|(_, s)| !s.loss.is_finite())
        {
            self.events.emit(Event::Fault(Fault::NonFinite {
                net,
                step: self.step + 1,
                loss: score.loss,
                weights_overflowed: !self.nets[net.index()].weights_finite(),
            }));
            self.set_state(RunState::Faulted);
            return;
        }
        let pending = probe::collect_all(&self.nets, &mut passes);
        let nets = std::mem::take(&mut self.nets);
        self.nets = nets
            .into_iter()
            .zip(passes)
            .map(|(net, pass)| net.apply(lr, pass.grads))
            .collect();
        self.step += 1;
        // The probe read-back belongs to this step's time; its reports follow the step event.
        let reports = probe::reports(pending, &self.nets, self.step);
        self.events.emit(Event::Step(StepReport {
            step: self.step,
            epoch: draw.epoch,
            lr,
            batch_size,
            scores: [scores[0], scores[1]],
            step_ms: started.elapsed().as_secs_f64() * 1e3,
        }));
        for report in reports {
            self.events.emit(Event::Probe(report));
        }
        if !self.warm_batch_sizes.contains(&batch_size) {
            self.warm_batch_sizes.push(batch_size);
        }
        if self.state == RunState::WarmingUp {
            self.set_state(RunState::Running);
        }
    }

    fn after_step(&mut self) {
        if self.state == RunState::Faulted {
            return;
        }
        let depth_step = self.depth_step();
        if depth_step % self.hyper.eval_every == 0 {
            self.eval();
        }
        if self.config.run.checkpoint_every > 0
            && depth_step % self.config.run.checkpoint_every == 0
        {
            self.checkpoint();
        }
        if self.at_step_limit() {
            self.finish();
        } else if self.state == RunState::Stepping {
            self.steps_left = self.steps_left.saturating_sub(1);
            if self.steps_left == 0 {
                self.set_state(RunState::Paused);
            }
        }
    }
}

pub(crate) fn hyper_from(config: &Config) -> HyperState {
    HyperState {
        lr: config.optim.lr,
        momentum: config.optim.momentum,
        weight_decay: config.optim.weight_decay,
        batch_size: config.run.batch_size,
        eval_every: config.run.eval_every,
        probe_every: config.run.probe_every,
        milestones: config.optim.milestones.clone(),
        gamma: config.optim.gamma,
        warmup_steps: config.optim.warmup_steps,
        warmup_lr: config.optim.warmup_lr,
    }
}
