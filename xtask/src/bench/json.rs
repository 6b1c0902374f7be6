//! `target/bench/results.json`: one object per row and placement.

use serde_json::{Value, json};

use super::{Column, Impl, RowResult};

fn column(c: &Column) -> Value {
    match c {
        Column::Measured(s) => json!({
            "median": s.median, "min": s.min, "max": s.max, "reps": s.reps,
        }),
        Column::Unavailable(why) => json!({ "unavailable": why }),
        Column::Failed(e) => json!({ "failed": e }),
    }
}

/// One row: name, placement, unit, ours, cpython, raw (each median/min/max, or why not),
/// the ratios of the medians and the verdict of each target.
pub(crate) fn row(r: &RowResult) -> Value {
    let targets: Vec<Value> = r
        .verdicts()
        .into_iter()
        .map(|(target, verdict)| json!({ "target": target, "verdict": verdict }))
        .collect();
    json!({
        "name": r.name,
        "about": r.about,
        "placement": r.placement,
        "reference_only": r.reference_only(),
        "unit": r.unit,
        "higher_is_better": r.higher_is_better,
        "ours": column(&r.ours),
        "cpython": column(&r.cpython),
        "raw": column(&r.raw),
        "peer": r.peer.as_ref().map(|p| {
            let mut c = column(&p.column);
            c["name"] = p.name.clone().into();
            c
        }),
        "ratios": {
            "ours_over_cpython": r.ratio(Impl::Ours, Impl::Cpython),
            "ours_over_raw": r.ratio(Impl::Ours, Impl::Raw),
            "cpython_over_raw": r.ratio(Impl::Cpython, Impl::Raw),
            "ours_over_peer": r.ratio(Impl::Ours, Impl::Peer),
        },
        "targets": targets,
        "failed_runs": r.failed_runs,
    })
}

/// The whole file: the machine, the mode and the rows.
pub(crate) fn results(results: &[RowResult], machine: &Value, quick: bool) -> Value {
    json!({
        "machine": machine,
        "quick": quick,
        "rows": results.iter().map(row).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::stats::Summary;
    use super::super::{PeerColumn, Target};
    use super::*;

    fn sample() -> RowResult {
        RowResult {
            name: "pipe-rtt-bytes64".into(),
            about: "round trip".into(),
            placement: "one-cpu".into(),
            unit: "us".into(),
            higher_is_better: false,
            targets: vec![Target::AtMostRaw(1.3)],
            ours: Column::Unavailable("built without feature `ours-connection`".into()),
            cpython: Column::Measured(Summary::of(&[14.0, 13.0, 15.0]).unwrap()),
            raw: Column::Measured(Summary::of(&[4.0, 3.5, 5.0]).unwrap()),
            peer: None,
            failed_runs: 0,
        }
    }

    #[test]
    fn row_has_name_placement_unit_and_three_summaries() {
        let v = row(&sample());
        assert_eq!(v["name"], "pipe-rtt-bytes64");
        assert_eq!(v["placement"], "one-cpu");
        assert_eq!(v["unit"], "us");
        assert_eq!(v["cpython"]["median"], 14.0);
        assert_eq!(v["cpython"]["min"], 13.0);
        assert_eq!(v["cpython"]["max"], 15.0);
        assert_eq!(v["raw"]["median"], 4.0);
        assert_eq!(v["raw"]["reps"], 3);
        assert!(v["ours"]["unavailable"].is_string());
        assert!(v["ours"]["median"].is_null());
        assert_eq!(v["ratios"]["cpython_over_raw"], 3.5);
        assert!(v["ratios"]["ours_over_raw"].is_null());
        assert_eq!(v["targets"][0]["verdict"], "n/a");
    }

    #[test]
    fn verdict_follows_the_ratio() {
        let mut r = sample();
        r.ours = Column::Measured(Summary::of(&[5.0]).unwrap());
        assert_eq!(row(&r)["targets"][0]["verdict"], "met");
        r.ours = Column::Measured(Summary::of(&[5.5]).unwrap());
        assert_eq!(row(&r)["targets"][0]["verdict"], "missed");
    }

    #[test]
    fn peer_column_has_its_name_ratio_and_target() {
        let mut r = sample();
        r.targets = vec![Target::FasterThanPeer(5.0)];
        r.ours = Column::Measured(Summary::of(&[1.0]).unwrap());
        r.peer = Some(PeerColumn {
            name: "ipc-channel".into(),
            column: Column::Measured(Summary::of(&[6.0]).unwrap()),
        });
        let v = row(&r);
        assert_eq!(v["peer"]["name"], "ipc-channel");
        assert_eq!(v["peer"]["median"], 6.0);
        assert_eq!(v["ratios"]["ours_over_peer"], 1.0 / 6.0);
        assert_eq!(v["targets"][0]["verdict"], "met");
        r.peer.as_mut().unwrap().column = Column::Measured(Summary::of(&[4.0]).unwrap());
        assert_eq!(row(&r)["targets"][0]["verdict"], "missed");
        r.peer = None;
        assert!(row(&r)["peer"].is_null());
        assert_eq!(row(&r)["targets"][0]["verdict"], "n/a");
    }

    #[test]
    fn file_lists_rows_under_machine_and_mode() {
        let v = results(&[sample(), sample()], &json!({"cpus": 2}), true);
        assert_eq!(v["quick"], true);
        assert_eq!(v["machine"]["cpus"], 2);
        assert_eq!(v["rows"].as_array().unwrap().len(), 2);
    }
}
