//! Plain-old-data values and arrays in shared memory, after Python's
//! `multiprocessing.sharedctypes`.
//!
//! [`RawValue`] and [`RawArray`] hold `T: Pod` values in the shared-memory heap without a lock;
//! [`Value`] and [`Array`] add one (a fresh [`RLock`](multiprocessing_synchronize::RLock) by
//! default, or a given lock), so an increment done under the lock is never lost. Every handle
//! is shared with a forked child automatically and passable to a spawned child as a process
//! argument. `Array<u8>` has Python's `value` (bytes up to the first NUL) and `raw`.
//!
//! Python's typecodes become Rust types: `'i'` is `i32`, `'d'` is `f64`, `'c'` is `u8`, and a
//! ctypes `Structure` is a `#[repr(C)]` struct deriving [`Pod`] and [`Zeroable`], re-exported
//! from `bytemuck` (point the derive at the re-export so your crate needs no `bytemuck`
//! dependency of its own):
//!
//! ```
//! use multiprocessing_sharedctypes::{Array, Pod, Zeroable};
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
//! #[bytemuck(crate = "multiprocessing_sharedctypes::bytemuck")]
//! #[repr(C)]
//! struct Point {
//!     x: f64,
//!     y: f64,
//! }
//!
//! let points = Array::new(&[Point { x: 1.875, y: -6.25 }, Point { x: -5.75, y: 2.0 }]).unwrap();
//! points.update(|points| {
//!     for p in points {
//!         p.x *= p.x;
//!         p.y *= p.y;
//!     }
//! }).unwrap();
//! assert_eq!(points.get(1).unwrap(), Point { x: 33.0625, y: 4.0 });
//! ```

mod array;
mod error;
mod functions;
mod racy;
mod raw_array;
mod raw_value;
mod shared_lock;
mod value;

pub use array::{Array, ArrayGuard};
pub use bytemuck::{self, Pod, Zeroable};
pub use error::{Error, Result};
pub use functions::{SharedCopy, Synchronize, copy, synchronized};
pub use raw_array::RawArray;
pub use raw_value::RawValue;
pub use shared_lock::{SharedLock, SharedLockGuard};
pub use value::{Value, ValueGuard};

// Every handle is usable from many threads of many processes.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Value<f64>>();
    send_sync::<Array<u8>>();
    send_sync::<RawValue<i32>>();
    send_sync::<RawArray<u64>>();
    send_sync::<SharedLock>();
};
