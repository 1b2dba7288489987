//! Numbers written into narrow places: tick labels, legends, the hyperparameter panel, headless
//! progress lines. Whatever the value (a learning rate halved twenty times, a loss that blew up
//! to 1e28), the text stays short and says the value: never `0.0000` for a small positive
//! number, never a label so long that ratatui cuts its unit off.

/// Above this, and below [`decimal`]'s smallest fixed value, numbers are written as `1.40e28`.
const LARGE: f64 = 1e5;

/// A number that fits a narrow tick label (at most 8 characters: "-1.0e300"; 6 for what a chart
/// of losses, accuracies and gradient norms meets):
/// 0.0123 → "0.01", 2345 → "2.3k", 3.2e6 → "3.2e6", 0.0004 → "4e-4".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        format!("{v}")
    } else if a >= 999_950.0 {
        // "{:.1e}" of 3.2e6 is "3.2e6"; "M" would need "1234.5M" for 1.2e9, which ratatui then
        // cuts to "1234.5", a million times too small.
        format!("{v:.1e}")
    } else if a >= 999.5 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else if a >= 1e-2 {
        format!("{v:.2}")
    } else {
        format!("{v:.0e}")
    }
}

/// A whole number (a step, a block) as a tick label: 1 → "1", 9.5 → "10", 12345 → "12.3k".
pub fn count(v: f64) -> String {
    if v.abs() >= 999.5 {
        compact(v)
    } else {
        format!("{:.0}", v.round())
    }
}

/// `places` decimals where that keeps at least two significant digits and the number short
/// (0.1 → "0.1000" at 4 places), three significant digits in scientific notation elsewhere
/// (0.0000244 → "2.44e-5", 1.4e28 → "1.40e28"); `NaN` and infinities as Rust writes them.
pub fn decimal(v: f64, places: usize) -> String {
    let a = v.abs();
    let smallest_fixed = 10f64.powi(1 - i32::try_from(places).unwrap_or(i32::MAX));
    if !v.is_finite() || a == 0.0 || (smallest_fixed..LARGE).contains(&a) {
        format!("{v:.places$}")
    } else {
        format!("{v:.2e}")
    }
}

/// A setting as it was given where that is short (0.1, 0.0001, 1000), else [`decimal`] at 4
/// places (0.0000244140625 → "2.44e-5"): the hyperparameter panel's width is 80 columns' half.
pub fn setting(v: f64) -> String {
    let exact = format!("{v}");
    if exact.chars().count() <= 8 {
        exact
    } else {
        decimal(v, 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_labels_stay_short_and_keep_their_magnitude() {
        for (v, s) in [
            (0.0123, "0.01"),
            (2345.0, "2.3k"),
            (999_949.0, "999.9k"),
            (999_960.0, "1.0e6"),
            (3.2e6, "3.2e6"),
            (5.104e15, "5.1e15"),
            (1.396e28, "1.4e28"),
            (-2.0e9, "-2.0e9"),
            (1.5, "1.5"),
            (42.0, "42"),
            (999.6, "1.0k"),
            (0.0004, "4e-4"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(compact(v), s, "{v}");
        }
        for v in [1e6, 7.7e14, 1e300, -1e300, 1e-300] {
            assert!(compact(v).chars().count() <= 8, "{v}: {}", compact(v));
        }
    }

    #[test]
    fn step_and_block_labels_are_whole_numbers() {
        for (v, s) in [
            (1.0, "1"),
            (9.5, "10"),
            (240.0, "240"),
            (999.4, "999"),
            (999.6, "1.0k"),
            (12_345.0, "12.3k"),
            (0.0, "0"),
        ] {
            assert_eq!(count(v), s);
        }
    }

    #[test]
    fn decimals_never_hide_a_small_value_or_spill_a_large_one() {
        for (v, places, s) in [
            (0.1, 4, "0.1000"),
            (0.0125, 4, "0.0125"),
            (0.001, 4, "0.0010"),
            (0.000_976_562_5, 4, "9.77e-4"),
            (0.000_024_414_062_5, 4, "2.44e-5"),
            (1e9, 4, "1.00e9"),
            (0.72, 2, "0.72"),
            (0.05, 2, "5.00e-2"),
            (8.5e14, 2, "8.50e14"),
            (2.303, 3, "2.303"),
            (99_999.0, 3, "99999.000"),
            (0.0, 4, "0.0000"),
            (f64::NAN, 3, "NaN"),
            (-0.5, 2, "-0.50"),
        ] {
            assert_eq!(decimal(v, places), s, "{v} at {places} places");
        }
    }

    #[test]
    fn settings_read_as_given_unless_too_long() {
        for (v, s) in [
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.9, "0.9"),
            (1e-5, "0.00001"),
            (0.000_024_414_062_5, "2.44e-5"),
            (1e9, "1.00e9"),
            (0.123_456_789, "0.1235"),
        ] {
            assert_eq!(setting(v), s, "{v}");
        }
    }
}
