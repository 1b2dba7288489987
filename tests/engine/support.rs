//! Tiny seeded runs shared by the tests.

use std::sync::Arc;
use std::time::Duration;

use resdash::config::Config;
use resdash::data;
use resdash::protocol::{Command, Event, RunState};
use resdash::train::{TrainerHandle, TrainerSetup, spawn};

/// Depth 8, 8x8 synthetic images, batch 8: a few steps take well under a second.
pub fn tiny_config() -> Config {
    Config::from_toml(
        r"
        [model]
        depth = 8
        [data]
        image_size = 8
        synthetic_train = 256
        synthetic_test = 64
        [optim]
        lr = 0.05
        [run]
        batch_size = 16
        eval_every = 1000
        train_eval_size = 64
        ",
        "tiny test config",
        &[],
    )
    .expect("tiny config is valid")
}

pub fn setup(
    config: Config,
    run_dir: &std::path::Path,
    resume: Option<std::path::PathBuf>,
) -> TrainerSetup {
    let data = data::load(&config).expect("synthetic data loads");
    TrainerSetup {
        config,
        data: Arc::new(data),
        run_id: "test".into(),
        run_dir: run_dir.to_path_buf(),
        resume,
    }
}

/// Receives events until `until` says stop (or the trainer stops); panics after a timeout.
pub fn collect(handle: &mut TrainerHandle, mut until: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "trainer did not finish in time: {events:#?}"
        );
        let event = handle
            .events
            .blocking_recv()
            .expect("trainer sends Stopped before closing");
        let stop = until(&event) || event == Event::Stopped;
        events.push(event);
        if stop {
            return events;
        }
    }
}

/// `event` says the trainer entered `state`.
pub fn entered(event: &Event, state: RunState) -> bool {
    matches!(event, Event::State { state: s, .. } if *s == state)
}

pub fn is_finished(event: &Event) -> bool {
    matches!(
        event,
        Event::State {
            state: RunState::Finished,
            ..
        }
    )
}

/// Runs `config` until its step limit, then quits; returns every event.
pub fn run_to_limit(
    config: Config,
    run_dir: &std::path::Path,
    resume: Option<std::path::PathBuf>,
) -> Vec<Event> {
    let mut handle = spawn(setup(config, run_dir, resume)).expect("trainer starts");
    let mut events = collect(&mut handle, |e| {
        is_finished(e) || matches!(e, Event::Fault(_))
    });
    // The trainer may already have stopped (e.g. after a setup fault).
    let _ = handle.commands.send(Command::Quit);
    events.extend(collect(&mut handle, |_| false));
    handle.thread.join().expect("trainer thread exits cleanly");
    events
}

/// `(step, [plain loss, residual loss])` of every step event.
pub fn losses(events: &[Event]) -> Vec<(u64, [f64; 2])> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some((s.step, [s.scores[0].loss, s.scores[1].loss])),
            _ => None,
        })
        .collect()
}
