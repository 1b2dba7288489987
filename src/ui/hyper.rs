//! Panel 6: the hyperparameters in force (as the trainer echoed them) and the log pane:
//! changes, checkpoints, warnings and faults, newest last.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::state::{Dashboard, Level};

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(h) = &dash.hyper else {
        return frame.render_widget(
            Paragraph::new(Span::styled("waiting for the trainer…", theme.dim())),
            inner,
        );
    };
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
                dash.lr.map_or_else(|| "-".into(), |lr| format!("{lr:.4}")),
                theme.highlight(),
            ),
            Span::styled(format!(" (base {})", h.lr), theme.dim()),
        ]),
        kv(
            "momentum",
            format!("{}   wd {}", h.momentum, h.weight_decay),
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
        lines.push(kv("ckpt", format!("step {step}: {path}")));
    }
    let [top, log] =
        Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Fill(1)])
            .areas(inner);
    frame.render_widget(Paragraph::new(lines), top);
    let rows = log.height as usize;
    let entries: Vec<Line> = dash
        .log
        .iter()
        .rev()
        .take(rows)
        .rev()
        .map(|e| {
            let style = match e.level {
                Level::Info => theme.dim(),
                Level::Warning => theme.warning(),
                Level::Fault => theme.fault(),
            };
            Line::from(Span::styled(e.text.clone(), style))
        })
        .collect();
    frame.render_widget(Paragraph::new(entries).wrap(Wrap { trim: true }), log);
}
