//! The executable's fingerprint, the fixed anchor that code offsets are measured from, and the
//! address range of the executable's code.
//!
//! The fingerprint is the GNU build-id note of the running executable, read from its program
//! headers in memory (no file access), or, when the linker wrote none, the device, inode, size
//! and modification time of `/proc/self/exe`. It is computed once and cached.

use std::sync::OnceLock;

/// The fixed symbol every code offset is measured from.
#[inline(never)]
pub(crate) fn anchor() {
    std::hint::black_box(());
}

/// The anchor's address in this process.
pub(crate) fn anchor_addr() -> usize {
    anchor as fn() as usize
}

struct Image {
    fingerprint: Vec<u8>,
    /// Address range of the executable's loaded segments.
    range: (usize, usize),
}

static IMAGE: OnceLock<Image> = OnceLock::new();
/// Held while [`IMAGE`] is made, and across `fork()` (see [`fork`](crate::fork)): a child
/// forked while another thread was making it would otherwise wait forever for it.
static MAKING: crate::fork::ForkMutex<()> = crate::fork::ForkMutex::new(());

fn image() -> &'static Image {
    if let Some(image) = IMAGE.get() {
        return image;
    }
    let _making = MAKING.lock();
    IMAGE.get_or_init(read_image)
}

/// This executable's fingerprint: `b"build-id:"` and the GNU build-id, or `b"file:"` and the
/// identity of `/proc/self/exe` when the executable has no build-id.
#[must_use]
pub fn fingerprint() -> &'static [u8] {
    &image().fingerprint
}

/// Whether this crate's code lives in the main executable (not in a shared library), which
/// spawn and forkserver need since they re-execute the main executable.
#[must_use]
pub fn code_is_in_executable() -> bool {
    contains(anchor_addr())
}

/// Whether `addr` lies inside the executable's loaded segments.
pub(crate) fn contains(addr: usize) -> bool {
    let (lo, hi) = image().range;
    lo <= addr && addr < hi
}

fn read_image() -> Image {
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave this process.
    let (phdr, phnum) = unsafe {
        (
            libc::getauxval(libc::AT_PHDR) as usize,
            libc::getauxval(libc::AT_PHNUM) as usize,
        )
    };
    let mut build_id = None;
    let mut range = (0, 0);
    if phdr != 0 && phnum != 0 {
        // SAFETY: AT_PHDR/AT_PHNUM describe the executable's program header table, which
        // stays mapped for the life of the process.
        let headers = unsafe { std::slice::from_raw_parts(phdr as *const libc::Elf64_Phdr, phnum) };
        let bias = headers
            .iter()
            .find(|h| h.p_type == libc::PT_PHDR)
            .map_or(0, |h| phdr.wrapping_sub(h.p_vaddr as usize));
        let mut lo = usize::MAX;
        let mut hi = 0;
        for h in headers {
            if h.p_type == libc::PT_LOAD {
                lo = lo.min(bias.wrapping_add(h.p_vaddr as usize));
                hi = hi.max(bias.wrapping_add((h.p_vaddr + h.p_memsz) as usize));
            }
            if h.p_type == libc::PT_NOTE && build_id.is_none() {
                let start = bias.wrapping_add(h.p_vaddr as usize);
                // SAFETY: a PT_NOTE segment lies inside a loaded PT_LOAD segment and is mapped
                // readable for the life of the process.
                let notes =
                    unsafe { std::slice::from_raw_parts(start as *const u8, h.p_memsz as usize) };
                build_id = find_build_id(notes);
            }
        }
        if lo < hi {
            range = (lo, hi);
        }
    }
    let fingerprint = match build_id {
        Some(id) => [b"build-id:".as_slice(), id].concat(),
        None => file_identity(),
    };
    Image { fingerprint, range }
}

/// Finds the `NT_GNU_BUILD_ID` note in a note segment.
fn find_build_id(mut notes: &[u8]) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let align4 = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let word =
            |i: usize| u32::from_ne_bytes([notes[i], notes[i + 1], notes[i + 2], notes[i + 3]]);
        let (namesz, descsz, kind) = (word(0) as usize, word(4) as usize, word(8));
        let name_end = 12 + align4(namesz);
        let desc_end = name_end.checked_add(align4(descsz))?;
        if desc_end > notes.len() {
            return None;
        }
        if kind == NT_GNU_BUILD_ID && namesz == 4 && &notes[12..16] == b"GNU\0" {
            return Some(&notes[name_end..name_end + descsz]);
        }
        notes = &notes[desc_end..];
    }
    None
}

fn file_identity() -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self/exe") {
        Ok(m) => format!(
            "file:{}:{}:{}:{}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        )
        .into_bytes(),
        Err(_) => b"file:unknown".to_vec(),
    }
}

/// Renders a fingerprint for messages: the build-id in hex, or the file identity as text.
#[must_use]
pub fn display(fp: &[u8]) -> String {
    match fp.strip_prefix(b"build-id:") {
        Some(id) => {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            format!("build-id {hex}")
        }
        None => String::from_utf8_lossy(fp).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "finds this executable's build-id through getauxval, which miri cannot call"
    )]
    fn this_test_binary_has_a_stable_fingerprint_and_contains_the_anchor() {
        assert!(fingerprint().starts_with(b"build-id:") || fingerprint().starts_with(b"file:"));
        assert!(code_is_in_executable());
    }

    #[test]
    fn build_id_note_is_found_among_other_notes() {
        let mut notes = Vec::new();
        for (kind, name, desc) in [
            (1u32, &b"ABC\0"[..], &[9u8, 9][..]),
            (3, b"GNU\0", &[1, 2, 3, 4, 5]),
        ] {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            notes.extend(name);
            notes.extend(desc);
            while notes.len() % 4 != 0 {
                notes.push(0);
            }
        }
        assert_eq!(find_build_id(&notes), Some(&[1u8, 2, 3, 4, 5][..]));
        assert_eq!(find_build_id(&notes[..10]), None);
    }
}
