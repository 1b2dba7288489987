//! Panel 6: the hyperparameters in force (as the trainer echoed them) and the log pane:
//! changes, checkpoints, warnings and faults, newest last.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::number::{decimal, setting};
use crate::protocol::HyperState;
use crate::state::{Dashboard, Level};

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = match &dash.hyper {
        Some(h) => settings(dash, h, theme, inner.width),
        // A run that stopped before it started (watched, or resumed from a bad checkpoint):
        // the log below says why.
        None if dash.stopped => Vec::new(),
        None => vec![Line::styled("waiting for the trainer…", theme.dim())],
    };
    let [top, log] =
        Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Fill(1)])
            .areas(inner);
    frame.render_widget(Paragraph::new(lines), top);
    render_log(frame, log, dash, theme);
}

/// The hyperparameters in force, and the newest checkpoint.
fn settings(dash: &Dashboard, h: &HyperState, theme: Theme, width: u16) -> Vec<Line<'static>> {
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<9}"), theme.dim()),
            Span::raw(v),
        ])
    };
    let schedule = if h.milestones.is_empty() {
        "constant".to_string()
    } else {
        format!("×{} at {:?}", h.gamma, h.milestones)
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<9}", "lr"), theme.dim()),
            Span::styled(
                dash.lr.map_or_else(|| "-".into(), |lr| decimal(lr, 4)),
                theme.highlight(),
            ),
            Span::styled(format!(" (base {})", setting(h.lr)), theme.dim()),
        ]),
        kv(
            "momentum",
            format!("{}   wd {}", setting(h.momentum), setting(h.weight_decay)),
        ),
        kv(
            "batch",
            format!(
                "{}   eval/{}  probe/{}",
                h.batch_size, h.eval_every, h.probe_every
            ),
        ),
        kv(
            "schedule",
            if h.warmup_steps > 0 {
                format!("{schedule}, warm-up {} @ {}", h.warmup_steps, h.warmup_lr)
            } else {
                schedule
            },
        ),
    ];
    if let Some((step, path)) = &dash.last_checkpoint {
        // The path's end is what tells checkpoints apart: cut from the left when it is long.
        let room = usize::from(width).saturating_sub(9);
        lines.push(kv("ckpt", keep_end(&format!("step {step}: {path}"), room)));
    }
    lines
}

/// The log pane: the newest entries that fit whole, each wrapped to as many rows as it needs.
fn render_log(frame: &mut Frame, log: Rect, dash: &Dashboard, theme: Theme) {
    let mut rows = usize::from(log.height);
    let mut entries: Vec<Line> = Vec::new();
    for e in dash.log.iter().rev() {
        let style = match e.level {
            Level::Info => theme.dim(),
            Level::Warning => theme.warning(),
            Level::Fault => theme.fault(),
        };
        let line = Line::from(Span::styled(e.text.clone(), style));
        let height = Paragraph::new(line.clone())
            .wrap(Wrap { trim: true })
            .line_count(log.width);
        if height > rows {
            // The newest entry alone is taller than the pane: as much of its start as fits,
            // cut anywhere (a word wrap could leave a long path's row empty) and marked cut.
            if entries.is_empty() {
                return frame.render_widget(
                    Paragraph::new(cut_to_rows(&e.text, log.width, log.height)).style(style),
                    log,
                );
            }
            break;
        }
        rows -= height;
        entries.push(line);
    }
    entries.reverse();
    frame.render_widget(Paragraph::new(entries).wrap(Wrap { trim: true }), log);
}

/// The first `rows` rows of `text` cut every `width` characters, the last ending in "…".
fn cut_to_rows(text: &str, width: u16, rows: u16) -> Vec<Line<'static>> {
    let (width, rows) = (usize::from(width.max(1)), usize::from(rows));
    let room = (width * rows).saturating_sub(1);
    let mut kept: Vec<char> = text.chars().take(room).collect();
    kept.push('…');
    kept.chunks(width)
        .map(|row| Line::raw(row.iter().collect::<String>()))
        .collect()
}

/// `text` if it has at most `width` characters, else "…" and its last `width - 1`.
fn keep_end(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len <= width {
        return text.to_string();
    }
    let tail: String = text.chars().skip(len + 1 - width.max(1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::{cut_to_rows, keep_end};

    #[test]
    fn cut_to_rows_fills_the_rows_and_marks_the_cut() {
        let rows = |text, w, h| {
            cut_to_rows(text, w, h)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(rows("abcdefghij", 4, 2), ["abcd", "efg…"]);
        assert_eq!(rows("abcdefghij", 9, 1), ["abcdefgh…"]);
        assert_eq!(rows("abcdefghij", 4, 0), ["…"]);
    }

    #[test]
    fn keep_end_cuts_from_the_left() {
        assert_eq!(
            keep_end("step 800: runs/a/checkpoints/step-000800", 100),
            "step 800: runs/a/checkpoints/step-000800"
        );
        assert_eq!(keep_end("abcdef", 4), "…def");
        assert_eq!(keep_end("abcdef", 6), "abcdef");
        assert_eq!(keep_end("abcdef", 1), "…");
    }
}
