//! The Pool API on MPI ranks: mpi4py's `MPIPoolExecutor` and `mpi4py.util.pool.Pool`, with
//! [`Pool`](multiprocessing_pool::Pool)'s calls and tasks.
//!
//! When work outgrows one machine, the same pool code runs on a cluster through MPI, the
//! engine clusters already run. An [`MpiPool`] has the local pool's calls (`map`, `imap`,
//! `imap_unordered`, `starmap`, `apply_async`, callbacks, chunk sizes, an initializer,
//! `close`/`join`), and
//! its tasks are the same code references: a `fn` item or a closure capturing nothing, with
//! serde arguments and results.
//!
//! ```no_run
//! use multiprocessing_mpi::MpiPool;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! fn main() -> Result<(), multiprocessing_mpi::Error> {
//!     // Every rank runs main up to here; only rank 0 goes on.
//!     let pool = MpiPool::new()?;
//!     let squares = pool.map(square, 0..1000)?;
//!     println!("sum of squares = {}", squares.iter().sum::<u64>());
//!     pool.close();
//!     pool.join()
//! }
//! ```
//!
//! # Two shapes, as in mpi4py
//!
//! - **Pre-started ranks**: `mpirun -n 4 prog` starts four copies; rank 0 gets a pool over
//!   ranks 1 to 3, which serve tasks inside [`MpiPool::new`] until rank 0 closes the pool, and
//!   then exit.
//! - **Spawned workers**: `prog` started alone spawns its workers with `MPI_Comm_spawn`
//!   (the same executable, whose worker role a constructor takes before `main`, so `main`
//!   does not run in them), by default one per CPU ([`MpiPoolBuilder::processes`]).
//!
//! # What it promises
//!
//! - Every worker reports its host and its executable's fingerprint first; a worker that runs
//!   another build fails [`MpiPool::new`] with [`Error::Refused`] naming its rank and host,
//!   and no task is sent. Each task's code reference is checked again on the worker (the
//!   fingerprint and a tag under the family's authkey, which rank 0 hands to the workers it
//!   accepted) before anything is called.
//! - Load balancing: a worker holds at most two tasks (the one it runs and the next) and gets
//!   another only as it answers one, so faster ranks take more chunks.
//! - A task that panics is that call's error ([`Error::Panicked`], naming the rank and host);
//!   the pool goes on.
//! - MPI is fail-stop: a worker that dies (killed, aborted) ends the whole job, rank 0
//!   included. The local [`Pool`](multiprocessing_pool::Pool) is the one that survives a lost
//!   worker.
//! - One `MpiPool` per run: MPI is initialized by the first and finalized when it is closed
//!   and joined (or dropped).
//!
//! See `docs/cluster.md` for running on a cluster (host files, `mpirun`, Slurm's `srun`).

mod pool;
mod spawn;
mod wire;
mod worker;

pub use multiprocessing_pool::{AsyncResult, Callbacks, Error, ErrorKind, IMap, Result};
pub use pool::{MpiPool, MpiPoolBuilder, RankInfo, Workers};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MpiPool>();
        send_sync::<RankInfo>();
    }
}
