//! The introduction's first example: a pool of five worker processes squares `1, 2, 3` in
//! parallel, data parallelism in one call.
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def f(x):
//!     return x*x
//!
//! if __name__ == '__main__':
//!     with Pool(5) as p:
//!         print(p.map(f, [1, 2, 3]))
//! ```
//!
//! Prints `[1, 4, 9]`. `f` is a plain `fn`, so every start method finds it in the child; the
//! pool is terminated when it goes out of scope, as Python's `with` block does.

use multiprocessing::Pool;

fn f(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), multiprocessing::Error> {
    let p = Pool::new(5)?;
    println!("{:?}", p.map(f, [1, 2, 3])?);
    Ok(())
}
