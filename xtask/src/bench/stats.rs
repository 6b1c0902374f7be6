//! Aggregation: each run's samples reduce to their median; the repetitions of a column reduce to
//! median, min and max.

/// Median, min and max of a column's repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Summary {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// How many repetitions went in.
    pub(crate) reps: usize,
}

impl Summary {
    /// Summarizes `values`; `None` when empty.
    pub(crate) fn of(values: &[f64]) -> Option<Summary> {
        Some(Summary {
            median: median(values)?,
            min: values.iter().copied().reduce(f64::min)?,
            max: values.iter().copied().reduce(f64::max)?,
            reps: values.len(),
        })
    }
}

/// The median; the mean of the middle two for an even count; `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn median_of_nothing_is_none() {
        assert_eq!(median(&[]), None);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn summary_keeps_median_min_max_and_count() {
        let s = Summary::of(&[10.0, 12.0, 9.0, 30.0, 11.0]).unwrap();
        assert_eq!(
            s,
            Summary {
                median: 11.0,
                min: 9.0,
                max: 30.0,
                reps: 5
            }
        );
    }
}
