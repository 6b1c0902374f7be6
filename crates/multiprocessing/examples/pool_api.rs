//! Python's example of the `Pool` reference ("Process Pools"): `apply_async`, `map`, `imap`
//! with `next(timeout)`, and a `get` that times out.
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def f(x):
//!     return x*x
//!
//! if __name__ == '__main__':
//!     with Pool(processes=4) as pool:         # start 4 worker processes
//!         result = pool.apply_async(f, (10,)) # evaluate "f(10)" asynchronously
//!         print(result.get(timeout=1))        # prints "100" unless your computer is *very* slow
//!
//!         print(pool.map(f, range(10)))       # prints "[0, 1, 4,..., 81]"
//!
//!         it = pool.imap(f, range(10))
//!         print(next(it))                     # prints "0"
//!         print(next(it))                     # prints "1"
//!         print(it.next(timeout=1))           # prints "4" unless your computer is *very* slow
//!
//!         import time
//!         result = pool.apply_async(time.sleep, (10,))
//!         print(result.get(timeout=1))        # raises TimeoutError
//! ```
//!
//! Prints `100`, the squares, `0`, `1`, `4`, then the timeout error.

use std::time::Duration;

use multiprocessing::Pool;

fn f(x: u64) -> u64 {
    x * x
}

fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn main() -> Result<(), multiprocessing::Error> {
    let pool = Pool::new(4)?; // start 4 worker processes
    let mut result = pool.apply_async(f, (10,))?; // evaluate "f(10)" asynchronously
    println!("{}", result.get_timeout(Duration::from_secs(1))?); // prints "100"

    println!("{:?}", pool.map(f, 0..10)?); // prints "[0, 1, 4,..., 81]"

    let mut it = pool.imap(f, 0..10)?;
    let mut next = || it.next().transpose();
    println!("{}", next()?.unwrap_or_default()); // prints "0"
    println!("{}", next()?.unwrap_or_default()); // prints "1"
    let third = it.next_timeout(Duration::from_secs(1)).transpose()?;
    println!("{}", third.unwrap_or_default()); // prints "4"

    let mut result = pool.apply_async(sleep, (10,))?;
    match result.get_timeout(Duration::from_secs(1)) {
        Ok(()) => println!("()"),
        Err(e) => println!("{e}"), // the result is not ready in time (a Timeout)
    }
    Ok(())
}
