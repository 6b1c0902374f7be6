//! Python's `Queue` example ("Exchanging objects between processes"): a child puts a list, the
//! parent gets it.
//!
//! ```python
//! from multiprocessing import Process, Queue
//!
//! def f(q):
//!     q.put([42, None, 'hello'])
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     p = Process(target=f, args=(q,))
//!     p.start()
//!     print(q.get())    # prints "[42, None, 'hello']"
//!     p.join()
//! ```
//!
//! Prints `[42, None, 'hello']`.

use multiprocessing::{Process, Queue};

/// Python's list `[42, None, 'hello']`, typed.
type Item = (i32, Option<i32>, String);

fn f(q: Queue<Item>) {
    q.put((42, None, "hello".to_string())).unwrap();
}

fn main() -> Result<(), multiprocessing::Error> {
    let q = Queue::new()?;
    let p = Process::new(f, (q.clone(),));
    p.start()?;
    let (a, b, c) = q.get()?;
    let b = b.map_or("None".to_string(), |b| b.to_string());
    println!("[{a}, {b}, '{c}']");
    p.join()?;
    Ok(())
}
