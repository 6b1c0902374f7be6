//! Python's first `Process` example: start a child that greets bob, then join it.
//!
//! ```python
//! from multiprocessing import Process
//!
//! def f(name):
//!     print('hello', name)
//!
//! if __name__ == '__main__':
//!     p = Process(target=f, args=('bob',))
//!     p.start()
//!     p.join()
//! ```
//!
//! Prints `hello bob`.

use multiprocessing::Process;

fn f(name: String) {
    println!("hello {name}");
}

fn main() -> Result<(), multiprocessing::process::Error> {
    let p = Process::new(f, ("bob".to_string(),));
    p.start()?;
    p.join()?;
    Ok(())
}
