//! Rust workers in a Python job: the documentation's remote queue server ("Using a remote
//! manager") runs in CPython and hands out jobs; workers written in Rust, each a process of its
//! own, connect to it, take jobs from its `get_queue` and put results on a second queue,
//! `get_results`.
//!
//! ```python
//! >>> queue = queue.Queue()
//! >>> class QueueManager(BaseManager): pass
//! >>> QueueManager.register('get_queue', callable=lambda:queue)
//! >>> m = QueueManager(address=('', 50000), authkey=b'abracadabra')
//! >>> s = m.get_server()
//! >>> s.serve_forever()
//! ```
//!
//! The server is `examples/python/queue_server.py`, run with `$PYTHON` (`python3` when unset):
//! it serves on a free port, puts the jobs 1 to 10 and one `None` per worker, and prints the
//! results in job order (`1 squared is 1` ... `10 squared is 100`), which this example passes
//! on once its workers are done and it has shut the server down. `python3 examples/python/queue_server.py 2 python` runs the same job with Python
//! workers and prints the same lines.
//!
//! A worker connects as Python's client does (`QueueManager.register('get_queue')`,
//! `m.connect()`, `m.get_queue()`): [`BaseManager::create`] with the registered name.
//! `python_queue_worker work HOST:PORT` runs one worker alone, against a server started by hand.

#[path = "python/cpython.rs"]
mod cpython;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use multiprocessing::Process;
use multiprocessing::managers::{AuthKey, BaseManager, QueueProxy};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How many Rust workers take part.
const WORKERS: usize = 2;

/// Python's client: `QueueManager(address=..., authkey=b'abracadabra').connect()`.
fn manager(address: &str) -> Result<BaseManager> {
    Ok(BaseManager::builder()
        .address(address.parse()?)
        .authkey(AuthKey::new(b"abracadabra".to_vec()))
        .connect()?)
}

/// A worker: connects to the Python server, takes jobs until `None`, puts `(job, job²)`.
fn work(address: String) -> Result {
    let m = manager(&address)?;
    let jobs: QueueProxy<Option<i64>> = m.create_as("get_queue", Vec::new())?;
    let results: QueueProxy<(i64, i64)> = m.create_as("get_results", Vec::new())?;
    while let Some(n) = jobs.get()? {
        results.put((n, n * n))?;
    }
    Ok(())
}

/// A worker process's target: a failure is its exit code, and says why on stderr.
fn worker(address: String) {
    if let Err(e) = work(address) {
        eprintln!("worker: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result {
    let mut server = cpython::script("queue_server.py")
        .arg(WORKERS.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("CPython (set $PYTHON, or install python3): {e}"))?;
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let first = lines.next().ok_or("the server said nothing")??;
    let address = first
        .strip_prefix("serving on ")
        .ok_or_else(|| format!("the server said {first:?}"))?
        .to_string();
    let workers: Vec<Process> = (0..WORKERS)
        .map(|_| Process::new(worker, (address.clone(),)))
        .collect();
    for w in &workers {
        w.start()?;
    }
    for w in &workers {
        w.join()?;
        if w.exitcode() != Some(0) {
            // The server would wait for the missing results.
            let _ = server.kill();
            let _ = server.wait();
            return Err(format!("a worker failed: exit code {:?}", w.exitcode()).into());
        }
    }
    // As the documentation's server, it serves until a client asks it to stop.
    manager(&address)?.shutdown()?;
    // It printed the results once every job was done.
    for line in lines {
        println!("{}", line?);
    }
    let status = server.wait()?;
    if !status.success() {
        return Err(format!("the Python server failed: {status}").into());
    }
    Ok(())
}

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => run(),
        ["work", address] => work(address.to_string()),
        _ => Err("usage: python_queue_worker [work HOST:PORT]".into()),
    }
}
