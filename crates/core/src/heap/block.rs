//! [`HeapBlock`]: a handle to a block of shared memory, Python's `heap.BufferWrapper`.
//!
//! ```
//! use multiprocessing_core::heap::HeapBlock;
//! let block = HeapBlock::new(8).unwrap();
//! assert!(block.same_block(&block.clone()));
//! ```

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::allocator::{self, BLOCK_HEADER, BlockHeader, DEDICATED};
use super::arena::{ARENA_SIZE, Arena, HEADER_SIZE, KIND_DEDICATED, KIND_SMALL};
use super::registry;
use super::sync::{AtomicBool, AtomicU32};
use crate::transfer::{deserialize_fd, serialize_fd};
use crate::{Error, Result, codec};

/// This process's one reference to a block; dropping the last handle drops it.
#[derive(Debug)]
pub(crate) struct BlockInner {
    arena: Arc<Arena>,
    /// Offset of the block header in the arena.
    offset: usize,
    /// Set once this process's reference was given back (by drop or before exit).
    released: AtomicBool,
    /// This process's holder slot in the arena if its reference is recorded there (inherited
    /// or received), else [`PLAIN`].
    pub(crate) holder: AtomicU32,
}

/// [`BlockInner::holder`] of a reference not recorded as a holder's (e.g. the allocator's).
pub(crate) const PLAIN: u32 = u32::MAX;

impl BlockInner {
    pub(crate) fn header(&self) -> &BlockHeader {
        allocator::header_at(&self.arena, self.offset)
    }

    fn key(&self) -> usize {
        self.arena.at(self.offset).as_ptr() as usize
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Takes one more reference to the block for a copy leaving this process (inside a
    /// message, or inherited by a child being forked), which will give it back or adopt it.
    /// Like an `Arc` clone it needs no ordering: this process's own reference keeps the count
    /// above zero meanwhile.
    pub(crate) fn share(&self) {
        self.header().refcount.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives back this process's reference, once.
    pub(crate) fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let header = self.header();
        let slot = self.holder.load(Ordering::Relaxed);
        if slot != PLAIN {
            let bit = 1u64 << slot;
            if header.next.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
                return; // Already given back for us by someone who found us dead.
            }
        }
        // Acquire as well as release: the last holder frees the block after everyone's use of
        // it, and whoever sees another holder's count go sees its record go too (so the last
        // live holder counts only the dead ones below).
        let before = header.refcount.fetch_sub(1, Ordering::AcqRel);
        if before == 1 {
            allocator::free(&self.arena, self.offset);
        } else if header.next.load(Ordering::Acquire).count_ones() == before - 1 {
            // Only recorded holders are left: if they are all dead, nobody will ever free it.
            allocator::reclaim_dead_holders(&self.arena, self.offset);
        }
    }
}

/// The model tests' processes hold their references directly (each thread stands for a process
/// with its own table).
#[cfg(all(test, loom))]
impl BlockInner {
    /// This process's reference to the block at `offset`, recorded under holder `slot` (or
    /// [`PLAIN`]).
    pub(crate) fn held(arena: Arc<Arena>, offset: usize, slot: u32) -> BlockInner {
        BlockInner {
            arena,
            offset,
            released: AtomicBool::new(false),
            holder: AtomicU32::new(slot),
        }
    }
}

impl Drop for BlockInner {
    fn drop(&mut self) {
        {
            let mut table = registry::lock();
            let me: *const BlockInner = self;
            let key = self.key();
            if table
                .blocks
                .get(&key)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), me))
            {
                table.blocks.remove(&key);
            }
        }
        self.release();
    }
}

/// A block of memory shared between processes, allocated from the shared-memory heap.
///
/// Cloning a handle is cheap (a reference count in this process). The block is shared with a
/// child made by `fork` automatically, and travels to other processes inside messages through a
/// [transfer context](crate::transfer) (its arena's descriptor goes along). It returns to the heap
/// when the last handle in the last process drops; arenas are unnamed memory, so nothing is left
/// behind when processes are killed.
///
/// The memory is zeroed when allocated. Reading and writing it is up to the user (through
/// [`as_ptr`](Self::as_ptr)), with whatever synchronization they need: this is the raw material
/// for locks and shared values.
///
/// ```
/// use multiprocessing_core::heap::HeapBlock;
/// let block = HeapBlock::new(64).unwrap();
/// assert_eq!(block.len(), 64);
/// // SAFETY: the block has 64 bytes and no other process knows it yet.
/// unsafe { block.as_ptr().write(42) };
/// let copy = block.clone();
/// // SAFETY: as above.
/// assert_eq!(unsafe { copy.as_ptr().read() }, 42);
/// ```
#[doc(alias = "BufferWrapper")]
pub struct HeapBlock {
    inner: Arc<BlockInner>,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the pointer is into a shared mapping kept alive by `inner`; the handle itself has no
// thread affinity. What is stored in the block is synchronized by its users.
unsafe impl Send for HeapBlock {}
// SAFETY: `&HeapBlock` only exposes the pointer and length.
unsafe impl Sync for HeapBlock {}

impl HeapBlock {
    /// Allocates `len` zeroed bytes aligned to 16.
    pub fn new(len: usize) -> Result<HeapBlock> {
        HeapBlock::with_align(len, 16)
    }

    /// Allocates `len` zeroed bytes aligned to `align` (a power of two up to 4096).
    pub fn with_align(len: usize, align: usize) -> Result<HeapBlock> {
        if !align.is_power_of_two() || align > 4096 {
            return Err(Error::InvalidArgument(format!(
                "alignment {align} is not a power of two up to 4096"
            )));
        }
        let class = allocator::class_for(len);
        let (arena, offset) = match class {
            Some(class) if align <= 16 => alloc_small(class)?,
            _ => alloc_dedicated(len, align)?,
        };
        Ok(register(arena, offset, len))
    }

    /// The block's size in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the block has no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the block's first byte, valid as long as this handle lives.
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// How many processes (plus handles travelling in messages) hold the block. Holders
    /// found dead (a killed child, say) are counted out first.
    #[must_use]
    pub fn ref_count(&self) -> u32 {
        let header = self.inner.header();
        if header.next.load(Ordering::Acquire) != 0 {
            allocator::reclaim_dead_holders(&self.inner.arena, self.inner.offset);
        }
        header.refcount.load(Ordering::Relaxed)
    }

    /// Whether two handles refer to the same block.
    #[must_use]
    pub fn same_block(&self, other: &HeapBlock) -> bool {
        self.ptr == other.ptr
    }
}

fn alloc_small(class: usize) -> Result<(Arc<Arena>, usize)> {
    let mut table = registry::lock();
    table.arenas.retain(|(_, w)| w.strong_count() > 0);
    // Under loom an arena's headers belong to the model run that made it, and the model tests
    // run side by side in one process: there each block gets an arena of its own, of its size.
    if !cfg!(loom) {
        for (_, weak) in &table.arenas {
            if let Some(arena) = weak.upgrade()
                && arena.kind() == KIND_SMALL
                && let Some(offset) = allocator::alloc(&arena, class)
            {
                return Ok((arena, offset));
            }
        }
    }
    let size = if cfg!(loom) {
        HEADER_SIZE + allocator::class_size(class)
    } else {
        ARENA_SIZE
    };
    let arena = Arc::new(Arena::create(size, KIND_SMALL)?);
    table.arenas.push((arena.key, Arc::downgrade(&arena)));
    let offset = allocator::alloc(&arena, class)
        .ok_or_else(|| Error::Io(std::io::Error::other("fresh heap arena refused a block")))?;
    Ok((arena, offset))
}

fn alloc_dedicated(len: usize, align: usize) -> Result<(Arc<Arena>, usize)> {
    let too_big = || Error::InvalidArgument(format!("cannot allocate {len} bytes"));
    let data = (HEADER_SIZE + BLOCK_HEADER).next_multiple_of(align.max(16));
    let size = data
        .checked_add(len)
        .and_then(|s| s.checked_next_multiple_of(4096))
        .ok_or_else(too_big)?;
    let arena = Arc::new(Arena::create(size, KIND_DEDICATED)?);
    let offset = data - BLOCK_HEADER;
    let header = allocator::header_at(&arena, offset);
    header.class.store(DEDICATED, Ordering::Relaxed);
    header.refcount.store(1, Ordering::Release);
    // Where the holder bookkeeping finds the arena's one block.
    arena.header().bump.store(offset as u64, Ordering::Relaxed);
    registry::lock()
        .arenas
        .push((arena.key, Arc::downgrade(&arena)));
    Ok((arena, offset))
}

/// Wraps a block this process now holds one reference to.
fn register(arena: Arc<Arena>, offset: usize, len: usize) -> HeapBlock {
    let ptr = arena.at(offset + BLOCK_HEADER);
    let inner = Arc::new(BlockInner {
        arena,
        offset,
        released: AtomicBool::new(false),
        holder: AtomicU32::new(PLAIN),
    });
    registry::lock()
        .blocks
        .insert(inner.key(), Arc::downgrade(&inner));
    HeapBlock { inner, ptr, len }
}

impl Clone for HeapBlock {
    fn clone(&self) -> Self {
        HeapBlock {
            inner: Arc::clone(&self.inner),
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl fmt::Debug for HeapBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapBlock")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(serialize_with = "ser_fd")]
    fd: BorrowedFd<'a>,
    offset: u64,
    len: u64,
}

fn ser_fd<S: Serializer>(fd: &BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    serialize_fd(*fd, s)
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(deserialize_with = "deserialize_fd")]
    fd: OwnedFd,
    offset: u64,
    len: u64,
}

/// Sending a block hands the message one reference, which the receiver adopts. A message that
/// is encoded but never decoded keeps its block allocated until the arena itself goes away.
impl Serialize for HeapBlock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ok = WireOut {
            fd: self.inner.arena.fd().as_fd(),
            offset: self.inner.offset as u64,
            len: self.len as u64,
        }
        .serialize(s)?;
        self.inner.share();
        Ok(ok)
    }
}

impl<'de> Deserialize<'de> for HeapBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireIn::deserialize(d)?;
        receive(wire).map_err(codec::de_error)
    }
}

fn receive(wire: WireIn) -> Result<HeapBlock> {
    let bad = || Error::InvalidArgument("received heap block lies outside its arena".into());
    let offset = usize::try_from(wire.offset).map_err(|_| bad())?;
    let len = usize::try_from(wire.len).map_err(|_| bad())?;
    let key = Arena::key_of(&wire.fd)?;
    let existing = registry::lock().arena(key);
    let arena = match existing {
        Some(arena) => arena,
        None => {
            let arena = Arc::new(Arena::open(wire.fd)?);
            let mut table = registry::lock();
            match table.arena(key) {
                Some(raced) => raced,
                None => {
                    table.arenas.push((key, Arc::downgrade(&arena)));
                    arena
                }
            }
        }
    };
    if !allocator::valid_block(&arena, offset, len) {
        return Err(bad());
    }
    let ptr = arena.at(offset + BLOCK_HEADER);
    let mut table = registry::lock();
    let addr = arena.at(offset).as_ptr() as usize;
    let refcount = &allocator::header_at(&arena, offset).refcount;
    // A real message holds a reference; a replayed or forged one may not, and adopting it
    // would free the block under its holders (or hand out a block already freed).
    let no_reference = || {
        Error::InvalidArgument(
            "received heap block holds no reference for the message (replayed or forged)".into(),
        )
    };
    if let Some(inner) = table.blocks.get(&addr).and_then(Weak::upgrade) {
        // This process already holds the block: give back the message's reference.
        refcount
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                n.checked_sub(1).filter(|&left| left > 0)
            })
            .map_err(|_| no_reference())?;
        drop(table);
        return Ok(HeapBlock { inner, ptr, len });
    }
    if refcount.load(Ordering::Acquire) == 0 {
        return Err(no_reference());
    }
    // The message's reference becomes ours, recorded under our name so that it comes back
    // even if this process is killed.
    let slot = allocator::adopt(&arena, &[offset], crate::owner::process());
    let inner = Arc::new(BlockInner {
        arena,
        offset,
        released: AtomicBool::new(false),
        holder: AtomicU32::new(slot.unwrap_or(PLAIN)),
    });
    table.blocks.insert(addr, Arc::downgrade(&inner));
    Ok(HeapBlock { inner, ptr, len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{decode_with_fds, encode_with_fds};

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn last_handle_returns_the_block() {
        // Keeps the arena mapped once `a` is gone.
        let keep = HeapBlock::new(24).unwrap();
        let a = HeapBlock::new(24).unwrap();
        let addr = a.as_ptr();
        let b = a.clone();
        assert_eq!(
            a.ref_count(),
            1,
            "clones in one process share one reference"
        );
        drop(a);
        drop(b);
        let c = HeapBlock::new(24).unwrap();
        let d = HeapBlock::new(24).unwrap();
        assert!(
            c.as_ptr() == addr || d.as_ptr() == addr,
            "the freed block is reused"
        );
        drop(keep);
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn large_and_aligned_blocks_get_their_own_arena() {
        let big = HeapBlock::new(1 << 20).unwrap();
        assert_eq!(big.len(), 1 << 20);
        // SAFETY: the last byte is inside the block.
        unsafe { big.as_ptr().add((1 << 20) - 1).write(1) };
        let aligned = HeapBlock::with_align(8, 256).unwrap();
        assert_eq!(aligned.as_ptr() as usize % 256, 0);
        assert!(HeapBlock::with_align(8, 3).is_err());
        assert!(HeapBlock::new(usize::MAX - 8).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn transfer_in_the_same_process_shares_the_block() {
        let a = HeapBlock::new(8).unwrap();
        let (bytes, fds) = encode_with_fds(&a).unwrap();
        assert_eq!(a.ref_count(), 2, "the message holds a reference");
        let b: HeapBlock = decode_with_fds(&bytes, fds).unwrap();
        assert!(a.same_block(&b));
        assert_eq!(a.ref_count(), 1);
        assert!(
            crate::codec::encode(&a).is_err(),
            "plain encoding is refused"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn a_message_decoded_twice_is_refused() {
        let keep = HeapBlock::new(24).unwrap();
        let a = HeapBlock::new(24).unwrap();
        let (bytes, fds) = encode_with_fds(&a).unwrap();
        let again = || vec![fds[0].try_clone().unwrap()];
        // The first decode takes the message's reference; a replay has none to take.
        let b: HeapBlock = decode_with_fds(&bytes, again()).unwrap();
        let err = decode_with_fds::<HeapBlock>(&bytes, again()).unwrap_err();
        assert!(err.to_string().contains("reference"), "{err}");
        assert_eq!(a.ref_count(), 1);
        // Once the block is freed, a replay must not hand out memory the heap may reuse.
        drop((a, b));
        let err = decode_with_fds::<HeapBlock>(&bytes, again()).unwrap_err();
        assert!(err.to_string().contains("reference"), "{err}");
        drop(keep);
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn an_arena_its_sender_could_shrink_is_refused() {
        use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
        // Looks like an arena holding one live block, but is not sealed against shrinking:
        // truncated later, every access to the block would raise SIGBUS.
        let fd = memfd_create("forged", MemfdFlags::CLOEXEC).unwrap();
        ftruncate(&fd, ARENA_SIZE as u64).unwrap();
        let mut header = [0u8; HEADER_SIZE + BLOCK_HEADER];
        header[..8].copy_from_slice(&super::super::arena::MAGIC.to_ne_bytes());
        header[8..12].copy_from_slice(&KIND_SMALL.to_ne_bytes());
        header[HEADER_SIZE..HEADER_SIZE + 4].copy_from_slice(&1u32.to_ne_bytes());
        rustix::io::pwrite(&fd, &header, 0).unwrap();
        let msg = crate::codec::encode(&(0u32, HEADER_SIZE as u64, 8u64)).unwrap();
        let err = decode_with_fds::<HeapBlock>(&msg, vec![fd]).unwrap_err();
        assert!(err.to_string().contains("sealed"), "{err}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "the heap maps memfd_create memory, which miri cannot")]
    fn forged_offsets_are_refused() {
        let a = HeapBlock::new(8).unwrap();
        let (bytes, fds) = encode_with_fds(&a).unwrap();
        let mut wire: (u32, u64, u64) = crate::codec::decode(&bytes).unwrap();
        wire.1 += 3;
        let forged = crate::codec::encode(&wire).unwrap();
        let err = decode_with_fds::<HeapBlock>(&forged, fds).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let ok = crate::codec::encode(&(0u32, 256u64, 8u64)).unwrap();
        assert!(decode_with_fds::<HeapBlock>(&ok, vec![file]).is_err());
    }
}
