//! Process-based parallelism for Rust, after Python's `multiprocessing`.
//!
//! This facade re-exports the workspace's crates under Python's names; depend on a sub-crate
//! instead when you need only part of it.

pub use multiprocessing_core as core;
pub use multiprocessing_core::{AuthKey, codec, identity, logging, transfer};

#[cfg(feature = "process")]
pub use multiprocessing_process as process;
#[cfg(feature = "process")]
pub use multiprocessing_process::{
    Context, JoinHandle, Process, ProcessBuilder, StartMethod, active_children, cpu_count,
    current_process, default_context, freeze_support, get_all_start_methods, get_context,
    get_start_method, parent_process, process_cpu_count, set_executable, set_start_method, spawn,
};
