//! Panel 4: activation norms — the RMS of every block's output for both nets at the latest
//! probe step, with the mean over blocks and its trend since the previous probe step.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Chart, Paragraph};

use super::chart::{block_axis, bounds, legend_names, series, y_axis};
use super::theme::Theme;
use super::{nothing_yet, waiting};
use crate::number::decimal;
use crate::protocol::{Net, ProbeReport};
use crate::state::Dashboard;

fn mean_rms(r: &ProbeReport) -> f64 {
    r.blocks.iter().map(|b| b.activation_rms).sum::<f64>() / r.blocks.len().max(1) as f64
}

fn trend(now: f64, before: Option<f64>) -> &'static str {
    match before {
        Some(b) if now > b * 1.02 => "↑",
        Some(b) if now < b * 0.98 => "↓",
        Some(_) => "→",
        None => " ",
    }
}

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    let (Some(plain), Some(residual)) = (&dash.probes[0], &dash.probes[1]) else {
        return waiting(frame, area, block, &nothing_yet(dash, "probe step"), theme);
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [summary, plot] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let text = |net: Net, r: &ProbeReport| {
        let now = mean_rms(r);
        let before = dash.previous_probes[net.index()].as_ref().map(mean_rms);
        let arrow = if theme.ascii { "" } else { trend(now, before) };
        Span::styled(
            format!("{} mean {}{arrow}", net.name(), decimal(now, 2)),
            theme.net(net),
        )
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            text(Net::Plain, plain),
            Span::raw("  "),
            text(Net::Residual, residual),
        ])),
        summary,
    );
    let points = |r: &ProbeReport| -> Vec<(f64, f64)> {
        r.blocks
            .iter()
            .map(|b| ((b.block + 1) as f64, b.activation_rms))
            .collect()
    };
    let (p, q) = (points(plain), points(residual));
    let xs = [1.0, (plain.blocks.len() as f64).max(2.0)];
    let ys = bounds(p.iter().chain(&q).map(|v| v.1)).map_or([0.0, 1.0], |[_, hi]| [0.0, hi]);
    let [plain_name, residual_name] = legend_names(["plain", "residual"]);
    let chart = Chart::new(vec![
        series(&plain_name, &p, theme.net(Net::Plain), true, theme),
        series(&residual_name, &q, theme.net(Net::Residual), true, theme),
    ])
    .x_axis(block_axis(xs, theme))
    .y_axis(y_axis(ys, false, theme));
    frame.render_widget(chart, plot);
}
