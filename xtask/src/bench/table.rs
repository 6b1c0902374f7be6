//! The results as a Markdown table, padded so it also reads well in a terminal.

use super::{Column, Impl, RowResult};

/// A number with three significant figures or so.
pub(crate) fn num(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A column as `median (min–max)`.
fn cell(c: &Column) -> String {
    match c {
        Column::Measured(s) => format!("{} ({}–{})", num(s.median), num(s.min), num(s.max)),
        Column::Unavailable(_) => "n/a".into(),
        Column::Failed(_) => "FAILED".into(),
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{}x", num(r)))
}

fn join_or_dash<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let joined = parts.collect::<Vec<_>>().join("; ");
    if joined.is_empty() {
        "–".into()
    } else {
        joined
    }
}

/// One line for the progress output.
pub(crate) fn progress(r: &RowResult) -> String {
    let col = |name: &str, c: &Column| match c {
        Column::Measured(s) => format!("{name} {} {}", num(s.median), r.unit),
        Column::Unavailable(_) => format!("{name} n/a"),
        Column::Failed(_) => format!("{name} FAILED"),
    };
    let mut line = format!(
        "{} | {} | {}",
        col("ours", &r.ours),
        col("cpython", &r.cpython),
        col("raw", &r.raw)
    );
    if let Some(p) = &r.peer {
        line += &format!(" | {}", col(&p.name, &p.column));
    }
    line
}

/// The table, then a note for every distinct reason a column is n/a.
pub(crate) fn render(results: &[RowResult]) -> String {
    let header = [
        "row",
        "placement",
        "unit",
        "ours",
        "CPython",
        "raw",
        "ours/CPython",
        "ours/raw",
        "CPython/raw",
        "peer",
        "ours/peer",
        "target (ours)",
        "verdict",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in results {
        let verdicts = r.verdicts();
        let placement = if r.reference_only() {
            format!("{} (ref)", r.placement)
        } else {
            r.placement.clone()
        };
        rows.push(vec![
            r.name.clone(),
            placement,
            r.unit.clone(),
            cell(&r.ours),
            cell(&r.cpython),
            cell(&r.raw),
            ratio(r.ratio(Impl::Ours, Impl::Cpython)),
            ratio(r.ratio(Impl::Ours, Impl::Raw)),
            ratio(r.ratio(Impl::Cpython, Impl::Raw)),
            r.peer.as_ref().map_or_else(
                || "–".into(),
                |p| format!("{}: {}", p.name, cell(&p.column)),
            ),
            ratio(r.ratio(Impl::Ours, Impl::Peer)),
            join_or_dash(verdicts.iter().map(|(t, _)| t.as_str())),
            join_or_dash(verdicts.iter().map(|(_, v)| *v)),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let mut out = vec![line(&rows[0])];
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push(line(&rule));
    out.extend(rows[1..].iter().map(|r| line(r)));

    let mut notes: Vec<String> = Vec::new();
    for r in results {
        for i in [Impl::Ours, Impl::Cpython, Impl::Raw, Impl::Peer] {
            let Some(column) = r.column(i) else { continue };
            let note = match column {
                Column::Unavailable(why) => format!("{} n/a: {why}", i.name()),
                Column::Failed(e) => format!("{} {} {} FAILED: {e}", r.name, r.placement, i.name()),
                Column::Measured(_) => continue,
            };
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
    }
    out.push(String::new());
    out.push(
        "Each cell: median (min–max) over the repetitions, each repetition the median of its \
         samples. Ratios divide medians; for GB/s and Mmsg/s higher is better. (ref): unpinned, a reference only."
            .into(),
    );
    out.extend(notes.iter().map(|n| format!("- {n}")));
    out.join("\n") + "\n"
}
