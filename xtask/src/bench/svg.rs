//! `target/bench/ratios.svg`: for each row, how many times slower than the raw baseline ours and
//! CPython are (log scale; 1 is the machine's limit).

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::{Impl, RowResult};

const OURS: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const CPYTHON: RGBColor = RGBColor(0x1b, 0x6a, 0xa5);

/// Draws the chart; rows without a raw baseline are left out.
pub(crate) fn chart(results: &[RowResult], path: &Path) -> Result<(), String> {
    let rows: Vec<(String, Option<f64>, Option<f64>)> = results
        .iter()
        .filter(|r| r.raw.summary().is_some())
        .map(|r| {
            (
                format!("{} {}", r.name, r.placement),
                r.cost_over_raw(Impl::Ours),
                r.cost_over_raw(Impl::Cpython),
            )
        })
        .collect();
    let n = rows.len().max(1);
    let values = rows.iter().flat_map(|(_, o, c)| [*o, *c]).flatten();
    let (lo, hi) = values.fold((1.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let height = 120 + 34 * n as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    draw(&root, &rows, n, lo / 1.5, hi * 3.0).map_err(|e| format!("{}: {e}", path.display()))?;
    root.present()
        .map_err(|e| format!("{}: {e}", path.display()))
}

type Bars<'a> = &'a [(String, Option<f64>, Option<f64>)];

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    rows: Bars<'_>,
    n: usize,
    lo: f64,
    hi: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "times slower than the raw OS baseline (log scale; 1 = raw)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(230)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())?;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) if *i < rows.len() => rows[n - 1 - i].0.clone(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .y_labels(n)
        .y_label_formatter(&label)
        .x_desc("× raw")
        .disable_y_mesh()
        .draw()?;
    // The first row at the top; in each row's band ours is the upper bar, CPython the lower.
    for (imp, color) in [(Impl::Ours, OURS), (Impl::Cpython, CPYTHON)] {
        let bars: Vec<(f64, SegmentValue<usize>, SegmentValue<usize>)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let v = if imp == Impl::Ours { r.1 } else { r.2 }?;
                let band = n - 1 - i;
                Some(if imp == Impl::Ours {
                    (
                        v,
                        SegmentValue::CenterOf(band),
                        SegmentValue::Exact(band + 1),
                    )
                } else {
                    (v, SegmentValue::Exact(band), SegmentValue::CenterOf(band))
                })
            })
            .collect();
        let name = if imp == Impl::Ours { "ours" } else { "CPython" };
        chart
            .draw_series(bars.iter().map(|(v, a, b)| {
                Rectangle::new([(lo, a.clone()), (*v, b.clone())], color.mix(0.85).filled())
            }))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        // The label hangs from the bar's upper edge, so it sits beside the bar.
        chart.draw_series(bars.iter().map(|(v, _, top)| {
            Text::new(
                format!(" {}x", super::table::num(*v)),
                (*v, top.clone()),
                ("sans-serif", 11).into_font().color(&BLACK),
            )
        }))?;
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
        BLACK.stroke_width(1),
    )))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::stats::Summary;
    use super::super::{Column, Target};
    use super::*;

    fn row(name: &str, cpython: f64, raw: f64) -> RowResult {
        RowResult {
            name: name.into(),
            about: String::new(),
            placement: "one-cpu".into(),
            unit: "us".into(),
            higher_is_better: false,
            targets: vec![Target::AtMostRaw(1.3)],
            ours: Column::Unavailable("off".into()),
            cpython: Column::Measured(Summary::of(&[cpython]).unwrap()),
            raw: Column::Measured(Summary::of(&[raw]).unwrap()),
            peer: None,
            failed_runs: 0,
        }
    }

    #[test]
    fn chart_is_written_with_rows_and_without() {
        let dir = std::env::temp_dir().join(format!("xtask-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ratios.svg");
        chart(
            &[row("pipe-rtt-value", 16.0, 8.0), row("lock", 34.0, 9.5)],
            &path,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("pipe-rtt-value one-cpu"));
        chart(&[], &path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
