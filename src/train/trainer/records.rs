//! What a trainer records besides steps: test evaluations, the depth summary row, checkpoints.

use super::Trainer;
use crate::backend::TrainBackend;
use crate::protocol::{DepthSummary, EvalReport, Event, Fault, RunState, Score};
use crate::train::checkpoint::{self, CHECKPOINT_SCHEMA, CheckpointError, CheckpointState};
use crate::train::eval::evaluate;
use crate::train::nets::NetState;

impl<B: TrainBackend> Trainer<B> {
    pub(super) fn eval_models(&self) -> Vec<crate::model::ResNet<B::InnerBackend>> {
        self.nets.iter().map(NetState::eval_model).collect()
    }

    pub(super) fn eval(&mut self) {
        let models = self.eval_models();
        let scores = evaluate(&models, &self.data, &self.data.test, 0, &self.device);
        self.events.emit(Event::Eval(EvalReport {
            step: self.step,
            scores: [scores[0], scores[1]],
            samples: self.data.test.len(),
        }));
    }

    /// Closes the current depth: train error on a fixed training subset and test error, both in
    /// eval mode.
    pub(super) fn summarize(&mut self) {
        let models = self.eval_models();
        let train = evaluate(
            &models,
            &self.data,
            &self.data.train,
            self.config.run.train_eval_size,
            &self.device,
        );
        let test = evaluate(&models, &self.data, &self.data.test, 0, &self.device);
        let error = |s: &Score| 100.0 * (1.0 - s.accuracy);
        let summary = DepthSummary {
            depth: self.config.model.depth,
            steps: self.depth_step(),
            train_error: [error(&train[0]), error(&train[1])],
            test_error: [error(&test[0]), error(&test[1])],
        };
        self.summaries.retain(|s| s.depth != summary.depth);
        self.summaries.push(summary.clone());
        self.summarized = true;
        self.events.emit(Event::DepthSummary(summary));
    }

    pub(super) fn checkpoint(&mut self) {
        let previous = self.state;
        self.set_state(RunState::Checkpointing);
        let state = CheckpointState {
            schema: CHECKPOINT_SCHEMA,
            run_id: self.run_id.clone(),
            step: self.step,
            depth_start_step: self.depth_start_step,
            cursor: self.sampler.cursor(),
            hyper: self.hyper.clone(),
            config: self.config.clone(),
            summaries: self.summaries.clone(),
        };
        let parent = self.run_dir.join("checkpoints");
        let result = std::fs::create_dir_all(&parent)
            .map_err(|e| CheckpointError::Write {
                path: parent.clone(),
                problem: e.to_string(),
            })
            .and_then(|()| {
                checkpoint::save(
                    &parent,
                    &format!("step-{:06}", self.step),
                    &state,
                    &self.nets,
                )
            });
        match result {
            Ok(path) => self.events.emit(Event::Checkpointed {
                step: self.step,
                path: path.display().to_string(),
            }),
            Err(e) => self.events.emit(Event::Fault(Fault::Io {
                message: e.to_string(),
            })),
        }
        self.set_state(previous);
    }
}
