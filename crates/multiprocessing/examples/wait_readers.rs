//! Python's `wait()` example (Listeners and Clients): four processes each send ten messages
//! down their own pipe, and the parent reads whichever pipes are ready until every one of them
//! has reached its end.
//!
//! ```python
//! import time, random
//! from multiprocessing import Process, Pipe, current_process
//! from multiprocessing.connection import wait
//!
//! def foo(w):
//!     for i in range(10):
//!         w.send((i, current_process().name))
//!     w.close()
//!
//! if __name__ == '__main__':
//!     readers = []
//!
//!     for i in range(4):
//!         r, w = Pipe(duplex=False)
//!         readers.append(r)
//!         p = Process(target=foo, args=(w,))
//!         p.start()
//!         # We close the writable end of the pipe now to be sure that
//!         # p is the only process which owns a handle for it.  This
//!         # ensures that when p closes its handle for the writable end,
//!         # wait() will promptly report the readable end as being ready.
//!         w.close()
//!
//!     while readers:
//!         for r in wait(readers):
//!             try:
//!                 msg = r.recv()
//!             except EOFError:
//!                 readers.remove(r)
//!             else:
//!                 print(msg)
//! ```
//!
//! Prints 40 lines such as `(0, 'Process-1')`, ten from each process in its order, the
//! processes interleaved as they run; then it ends.

use multiprocessing::connection::Error;
use multiprocessing::{Connection, Process, current_process, pipe, wait};

fn foo(mut w: Connection) {
    for i in 0u32..10 {
        w.send(&(i, current_process().name()))
            .expect("send to the parent");
    }
    w.close().expect("close the writable end");
}

fn main() -> Result<(), multiprocessing::Error> {
    let mut readers = Vec::new();
    let mut children = Vec::new();
    for _ in 0..4 {
        let (r, w) = pipe(false)?;
        readers.push(r);
        // `w` moves into the process, which drops it once the child has started: the child
        // is then the only owner of the writable end (Python's `w.close()` here).
        let p = Process::new(foo, (w,));
        p.start()?;
        children.push(p);
    }

    while !readers.is_empty() {
        let ready: Vec<usize> = {
            let all: Vec<&Connection> = readers.iter().collect();
            wait(&all, None)?
                .into_iter()
                .filter_map(|r| readers.iter().position(|c| std::ptr::eq(c, r)))
                .collect()
        };
        let mut ended = Vec::new();
        for i in ready {
            match readers[i].recv::<(u32, String)>() {
                Ok((n, name)) => println!("({n}, '{name}')"),
                Err(Error::Eof) => ended.push(i),
                Err(e) => return Err(e.into()),
            }
        }
        for i in ended.into_iter().rev() {
            readers.remove(i);
        }
    }
    // Python joins its children at exit; here, explicitly.
    for p in children {
        p.join()?;
    }
    Ok(())
}
