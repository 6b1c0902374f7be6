//! The `JoinableQueue` example of Python's `queue` documentation, with a worker process in place
//! of the worker thread: thirty tasks, each worked on and finished, then `join` returns.
//!
//! ```python
//! from multiprocessing import JoinableQueue, Process
//!
//! def worker(q):
//!     while True:
//!         item = q.get()
//!         print(f'Working on {item}')
//!         print(f'Finished {item}')
//!         q.task_done()
//!
//! if __name__ == '__main__':
//!     q = JoinableQueue()
//!     Process(target=worker, args=(q,), daemon=True).start()
//!     for item in range(30):
//!         q.put(item)
//!     q.join()
//!     print('All work completed')
//! ```
//!
//! Prints `Working on 0`, `Finished 0`, ... `Finished 29`, then `All work completed`.

use multiprocessing::{JoinableQueue, Process};

fn worker(q: JoinableQueue<u32>) {
    while let Ok(item) = q.get() {
        println!("Working on {item}");
        println!("Finished {item}");
        q.task_done().unwrap();
    }
}

fn main() -> Result<(), multiprocessing::Error> {
    let q = JoinableQueue::new()?;
    // A daemonic worker: terminated when the main process exits, as in Python.
    let _worker = Process::builder(worker, (q.clone(),))
        .daemon(true)
        .start()?;
    for item in 0..30 {
        q.put(item)?;
    }
    q.join();
    println!("All work completed");
    Ok(())
}
