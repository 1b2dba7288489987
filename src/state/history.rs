//! A bounded time series that keeps its whole span: when full, neighbouring points are merged
//! pairwise (averaged) and later points are accumulated at the doubled stride. Memory stays at
//! `capacity` points however long the run; recent and old points share one resolution.

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    points: Vec<(f64, f64)>,
    capacity: usize,
    /// Raw points per stored point.
    stride: usize,
    /// Sums of the raw points not yet stored: (x, y, count).
    pending: (f64, f64, usize),
    last: Option<(f64, f64)>,
}

impl History {
    /// `capacity` is rounded up to an even number of at least 2.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2).next_multiple_of(2);
        Self {
            points: Vec::with_capacity(capacity),
            capacity,
            stride: 1,
            pending: (0.0, 0.0, 0),
            last: None,
        }
    }

    pub fn push(&mut self, x: f64, y: f64) {
        self.last = Some((x, y));
        if !y.is_finite() {
            return;
        }
        self.pending = (self.pending.0 + x, self.pending.1 + y, self.pending.2 + 1);
        if self.pending.2 < self.stride {
            return;
        }
        let n = self.pending.2 as f64;
        self.points.push((self.pending.0 / n, self.pending.1 / n));
        self.pending = (0.0, 0.0, 0);
        if self.points.len() == self.capacity {
            self.points = self
                .points
                .chunks_exact(2)
                .map(|p| (f64::midpoint(p[0].0, p[1].0), f64::midpoint(p[0].1, p[1].1)))
                .collect();
            self.stride *= 2;
        }
    }

    /// Stored points, oldest first (the newest raw points may still be pending: see `last`).
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// The newest raw point, stored or not.
    pub fn last(&self) -> Option<(f64, f64)> {
        self.last
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// Exponential moving average of the stored points (weight `alpha` for the newest), started
    /// afresh at the first point past each of `restarts` (ascending x), so that one average never
    /// blends two different things (two networks, before and after a depth change).
    pub fn smoothed(&self, alpha: f64, restarts: &[f64]) -> Vec<(f64, f64)> {
        let mut ema = None;
        let mut passed = 0;
        self.points
            .iter()
            .map(|&(x, y)| {
                let now_passed = restarts.iter().take_while(|&&r| x > r).count();
                if now_passed > passed {
                    passed = now_passed;
                    ema = None;
                }
                let v = ema.map_or(y, |e: f64| e + alpha * (y - e));
                ema = Some(v);
                (x, v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_keeps_the_whole_span() {
        let mut h = History::new(8);
        for i in 0..1000 {
            h.push(f64::from(i), f64::from(i));
        }
        assert!(h.points().len() <= 8);
        let first = h.points()[0];
        let last = *h.points().last().unwrap();
        assert!(
            first.0 < 70.0,
            "oldest point still near the start: {first:?}"
        );
        assert!(last.0 > 700.0, "{last:?}");
        // Averages of a linear series stay on the line.
        assert!(h.points().iter().all(|(x, y)| (x - y).abs() < 1e-9));
        assert_eq!(h.last(), Some((999.0, 999.0)));
    }

    #[test]
    fn smoothing_starts_afresh_past_each_restart() {
        let mut h = History::new(16);
        for (x, y) in [
            (1.0, 10.0),
            (2.0, 10.0),
            (3.0, 0.0),
            (4.0, 0.0),
            (5.0, 4.0),
            (6.0, 4.0),
        ] {
            h.push(x, y);
        }
        let ys = |s: Vec<(f64, f64)>| s.into_iter().map(|p| p.1).collect::<Vec<_>>();
        assert_eq!(
            ys(h.smoothed(0.5, &[])),
            [10.0, 10.0, 5.0, 2.5, 3.25, 3.625]
        );
        // Restarts after x = 2 and x = 4 (and one before any point): each segment its own.
        assert_eq!(
            ys(h.smoothed(0.5, &[0.0, 2.0, 4.0])),
            [10.0, 10.0, 0.0, 0.0, 4.0, 4.0]
        );
        // Two restarts between the same pair of points start it afresh once.
        assert_eq!(
            ys(h.smoothed(0.5, &[2.0, 2.5])),
            [10.0, 10.0, 0.0, 0.0, 2.0, 3.0]
        );
    }

    #[test]
    fn non_finite_values_are_shown_as_last_but_not_stored() {
        let mut h = History::new(4);
        h.push(1.0, 2.0);
        h.push(2.0, f64::NAN);
        assert_eq!(h.points(), &[(1.0, 2.0)]);
        assert!(h.last().is_some_and(|(_, y)| y.is_nan()));
    }
}
