//! A worker killed in the middle of a `map`: CPython's pool waits for ever here (gh-66587);
//! this one fails the lost task with a `WorkerLost` error naming it, replaces the worker, and
//! serves the next `map`.
//!
//! ```python
//! import os, signal
//! from multiprocessing import Pool
//!
//! def f(x):
//!     if x == 5:
//!         os.kill(os.getpid(), signal.SIGKILL)
//!     return x * x
//!
//! if __name__ == '__main__':
//!     with Pool(2) as pool:
//!         print(pool.map(f, range(10), chunksize=1))  # hangs for ever
//! ```
//!
//! Prints the error (task 5, killed by SIGKILL), then `[0, 1, 4, 9, 16]` from the next map.

use multiprocessing::{ErrorKind, Pool};

fn f(x: u64) -> u64 {
    if x == 5 {
        // SAFETY: a plain signal to this very process, standing for the OOM killer.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x * x
}

fn main() -> Result<(), multiprocessing::Error> {
    let pool = Pool::new(2)?;
    match pool.map_chunksize(f, 0..10, 1) {
        Ok(squares) => println!("{squares:?}"),
        Err(e) if e.kind() == ErrorKind::WorkerLost => {
            // "worker PoolWorker-2 (pid 1234) died running task 5 (items 5..6): killed by SIGKILL"
            let detail = e.to_string();
            let task = &detail[detail.find("task").unwrap_or(0)..];
            println!("lost: {task}");
        }
        Err(e) => return Err(e.into()),
    }
    println!("{:?}", pool.map(f, 0..5)?);
    Ok(())
}
