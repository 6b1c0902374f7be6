//! Helpers shared by the cross-crate tests.

pub mod examples;
pub mod fork;
pub mod sync_workers;
