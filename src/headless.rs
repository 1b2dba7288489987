//! Headless runs: the trainer with no UI. Every event goes to `metrics.jsonl` (and, with
//! `--jsonl`, to stdout); compact progress lines go to stderr. Stops at the step limit, at
//! `--max-time`, on Ctrl-C, or on a fault.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::progress::Progress;
use crate::protocol::{Command, Event, Fault, RunState};
use crate::runlog::RunLog;
use crate::train::TrainerHandle;

/// How a headless run ended; maps to the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Step limit, time limit or Ctrl-C.
    Done,
    /// Training faulted (non-finite loss, I/O, panic): exit 1.
    Fault,
    /// Could not start (e.g. corrupt checkpoint): exit 2.
    Setup,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Fault => 1,
            Outcome::Setup => 2,
        }
    }
}

pub struct HeadlessOptions {
    pub max_time: Option<Duration>,
    pub jsonl: bool,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Gradient-flow lines every this many probe steps (0 = never).
    pub flow_every: u64,
}

/// Drives the trainer until it stops. `on_event` sees every event first and may send commands
/// (the sweep uses it to move to the next depth); it returns `true` to ask for a stop.
pub async fn drive(
    mut handle: TrainerHandle,
    mut log: RunLog,
    options: &HeadlessOptions,
    mut on_event: impl FnMut(&Event, &std::sync::mpsc::Sender<Command>) -> bool,
) -> Outcome {
    let started = Instant::now();
    let deadline = options.max_time.map(|t| tokio::time::Instant::now() + t);
    let mut progress = Progress::new(options.flow_every);
    let mut outcome = Outcome::Done;
    let mut log_failed = false;
    let stdout = std::io::stdout();
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = handle.events.recv() => event,
            () = sleep => {
                eprintln!("stop   --max-time reached after {:.1} s", started.elapsed().as_secs_f64());
                let _ = handle.commands.send(Command::Quit);
                handle.events.recv().await
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stop   interrupted");
                let _ = handle.commands.send(Command::Quit);
                handle.events.recv().await
            }
        };
        let Some(event) = event else { break };
        if let Err(e) = log.write(&event) {
            if !log_failed {
                eprintln!("warn   cannot write {}: {e}", log.path().display());
                log_failed = true;
            }
        }
        if options.jsonl {
            let mut out = stdout.lock();
            let _ = serde_json::to_writer(&mut out, &event).map(|()| writeln!(out));
        }
        if options.progress {
            if let Some(line) = progress.line(&event, Instant::now()) {
                eprintln!("{line}");
            }
        }
        let stop = on_event(&event, &handle.commands);
        match &event {
            Event::Fault(Fault::Setup { .. }) => outcome = Outcome::Setup,
            Event::Fault(_) => {
                outcome = Outcome::Fault;
                let _ = handle.commands.send(Command::Quit);
            }
            Event::State {
                state: RunState::Finished,
                ..
            } if stop => {
                let _ = handle.commands.send(Command::Quit);
            }
            Event::Stopped => break,
            _ => {}
        }
    }
    let _ = handle.thread.join();
    outcome
}

/// A plain headless run: stop when the step limit is reached.
pub async fn run(handle: TrainerHandle, log: RunLog, options: &HeadlessOptions) -> Outcome {
    drive(handle, log, options, |_, _| true).await
}
