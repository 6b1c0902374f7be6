//! Python's "Contexts and start methods" example with `get_context`: the queue and the process
//! both come from a spawn context, leaving the program's default start method alone.
//!
//! ```python
//! import multiprocessing as mp
//!
//! def foo(q):
//!     q.put('hello')
//!
//! if __name__ == '__main__':
//!     ctx = mp.get_context('spawn')
//!     q = ctx.Queue()
//!     p = ctx.Process(target=foo, args=(q,))
//!     p.start()
//!     print(q.get())
//!     p.join()
//! ```
//!
//! Prints `hello`.

use multiprocessing::{Queue, StartMethod, get_context};

fn foo(q: Queue<String>) {
    q.put("hello".to_string())
        .expect("put on the parent's queue");
}

fn main() -> Result<(), multiprocessing::Error> {
    let ctx = get_context(StartMethod::Spawn);
    let q = ctx.queue()?;
    let p = ctx.process(foo, (q.clone(),)).build();
    p.start()?;
    println!("{}", q.get()?);
    p.join()?;
    Ok(())
}
