//! Proxy objects, Namespace objects: a manager's `Namespace` with two attributes, printed.
//!
//! ```python
//! >>> manager = multiprocessing.Manager()
//! >>> Global = manager.Namespace()
//! >>> Global.x = 10
//! >>> Global.y = 'hello'
//! >>> Global._z = 12.3    # this is an attribute of the proxy
//! >>> print(Global)
//! Namespace(x=10, y='hello')
//! ```
//!
//! Prints `Namespace(x=10, y='hello')`. A Rust proxy has no attributes of its own to set, so the
//! `_z` line has no twin; `set` always reaches the referent.

fn main() -> Result<(), multiprocessing::Error> {
    let manager = multiprocessing::manager()?;
    let global = manager.namespace()?;
    global.set("x", &10)?;
    global.set("y", "hello")?;
    println!("{global}");
    Ok(())
}
