//! Reads and writes of shared values that other threads and processes may race with.
//!
//! A raw value may be written by another thread of this process at any moment (that is what
//! "without a lock" means), so a plain or volatile access would be a data race, which Rust
//! leaves undefined. Every access here is a byte-wise atomic copy instead (`atomic-memcpy`, the
//! P1478 design): a racing read may see a mix of old and new bytes, which any `Pod` value
//! tolerates, but never undefined behaviour. All accesses to a value's bytes go through these
//! two functions, so no access of another granularity ever meets them.

use std::sync::atomic::Ordering;

use bytemuck::Pod;

/// Copies the `T` at `src` out.
///
/// # Safety
/// `src` is valid for reads of a `T` and aligned for it for the whole call.
#[inline]
pub(crate) unsafe fn load<T: Pod>(src: *const T) -> T {
    // SAFETY: the caller vouches for validity and alignment; every concurrent write goes
    // through `store` (the same granularity); `T: Pod` has no padding, and any bits copied are
    // a valid `T`, so `assume_init` holds even for a torn read.
    unsafe { atomic_memcpy::atomic_load(src, Ordering::Relaxed).assume_init() }
}

/// Copies `value` into the `T` at `dst`.
///
/// # Safety
/// `dst` is valid for writes of a `T` and aligned for it for the whole call.
#[inline]
pub(crate) unsafe fn store<T: Pod>(dst: *mut T, value: T) {
    // SAFETY: the caller vouches for validity and alignment; concurrent accesses are `load`s
    // and `store`s of the same granularity.
    unsafe { atomic_memcpy::atomic_store(dst, value, Ordering::Relaxed) }
}
