//! Python's "Using Pool" example (the Examples section): `apply_async`, `imap`,
//! `imap_unordered` and `map` over the same tasks, a task's error carried back by `apply`, `map`
//! and `imap`, and `get`/`next` with a timeout. `cargo run --example pool_demo`.
//!
//! The Python original passes functions as arguments (`calculate(mul, (3, 7))`); here a task
//! names its function with an enum, as the `worker_queues` example does. Python's
//! `1.0 / (x - 5.0)` raises `ZeroDivisionError` at 5; Rust's float division gives infinity, so
//! `f` panics there with the same message, and the panic comes back as the task's error.
//! Python sleeps up to 0.5 s per task; this sleeps up to 50 ms.
//!
//! Prints, as Python does (with `PoolWorker-N` for `ForkPoolWorker-N`):
//!
//! ```text
//! Creating pool with 4 processes
//!
//! Ordered results using pool.apply_async():
//!      PoolWorker-1 says that mul(0, 7) = 0
//! ...
//! Testing error handling:
//!     Got ZeroDivisionError as expected from pool.apply()
//! ...
//! ```

use std::io::Write;
use std::time::Duration;

use multiprocessing::pool::Error as PoolError;
use multiprocessing::{Pool, current_process, freeze_support};
use serde::{Deserialize, Serialize};

/// A function a task can call, known by its name as Python's `func.__name__`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Func {
    Mul,
    Plus,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Mul => "mul",
            Func::Plus => "plus",
        }
    }
}

type TaskArgs = (Func, (i64, i64));

fn calculate(func: Func, args: (i64, i64)) -> String {
    let (a, b) = args;
    let result = match func {
        Func::Mul => mul(a, b),
        Func::Plus => plus(a, b),
    };
    format!(
        "{} says that {}{:?} = {}",
        current_process().name(),
        func.name(),
        args,
        result
    )
}

fn calculatestar((func, args): TaskArgs) -> String {
    calculate(func, args)
}

/// Sleeps up to 50 ms (Python: `time.sleep(0.5 * random.random())`).
fn nap() {
    std::thread::sleep(Duration::from_secs_f64(0.05 * rand::random::<f64>()));
}

fn mul(a: i64, b: i64) -> i64 {
    nap();
    a * b
}

fn plus(a: i64, b: i64) -> i64 {
    nap();
    a + b
}

fn f(x: i64) -> f64 {
    assert!(x != 5, "float division by zero");
    1.0 / (x as f64 - 5.0)
}

/// Python's `except ZeroDivisionError`: the task's panic, carried back.
fn is_zero_division(e: &PoolError) -> bool {
    matches!(e, PoolError::Panicked { panic, .. } if panic.message == "float division by zero")
}

fn test() -> Result<(), multiprocessing::Error> {
    const PROCESSES: usize = 4;
    println!("Creating pool with {PROCESSES} processes\n");

    let pool = Pool::new(PROCESSES)?;
    let tasks: Vec<TaskArgs> = (0..10)
        .map(|i| (Func::Mul, (i, 7)))
        .chain((0..10).map(|i| (Func::Plus, (i, 8))))
        .collect();

    let results = tasks
        .iter()
        .map(|&(func, args)| pool.apply_async(calculate, (func, args)))
        .collect::<Result<Vec<_>, _>>()?;
    let imap_it = pool.imap(calculatestar, tasks.clone())?;
    let imap_unordered_it = pool.imap_unordered(calculatestar, tasks.clone())?;

    println!("Ordered results using pool.apply_async():");
    for r in results {
        println!("\t {}", r.get()?);
    }
    println!();

    println!("Ordered results using pool.imap():");
    for x in imap_it {
        println!("\t {}", x?);
    }
    println!();

    println!("Unordered results using pool.imap_unordered():");
    for x in imap_unordered_it {
        println!("\t {}", x?);
    }
    println!();

    println!("Ordered results using pool.map() --- will block till complete:");
    for x in pool.map(calculatestar, tasks.clone())? {
        println!("\t {x}");
    }
    println!();

    // Test error handling
    println!("Testing error handling:");

    match pool.apply(f, (5,)) {
        Err(e) if is_zero_division(&e) => {
            println!("\tGot ZeroDivisionError as expected from pool.apply()");
        }
        other => panic!("expected ZeroDivisionError, got {other:?}"),
    }

    match pool.map(f, 0..10) {
        Err(e) if is_zero_division(&e) => {
            println!("\tGot ZeroDivisionError as expected from pool.map()");
        }
        other => panic!("expected ZeroDivisionError, got {other:?}"),
    }

    match pool.imap(f, 0..10)?.collect::<Result<Vec<f64>, _>>() {
        Err(e) if is_zero_division(&e) => {
            println!("\tGot ZeroDivisionError as expected from list(pool.imap())");
        }
        other => panic!("expected ZeroDivisionError, got {other:?}"),
    }

    let it = pool.imap(f, 0..10)?;
    let mut i = 0;
    for x in it {
        match x {
            Err(e) if is_zero_division(&e) => assert_eq!(i, 5),
            Err(e) => return Err(e.into()),
            Ok(_) => assert_ne!(i, 5, "expected ZeroDivisionError"),
        }
        i += 1;
    }
    assert_eq!(i, 10);
    println!("\tGot ZeroDivisionError as expected from IMapIterator.next()");
    println!();

    // Testing timeouts
    print!("Testing ApplyResult.get() with timeout: ");
    let mut res = pool.apply_async(calculate, tasks[0])?;
    loop {
        std::io::stdout().flush()?;
        match res.get_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                print!("\n\t{line}");
                break;
            }
            Err(PoolError::Timeout) => print!("."),
            Err(e) => return Err(e.into()),
        }
    }
    println!();
    println!();

    print!("Testing IMapIterator.next() with timeout: ");
    let mut it = pool.imap(calculatestar, tasks)?;
    loop {
        std::io::stdout().flush()?;
        match it.next_timeout(Duration::from_millis(20)) {
            None => break,
            Some(Ok(line)) => print!("\n\t{line}"),
            Some(Err(PoolError::Timeout)) => print!("."),
            Some(Err(e)) => return Err(e.into()),
        }
    }
    println!();
    println!();
    Ok(())
}

fn main() -> Result<(), multiprocessing::Error> {
    freeze_support();
    test()
}
