//! What a key press does: the view state (zoom, help, the edit form) and the trainer commands it
//! produces. Pure logic over [`Dashboard`], so it is tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::DEPTH_LADDER;
use crate::keymap::{Action, action_for};
use crate::protocol::{Command, Hyper, RunState};
use crate::state::{Dashboard, Level};

/// The six zoomable panels, numbered as on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Loss = 1,
    Accuracy = 2,
    Flow = 3,
    Activations = 4,
    Degradation = 5,
    Hyper = 6,
}

impl Panel {
    pub const ALL: [Panel; 6] = [
        Panel::Loss,
        Panel::Accuracy,
        Panel::Flow,
        Panel::Activations,
        Panel::Degradation,
        Panel::Hyper,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn title(self) -> &'static str {
        match self {
            Panel::Loss => "Loss",
            Panel::Accuracy => "Accuracy",
            Panel::Flow => "Gradient flow",
            Panel::Activations => "Activations",
            Panel::Degradation => "Degradation",
            Panel::Hyper => "Hyperparameters",
        }
    }
}

/// The editable hyperparameters, in form order.
pub const EDIT_FIELDS: [&str; 6] = [
    "learning rate",
    "momentum",
    "weight decay",
    "batch size",
    "eval every",
    "probe every",
];

/// The small form behind `e`.
#[derive(Debug, Clone, PartialEq)]
pub struct EditForm {
    pub field: usize,
    pub text: String,
    pub error: Option<String>,
}

/// How `resdash watch` is connected to the run it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// Through the run's control socket: keys steer the run.
    Steering,
    /// No socket (the run ended, or is a sweep): keys only change the view.
    ReadOnly,
}

/// View state owned by the UI thread.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The depths `d`/`D` step through (`model.ladder`).
    pub ladder: Vec<usize>,
    pub zoom: Option<Panel>,
    pub help: bool,
    pub edit: Option<EditForm>,
    /// `Some` when this dashboard watches a run another process trains.
    pub watching: Option<Watching>,
}

impl View {
    pub fn new(ladder: Vec<usize>) -> Self {
        Self {
            ladder,
            zoom: None,
            help: false,
            edit: None,
            watching: None,
        }
    }
}

impl Default for View {
    fn default() -> Self {
        Self::new(DEPTH_LADDER.to_vec())
    }
}

/// What the app should do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    Nothing,
    Send(Command),
    Quit,
    /// Quit and stop the run (the same as `Quit` in the dashboard that trains it).
    Stop,
}

fn current_text(dash: &Dashboard, field: usize) -> String {
    let Some(h) = dash.hyper.as_ref() else {
        return String::new();
    };
    match field {
        0 => format!("{}", h.lr),
        1 => format!("{}", h.momentum),
        2 => format!("{}", h.weight_decay),
        3 => format!("{}", h.batch_size),
        4 => format!("{}", h.eval_every),
        _ => format!("{}", h.probe_every),
    }
}

/// Parses the form's text for `field` into a validated hyperparameter.
pub fn parse_field(field: usize, text: &str) -> Result<Hyper, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "{}: type a value first (esc cancels)",
            EDIT_FIELDS[field]
        ));
    }
    let float = || {
        text.parse::<f64>()
            .map_err(|_| format!("{text:?} is not a number"))
    };
    let int = || {
        text.parse::<u64>()
            .map_err(|_| format!("{text:?} is not a whole number"))
    };
    let hyper = match field {
        0 => Hyper::LearningRate(float()?),
        1 => Hyper::Momentum(float()?),
        2 => Hyper::WeightDecay(float()?),
        3 => Hyper::BatchSize(usize::try_from(int()?).map_err(|e| e.to_string())?),
        4 => Hyper::EvalEvery(int()?),
        _ => Hyper::ProbeEvery(int()?),
    };
    hyper
        .validate()
        .map(|()| hyper)
        .map_err(|_| format!("{}: {}", EDIT_FIELDS[field], hyper.allowed()))
}

impl View {
    /// Handles one key press. Notes for the log pane go into `dash`.
    pub fn handle_key(&mut self, key: KeyEvent, dash: &mut Dashboard) -> Reaction {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Reaction::Quit;
        }
        if let Some(mut form) = self.edit.take() {
            let (open, reaction) = edit_key(&mut form, key, dash);
            if open {
                self.edit = Some(form);
            }
            return reaction;
        }
        let Some(action) = action_for(key) else {
            return Reaction::Nothing;
        };
        if self.help
            && !matches!(
                action,
                Action::Help | Action::Back | Action::Quit | Action::Stop
            )
        {
            self.help = false;
        }
        self.apply(action, dash)
    }

    fn apply(&mut self, action: Action, dash: &mut Dashboard) -> Reaction {
        dash.dirty = true;
        let steers = !matches!(
            action,
            Action::Quit | Action::Stop | Action::Help | Action::Back | Action::Zoom(_)
        );
        if steers && dash.stopped {
            dash.note(
                Level::Info,
                "training has stopped: nothing left to change (q quits)",
            );
            return Reaction::Nothing;
        }
        match action {
            Action::Quit => Reaction::Quit,
            Action::Stop => Reaction::Stop,
            Action::Help => {
                self.help = !self.help;
                Reaction::Nothing
            }
            Action::Back => {
                self.help = false;
                self.zoom = None;
                Reaction::Nothing
            }
            Action::Zoom(n) => {
                let panel = Panel::ALL.into_iter().find(|p| p.number() == n);
                self.zoom = if self.zoom == panel { None } else { panel };
                Reaction::Nothing
            }
            Action::Edit => {
                if dash.hyper.is_none() {
                    dash.note(
                        Level::Warning,
                        "nothing to edit before the trainer has started",
                    );
                    return Reaction::Nothing;
                }
                self.edit = Some(EditForm {
                    field: 0,
                    text: current_text(dash, 0),
                    error: None,
                });
                Reaction::Nothing
            }
            Action::TogglePause | Action::Step
                if dash.state == RunState::Faulted && dash.fault_needs_restart =>
            {
                dash.note(
                    Level::Warning,
                    "the faulted net's weights overflowed: resuming would only repeat the fault (r restarts the depth)",
                );
                Reaction::Nothing
            }
            Action::TogglePause => match dash.state {
                RunState::Paused | RunState::Faulted => Reaction::Send(Command::Resume),
                RunState::Finished => {
                    dash.note(
                        Level::Info,
                        "step limit reached: change depth (d/D) or quit",
                    );
                    Reaction::Nothing
                }
                _ => Reaction::Send(Command::Pause),
            },
            Action::Step => {
                if matches!(dash.state, RunState::Paused | RunState::Faulted) {
                    Reaction::Send(Command::Step { steps: 1 })
                } else {
                    dash.note(Level::Info, "single steps work while paused (space pauses)");
                    Reaction::Nothing
                }
            }
            Action::DepthDown | Action::DepthUp => {
                let Some(depth) = dash.info.as_ref().map(|i| i.depth) else {
                    return Reaction::Nothing;
                };
                let next = if action == Action::DepthUp {
                    self.ladder.iter().copied().find(|&d| d > depth)
                } else {
                    self.ladder.iter().rev().copied().find(|&d| d < depth)
                };
                if let Some(depth) = next {
                    Reaction::Send(Command::SetDepth { depth })
                } else {
                    dash.note(
                        Level::Info,
                        format!("depth {depth} is the end of the ladder"),
                    );
                    Reaction::Nothing
                }
            }
            Action::Restart => Reaction::Send(Command::Restart),
            Action::Checkpoint => Reaction::Send(Command::Checkpoint),
            Action::LrHalf | Action::LrDouble => {
                let Some(lr) = dash.hyper.as_ref().map(|h| h.lr) else {
                    return Reaction::Nothing;
                };
                let lr = if action == Action::LrHalf {
                    lr / 2.0
                } else {
                    lr * 2.0
                };
                Reaction::Send(Command::Set {
                    hyper: Hyper::LearningRate(lr),
                })
            }
        }
    }
}

/// Returns whether the form stays open, and the reaction.
fn edit_key(form: &mut EditForm, key: KeyEvent, dash: &mut Dashboard) -> (bool, Reaction) {
    dash.dirty = true;
    match key.code {
        KeyCode::Esc => return (false, Reaction::Nothing),
        KeyCode::Up | KeyCode::BackTab => {
            form.field = (form.field + EDIT_FIELDS.len() - 1) % EDIT_FIELDS.len();
            form.text = current_text(dash, form.field);
            form.error = None;
        }
        KeyCode::Down | KeyCode::Tab => {
            form.field = (form.field + 1) % EDIT_FIELDS.len();
            form.text = current_text(dash, form.field);
            form.error = None;
        }
        KeyCode::Backspace => {
            form.text.pop();
        }
        KeyCode::Char(c)
            if (c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
                && form.text.len() < 24 =>
        {
            form.text.push(c);
        }
        KeyCode::Enter => match parse_field(form.field, &form.text) {
            Ok(hyper) => return (false, Reaction::Send(Command::Set { hyper })),
            Err(e) => form.error = Some(e),
        },
        _ => {}
    }
    (true, Reaction::Nothing)
}

#[cfg(test)]
mod tests;
