//! The row registry. Each file holds one family of rows: the raw baseline beside it and our
//! implementation in a submodule behind the cargo feature of the crate it measures.
//!
//! Adding a family: write `rows/NAME.rs` with a `rows()` function returning its [`Row`]s, add it
//! to [`all`], and teach `bench/python/mpbench.py` the same row names.

use crate::harness::Row;

mod connect;
mod event;
mod lock;
mod pipe;
mod process;
mod value;

/// Every row, in the order the table shows them.
pub(crate) fn all() -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(pipe::rows());
    rows.extend(connect::rows());
    rows.extend(process::rows());
    rows.extend(lock::rows());
    rows.extend(value::rows());
    rows.extend(event::rows());
    rows
}
