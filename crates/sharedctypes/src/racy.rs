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

#[cfg(test)]
mod tests {
    //! Run under miri too (`cargo xtask ci`'s miri step): it checks these copies for data races
    //! and undefined behaviour, which a normal run cannot see.

    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, Ordering};

    use bytemuck::{Pod, Zeroable};

    use super::{load, store};

    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    struct Point {
        x: f64,
        y: i32,
        tag: [u8; 4],
    }

    fn round_trip<T: Pod + PartialEq + std::fmt::Debug>(start: T, next: T) {
        let mut cell = start;
        let p: *mut T = &mut cell;
        // SAFETY: `p` points at a live, aligned `T` for the whole test.
        unsafe {
            assert_eq!(load(p), start);
            store(p, next);
            assert_eq!(load(p), next);
        }
    }

    #[test]
    fn every_kind_of_value_round_trips() {
        round_trip(7u8, 200);
        round_trip(-1i16, 12_345);
        round_trip(u64::MAX, 0x0102_0304_0506_0708);
        round_trip(1.0f64 / 3.0, -0.0);
        round_trip([1u8, 2, 3], [4, 5, 6]);
        round_trip(
            Point {
                x: 1.5,
                y: -2,
                tag: *b"abcd",
            },
            Point {
                x: -6.25,
                y: 9,
                tag: *b"wxyz",
            },
        );
    }

    /// A writer stores ever larger values whose bytes are all equal while this thread loads:
    /// each byte this thread sees never goes back (a torn read mixes old and new bytes, never
    /// older ones), and miri finds no data race.
    #[test]
    fn racing_loads_and_stores_are_no_data_race() {
        /// The shared value's address, handed to the writer thread.
        #[derive(Clone, Copy)]
        struct Shared(*mut u64);
        // SAFETY: the value outlives the scoped writer, and every access to it is a `load` or
        // a `store` (byte-wise atomic), so sharing the address across threads is sound.
        unsafe impl Send for Shared {}

        let cell = UnsafeCell::new(0u64);
        let shared = Shared(cell.get());
        let done = AtomicBool::new(false);
        let rounds: u8 = if cfg!(miri) { 20 } else { 250 };
        let mut before = [0u8; 8];
        std::thread::scope(|scope| {
            let done = &done;
            scope.spawn(move || {
                let shared = shared;
                for byte in 1..=rounds {
                    // SAFETY: `cell` lives until the scope ends; its pointer is aligned.
                    unsafe { store(shared.0, u64::from(byte) * 0x0101_0101_0101_0101) };
                }
                done.store(true, Ordering::Release);
            });
            loop {
                let finished = done.load(Ordering::Acquire);
                // SAFETY: as above; every concurrent write goes through `store`.
                let seen = unsafe { load(shared.0) }.to_le_bytes();
                assert!(
                    seen.iter().zip(&before).all(|(now, then)| now >= then),
                    "a byte went back from {before:?} to {seen:?}"
                );
                before = seen;
                if finished {
                    break;
                }
            }
        });
        assert_eq!(before, [rounds; 8], "the last store is seen whole");
    }
}
