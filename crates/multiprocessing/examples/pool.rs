//! Python's `Pool` example ("Using a pool of workers"): `map`, `imap_unordered`, `apply_async`
//! and a `get` that times out.
//!
//! ```python
//! from multiprocessing import Pool
//! from time import sleep
//!
//! def f(x):
//!     return x*x
//!
//! if __name__ == '__main__':
//!     # start 4 worker processes
//!     with Pool(processes=4) as pool:
//!
//!         # print "[0, 1, 4,..., 81]"
//!         print(pool.map(f, range(10)))
//!
//!         # print same numbers in arbitrary order
//!         for i in pool.imap_unordered(f, range(10)):
//!             print(i)
//!
//!         # evaluate "f(10)" asynchronously
//!         res = pool.apply_async(f, [10])
//!         print(res.get(timeout=1))             # prints "100"
//!
//!         # make worker sleep for 10 secs
//!         res = pool.apply_async(sleep, [10])
//!         print(res.get(timeout=1))             # raises multiprocessing.TimeoutError
//!
//!     # exiting the 'with'-block has stopped the pool
//! ```
//!
//! Prints the squares as a list, then each square on its own line in any order, `100`, and the
//! timeout error; dropping the pool stops the sleeping worker at once.

use std::time::Duration;

use multiprocessing::Pool;

fn f(x: u64) -> u64 {
    x * x
}

fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn main() -> Result<(), multiprocessing::Error> {
    // start 4 worker processes
    let pool = Pool::new(4)?;

    // prints "[0, 1, 4,..., 81]"
    println!("{:?}", pool.map(f, 0..10)?);

    // prints the same numbers in arbitrary order
    for i in pool.imap_unordered(f, 0..10)? {
        println!("{}", i?);
    }

    // evaluates "f(10)" asynchronously
    let mut res = pool.apply_async(f, (10,))?;
    println!("{}", res.get_timeout(Duration::from_secs(1))?); // prints "100"

    // makes a worker sleep for 10 secs
    let mut res = pool.apply_async(sleep, (10,))?;
    match res.get_timeout(Duration::from_secs(1)) {
        Ok(()) => println!("()"),
        Err(e) => println!("{e}"), // the result is not ready in time (a Timeout)
    }
    Ok(())
    // dropping the pool has stopped it
}
