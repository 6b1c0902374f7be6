//! A manager peer for interoperability tests, in either role; `tests/python/manager_peer.py` is
//! its CPython twin (same command line, same lines), so any pair of them can be tested.
//!
//! ```text
//! manager_peer serve ADDRESS AUTHKEY     # a SyncManager server until a client shuts it down
//! manager_peer connect ADDRESS AUTHKEY   # a session with a dict, a list, a Namespace, a Queue
//! manager_peer shutdown ADDRESS AUTHKEY  # asks the server at ADDRESS to stop
//! ```
//!
//! ADDRESS is a Unix socket path or HOST:PORT (port 0 picks a free one; `serve` prints
//! `serving on ADDRESS` with the real address). `connect` prints one line per step, each
//! value read back from the server, and ends by counting the server's objects before and after
//! it drops its proxies. A failed authentication exits with status 2, any other failure with 1.

use std::fmt::Debug;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use multiprocessing::managers::{
    Address, AuthKey, BaseManager, Error, ErrorKind, Object, Result, SyncManager,
};

/// The last line of a Python traceback for what a method raised: `KeyError: 'z'`, or the
/// class alone when it has no message (`Empty`).
fn raised<T: Debug>(what: &str, result: Result<T>) -> Result<()> {
    match result {
        Err(Error::Raised(r)) if r.message.is_empty() => println!("{what} raised {}", r.name()),
        Err(Error::Raised(r)) => println!("{what} raised {}: {}", r.name(), r.message),
        Err(e) => return Err(e),
        Ok(v) => return Err(Error::InvalidArgument(format!("{what} returned {v:?}"))),
    }
    Ok(())
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn session(m: &SyncManager) -> Result<()> {
    println!("connected");

    let d = m.dict()?;
    d.set("a", 1)?;
    d.set("b", "two")?;
    println!("dict: {d}");
    println!(
        "dict: len {}, d['a'] = {}, 'b' in d: {}",
        d.len()?,
        d.get_item("a")?,
        py_bool(d.contains("b")?)
    );
    raised("dict: d['z']", d.get_item("z"))?;

    let l = m.list(vec![Object::Int(3), Object::Int(1), Object::Int(2)])?;
    l.append(4)?;
    l.sort()?;
    println!("list: {l}");
    println!(
        "list: len {}, l[0] = {}, l.pop() = {}",
        l.len()?,
        l.get(0)?,
        l.pop()?
    );
    raised("list: l[10]", l.get(10))?;

    let ns = m.namespace()?;
    ns.set("x", &10)?;
    ns.set("y", "hello")?;
    println!("namespace: {ns}");
    println!("namespace: ns.x + 1 = {}", ns.get::<i64>("x")? + 1);
    raised("namespace: ns.z", ns.get::<Object>("z"))?;

    let q = m.queue(0)?;
    q.put("job1")?;
    q.put("job2")?;
    println!("queue: qsize {}", q.qsize()?);
    println!(
        "queue: get {}, get {}, empty {}",
        q.get()?,
        q.get_timeout(Duration::from_secs(10))?,
        py_bool(q.empty()?)
    );
    raised("queue: get_nowait", q.get_nowait())?;

    println!("objects: {}", m.number_of_objects()?);
    drop((d, l, ns, q));
    println!("released: {}", m.number_of_objects()?);
    Ok(())
}

fn manager(address: &str, key: &str) -> Result<BaseManager> {
    let address: Address = address
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("{address}: {e}")))?;
    BaseManager::builder()
        .address(address)
        .authkey(AuthKey::from(key))
        .connect()
}

fn serve(address: &str, key: &str) -> Result<()> {
    let address: Address = address
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("{address}: {e}")))?;
    let server = BaseManager::builder()
        .address(address)
        .authkey(AuthKey::from(key))
        .get_server()?;
    println!("serving on {}", server.address());
    std::io::stdout().flush().map_err(Error::Io)?;
    server.serve_forever()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", address, key] => serve(address, key),
        ["connect", address, key] => manager(address, key).and_then(|m| session(&m)),
        ["shutdown", address, key] => manager(address, key).and_then(|mut m| m.shutdown()),
        _ => {
            eprintln!("usage: manager_peer serve|connect|shutdown ADDRESS AUTHKEY");
            return ExitCode::from(64);
        }
    };
    // Flushed before exiting, so a failure's message follows every line printed.
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == ErrorKind::Authentication => {
            eprintln!("manager_peer: authentication error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("manager_peer: error: {e}");
            ExitCode::from(1)
        }
    }
}
