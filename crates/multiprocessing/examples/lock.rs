//! Python's `Lock` example: ten processes each print a line while holding one lock, so lines never
//! interleave.
//!
//! ```python
//! from multiprocessing import Process, Lock
//!
//! def f(l, i):
//!     l.acquire()
//!     try:
//!         print('hello world', i)
//!     finally:
//!         l.release()
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     for num in range(10):
//!         Process(target=f, args=(lock, num)).start()
//! ```
//!
//! Prints `hello world 0` to `hello world 9`, one line each, in the order the processes get the
//! lock.

use multiprocessing::{Lock, Process};

fn f(l: Lock, i: i32) {
    // A previous holder that died leaves nothing to repair here: just take the lock.
    let _guard = l.lock().unwrap_or_else(|died| died.into_inner());
    println!("hello world {i}");
}

fn main() -> Result<(), multiprocessing::Error> {
    let lock = Lock::new()?;
    let mut children = Vec::new();
    for num in 0..10 {
        let p = Process::new(f, (lock.clone(), num));
        p.start()?;
        children.push(p);
    }
    // Python joins non-daemonic children at exit; joining here says so explicitly.
    for p in children {
        p.join()?;
    }
    Ok(())
}
