//! Sharing state between processes, the server process: a manager's `dict` and `list`, changed by
//! a child process, printed by the parent.
//!
//! ```python
//! from multiprocessing import Process, Manager
//!
//! def f(d, l):
//!     d[1] = '1'
//!     d['2'] = 2
//!     d[0.25] = None
//!     l.reverse()
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         d = manager.dict()
//!         l = manager.list(range(10))
//!
//!         p = Process(target=f, args=(d, l))
//!         p.start()
//!         p.join()
//!
//!         print(d)
//!         print(l)
//! ```
//!
//! Prints `{0.25: None, 1: '1', '2': 2}` and `[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]`, as the documentation
//! shows (CPython 3.7+ prints its dict in insertion order instead; ours keeps keys sorted). The
//! dict holds keys of three kinds, as Python's does: its keys and values are `Object`s. The proxies travel to the
//! child as the process's arguments, each holding its object alive on the way; the manager's
//! server shuts down when `manager` goes out of scope, as Python's `with` block does.

use multiprocessing::Process;
use multiprocessing::managers::{DictProxy, ListProxy, Object};

fn f(d: DictProxy, l: ListProxy) -> Result<(), multiprocessing::managers::Error> {
    d.set(1, "1")?;
    d.set("2", 2)?;
    d.set(0.25, ())?; // `()` is Python's None
    l.reverse()
}

fn child(d: DictProxy, l: ListProxy) {
    f(d, l).expect("the child's calls");
}

fn main() -> Result<(), multiprocessing::Error> {
    let manager = multiprocessing::manager()?;
    let d = manager.dict()?;
    let l = manager.list((0..10).map(Object::from).collect())?;

    let p = Process::new(child, (d.clone(), l.clone()));
    p.start()?;
    p.join()?;

    println!("{d}");
    println!("{l}");
    Ok(())
}
