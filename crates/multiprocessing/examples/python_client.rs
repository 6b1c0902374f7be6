//! A CPython client of a Rust manager: the documentation's manager example ("Server process"),
//! run by CPython, with its shared objects in a manager written in Rust.
//!
//! ```python
//! def f(d, l):
//!     d[1] = '1'
//!     d['2'] = 2
//!     d[0.25] = None
//!     l.reverse()
//!
//! manager.connect()               # a SyncManager at our address, with our key
//! d = manager.dict()
//! l = manager.list(range(10))
//! p = Process(target=f, args=(d, l))
//! p.start()
//! p.join()
//! print(d)
//! print(l)
//! ```
//!
//! This example starts the manager on a free TCP port and runs
//! `examples/python/manager_client.py` against it with `$PYTHON` (`python3` when unset); the
//! script passes `list(range(10))`, as a `range` reaches a Rust manager as an opaque pickle (a
//! call of `builtins.range`, never run), not as a sequence. The
//! client prints what the documentation prints, `{0.25: None, 1: '1', '2': 2}` and
//! `[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]` (our dict shows its keys sorted, as the documentation's
//! text does; CPython's own keeps insertion order), then a `Namespace` and a `Queue` filled by
//! another Python child: `Namespace(x=10, y='hello')` and `'hello'`. Once the client exits,
//! this example prints how many objects the manager still holds: `0`, as CPython's proxies
//! release their references when they are collected.

#[path = "python/cpython.rs"]
mod cpython;

use multiprocessing::managers::{AuthKey, BaseManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    let key = "abracadabra";
    let manager = BaseManager::builder()
        .address("127.0.0.1:0".parse()?)
        .authkey(AuthKey::from(key))
        .start()?;
    let status = cpython::script("manager_client.py")
        .arg(manager.address().to_string())
        .arg(key)
        .status()
        .map_err(|e| format!("CPython (set $PYTHON, or install python3): {e}"))?;
    if !status.success() {
        return Err(format!("the Python client failed: {status}").into());
    }
    println!(
        "objects left in the Rust manager: {}",
        manager.number_of_objects()?
    );
    Ok(())
}
