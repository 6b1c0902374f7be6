//! Shared read-write mappings of a descriptor: what heap arenas and named segments are made of.

use std::os::fd::AsFd;
use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags, mmap};

use crate::{Error, Result};

/// Maps `size` bytes of `fd` shared and read-write at an address the kernel picks.
///
/// The caller owns the mapping and must `munmap` it exactly once with the same size.
pub(crate) fn map_shared(fd: impl AsFd, size: usize) -> Result<NonNull<u8>> {
    // SAFETY: a fresh shared mapping of a descriptor the caller holds; the kernel picks the
    // address, so no existing memory is replaced.
    let ptr = unsafe {
        mmap(
            std::ptr::null_mut(),
            size,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd.as_fd(),
            0,
        )?
    };
    NonNull::new(ptr.cast::<u8>())
        .ok_or_else(|| Error::Io(std::io::Error::other("mmap returned null")))
}
