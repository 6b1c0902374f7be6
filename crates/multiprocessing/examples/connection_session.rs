//! Python's `Connection` objects session, as a program: objects, bytes, and bytes received
//! into a buffer that is already there.
//!
//! ```python
//! >>> from multiprocessing import Pipe
//! >>> a, b = Pipe()
//! >>> a.send([1, 'hello', None])
//! >>> b.recv()
//! [1, 'hello', None]
//! >>> b.send_bytes(b'thank you')
//! >>> a.recv_bytes()
//! b'thank you'
//! >>> import array
//! >>> arr1 = array.array('i', range(5))
//! >>> arr2 = array.array('i', [0] * 10)
//! >>> a.send_bytes(arr1)
//! >>> count = b.recv_bytes_into(arr2)
//! >>> assert count == len(arr1) * arr1.itemsize
//! >>> arr2
//! array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])
//! ```
//!
//! Prints what the session echoes, and the count (`20`) before the array:
//! `[1, 'hello', None]`, `b'thank you'`, `20`, `array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])`.

use multiprocessing::pipe;

/// Python's list `[1, 'hello', None]`, typed.
type Item = (i32, String, Option<i32>);

/// The bytes of `ints` in native order, as Python's `array('i', ..)` exposes them.
fn as_bytes(ints: &[i32]) -> Vec<u8> {
    ints.iter().flat_map(|i| i.to_ne_bytes()).collect()
}

fn main() -> Result<(), multiprocessing::Error> {
    let (mut a, mut b) = pipe(true)?;
    a.send(&(1, "hello", None::<i32>))?;
    let (one, hello, none): Item = b.recv()?;
    let none = none.map_or("None".to_string(), |n| n.to_string());
    println!("[{one}, '{hello}', {none}]");

    b.send_bytes(b"thank you")?;
    // Python's repr of bytes: b'...' with anything unprintable escaped.
    println!("b'{}'", a.recv_bytes()?.escape_ascii());

    let arr1: Vec<i32> = (0..5).collect();
    let mut arr2 = [0u8; 10 * size_of::<i32>()];
    a.send_bytes(&as_bytes(&arr1))?;
    let count = b.recv_bytes_into(&mut arr2)?;
    assert_eq!(count, arr1.len() * size_of::<i32>());
    println!("{count}");
    let arr2: Vec<i32> = arr2
        .chunks_exact(size_of::<i32>())
        .map(|c| i32::from_ne_bytes(c.try_into().expect("four bytes")))
        .collect();
    println!("array('i', {arr2:?})");
    Ok(())
}
