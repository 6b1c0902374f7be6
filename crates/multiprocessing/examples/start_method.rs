//! Python's "Contexts and start methods" example with `set_start_method`: a child started by
//! the spawn method puts `hello` on a queue, the parent prints it.
//!
//! ```python
//! import multiprocessing as mp
//!
//! def foo(q):
//!     q.put('hello')
//!
//! if __name__ == '__main__':
//!     mp.set_start_method('spawn')
//!     q = mp.Queue()
//!     p = mp.Process(target=foo, args=(q,))
//!     p.start()
//!     print(q.get())
//!     p.join()
//! ```
//!
//! Prints `hello`. The `context` example does the same through a context object.

use multiprocessing::{Process, Queue, StartMethod, set_start_method};

fn foo(q: Queue<String>) {
    q.put("hello".to_string())
        .expect("put on the parent's queue");
}

fn main() -> Result<(), multiprocessing::Error> {
    // As in Python, set once, at the start of the main program.
    set_start_method(StartMethod::Spawn, false)?;
    let q = Queue::new()?;
    let p = Process::new(foo, (q.clone(),));
    p.start()?;
    println!("{}", q.get()?);
    p.join()?;
    Ok(())
}
