//! Named shared-memory segments, Python 3.8's `multiprocessing.shared_memory.SharedMemory`.
//!
//! Unrelated processes can attach a segment by name (`/dev/shm/<name>` through `shm_open`).
//! Unlike CPython, the name belongs to the handle that created it: that handle unlinks the name
//! exactly once (on [`unlink`](SharedMemory::unlink) or on drop, in the creating process only),
//! and a handle that attached never deletes another process's segment (cpython gh-82300). Call
//! [`set_unlink_on_drop(false)`](SharedMemory::set_unlink_on_drop) to leave a created segment
//! for others, like CPython's `track=False`. Dropping any handle unmaps it.
//!
//! A creator that never gets to unlink (SIGKILLed, or leaving through `std::process::exit`)
//! leaves its segments to the family's [resource tracker](crate::tracker), which unlinks them
//! once every process of the family has exited, as CPython's does.
//!
//! Any process that can open the name can also shrink the file. The safe methods copy through
//! the descriptor ([`read_at`](SharedMemory::read_at), [`write_at`](SharedMemory::write_at)),
//! so a truncated segment is an error there, never the SIGBUS that touching a mapped page past
//! the end of the file raises; only the `unsafe` pointer and slice views touch the mapping.
//!
//! ```
//! use multiprocessing_core::shm::SharedMemory;
//! let shm = SharedMemory::create(16).unwrap();
//! shm.write_at(0, b"hello").unwrap();
//! let other = SharedMemory::attach(shm.name()).unwrap();
//! let mut buf = [0u8; 5];
//! other.read_at(0, &mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! drop(other); // attached: the name stays
//! assert!(SharedMemory::attach(shm.name()).is_ok());
//! let name = shm.name().to_owned();
//! drop(shm); // created here: the name goes
//! assert!(SharedMemory::attach(&name).is_err());
//! ```

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::RngCore;
use rustix::fs::{Mode, fstat, ftruncate};
use rustix::io::{pread, pwrite, retry_on_intr};
use rustix::mm::munmap;
use rustix::shm;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::transfer::{deserialize_fd, serialize_fd};
use crate::{Error, Result, codec};

/// Prefix of generated names, as in CPython.
const NAME_PREFIX: &str = "psm_";

/// A named shared-memory segment mapped into this process.
#[doc(alias = "shared_memory")]
pub struct SharedMemory {
    name: String,
    fd: OwnedFd,
    ptr: NonNull<u8>,
    size: usize,
    /// Process that created the name, 0 for an attached segment.
    creator: u32,
    /// The file's identity, which the resource tracker checks before it unlinks the name.
    dev: u64,
    ino: u64,
    unlink_on_drop: AtomicBool,
    unlinked: AtomicBool,
}

// SAFETY: the mapping is shared memory whose contents users synchronize themselves; the handle's
// own fields are immutable or atomic.
unsafe impl Send for SharedMemory {}
// SAFETY: as above.
unsafe impl Sync for SharedMemory {}

fn check_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.len() > 250 || bare.contains('/') || bare.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "{name:?} is not a valid shared-memory name (1 to 250 characters, no '/' or NUL)"
        )));
    }
    Ok(bare.to_owned())
}

/// Unlinks the name `name` only while it names the file (`dev`, `ino`); another file under
/// that name is a `NotFound` error and stays.
pub(crate) fn unlink_if_same(name: &str, dev: u64, ino: u64) -> Result<()> {
    let path = format!("/{name}");
    let current = shm::open(path.as_str(), shm::OFlags::RDONLY, Mode::empty())
        .map_err(|e| Error::Io(e.into()))?;
    let st = fstat(&current)?;
    if (st.st_dev, st.st_ino) != (dev, ino) {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{path} now names another segment"),
        )));
    }
    shm::unlink(path.as_str()).map_err(|e| Error::Io(e.into()))
}

impl SharedMemory {
    /// Creates a segment of `size` bytes with a fresh random name (`psm_` and 8 hex digits).
    #[doc(alias = "SharedMemory")]
    pub fn create(size: usize) -> Result<SharedMemory> {
        loop {
            let mut bytes = [0u8; 4];
            rand::rng().fill_bytes(&mut bytes);
            let name: String = std::iter::once(NAME_PREFIX.to_owned())
                .chain(bytes.iter().map(|b| format!("{b:02x}")))
                .collect();
            match SharedMemory::create_named(&name, size) {
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                other => return other,
            }
        }
    }

    /// Creates a segment of `size` bytes called `name`; an existing name is an `AlreadyExists`
    /// I/O error (Python's `FileExistsError`).
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(Error::InvalidArgument(
                "'size' must be a positive number different from zero".into(),
            ));
        }
        let name = check_name(name)?;
        let fd = shm::open(
            format!("/{name}").as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| Error::Io(e.into()))?;
        let unlink_now = |e: Error| {
            let _ = shm::unlink(format!("/{name}").as_str());
            e
        };
        ftruncate(&fd, size as u64).map_err(|e| unlink_now(e.into()))?;
        let st = fstat(&fd).map_err(|e| unlink_now(e.into()))?;
        let ptr = crate::mapping::map_shared(&fd, size).map_err(unlink_now)?;
        let shm = SharedMemory {
            name,
            fd,
            ptr,
            size,
            creator: crate::owner::process().id,
            dev: st.st_dev,
            ino: st.st_ino,
            unlink_on_drop: AtomicBool::new(true),
            unlinked: AtomicBool::new(false),
        };
        crate::tracker::register(&shm.name, shm.dev, shm.ino);
        Ok(shm)
    }

    /// Attaches the existing segment called `name` (a leading `/` is optional),
    /// Python's `SharedMemory(name)`.
    #[doc(alias = "SharedMemory")]
    pub fn attach(name: &str) -> Result<SharedMemory> {
        let name = check_name(name)?;
        let fd = shm::open(
            format!("/{name}").as_str(),
            shm::OFlags::RDWR,
            Mode::empty(),
        )
        .map_err(|e| Error::Io(e.into()))?;
        SharedMemory::from_fd(name, fd)
    }

    fn from_fd(name: String, fd: OwnedFd) -> Result<SharedMemory> {
        let st = fstat(&fd)?;
        let size = usize::try_from(st.st_size)
            .map_err(|_| Error::InvalidArgument("negative segment size".into()))?;
        if size == 0 {
            return Err(Error::InvalidArgument(format!(
                "shared-memory segment {name:?} is empty"
            )));
        }
        let ptr = crate::mapping::map_shared(&fd, size)?;
        Ok(SharedMemory {
            name,
            fd,
            ptr,
            size,
            creator: 0,
            dev: st.st_dev,
            ino: st.st_ino,
            unlink_on_drop: AtomicBool::new(false),
            unlinked: AtomicBool::new(false),
        })
    }

    /// The segment's name, without the leading `/` (as Python's `SharedMemory.name`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The segment's size in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Pointer to the first byte, valid while this handle lives.
    ///
    /// Touching a page past the end of the file, after another process shrank it, raises
    /// SIGBUS; the safe [`read_at`](Self::read_at) and [`write_at`](Self::write_at) cannot.
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The whole segment as a byte slice, Python's `buf`.
    ///
    /// # Safety
    /// No process may write the segment, or shrink its file (which would make reading a page
    /// past the new end raise SIGBUS), while the slice is alive.
    #[must_use]
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `size` bytes and lives as long as `self`; the caller rules out
        // concurrent writes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) }
    }

    /// The whole segment as a mutable byte slice.
    ///
    /// # Safety
    /// No other process may read or write the segment, or shrink its file, while the slice is
    /// alive.
    #[must_use]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` rules out other users in this process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size) }
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::InvalidArgument(format!(
                "range {offset}..{offset}+{len} is outside the segment of {} bytes",
                self.size
            ))),
        }
    }

    /// The error for a file another process shrank below the range we need.
    fn truncated(&self, end: usize) -> Error {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "shared-memory segment {:?} was truncated by another process \
                 (its {} bytes no longer reach byte {end})",
                self.name, self.size
            ),
        ))
    }

    /// Copies bytes out of the segment, starting at `offset`.
    ///
    /// The copy goes through the descriptor (`pread`), which sees exactly what the mapping
    /// holds, so a segment that another process truncated is an `UnexpectedEof` I/O error
    /// instead of a SIGBUS.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let at = (offset + done) as u64;
            match retry_on_intr(|| pread(&self.fd, &mut buf[done..], at))? {
                0 => return Err(self.truncated(offset + buf.len())),
                n => done += n,
            }
        }
        Ok(())
    }

    /// Copies bytes into the segment, starting at `offset`.
    ///
    /// The copy goes through the descriptor (`pwrite`); a segment that another process
    /// truncated is an `UnexpectedEof` I/O error instead of a SIGBUS, and is not grown back.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check_range(offset, data.len())?;
        let end = offset + data.len();
        // Writing past the end would grow the file again; that no-longer-shared tail is not
        // what the caller meant to write to.
        if usize::try_from(fstat(&self.fd)?.st_size).unwrap_or(0) < end {
            return Err(self.truncated(end));
        }
        let mut done = 0;
        while done < data.len() {
            let at = (offset + done) as u64;
            done += retry_on_intr(|| pwrite(&self.fd, &data[done..], at))?;
        }
        Ok(())
    }

    /// Removes the name, so no new process can attach; mappings stay valid.
    ///
    /// Any handle may do this once; the creating handle then no longer unlinks on drop.
    pub fn unlink(&self) -> Result<()> {
        if self.unlinked.swap(true, Ordering::AcqRel) {
            return Err(Error::InvalidArgument(format!(
                "shared-memory segment {:?} was already unlinked",
                self.name
            )));
        }
        self.unlink_if_ours()
    }

    /// Unlinks the name only while it still names this segment, so a segment created later
    /// under the same name by someone else is never removed.
    fn unlink_if_ours(&self) -> Result<()> {
        unlink_if_same(&self.name, self.dev, self.ino)?;
        crate::tracker::unregister(&self.name, self.dev, self.ino);
        Ok(())
    }

    /// Whether dropping this handle (in the creating process) unlinks the name.
    ///
    /// `false` also takes the segment off the resource tracker's list, so it outlives its
    /// creator's family (CPython's `track=False`); `true` puts it back.
    pub fn set_unlink_on_drop(&self, unlink: bool) {
        let before = self.unlink_on_drop.swap(unlink, Ordering::Relaxed);
        if before != unlink
            && self.creator != 0
            && self.creator == crate::owner::process().id
            && !self.unlinked.load(Ordering::Acquire)
        {
            if unlink {
                crate::tracker::register(&self.name, self.dev, self.ino);
            } else {
                crate::tracker::unregister(&self.name, self.dev, self.ino);
            }
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: mapped by `map_shared` with this size, unmapped only here.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.size) };
        if self.creator != 0
            && self.creator == crate::owner::process().id
            && self.unlink_on_drop.load(Ordering::Relaxed)
            && !self.unlinked.swap(true, Ordering::AcqRel)
        {
            let _ = self.unlink_if_ours();
        }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish()
    }
}

/// A received segment is attached (it never unlinks the name on drop).
impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            name: &'a str,
            #[serde(serialize_with = "ser_fd")]
            fd: &'a OwnedFd,
        }
        fn ser_fd<S: Serializer>(fd: &&OwnedFd, s: S) -> Result<S::Ok, S::Error> {
            serialize_fd(fd.as_fd(), s)
        }
        Wire {
            name: &self.name,
            fd: &self.fd,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            name: String,
            #[serde(deserialize_with = "deserialize_fd")]
            fd: OwnedFd,
        }
        let wire = Wire::deserialize(d)?;
        let name = check_name(&wire.name).map_err(codec::de_error)?;
        SharedMemory::from_fd(name, wire.fd).map_err(codec::de_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "shm_open is a libc call miri cannot make")]
    fn bad_arguments_are_refused() {
        assert!(matches!(
            SharedMemory::create(0),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            SharedMemory::attach("a/b"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            SharedMemory::attach(""),
            Err(Error::InvalidArgument(_))
        ));
        let shm = SharedMemory::create(10).unwrap();
        assert!(shm.name().starts_with("psm_"));
        assert!(shm.write_at(8, b"abc").is_err());
        let err = SharedMemory::create_named(shm.name(), 10).unwrap_err();
        assert!(matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::AlreadyExists));
    }

    #[test]
    #[cfg_attr(miri, ignore = "shm_open is a libc call miri cannot make")]
    fn unlink_happens_once() {
        let shm = SharedMemory::create(4096).unwrap();
        let other = SharedMemory::attach(shm.name()).unwrap();
        other.unlink().unwrap();
        assert!(other.unlink().is_err());
        assert!(SharedMemory::attach(shm.name()).is_err());
        // The creator's drop finds the name gone and does nothing; nobody else's segment is hit.
        let again = SharedMemory::create_named(shm.name(), 16).unwrap();
        drop(shm);
        assert!(SharedMemory::attach(again.name()).is_ok());
    }

    #[test]
    #[cfg_attr(miri, ignore = "shm_open is a libc call miri cannot make")]
    fn travels_through_a_transfer_context() {
        let shm = SharedMemory::create(64).unwrap();
        shm.write_at(3, b"xyz").unwrap();
        let (bytes, fds) = crate::transfer::encode_with_fds(&shm).unwrap();
        let got: SharedMemory = crate::transfer::decode_with_fds(&bytes, fds).unwrap();
        let mut buf = [0u8; 3];
        got.read_at(3, &mut buf).unwrap();
        assert_eq!(&buf, b"xyz");
        assert_eq!(got.name(), shm.name());
        drop(got);
        assert!(SharedMemory::attach(shm.name()).is_ok());
    }
}
