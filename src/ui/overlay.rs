//! Pop-ups drawn over the panels: the help (generated from the key table), the edit form, and
//! the "terminal too small" screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::theme::Theme;
use super::{MIN_HEIGHT, MIN_WIDTH};
use crate::control::{EDIT_FIELDS, EditForm};
use crate::keymap::BINDINGS;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// Width of the key column in the help pop-up, separator included.
const KEY_COLUMN: usize = 13;

/// Greedy word wrap to `width` columns (a word longer than `width` gets a line of its own).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("lines starts non-empty");
        let len = last.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if len > 0 {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

pub fn help(frame: &mut Frame, area: Rect, theme: Theme) {
    let width = area.width.min(76);
    // Inside the border; help texts wrap under their own column, keys stay alone on the left.
    let text_width = usize::from(width.saturating_sub(2))
        .saturating_sub(KEY_COLUMN)
        .max(10);
    let mut lines: Vec<Line> = Vec::new();
    for b in BINDINGS {
        for (i, part) in wrap_words(b.help, text_width).into_iter().enumerate() {
            let key = if i == 0 { b.keys } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{key:>11}  "), theme.key()),
                Span::raw(part),
            ]));
        }
    }
    lines.push(Line::raw(""));
    for part in wrap_words(
        "Every change applies at the next step boundary and is marked on the time charts.",
        usize::from(width.saturating_sub(2)),
    ) {
        lines.push(Line::from(Span::styled(part, theme.dim())));
    }
    let popup = centered(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" keys (esc closes) ", theme.title()));
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

pub fn edit(frame: &mut Frame, area: Rect, form: &EditForm, theme: Theme) {
    let mut lines: Vec<Line> = EDIT_FIELDS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i == form.field {
                Line::from(vec![
                    Span::styled(format!("> {name:<14}"), theme.key()),
                    Span::styled(format!("{}_", form.text), theme.highlight()),
                ])
            } else {
                Line::from(Span::styled(format!("  {name}"), theme.dim()))
            }
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(match &form.error {
        Some(e) => Line::from(Span::styled(e.clone(), theme.fault())),
        None => Line::from(Span::styled(
            "↑/↓ field · type a value · enter apply · esc cancel",
            theme.dim(),
        )),
    });
    let popup = centered(area, 54, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" edit hyperparameter ", theme.title()));
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

pub fn too_small(frame: &mut Frame, area: Rect, theme: Theme) {
    let text = vec![
        Line::from(Span::styled("terminal too small", theme.fault())),
        Line::raw(format!(
            "{}x{} here, resdash needs {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::raw("enlarge the window, or press q to quit"),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}
