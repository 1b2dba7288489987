//! Panel 1: batch loss of both nets on a log scale — raw points and a smoothed line — with a
//! vertical marker wherever a hyperparameter or the depth changed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Chart, LegendPosition};

use super::chart::{
    bounds, legend_names, marker_dataset, marker_lines, series, x_axis, x_span, y_axis,
};
use super::theme::Theme;
use super::{nothing_yet, waiting};
use crate::number::decimal;
use crate::protocol::Net;
use crate::state::Dashboard;

/// Weight of the newest point in the smoothed line.
const SMOOTHING: f64 = 0.05;

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    if dash.loss[0].is_empty() {
        return waiting(frame, area, block, &nothing_yet(dash, "step"), theme);
    }
    let log = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.1 > 0.0)
            .map(|&(x, y)| (x, y.log10()))
            .collect()
    };
    let raw: Vec<Vec<(f64, f64)>> = Net::BOTH
        .iter()
        .map(|n| log(dash.loss[n.index()].points()))
        .collect();
    let smooth: Vec<Vec<(f64, f64)>> = Net::BOTH
        .iter()
        .map(|n| log(&dash.smoothed(&dash.loss[n.index()], SMOOTHING)))
        .collect();
    let xs = x_span(raw.iter().flatten().map(|p| p.0));
    let ys = bounds(raw.iter().flatten().map(|p| p.1)).unwrap_or([-1.0, 1.0]);
    let markers = marker_lines(&dash.markers, xs, ys);
    let last = |n: Net| dash.loss[n.index()].last().map_or(f64::NAN, |p| p.1);
    let names = legend_names([
        &format!("plain {}", decimal(last(Net::Plain), 3)),
        &format!("residual {}", decimal(last(Net::Residual), 3)),
    ]);
    let mut datasets = Vec::new();
    for line in &markers {
        datasets.push(marker_dataset(line, theme));
    }
    for net in Net::BOTH {
        let i = net.index();
        datasets.push(series(
            "",
            &raw[i],
            theme.net(net).patch(theme.dim()),
            false,
            theme,
        ));
        datasets.push(series(&names[i], &smooth[i], theme.net(net), true, theme));
    }
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(x_axis(xs, theme))
        .y_axis(y_axis(ys, true, theme))
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(60),
            ratatui::layout::Constraint::Percentage(60),
        ));
    frame.render_widget(chart, area);
}
