//! Python's example showing the process ids involved.
//!
//! ```python
//! from multiprocessing import Process
//! import os
//!
//! def info(title):
//!     print(title)
//!     print('module name:', __name__)
//!     print('parent process:', os.getppid())
//!     print('process id:', os.getpid())
//!
//! def f(name):
//!     info('function f')
//!     print('hello', name)
//!
//! if __name__ == '__main__':
//!     info('main line')
//!     p = Process(target=f, args=('bob',))
//!     p.start()
//!     p.join()
//! ```
//!
//! A child started by spawn or forkserver runs Python's main module as `__mp_main__`; this
//! twin prints the same names. With the default forkserver, a child's parent process (as
//! `os.getppid()` sees it) is the forkserver, in Python as here.

use multiprocessing::{Process, current_process};

fn info(title: &str) {
    println!("{title}");
    let module = if current_process().name() == "MainProcess" {
        "__main__"
    } else {
        "__mp_main__"
    };
    println!("module name: {module}");
    println!("parent process: {}", std::os::unix::process::parent_id());
    println!("process id: {}", std::process::id());
}

fn f(name: String) {
    info("function f");
    println!("hello {name}");
}

fn main() -> Result<(), multiprocessing::process::Error> {
    info("main line");
    let p = Process::new(f, ("bob".to_string(),));
    p.start()?;
    p.join()?;
    Ok(())
}
