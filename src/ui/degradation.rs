//! Panel 5: the degradation table — one row per depth trained in this session (train and test
//! error of both nets, eval mode) and a live row for the current depth. The seed paper's
//! Figure 1, built as you change depth: a plain train error above the shallower depth's is
//! flagged. Errors in percent, "tr/te" = train/test; the live row uses running batch error.
//! Where the panel has room below the table (zoomed, or a tall terminal) a legend says so.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use super::theme::Theme;
use crate::protocol::Net;
use crate::state::Dashboard;

/// Recent training steps averaged for the live row.
const LIVE_WINDOW: usize = 20;

pub fn render(frame: &mut Frame, area: Rect, dash: &Dashboard, theme: Theme, block: Block) {
    let header = Row::new(["depth", "steps", "plain tr/te", "resid tr/te"]).style(theme.dim());
    let pair = |train: f64, test: f64| format!("{train:4.1}/{test:4.1}");
    let mut rows = Vec::new();
    let mut previous_plain: Option<f64> = None;
    for s in &dash.summaries {
        let worse = previous_plain.is_some_and(|p| s.train_error[0] > p);
        previous_plain = Some(s.train_error[0]);
        let flag = match (worse, theme.ascii) {
            (false, _) => "",
            (true, true) => " ^",
            (true, false) => " ▲",
        };
        let plain_style = if worse {
            theme.highlight()
        } else {
            theme.net(Net::Plain)
        };
        rows.push(Row::new([
            Cell::from(s.depth.to_string()),
            Cell::from(s.steps.to_string()),
            Cell::from(Span::styled(
                format!("{}{flag}", pair(s.train_error[0], s.test_error[0])),
                plain_style,
            )),
            Cell::from(Span::styled(
                pair(s.train_error[1], s.test_error[1]),
                theme.net(Net::Residual),
            )),
        ]));
    }
    // The live row, until the current depth's own summary row replaces it at its step limit.
    let closed = |depth: usize| {
        dash.summaries
            .iter()
            .any(|s| s.depth == depth && s.steps == dash.depth_step())
    };
    if let Some(info) = dash
        .info
        .as_ref()
        .filter(|i| dash.depth_step() > 0 && !closed(i.depth))
    {
        // Running batch error over the last steps at this depth, and the latest test error.
        let train = |n: Net| {
            let recent: Vec<f64> = dash.train_accuracy[n.index()]
                .points()
                .iter()
                .rev()
                .take_while(|p| dash.is_current(p.0))
                .take(LIVE_WINDOW)
                .map(|p| p.1)
                .collect();
            (!recent.is_empty())
                .then(|| 100.0 * (1.0 - recent.iter().sum::<f64>() / recent.len() as f64))
        };
        let test = |n: Net| {
            dash.current(&dash.test_accuracy[n.index()])
                .map(|p| 100.0 * (1.0 - p.1))
        };
        let cell = |n: Net| match (train(n), test(n)) {
            (Some(tr), Some(te)) => pair(tr, te),
            (Some(tr), None) => format!("{tr:4.1}/ -"),
            _ => "-".into(),
        };
        rows.push(
            Row::new([
                Cell::from(format!("{} now", info.depth)),
                Cell::from(dash.depth_step().to_string()),
                Cell::from(cell(Net::Plain)),
                Cell::from(cell(Net::Residual)),
            ])
            .style(theme.dim()),
        );
    }
    let widths = [
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(12),
        Constraint::Length(11),
    ];
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let table_height = rows.len() as u16 + 1;
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    let legend =
        Paragraph::new(Span::styled(legend(theme.ascii), theme.dim())).wrap(Wrap { trim: true });
    let legend_height = legend.line_count(inner.width) as u16;
    // The legend only where it fits whole, one blank line below the table.
    if inner.height >= table_height + 1 + legend_height {
        let [top, _, bottom] = Layout::vertical([
            Constraint::Length(table_height),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(table, top);
        frame.render_widget(legend, bottom);
    } else {
        frame.render_widget(table, inner);
    }
}

fn legend(ascii: bool) -> String {
    let flag = if ascii { "^" } else { "▲" };
    format!(
        "Error % = 100 - accuracy, both nets in eval mode when a depth closes (its step limit or \
         d/D): train on a fixed training subset, test on the test split. {flag} marks a plain net \
         that trains worse than the shallower one above it: the degradation problem. The \
         \"now\" row: running batch error over the last {LIVE_WINDOW} steps / latest test error."
    )
}
