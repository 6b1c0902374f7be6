//! The "joining processes that use queues" example of Python's programming guidelines, which
//! deadlocks in CPython: the child cannot exit until its feeder thread has pushed the large item
//! into the pipe, and the parent joins it before reading. Here `put` writes the item into shared
//! memory before it returns, so the child exits and the join returns. (Items a full ring had no
//! room for would wait in the child's outbox, a few seconds at most without a reader at exit,
//! then be dropped, counted in `Queue::lost` and reported.)
//!
//! ```python
//! from multiprocessing import Process, Queue
//!
//! def f(q):
//!     q.put('X' * 1000000)
//!
//! if __name__ == '__main__':
//!     queue = Queue()
//!     p = Process(target=f, args=(queue,))
//!     p.start()
//!     p.join()                    # this deadlocks
//!     obj = queue.get()
//! ```
//!
//! Prints `joined before draining: exit code 0` and `got 1000000 bytes`.

use multiprocessing::{Process, Queue};

fn f(q: Queue<String>) {
    q.put("X".repeat(1_000_000)).unwrap();
}

fn main() -> Result<(), multiprocessing::Error> {
    let queue = Queue::new()?;
    let p = Process::new(f, (queue.clone(),));
    p.start()?;
    let code = p.join()?; // does not deadlock
    println!("joined before draining: exit code {code}");
    let obj = queue.get()?;
    println!("got {} bytes", obj.len());
    Ok(())
}
