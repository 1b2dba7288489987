//! Keys → [`Action`]s, through one table. The help overlay, the status-bar hints and the
//! README's key table are all generated from [`BINDINGS`], so they cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt::Write as _;

/// What the user asked for; the app turns it into a trainer [`crate::protocol::Command`] or a
/// change of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    TogglePause,
    Step,
    DepthDown,
    DepthUp,
    /// Both nets afresh at the current depth.
    Restart,
    Checkpoint,
    LrHalf,
    LrDouble,
    Edit,
    /// Zoom panel 1..=6 to full screen.
    Zoom(u8),
    Back,
    Help,
    Quit,
    /// Quit and stop the run, also one this terminal watches (`resdash watch`).
    Stop,
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// How the key is written in help and README.
    pub keys: &'static str,
    pub action: Action,
    pub help: &'static str,
    /// Short label for the status bar, if it is shown there.
    pub hint: Option<&'static str>,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: "space",
        action: Action::TogglePause,
        help: "pause / resume training",
        hint: Some("pause"),
    },
    Binding {
        keys: "n",
        action: Action::Step,
        help: "run one step while paused",
        hint: Some("step"),
    },
    Binding {
        keys: "d / D",
        action: Action::DepthDown,
        help: "depth down / up along `model.ladder` (closes the depth with a summary row)",
        hint: Some("depth"),
    },
    Binding {
        keys: "r",
        action: Action::Restart,
        help: "restart this depth with fresh nets (hyperparameters kept)",
        hint: None,
    },
    Binding {
        keys: "c",
        action: Action::Checkpoint,
        help: "write a checkpoint now",
        hint: Some("ckpt"),
    },
    Binding {
        keys: "l / L",
        action: Action::LrHalf,
        help: "learning rate ÷2 / ×2",
        hint: Some("lr"),
    },
    Binding {
        keys: "e",
        action: Action::Edit,
        help: "edit a hyperparameter exactly (Enter applies, Esc cancels)",
        hint: Some("edit"),
    },
    Binding {
        keys: "1-6",
        action: Action::Zoom(1),
        help: "zoom a panel full screen: 1 loss, 2 accuracy, 3 gradient flow, 4 activations, 5 degradation, 6 hyperparameters & log",
        hint: Some("zoom"),
    },
    Binding {
        keys: "esc",
        action: Action::Back,
        help: "back from zoom, help or edit",
        hint: None,
    },
    Binding {
        keys: "?",
        action: Action::Help,
        help: "show / hide this help",
        hint: Some("help"),
    },
    Binding {
        keys: "q, ctrl-c",
        action: Action::Quit,
        help: "quit; training stops (watching a run: it trains on)",
        hint: Some("quit"),
    },
    Binding {
        keys: "Q",
        action: Action::Stop,
        help: "quit and stop training, also when watching a run",
        hint: None,
    },
];

/// The action for a key press in the main view (the edit form reads keys itself).
pub fn action_for(key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c')).then_some(Action::Quit);
    }
    Some(match key.code {
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('n') => Action::Step,
        KeyCode::Char('d') => Action::DepthDown,
        KeyCode::Char('D') => Action::DepthUp,
        KeyCode::Char('c') => Action::Checkpoint,
        KeyCode::Char('r') => Action::Restart,
        KeyCode::Char('l') => Action::LrHalf,
        KeyCode::Char('L') => Action::LrDouble,
        KeyCode::Char('e') => Action::Edit,
        KeyCode::Char(c @ '1'..='6') => Action::Zoom(c as u8 - b'0'),
        KeyCode::Esc => Action::Back,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('Q') => Action::Stop,
        _ => return None,
    })
}

/// `(keys, label)` pairs for the status bar, keys written compactly (`d/D`, `q`).
pub fn hints() -> impl Iterator<Item = (String, &'static str)> {
    hints_of(BINDINGS).flatten()
}

/// The status bar's hints for `resdash watch`: steering, every key that changes the run, `q`
/// as "leave" and `Q` to stop it (zoom makes room; `?` lists it); read-only, the view's keys.
pub fn watch_hints(steering: bool) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = BINDINGS
        .iter()
        .zip(hints_of(BINDINGS))
        .filter_map(|(b, hint)| {
            let (keys, label) = hint?;
            let keep = match b.action {
                Action::Zoom(_) | Action::Help => !steering || b.action == Action::Help,
                Action::Quit => true,
                _ => steering,
            };
            let label = if b.action == Action::Quit {
                "leave"
            } else {
                label
            };
            keep.then_some((keys, label))
        })
        .collect();
    if steering {
        out.push(("Q".into(), "stop"));
    }
    out
}

/// Each binding's `(keys, label)` for the status bar, if it has one.
fn hints_of(bindings: &[Binding]) -> impl Iterator<Item = Option<(String, &'static str)>> + '_ {
    bindings.iter().map(|b| {
        let keys = b
            .keys
            .split(',')
            .next()
            .unwrap_or(b.keys)
            .replace(" / ", "/");
        b.hint.map(|h| (keys, h))
    })
}

/// The README's key table (Markdown).
pub fn markdown_table() -> String {
    let mut out = String::from("| key | action |\n|---|---|\n");
    for b in BINDINGS {
        let _ = writeln!(out, "| `{}` | {} |", b.keys, b.help);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> Option<Action> {
        action_for(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn every_documented_key_maps_to_its_action() {
        assert_eq!(press(KeyCode::Char(' ')), Some(Action::TogglePause));
        assert_eq!(press(KeyCode::Char('D')), Some(Action::DepthUp));
        assert_eq!(press(KeyCode::Char('d')), Some(Action::DepthDown));
        assert_eq!(press(KeyCode::Char('L')), Some(Action::LrDouble));
        assert_eq!(press(KeyCode::Char('4')), Some(Action::Zoom(4)));
        assert_eq!(press(KeyCode::Char('7')), None);
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        // Each table row's first key produces the row's action.
        for b in BINDINGS {
            let first = b.keys.split([' ', ',']).next().unwrap_or(b.keys);
            let code = match first {
                "space" => KeyCode::Char(' '),
                "esc" => KeyCode::Esc,
                "1-6" => KeyCode::Char('1'),
                k => KeyCode::Char(k.chars().next().unwrap()),
            };
            assert_eq!(press(code), Some(b.action), "{}", b.keys);
        }
    }

    #[test]
    fn watching_hints_say_what_q_does_there_and_fit_80_columns() {
        let line = |hints: Vec<(String, &str)>| {
            hints
                .iter()
                .map(|(k, l)| format!("{k} {l}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let own = line(hints().collect());
        assert!(
            own.ends_with("q quit") && own.chars().count() <= 80,
            "{own}"
        );
        let steering = line(watch_hints(true));
        assert!(
            steering.starts_with("space pause")
                && steering.ends_with("q leave  Q stop")
                && steering.chars().count() <= 80,
            "{steering}"
        );
        assert_eq!(line(watch_hints(false)), "1-6 zoom  ? help  q leave");
    }

    #[test]
    fn the_readme_key_table_is_generated_from_the_bindings() {
        let readme = include_str!("../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md must contain this key table:\n{table}"
        );
    }
}
