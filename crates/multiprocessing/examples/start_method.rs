//! Python's "Contexts and start methods" example: a child started by a spawn context sends
//! `hello` back.
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
//! Queues are not built yet, so a `Pipe` carries the message. Prints `hello`.

use multiprocessing::{Connection, StartMethod, get_context, pipe};

fn foo(mut conn: Connection) {
    conn.send("hello").expect("send to the parent");
}

fn main() -> Result<(), multiprocessing::Error> {
    let ctx = get_context(StartMethod::Spawn);
    let (mut reader, writer) = pipe(false)?;
    let p = ctx.process(foo, (writer,)).build();
    p.start()?;
    let msg: String = reader.recv()?;
    println!("{msg}");
    p.join()?;
    Ok(())
}
