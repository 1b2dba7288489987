//! Shared chart pieces: log-scale axes (ratatui's `Chart` has none: we plot log10 and label the
//! ticks ourselves), change markers as vertical lines, and axis bounds.

use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Dataset, GraphType};

use super::theme::Theme;
use crate::number::{compact, count};
use crate::state::Marker;

/// `[min, max]` of the values, padded so a flat series still gets a visible band.
pub fn bounds(values: impl Iterator<Item = f64>) -> Option<[f64; 2]> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    Some([lo - pad, hi + pad])
}

/// Labels at an axis's ends and middle, each value written by `label`.
fn three_labels<'a>(bounds: [f64; 2], label: impl Fn(f64) -> String) -> Vec<Span<'a>> {
    let mid = f64::midpoint(bounds[0], bounds[1]);
    [bounds[0], mid, bounds[1]]
        .into_iter()
        .map(|v| Span::raw(label(v)))
        .collect()
}

/// Three labels for a log10 axis, showing the real values.
pub fn log_labels<'a>(bounds: [f64; 2]) -> Vec<Span<'a>> {
    three_labels(bounds, |v| compact(10f64.powf(v)))
}

/// Three labels for a linear axis.
pub fn linear_labels<'a>(bounds: [f64; 2]) -> Vec<Span<'a>> {
    three_labels(bounds, compact)
}

/// `[first, last]` x of the points, unpadded (steps start where they start).
pub fn x_span(xs: impl Iterator<Item = f64>) -> [f64; 2] {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in xs.filter(|x| x.is_finite()) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if lo.is_finite() {
        [lo, hi.max(lo + 1.0)]
    } else {
        [0.0, 1.0]
    }
}

/// The x axis of a chart over steps or blocks: whole-number labels.
pub fn x_axis<'a>(bounds: [f64; 2], theme: Theme) -> Axis<'a> {
    Axis::default()
        .bounds(bounds)
        .labels(three_labels(bounds, count))
        .style(theme.dim())
}

/// The x axis of a per-block chart (blocks numbered from 1 at the input side).
pub fn block_axis<'a>(bounds: [f64; 2], theme: Theme) -> Axis<'a> {
    x_axis(bounds, theme).title("block")
}

/// A y axis with linear labels, or labels at powers of ten when `log` (values are log10).
pub fn y_axis<'a>(bounds: [f64; 2], log: bool, theme: Theme) -> Axis<'a> {
    let labels = if log {
        log_labels(bounds)
    } else {
        linear_labels(bounds)
    };
    Axis::default()
        .bounds(bounds)
        .labels(labels)
        .style(theme.dim())
}

/// Vertical line segments at each marker inside `x_bounds`, spanning `y_bounds`.
pub fn marker_lines(
    markers: &[Marker],
    x_bounds: [f64; 2],
    y_bounds: [f64; 2],
) -> Vec<[(f64, f64); 2]> {
    markers
        .iter()
        .map(|m| m.step as f64)
        .filter(|x| (x_bounds[0]..=x_bounds[1]).contains(x))
        .map(|x| [(x, y_bounds[0]), (x, y_bounds[1])])
        .collect()
}

/// A dataset that draws one marker line.
pub fn marker_dataset(line: &[(f64, f64); 2], theme: Theme) -> Dataset<'_> {
    Dataset::default()
        .data(line)
        .graph_type(GraphType::Line)
        .marker(theme.plot_marker())
        .style(theme.marker_line())
}

/// A chart's legend names, padded to one width. ratatui draws the legend box over the plot
/// without clearing it, so beside a shorter name the curves showed through (`plain⠒⠉`).
pub fn legend_names<const N: usize>(names: [&str; N]) -> [String; N] {
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    names.map(|n| format!("{n:<width$}"))
}

/// A series as scattered points or a connected line; `name` is its legend entry, "" for none
/// (an empty name would still take a legend row).
pub fn series<'a>(
    name: &'a str,
    data: &'a [(f64, f64)],
    style: Style,
    line: bool,
    theme: Theme,
) -> Dataset<'a> {
    let dataset = if name.is_empty() {
        Dataset::default()
    } else {
        Dataset::default().name(name)
    };
    dataset
        .data(data)
        .marker(theme.plot_marker())
        .graph_type(if line {
            GraphType::Line
        } else {
            GraphType::Scatter
        })
        .style(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_rows_hide_the_curves_beneath() {
        use ratatui::buffer::Buffer;
        use ratatui::layout::Rect;
        use ratatui::widgets::{Chart, Widget};
        // Points in every braille dot of the plot, under the legend too.
        let grid: Vec<(f64, f64)> = (0..=240)
            .flat_map(|i| (0..=120).map(move |j| (f64::from(i) / 240.0, f64::from(j) / 120.0)))
            .collect();
        let names = legend_names(["plain", "residual"]);
        let theme = Theme::default();
        let chart = Chart::new(
            names
                .iter()
                .map(|n| series(n, &grid, Style::default(), false, theme))
                .collect(),
        )
        .x_axis(Axis::default().bounds([0.0, 1.0]))
        .y_axis(Axis::default().bounds([0.0, 1.0]));
        let area = Rect::new(0, 0, 60, 24);
        let mut buf = Buffer::empty(area);
        chart.render(area, &mut buf);
        let rows: Vec<String> = (0..area.height)
            .map(|y| (0..area.width).map(|x| buf[(x, y)].symbol()).collect())
            .collect();
        let legend: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.rsplit_once("│plain").or(r.rsplit_once("│residual")))
            .map(|(_, inside)| inside)
            .collect();
        assert_eq!(legend.len(), 2, "{rows:#?}");
        for inside in legend {
            assert!(
                !inside
                    .chars()
                    .any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
                "a curve shows through the legend: {inside:?}"
            );
        }
    }

    #[test]
    fn bounds_skip_non_finite_and_pad_flat_series() {
        assert_eq!(bounds([f64::NAN].into_iter()), None);
        let b = bounds([1.0, 1.0].into_iter()).unwrap();
        assert!(b[0] < 1.0 && b[1] > 1.0);
    }
}
