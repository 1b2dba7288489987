//! The one-line header: dataset, backend, depth, step, epoch, throughput, ETA and state.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::protocol::RunState;
use crate::state::Dashboard;

pub fn state_label(state: RunState) -> &'static str {
    match state {
        RunState::WarmingUp => "WARMING UP",
        RunState::Running => "RUNNING",
        RunState::Paused => "PAUSED",
        RunState::Stepping => "STEPPING",
        RunState::Checkpointing => "CHECKPOINTING",
        RunState::Faulted => "FAULT",
        RunState::Finished => "STEP LIMIT",
    }
}

fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme) {
    // The state comes first so that it survives truncation in a narrow terminal.
    let state_style = match dash.state {
        RunState::Faulted => theme.fault(),
        RunState::Paused | RunState::Finished | RunState::WarmingUp => theme.highlight(),
        _ => theme.net(crate::protocol::Net::Residual),
    };
    let label = if dash.stopped {
        "STOPPED"
    } else {
        state_label(dash.state)
    };
    let mut spans = vec![
        Span::styled("resdash ", theme.title()),
        Span::styled(label, state_style),
    ];
    // (display order, priority: lower survives longer in a narrow terminal)
    let mut parts: Vec<(u8, String)> = Vec::new();
    if let Some(i) = &dash.info {
        let [c, h, w] = i.input_shape;
        parts.push((5, format!("{} {c}x{h}x{w}", i.dataset)));
        parts.push((6, i.backend.clone()));
        parts.push((1, format!("depth {}", i.depth)));
    }
    parts.push((
        0,
        match dash.epoch {
            Some(epoch) => format!("step {} ep {epoch}", dash.step),
            None => format!("step {}", dash.step),
        },
    ));
    if let Some(rate) = dash.images_per_sec {
        parts.push((2, format!("{rate:.0} img/s")));
    }
    if let Some(eta) = dash.eta_secs() {
        parts.push((3, format!("ETA {}", duration(eta))));
    }
    if let Some((step, _)) = &dash.last_checkpoint {
        parts.push((4, format!("ckpt @{step}")));
    }
    // Keep parts by priority while they fit, then show them in display order.
    let mut budget = usize::from(area.width).saturating_sub("resdash ".len() + label.len());
    let mut by_priority: Vec<usize> = (0..parts.len()).collect();
    by_priority.sort_by_key(|&i| parts[i].0);
    let mut keep = vec![false; parts.len()];
    for i in by_priority {
        let cost = 3 + parts[i].1.chars().count();
        if cost <= budget {
            budget -= cost;
            keep[i] = true;
        }
    }
    let parts = parts.iter().zip(keep).filter_map(|(p, k)| k.then_some(p));
    let mut text = String::new();
    for (_, part) in parts {
        let _ = write!(text, " · {part}");
    }
    spans.push(Span::raw(text));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
