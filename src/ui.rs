//! Lays the dashboard out and draws it from owned state ([`Dashboard`], [`View`]); never locks,
//! awaits or touches the trainer. One file per panel under `ui/`.
//!
//! ```text
//! resdash synthetic 1x16x16 · flex · depth 20 (n=3) · step 1234 ep 3 · 160 img/s · RUNNING
//! ┌[1] Loss (log)─────────────────────┐┌[2] Accuracy──────────────────────┐
//! │ raw points + smoothed, markers    ││ train/test, both nets, gap       │
//! └───────────────────────────────────┘└──────────────────────────────────┘
//! ┌[3] Gradient flow──────────────────┐┌[4] Activations───────────────────┐
//! │ per block: plain total, residual  ││ block output RMS, both nets      │
//! │ shortcut/branch; heat strip       ││                                  │
//! └───────────────────────────────────┘└──────────────────────────────────┘
//! ┌[5] Degradation────────────────────┐┌[6] Hyperparameters & log─────────┐
//! │ depth | plain/resid train/test    ││ lr, momentum, wd, … ; log lines  │
//! └───────────────────────────────────┘└──────────────────────────────────┘
//! space pause  n step  d/D depth  c ckpt  l/L lr  e edit  1-6 zoom  ? help  q quit
//! ```
//! A zoomed panel takes the whole middle; help and the edit form pop up over it.

mod accuracy;
mod activations;
mod chart;
mod degradation;
mod flow;
mod header;
mod hyper;
mod loss;
mod overlay;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::control::{Panel, View, Watching};
use crate::keymap::{hints, watch_hints};
use crate::protocol::RunState;
use crate::state::Dashboard;
pub use theme::Theme;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws one frame.
pub fn render(frame: &mut Frame, dash: &Dashboard, view: &View, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return overlay::too_small(frame, area, theme);
    }
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, top, dash, theme);
    if let Some(panel) = view.zoom {
        render_panel(frame, middle, panel, dash, theme, true);
    } else {
        let rows = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ])
        .split(middle);
        for (row, pair) in rows.iter().zip(Panel::ALL.chunks(2)) {
            let [left, right] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(*row);
            render_panel(frame, left, pair[0], dash, theme, false);
            render_panel(frame, right, pair[1], dash, theme, false);
        }
    }
    status_bar(frame, bottom, dash, view.watching, theme);
    if view.help {
        overlay::help(frame, middle, theme);
    }
    if let Some(form) = &view.edit {
        overlay::edit(frame, middle, form, theme);
    }
}

fn render_panel(
    frame: &mut Frame,
    area: Rect,
    panel: Panel,
    dash: &Dashboard,
    theme: Theme,
    zoomed: bool,
) {
    let title = match panel {
        Panel::Loss => "Loss (log scale)",
        Panel::Degradation => "Degradation · error % train/test",
        Panel::Hyper => "Hyperparameters & log",
        other => other.title(),
    };
    let hint = if zoomed { " (esc back)" } else { "" };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim())
        .title(Line::from(vec![
            Span::styled(format!("[{}] ", panel.number()), theme.key()),
            Span::styled(title, theme.title()),
            Span::styled(hint, theme.dim()),
        ]));
    match panel {
        Panel::Loss => loss::render(frame, area, dash, theme, block),
        Panel::Accuracy => accuracy::render(frame, area, dash, theme, block),
        Panel::Flow => flow::render(frame, area, dash, theme, block),
        Panel::Activations => activations::render(frame, area, dash, theme, block),
        Panel::Degradation => degradation::render(frame, area, dash, theme, block),
        Panel::Hyper => hyper::render(frame, area, dash, theme, block),
    }
}

fn status_bar(
    frame: &mut Frame,
    area: Rect,
    dash: &Dashboard,
    watching: Option<Watching>,
    theme: Theme,
) {
    let line = if let Some(fault) = &dash.fault {
        let what = if dash.stopped || watching == Some(Watching::ReadOnly) {
            "q quits"
        } else if dash.fault_needs_restart {
            "r restarts"
        } else {
            "space resumes"
        };
        fault_line(fault, what, area.width, theme)
    } else {
        let mut spans = Vec::new();
        let hints = match watching {
            None => hints().collect(),
            Some(w) => watch_hints(w == Watching::Steering),
        };
        if watching == Some(Watching::ReadOnly) {
            spans.push(Span::styled("watching, read-only  ", theme.dim()));
        }
        for (i, (keys, label)) in hints.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            spans.push(Span::styled(keys, theme.key()));
            spans.push(Span::raw(format!(" {label}")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The status bar of a faulted run: the fault, then what to do. A fault too long for the width
/// is cut (the log pane, zoomed with `6`, wraps it whole) so that what to do stays in view.
fn fault_line(fault: &str, what: &str, width: u16, theme: Theme) -> Line<'static> {
    let text = format!("FAULT: {fault}");
    let hint = format!("  ({what})");
    let width = usize::from(width);
    let (text, hint) = if text.chars().count() + hint.chars().count() <= width {
        (text, hint)
    } else {
        let hint = format!("… (6 shows all · {what})");
        let room = width.saturating_sub(hint.chars().count());
        (text.chars().take(room).collect(), hint)
    };
    Line::from(vec![
        Span::styled(text, theme.fault()),
        Span::styled(hint, theme.dim()),
    ])
}

/// A panel that has nothing to show yet says why.
fn waiting(frame: &mut Frame, area: Rect, block: Block, message: &str, theme: Theme) {
    frame.render_widget(
        Paragraph::new(Span::styled(message.to_string(), theme.dim()))
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}

/// What a panel says before it has `what` (e.g. "step") to draw: a resumed run that is already
/// at its step limit will not step until another depth starts, and a stopped one never will,
/// so they say that instead.
fn nothing_yet(dash: &Dashboard, what: &str) -> String {
    if dash.stopped {
        format!("the run stopped before its first {what}")
    } else if dash.state == RunState::Finished {
        "no steps yet in this process: it resumed a depth at its step limit (d/D starts another)"
            .into()
    } else {
        format!("waiting for the first {what}…")
    }
}
