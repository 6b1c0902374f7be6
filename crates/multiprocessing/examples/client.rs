//! Twin of the Python documentation's `Client` example (run `listener` first).
//!
//! ```python
//! with Client(('localhost', 6000), authkey=b'secret password') as conn:
//!     print(conn.recv())                  # => [2.25, None, 'junk', float]
//!     print(conn.recv_bytes())            # => 'hello'
//!     arr = array('i', [0, 0, 0, 0, 0])
//!     print(conn.recv_bytes_into(arr))    # => 8
//!     print(arr)                          # => array('i', [42, 1729, 0, 0, 0])
//! ```
//!
//! Usage: `client [HOST:PORT]` (default `localhost:6000`).

use std::fmt;

use multiprocessing::connection::{AuthKey, Client, Error};
use serde::Deserialize;

/// A serde-friendly stand-in for the Python list's mixed items.
#[derive(Deserialize)]
enum Item {
    Float(f64),
    None,
    Str(String),
    Type(String),
}

impl fmt::Display for Item {
    /// Formats like Python's `repr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Float(x) => write!(f, "{x}"),
            Item::None => f.write_str("None"),
            Item::Str(s) => write!(f, "'{s}'"),
            Item::Type(t) => write!(f, "<class '{t}'>"),
        }
    }
}

fn main() -> Result<(), Error> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:6000".into());
    let mut conn = Client::builder(address.parse()?)
        .authkey(AuthKey::from("secret password"))
        .connect()?;
    let items: Vec<Item> = conn.recv()?;
    let shown: Vec<String> = items.iter().map(ToString::to_string).collect();
    println!("[{}]", shown.join(", "));
    println!("{}", String::from_utf8_lossy(&conn.recv_bytes()?));
    let mut arr = [0u8; 5 * 4];
    let n = conn.recv_bytes_into(&mut arr)?;
    println!("{n}");
    let ints: Vec<i32> = arr
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    println!("{ints:?}");
    conn.send_bytes(b"done")?;
    Ok(())
}
