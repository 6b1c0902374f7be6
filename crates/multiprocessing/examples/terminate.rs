//! Python's `terminate()` example: a process before start, while running, after terminate and
//! after join.
//!
//! ```python
//! import multiprocessing, time, signal
//! mp_context = multiprocessing.get_context('spawn')
//! p = mp_context.Process(target=time.sleep, args=(1000,))
//! print(p, p.is_alive())
//! p.start()
//! print(p, p.is_alive())
//! p.terminate()
//! time.sleep(0.1)
//! print(p, p.is_alive())
//! p.join()
//! print(p, p.is_alive())
//! print(p.exitcode == -signal.SIGTERM)
//! ```
//!
//! Prints, as Python does:
//!
//! ```text
//! <SpawnProcess name='SpawnProcess-1' parent=1200 initial> False
//! <SpawnProcess name='SpawnProcess-1' pid=1234 parent=1200 started> True
//! <SpawnProcess name='SpawnProcess-1' pid=1234 parent=1200 stopped exitcode=-SIGTERM> False
//! <SpawnProcess name='SpawnProcess-1' pid=1234 parent=1200 stopped exitcode=-SIGTERM> False
//! True
//! ```

use std::time::Duration;

use multiprocessing::{StartMethod, get_context};

/// SIGTERM's number on Linux.
const SIGTERM: i32 = 15;

fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn main() -> Result<(), multiprocessing::process::Error> {
    let mp_context = get_context(StartMethod::Spawn);
    let p = mp_context.process(sleep, (1000,)).build();
    println!("{p} {}", py(p.is_alive()));
    p.start()?;
    println!("{p} {}", py(p.is_alive()));
    p.terminate()?;
    // Python sleeps 0.1 s here and hopes the signal has landed; waiting on the sentinel is
    // exact (and still leaves the final join to do the reaping bookkeeping, as in Python).
    p.join_timeout(Duration::from_secs(10))?;
    println!("{p} {}", py(p.is_alive()));
    p.join()?;
    println!("{p} {}", py(p.is_alive()));
    println!("{}", py(p.exitcode() == Some(-SIGTERM)));
    Ok(())
}

/// Python prints booleans capitalized.
fn py(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}
