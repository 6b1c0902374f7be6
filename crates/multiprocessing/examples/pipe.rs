//! Python's `Pipe` example ("Exchanging objects between processes"): a child sends a list over
//! its end of a duplex pipe, the parent receives it from the other end.
//!
//! ```python
//! from multiprocessing import Process, Pipe
//!
//! def f(conn):
//!     conn.send([42, None, 'hello'])
//!     conn.close()
//!
//! if __name__ == '__main__':
//!     parent_conn, child_conn = Pipe()
//!     p = Process(target=f, args=(child_conn,))
//!     p.start()
//!     print(parent_conn.recv())   # prints "[42, None, 'hello']"
//!     p.join()
//! ```
//!
//! Prints `[42, None, 'hello']`.

use multiprocessing::{Connection, Process, pipe};

/// Python's list `[42, None, 'hello']`, typed.
type Item = (i32, Option<i32>, String);

fn f(mut conn: Connection) {
    conn.send(&(42, None::<i32>, "hello"))
        .expect("send to the parent");
    conn.close().expect("close the child's end");
}

fn main() -> Result<(), multiprocessing::Error> {
    let (mut parent_conn, child_conn) = pipe(true)?;
    let p = Process::new(f, (child_conn,));
    p.start()?;
    let (a, b, c): Item = parent_conn.recv()?;
    // Printed as Python's repr of the list.
    let b = b.map_or("None".to_string(), |b| b.to_string());
    println!("[{a}, {b}, '{c}']");
    p.join()?;
    Ok(())
}
