//! Twin of the Python documentation's `Listener` example (run `client` against it).
//!
//! ```python
//! with Listener(('localhost', 6000), authkey=b'secret password') as listener:
//!     with listener.accept() as conn:
//!         print('connection accepted from', listener.last_accepted)
//!         conn.send([2.25, None, 'junk', float])
//!         conn.send_bytes(b'hello')
//!         conn.send_bytes(array('i', [42, 1729]))
//! ```
//!
//! Usage: `listener [HOST:PORT]` (default `localhost:6000`; with port 0 the real address is
//! printed on stderr as `listening on ADDRESS`).

use multiprocessing::connection::{Address, AuthKey, Error, Listener};
use serde::Serialize;

/// A serde-friendly stand-in for the Python list's mixed items.
#[derive(Serialize)]
enum Item {
    Float(f64),
    None,
    Str(String),
    Type(String),
}

fn main() -> Result<(), Error> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:6000".into());
    let listener = Listener::builder()
        .address(address.parse()?)
        .authkey(AuthKey::from("secret password"))
        .bind()?;
    eprintln!("listening on {}", listener.address());
    let mut conn = listener.accept()?;
    // Printed like Python's `listener.last_accepted`: a (host, port) tuple, '' for Unix sockets.
    match listener.last_accepted() {
        Some(Address::Tcp { host, port }) => {
            println!("connection accepted from ('{host}', {port})")
        }
        _ => println!("connection accepted from ''"),
    }
    conn.send(&vec![
        Item::Float(2.25),
        Item::None,
        Item::Str("junk".into()),
        Item::Type("float".into()),
    ])?;
    conn.send_bytes(b"hello")?;
    let arr: [i32; 2] = [42, 1729];
    let bytes: Vec<u8> = arr.iter().flat_map(|v| v.to_ne_bytes()).collect();
    conn.send_bytes(&bytes)?;
    // Wait for the client to finish reading before closing, as the `with` blocks do.
    let _ = conn.recv_bytes();
    Ok(())
}
