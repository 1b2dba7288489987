//! Headless runs: the trainer with no UI. Every event goes to `metrics.jsonl` (and, with
//! `--jsonl`, to stdout); compact progress lines go to stderr. Stops at the step limit, at
//! `--max-time`, on Ctrl-C, or on a fault.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::progress::Progress;
use crate::protocol::{Command, Event, Fault, RunState};
use crate::remote::ControlServer;
use crate::runlog::RunLog;
use crate::train::TrainerHandle;
use crate::train::checkpoint::{self, HOW_TO_LEAVE_ONE};
use tokio::signal::unix::{Signal, SignalKind, signal};

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

/// Writes one line to stderr; a closed or hung-up terminal loses the line, never the run.
pub fn say(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Drives the trainer until it stops. `on_event` sees every event first and may send commands
/// (the sweep uses it to move to the next depth); it returns `true` to ask for a stop. With
/// `control`, what clients of the run's socket asked for is reported on stderr.
///
/// Ctrl-C and SIGTERM stop the run after its current step; SIGHUP (the terminal or the SSH
/// connection went away) does not: training goes on, into `metrics.jsonl`.
pub async fn drive(
    mut handle: TrainerHandle,
    mut log: RunLog,
    options: &HeadlessOptions,
    mut control: Option<ControlServer>,
    mut on_event: impl FnMut(&Event, &std::sync::mpsc::Sender<Command>) -> bool,
) -> Outcome {
    let started = Instant::now();
    let mut deadline = options.max_time.map(|t| tokio::time::Instant::now() + t);
    let mut progress = Progress::new(options.flow_every);
    let mut outcome = Outcome::Done;
    let mut log_failed = false;
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    let stdout = std::io::stdout();
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let stop = |why: String| {
            say(format_args!("stop   {why}"));
            let _ = handle.commands.send(Command::Quit);
        };
        let event = tokio::select! {
            event = handle.events.recv() => event,
            () = sleep => {
                deadline = None;
                stop(format!("--max-time reached after {:.1} s", started.elapsed().as_secs_f64()));
                continue;
            }
            _ = tokio::signal::ctrl_c() => {
                stop("interrupted".into());
                continue;
            }
            () = next_signal(&mut terminate) => {
                stop("terminated (SIGTERM)".into());
                continue;
            }
            () = next_signal(&mut hangup) => {
                say(format_args!(
                    "note   the terminal hung up; training goes on (resdash watch {} shows it)",
                    log.dir().display()
                ));
                continue;
            }
            command = ControlServer::heard(&mut control) => {
                if options.progress {
                    say(format_args!("ctrl   from another terminal: {}", command.describe()));
                }
                continue;
            }
        };
        let Some(event) = event else { break };
        let line = log.stamp(&event);
        if let Err(e) = log.write_line(&line) {
            if !log_failed {
                say(format_args!(
                    "warn   cannot write {}: {e}",
                    log.path().display()
                ));
                log_failed = true;
            }
        }
        if options.jsonl {
            // The same line as metrics.jsonl's: a script can check the schema version.
            let mut out = stdout.lock();
            let _ = serde_json::to_writer(&mut out, &line).map(|()| writeln!(out));
        }
        if options.progress {
            if let Some(line) = progress.line(&event, Instant::now()) {
                say(line);
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
    if options.progress {
        for command in ControlServer::unreported(&mut control) {
            say(format_args!(
                "ctrl   from another terminal: {}",
                command.describe()
            ));
        }
    }
    drop(control);
    let _ = handle.thread.join();
    outcome
}

/// Resolves at the signal's next delivery; never, without a handler.
async fn next_signal(signal: &mut Option<Signal>) {
    if let Some(s) = signal.as_mut() {
        if s.recv().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// A plain headless run: stop when the step limit is reached. It serves the run's control
/// socket, so `resdash watch runs/<id>` in another terminal can steer it.
pub async fn run(handle: TrainerHandle, log: RunLog, options: &HeadlessOptions) -> Outcome {
    // Said once the trainer has started: a start refused (a damaged checkpoint) removes the
    // run directory this would name.
    let mut announce = None;
    let control = match ControlServer::for_run(log.dir(), &handle.commands) {
        Ok(server) => {
            announce = Some(format!(
                "ctrl   resdash watch {} shows and steers this run",
                log.dir().display()
            ));
            Some(server)
        }
        Err(message) => {
            say(format_args!("warn   {message}"));
            None
        }
    };
    let dir = log.dir().to_path_buf();
    let mut finished = false;
    let outcome = drive(handle, log, options, control, |event, _| {
        if let (Event::Started(_), Some(line)) = (event, &announce) {
            say(line);
            announce = None;
        }
        finished |= matches!(
            event,
            Event::State {
                state: RunState::Finished,
                ..
            }
        );
        true
    })
    .await;
    // Ctrl-C, SIGTERM, --max-time or `Q` from a watcher, not the step limit.
    if outcome == Outcome::Done && !finished {
        say(stopped_early(&dir, checkpoint::run_has_one(&dir), true));
    }
    outcome
}

/// What a run stopped before its step limit says: how to go on from there, in the front end it
/// ran in (`headless`: `--headless` goes into the command; the dashboard's `c` saves a checkpoint).
pub fn stopped_early(run_dir: &std::path::Path, has_checkpoint: bool, headless: bool) -> String {
    if has_checkpoint {
        format!(
            "note   stopped before its step limit; go on from its newest checkpoint with: \
             resdash {}--resume {}",
            if headless { "--headless " } else { "" },
            run_dir.display()
        )
    } else {
        format!(
            "note   stopped before its step limit and left no checkpoint to go on from \
             ({}{HOW_TO_LEAVE_ONE})",
            if headless { "" } else { "c saves one; " }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::stopped_early;
    use std::path::Path;

    #[test]
    fn the_stop_note_names_the_front_end_the_run_goes_on_in() {
        let run = Path::new("runs/20261207-1");
        assert!(
            stopped_early(run, true, true)
                .ends_with("checkpoint with: resdash --headless --resume runs/20261207-1")
        );
        assert!(
            stopped_early(run, true, false)
                .ends_with("checkpoint with: resdash --resume runs/20261207-1")
        );
        assert!(
            stopped_early(run, false, true)
                .ends_with("(--set run.checkpoint_every=N leaves one every N steps)")
        );
        assert!(
            stopped_early(run, false, false)
                .ends_with("(c saves one; --set run.checkpoint_every=N leaves one every N steps)")
        );
    }
}
