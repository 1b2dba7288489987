//! Panel 2: training accuracy (smoothed, every step) and test accuracy (every `eval_every`
//! steps, eval mode) of both nets, with the current numbers and the residual-minus-plain gap.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Chart, Paragraph};

use super::chart::{marker_dataset, marker_lines, series, x_axis};
use super::theme::Theme;
use super::{nothing_yet, waiting};
use crate::protocol::Net;
use crate::state::Dashboard;

const SMOOTHING: f64 = 0.05;

/// Percent with one decimal, e.g. " 35.3%"; "-" before the first value.
fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "  -  ".into(), |v| format!("{:4.1}%", 100.0 * v))
}

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    if dash.train_accuracy[0].is_empty() {
        return waiting(frame, area, block, &nothing_yet(dash, "step"), theme);
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [numbers, plot] =
        Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);

    let smooth = |n: Net| dash.smoothed(&dash.train_accuracy[n.index()], SMOOTHING);
    let train: Vec<Vec<(f64, f64)>> = Net::BOTH.iter().map(|&n| pct_points(&smooth(n))).collect();
    let test: Vec<Vec<(f64, f64)>> = Net::BOTH
        .iter()
        .map(|&n| pct_points(dash.test_accuracy[n.index()].points()))
        .collect();
    // The numbers are the current depth's only: "-" until its networks have a value.
    let current = |h: &[Vec<(f64, f64)>], n: Net| {
        h[n.index()]
            .last()
            .filter(|p| dash.is_current(p.0))
            .map(|p| p.1 / 100.0)
    };
    let gap = |h: &[Vec<(f64, f64)>]| Some(current(h, Net::Residual)? - current(h, Net::Plain)?);
    let row = |label: &'static str, h: &[Vec<(f64, f64)>]| {
        Line::from(vec![
            Span::styled(format!("{label:<5} "), theme.dim()),
            Span::styled(
                format!("plain {}", pct(current(h, Net::Plain))),
                theme.net(Net::Plain),
            ),
            Span::raw(" "),
            Span::styled(
                format!("resid {}", pct(current(h, Net::Residual))),
                theme.net(Net::Residual),
            ),
            Span::raw(" gap"),
            Span::styled(
                gap(h).map_or_else(|| "-".into(), |g| format!("{:+.1}", 100.0 * g)),
                theme.highlight(),
            ),
        ])
    };
    frame.render_widget(
        Paragraph::new(vec![row("train", &train), row("test", &test)]),
        numbers,
    );

    let xs = super::chart::x_span(train.iter().flatten().map(|p| p.0));
    let ys = [0.0, 100.0];
    let markers = marker_lines(&dash.markers, xs, ys);
    let mut datasets: Vec<_> = markers.iter().map(|l| marker_dataset(l, theme)).collect();
    for net in Net::BOTH {
        datasets.push(series("", &train[net.index()], theme.net(net), true, theme));
        datasets.push(series(
            "",
            &test[net.index()],
            theme.net(net).patch(theme.highlight()),
            false,
            theme,
        ));
    }
    let chart = Chart::new(datasets).x_axis(x_axis(xs, theme)).y_axis(
        ratatui::widgets::Axis::default()
            .bounds(ys)
            .labels(vec![Span::raw("0%"), Span::raw("50%"), Span::raw("100%")])
            .style(theme.dim()),
    );
    frame.render_widget(chart, plot);
}

fn pct_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points.iter().map(|&(x, y)| (x, 100.0 * y)).collect()
}
