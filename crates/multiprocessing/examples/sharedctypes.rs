//! Python's `multiprocessing.sharedctypes` example: an int, a double, a byte string and an array of
//! `#[repr(C)]` structs, all changed by a child.
//!
//! ```python
//! from multiprocessing import Process, Lock
//! from multiprocessing.sharedctypes import Value, Array
//! from ctypes import Structure, c_double
//!
//! class Point(Structure):
//!     _fields_ = [('x', c_double), ('y', c_double)]
//!
//! def modify(n, x, s, A):
//!     n.value **= 2
//!     x.value **= 2
//!     s.value = s.value.upper()
//!     for a in A:
//!         a.x **= 2
//!         a.y **= 2
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!
//!     n = Value('i', 7)
//!     x = Value(c_double, 1.0/3.0, lock=False)
//!     s = Array('c', b'hello world', lock=lock)
//!     A = Array(Point, [(1.875,-6.25), (-5.75,2.0), (2.375,9.5)], lock=lock)
//!
//!     p = Process(target=modify, args=(n, x, s, A))
//!     p.start()
//!     p.join()
//!
//!     print(n.value)
//!     print(x.value)
//!     print(s.value)
//!     print([(a.x, a.y) for a in A])
//! ```
//!
//! Prints, as Python's documentation shows:
//!
//! ```text
//! 49
//! 0.1111111111111111
//! HELLO WORLD
//! [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)]
//! ```

use multiprocessing::sharedctypes::{Pod, Zeroable};
use multiprocessing::{Array, Lock, Process, RawValue, Value};

/// Python's `ctypes.Structure` with two `c_double` fields.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[bytemuck(crate = "multiprocessing::sharedctypes::bytemuck")]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}

fn modify(n: Value<i32>, x: RawValue<f64>, s: Array<u8>, a: Array<Point>) {
    n.update(|n| *n = n.pow(2)).expect("lock n");
    x.set(x.get().powi(2));
    let upper = s.value().expect("read s").to_ascii_uppercase();
    s.set_value(&upper).expect("write s");
    a.update(|a| {
        for p in a {
            p.x = p.x.powi(2);
            p.y = p.y.powi(2);
        }
    })
    .expect("lock A");
}

fn main() -> Result<(), multiprocessing::Error> {
    let lock = Lock::new()?;

    let n = Value::new(7i32)?;
    let x = RawValue::new(1.0f64 / 3.0)?; // Python's `lock=False`: a raw value
    let s = Array::with_lock(b"hello world", lock.clone())?;
    let points = [
        Point { x: 1.875, y: -6.25 },
        Point { x: -5.75, y: 2.0 },
        Point { x: 2.375, y: 9.5 },
    ];
    let a = Array::with_lock(&points, lock)?;

    let p = Process::new(modify, (n.clone(), x.clone(), s.clone(), a.clone()));
    p.start()?;
    p.join()?;

    println!("{}", n.get()?);
    println!("{}", x.get());
    println!("{}", String::from_utf8_lossy(&s.value()?));
    let pairs: Vec<(f64, f64)> = a.to_vec()?.iter().map(|p| (p.x, p.y)).collect();
    println!("{pairs:?}");
    Ok(())
}
