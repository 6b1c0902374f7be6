//! The row registry. Each file holds one family of rows: the raw baseline beside it and our
//! implementation in a submodule behind the cargo feature of the crate it measures.
//!
//! Adding a family: write `rows/NAME.rs` with a `rows()` function returning its [`Row`]s, add it
//! to [`all`], and teach `bench/python/mpbench.py` the same row names.

use crate::harness::Row;

mod connect;
mod event;
mod lock;
mod manager;
mod mpi;
mod pipe;
mod pool;
mod process;
mod queue;
mod value;

#[cfg(feature = "ours-mpi")]
pub(crate) use mpi::ours::ranks as mpi_ranks;

/// Every row, in the order the table shows them.
pub(crate) fn all() -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(pipe::rows());
    rows.extend(connect::rows());
    rows.extend(process::rows());
    rows.extend(lock::rows());
    rows.extend(value::rows());
    rows.extend(event::rows());
    rows.extend(queue::rows());
    rows.extend(pool::rows());
    rows.extend(mpi::rows());
    rows.extend(manager::rows());
    rows
}

#[cfg(test)]
mod tests {
    use super::all;

    #[test]
    fn row_names_are_unique() {
        let rows = all();
        for (i, r) in rows.iter().enumerate() {
            assert!(
                rows[..i].iter().all(|o| o.name != r.name),
                "two rows are named {}",
                r.name
            );
        }
    }

    #[test]
    fn quick_placements_are_among_the_full_ones() {
        for r in all() {
            assert!(!r.placements.is_empty(), "{} has no placement", r.name);
            for p in r.quick_placements {
                assert!(r.placements.contains(p), "{}: quick {p:?}", r.name);
            }
        }
    }

    #[test]
    fn python_script_knows_every_row() {
        let script = include_str!("../../python/mpbench.py");
        for r in all() {
            assert!(
                script.contains(&format!("\"{}\":", r.name)),
                "bench/python/mpbench.py has no row {}",
                r.name
            );
        }
    }
}
