//! Panel 3: gradient flow. A per-block chart of log10 gradient magnitudes — the plain net's
//! total dL/dx_b, the residual net's shortcut-path and residual-branch parts — and, when there
//! is room, a blocks × time heat strip of each net's total so vanishing gradients show at a
//! glance (input side at the bottom, newest probe step at the right).

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Chart, LegendPosition, Paragraph, Widget};

use super::chart::{block_axis, bounds, legend_names, series, y_axis};
use super::theme::Theme;
use super::{nothing_yet, waiting};
use crate::protocol::{Net, ProbeReport};
use crate::state::{Dashboard, FlowSample};

/// Inner height from which the heat strips are drawn under the chart.
const HEAT_MIN_HEIGHT: u16 = 12;

fn log_points(
    report: &ProbeReport,
    value: impl Fn(&crate::protocol::BlockFlow) -> Option<f64>,
) -> Vec<(f64, f64)> {
    report
        .blocks
        .iter()
        .filter_map(|b| {
            value(b)
                .filter(|v| *v > 0.0)
                .map(|v| ((b.block + 1) as f64, v.log10()))
        })
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    let (Some(plain), Some(residual)) = (&dash.probes[0], &dash.probes[1]) else {
        let what = dash.hyper.as_ref().map_or_else(
            || "probe step".to_string(),
            |h| format!("probe step (every {} steps)", h.probe_every),
        );
        return waiting(frame, area, block, &nothing_yet(dash, &what), theme);
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let show_heat = inner.height >= HEAT_MIN_HEIGHT && !dash.flow_history.is_empty();
    let [summary, plot, heat] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(2),
        Constraint::Fill(u16::from(show_heat)),
    ])
    .areas(inner);

    let ratio = |r: &ProbeReport| {
        let (first, last) = (r.blocks.first()?.total, r.blocks.last()?.total);
        (first > 0.0 && last > 0.0).then(|| (first / last).log10())
    };
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:+.1}"));
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("in/out log10: "),
            Span::styled(
                format!("plain {}", fmt(ratio(plain))),
                theme.net(Net::Plain),
            ),
            Span::raw("  "),
            Span::styled(
                format!("resid {}", fmt(ratio(residual))),
                theme.net(Net::Residual),
            ),
        ])),
        summary,
    );

    let totals = log_points(plain, |b| Some(b.total));
    let shortcut = log_points(residual, |b| b.shortcut);
    let branch = log_points(residual, |b| b.branch);
    let blocks = plain.blocks.len().max(1) as f64;
    let xs = [1.0, blocks.max(2.0)];
    let ys =
        bounds(totals.iter().chain(&shortcut).chain(&branch).map(|p| p.1)).unwrap_or([-3.0, 0.0]);
    let [total_name, shortcut_name, branch_name] =
        legend_names(["plain total", "resid shortcut", "resid branch"]);
    let datasets = vec![
        series(&total_name, &totals, theme.net(Net::Plain), true, theme),
        series(
            &shortcut_name,
            &shortcut,
            theme.net(Net::Residual),
            true,
            theme,
        ),
        series(&branch_name, &branch, theme.branch(), true, theme),
    ];
    let chart = Chart::new(datasets)
        .x_axis(block_axis(xs, theme))
        .y_axis(y_axis(ys, true, theme))
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Percentage(70), Constraint::Percentage(70)));
    frame.render_widget(chart, plot);

    if show_heat {
        let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
            .spacing(1)
            .areas(heat);
        let scale = bounds(
            dash.flow_history
                .iter()
                .flat_map(|s| s.totals.iter().flatten())
                .filter(|v| **v > 0.0)
                .map(|v| v.log10()),
        );
        for (net, area) in [(Net::Plain, left), (Net::Residual, right)] {
            HeatStrip {
                samples: &dash.flow_history,
                net,
                scale,
                theme,
            }
            .render(area, frame.buffer_mut());
        }
    }
}

/// Blocks × time: one row per block group (input side at the bottom), one column per probe
/// step (newest at the right), shade and colour by log10 |dL/dx_b| on a scale shared by both nets.
struct HeatStrip<'a> {
    samples: &'a std::collections::VecDeque<FlowSample>,
    net: Net,
    scale: Option<[f64; 2]>,
    theme: Theme,
}

impl Widget for HeatStrip<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.height < 2 || area.width < 8 {
            return;
        }
        let label = format!("{} |dL/dx| (input↓, time→)", self.net.name());
        buf.set_stringn(
            area.x,
            area.y,
            &label,
            area.width as usize,
            self.theme.net(self.net),
        );
        let Some([lo, hi]) = self.scale else { return };
        let rows = area.height - 1;
        let cols = area.width as usize;
        let shades = self.theme.shades();
        let recent: Vec<&FlowSample> = self.samples.iter().rev().take(cols).collect();
        for (c, sample) in recent.iter().rev().enumerate() {
            let values = &sample.totals[self.net.index()];
            if values.is_empty() {
                continue;
            }
            for r in 0..rows {
                // Row 0 is the top (output side); map rows onto blocks.
                let block = ((rows - 1 - r) as usize * values.len()) / rows as usize;
                let v = values[block.min(values.len() - 1)];
                let level = if v > 0.0 {
                    ((v.log10() - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let glyph = shades
                    [((level * (shades.len() - 1) as f64).round() as usize).min(shades.len() - 1)];
                let x = area.x + (cols - recent.len() + c) as u16;
                buf[(x, area.y + 1 + r)]
                    .set_char(glyph)
                    .set_style(self.theme.heat(level));
            }
        }
    }
}
