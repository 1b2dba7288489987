//! The interactive dashboard: one `tokio::select!` over key presses, trainer events (or, for
//! `watch`, the lines another process appends to a run's log) and a frame timer. Redraws at
//! most `ui.fps` times a second and only when something changed; restores the terminal on every
//! exit path (quit, Ctrl-C, SIGTERM, panic in any thread). When the terminal hangs up, the run
//! trains on without it (see [`run`]).

use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::control::{Reaction, View, Watching};
use crate::detach;
use crate::headless::{self, HeadlessOptions, Outcome};
use crate::protocol::{Command, Event, Fault, RunState};
use crate::remote::{ControlClient, ControlServer};
use crate::runlog::RunLog;
use crate::runlog::follow::Follower;
use crate::state::{Dashboard, Level};
use crate::train::{TrainerHandle, checkpoint};
use crate::ui::{self, Theme};

mod output;
use output::{Output, OutputState};

/// The dashboard's terminal, written through [`Output`]'s thread.
type Screen = Terminal<CrosstermBackend<Output>>;

/// How long to wait for the trainer to finish its step after `q` before leaving anyway.
const QUIT_GRACE: Duration = Duration::from_secs(10);
/// How long leaving waits for the terminal to take the last frame before restoring it.
const LAST_FRAME: Duration = Duration::from_secs(1);
/// How often `watch` looks for new lines in the run's log.
const WATCH_POLL: Duration = Duration::from_millis(250);

/// Puts the terminal back the way it was; safe to call more than once.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// Restores the terminal when dropped, so an early return or unwind cannot leave it raw; the
/// writing thread is stopped first, so that no frame lands after the restore.
struct TerminalGuard(OutputState);

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.0.close(LAST_FRAME);
        restore_terminal();
    }
}

fn setup_terminal() -> std::io::Result<(Screen, OutputState, TerminalGuard)> {
    let (output, state) = Output::spawn(std::io::stdout())?;
    // Restore before a panic message is printed, from whichever thread panics.
    let previous = std::panic::take_hook();
    let writer = state.clone();
    std::panic::set_hook(Box::new(move |info| {
        writer.close(LAST_FRAME);
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard(state.clone());
    execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    let terminal = Terminal::new(CrosstermBackend::new(output))?;
    Ok((terminal, state, guard))
}

/// Runs the dashboard, starting from `dash` (empty, or a resumed run's past), until the user
/// quits or the trainer stops for good. If the terminal goes away (a dropped SSH connection)
/// while the run is running or paused, the run goes on as a headless one would: into its log,
/// steered through its control socket (`resdash watch runs/<id>`), until its step limit or a
/// stop. Where crossterm reads keys from a terminal other than standard input, which this
/// process cannot take from it, the run stops with the terminal instead.
pub async fn run(
    mut handle: TrainerHandle,
    mut log: RunLog,
    fps: u32,
    theme: Theme,
    mut view: View,
    mut dash: Dashboard,
) -> std::io::Result<Outcome> {
    // Asked now: once the terminal has hung up, this no longer says where crossterm reads keys.
    let keys_from_stdin = detach::stdin_is_terminal();
    let (mut terminal, output, guard) = setup_terminal()?;
    let mut keys = EventStream::new();
    let mut frame = frame_timer(fps);
    let mut terminate = unix_signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = unix_signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut outcome = Outcome::Done;
    // The newest fault, said again once the terminal is back: one that stops the trainer (a
    // checkpoint that cannot be loaded) ends the dashboard before a frame could show it.
    let mut fault: Option<Fault> = None;
    let mut quit_deadline: Option<tokio::time::Instant> = None;
    let mut log_failed = false;
    let mut lost_terminal = false;
    // A SIGHUP says the terminal is gone for sure; a failed draw or key read may not.
    let mut hung_up = false;
    // Other terminals steer this run through its control socket (`resdash watch runs/<id>`).
    let mut control = match ControlServer::for_run(log.dir(), &handle.commands) {
        Ok(server) => {
            dash.note(
                Level::Info,
                format!("other terminals: resdash watch {}", log.dir().display()),
            );
            Some(server)
        }
        Err(message) => {
            dash.note(Level::Warning, message);
            None
        }
    };

    loop {
        let grace = async {
            match quit_deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = handle.events.recv() => {
                let Some(event) = event else { break };
                if let Err(e) = log.write(&event) {
                    if !log_failed {
                        dash.note(Level::Warning, format!("cannot write {}: {e}", log.path().display()));
                        log_failed = true;
                    }
                }
                dash.apply(&event);
                match &event {
                    Event::Fault(Fault::Setup { .. }) => outcome = Outcome::Setup,
                    Event::Fault(Fault::Panic { .. } | Fault::Io { .. }) => outcome = Outcome::Fault,
                    Event::Stopped if quit_deadline.is_some() => break,
                    _ => {}
                }
                if let Event::Fault(f) = event {
                    fault = Some(f);
                }
            }
            event = keys.next() => match input(event.as_ref(), &mut view, &mut dash) {
                Input::Key(Reaction::Send(command)) => {
                    if handle.commands.send(command).is_err() {
                        dash.note(Level::Warning, "the trainer has stopped; q quits");
                    }
                }
                Input::Key(Reaction::Quit | Reaction::Stop) => {
                    if dash.stopped {
                        break;
                    }
                    let _ = handle.commands.send(Command::Quit);
                    dash.note(Level::Info, "quitting after the current step…");
                    quit_deadline.get_or_insert_with(|| tokio::time::Instant::now() + QUIT_GRACE);
                }
                Input::Key(Reaction::Nothing) | Input::Other => {}
                Input::Closed => {
                    lost_terminal = true;
                    break;
                }
            },
            command = ControlServer::heard(&mut control) => {
                let note = format!("from another terminal: {}", command.describe());
                dash.note(Level::Info, note);
            }
            _ = frame.tick() => {
                if draw_if_dirty(&mut terminal, &output, &mut dash, &view, theme).is_err() {
                    lost_terminal = true;
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                lost_terminal = true;
                hung_up = true;
                break;
            }
            () = grace => break,
        }
    }
    if lost_terminal {
        // ratatui's Drop would try to show the cursor on the lost terminal and report the
        // failure with `eprintln!`, which panics when stderr is that terminal too.
        std::mem::forget(terminal);
        drop(keys);
        let trains_on = (hung_up || detach::terminal_hung_up())
            && quit_deadline.is_none()
            && matches!(
                dash.state,
                RunState::WarmingUp
                    | RunState::Running
                    | RunState::Paused
                    | RunState::Stepping
                    | RunState::Checkpointing
            );
        if trains_on && keys_from_stdin && detach::let_go_of_terminal().is_ok() {
            let options = HeadlessOptions {
                max_time: None,
                jsonl: false,
                progress: false,
                flow_every: 0,
            };
            let headless = headless::drive(handle, log, &options, control, |_, _| true).await;
            return Ok(if outcome == Outcome::Done {
                headless
            } else {
                outcome
            });
        }
        // No one to see it, so the log gets the run's last events, through `stopped`.
        let _ = handle.commands.send(Command::Quit);
        let rest = async {
            while let Some(event) = handle.events.recv().await {
                let _ = log.write(&event);
            }
        };
        let _ = tokio::time::timeout(QUIT_GRACE, rest).await;
    } else {
        let _ = handle.commands.send(Command::Quit);
        output.drain(LAST_FRAME);
        drop(guard);
        if let Some(fault) = fault {
            headless::say(format_args!("FAULT  {fault}"));
        }
        // Quit (or Ctrl-C, SIGTERM) while it trained, not at the step limit: how to go on.
        if outcome == Outcome::Done && !matches!(dash.state, RunState::Finished | RunState::Faulted)
        {
            let dir = log.dir();
            headless::say(headless::stopped_early(
                dir,
                checkpoint::run_has_one(dir),
                false,
            ));
        }
    }
    Ok(outcome)
}

/// Shows a run that another process trains, from its `metrics.jsonl` as it grows, until the
/// user quits. With `control` (the run's socket) keys steer the run, `q` leaves it training and
/// `Q` stops it; without, a key that would change the run says why it cannot.
pub async fn watch(
    mut follower: Follower,
    mut control: Option<ControlClient>,
    fps: u32,
    theme: Theme,
    mut view: View,
    mut dash: Dashboard,
) -> std::io::Result<()> {
    let (mut terminal, output, _guard) = setup_terminal()?;
    let mut keys = EventStream::new();
    let mut frame = frame_timer(fps);
    let mut poll = tokio::time::interval(WATCH_POLL);
    let mut terminate = unix_signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = unix_signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut poll_failed = false;
    loop {
        tokio::select! {
            _ = poll.tick() => match follower.poll() {
                Ok(events) => {
                    for event in &events {
                        dash.apply(event);
                        if matches!(event, Event::Stopped) {
                            // Its trainer has exited: nothing left to steer.
                            control = None;
                        }
                    }
                    poll_failed = false;
                }
                Err(e) if !poll_failed => {
                    dash.note(Level::Warning, format!("cannot read {}: {e}", follower.path().display()));
                    poll_failed = true;
                }
                Err(_) => {}
            },
            event = keys.next() => match input(event.as_ref(), &mut view, &mut dash) {
                Input::Key(Reaction::Send(command)) => steer(&mut control, &command, &mut dash),
                Input::Key(Reaction::Stop) => {
                    if control.is_some() {
                        steer(&mut control, &Command::Quit, &mut dash);
                        if control.is_some() {
                            break;
                        }
                    } else {
                        dash.note(Level::Warning, "read-only: cannot stop the run from here");
                    }
                }
                Input::Key(Reaction::Quit) | Input::Closed => break,
                Input::Key(Reaction::Nothing) | Input::Other => {}
            },
            _ = frame.tick() => {
                let watching = Some(if control.is_some() { Watching::Steering } else { Watching::ReadOnly });
                if view.watching != watching {
                    view.watching = watching;
                    dash.dirty = true;
                }
                draw_if_dirty(&mut terminal, &output, &mut dash, &view, theme)?;
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => break,
        }
    }
    output.drain(LAST_FRAME);
    Ok(())
}

/// Sends a key's command to the watched run; if the socket fails, the watch goes read-only.
fn steer(control: &mut Option<ControlClient>, command: &Command, dash: &mut Dashboard) {
    let Some(client) = control else {
        dash.note(
            Level::Warning,
            "read-only: this run serves no control socket (its own terminal can change it)",
        );
        return;
    };
    if let Err(e) = client.send(command) {
        dash.note(Level::Warning, format!("{e}; read-only now"));
        *control = None;
    }
}

/// What a terminal event asks of a dashboard loop.
enum Input {
    Key(Reaction),
    Other,
    /// The terminal's input ended or failed: leave.
    Closed,
}

fn input(
    event: Option<&std::io::Result<TermEvent>>,
    view: &mut View,
    dash: &mut Dashboard,
) -> Input {
    match event {
        Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
            Input::Key(view.handle_key(*key, dash))
        }
        Some(Ok(TermEvent::Resize(..))) => {
            dash.dirty = true;
            Input::Other
        }
        Some(Ok(_)) => Input::Other,
        Some(Err(_)) | None => Input::Closed,
    }
}

/// Draws a frame if something changed since the last one and the terminal has taken the last
/// frame (one that stopped taking output is waited for, not written to); fails once the
/// terminal has.
fn draw_if_dirty(
    terminal: &mut Screen,
    output: &OutputState,
    dash: &mut Dashboard,
    view: &View,
    theme: Theme,
) -> std::io::Result<()> {
    if dash.dirty && output.backlog() == 0 {
        terminal.draw(|f| ui::render(f, dash, view, theme))?;
        dash.dirty = false;
    }
    if output.failed() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "the terminal stopped taking output",
        ));
    }
    Ok(())
}

/// Ticks at most `fps` times a second, skipping ticks a slow frame missed.
fn frame_timer(fps: u32) -> tokio::time::Interval {
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps.max(1))));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    frame
}

fn unix_signal(
    kind: tokio::signal::unix::SignalKind,
) -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
}
