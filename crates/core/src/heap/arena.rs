//! Arenas: anonymous shared mappings (`memfd_create` + `mmap(MAP_SHARED)`) that blocks live in.
//!
//! An arena has no name, so nothing is left behind when every process using it dies, however
//! it dies; the kernel frees its memory when the last mapping and descriptor are gone. Its first
//! [`HEADER_SIZE`] bytes hold the shared [`ArenaHeader`]: the allocator's lock and free lists,
//! visible to every process that maps the arena.
//!
//! Arenas are made on demand by [`HeapBlock`](crate::heap::HeapBlock):
//!
//! ```
//! let block = multiprocessing_core::heap::HeapBlock::new(100).unwrap();
//! let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
//! assert!(maps.contains("memfd:mp-heap"));
//! # drop(block);
//! ```

use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use rustix::fs::{
    MemfdFlags, SealFlags, fcntl_add_seals, fcntl_get_seals, fstat, ftruncate, memfd_create,
};
use rustix::mm::munmap;

#[cfg(loom)]
use super::allocator::BLOCK_HEADER;
use super::allocator::{BlockHeader, NUM_CLASSES};
use super::sync::{AtomicU32, AtomicU64};
use crate::owner::OwnerCell;
use crate::{Error, Result};

/// Identifies a mapping made by this library.
pub(crate) const MAGIC: u64 = 0x6d70_6865_6170_0002; // "mpheap" v2
/// An arena carved into small blocks by the allocator.
pub(crate) const KIND_SMALL: u32 = 1;
/// An arena holding one large (or over-aligned) block.
pub(crate) const KIND_DEDICATED: u32 = 2;
/// Seals every arena carries: its size is fixed for good.
const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);
/// Bytes reserved at the start of every arena for its header.
pub(crate) const HEADER_SIZE: usize = 2048;
/// Size of a small-block arena.
pub(crate) const ARENA_SIZE: usize = 1 << 20;

/// The shared header at the start of every arena.
#[repr(C)]
pub(crate) struct ArenaHeader {
    pub(crate) magic: AtomicU64,
    pub(crate) kind: AtomicU32,
    /// Process id of the allocator lock's holder, 0 when free.
    pub(crate) lock: AtomicU32,
    /// Set when a process died holding the lock: the arena allocates no more.
    pub(crate) poisoned: AtomicU32,
    _pad: u32,
    /// Offset of the first never-used byte.
    pub(crate) bump: AtomicU64,
    /// Heads of the free lists, one per size class (block offsets, 0 = empty).
    pub(crate) free: [AtomicU64; NUM_CLASSES],
    /// The allocator lock's holder with its start time, so a live holder is told from a dead
    /// one even after pid reuse.
    pub(crate) lock_owner: OwnerCell,
    /// Processes holding blocks of this arena by inheritance or receipt: a block's holder mask
    /// has bit `i` set while `holders[i]` holds one reference to it. A holder found dead gives
    /// its references back, so a killed child leaves no reference behind.
    pub(crate) holders: [OwnerCell; HOLDERS],
}

/// Holder records per arena; a process beyond them holds plain references.
pub(crate) const HOLDERS: usize = 64;

// Loom's atomics are larger, and under loom the header lives outside the arena.
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<ArenaHeader>() <= HEADER_SIZE);

/// Under `--cfg loom`, the arena's header and its block headers, beside the mapping: loom's
/// atomics cannot be placed in shared memory (the model's processes are threads of one). There
/// is one loom atomic per header word of every 16 bytes, so arenas made under loom are small.
#[cfg(loom)]
struct ModelHeaders {
    arena: ArenaHeader,
    /// One per [`BLOCK_HEADER`] bytes past the arena's header: a block's header sits at any of
    /// them.
    blocks: Box<[BlockHeader]>,
}

#[cfg(loom)]
impl std::fmt::Debug for ModelHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHeaders").finish_non_exhaustive()
    }
}

#[cfg(loom)]
impl ModelHeaders {
    /// Headers as a fresh (zeroed) mapping of `size` bytes holds them.
    fn new(size: usize) -> ModelHeaders {
        ModelHeaders {
            arena: ArenaHeader {
                magic: AtomicU64::new(0),
                kind: AtomicU32::new(0),
                lock: AtomicU32::new(0),
                poisoned: AtomicU32::new(0),
                _pad: 0,
                bump: AtomicU64::new(0),
                free: std::array::from_fn(|_| AtomicU64::new(0)),
                lock_owner: OwnerCell::new(),
                holders: std::array::from_fn(|_| OwnerCell::new()),
            },
            blocks: (0..size.saturating_sub(HEADER_SIZE) / BLOCK_HEADER)
                .map(|_| BlockHeader {
                    refcount: AtomicU32::new(0),
                    class: AtomicU32::new(0),
                    next: AtomicU64::new(0),
                })
                .collect(),
        }
    }
}

/// One arena mapped into this process.
#[derive(Debug)]
pub(crate) struct Arena {
    fd: OwnedFd,
    base: NonNull<u8>,
    size: usize,
    /// `(st_dev, st_ino)` of the memfd: the same arena received twice maps once.
    pub(crate) key: (u64, u64),
    /// The headers the model checks, instead of the mapping's (so an arena opened from a
    /// descriptor under loom has no magic and is refused).
    #[cfg(loom)]
    model: Box<ModelHeaders>,
}

// SAFETY: the mapping is shared memory accessed only through atomics and through pointers handed
// to users under their own synchronization; the pointer itself is valid from any thread.
unsafe impl Send for Arena {}
// SAFETY: as above, `&Arena` only exposes the immutable base pointer, size and descriptor.
unsafe impl Sync for Arena {}

impl Arena {
    /// Makes a fresh arena of `size` bytes and initializes its header.
    pub(crate) fn create(size: usize, kind: u32) -> Result<Arena> {
        let name = if kind == KIND_SMALL {
            "mp-heap"
        } else {
            "mp-heap-large"
        };
        let fd = memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        ftruncate(&fd, size as u64)?;
        // Nobody holding the descriptor can resize the arena under another process's mapping.
        fcntl_add_seals(&fd, SEALS)?;
        let arena = Arena::map(fd, size)?;
        let header = arena.header();
        header.kind.store(kind, Ordering::Relaxed);
        header.bump.store(HEADER_SIZE as u64, Ordering::Relaxed);
        header.magic.store(MAGIC, Ordering::Release);
        Ok(arena)
    }

    /// Maps an arena received from another process, checking that it is one.
    pub(crate) fn open(fd: OwnedFd) -> Result<Arena> {
        // A descriptor that could still shrink would raise SIGBUS on access once truncated.
        if !fcntl_get_seals(&fd).is_ok_and(|seals| seals.contains(SEALS)) {
            return Err(Error::InvalidArgument(
                "received descriptor is not a shared-memory heap arena (not sealed)".into(),
            ));
        }
        let st = fstat(&fd)?;
        let size = usize::try_from(st.st_size)
            .map_err(|_| Error::InvalidArgument("arena size is negative".into()))?;
        if size < HEADER_SIZE {
            return Err(Error::InvalidArgument(
                "received descriptor is not a shared-memory heap arena (too small)".into(),
            ));
        }
        let arena = Arena::map(fd, size)?;
        let header = arena.header();
        let kind = header.kind.load(Ordering::Relaxed);
        if header.magic.load(Ordering::Acquire) != MAGIC
            || !(kind == KIND_SMALL || kind == KIND_DEDICATED)
        {
            return Err(Error::InvalidArgument(
                "received descriptor is not a shared-memory heap arena (bad header)".into(),
            ));
        }
        Ok(arena)
    }

    fn map(fd: OwnedFd, size: usize) -> Result<Arena> {
        let st = fstat(&fd)?;
        // Unmapped exactly once, in `Drop`.
        let base = crate::mapping::map_shared(&fd, size)?;
        Ok(Arena {
            fd,
            base,
            size,
            key: (st.st_dev, st.st_ino),
            #[cfg(loom)]
            model: Box::new(ModelHeaders::new(size)),
        })
    }

    /// The arena's `(st_dev, st_ino)` as seen through a descriptor.
    pub(crate) fn key_of(fd: &OwnedFd) -> Result<(u64, u64)> {
        let st = fstat(fd)?;
        Ok((st.st_dev, st.st_ino))
    }

    #[cfg(not(loom))]
    pub(crate) fn header(&self) -> &ArenaHeader {
        // SAFETY: every arena is at least HEADER_SIZE bytes and page aligned; the header holds
        // only atomics, so shared access from many processes is sound.
        unsafe { &*self.base.as_ptr().cast::<ArenaHeader>() }
    }

    /// As above: the model's header.
    #[cfg(loom)]
    pub(crate) fn header(&self) -> &ArenaHeader {
        &self.model.arena
    }

    /// The header of the block at `offset`, a block offset checked by the caller (16-aligned,
    /// past the arena's header, in bounds).
    #[cfg(not(loom))]
    pub(crate) fn block_header(&self, offset: usize) -> &BlockHeader {
        // SAFETY: as the caller checked, the header lies inside the mapping, 16-aligned; it
        // holds only atomics.
        unsafe { &*self.at(offset).as_ptr().cast::<BlockHeader>() }
    }

    /// As above: the model's header of that block.
    #[cfg(loom)]
    pub(crate) fn block_header(&self, offset: usize) -> &BlockHeader {
        &self.model.blocks[(offset - HEADER_SIZE) / BLOCK_HEADER]
    }

    pub(crate) fn kind(&self) -> u32 {
        self.header().kind.load(Ordering::Relaxed)
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Pointer to `offset` bytes into the arena; the caller keeps `offset` in bounds.
    pub(crate) fn at(&self, offset: usize) -> NonNull<u8> {
        debug_assert!(offset < self.size);
        // SAFETY: callers pass offsets they checked against `size`.
        unsafe { self.base.add(offset) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `map_shared` in `map` with this size and is unmapped only here; no
        // block handle outlives its `Arc<Arena>`.
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.size) };
    }
}
